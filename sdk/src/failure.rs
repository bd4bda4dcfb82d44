//! Failures a task reports to the host.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// Why a task failed.
///
/// `kind` is a dotted name a retry controller can reason on, such as
/// `payment.declined`. Tasks choose their own kinds; the host reserves
/// `limit.*`, `trap`, `invalid-arguments` and `invalid-result`.
///
/// ```
/// use taskbox_sdk::Failure;
///
/// let failure = Failure::new("payment.declined", "card was declined")
///     .with_details(serde_json::json!({ "card": "4000-0000-0000-0002" }));
/// assert_eq!(failure.to_string(), "payment.declined: card was declined");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// Dotted name of what went wrong, such as `stock.unavailable`.
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
        Self {
            kind: kind.into(),
            message: message.into(),
            details: None,
        }
    }

    /// This failure with `details` attached (replacing any earlier details).
    #[must_use]
    pub fn with_details(mut self, details: impl Into<Value>) -> Self {
        self.details = Some(details.into());
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for Failure {}

/// A failure together with the name of the atom it happened in.
///
/// A task's `revert` receives the failures that made the flow revert as
/// `flow_failures: Vec<AtomFailure>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AtomFailure {
    /// Name of the atom that failed.
    pub atom: String,
    /// What went wrong in it.
    pub failure: Failure,
}

impl fmt::Display for AtomFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "atom `{}` failed: {}", self.atom, self.failure)
    }
}
