//! What a run ends with: the flow's state, each atom's report, results.

use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use taskbox_model::{AtomFailure, AtomState, Failure, FlowState, History};

/// How one atom ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AtomReport {
    /// Atom name.
    pub name: String,
    /// Plugin it ran (or the builtin retry controller).
    pub plugin: String,
    /// Content hash of that plugin.
    pub plugin_hash: String,
    /// Final state.
    pub state: AtomState,
    /// Execute result, if it succeeded.
    pub result: Option<Value>,
    /// Execute failure, if it failed.
    pub failure: Option<Failure>,
    /// Revert failure, if its revert failed.
    pub revert_failure: Option<Failure>,
    /// Time its last execute call took.
    pub elapsed: Option<Duration>,
    /// Retry atoms: the attempts of their scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<History>,
}

/// The end of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    /// Flow name.
    pub flow: String,
    /// Final flow state: SUCCESS, REVERTED or FAILURE.
    pub state: FlowState,
    /// Every atom, in declaration order.
    pub atoms: Vec<AtomReport>,
    /// The execute failures that made the flow revert, in order.
    pub failures: Vec<AtomFailure>,
    /// The initial store plus every value published by a successful atom.
    pub(crate) values: BTreeMap<String, Value>,
    /// Wall time of the run.
    pub elapsed: Duration,
}

impl Outcome {
    /// True when the flow succeeded.
    pub fn succeeded(&self) -> bool {
        self.state == FlowState::Success
    }

    /// The value of `name`: from the last successful atom that provides it,
    /// else from the initial store. Results of reverted atoms are gone.
    pub fn fetch(&self, name: &str) -> Option<&Value> {
        self.values.get(name)
    }

    /// Every name with a value, as [`fetch`](Self::fetch) sees them.
    pub fn fetch_all(&self) -> &BTreeMap<String, Value> {
        &self.values
    }

    /// The report of atom `name`.
    pub fn atom(&self, name: &str) -> Option<&AtomReport> {
        self.atoms.iter().find(|a| a.name == name)
    }
}
