//! taskbox as a library: run untrusted tasks as WebAssembly components with
//! OpenStack TaskFlow's semantics.
//!
//! ```no_run
//! use std::sync::Arc;
//! use taskbox::{Engine, EngineOptions, Flow, Limits, Sandbox, SandboxConfig, Task};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sandbox = Arc::new(Sandbox::new(&SandboxConfig::default())?);
//! let plugins = sandbox.load_dir("target/plugins".as_ref(), &Limits::default())?;
//! let flow = Flow::linear("sum")
//!     .task(Task::new("first", "add").inject("x", 1.into()).inject("y", 2.into()))
//!     .task(Task::new("second", "add").rebind("x", "sum").inject("y", 3.into()).provides("total"));
//! let engine = Engine::new(sandbox, &plugins, &flow, Default::default(), &EngineOptions::default())?;
//! let outcome = engine.run()?;
//! assert_eq!(outcome.fetch("total"), Some(&6.into()));
//! # Ok(()) }
//! ```

pub use taskbox_conductor::{
    Caller, Checked, Conductor, ConductorError, ConductorOptions, ConductorStatus, Ending,
    EngineChoice, EngineMode, FlowSource, JobPayload, PayloadError, PluginPin, SpecText, Tenant,
    TenantLimits, Tenants, TenantsError, Workshop, token_hash,
};
pub use taskbox_engine::{
    AtomKind, AtomReport, Catalog, Clock, CompileError, Engine, EngineError, EngineOptions, Event,
    ExecGraph, Mode, Outcome, ResumeOptions, SpecOnly, Suspender, SystemClock, Tenancy, compile,
};
pub use taskbox_jobboard::{
    BoardError, BoardEvent, BoardOptions, Claim, Job, JobBoard, JobId, JobState, LeaseClock,
    ManualClock, NewJob, RedbJobBoard, SystemLeaseClock,
};
pub use taskbox_logbook::{
    AtomDetail, AtomKind as LogAtomKind, FlowDetail, FlowId, LogBook, Logbook, LogbookError,
    PowerCut, RedbLogbook, Transition, TransitionKind,
};
pub use taskbox_model::{
    Access, AtomFailure, AtomState, Attempt, Controller, Decision, Delay, DirGrant, Failure, Flow,
    FlowSpec, FlowState, Grants, History, Intention, LimitOverrides, Limits, Pattern, Provides,
    REDACTED, Retry, SpecFormat, Task, kinds,
};
pub use taskbox_sandbox::{
    Account, CallObserver, CpuGate, Lane, LoadError, LogLevel, NoObserver, Plugin, PluginSet,
    Sandbox, SandboxConfig, SandboxError, TaskInfo, Terms, Usage, UsageSnapshot,
};
