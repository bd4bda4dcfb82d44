//! The taskbox jobboard, after TaskFlow's: jobs are posted, claimed by
//! exactly one conductor, run, and consumed or abandoned.
//!
//! A [`Job`] carries an opaque payload (what the conductor builds a flow
//! from) and links to the flow it runs in the logbook. The [`JobBoard`]
//! trait holds TaskFlow's verbs and rules; [`RedbJobBoard`] is the embedded
//! backend, stored in the logbook's own redb file. Two of TaskFlow's known
//! weaknesses end here:
//!
//! - **Lost claims**: a claim is a lease renewed by heartbeats. When its
//!   conductor dies the lease runs out and another conductor takes the job,
//!   resuming its flow from the logbook.
//! - **Endless cycling**: every abandon (and every lease that ran out)
//!   counts an attempt; at the board's maximum the job goes to the trash
//!   with its last failure as the reason, where it can be inspected and
//!   restored.
//!
//! Every job belongs to a tenant (the empty one on a daemon without
//! tenants); a post may carry the tenant's quota of jobs on the board,
//! checked in the same commit as the insert.

mod board;
mod clock;
mod error;
mod job;
mod redb_board;

pub use board::{BoardEvent, BoardOptions, JobBoard};
pub use clock::{LeaseClock, ManualClock, SystemLeaseClock};
pub use error::BoardError;
pub use job::{Claim, Job, JobId, JobState, NewJob};
pub use redb_board::RedbJobBoard;

#[cfg(test)]
mod tests;
