//! Calling a plugin: a fresh instance per call, limits applied, and every
//! breach turned into a [`Failure`] whose kind names it.

use crate::bindings::taskbox::plugin::types as wit;
use crate::bindings::{Task, TaskPre};
use crate::host::HostState;
use crate::plugin::Plugin;
use crate::sandbox::Sandbox;
use serde_json::Value;
use std::sync::Arc;
use taskbox_model::{AtomFailure, Failure, Limits, kinds};
use wasmtime::{Store, Trap};

/// Severity of a guest's log message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Very detailed.
    Trace,
    /// Debugging.
    Debug,
    /// Informational.
    Info,
    /// Something looks wrong.
    Warn,
    /// Something failed.
    Error,
}

/// Receives what a guest reports while a call runs.
pub trait CallObserver: Send + Sync {
    /// A log message from the guest (already capped in size and count).
    fn log(&self, level: LogLevel, message: &str) {
        let _ = (level, message);
    }

    /// A progress report in `[0, 1]`.
    fn progress(&self, fraction: f32) {
        let _ = fraction;
    }
}

/// An observer that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoObserver;

impl CallObserver for NoObserver {}

impl From<wit::Failure> for Failure {
    fn from(f: wit::Failure) -> Self {
        // Details that are not valid JSON are kept as a JSON string.
        let details = f
            .details
            .map(|d| serde_json::from_str(&d).unwrap_or(Value::String(d)));
        Failure {
            kind: f.kind,
            message: f.message,
            details,
        }
    }
}

fn to_wit(f: &Failure) -> wit::Failure {
    wit::Failure {
        kind: f.kind.clone(),
        message: f.message.clone(),
        details: f.details.as_ref().map(Value::to_string),
    }
}

impl Sandbox {
    /// Runs `plugin`'s `execute` with `args` (a JSON object) in a fresh
    /// instance under `limits`, returning the decoded JSON result.
    pub fn execute(
        &self,
        plugin: &Plugin,
        args: &Value,
        limits: &Limits,
        observer: Arc<dyn CallObserver>,
    ) -> Result<Value, Failure> {
        let args = args.to_string();
        let text = self.call(
            plugin.pre(),
            plugin.name(),
            limits,
            observer,
            |task, store| task.call_execute(store, &args),
        )??;
        if text.len() as u64 > limits.max_result_bytes {
            return Err(Failure::new(
                kinds::RESULT_SIZE,
                format!(
                    "the result is {} bytes, over the cap of {} bytes",
                    text.len(),
                    limits.max_result_bytes
                ),
            ));
        }
        serde_json::from_str(&text).map_err(|e| {
            Failure::new(
                kinds::INVALID_RESULT,
                format!("the result is not valid JSON: {e}"),
            )
        })
    }

    /// Runs `plugin`'s `revert` with `args`, the execute `result` (when
    /// execute succeeded) and the failures that made the flow revert.
    pub fn revert(
        &self,
        plugin: &Plugin,
        args: &Value,
        result: Option<&Value>,
        flow_failures: &[AtomFailure],
        limits: &Limits,
        observer: Arc<dyn CallObserver>,
    ) -> Result<(), Failure> {
        let args = args.to_string();
        let result = result.map(Value::to_string);
        let failures: Vec<wit::AtomFailure> = flow_failures
            .iter()
            .map(|f| wit::AtomFailure {
                atom: f.atom.clone(),
                failure: to_wit(&f.failure),
            })
            .collect();
        self.call(
            plugin.pre(),
            plugin.name(),
            limits,
            observer,
            |task, store| task.call_revert(store, &args, result.as_ref(), &failures),
        )??;
        Ok(())
    }

    /// Instantiates plugin `name` in a new store under `limits` and runs `f`.
    pub(crate) fn call<R>(
        &self,
        pre: &TaskPre<HostState>,
        name: &str,
        limits: &Limits,
        observer: Arc<dyn CallObserver>,
        f: impl FnOnce(&Task, &mut Store<HostState>) -> wasmtime::Result<Result<R, wit::Failure>>,
    ) -> Result<Result<R, Failure>, Failure> {
        let mut store = Store::new(self.engine(), HostState::new(limits, observer));
        store.limiter(|state| &mut state.memory);
        store.set_epoch_deadline(self.deadline_ticks(limits));
        let outcome = match pre.instantiate(&mut store) {
            Ok(task) => f(&task, &mut store).map_err(|e| classify(&e, store.data(), limits)),
            Err(e) if store.data().memory.hit => Err(classify(&e, store.data(), limits)),
            Err(e) => Err(Failure::new(
                kinds::INSTANTIATION,
                format!("cannot instantiate plugin {name}: {e}"),
            )),
        };
        store.data().finish();
        outcome.map(|r| r.map_err(Failure::from))
    }
}

/// Turns a wasmtime error from a call into a failure naming its cause.
fn classify(err: &wasmtime::Error, state: &HostState, limits: &Limits) -> Failure {
    let stderr = state.stderr_text();
    let with_stderr = |failure: Failure| {
        if stderr.is_empty() {
            failure
        } else {
            failure.with_details(serde_json::json!({ "stderr": stderr }))
        }
    };
    if state.memory.hit {
        return with_stderr(Failure::new(
            kinds::MEMORY,
            format!(
                "the guest tried to grow its memory past the cap of {} bytes",
                limits.memory_bytes
            ),
        ));
    }
    match err.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => Failure::new(
            kinds::TIMEOUT,
            format!("the call ran past its CPU deadline of {:?}", limits.timeout),
        ),
        Some(Trap::StackOverflow) => with_stderr(Failure::new(
            kinds::TRAP,
            "the guest exhausted its call stack",
        )),
        Some(trap) => {
            let message = stderr.lines().find(|l| l.contains("panicked")).map_or_else(
                || format!("the guest trapped: {trap}"),
                |p| format!("the guest trapped: {trap} ({p})"),
            );
            with_stderr(Failure::new(kinds::TRAP, message))
        }
        // Not a trap: the guest handed back data the canonical ABI rejects
        // (invalid UTF-8, out-of-bounds pointers, bad discriminants).
        None => with_stderr(Failure::new(
            kinds::INVALID_RESULT,
            format!("the guest returned malformed data: {err}"),
        )),
    }
}
