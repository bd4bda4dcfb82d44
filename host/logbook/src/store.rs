//! The storage interface the engine writes through.

use crate::error::LogbookError;
use crate::record::{AtomDetail, FlowDetail, FlowId, LogBook, NewFlow, Transition};

/// Where flows, atoms and their transitions are persisted.
///
/// Every method is atomic: a write either lands whole or not at all, and
/// when it returns `Ok` it is durable. [`RedbLogbook`](crate::RedbLogbook)
/// is the embedded implementation; a networked store (PostgreSQL) implements
/// the same trait.
pub trait Logbook: Send + Sync + std::fmt::Debug {
    /// Records a new flow, its definition and its atoms; assigns its id.
    fn create_flow(&self, flow: NewFlow) -> Result<FlowDetail, LogbookError>;

    /// Saves the flow record, the given atom records and appends the given
    /// transitions, all in one commit: the engine's group commit of one
    /// scheduler step.
    fn save(
        &self,
        flow: &FlowDetail,
        atoms: &[&AtomDetail],
        transitions: &[Transition],
    ) -> Result<(), LogbookError>;

    /// The flow record of `id`.
    fn flow(&self, id: FlowId) -> Result<FlowDetail, LogbookError>;

    /// The definition stored with flow `id` by [`create_flow`](Self::create_flow).
    fn definition(&self, id: FlowId) -> Result<String, LogbookError>;

    /// Every atom of flow `id`, by index.
    fn atoms(&self, id: FlowId) -> Result<Vec<AtomDetail>, LogbookError>;

    /// The transitions of flow `id`, oldest first.
    fn transitions(&self, id: FlowId) -> Result<Vec<Transition>, LogbookError>;

    /// Every flow, oldest first.
    fn flows(&self) -> Result<Vec<FlowDetail>, LogbookError>;

    /// Every logbook (group of flows), by name.
    fn books(&self) -> Result<Vec<LogBook>, LogbookError>;

    /// Forgets flow `id` with its definition, atoms and transitions.
    fn delete_flow(&self, id: FlowId) -> Result<(), LogbookError>;
}
