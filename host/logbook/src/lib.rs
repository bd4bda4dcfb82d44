//! The taskbox logbook: the single source of truth of a flow's runtime
//! state, after TaskFlow's persistence model.
//!
//! A [`LogBook`] groups [`FlowDetail`]s; each flow detail holds one
//! [`AtomDetail`] per atom (state, intention, result, failures, retry
//! history, plugin hash, timings) plus the flow's [`Transition`]s, the
//! readable story of the run. The engine writes every state change through
//! the [`Logbook`] trait before the change's consequences start, grouping
//! the changes of one scheduler step into one commit.
//!
//! [`RedbLogbook`] is the embedded default: one redb file, postcard-encoded
//! records, a schema version checked on open. Other stores (PostgreSQL) plug
//! in behind the same trait. [`PowerCut`] is a storage backend for crash
//! tests: it loses everything not yet synced when told to fail.

mod codec;
mod error;
mod group_commit;
mod power_cut;
mod record;
mod redb_store;
mod store;

pub use codec::{decode_atom, decode_flow, decode_transition};
pub use error::LogbookError;
pub use group_commit::{CommitFailure, GroupCommit};
pub use power_cut::PowerCut;
pub use record::{
    AtomDetail, AtomKind, FlowDetail, FlowId, LogBook, NewFlow, Transition, TransitionKind, now_ms,
};
pub use redb_store::{RedbLogbook, SCHEMA_VERSION};
pub use store::Logbook;

#[cfg(test)]
mod tests;
