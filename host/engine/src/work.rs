//! Units of work handed to executors, and the serial and parallel executors.

use crate::events::{Event, Notifier};
use serde_json::Value;
use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use taskbox_model::{AtomFailure, Failure, Limits};
use taskbox_sandbox::{CallObserver, LogLevel, NoObserver, Plugin, Sandbox};

/// What to do with an atom.
pub(crate) enum JobKind {
    /// Call `execute`.
    Execute,
    /// Call `revert` with the execute result and the flow's failures.
    Revert {
        result: Option<Value>,
        failures: Vec<AtomFailure>,
    },
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
    pub(crate) plugins: &'a [Plugin],
    pub(crate) limits: &'a [Limits],
    pub(crate) names: &'a [String],
    pub(crate) notifier: &'a Notifier,
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

    fn call(&self, job: Job) -> Result<Option<Value>, Failure> {
        let observer: Arc<dyn CallObserver> = if self.notifier.is_empty() {
            Arc::new(NoObserver)
        } else {
            Arc::new(AtomObserver {
                atom: self.names[job.atom].clone(),
                notifier: self.notifier.clone(),
            })
        };
        let plugin = &self.plugins[job.atom];
        let limits = &self.limits[job.atom];
        match job.kind {
            JobKind::Execute => self
                .sandbox
                .execute(plugin, &job.args, limits, observer)
                .map(Some),
            JobKind::Revert { result, failures } => self
                .sandbox
                .revert(
                    plugin,
                    &job.args,
                    result.as_ref(),
                    &failures,
                    limits,
                    observer,
                )
                .map(|()| None),
        }
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
}

/// Runs jobs on `workers` threads of a scope.
pub(crate) struct Parallel {
    workers: usize,
    jobs: Option<Sender<Job>>,
    done: Receiver<Done>,
}

impl Parallel {
    /// Starts `workers` threads in `scope`; they stop when `self` is dropped.
    pub(crate) fn start<'scope, 'env: 'scope>(
        scope: &'scope std::thread::Scope<'scope, 'env>,
        worker: &'scope Worker<'scope>,
        workers: usize,
    ) -> Self {
        let (job_tx, job_rx) = channel::<Job>();
        let (done_tx, done_rx) = channel::<Done>();
        let job_rx = Arc::new(Mutex::new(job_rx));
        for _ in 0..workers {
            let job_rx = job_rx.clone();
            let done_tx = done_tx.clone();
            scope.spawn(move || {
                loop {
                    let job = match job_rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = job else { return };
                    if done_tx.send(worker.perform(job)).is_err() {
                        return;
                    }
                }
            });
        }
        Parallel {
            workers,
            jobs: Some(job_tx),
            done: done_rx,
        }
    }
}

impl Executor for Parallel {
    fn capacity(&self) -> usize {
        self.workers
    }

    fn submit(&mut self, job: Job) {
        if let Some(jobs) = &self.jobs {
            let atom = job.atom;
            if jobs.send(job).is_err() {
                tracing::error!(atom, "worker threads are gone");
            }
        }
    }

    fn next(&mut self) -> Option<Done> {
        self.done.recv().ok()
    }
}

impl Drop for Parallel {
    fn drop(&mut self) {
        // Closing the job channel ends the worker loops.
        self.jobs.take();
    }
}
