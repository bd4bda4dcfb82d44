//! The records of a logbook: books, flows, atoms and transitions.

use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};
use taskbox_model::{
    AtomFailure, AtomState, Decision, Failure, FlowState, Grants, History, Intention,
};

/// Milliseconds since the Unix epoch, the logbook's timestamps.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Identifies a flow detail within one logbook.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct FlowId(pub u64);

impl fmt::Display for FlowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for FlowId {
    type Err = std::num::ParseIntError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim().parse().map(FlowId)
    }
}

/// A named group of flows (TaskFlow's LogBook), e.g. one per job source.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogBook {
    /// Unique name.
    pub name: String,
    /// When its first flow was recorded.
    pub created_ms: u64,
    /// Free-form metadata.
    pub meta: BTreeMap<String, String>,
}

/// One run of one flow: its state and what it needs to resume.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct FlowDetail {
    /// Its id, assigned by the logbook.
    pub id: FlowId,
    /// The logbook it belongs to.
    pub book: String,
    /// The flow's name.
    pub name: String,
    /// Current flow state.
    pub state: FlowState,
    /// What a resumed run continues with: RUNNING, or REVERTING when the
    /// whole flow was being reverted.
    pub phase: FlowState,
    /// Failures of atoms currently in FAILURE, in the order they happened:
    /// what every revert is given.
    pub failures: Vec<AtomFailure>,
    /// When it was recorded.
    pub created_ms: u64,
    /// When it last changed.
    pub updated_ms: u64,
    /// Free-form metadata (e.g. the plugin directory it was started with).
    pub meta: BTreeMap<String, String>,
}

/// Whether an atom is a task or a retry controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AtomKind {
    /// A task.
    Task,
    /// A retry controller.
    Retry,
}

/// The persisted state of one atom of a flow.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct AtomDetail {
    /// Position in the flow's execution graph (declaration order).
    pub index: u32,
    /// Atom name, unique in its flow.
    pub name: String,
    /// Task or retry.
    pub kind: AtomKind,
    /// Plugin it runs, or the builtin controller's name.
    pub plugin: String,
    /// Content hash of the plugin's `.wasm` (empty for builtins).
    pub plugin_hash: String,
    /// The plugin's version from `describe` (empty for builtins).
    pub version: String,
    /// Current state.
    pub state: AtomState,
    /// What the engine intends to do with it next.
    pub intention: Intention,
    /// Its execute result while it stands (SUCCESS, or reverting).
    pub result: Option<Value>,
    /// Its execute failure, if it failed.
    pub failure: Option<Failure>,
    /// Its revert failure, if its revert failed.
    pub revert_failure: Option<Failure>,
    /// Retry atoms: the attempts of their scope.
    pub history: Option<History>,
    /// When its last execute or revert started.
    pub started_ms: Option<u64>,
    /// When its last execute or revert ended.
    pub finished_ms: Option<u64>,
    /// How long its last execute call took, in microseconds.
    pub elapsed_us: Option<u64>,
    /// What its calls were granted (directories, environment, clock,
    /// randomness) when the flow was recorded; environment values are
    /// redacted.
    pub grants: Grants,
    /// Free-form metadata.
    pub meta: BTreeMap<String, String>,
}

impl AtomDetail {
    /// A PENDING atom that intends to execute.
    pub fn pending(index: u32, name: &str, kind: AtomKind, plugin: &str) -> AtomDetail {
        AtomDetail {
            index,
            name: name.to_string(),
            kind,
            plugin: plugin.to_string(),
            plugin_hash: String::new(),
            version: String::new(),
            state: AtomState::Pending,
            intention: Intention::Execute,
            result: None,
            failure: None,
            revert_failure: None,
            history: (kind == AtomKind::Retry).then(History::default),
            started_ms: None,
            finished_ms: None,
            elapsed_us: None,
            grants: Grants::default(),
            meta: BTreeMap::new(),
        }
    }
}

/// What a transition changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum TransitionKind {
    /// The flow changed state.
    Flow {
        /// State before.
        from: FlowState,
        /// State after.
        to: FlowState,
    },
    /// An atom changed state.
    Atom {
        /// Index of the atom.
        atom: u32,
        /// State before.
        from: AtomState,
        /// State after.
        to: AtomState,
    },
    /// A retry controller decided how to resolve a failure of `atom`.
    Decision {
        /// Index of the retry atom.
        retry: u32,
        /// Index of the atom whose failure it resolved.
        atom: u32,
        /// Its decision.
        decision: Decision,
    },
}

/// One entry of a flow's story.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Transition {
    /// When it happened.
    pub at_ms: u64,
    /// What changed.
    pub kind: TransitionKind,
}

/// A flow to record: everything but the id, which the logbook assigns.
#[derive(Debug, Clone, PartialEq)]
pub struct NewFlow {
    /// The logbook to file it in (created when missing).
    pub book: String,
    /// The flow's name.
    pub name: String,
    /// What a later process needs to rebuild the flow, opaque to the
    /// logbook (the engine stores its definition as JSON).
    pub definition: String,
    /// Free-form metadata.
    pub meta: BTreeMap<String, String>,
    /// Every atom, PENDING.
    pub atoms: Vec<AtomDetail>,
}
