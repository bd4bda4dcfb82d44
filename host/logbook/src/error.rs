//! Errors of the logbook.

use crate::record::FlowId;
use std::path::PathBuf;

/// A logbook operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LogbookError {
    /// The database file could not be opened or created.
    #[error("cannot open logbook {path}: {message}")]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// Another process has the database open.
    #[error("logbook {path} is open in another process (redb allows one at a time)")]
    InUse {
        /// The file.
        path: PathBuf,
    },
    /// The database was written by a taskbox with another schema.
    #[error(
        "logbook {path} has schema version {found}, but this taskbox reads version {supported}"
    )]
    Schema {
        /// The file.
        path: PathBuf,
        /// Version found in the file.
        found: u64,
        /// The version this build reads.
        supported: u64,
    },
    /// A read or write of the store failed.
    #[error("logbook storage failed while {doing}: {message}")]
    Storage {
        /// What was being done.
        doing: &'static str,
        /// The store's error.
        message: String,
    },
    /// A record could not be decoded (or encoded).
    #[error("corrupt {what} record in the logbook: {message}")]
    Corrupt {
        /// Which record.
        what: &'static str,
        /// Why.
        message: String,
    },
    /// No flow with this id.
    #[error("no flow {0} in the logbook")]
    UnknownFlow(FlowId),
}

impl From<crate::group_commit::CommitFailure> for LogbookError {
    fn from(failure: crate::group_commit::CommitFailure) -> Self {
        LogbookError::Storage {
            doing: "committing",
            message: failure.0,
        }
    }
}
