//! Failures of atoms: a kind a retry can reason on, a message and details.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// Failure kinds produced by the host rather than by a plugin.
///
/// Plugins choose their own dotted kinds (`payment.declined`); these are
/// reserved so that a retry controller can tell sandbox breaches from a
/// task's own failures.
pub mod kinds {
    /// The call ran past its CPU deadline.
    pub const TIMEOUT: &str = "limit.timeout";
    /// The guest tried to grow its linear memory past the cap.
    pub const MEMORY: &str = "limit.memory";
    /// The result was larger than the result-size cap.
    pub const RESULT_SIZE: &str = "limit.result-size";
    /// The job used up its total CPU time budget.
    pub const JOB_CPU: &str = "limit.job-cpu";
    /// The guest trapped (panic, unreachable, stack exhaustion, ...).
    pub const TRAP: &str = "trap";
    /// The result was not valid JSON or did not match `provides`.
    pub const INVALID_RESULT: &str = "invalid-result";
    /// The arguments could not be assembled or decoded.
    pub const INVALID_ARGUMENTS: &str = "invalid-arguments";
    /// The plugin could not be instantiated.
    pub const INSTANTIATION: &str = "instantiation";
}

/// Why an atom failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// Dotted kind, e.g. `limit.timeout` or `payment.declined`.
    pub kind: String,
    /// Human-readable explanation.
    pub message: String,
    /// Optional structured details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

impl Failure {
    /// A failure of `kind` with `message` and no details.
    pub fn new(kind: impl Into<String>, message: impl Into<String>) -> Self {
        Failure {
            kind: kind.into(),
            message: message.into(),
            details: None,
        }
    }

    /// Attaches structured details.
    #[must_use]
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// True when the host produced this failure because a sandbox limit was hit.
    pub fn is_limit(&self) -> bool {
        self.kind.starts_with("limit.")
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for Failure {}

/// A failure together with the atom it happened in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AtomFailure {
    /// Name of the atom.
    pub atom: String,
    /// What went wrong.
    pub failure: Failure,
}
