//! `#[retry]` expanded and called through the generated `Guest` impl, as the
//! host would call the component's exports.

use taskbox_sdk::__private::bindings::taskbox::plugin::types as wire;
use taskbox_sdk::__private::retry_bindings::Guest;
use taskbox_sdk::prelude::*;

/// Retries transient failures up to `budget` attempts.
///
/// Used by the tests below only.
#[retry(provides = "attempt", version = "2.0.0")]
mod up_to {
    use super::*;

    pub fn execute(
        history: &History,
        budget: Option<u32>,
        label: String,
    ) -> Result<String, Failure> {
        let attempt = history.attempts.len() + 1;
        match budget {
            Some(0) => Err(Failure::new("retry.no-budget", "budget is 0")),
            _ => Ok(format!("{label} #{attempt}")),
        }
    }

    pub fn on_failure(budget: Option<u32>, history: History) -> Decision {
        let transient = history
            .last_failures()
            .iter()
            .all(|failure| failure.failure.kind.starts_with("net."));
        let budget = budget.unwrap_or(2) as usize;
        match (transient, history.attempts.len() < budget) {
            (true, true) => Decision::Retry,
            (true, false) => Decision::Revert,
            (false, _) => Decision::RevertAll,
        }
    }

    pub fn revert(history: &History, label: String) {
        info(&format!(
            "{label}: reverted after {}",
            history.attempts.len()
        ));
    }
}

fn history(kinds: &[&str]) -> wire::History {
    let attempt = |kind: &&str| wire::Attempt {
        value: "null".to_owned(),
        failures: vec![wire::AtomFailure {
            atom: "fetch".to_owned(),
            failure: wire::Failure {
                kind: (*kind).to_owned(),
                message: "failed".to_owned(),
                details: None,
            },
        }],
    };
    wire::History {
        attempts: kinds.iter().map(attempt).collect(),
        failure: None,
    }
}

#[test]
fn describe_reports_arguments_but_not_history() {
    let info = <__TaskboxComponent as Guest>::describe();
    assert_eq!(info.name, "up-to");
    assert_eq!(info.version, "2.0.0");
    assert!(info.description.starts_with("Retries transient failures"));
    assert_eq!(info.requires, ["label"]);
    assert_eq!(info.optional, ["budget"]);
    assert!(matches!(info.provides, wire::Provides::Single(name) if name == "attempt"));
}

#[test]
fn execute_numbers_attempts_and_fails_like_a_task() {
    let out = <__TaskboxComponent as Guest>::execute(
        history(&["net.timeout"]),
        r#"{"label":"try"}"#.into(),
    );
    assert_eq!(out.ok().as_deref(), Some(r#""try #2""#));
    let failed =
        <__TaskboxComponent as Guest>::execute(history(&[]), r#"{"label":"x","budget":0}"#.into())
            .expect_err("budget 0");
    assert_eq!(failed.kind, "retry.no-budget");
    let missing =
        <__TaskboxComponent as Guest>::execute(history(&[]), "{}".into()).expect_err("no label");
    assert_eq!(missing.kind, "invalid-arguments");
}

#[test]
fn on_failure_decides_from_history_and_arguments() {
    let decide = |kinds: &[&str], args: &str| {
        <__TaskboxComponent as Guest>::on_failure(history(kinds), args.into())
    };
    assert_eq!(decide(&["net.timeout"], "{}"), wire::Decision::Retry);
    assert_eq!(
        decide(&["net.timeout", "net.timeout"], "{}"),
        wire::Decision::Revert
    );
    assert_eq!(
        decide(&["net.timeout", "net.timeout"], r#"{"budget":3}"#),
        wire::Decision::Retry
    );
    assert_eq!(decide(&["disk.full"], "{}"), wire::Decision::RevertAll);
    assert_eq!(
        decide(&["net.timeout"], r#"{"budget":"lots"}"#),
        wire::Decision::RevertAll
    );
}

#[test]
fn revert_decodes_its_arguments() {
    assert!(
        <__TaskboxComponent as Guest>::revert(history(&["x"]), r#"{"label":"l"}"#.into()).is_ok()
    );
    let failure =
        <__TaskboxComponent as Guest>::revert(history(&["x"]), "{}".into()).expect_err("no label");
    assert_eq!(failure.kind, "invalid-arguments");
}
