//! What a retry controller sees and decides: [`History`], [`Attempt`] and
//! [`Decision`].

use crate::{AtomFailure, Failure};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a retry controller has seen so far in its scope, oldest attempt
/// first.
///
/// The host passes it to every retry function. `attempts.len()` is the number
/// of attempts so far: 0 when `execute` starts the first attempt, and during
/// `on_failure` it counts the attempt that just failed, whose failures are
/// [`last_failures`](History::last_failures).
///
/// ```
/// use taskbox_sdk::{Attempt, AtomFailure, Failure, History};
///
/// let history = History {
///     attempts: vec![Attempt {
///         value: serde_json::json!(1),
///         failures: vec![AtomFailure {
///             atom: "fetch".to_owned(),
///             failure: Failure::new("net.timeout", "timed out"),
///         }],
///     }],
///     failure: None,
/// };
/// assert_eq!(history.attempts.len(), 1);
/// assert_eq!(history.last_failures()[0].failure.kind, "net.timeout");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// Every attempt so far, oldest first.
    pub attempts: Vec<Attempt>,
    /// The controller's own failure, when its `execute` failed.
    pub failure: Option<Failure>,
}

impl History {
    /// The latest attempt, if there was one.
    pub fn last(&self) -> Option<&Attempt> {
        self.attempts.last()
    }

    /// The failures of the latest attempt: during `on_failure`, the failures
    /// being resolved. Empty when there was no attempt yet.
    pub fn last_failures(&self) -> &[AtomFailure] {
        self.last()
            .map_or(&[], |attempt| attempt.failures.as_slice())
    }
}

/// One attempt of a retry controller's scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// What the controller's `execute` provided for this attempt (`null`
    /// when it provided nothing).
    pub value: Value,
    /// The failures of atoms in the scope during this attempt.
    pub failures: Vec<AtomFailure>,
}

/// How a retry controller resolves a failure in its scope; what its
/// `on_failure` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    /// Revert the scope and run it again.
    Retry,
    /// Revert the scope, then defer to the enclosing retry controller, if
    /// any.
    Revert,
    /// Revert the whole flow.
    RevertAll,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attempt(value: Value, kinds: &[&str]) -> Attempt {
        let failures = kinds
            .iter()
            .map(|&kind| AtomFailure {
                atom: "a".to_owned(),
                failure: Failure::new(kind, "m"),
            })
            .collect();
        Attempt { value, failures }
    }

    #[test]
    fn last_is_the_newest_attempt() {
        let mut history = History::default();
        assert!(history.last().is_none());
        assert!(history.last_failures().is_empty());
        history.attempts.push(attempt(json!(1), &["x"]));
        history.attempts.push(attempt(json!(2), &["y", "z"]));
        assert_eq!(history.last().map(|a| &a.value), Some(&json!(2)));
        let kinds: Vec<&str> = history
            .last_failures()
            .iter()
            .map(|f| f.failure.kind.as_str())
            .collect();
        assert_eq!(kinds, ["y", "z"]);
    }

    #[test]
    fn decisions_serialize_as_the_wit_names() {
        let names = [Decision::Retry, Decision::Revert, Decision::RevertAll]
            .map(|decision| serde_json::to_value(decision).expect("serializes"));
        assert_eq!(
            names,
            [json!("retry"), json!("revert"), json!("revert-all")]
        );
        let history = History {
            attempts: vec![attempt(json!(null), &["k"])],
            failure: None,
        };
        assert_eq!(
            serde_json::to_value(&history).expect("serializes"),
            json!({
                "attempts": [{
                    "value": null,
                    "failures": [{ "atom": "a", "failure": { "kind": "k", "message": "m" } }],
                }],
                "failure": null,
            })
        );
    }
}
