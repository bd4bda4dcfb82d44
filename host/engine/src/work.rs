//! Units of work handed to executors, and the serial and parallel executors.

use crate::clock::Clock;
use crate::events::{Event, Notifier};
use crate::graph::{AtomKind, ExecGraph};
use serde_json::Value;
use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use taskbox_model::{AtomFailure, Controller, Decision, Failure, History, kinds};
use taskbox_sandbox::{CallObserver, LogLevel, NoObserver, Plugin, Sandbox, Terms};

/// What to do with an atom.
pub(crate) enum JobKind {
    /// Call a task's `execute`.
    Execute,
    /// Call a task's `revert` with the execute result and the flow's failures.
    Revert {
        result: Option<Value>,
        failures: Vec<AtomFailure>,
    },
    /// Start an attempt of a retry (after its delay, if any).
    RetryExecute { history: History },
    /// Revert a retry.
    RetryRevert { history: History },
}

/// One call to make.
pub(crate) struct Job {
    pub(crate) atom: usize,
    pub(crate) args: Value,
    pub(crate) kind: JobKind,
}

/// The answer to a [`Job`]: a result for execute, `None` for revert.
pub(crate) struct Done {
    pub(crate) atom: usize,
    pub(crate) outcome: Result<Option<Value>, Failure>,
    pub(crate) elapsed: Duration,
}

/// Everything a worker needs to perform jobs; shared by all workers.
pub(crate) struct Worker<'a> {
    pub(crate) sandbox: &'a Sandbox,
    pub(crate) graph: &'a ExecGraph,
    /// The plugin of each atom; `None` for builtin retries.
    pub(crate) plugins: &'a [Option<Plugin>],
    pub(crate) terms: &'a [Terms],
    pub(crate) notifier: &'a Notifier,
    pub(crate) clock: &'a dyn Clock,
}

/// Forwards a guest's logs and progress as events of its atom.
struct AtomObserver {
    atom: String,
    notifier: Notifier,
}

impl CallObserver for AtomObserver {
    fn log(&self, level: LogLevel, message: &str) {
        self.notifier.publish(Event::Log {
            atom: self.atom.clone(),
            level,
            message: message.to_string(),
        });
    }

    fn progress(&self, fraction: f32) {
        self.notifier.publish(Event::Progress {
            atom: self.atom.clone(),
            fraction,
        });
    }
}

impl Worker<'_> {
    pub(crate) fn perform(&self, job: Job) -> Done {
        let started = Instant::now();
        let atom = job.atom;
        let outcome = catch_unwind(AssertUnwindSafe(|| self.call(job))).unwrap_or_else(|_| {
            Err(Failure::new(
                "host.panic",
                "the host panicked while running this atom; this is a taskbox bug",
            ))
        });
        Done {
            atom,
            outcome,
            elapsed: started.elapsed(),
        }
    }

    fn observer(&self, atom: usize) -> Arc<dyn CallObserver> {
        if self.notifier.is_empty() {
            Arc::new(NoObserver)
        } else {
            Arc::new(AtomObserver {
                atom: self.graph.atoms[atom].name.clone(),
                notifier: self.notifier.clone(),
            })
        }
    }

    /// The atom's plugin; only builtin retries have none.
    fn plugin(&self, atom: usize) -> Result<&Plugin, Failure> {
        self.plugins[atom].as_ref().ok_or_else(|| {
            Failure::new(
                kinds::INSTANTIATION,
                format!("atom '{}' has no plugin", self.graph.atoms[atom].name),
            )
        })
    }

    fn call(&self, job: Job) -> Result<Option<Value>, Failure> {
        let atom = job.atom;
        let terms = &self.terms[atom];
        let (sandbox, args) = (self.sandbox, &job.args);
        let builtin = match &self.graph.atoms[atom].kind {
            AtomKind::Retry { controller, delay } => {
                if let (JobKind::RetryExecute { history }, Some(delay)) = (&job.kind, delay) {
                    let pause = delay.before(history.attempts.len() + 1);
                    if !pause.is_zero() {
                        self.clock.sleep(pause);
                    }
                }
                (!matches!(controller, Controller::Plugin { .. })).then_some(controller)
            }
            AtomKind::Task => None,
        };
        match (job.kind, builtin) {
            (JobKind::Execute, _) => sandbox
                .execute(self.plugin(atom)?, args, terms, self.observer(atom))
                .map(Some),
            (JobKind::Revert { result, failures }, _) => sandbox
                .revert(
                    self.plugin(atom)?,
                    args,
                    result.as_ref(),
                    &failures,
                    terms,
                    self.observer(atom),
                )
                .map(|()| None),
            (JobKind::RetryExecute { history }, Some(builtin)) => {
                builtin.builtin_execute(&history, args).map(Some)
            }
            (JobKind::RetryExecute { history }, None) => sandbox
                .retry_execute(
                    self.plugin(atom)?,
                    &history,
                    args,
                    terms,
                    self.observer(atom),
                )
                .map(Some),
            (JobKind::RetryRevert { .. }, Some(_)) => Ok(None),
            (JobKind::RetryRevert { history }, None) => sandbox
                .retry_revert(
                    self.plugin(atom)?,
                    &history,
                    args,
                    terms,
                    self.observer(atom),
                )
                .map(|()| None),
        }
    }

    /// Asks the retry `atom` how to resolve the failure last recorded in
    /// `history`. A controller plugin that fails to answer decides
    /// REVERT_ALL: the safe way out.
    pub(crate) fn decide(&self, atom: usize, history: &History, args: &Value) -> Decision {
        let AtomKind::Retry { controller, .. } = &self.graph.atoms[atom].kind else {
            return Decision::RevertAll;
        };
        if !matches!(controller, Controller::Plugin { .. }) {
            return controller.builtin_on_failure(history, args);
        }
        let answer = self.plugin(atom).and_then(|plugin| {
            self.sandbox.retry_on_failure(
                plugin,
                history,
                args,
                &self.terms[atom],
                self.observer(atom),
            )
        });
        answer.unwrap_or_else(|failure| {
            tracing::warn!(retry = %self.graph.atoms[atom].name, %failure, "on_failure failed; reverting everything");
            self.notifier.publish(Event::Log {
                atom: self.graph.atoms[atom].name.clone(),
                level: LogLevel::Error,
                message: format!("on_failure failed ({failure}); deciding REVERT_ALL"),
            });
            Decision::RevertAll
        })
    }
}

/// Runs jobs and hands back their answers.
pub(crate) trait Executor {
    /// Most jobs in flight at once.
    fn capacity(&self) -> usize;
    /// Starts a job.
    fn submit(&mut self, job: Job);
    /// Waits for the next answer; `None` when no job is in flight or the
    /// workers are gone.
    fn next(&mut self) -> Option<Done>;
    /// An answer that is already back, without waiting.
    fn try_next(&mut self) -> Option<Done>;
    /// Asks retry `atom` how to resolve a failure (on the calling thread).
    fn decide(&mut self, atom: usize, history: &History, args: &Value) -> Decision;
}

/// Runs each job on the calling thread when its answer is asked for.
pub(crate) struct Serial<'a> {
    worker: &'a Worker<'a>,
    queue: VecDeque<Job>,
}

impl<'a> Serial<'a> {
    pub(crate) fn new(worker: &'a Worker<'a>) -> Self {
        Serial {
            worker,
            queue: VecDeque::new(),
        }
    }
}

impl Executor for Serial<'_> {
    fn capacity(&self) -> usize {
        1
    }

    fn submit(&mut self, job: Job) {
        self.queue.push_back(job);
    }

    fn next(&mut self) -> Option<Done> {
        self.queue.pop_front().map(|job| self.worker.perform(job))
    }

    fn try_next(&mut self) -> Option<Done> {
        // Jobs run when asked for; none is ever already back.
        None
    }

    fn decide(&mut self, atom: usize, history: &History, args: &Value) -> Decision {
        self.worker.decide(atom, history, args)
    }
}

/// Jobs waiting for a worker. Workers sleep on the condvar without holding
/// the lock, so a burst of jobs wakes as many workers at once.
#[derive(Default)]
struct JobQueue {
    state: Mutex<QueueState>,
    ready: Condvar,
}

#[derive(Default)]
struct QueueState {
    jobs: VecDeque<Job>,
    closed: bool,
}

impl JobQueue {
    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, job: Job) {
        self.lock().jobs.push_back(job);
        self.ready.notify_one();
    }

    /// The next job; `None` once closed and empty.
    fn pop(&self) -> Option<Job> {
        let mut state = self.lock();
        loop {
            if let Some(job) = state.jobs.pop_front() {
                return Some(job);
            }
            if state.closed {
                return None;
            }
            state = self
                .ready
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }
}

/// Runs jobs on `workers` threads of a scope.
pub(crate) struct Parallel<'a> {
    worker: &'a Worker<'a>,
    capacity: usize,
    jobs: Arc<JobQueue>,
    done: Receiver<Done>,
}

impl<'a> Parallel<'a> {
    /// Starts `workers` threads in `scope`, with up to `depth` jobs in
    /// flight per worker (queued ones keep a worker from idling while the
    /// scheduler commits); they stop when `self` is dropped.
    pub(crate) fn start<'env>(
        scope: &'a std::thread::Scope<'a, 'env>,
        worker: &'a Worker<'a>,
        workers: usize,
        depth: usize,
    ) -> Self {
        let jobs = Arc::new(JobQueue::default());
        let (done_tx, done_rx) = channel::<Done>();
        for _ in 0..workers {
            let jobs = jobs.clone();
            let done_tx = done_tx.clone();
            scope.spawn(move || {
                while let Some(job) = jobs.pop() {
                    if done_tx.send(worker.perform(job)).is_err() {
                        return;
                    }
                }
            });
        }
        Parallel {
            worker,
            capacity: workers * depth.max(1),
            jobs,
            done: done_rx,
        }
    }
}

impl Executor for Parallel<'_> {
    fn capacity(&self) -> usize {
        self.capacity
    }

    fn submit(&mut self, job: Job) {
        self.jobs.push(job);
    }

    fn next(&mut self) -> Option<Done> {
        self.done.recv().ok()
    }

    fn try_next(&mut self) -> Option<Done> {
        self.done.try_recv().ok()
    }

    fn decide(&mut self, atom: usize, history: &History, args: &Value) -> Decision {
        self.worker.decide(atom, history, args)
    }
}

impl Drop for Parallel<'_> {
    fn drop(&mut self) {
        // Closing the queue ends the worker loops.
        self.jobs.close();
    }
}
