//! Calling a plugin: a fresh instance per call, limits applied, and every
//! breach turned into a [`Failure`] whose kind names it.

use crate::bindings::retry::{Retry, RetryPre};
use crate::bindings::taskbox::plugin::types as wit;
use crate::bindings::{Task, TaskPre};
use crate::host::HostState;
use crate::plugin::{Plugin, Pre};
use crate::sandbox::Sandbox;
use serde_json::Value;
use std::sync::Arc;
use taskbox_model::{AtomFailure, Decision, Failure, History, Limits, kinds};
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

fn failures_to_wit(failures: &[AtomFailure]) -> Vec<wit::AtomFailure> {
    failures
        .iter()
        .map(|f| wit::AtomFailure {
            atom: f.atom.clone(),
            failure: to_wit(&f.failure),
        })
        .collect()
}

fn history_to_wit(history: &History) -> wit::History {
    wit::History {
        attempts: history
            .attempts
            .iter()
            .map(|a| wit::Attempt {
                value: a.value.to_string(),
                failures: failures_to_wit(&a.failures),
            })
            .collect(),
        failure: history.failure.as_ref().map(to_wit),
    }
}

/// A pre-linked component that can be instantiated in a store.
pub(crate) trait Instantiate {
    /// The typed instance.
    type Instance;
    /// Creates an instance in `store`.
    fn instantiate(&self, store: &mut Store<HostState>) -> wasmtime::Result<Self::Instance>;
}

impl Instantiate for TaskPre<HostState> {
    type Instance = Task;
    fn instantiate(&self, store: &mut Store<HostState>) -> wasmtime::Result<Task> {
        TaskPre::instantiate(self, store)
    }
}

impl Instantiate for RetryPre<HostState> {
    type Instance = Retry;
    fn instantiate(&self, store: &mut Store<HostState>) -> wasmtime::Result<Retry> {
        RetryPre::instantiate(self, store)
    }
}

fn task_pre(plugin: &Plugin) -> Result<&TaskPre<HostState>, Failure> {
    match plugin.pre() {
        Pre::Task(pre) => Ok(pre),
        Pre::Retry(_) => Err(Failure::new(
            kinds::INSTANTIATION,
            format!("plugin {} is a retry controller, not a task", plugin.name()),
        )),
    }
}

fn retry_pre(plugin: &Plugin) -> Result<&RetryPre<HostState>, Failure> {
    match plugin.pre() {
        Pre::Retry(pre) => Ok(pre),
        Pre::Task(_) => Err(Failure::new(
            kinds::INSTANTIATION,
            format!("plugin {} is a task, not a retry controller", plugin.name()),
        )),
    }
}

/// Checks a result's size and decodes its JSON.
fn decode_result(text: &str, limits: &Limits) -> Result<Value, Failure> {
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
    serde_json::from_str(text).map_err(|e| {
        Failure::new(
            kinds::INVALID_RESULT,
            format!("the result is not valid JSON: {e}"),
        )
    })
}

impl Sandbox {
    /// Runs task `plugin`'s `execute` with `args` (a JSON object) in a fresh
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
            task_pre(plugin)?,
            plugin.name(),
            limits,
            observer,
            |task, store| task.call_execute(store, &args),
        )??;
        decode_result(&text, limits)
    }

    /// Runs task `plugin`'s `revert` with `args`, the execute `result` (when
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
        let failures = failures_to_wit(flow_failures);
        self.call(
            task_pre(plugin)?,
            plugin.name(),
            limits,
            observer,
            |task, store| task.call_revert(store, &args, result.as_ref(), &failures),
        )?
    }

    /// Runs retry `plugin`'s `execute`: the value its scope gets next.
    pub fn retry_execute(
        &self,
        plugin: &Plugin,
        history: &History,
        args: &Value,
        limits: &Limits,
        observer: Arc<dyn CallObserver>,
    ) -> Result<Value, Failure> {
        let text = self.call_retry(
            plugin,
            history,
            args,
            limits,
            observer,
            |retry, store, history, args| retry.call_execute(store, history, args),
        )??;
        decode_result(&text, limits)
    }

    /// Runs retry `plugin`'s `revert`.
    pub fn retry_revert(
        &self,
        plugin: &Plugin,
        history: &History,
        args: &Value,
        limits: &Limits,
        observer: Arc<dyn CallObserver>,
    ) -> Result<(), Failure> {
        self.call_retry(
            plugin,
            history,
            args,
            limits,
            observer,
            |retry, store, history, args| retry.call_revert(store, history, args),
        )?
    }

    /// Asks retry `plugin` how to resolve the failure last recorded in `history`.
    pub fn retry_on_failure(
        &self,
        plugin: &Plugin,
        history: &History,
        args: &Value,
        limits: &Limits,
        observer: Arc<dyn CallObserver>,
    ) -> Result<Decision, Failure> {
        let decision = self.call_retry(
            plugin,
            history,
            args,
            limits,
            observer,
            |retry, store, history, args| retry.call_on_failure(store, history, args).map(Ok),
        )??;
        Ok(match decision {
            wit::Decision::Retry => Decision::Retry,
            wit::Decision::Revert => Decision::Revert,
            wit::Decision::RevertAll => Decision::RevertAll,
        })
    }

    /// Calls retry `plugin` with its history and arguments converted once.
    fn call_retry<R>(
        &self,
        plugin: &Plugin,
        history: &History,
        args: &Value,
        limits: &Limits,
        observer: Arc<dyn CallObserver>,
        f: impl FnOnce(
            &Retry,
            &mut Store<HostState>,
            &wit::History,
            &String,
        ) -> wasmtime::Result<Result<R, wit::Failure>>,
    ) -> Result<Result<R, Failure>, Failure> {
        let (history, args) = (history_to_wit(history), args.to_string());
        self.call(
            retry_pre(plugin)?,
            plugin.name(),
            limits,
            observer,
            |retry, store| f(retry, store, &history, &args),
        )
    }

    /// Instantiates `pre` (plugin `name`) in a new store under `limits` and
    /// runs `f` on the instance.
    pub(crate) fn call<P: Instantiate, R>(
        &self,
        pre: &P,
        name: &str,
        limits: &Limits,
        observer: Arc<dyn CallObserver>,
        f: impl FnOnce(&P::Instance, &mut Store<HostState>) -> wasmtime::Result<Result<R, wit::Failure>>,
    ) -> Result<Result<R, Failure>, Failure> {
        let mut store = Store::new(self.engine(), HostState::new(limits, observer));
        store.limiter(|state| &mut state.memory);
        store.set_epoch_deadline(self.deadline_ticks(limits));
        let outcome = match pre.instantiate(&mut store) {
            Ok(instance) => {
                f(&instance, &mut store).map_err(|e| classify(&e, store.data(), limits))
            }
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
