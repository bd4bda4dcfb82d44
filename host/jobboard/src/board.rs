//! The jobboard interface, after TaskFlow's `JobBoard`.

use crate::clock::{LeaseClock, SystemLeaseClock};
use crate::error::BoardError;
use crate::job::{Job, JobId, JobState, NewJob};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::time::Duration;
use taskbox_logbook::FlowId;
use taskbox_model::UsageSnapshot;

/// What subscribers hear (TaskFlow's POSTED and REMOVAL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoardEvent {
    /// A job was posted, or came back to the board (abandoned, released,
    /// restored).
    Posted(JobId),
    /// A job left the board: consumed or trashed.
    Removal(JobId),
}

/// How a board treats its jobs.
#[derive(Debug, Clone)]
pub struct BoardOptions {
    /// Attempts (abandons and expired leases) after which a job goes to
    /// the trash instead of back to the board.
    pub max_attempts: u32,
    /// The time leases are measured in.
    pub clock: Arc<dyn LeaseClock>,
}

impl Default for BoardOptions {
    fn default() -> Self {
        BoardOptions {
            max_attempts: 3,
            clock: Arc::new(SystemLeaseClock),
        }
    }
}

/// Where jobs wait for conductors.
///
/// Every verb is atomic and durable when it returns `Ok`. Verbs that only
/// the owner may use take `who` and refuse anyone else, naming the owner.
/// A claim is a lease of `lease` that [`heartbeat`](Self::heartbeat)
/// renews; once it runs out the job is claimable again and the lapse
/// counts as an attempt.
pub trait JobBoard: Send + Sync + std::fmt::Debug {
    /// Posts a job; it is unclaimed and gets the next id. When the job
    /// carries a quota ([`NewJob::max_active`]) and its tenant already has
    /// that many jobs on the board, it is refused with
    /// [`Quota`](BoardError::Quota): the count and the insert are one
    /// atomic step, so concurrent posts cannot overshoot the quota.
    fn post(&self, job: NewJob<'_>) -> Result<Job, BoardError>;

    /// Claims a job for `who` for `lease`. A job with a live claim of
    /// someone else is [`Unclaimable`](BoardError::Unclaimable).
    fn claim(&self, id: JobId, who: &str, lease: Duration) -> Result<Job, BoardError>;

    /// Renews `who`'s lease on a job for another `lease`.
    fn heartbeat(&self, id: JobId, who: &str, lease: Duration) -> Result<Job, BoardError>;

    /// Links the flow the owner runs the job in, so that a later claimant
    /// resumes it.
    fn link_flow(&self, id: JobId, who: &str, flow: FlowId) -> Result<Job, BoardError>;

    /// The owner finished the job: it is complete and leaves the board.
    fn consume(&self, id: JobId, who: &str) -> Result<Job, BoardError>;

    /// The owner gives up on this attempt: the attempt is counted, its flow
    /// moves to the past flows (the next attempt starts afresh) and the job
    /// goes back to the board, or to the trash with `reason` once the
    /// attempts reach the maximum.
    fn abandon(&self, id: JobId, who: &str, reason: &str) -> Result<Job, BoardError>;

    /// The owner hands the job back untouched (e.g. at shutdown, its flow
    /// suspended): no attempt is counted and the flow stays linked.
    fn release(&self, id: JobId, who: &str) -> Result<Job, BoardError>;

    /// Moves a job to the trash with `reason`. A claimed job only by its
    /// owner; complete jobs stay complete.
    fn trash(&self, id: JobId, who: &str, reason: &str) -> Result<Job, BoardError>;

    /// Puts a trashed job back on the board with its attempts reset;
    /// refused with [`Quota`](BoardError::Quota) when its tenant already
    /// has `max_active` jobs on the board.
    fn restore(&self, id: JobId, max_active: Option<usize>) -> Result<Job, BoardError>;

    /// One job, in any state.
    fn job(&self, id: JobId) -> Result<Job, BoardError>;

    /// The jobs on the board (unclaimed and claimed) in posting order;
    /// only the claimable ones when `only_unclaimed`.
    fn iterjobs(&self, only_unclaimed: bool) -> Result<Vec<Job>, BoardError>;

    /// Up to `limit` claimable jobs, fairly across tenants: each tenant's
    /// oldest, then each one's second oldest, and so on (tenants in the
    /// order of their oldest job), so that a tenant with a long backlog
    /// does not hide another's job. What a conductor looks at to claim.
    fn claimable(&self, limit: usize) -> Result<Vec<Job>, BoardError>;

    /// Every job in `state` (all when `None`), in posting order.
    fn jobs(&self, state: Option<JobState>) -> Result<Vec<Job>, BoardError>;

    /// How many jobs are on the board (unclaimed and claimed).
    fn job_count(&self) -> Result<usize, BoardError>;

    /// How many jobs are in each state (in the order of
    /// [`JobState::ALL`]), without reading any job.
    fn counts(&self) -> Result<Vec<(JobState, usize)>, BoardError>;

    /// How many jobs of `tenant` are in each state (in the order of
    /// [`JobState::ALL`]), without reading any job.
    fn counts_of(&self, tenant: &str) -> Result<Vec<(JobState, usize)>, BoardError>;

    /// [`counts_of`](Self::counts_of) every tenant that ever posted a job.
    fn counts_by_tenant(&self) -> Result<BTreeMap<String, Vec<(JobState, usize)>>, BoardError>;

    /// Adds what an attempt at job `id` used to the job and to its
    /// tenant's totals. Not owner-only: an attempt that lost its lease
    /// still used what it used.
    fn charge(&self, id: JobId, used: UsageSnapshot) -> Result<Job, BoardError>;

    /// What every tenant's jobs used, by tenant (those that charged
    /// anything).
    fn usage_by_tenant(&self) -> Result<BTreeMap<String, UsageSnapshot>, BoardError>;

    /// Who holds a live claim on a job.
    fn find_owner(&self, id: JobId) -> Result<Option<String>, BoardError>;

    /// Blocks until a job is claimable or `timeout` passes; says whether
    /// one is.
    fn wait(&self, timeout: Duration) -> Result<bool, BoardError>;

    /// Events from now on.
    fn subscribe(&self) -> Receiver<BoardEvent>;
}
