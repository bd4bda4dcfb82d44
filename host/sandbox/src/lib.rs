//! Sandboxed execution of taskbox plugins.
//!
//! A [`Sandbox`] owns one wasmtime engine with the pooling allocator and
//! epoch interruption, and a linker that grants a plugin nothing but the
//! `taskbox:plugin/host` imports and a WASI with no files, environment,
//! arguments, sockets or stdio, a frozen wall clock and deterministic
//! randomness, unless [`Grants`](taskbox_model::Grants) say otherwise.
//! Plugins are loaded from `.wasm` files, validated against the `task`
//! world, compiled once (with an on-disk cache keyed by content hash and
//! engine), and called in a fresh instance per call under [`Terms`]. Every
//! limit breach ends the call with a [`Failure`](taskbox_model::Failure)
//! whose kind names it.
//!
//! Calls are wasmtime async calls driven on the calling thread; they yield
//! at every epoch tick. On a metered [`Lane`] they take turns at a
//! [`CpuGate`] so that tenants share the CPU fairly, and their CPU time
//! and memory are counted per job and per tenant.

mod bindings;
mod cache;
mod call;
mod config;
mod drive;
mod error;
mod gate;
mod host;
mod lane;
mod plugin;
mod sandbox;
mod terms;

pub use call::{CallObserver, LogLevel, NoObserver};
pub use config::SandboxConfig;
pub use error::{LoadError, SandboxError};
pub use gate::CpuGate;
pub use lane::{Account, Lane, Usage};
pub use plugin::{Plugin, PluginSet, TaskInfo};
pub use sandbox::Sandbox;
pub use taskbox_model::UsageSnapshot;
pub use terms::Terms;
