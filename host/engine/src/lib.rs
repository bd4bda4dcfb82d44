//! The taskbox engine: compiles flows into execution graphs and runs them
//! with TaskFlow's semantics.
//!
//! - [`compile()`] turns a [`Flow`](taskbox_model::Flow) into an
//!   [`ExecGraph`], refusing duplicate names, cycles, missing inputs and
//!   ambiguous providers before anything runs.
//! - [`Engine`] runs the graph serially or on worker threads: ready atoms
//!   are stably sorted by priority (highest first); after a failure no new
//!   atom starts, running ones finish, and every atom that ran is reverted
//!   after all its successors, each revert getting its execute result and
//!   the flow's failures.
//! - [`Engine::record`] files the flow in a [`Logbook`](taskbox_logbook::Logbook);
//!   every change is then committed before its consequences start (one
//!   commit per scheduler step), and [`Engine::resume`] continues the flow
//!   in another process after a crash or a suspension.
//! - Every flow and atom transition, log line and progress report is an
//!   [`Event`] for [`Engine::subscribe`] listeners.

mod clock;
mod compile;
mod durable;
mod engine;
mod events;
mod graph;
mod journal;
mod outcome;
mod run;
mod work;

pub use clock::{Clock, SystemClock};
pub use compile::{Catalog, CompileError, Signature, SpecOnly, compile};
pub use durable::ResumeOptions;
pub use engine::{Engine, EngineError, EngineOptions, Mode, Suspender, Tenancy};
pub use events::Event;
pub use graph::{ArgBinding, ArgSource, AtomKind, AtomNode, ExecGraph, FlowNode};
pub use outcome::{AtomReport, Outcome};

#[cfg(test)]
mod compile_tests;
#[cfg(test)]
mod run_tests;
