//! Errors of one attempt at a job.

use crate::payload::PayloadError;
use taskbox_engine::EngineError;
use taskbox_jobboard::BoardError;
use taskbox_logbook::LogbookError;

/// Why an attempt at a job could not run its flow to an end.
#[derive(Debug, thiserror::Error)]
pub enum ConductorError {
    /// The payload no longer passes its checks (e.g. a pinned plugin
    /// changed since the job was posted).
    #[error(transparent)]
    Payload(#[from] PayloadError),
    /// The engine could not be built, resumed or run.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The logbook failed.
    #[error(transparent)]
    Logbook(#[from] LogbookError),
    /// The job's tenant is no longer configured on this daemon.
    #[error("the job's tenant '{0}' is not in the tenants file")]
    Tenant(String),
    /// The jobboard refused or failed.
    #[error(transparent)]
    Board(#[from] BoardError),
}
