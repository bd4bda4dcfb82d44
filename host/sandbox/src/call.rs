//! Calling a plugin: a fresh instance per call, limits applied, and every
//! breach turned into a [`Failure`] whose kind names it.

use crate::bindings::retry::{Retry, RetryPre};
use crate::bindings::taskbox::plugin::types as wit;
use crate::bindings::{Task, TaskPre};
use crate::drive::{Overdue, Seat, drive};
use crate::host::HostState;
use crate::plugin::{Plugin, Pre};
use crate::sandbox::Sandbox;
use crate::terms::Terms;
use serde_json::Value;
use std::sync::Arc;
use std::time::Instant;
use taskbox_model::{AtomFailure, Decision, Failure, History, Limits, kinds};
use wasmtime::{Store, Trap, UpdateDeadline};

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
    async fn instantiate(&self, store: &mut Store<HostState>) -> wasmtime::Result<Self::Instance>;
}

impl Instantiate for TaskPre<HostState> {
    type Instance = Task;
    async fn instantiate(&self, store: &mut Store<HostState>) -> wasmtime::Result<Task> {
        self.instantiate_async(store).await
    }
}

impl Instantiate for RetryPre<HostState> {
    type Instance = Retry;
    async fn instantiate(&self, store: &mut Store<HostState>) -> wasmtime::Result<Retry> {
        self.instantiate_async(store).await
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
    /// instance under `terms`, returning the decoded JSON result.
    pub fn execute(
        &self,
        plugin: &Plugin,
        args: &Value,
        terms: &Terms,
        observer: Arc<dyn CallObserver>,
    ) -> Result<Value, Failure> {
        let args = args.to_string();
        let text = self.call(
            task_pre(plugin)?,
            plugin.name(),
            Charge::Budget(terms),
            observer,
            async |task: &Task, store: &mut Store<HostState>| task.call_execute(store, &args).await,
        )??;
        decode_result(&text, &terms.limits)
    }

    /// Runs task `plugin`'s `revert` with `args`, the execute `result` (when
    /// execute succeeded) and the failures that made the flow revert.
    pub fn revert(
        &self,
        plugin: &Plugin,
        args: &Value,
        result: Option<&Value>,
        flow_failures: &[AtomFailure],
        terms: &Terms,
        observer: Arc<dyn CallObserver>,
    ) -> Result<(), Failure> {
        let args = args.to_string();
        let result = result.map(Value::to_string);
        let failures = failures_to_wit(flow_failures);
        self.call(
            task_pre(plugin)?,
            plugin.name(),
            Charge::Exempt(terms),
            observer,
            async |task: &Task, store: &mut Store<HostState>| {
                task.call_revert(store, &args, result.as_ref(), &failures)
                    .await
            },
        )?
    }

    /// Runs retry `plugin`'s `execute`: the value its scope gets next.
    pub fn retry_execute(
        &self,
        plugin: &Plugin,
        history: &History,
        args: &Value,
        terms: &Terms,
        observer: Arc<dyn CallObserver>,
    ) -> Result<Value, Failure> {
        let (history, args) = (history_to_wit(history), args.to_string());
        let text = self.call(
            retry_pre(plugin)?,
            plugin.name(),
            Charge::Budget(terms),
            observer,
            async |retry: &Retry, store: &mut Store<HostState>| {
                retry.call_execute(store, &history, &args).await
            },
        )??;
        decode_result(&text, &terms.limits)
    }

    /// Runs retry `plugin`'s `revert`.
    pub fn retry_revert(
        &self,
        plugin: &Plugin,
        history: &History,
        args: &Value,
        terms: &Terms,
        observer: Arc<dyn CallObserver>,
    ) -> Result<(), Failure> {
        let (history, args) = (history_to_wit(history), args.to_string());
        self.call(
            retry_pre(plugin)?,
            plugin.name(),
            Charge::Exempt(terms),
            observer,
            async |retry: &Retry, store: &mut Store<HostState>| {
                retry.call_revert(store, &history, &args).await
            },
        )?
    }

    /// Asks retry `plugin` how to resolve the failure last recorded in `history`.
    pub fn retry_on_failure(
        &self,
        plugin: &Plugin,
        history: &History,
        args: &Value,
        terms: &Terms,
        observer: Arc<dyn CallObserver>,
    ) -> Result<Decision, Failure> {
        let (history, args) = (history_to_wit(history), args.to_string());
        let decision = self.call(
            retry_pre(plugin)?,
            plugin.name(),
            Charge::Exempt(terms),
            observer,
            async |retry: &Retry, store: &mut Store<HostState>| {
                retry.call_on_failure(store, &history, &args).await.map(Ok)
            },
        )??;
        Ok(match decision {
            wit::Decision::Retry => Decision::Retry,
            wit::Decision::Revert => Decision::Revert,
            wit::Decision::RevertAll => Decision::RevertAll,
        })
    }

    /// Instantiates `pre` (plugin `name`) in a new store under the terms
    /// of `charge`, runs `f` on the instance, and counts the call against
    /// its lane.
    pub(crate) fn call<P: Instantiate, R>(
        &self,
        pre: &P,
        name: &str,
        charge: Charge<'_>,
        observer: Arc<dyn CallObserver>,
        f: impl AsyncFnOnce(
            &P::Instance,
            &mut Store<HostState>,
        ) -> wasmtime::Result<Result<R, wit::Failure>>,
    ) -> Result<Result<R, Failure>, Failure> {
        let terms = charge.terms();
        let mut store = self.store(name, charge, observer)?;
        let _slot = terms.lane.enter();
        let meter = store.data().meter.clone();
        let seat = Seat {
            gate: terms.lane.gate(),
            meter: &meter,
        };
        let waiting = terms.limits.timeout.saturating_mul(WAIT_FACTOR);
        let run = async {
            match pre.instantiate(&mut store).await {
                Ok(instance) => Ok(f(&instance, &mut store).await),
                Err(e) => Err(e),
            }
        };
        let outcome = {
            let _reactor = self.reactor().enter();
            drive(run, &seat, Instant::now() + waiting)
        };
        let state = store.data();
        state.finish();
        terms.lane.charge(meter.used(), state.memory.peak as u64);
        let outcome = match outcome {
            Err(Overdue) => Err(Failure::new(
                kinds::TIMEOUT,
                format!(
                    "the call waited for the host (sleeping or I/O) past its wall-clock deadline of {waiting:?}"
                ),
            )),
            Ok(Ok(Ok(result))) => Ok(result),
            Ok(Ok(Err(e))) => Err(classify(&e, state, &terms.limits)),
            // A limit can bite while the guest initializes, too.
            Ok(Err(e)) if state.memory.hit || e.downcast_ref::<Trap>().is_some() => {
                Err(classify(&e, state, &terms.limits))
            }
            Ok(Err(e)) => Err(Failure::new(
                kinds::INSTANTIATION,
                format!("cannot instantiate plugin {name}: {e}"),
            )),
        };
        outcome.map(|r| r.map_err(Failure::from))
    }

    /// A fresh store for one call of plugin `name`: its grants, its memory
    /// cap, and an epoch callback that yields at every tick and interrupts
    /// the call past its CPU deadline or its job's CPU budget.
    fn store(
        &self,
        name: &str,
        charge: Charge<'_>,
        observer: Arc<dyn CallObserver>,
    ) -> Result<Store<HostState>, Failure> {
        let terms = charge.terms();
        let state = HostState::new(&terms.limits, &terms.grants, observer).map_err(|e| {
            Failure::new(
                kinds::INSTANTIATION,
                format!("cannot set up plugin {name}'s grants: {e}"),
            )
        })?;
        let mut store = Store::new(self.engine(), state);
        store.limiter(|state| &mut state.memory);
        let meter = store.data().meter.clone();
        let timeout = terms.limits.timeout;
        let budget = match charge {
            Charge::Budget(terms) => terms.lane.budget(),
            Charge::Exempt(_) => None,
        };
        store.epoch_deadline_callback(move |mut ctx| {
            let used = meter.used();
            if used >= timeout {
                return Ok(UpdateDeadline::Interrupt);
            }
            if let Some((budget, before)) = budget
                && before + used >= budget
            {
                ctx.data_mut().budget_hit = Some(budget);
                return Ok(UpdateDeadline::Interrupt);
            }
            Ok(UpdateDeadline::Yield(1))
        });
        store.set_epoch_deadline(1);
        Ok(store)
    }
}

/// How long a call may wait for the host (sleeping, I/O), as a multiple
/// of its CPU deadline: waiting uses no CPU, but holds a worker.
const WAIT_FACTOR: u32 = 10;

/// A call's terms, and whether it counts against its job's CPU budget.
/// Reverts and retry decisions do not: a job that used up its budget must
/// still be able to undo its work.
#[derive(Clone, Copy)]
pub(crate) enum Charge<'a> {
    /// Stopped when the job's budget runs out.
    Budget(&'a Terms),
    /// Counted, never stopped by the job's budget.
    Exempt(&'a Terms),
}

impl<'a> Charge<'a> {
    fn terms(self) -> &'a Terms {
        match self {
            Charge::Budget(terms) | Charge::Exempt(terms) => terms,
        }
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
    match (err.downcast_ref::<Trap>(), state.budget_hit) {
        (Some(Trap::Interrupt), Some(budget)) => Failure::new(
            kinds::JOB_CPU,
            format!("the job used up its CPU time budget of {budget:?}"),
        ),
        (Some(Trap::Interrupt), None) => Failure::new(
            kinds::TIMEOUT,
            format!("the call ran past its CPU deadline of {:?}", limits.timeout),
        ),
        (Some(Trap::StackOverflow), _) => with_stderr(Failure::new(
            kinds::TRAP,
            "the guest exhausted its call stack",
        )),
        (Some(trap), _) => {
            let message = stderr.lines().find(|l| l.contains("panicked")).map_or_else(
                || format!("the guest trapped: {trap}"),
                |p| format!("the guest trapped: {trap} ({p})"),
            );
            with_stderr(Failure::new(kinds::TRAP, message))
        }
        // Not a trap: the guest handed back data the canonical ABI rejects
        // (invalid UTF-8, out-of-bounds pointers, bad discriminants).
        (None, _) => with_stderr(Failure::new(
            kinds::INVALID_RESULT,
            format!("the guest returned malformed data: {err}"),
        )),
    }
}
