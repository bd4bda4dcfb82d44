//! Atom and flow states, intentions, and the transitions TaskFlow allows.

use serde::{Deserialize, Serialize};
use std::fmt;

/// State of an atom (task or retry), named as in TaskFlow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AtomState {
    /// Not run yet.
    Pending,
    /// Executing.
    Running,
    /// Executed successfully.
    Success,
    /// Execution failed.
    Failure,
    /// Being reverted.
    Reverting,
    /// Reverted successfully.
    Reverted,
    /// Revert itself failed.
    RevertFailure,
    /// Skipped.
    Ignore,
    /// A retry atom preparing another attempt of its scope.
    Retrying,
}

/// State of a whole flow, named as in TaskFlow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FlowState {
    /// Not started.
    Pending,
    /// Executing atoms.
    Running,
    /// Every atom succeeded.
    Success,
    /// An atom failed and reverting could not undo everything.
    Failure,
    /// Undoing completed atoms after a failure.
    Reverting,
    /// Every completed atom was reverted.
    Reverted,
    /// Asked to suspend; running atoms are finishing.
    Suspending,
    /// Suspended; can be resumed.
    Suspended,
    /// Being resumed from persisted state.
    Resuming,
}

/// What the engine intends to do with an atom next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Intention {
    /// Execute it.
    Execute,
    /// Revert it.
    Revert,
    /// Retry its scope (retry atoms).
    Retry,
    /// Skip it.
    Ignore,
}

/// A state change that TaskFlow's state machine does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid transition of {what} from {from} to {to}")]
pub struct InvalidTransition {
    /// "atom 'name'" or "flow 'name'".
    pub what: String,
    /// The current state.
    pub from: String,
    /// The requested state.
    pub to: String,
}

impl AtomState {
    /// Whether a task atom may move from `self` to `to`.
    pub fn task_can_become(self, to: AtomState) -> bool {
        use AtomState::*;
        matches!(
            (self, to),
            (Pending, Running)
                | (Pending, Ignore)
                | (Ignore, Pending)
                | (Running, Success)
                | (Running, Failure)
                | (Success, Reverting)
                | (Failure, Reverting)
                | (Reverting, Reverted)
                | (Reverting, RevertFailure)
                | (Reverted, Pending)
        )
    }

    /// Whether a retry atom may move from `self` to `to`: a task's
    /// transitions plus SUCCESS → RETRYING → RUNNING.
    pub fn retry_can_become(self, to: AtomState) -> bool {
        use AtomState::*;
        self.task_can_become(to) || matches!((self, to), (Success, Retrying) | (Retrying, Running))
    }

    /// TaskFlow's upper-case name, e.g. `REVERT_FAILURE`.
    pub fn name(self) -> &'static str {
        use AtomState::*;
        match self {
            Pending => "PENDING",
            Running => "RUNNING",
            Success => "SUCCESS",
            Failure => "FAILURE",
            Reverting => "REVERTING",
            Reverted => "REVERTED",
            RevertFailure => "REVERT_FAILURE",
            Ignore => "IGNORE",
            Retrying => "RETRYING",
        }
    }
}

impl FlowState {
    /// Whether a flow may move from `self` to `to`.
    pub fn can_become(self, to: FlowState) -> bool {
        use FlowState::*;
        matches!(
            (self, to),
            (Pending, Running)
                | (Running, Success)
                | (Running, Failure)
                | (Running, Reverted)
                | (Running, Reverting)
                | (Running, Suspending)
                | (Running, Resuming)
                | (Reverting, Resuming)
                | (Suspending, Resuming)
                | (Reverting, Reverted)
                | (Reverting, Failure)
                | (Reverting, Suspending)
                | (Success, Running)
                | (Failure, Running)
                | (Reverted, Pending)
                | (Success, Pending)
                | (Suspending, Suspended)
                | (Suspending, Success)
                | (Suspending, Failure)
                | (Suspending, Reverted)
                | (Suspended, Resuming)
                | (Resuming, Running)
                | (Resuming, Reverting)
                | (Resuming, Suspended)
        )
    }

    /// TaskFlow's upper-case name.
    pub fn name(self) -> &'static str {
        use FlowState::*;
        match self {
            Pending => "PENDING",
            Running => "RUNNING",
            Success => "SUCCESS",
            Failure => "FAILURE",
            Reverting => "REVERTING",
            Reverted => "REVERTED",
            Suspending => "SUSPENDING",
            Suspended => "SUSPENDED",
            Resuming => "RESUMING",
        }
    }

    /// True for states a run ends in.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            FlowState::Success | FlowState::Failure | FlowState::Reverted | FlowState::Suspended
        )
    }
}

impl fmt::Display for AtomState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for FlowState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Intention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Intention::Execute => "EXECUTE",
            Intention::Revert => "REVERT",
            Intention::Retry => "RETRY",
            Intention::Ignore => "IGNORE",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_transitions_follow_taskflow() {
        use AtomState::*;
        assert!(Pending.task_can_become(Running));
        assert!(Success.task_can_become(Reverting));
        assert!(Reverting.task_can_become(RevertFailure));
        assert!(!Pending.task_can_become(Success));
        assert!(!Success.task_can_become(Retrying));
        assert!(Success.retry_can_become(Retrying));
        assert!(Retrying.retry_can_become(Running));
    }

    #[test]
    fn flow_transitions_follow_taskflow() {
        use FlowState::*;
        assert!(Running.can_become(Reverting));
        assert!(Reverting.can_become(Reverted));
        assert!(!Pending.can_become(Success));
        assert!(Suspending.can_become(Suspended));
    }

    #[test]
    fn names_are_taskflow_names() {
        assert_eq!(AtomState::RevertFailure.to_string(), "REVERT_FAILURE");
        assert_eq!(
            serde_json::to_string(&AtomState::RevertFailure)
                .ok()
                .as_deref(),
            Some("\"REVERT_FAILURE\"")
        );
    }
}
