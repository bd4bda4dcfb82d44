//! Errors of the jobboard.

use crate::job::{JobId, JobState};

/// A jobboard operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum BoardError {
    /// No job with this id.
    #[error("no job {0} on the board")]
    UnknownJob(JobId),
    /// Someone else holds a live claim.
    #[error("job {job} is unclaimable: claimed by {owner}")]
    Unclaimable {
        /// The job.
        job: JobId,
        /// Who holds it.
        owner: String,
    },
    /// Only the owner of a live claim may do this.
    #[error("{who} cannot {verb} job {job}: {}", match owner {
        Some(owner) => format!("it is claimed by {owner}"),
        None => "it is not claimed by anyone".to_string(),
    })]
    NotOwner {
        /// The job.
        job: JobId,
        /// The verb refused.
        verb: &'static str,
        /// Who asked.
        who: String,
        /// Who owns it, if anyone.
        owner: Option<String>,
    },
    /// The job is in a state the verb does not apply to.
    #[error("cannot {verb} job {job}: it is {state}")]
    WrongState {
        /// The job.
        job: JobId,
        /// The verb refused.
        verb: &'static str,
        /// Its state.
        state: JobState,
    },
    /// The job's lease ran out too often; it went to the trash instead.
    #[error("job {job} went to the trash after {attempts} attempts: {reason}")]
    Trashed {
        /// The job.
        job: JobId,
        /// Attempts made.
        attempts: u32,
        /// The reason recorded.
        reason: String,
    },
    /// The tenant already has as many jobs on the board as it may.
    #[error(
        "{} {active} jobs queued or running, and may have at most {limit}: wait for some to finish",
        if tenant.is_empty() { "there are".to_string() } else { format!("tenant '{tenant}' has") }
    )]
    Quota {
        /// The tenant.
        tenant: String,
        /// Its jobs on the board (unclaimed or claimed).
        active: usize,
        /// How many it may have.
        limit: usize,
    },
    /// The board's schema differs from this build's.
    #[error("jobboard has schema version {found}, but this taskbox reads version {supported}")]
    Schema {
        /// Version found.
        found: u64,
        /// Version this build reads.
        supported: u64,
    },
    /// A read or write of the store failed.
    #[error("jobboard storage failed while {doing}: {message}")]
    Storage {
        /// What was being done.
        doing: &'static str,
        /// The store's error.
        message: String,
    },
    /// A job record could not be decoded.
    #[error("corrupt record of job {job} on the board: {message}")]
    Corrupt {
        /// The job.
        job: JobId,
        /// Why.
        message: String,
    },
}

impl From<taskbox_logbook::CommitFailure> for BoardError {
    fn from(failure: taskbox_logbook::CommitFailure) -> Self {
        BoardError::Storage {
            doing: "committing",
            message: failure.0,
        }
    }
}
