//! Sandboxed execution of taskbox plugins.
//!
//! A [`Sandbox`] owns one wasmtime engine with the pooling allocator and
//! epoch interruption, and a linker that grants a plugin nothing but the
//! `taskbox:plugin/host` imports and a WASI with no files, environment,
//! arguments, sockets or stdio. Plugins are loaded from `.wasm` files,
//! validated against the `task` world, compiled once (with an on-disk cache
//! keyed by content hash and engine), and called in a fresh instance per
//! call under [`Limits`](taskbox_model::Limits). Every limit breach ends the
//! call with a [`Failure`](taskbox_model::Failure) whose kind names it.

mod bindings;
mod cache;
mod call;
mod config;
mod error;
mod host;
mod plugin;
mod sandbox;

pub use call::{CallObserver, LogLevel, NoObserver};
pub use config::SandboxConfig;
pub use error::{LoadError, SandboxError};
pub use plugin::{Plugin, PluginSet, TaskInfo};
pub use sandbox::Sandbox;
