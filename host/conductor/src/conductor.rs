//! Conductors: claim jobs, run their flows durably, consume or abandon.

use crate::error::ConductorError;
use crate::workshop::Workshop;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use taskbox_engine::{Engine, ResumeOptions, Suspender};
use taskbox_jobboard::{BoardError, Job, JobBoard, JobId};
use taskbox_logbook::Logbook;
use taskbox_model::{AtomFailure, FlowState};
use taskbox_sandbox::{Account, CpuGate, Lane};

/// How a conductor works.
#[derive(Debug, Clone)]
pub struct ConductorOptions {
    /// The name it claims jobs under; unique among live conductors.
    pub name: String,
    /// Jobs run at once: 1 is TaskFlow's blocking conductor, more a
    /// concurrent one.
    pub slots: usize,
    /// Length of a claim's lease; heartbeats renew it every third of it.
    pub lease: Duration,
    /// Longest wait on the board between looks for claimable jobs.
    pub poll: Duration,
    /// Guest calls running on the CPU at once, shared fairly between
    /// tenants; `None`: one per core.
    pub cpu_tokens: Option<usize>,
}

impl ConductorOptions {
    /// A blocking conductor: one job at a time.
    pub fn blocking(name: &str) -> ConductorOptions {
        ConductorOptions::concurrent(name, 1)
    }

    /// A concurrent conductor running up to `slots` jobs at once.
    pub fn concurrent(name: &str, slots: usize) -> ConductorOptions {
        ConductorOptions {
            name: name.to_string(),
            slots: slots.max(1),
            lease: Duration::from_secs(15),
            poll: Duration::from_millis(500),
            cpu_tokens: None,
        }
    }
}

/// How one attempt at a job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The flow succeeded; the job was consumed.
    Consumed,
    /// The attempt failed; the job went back to the board.
    Abandoned(String),
    /// The attempt failed at the attempt limit; the job is in the trash.
    Trashed(String),
    /// The flow was suspended (shutdown); the job went back untouched.
    Released,
    /// The claim was lost to another conductor (the lease ran out); the
    /// job was left to it.
    Lost(String),
}

/// What a conductor is doing and has done.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ConductorStatus {
    /// Its name.
    pub name: String,
    /// Jobs it may run at once.
    pub slots: usize,
    /// Jobs it holds now.
    pub running: Vec<JobId>,
    /// Jobs consumed.
    pub consumed: u64,
    /// Attempts abandoned (the job went back to the board).
    pub abandoned: u64,
    /// Jobs trashed at the attempt limit.
    pub trashed: u64,
    /// Jobs handed back at shutdown.
    pub released: u64,
    /// Claims lost to another conductor.
    pub lost: u64,
    /// Whether it has stopped claiming.
    pub stopping: bool,
}

#[derive(Default)]
struct Counters {
    consumed: AtomicU64,
    abandoned: AtomicU64,
    trashed: AtomicU64,
    released: AtomicU64,
    lost: AtomicU64,
}

/// A job held by this conductor: its tenant, its engine's suspender once
/// built, and whether its lease was lost.
#[derive(Default)]
struct Held {
    tenant: String,
    suspender: Option<Suspender>,
    lost: bool,
}

struct Shared {
    board: Arc<dyn JobBoard>,
    logbook: Arc<dyn Logbook>,
    workshop: Arc<Workshop>,
    options: ConductorOptions,
    /// No new claims.
    stopping: AtomicBool,
    /// Suspend every flow, now and as it starts.
    suspend_all: AtomicBool,
    /// Every worker and the dispatcher have ended: the heartbeat may stop.
    /// Set under the `held` lock.
    finished: AtomicBool,
    held: Mutex<BTreeMap<JobId, Held>>,
    /// Signalled with `held` when a job is let go or the conductor stops.
    released: Condvar,
    /// Free slots; the dispatcher claims only when one is free.
    free: Mutex<usize>,
    /// Signalled with `free` when a slot frees or the conductor stops.
    slot_freed: Condvar,
    counters: Counters,
    /// Where every guest call takes its turn at the CPU.
    gate: Arc<CpuGate>,
    /// Each tenant's account, made at its first job.
    accounts: Mutex<BTreeMap<String, Arc<Account>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running conductor: a dispatcher thread that claims jobs while a slot
/// is free, one worker thread per slot, and a heartbeat thread renewing
/// the leases it holds. Dropping it shuts it down without a grace period.
pub struct Conductor {
    shared: Arc<Shared>,
    /// The workers and the dispatcher.
    threads: Mutex<Vec<JoinHandle<()>>>,
    heartbeat: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Conductor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conductor")
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}

impl Conductor {
    /// Starts a conductor on `board`, running flows recorded in `logbook`
    /// and built by `workshop`.
    pub fn start(
        board: Arc<dyn JobBoard>,
        logbook: Arc<dyn Logbook>,
        workshop: Arc<Workshop>,
        options: ConductorOptions,
    ) -> std::io::Result<Conductor> {
        let slots = options.slots.max(1);
        let gate = options
            .cpu_tokens
            .map_or_else(CpuGate::per_core, CpuGate::new);
        let shared = Arc::new(Shared {
            board,
            logbook,
            workshop,
            options,
            stopping: AtomicBool::new(false),
            suspend_all: AtomicBool::new(false),
            finished: AtomicBool::new(false),
            held: Mutex::new(BTreeMap::new()),
            released: Condvar::new(),
            free: Mutex::new(slots),
            slot_freed: Condvar::new(),
            counters: Counters::default(),
            gate,
            accounts: Mutex::new(BTreeMap::new()),
        });
        let (sender, receiver) = channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        let mut threads = Vec::new();
        let name = &shared.options.name;
        for slot in 0..slots {
            let (shared, receiver) = (shared.clone(), receiver.clone());
            threads.push(
                std::thread::Builder::new()
                    .name(format!("{name}-slot-{slot}"))
                    .spawn(move || shared.work(&receiver))?,
            );
        }
        let dispatcher = shared.clone();
        threads.push(
            std::thread::Builder::new()
                .name(format!("{name}-claims"))
                .spawn(move || dispatcher.dispatch(sender))?,
        );
        let heart = shared.clone();
        let heartbeat = std::thread::Builder::new()
            .name(format!("{name}-heartbeat"))
            .spawn(move || heart.heartbeat())?;
        Ok(Conductor {
            shared,
            threads: Mutex::new(threads),
            heartbeat: Mutex::new(Some(heartbeat)),
        })
    }

    /// What it is doing and has done.
    pub fn status(&self) -> ConductorStatus {
        let shared = &self.shared;
        let count = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ConductorStatus {
            name: shared.options.name.clone(),
            slots: shared.options.slots,
            running: lock(&shared.held).keys().copied().collect(),
            consumed: count(&shared.counters.consumed),
            abandoned: count(&shared.counters.abandoned),
            trashed: count(&shared.counters.trashed),
            released: count(&shared.counters.released),
            lost: count(&shared.counters.lost),
            stopping: shared.stopping.load(Ordering::Relaxed),
        }
    }

    /// Graceful shutdown: stops claiming, lets running jobs finish for up
    /// to `grace`, then suspends the rest (their running atoms finish) and
    /// hands them back to the board, their flows resumable. Returns once
    /// every thread has ended.
    pub fn shutdown(&self, grace: Duration) {
        let shared = &self.shared;
        shared.stopping.store(true, Ordering::SeqCst);
        shared.slot_freed.notify_all();
        shared.released.notify_all();
        let deadline = Instant::now() + grace;
        let mut held = lock(&shared.held);
        while !held.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            held = shared
                .released
                .wait_timeout(held, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        if !held.is_empty() {
            tracing::info!(
                jobs = held.len(),
                "grace period over: suspending running flows"
            );
        }
        shared.suspend_all.store(true, Ordering::SeqCst);
        for job in held.values() {
            if let Some(suspender) = &job.suspender {
                suspender.suspend();
            }
        }
        drop(held);
        let threads = std::mem::take(&mut *lock(&self.threads));
        for thread in threads {
            join(thread);
        }
        {
            let _held = lock(&shared.held);
            shared.finished.store(true, Ordering::SeqCst);
        }
        shared.released.notify_all();
        if let Some(heartbeat) = lock(&self.heartbeat).take() {
            join(heartbeat);
        }
    }
}

impl Drop for Conductor {
    fn drop(&mut self) {
        if !lock(&self.threads).is_empty() {
            self.shutdown(Duration::ZERO);
        }
    }
}

fn join(thread: JoinHandle<()>) {
    if thread.join().is_err() {
        tracing::error!("a conductor thread panicked");
    }
}

/// The text of a flow's failures, as a job's failure reason.
fn failure_text(state: FlowState, failures: &[AtomFailure]) -> String {
    let causes: Vec<String> = failures
        .iter()
        .map(|f| format!("{}: {}", f.atom, f.failure))
        .collect();
    if causes.is_empty() {
        format!("flow ended {state}")
    } else {
        format!("flow ended {state}: {}", causes.join("; "))
    }
}

impl Shared {
    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Claims jobs, oldest first, while a slot is free.
    fn dispatch(&self, workers: Sender<Job>) {
        while !self.stopping() {
            {
                let mut free = lock(&self.free);
                while *free == 0 && !self.stopping() {
                    free = self
                        .slot_freed
                        .wait_timeout(free, self.options.poll)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
            }
            if self.stopping() {
                break;
            }
            match self.claim_next() {
                Ok(Some(job)) => {
                    *lock(&self.free) -= 1;
                    if workers.send(job).is_err() {
                        break;
                    }
                }
                Ok(None) => {
                    if let Err(e) = self.board.wait(self.options.poll) {
                        tracing::warn!(error = %e, "waiting on the jobboard failed");
                        std::thread::sleep(self.options.poll);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "looking for jobs failed");
                    std::thread::sleep(self.options.poll);
                }
            }
        }
    }

    /// Claims a claimable job, if any. The board offers each tenant's
    /// oldest jobs in turn; of those, the tenant with the fewest jobs
    /// running here goes first, and a tenant already running as many jobs
    /// as it may run calls at once waits, leaving the slot to others.
    fn claim_next(&self) -> Result<Option<Job>, BoardError> {
        let name = &self.options.name;
        let mut candidates = self.board.claimable(self.options.slots.max(4))?;
        {
            let held = lock(&self.held);
            let load = |job: &Job| held.values().filter(|h| h.tenant == job.tenant).count();
            let tenants = self.workshop.tenants();
            let cap = |job: &Job| {
                tenants
                    .and_then(|t| t.get(&job.tenant))
                    .and_then(|t| t.limits.concurrent_atoms)
                    .unwrap_or(usize::MAX)
            };
            candidates.retain(|job| load(job) < cap(job));
            // A stable sort keeps the board's turns among equals.
            candidates.sort_by_key(load);
        }
        // Each candidate may be taken by another conductor first.
        for job in candidates {
            if self.stopping() {
                break;
            }
            match self.board.claim(job.id, name, self.options.lease) {
                Ok(job) => {
                    tracing::info!(job = %job.id, name = %job.name, attempts = job.attempts, "claimed");
                    let held = Held {
                        tenant: job.tenant.clone(),
                        ..Held::default()
                    };
                    lock(&self.held).insert(job.id, held);
                    return Ok(Some(job));
                }
                Err(BoardError::Trashed { job, reason, .. }) => {
                    tracing::warn!(%job, %reason, "job trashed at the attempt limit");
                }
                Err(
                    BoardError::Unclaimable { .. }
                    | BoardError::WrongState { .. }
                    | BoardError::UnknownJob(_),
                ) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    /// Renews the leases held, every third of a lease, until every other
    /// thread of the conductor has ended.
    fn heartbeat(&self) {
        let every = (self.options.lease / 3).max(Duration::from_millis(5));
        loop {
            let ids: Vec<JobId> = lock(&self.held).keys().copied().collect();
            for id in ids {
                match self
                    .board
                    .heartbeat(id, &self.options.name, self.options.lease)
                {
                    Ok(_) => {}
                    Err(BoardError::NotOwner { .. } | BoardError::UnknownJob(_)) => {
                        self.lose(id);
                    }
                    Err(e) => tracing::warn!(job = %id, error = %e, "heartbeat failed"),
                }
            }
            let held = lock(&self.held);
            if self.finished.load(Ordering::SeqCst) {
                break;
            }
            drop(
                self.released
                    .wait_timeout(held, every)
                    .unwrap_or_else(PoisonError::into_inner),
            );
        }
    }

    /// The lease on `id` is gone: stop its flow.
    fn lose(&self, id: JobId) {
        if let Some(job) = lock(&self.held).get_mut(&id) {
            tracing::warn!(job = %id, "lost the claim; suspending its flow");
            job.lost = true;
            if let Some(suspender) = &job.suspender {
                suspender.suspend();
            }
        }
    }

    /// A worker: runs the jobs the dispatcher hands over.
    fn work(&self, jobs: &Mutex<Receiver<Job>>) {
        loop {
            let next = lock(jobs).recv();
            let Ok(job) = next else { break };
            let id = job.id;
            let ending = self.conduct(&job);
            tracing::info!(job = %id, ?ending, "attempt ended");
            let counter = match ending {
                Ending::Consumed => &self.counters.consumed,
                Ending::Abandoned(_) => &self.counters.abandoned,
                Ending::Trashed(_) => &self.counters.trashed,
                Ending::Released => &self.counters.released,
                Ending::Lost(_) => &self.counters.lost,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            lock(&self.held).remove(&id);
            *lock(&self.free) += 1;
            self.slot_freed.notify_all();
            self.released.notify_all();
        }
    }

    /// One attempt at `job`, and what the board was told.
    pub(crate) fn conduct(&self, job: &Job) -> Ending {
        let who = &self.options.name;
        let lane = self.lane(job);
        let result = self.run(job, lane.clone());
        // Counted before the job goes back: the next attempt's CPU budget
        // starts from it.
        if let Err(e) = self.board.charge(job.id, lane.usage()) {
            tracing::warn!(job = %job.id, error = %e, "the board refused the attempt's usage");
        }
        let lost = lock(&self.held).get(&job.id).is_some_and(|h| h.lost);
        if lost {
            return Ending::Lost(match result {
                Ok((state, _)) => format!("flow {state} after the lease ran out"),
                Err(e) => e.to_string(),
            });
        }
        let told = match result {
            Ok((FlowState::Success, _)) => {
                self.board.consume(job.id, who).map(|_| Ending::Consumed)
            }
            Ok((FlowState::Suspended, _)) => {
                self.board.release(job.id, who).map(|_| Ending::Released)
            }
            Ok((_, reason)) => self.abandon(job.id, &reason),
            Err(e) => self.abandon(job.id, &e.to_string()),
        };
        told.unwrap_or_else(|e| {
            tracing::warn!(job = %job.id, error = %e, "the board refused the attempt's end");
            Ending::Lost(e.to_string())
        })
    }

    fn abandon(&self, id: JobId, reason: &str) -> Result<Ending, BoardError> {
        let job = self.board.abandon(id, &self.options.name, reason)?;
        Ok(match job.state {
            taskbox_jobboard::JobState::Trashed => Ending::Trashed(reason.to_string()),
            _ => Ending::Abandoned(reason.to_string()),
        })
    }

    /// The lane of one attempt at `job`: its tenant's account, and its CPU
    /// budget per job less what earlier attempts used.
    fn lane(&self, job: &Job) -> Lane {
        let tenant = self.workshop.tenants().and_then(|t| t.get(&job.tenant));
        let account = lock(&self.accounts)
            .entry(job.tenant.clone())
            .or_insert_with(|| {
                let max_calls = tenant.and_then(|t| t.limits.concurrent_atoms);
                Account::new(&job.tenant, self.gate.clone(), max_calls)
            })
            .clone();
        Lane::job(
            account,
            tenant.and_then(|t| t.limits.job_cpu),
            job.usage.cpu(),
        )
    }

    /// Builds (or resumes) the job's flow and runs it: its final state and
    /// the failure text.
    fn run(&self, job: &Job, lane: Lane) -> Result<(FlowState, String), ConductorError> {
        let engine = match job.flow {
            Some(flow) => {
                let detail = self.logbook.flow(flow)?;
                if detail.state.is_final() && detail.state != FlowState::Suspended {
                    return Ok((detail.state, failure_text(detail.state, &detail.failures)));
                }
                tracing::info!(job = %job.id, %flow, "resuming the job's flow from the logbook");
                let plugins = self
                    .workshop
                    .plugins_of(&job.tenant)
                    .ok_or_else(|| ConductorError::Tenant(job.tenant.clone()))?;
                Engine::resume(
                    self.workshop.sandbox().clone(),
                    plugins,
                    self.logbook.clone(),
                    flow,
                    &ResumeOptions {
                        tenancy: self.workshop.tenancy(&job.tenant, lane),
                        ..ResumeOptions::default()
                    },
                )?
            }
            None => self.record(job, lane)?,
        };
        {
            let mut held = lock(&self.held);
            let entry = held.entry(job.id).or_default();
            entry.suspender = Some(engine.suspender());
            if entry.lost || self.suspend_all.load(Ordering::SeqCst) {
                engine.suspend();
            }
        }
        let outcome = engine.run()?;
        Ok((
            outcome.state,
            failure_text(outcome.state, &outcome.failures),
        ))
    }

    /// Records a new flow for the job and links it before anything runs.
    fn record(&self, job: &Job, lane: Lane) -> Result<Engine, ConductorError> {
        let checked = self.workshop.check(&job.tenant, &job.payload)?;
        let mut meta = BTreeMap::from([
            ("job".to_string(), job.id.to_string()),
            ("job_name".to_string(), job.name.clone()),
            ("conductor".to_string(), self.options.name.clone()),
        ]);
        if !job.tenant.is_empty() {
            meta.insert("tenant".to_string(), job.tenant.clone());
        }
        let engine =
            self.workshop
                .engine(&checked, lane)?
                .record(self.logbook.clone(), "jobs", meta)?;
        if let Some(flow) = engine.flow_id() {
            self.board.link_flow(job.id, &self.options.name, flow)?;
        }
        Ok(engine)
    }
}
