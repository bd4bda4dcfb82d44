//! The embedded jobboard: tables in the logbook's redb file.

use crate::board::{BoardEvent, BoardOptions, JobBoard};
use crate::error::BoardError;
use crate::job::{Claim, Job, JobId, JobState};
use redb::{
    ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition, TableHandle,
    WriteTransaction,
};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;
use taskbox_logbook::{FlowId, GroupCommit};

/// The schema this build reads and writes.
const SCHEMA_VERSION: u64 = 1;

const META: TableDefinition<&str, u64> = TableDefinition::new("jobboard_meta");
/// Unclaimed and claimed jobs: what conductors scan.
const BOARD: TableDefinition<u64, &[u8]> = TableDefinition::new("jobboard_board");
/// Consumed jobs.
const DONE: TableDefinition<u64, &[u8]> = TableDefinition::new("jobboard_done");
/// The garbage bin.
const TRASH: TableDefinition<u64, &[u8]> = TableDefinition::new("jobboard_trash");

const SCHEMA_KEY: &str = "schema_version";
const NEXT_JOB_KEY: &str = "next_job_id";

/// Maps any redb error type to a storage error naming what was being done.
macro_rules! try_redb {
    ($doing:expr, $e:expr) => {
        $e.map_err(|e| BoardError::Storage {
            doing: $doing,
            message: redb::Error::from(e).to_string(),
        })?
    };
}

/// A jobboard in a redb database, normally the logbook's (see
/// [`RedbLogbook::store`](taskbox_logbook::RedbLogbook::store)): its writes
/// share the logbook's group commits.
///
/// redb admits one process per file, so when the board opens every claim
/// it finds belongs to a process that is gone: those leases are ended at
/// once (each counting an attempt) instead of waiting for them to run out.
#[derive(Debug)]
pub struct RedbJobBoard {
    store: Arc<GroupCommit>,
    options: BoardOptions,
    /// Bumped on every change that may make a job claimable.
    posted: Mutex<u64>,
    changed: Condvar,
    subscribers: Mutex<Vec<Sender<BoardEvent>>>,
}

fn encode(job: &Job) -> Result<Vec<u8>, BoardError> {
    postcard::to_stdvec(job).map_err(|e| BoardError::Corrupt {
        job: job.id,
        message: e.to_string(),
    })
}

fn decode(id: u64, bytes: &[u8]) -> Result<Job, BoardError> {
    postcard::from_bytes(bytes).map_err(|e| BoardError::Corrupt {
        job: JobId(id),
        message: e.to_string(),
    })
}

/// Reads every job of one table, in id order.
fn scan(
    table: &impl ReadableTable<u64, &'static [u8]>,
    doing: &'static str,
) -> Result<Vec<Job>, BoardError> {
    let mut jobs = Vec::new();
    for entry in try_redb!(doing, table.iter()) {
        let (key, value) = try_redb!(doing, entry);
        jobs.push(decode(key.value(), value.value())?);
    }
    Ok(jobs)
}

/// Where a job's record lives, by state.
fn table_of(state: JobState) -> TableDefinition<'static, u64, &'static [u8]> {
    match state {
        JobState::Unclaimed | JobState::Claimed => BOARD,
        JobState::Complete => DONE,
        JobState::Trashed => TRASH,
    }
}

impl RedbJobBoard {
    /// Opens the board in `store`, creating its tables, and ends the claims
    /// of processes that had it open before.
    pub fn open(
        store: Arc<GroupCommit>,
        options: BoardOptions,
    ) -> Result<RedbJobBoard, BoardError> {
        let board = RedbJobBoard {
            store,
            options,
            posted: Mutex::new(0),
            changed: Condvar::new(),
            subscribers: Mutex::new(Vec::new()),
        };
        board.store.write(|txn| {
            let mut meta = try_redb!("opening the jobboard", txn.open_table(META));
            let found = try_redb!("opening the jobboard", meta.get(SCHEMA_KEY)).map(|v| v.value());
            match found {
                Some(SCHEMA_VERSION) => {}
                Some(found) => {
                    return Err(BoardError::Schema {
                        found,
                        supported: SCHEMA_VERSION,
                    });
                }
                None => {
                    try_redb!(
                        "opening the jobboard",
                        meta.insert(SCHEMA_KEY, SCHEMA_VERSION)
                    );
                }
            }
            for name in [BOARD, DONE, TRASH] {
                try_redb!("opening the jobboard", txn.open_table(name));
            }
            Ok(())
        })?;
        board.end_orphaned_claims()?;
        Ok(board)
    }

    fn end_orphaned_claims(&self) -> Result<(), BoardError> {
        let now = self.options.clock.now_ms();
        let claimed: Vec<Job> = self
            .jobs(Some(JobState::Claimed))?
            .into_iter()
            .filter(|job| job.owner_at(now).is_some())
            .collect();
        if claimed.is_empty() {
            return Ok(());
        }
        self.store.write(move |txn| {
            for mut job in claimed {
                if let Some(claim) = &mut job.claim {
                    tracing::info!(job = %job.id, owner = %claim.owner, "ending the claim of a process that is gone");
                    claim.expires_ms = now;
                }
                Self::put(txn, &job)?;
            }
            Ok(())
        })
    }

    /// Stores `job` in the table of its state.
    fn put(txn: &WriteTransaction, job: &Job) -> Result<(), BoardError> {
        let bytes = encode(job)?;
        let mut table = try_redb!("writing a job", txn.open_table(table_of(job.state)));
        try_redb!("writing a job", table.insert(job.id.0, bytes.as_slice()));
        Ok(())
    }

    /// Finds job `id` in whichever table holds it.
    fn find(txn: &WriteTransaction, id: JobId) -> Result<Job, BoardError> {
        for name in [BOARD, DONE, TRASH] {
            let table = try_redb!("reading a job", txn.open_table(name));
            if let Some(bytes) = try_redb!("reading a job", table.get(id.0)) {
                return decode(id.0, bytes.value());
            }
        }
        Err(BoardError::UnknownJob(id))
    }

    /// Reads job `id`, lets `change` update it (or refuse), and stores it
    /// in the table of its new state, all in one commit; then tells
    /// subscribers when the job left the board or came back to it.
    fn update(
        &self,
        doing: &'static str,
        id: JobId,
        change: impl FnOnce(&mut Job, u64) -> Result<(), BoardError> + Send + 'static,
    ) -> Result<Job, BoardError> {
        let now = self.options.clock.now_ms();
        self.store
            .write(move |txn| {
                let mut job = Self::find(txn, id)?;
                let before = job.state;
                change(&mut job, now)?;
                job.updated_ms = now;
                if table_of(before).name() != table_of(job.state).name() {
                    let mut table = try_redb!(doing, txn.open_table(table_of(before)));
                    try_redb!(doing, table.remove(id.0));
                }
                Self::put(txn, &job)?;
                Ok((before, job))
            })
            .map(|(before, job)| {
                let on_board = |state| matches!(state, JobState::Unclaimed | JobState::Claimed);
                if on_board(before) && !on_board(job.state) {
                    self.announce(BoardEvent::Removal(id));
                } else if before != JobState::Unclaimed && job.state == JobState::Unclaimed {
                    self.announce(BoardEvent::Posted(id));
                }
                job
            })
    }

    /// Tells waiters and subscribers.
    fn announce(&self, event: BoardEvent) {
        if let BoardEvent::Posted(_) = event {
            *self.posted.lock().unwrap_or_else(PoisonError::into_inner) += 1;
            self.changed.notify_all();
        }
        self.subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|subscriber| subscriber.send(event).is_ok());
    }

    /// The owner check of owner-only verbs: `who` must hold a live claim.
    fn check_owner(job: &Job, who: &str, verb: &'static str, now: u64) -> Result<(), BoardError> {
        match job.owner_at(now) {
            Some(owner) if owner == who => Ok(()),
            owner => Err(BoardError::NotOwner {
                job: job.id,
                verb,
                who: who.to_string(),
                owner: owner.map(str::to_string),
            }),
        }
    }

    /// Counts an attempt that ended without a consume; at `max_attempts`
    /// the job goes to the trash.
    fn count_attempt(job: &mut Job, reason: String, max_attempts: u32) {
        job.attempts = job.attempts.saturating_add(1);
        job.claim = None;
        if job.attempts >= max_attempts {
            job.state = JobState::Trashed;
            job.trash_reason = Some(format!(
                "gave up after {} attempts; last: {reason}",
                job.attempts
            ));
        } else {
            job.state = JobState::Unclaimed;
        }
        job.last_failure = Some(reason);
    }
}

impl JobBoard for RedbJobBoard {
    fn post(&self, name: &str, payload: &str) -> Result<Job, BoardError> {
        let now = self.options.clock.now_ms();
        let (name, payload) = (name.to_string(), payload.to_string());
        let job = self.store.write(move |txn| {
            let id = {
                let mut meta = try_redb!("posting a job", txn.open_table(META));
                let next =
                    try_redb!("posting a job", meta.get(NEXT_JOB_KEY)).map_or(1, |v| v.value());
                try_redb!("posting a job", meta.insert(NEXT_JOB_KEY, next + 1));
                JobId(next)
            };
            let job = Job {
                id,
                name,
                payload,
                state: JobState::Unclaimed,
                claim: None,
                attempts: 0,
                flow: None,
                past_flows: Vec::new(),
                last_failure: None,
                trash_reason: None,
                posted_ms: now,
                updated_ms: now,
            };
            Self::put(txn, &job)?;
            Ok::<_, BoardError>(job)
        })?;
        self.announce(BoardEvent::Posted(job.id));
        Ok(job)
    }

    fn claim(&self, id: JobId, who: &str, lease: Duration) -> Result<Job, BoardError> {
        let lease_ms = u64::try_from(lease.as_millis()).unwrap_or(u64::MAX);
        let max_attempts = self.options.max_attempts;
        let who = who.to_string();
        let job = self.update("claiming a job", id, move |job, now| {
            if let Some(owner) = job.owner_at(now) {
                return Err(BoardError::Unclaimable {
                    job: id,
                    owner: owner.to_string(),
                });
            }
            match job.state {
                JobState::Unclaimed => {}
                JobState::Claimed => {
                    let owner = job.claim.as_ref().map_or("?", |c| c.owner.as_str());
                    let reason = format!("the lease of {owner} ran out");
                    Self::count_attempt(job, reason, max_attempts);
                    if job.state == JobState::Trashed {
                        return Ok(());
                    }
                }
                state => {
                    return Err(BoardError::WrongState {
                        job: id,
                        verb: "claim",
                        state,
                    });
                }
            }
            job.state = JobState::Claimed;
            job.claim = Some(Claim {
                owner: who,
                since_ms: now,
                expires_ms: now.saturating_add(lease_ms),
            });
            Ok(())
        })?;
        if job.state == JobState::Trashed {
            return Err(BoardError::Trashed {
                job: id,
                attempts: job.attempts,
                reason: job.last_failure.unwrap_or_default(),
            });
        }
        Ok(job)
    }

    fn heartbeat(&self, id: JobId, who: &str, lease: Duration) -> Result<Job, BoardError> {
        let lease_ms = u64::try_from(lease.as_millis()).unwrap_or(u64::MAX);
        let who = who.to_string();
        self.update("renewing a lease", id, move |job, now| {
            Self::check_owner(job, &who, "renew the lease of", now)?;
            if let Some(claim) = &mut job.claim {
                claim.expires_ms = now.saturating_add(lease_ms);
            }
            Ok(())
        })
    }

    fn link_flow(&self, id: JobId, who: &str, flow: FlowId) -> Result<Job, BoardError> {
        let who = who.to_string();
        self.update("linking a flow", id, move |job, now| {
            Self::check_owner(job, &who, "link a flow to", now)?;
            job.flow = Some(flow);
            Ok(())
        })
    }

    fn consume(&self, id: JobId, who: &str) -> Result<Job, BoardError> {
        let who = who.to_string();
        self.update("consuming a job", id, move |job, now| {
            Self::check_owner(job, &who, "consume", now)?;
            job.state = JobState::Complete;
            job.claim = None;
            Ok(())
        })
    }

    fn abandon(&self, id: JobId, who: &str, reason: &str) -> Result<Job, BoardError> {
        let (who, reason) = (who.to_string(), reason.to_string());
        let max_attempts = self.options.max_attempts;
        self.update("abandoning a job", id, move |job, now| {
            Self::check_owner(job, &who, "abandon", now)?;
            if let Some(flow) = job.flow.take() {
                job.past_flows.push(flow);
            }
            Self::count_attempt(job, reason, max_attempts);
            Ok(())
        })
    }

    fn release(&self, id: JobId, who: &str) -> Result<Job, BoardError> {
        let who = who.to_string();
        self.update("releasing a job", id, move |job, now| {
            Self::check_owner(job, &who, "release", now)?;
            job.state = JobState::Unclaimed;
            job.claim = None;
            Ok(())
        })
    }

    fn trash(&self, id: JobId, who: &str, reason: &str) -> Result<Job, BoardError> {
        let (who, reason) = (who.to_string(), reason.to_string());
        self.update("trashing a job", id, move |job, now| {
            match job.state {
                JobState::Unclaimed => {}
                JobState::Claimed => {
                    if job.owner_at(now).is_some() {
                        Self::check_owner(job, &who, "trash", now)?;
                    }
                }
                state => {
                    return Err(BoardError::WrongState {
                        job: id,
                        verb: "trash",
                        state,
                    });
                }
            }
            job.state = JobState::Trashed;
            job.claim = None;
            job.trash_reason = Some(reason);
            Ok(())
        })
    }

    fn restore(&self, id: JobId) -> Result<Job, BoardError> {
        self.update("restoring a job", id, move |job, _| {
            if job.state != JobState::Trashed {
                return Err(BoardError::WrongState {
                    job: id,
                    verb: "restore",
                    state: job.state,
                });
            }
            job.state = JobState::Unclaimed;
            job.attempts = 0;
            job.trash_reason = None;
            Ok(())
        })
    }

    fn job(&self, id: JobId) -> Result<Job, BoardError> {
        let txn = try_redb!("reading a job", self.store.database().begin_read());
        for name in [BOARD, DONE, TRASH] {
            let table = try_redb!("reading a job", txn.open_table(name));
            if let Some(bytes) = try_redb!("reading a job", table.get(id.0)) {
                return decode(id.0, bytes.value());
            }
        }
        Err(BoardError::UnknownJob(id))
    }

    fn iterjobs(&self, only_unclaimed: bool) -> Result<Vec<Job>, BoardError> {
        let now = self.options.clock.now_ms();
        let txn = try_redb!("listing jobs", self.store.database().begin_read());
        let table = try_redb!("listing jobs", txn.open_table(BOARD));
        let mut jobs = scan(&table, "listing jobs")?;
        if only_unclaimed {
            jobs.retain(|job| job.claimable_at(now));
        }
        Ok(jobs)
    }

    fn claimable(&self, limit: usize) -> Result<Vec<Job>, BoardError> {
        let now = self.options.clock.now_ms();
        let txn = try_redb!("listing jobs", self.store.database().begin_read());
        let table = try_redb!("listing jobs", txn.open_table(BOARD));
        let mut jobs = Vec::new();
        for entry in try_redb!("listing jobs", table.iter()) {
            if jobs.len() >= limit {
                break;
            }
            let (key, value) = try_redb!("listing jobs", entry);
            let job = decode(key.value(), value.value())?;
            if job.claimable_at(now) {
                jobs.push(job);
            }
        }
        Ok(jobs)
    }

    fn jobs(&self, state: Option<JobState>) -> Result<Vec<Job>, BoardError> {
        let tables = match state {
            Some(state) => vec![table_of(state)],
            None => vec![BOARD, DONE, TRASH],
        };
        let txn = try_redb!("listing jobs", self.store.database().begin_read());
        let mut jobs = Vec::new();
        for name in tables {
            let table = try_redb!("listing jobs", txn.open_table(name));
            jobs.extend(scan(&table, "listing jobs")?);
        }
        if let Some(state) = state {
            jobs.retain(|job| job.state == state);
        }
        jobs.sort_by_key(|job| job.id);
        Ok(jobs)
    }

    fn job_count(&self) -> Result<usize, BoardError> {
        let txn = try_redb!("counting jobs", self.store.database().begin_read());
        let table = try_redb!("counting jobs", txn.open_table(BOARD));
        let count = try_redb!("counting jobs", table.len());
        Ok(usize::try_from(count).unwrap_or(usize::MAX))
    }

    fn counts(&self) -> Result<Vec<(JobState, usize)>, BoardError> {
        let on_board = self.iterjobs(false)?;
        let claimed = on_board
            .iter()
            .filter(|job| job.state == JobState::Claimed)
            .count();
        let txn = try_redb!("counting jobs", self.store.database().begin_read());
        let length = |name| -> Result<usize, BoardError> {
            let table = try_redb!("counting jobs", txn.open_table(name));
            let count = try_redb!("counting jobs", table.len());
            Ok(usize::try_from(count).unwrap_or(usize::MAX))
        };
        Ok(vec![
            (JobState::Unclaimed, on_board.len() - claimed),
            (JobState::Claimed, claimed),
            (JobState::Complete, length(DONE)?),
            (JobState::Trashed, length(TRASH)?),
        ])
    }

    fn find_owner(&self, id: JobId) -> Result<Option<String>, BoardError> {
        let now = self.options.clock.now_ms();
        Ok(self.job(id)?.owner_at(now).map(str::to_string))
    }

    fn wait(&self, timeout: Duration) -> Result<bool, BoardError> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let seen = *self.posted.lock().unwrap_or_else(PoisonError::into_inner);
            if !self.claimable(1)?.is_empty() {
                return Ok(true);
            }
            // Nothing claimable: what is left on the board is claimed.
            let now = self.options.clock.now_ms();
            let jobs = self.iterjobs(false)?;
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            // Wake when something is posted, or when the first lease runs out.
            let next_expiry = jobs
                .iter()
                .filter_map(|job| job.claim.as_ref())
                .map(|claim| Duration::from_millis(claim.expires_ms.saturating_sub(now)))
                .min();
            let nap = next_expiry.map_or(left, |expiry| expiry.min(left));
            let guard = self.posted.lock().unwrap_or_else(PoisonError::into_inner);
            if *guard == seen {
                let _ = self
                    .changed
                    .wait_timeout(guard, nap.max(Duration::from_millis(1)))
                    .unwrap_or_else(PoisonError::into_inner);
            }
        }
    }

    fn subscribe(&self) -> Receiver<BoardEvent> {
        let (sender, receiver) = channel();
        self.subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(sender);
        receiver
    }
}
