//! Jobs and their claims.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use taskbox_logbook::FlowId;
use taskbox_model::UsageSnapshot;

/// Identifies a job on one board; ids grow in posting order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub u64);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for JobId {
    type Err = std::num::ParseIntError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim().parse().map(JobId)
    }
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// On the board, waiting for a conductor.
    Unclaimed,
    /// Owned by a conductor (see [`Job::claim`]).
    Claimed,
    /// Consumed: its flow finished.
    Complete,
    /// In the garbage bin, with a reason.
    Trashed,
}

impl JobState {
    /// Every state, in life order.
    pub const ALL: [JobState; 4] = [
        JobState::Unclaimed,
        JobState::Claimed,
        JobState::Complete,
        JobState::Trashed,
    ];

    /// The lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            JobState::Unclaimed => "unclaimed",
            JobState::Claimed => "claimed",
            JobState::Complete => "complete",
            JobState::Trashed => "trashed",
        }
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for JobState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobState::ALL
            .into_iter()
            .find(|state| state.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!("'{s}' is not a job state (unclaimed, claimed, complete, trashed)")
            })
    }
}

/// A conductor's lease on a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    /// The owner's name.
    pub owner: String,
    /// When it claimed the job (ms since the epoch).
    pub since_ms: u64,
    /// When the lease runs out unless renewed by a heartbeat.
    pub expires_ms: u64,
}

/// A job to post: who posts it, what it is, and the poster's quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewJob<'a> {
    /// The tenant posting it (empty: a daemon without tenants).
    pub tenant: &'a str,
    /// A name for people.
    pub name: &'a str,
    /// What the conductor builds the flow from.
    pub payload: &'a str,
    /// The most jobs `tenant` may have on the board (unclaimed or
    /// claimed), this one included; `None`: no limit.
    pub max_active: Option<usize>,
}

impl<'a> NewJob<'a> {
    /// A job of no tenant, with no quota.
    pub fn new(name: &'a str, payload: &'a str) -> NewJob<'a> {
        NewJob {
            tenant: "",
            name,
            payload,
            max_active: None,
        }
    }

    /// The same job, posted by `tenant`.
    pub fn by(self, tenant: &'a str) -> NewJob<'a> {
        NewJob { tenant, ..self }
    }

    /// The same job, refused when its tenant already has `limit` jobs on
    /// the board (`None`: no limit).
    pub fn within(self, limit: Option<usize>) -> NewJob<'a> {
        NewJob {
            max_active: limit,
            ..self
        }
    }
}

/// A unit of work on the board.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// Its id.
    pub id: JobId,
    /// The tenant that posted it; empty when posted to a daemon without
    /// tenants.
    pub tenant: String,
    /// A name for people.
    pub name: String,
    /// What the conductor builds the flow from (JSON, opaque to the board).
    pub payload: String,
    /// Where it is in its life.
    pub state: JobState,
    /// The current lease, while claimed.
    pub claim: Option<Claim>,
    /// Claims that ended without a consume: abandons and leases that ran
    /// out.
    pub attempts: u32,
    /// The flow detail in the logbook the job runs (or ran) in: a new
    /// claimant resumes it.
    pub flow: Option<FlowId>,
    /// Flows of earlier attempts that failed, oldest first.
    pub past_flows: Vec<FlowId>,
    /// Why the last attempt ended without a consume.
    pub last_failure: Option<String>,
    /// Why it is in the trash.
    pub trash_reason: Option<String>,
    /// When it was posted (ms since the epoch).
    pub posted_ms: u64,
    /// When it last changed.
    pub updated_ms: u64,
    /// What its guest calls used, over all its attempts so far.
    pub usage: UsageSnapshot,
}

impl Job {
    /// The owner of a lease still running at `now_ms`.
    pub fn owner_at(&self, now_ms: u64) -> Option<&str> {
        match (&self.state, &self.claim) {
            (JobState::Claimed, Some(claim)) if claim.expires_ms > now_ms => Some(&claim.owner),
            _ => None,
        }
    }

    /// Whether a conductor may claim it at `now_ms`: unclaimed, or its
    /// lease ran out.
    pub fn claimable_at(&self, now_ms: u64) -> bool {
        match self.state {
            JobState::Unclaimed => true,
            JobState::Claimed => self.owner_at(now_ms).is_none(),
            JobState::Complete | JobState::Trashed => false,
        }
    }
}
