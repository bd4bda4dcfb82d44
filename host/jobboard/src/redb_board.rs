//! The embedded jobboard: tables in the logbook's redb file.

use crate::board::{BoardEvent, BoardOptions, JobBoard};
use crate::error::BoardError;
use crate::job::{Claim, Job, JobId, JobState, NewJob};
use redb::{
    ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition, TableHandle,
    WriteTransaction,
};
use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;
use taskbox_logbook::{FlowId, GroupCommit};
use taskbox_model::UsageSnapshot;

/// The schema this build reads and writes. Version 1 had no tenants: its
/// jobs are migrated on open, as jobs of the empty tenant.
const SCHEMA_VERSION: u64 = 2;

const META: TableDefinition<&str, u64> = TableDefinition::new("jobboard_meta");
/// Unclaimed and claimed jobs: what conductors scan.
const BOARD: TableDefinition<u64, &[u8]> = TableDefinition::new("jobboard_board");
/// Consumed jobs.
const DONE: TableDefinition<u64, &[u8]> = TableDefinition::new("jobboard_done");
/// The garbage bin.
const TRASH: TableDefinition<u64, &[u8]> = TableDefinition::new("jobboard_trash");
/// How many jobs each tenant has in each state: (tenant, state name) to
/// count, kept with every change of state so that quotas and counts never
/// read a job.
const TENANT_COUNTS: TableDefinition<(&str, &str), u64> =
    TableDefinition::new("jobboard_tenant_counts");
/// What each tenant's jobs used: tenant to (CPU µs, memory peak, calls).
const TENANT_USAGE: TableDefinition<&str, (u64, u64, u64)> =
    TableDefinition::new("jobboard_tenant_usage");
/// The jobs of [`BOARD`] by (tenant, id): each tenant's oldest claimable
/// jobs without reading the other tenants'.
const LIVE_BY_TENANT: TableDefinition<(&str, u64), ()> =
    TableDefinition::new("jobboard_live_by_tenant");

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
    decode_with(id, bytes)
}

/// Decodes a record of job `id` as a `T` (a job of this version or an
/// older one).
fn decode_with<T: serde::de::DeserializeOwned>(id: u64, bytes: &[u8]) -> Result<T, BoardError> {
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

/// Interleaves each tenant's jobs (each list oldest first): every
/// tenant's oldest, then every tenant's second oldest, and so on, tenants
/// in the order of their oldest job; at most `limit` in all.
fn fair_order(per_tenant: Vec<Vec<Job>>, limit: usize) -> Vec<Job> {
    let mut queues: Vec<std::collections::VecDeque<Job>> = per_tenant
        .into_iter()
        .filter(|jobs| !jobs.is_empty())
        .map(Into::into)
        .collect();
    queues.sort_by_key(|q| q.front().map(|job| job.id));
    let mut out = Vec::new();
    while out.len() < limit && queues.iter().any(|q| !q.is_empty()) {
        for queue in &mut queues {
            if out.len() < limit
                && let Some(job) = queue.pop_front()
            {
                out.push(job);
            }
        }
    }
    out
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
                Some(1) => {
                    drop(meta);
                    v1::migrate(txn)?;
                    let mut meta = try_redb!("opening the jobboard", txn.open_table(META));
                    try_redb!(
                        "opening the jobboard",
                        meta.insert(SCHEMA_KEY, SCHEMA_VERSION)
                    );
                }
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
            try_redb!("opening the jobboard", txn.open_table(TENANT_COUNTS));
            try_redb!("opening the jobboard", txn.open_table(LIVE_BY_TENANT));
            try_redb!("opening the jobboard", txn.open_table(TENANT_USAGE));
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

    /// Stores `job` in the table of its state (and, on the board, in its
    /// tenant's index).
    fn put(txn: &WriteTransaction, job: &Job) -> Result<(), BoardError> {
        let bytes = encode(job)?;
        let table_name = table_of(job.state);
        let mut table = try_redb!("writing a job", txn.open_table(table_name));
        try_redb!("writing a job", table.insert(job.id.0, bytes.as_slice()));
        if table_name.name() == BOARD.name() {
            let mut live = try_redb!("writing a job", txn.open_table(LIVE_BY_TENANT));
            try_redb!(
                "writing a job",
                live.insert((job.tenant.as_str(), job.id.0), ())
            );
        }
        Ok(())
    }

    /// Moves one job of `tenant` from state `from` to `to` in the counts
    /// (`None`: it was not there before, or is not any more).
    fn tally(
        txn: &WriteTransaction,
        tenant: &str,
        from: Option<JobState>,
        to: Option<JobState>,
    ) -> Result<(), BoardError> {
        if from == to {
            return Ok(());
        }
        let doing = "counting a tenant's jobs";
        let mut table = try_redb!(doing, txn.open_table(TENANT_COUNTS));
        if let Some(from) = from {
            let key = (tenant, from.name());
            let count = try_redb!(doing, table.get(key)).map_or(0, |v| v.value());
            match count.saturating_sub(1) {
                0 => {
                    try_redb!(doing, table.remove(key));
                }
                left => {
                    try_redb!(doing, table.insert(key, left));
                }
            }
        }
        if let Some(to) = to {
            let key = (tenant, to.name());
            let count = try_redb!(doing, table.get(key)).map_or(0, |v| v.value());
            try_redb!(doing, table.insert(key, count.saturating_add(1)));
        }
        Ok(())
    }

    /// Refuses with [`BoardError::Quota`] when `tenant` already has
    /// `limit` jobs on the board (unclaimed or claimed). Writes nothing.
    fn check_quota(
        txn: &WriteTransaction,
        tenant: &str,
        limit: Option<usize>,
    ) -> Result<(), BoardError> {
        let Some(limit) = limit else {
            return Ok(());
        };
        let doing = "counting a tenant's jobs";
        let table = try_redb!(doing, txn.open_table(TENANT_COUNTS));
        let mut active = 0u64;
        for state in [JobState::Unclaimed, JobState::Claimed] {
            let count =
                try_redb!(doing, table.get((tenant, state.name()))).map_or(0, |v| v.value());
            active = active.saturating_add(count);
        }
        let active = usize::try_from(active).unwrap_or(usize::MAX);
        if active >= limit {
            return Err(BoardError::Quota {
                tenant: tenant.to_string(),
                active,
                limit,
            });
        }
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

    /// Reads job `id`, lets `change` update it (or refuse, writing
    /// nothing), and stores it
    /// in the table of its new state, all in one commit; then tells
    /// subscribers when the job left the board or came back to it.
    fn update(
        &self,
        doing: &'static str,
        id: JobId,
        change: impl FnOnce(&mut Job, u64, &WriteTransaction) -> Result<(), BoardError> + Send + 'static,
    ) -> Result<Job, BoardError> {
        let now = self.options.clock.now_ms();
        self.store
            .write(move |txn| {
                let mut job = Self::find(txn, id)?;
                let before = job.state;
                change(&mut job, now, txn)?;
                job.updated_ms = now;
                if table_of(before).name() != table_of(job.state).name() {
                    let mut table = try_redb!(doing, txn.open_table(table_of(before)));
                    try_redb!(doing, table.remove(id.0));
                    if table_of(before).name() == BOARD.name() {
                        let mut live = try_redb!(doing, txn.open_table(LIVE_BY_TENANT));
                        try_redb!(doing, live.remove((job.tenant.as_str(), id.0)));
                    }
                }
                Self::put(txn, &job)?;
                Self::tally(txn, &job.tenant, Some(before), Some(job.state))?;
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
    fn post(&self, new: NewJob<'_>) -> Result<Job, BoardError> {
        let now = self.options.clock.now_ms();
        let (tenant, name, payload) = (
            new.tenant.to_string(),
            new.name.to_string(),
            new.payload.to_string(),
        );
        let max_active = new.max_active;
        let job = self.store.write(move |txn| {
            // Before anything is written: a refused post writes nothing.
            Self::check_quota(txn, &tenant, max_active)?;
            let id = {
                let mut meta = try_redb!("posting a job", txn.open_table(META));
                let next =
                    try_redb!("posting a job", meta.get(NEXT_JOB_KEY)).map_or(1, |v| v.value());
                try_redb!("posting a job", meta.insert(NEXT_JOB_KEY, next + 1));
                JobId(next)
            };
            let job = Job {
                id,
                tenant,
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
                usage: UsageSnapshot::default(),
            };
            Self::put(txn, &job)?;
            Self::tally(txn, &job.tenant, None, Some(job.state))?;
            Ok::<_, BoardError>(job)
        })?;
        self.announce(BoardEvent::Posted(job.id));
        Ok(job)
    }

    fn claim(&self, id: JobId, who: &str, lease: Duration) -> Result<Job, BoardError> {
        let lease_ms = u64::try_from(lease.as_millis()).unwrap_or(u64::MAX);
        let max_attempts = self.options.max_attempts;
        let who = who.to_string();
        let job = self.update("claiming a job", id, move |job, now, _| {
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
        self.update("renewing a lease", id, move |job, now, _| {
            Self::check_owner(job, &who, "renew the lease of", now)?;
            if let Some(claim) = &mut job.claim {
                claim.expires_ms = now.saturating_add(lease_ms);
            }
            Ok(())
        })
    }

    fn link_flow(&self, id: JobId, who: &str, flow: FlowId) -> Result<Job, BoardError> {
        let who = who.to_string();
        self.update("linking a flow", id, move |job, now, _| {
            Self::check_owner(job, &who, "link a flow to", now)?;
            job.flow = Some(flow);
            Ok(())
        })
    }

    fn consume(&self, id: JobId, who: &str) -> Result<Job, BoardError> {
        let who = who.to_string();
        self.update("consuming a job", id, move |job, now, _| {
            Self::check_owner(job, &who, "consume", now)?;
            job.state = JobState::Complete;
            job.claim = None;
            Ok(())
        })
    }

    fn abandon(&self, id: JobId, who: &str, reason: &str) -> Result<Job, BoardError> {
        let (who, reason) = (who.to_string(), reason.to_string());
        let max_attempts = self.options.max_attempts;
        self.update("abandoning a job", id, move |job, now, _| {
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
        self.update("releasing a job", id, move |job, now, _| {
            Self::check_owner(job, &who, "release", now)?;
            job.state = JobState::Unclaimed;
            job.claim = None;
            Ok(())
        })
    }

    fn trash(&self, id: JobId, who: &str, reason: &str) -> Result<Job, BoardError> {
        let (who, reason) = (who.to_string(), reason.to_string());
        self.update("trashing a job", id, move |job, now, _| {
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

    fn restore(&self, id: JobId, max_active: Option<usize>) -> Result<Job, BoardError> {
        self.update("restoring a job", id, move |job, _, txn| {
            if job.state != JobState::Trashed {
                return Err(BoardError::WrongState {
                    job: id,
                    verb: "restore",
                    state: job.state,
                });
            }
            Self::check_quota(txn, &job.tenant, max_active)?;
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
        let doing = "listing claimable jobs";
        let now = self.options.clock.now_ms();
        let txn = try_redb!(doing, self.store.database().begin_read());
        let board = try_redb!(doing, txn.open_table(BOARD));
        let live = try_redb!(doing, txn.open_table(LIVE_BY_TENANT));
        // Each tenant's oldest claimable jobs, up to `limit` each.
        let mut per_tenant: Vec<Vec<Job>> = Vec::new();
        let mut next = try_redb!(doing, live.first()).map(|(key, _)| key.value().0.to_string());
        while let Some(tenant) = next {
            let mut jobs = Vec::new();
            for entry in try_redb!(doing, live.range((tenant.as_str(), 0)..)) {
                let (key, _) = try_redb!(doing, entry);
                let (owner, id) = key.value();
                if owner != tenant || jobs.len() >= limit {
                    break;
                }
                if let Some(bytes) = try_redb!(doing, board.get(id)) {
                    let job = decode(id, bytes.value())?;
                    if job.claimable_at(now) {
                        jobs.push(job);
                    }
                }
            }
            per_tenant.push(jobs);
            // The next tenant: the first key past every id of this one.
            next = None;
            for entry in try_redb!(doing, live.range((tenant.as_str(), u64::MAX)..)) {
                let (key, _) = try_redb!(doing, entry);
                if key.value().0 != tenant {
                    next = Some(key.value().0.to_string());
                    break;
                }
            }
        }
        Ok(fair_order(per_tenant, limit))
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
        let mut totals: Vec<(JobState, usize)> = JobState::ALL.iter().map(|&s| (s, 0)).collect();
        for counts in self.counts_by_tenant()?.into_values() {
            for ((_, total), (_, count)) in totals.iter_mut().zip(counts) {
                *total = total.saturating_add(count);
            }
        }
        Ok(totals)
    }

    fn counts_of(&self, tenant: &str) -> Result<Vec<(JobState, usize)>, BoardError> {
        let doing = "counting a tenant's jobs";
        let txn = try_redb!(doing, self.store.database().begin_read());
        let table = try_redb!(doing, txn.open_table(TENANT_COUNTS));
        let mut counts = Vec::with_capacity(JobState::ALL.len());
        for state in JobState::ALL {
            let count =
                try_redb!(doing, table.get((tenant, state.name()))).map_or(0, |v| v.value());
            counts.push((state, usize::try_from(count).unwrap_or(usize::MAX)));
        }
        Ok(counts)
    }

    fn counts_by_tenant(&self) -> Result<BTreeMap<String, Vec<(JobState, usize)>>, BoardError> {
        let doing = "counting the tenants' jobs";
        let txn = try_redb!(doing, self.store.database().begin_read());
        let table = try_redb!(doing, txn.open_table(TENANT_COUNTS));
        let mut by_tenant: BTreeMap<String, Vec<(JobState, usize)>> = BTreeMap::new();
        for entry in try_redb!(doing, table.iter()) {
            let (key, value) = try_redb!(doing, entry);
            let (tenant, state) = key.value();
            let Ok(state) = state.parse::<JobState>() else {
                continue;
            };
            let counts = by_tenant
                .entry(tenant.to_string())
                .or_insert_with(|| JobState::ALL.iter().map(|&s| (s, 0)).collect());
            if let Some(slot) = counts.iter_mut().find(|(s, _)| *s == state) {
                slot.1 = usize::try_from(value.value()).unwrap_or(usize::MAX);
            }
        }
        Ok(by_tenant)
    }

    fn charge(&self, id: JobId, used: UsageSnapshot) -> Result<Job, BoardError> {
        let doing = "charging a job's usage";
        self.update(doing, id, move |job, _, txn| {
            job.usage = job.usage.plus(used);
            let mut table = try_redb!(doing, txn.open_table(TENANT_USAGE));
            let total = try_redb!(doing, table.get(job.tenant.as_str()))
                .map(|v| {
                    let (cpu_us, memory_peak_bytes, calls) = v.value();
                    UsageSnapshot {
                        cpu_us,
                        memory_peak_bytes,
                        calls,
                    }
                })
                .unwrap_or_default()
                .plus(used);
            try_redb!(
                doing,
                table.insert(
                    job.tenant.as_str(),
                    (total.cpu_us, total.memory_peak_bytes, total.calls)
                )
            );
            Ok(())
        })
    }

    fn usage_by_tenant(&self) -> Result<BTreeMap<String, UsageSnapshot>, BoardError> {
        let doing = "reading the tenants' usage";
        let txn = try_redb!(doing, self.store.database().begin_read());
        let table = try_redb!(doing, txn.open_table(TENANT_USAGE));
        let mut usage = BTreeMap::new();
        for entry in try_redb!(doing, table.iter()) {
            let (key, value) = try_redb!(doing, entry);
            let (cpu_us, memory_peak_bytes, calls) = value.value();
            usage.insert(
                key.value().to_string(),
                UsageSnapshot {
                    cpu_us,
                    memory_peak_bytes,
                    calls,
                },
            );
        }
        Ok(usage)
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

/// Schema version 1: jobs without a tenant.
pub(crate) mod v1 {
    use super::{BOARD, DONE, LIVE_BY_TENANT, TENANT_COUNTS, TRASH, decode_with, encode};
    use crate::error::BoardError;
    use crate::job::{Claim, JobId, JobState};
    use redb::{ReadableTable, TableHandle, WriteTransaction};
    use serde::{Deserialize, Serialize};
    use taskbox_logbook::FlowId;

    /// A job as version 1 encoded it.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub(crate) struct Job {
        pub(crate) id: JobId,
        pub(crate) name: String,
        pub(crate) payload: String,
        pub(crate) state: JobState,
        pub(crate) claim: Option<Claim>,
        pub(crate) attempts: u32,
        pub(crate) flow: Option<FlowId>,
        pub(crate) past_flows: Vec<FlowId>,
        pub(crate) last_failure: Option<String>,
        pub(crate) trash_reason: Option<String>,
        pub(crate) posted_ms: u64,
        pub(crate) updated_ms: u64,
    }

    impl From<Job> for crate::job::Job {
        fn from(old: Job) -> Self {
            crate::job::Job {
                id: old.id,
                tenant: String::new(),
                name: old.name,
                payload: old.payload,
                state: old.state,
                claim: old.claim,
                attempts: old.attempts,
                flow: old.flow,
                past_flows: old.past_flows,
                last_failure: old.last_failure,
                trash_reason: old.trash_reason,
                posted_ms: old.posted_ms,
                updated_ms: old.updated_ms,
                usage: taskbox_model::UsageSnapshot::default(),
            }
        }
    }

    /// Rewrites every job as the current version encodes it, as a job of
    /// the empty tenant, and counts them.
    pub(crate) fn migrate(txn: &WriteTransaction) -> Result<(), BoardError> {
        let doing = "migrating the jobboard from schema version 1";
        let mut counts = std::collections::BTreeMap::<&str, u64>::new();
        for name in [BOARD, DONE, TRASH] {
            let mut table = try_redb!(doing, txn.open_table(name));
            let mut jobs = Vec::new();
            for entry in try_redb!(doing, table.iter()) {
                let (key, value) = try_redb!(doing, entry);
                let old: Job = decode_with(key.value(), value.value())?;
                jobs.push(crate::job::Job::from(old));
            }
            let mut live = try_redb!(doing, txn.open_table(LIVE_BY_TENANT));
            for job in jobs {
                *counts.entry(job.state.name()).or_default() += 1;
                let bytes = encode(&job)?;
                try_redb!(doing, table.insert(job.id.0, bytes.as_slice()));
                if name.name() == BOARD.name() {
                    try_redb!(doing, live.insert(("", job.id.0), ()));
                }
            }
        }
        if !counts.is_empty() {
            tracing::info!(
                "jobboard migrated to schema version 2: the jobs posted so far belong to no tenant"
            );
        }
        let mut table = try_redb!(doing, txn.open_table(TENANT_COUNTS));
        for (state, count) in counts {
            try_redb!(doing, table.insert(("", state), count));
        }
        Ok(())
    }
}
