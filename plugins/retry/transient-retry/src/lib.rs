//! The `transient-retry` retry controller: runs its scope again while every
//! failure is transient (a timeout, a network hiccup) and the attempt budget
//! lasts; any other failure, or a spent budget, reverts the scope.
//!
//! Arguments, both optional:
//!
//! - `budget` (`u32`, default 3): the most attempts in total, the first
//!   included; with 3 the scope runs at most three times.
//! - `transient` (list of strings, default
//!   `["limit.timeout", "net.", "io.timeout"]`): the failure kinds worth
//!   retrying. A kind is transient when it equals an entry or, for an entry
//!   ending in `.`, starts with it (`net.` covers `net.timeout` and
//!   `net.unreachable`).
//!
//! `execute` provides the number of the attempt it starts (1 for the first),
//! under `attempt` unless the flow names it otherwise. `on_failure` decides:
//!
//! | the failures being resolved | attempts so far | decision |
//! | --- | --- | --- |
//! | all transient | fewer than `budget` | retry |
//! | all transient | `budget` or more | revert (logs that the budget is spent) |
//! | one is not transient | any | revert (logs which one) |
//! | none recorded | any | revert (logs a warning) |
//!
//! The failures being resolved are those of the latest attempt and, if the
//! controller's own `execute` failed, that failure. The controller is
//! deterministic: it decides from the history and its arguments alone.

use taskbox_sdk::prelude::*;

/// Most attempts in total when no `budget` is given.
pub const DEFAULT_BUDGET: u32 = 3;

/// Transient failure kinds when no `transient` is given: host timeouts,
/// everything under `net.` and I/O timeouts.
pub const DEFAULT_TRANSIENT: &[&str] = &["limit.timeout", "net.", "io.timeout"];

/// Retries its scope while every failure is transient and fewer than
/// `budget` attempts (default 3) have run; reverts it otherwise.
#[retry(provides = "attempt")]
mod transient_retry {
    use super::*;

    /// Starts an attempt and provides its number, 1 for the first.
    pub fn execute(history: &History, budget: Option<u32>, transient: Option<Vec<String>>) -> u32 {
        // `transient` is one of execute's parameters so that the controller
        // describes it as an argument; only on_failure reads it.
        let _ = transient;
        let attempt = attempt_number(history);
        let budget = budget.unwrap_or(DEFAULT_BUDGET);
        info(&format!("starting attempt {attempt} of at most {budget}"));
        attempt
    }

    /// Decides whether the scope runs again; see the crate docs.
    pub fn on_failure(
        history: &History,
        budget: Option<u32>,
        transient: Option<Vec<String>>,
    ) -> Decision {
        let transient = transient.unwrap_or_else(|| {
            DEFAULT_TRANSIENT
                .iter()
                .map(|&kind| kind.to_owned())
                .collect()
        });
        decide(history, budget.unwrap_or(DEFAULT_BUDGET), &transient)
    }

    /// Nothing to undo: the controller only logs that its scope reverts.
    pub fn revert(history: &History) {
        info(&format!(
            "scope reverted after {} attempt(s)",
            history.attempts.len()
        ));
    }
}

/// The number of the attempt `execute` starts: one more than the attempts
/// so far.
pub fn attempt_number(history: &History) -> u32 {
    u32::try_from(history.attempts.len())
        .unwrap_or(u32::MAX)
        .saturating_add(1)
}

/// Whether a failure of `kind` is transient by the `transient` patterns.
pub fn is_transient(kind: &str, transient: &[String]) -> bool {
    transient.iter().any(|pattern| {
        kind == pattern || (pattern.ends_with('.') && kind.starts_with(pattern.as_str()))
    })
}

/// `on_failure`'s decision for `history`, with `budget` attempts at most and
/// the `transient` patterns, logging why.
pub fn decide(history: &History, budget: u32, transient: &[String]) -> Decision {
    let own = history
        .failure
        .as_ref()
        .map(|failure| ("the retry controller", failure));
    let failures: Vec<(&str, &Failure)> = history
        .last_failures()
        .iter()
        .map(|failure| (failure.atom.as_str(), &failure.failure))
        .chain(own)
        .collect();
    if failures.is_empty() {
        warn("reverting: no failure is recorded, so none can be judged transient");
        return Decision::Revert;
    }
    if let Some((atom, failure)) = failures
        .iter()
        .find(|(_, failure)| !is_transient(&failure.kind, transient))
    {
        warn(&format!(
            "reverting: `{atom}` failed with `{}`, which is not transient ({})",
            failure.kind, failure.message
        ));
        return Decision::Revert;
    }
    let attempts = history.attempts.len();
    let budget = usize::try_from(budget).unwrap_or(usize::MAX);
    if attempts >= budget {
        warn(&format!(
            "reverting: the budget of {budget} attempt(s) is spent after {attempts}"
        ));
        return Decision::Revert;
    }
    let kinds: Vec<&str> = failures
        .iter()
        .map(|(_, failure)| failure.kind.as_str())
        .collect();
    info(&format!(
        "retrying after transient failure(s) {}: attempt {} of at most {budget} next",
        kinds.join(", "),
        attempts + 1
    ));
    Decision::Retry
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Vec<String> {
        DEFAULT_TRANSIENT
            .iter()
            .map(|&kind| kind.to_owned())
            .collect()
    }

    /// A history of one attempt per entry, each failing with those kinds.
    fn history(attempts: &[&[&str]]) -> History {
        let attempt = |kinds: &&[&str]| Attempt {
            value: Default::default(),
            failures: kinds
                .iter()
                .map(|&kind| AtomFailure {
                    atom: "fetch".to_owned(),
                    failure: Failure::new(kind, "failed"),
                })
                .collect(),
        };
        History {
            attempts: attempts.iter().map(attempt).collect(),
            failure: None,
        }
    }

    #[test]
    fn transient_kinds_match_exactly_or_by_prefix() {
        let transient = defaults();
        for kind in [
            "limit.timeout",
            "net.timeout",
            "net.unreachable",
            "io.timeout",
        ] {
            assert!(is_transient(kind, &transient), "{kind}");
        }
        for kind in [
            "limit.memory",
            "net",
            "io.timeout.x",
            "trap",
            "network.down",
        ] {
            assert!(!is_transient(kind, &transient), "{kind}");
        }
    }

    #[test]
    fn retries_transient_failures_until_the_budget_is_spent() {
        let transient = defaults();
        let net: &[&str] = &["net.timeout"];
        assert_eq!(decide(&history(&[net]), 3, &transient), Decision::Retry);
        assert_eq!(
            decide(&history(&[net, net]), 3, &transient),
            Decision::Retry
        );
        assert_eq!(
            decide(&history(&[net, net, net]), 3, &transient),
            Decision::Revert
        );
        assert_eq!(decide(&history(&[net]), 1, &transient), Decision::Revert);
        assert_eq!(decide(&history(&[net]), 0, &transient), Decision::Revert);
    }

    #[test]
    fn any_permanent_failure_reverts() {
        let transient = defaults();
        let mixed: &[&str] = &["net.timeout", "payment.declined"];
        assert_eq!(decide(&history(&[mixed]), 3, &transient), Decision::Revert);
        // Only the latest attempt counts.
        let old: &[&str] = &["payment.declined"];
        let new: &[&str] = &["io.timeout"];
        assert_eq!(
            decide(&history(&[old, new]), 3, &transient),
            Decision::Retry
        );
        let mut own = history(&[new]);
        own.failure = Some(Failure::new("invalid-arguments", "bad"));
        assert_eq!(decide(&own, 3, &transient), Decision::Revert);
        assert_eq!(decide(&history(&[&[]]), 3, &transient), Decision::Revert);
    }

    #[test]
    fn custom_patterns_replace_the_defaults() {
        let transient = vec!["db.busy".to_owned()];
        assert_eq!(
            decide(&history(&[&["db.busy"]]), 3, &transient),
            Decision::Retry
        );
        assert_eq!(
            decide(&history(&[&["net.timeout"]]), 3, &transient),
            Decision::Revert
        );
    }

    #[test]
    fn execute_provides_the_next_attempt_number() {
        assert_eq!(transient_retry::execute(&history(&[]), None, None), 1);
        assert_eq!(
            transient_retry::execute(&history(&[&[], &[]]), Some(5), None),
            3
        );
    }
}
