//! Support for the code `#[task]` and `#[retry]` generate. Not a public
//! API: it changes without notice.
//!
//! Generated code reaches everything here through
//! `::taskbox_sdk::__private::...` so that a task or retry crate needs no
//! dependency besides `taskbox-sdk`.

pub use generated::{bindings, retry_bindings};

/// The code `wit-bindgen` generates, exempt from this crate's lints.
#[allow(
    unsafe_code,
    missing_docs,
    unsafe_op_in_unsafe_fn,
    clippy::all,
    clippy::pedantic,
    clippy::unwrap_used
)]
mod generated {
    /// Bindings of the `taskbox:plugin/task` world.
    ///
    /// Implement [`bindings::Guest`] and call [`bindings::export!`] only when
    /// a component must do something `#[task]` cannot express, such as
    /// returning invalid JSON in a test.
    pub mod bindings {
        wit_bindgen::generate!({
            world: "task",
            path: "../wit",
            pub_export_macro: true,
            default_bindings_module: "::taskbox_sdk::__private::bindings",
            runtime_path: "::taskbox_sdk::__private::wit_bindgen::rt",
        });
    }

    /// Bindings of the `taskbox:plugin/retry` world.
    ///
    /// The `types` and `host` interfaces are not generated again: they are
    /// [`bindings`]' (the `with` option), so a `Failure` or a `TaskInfo` is
    /// the same type in both worlds and the host imports exist once.
    /// Implement [`retry_bindings::Guest`] and call [`retry_bindings::export!`]
    /// only when a retry controller must do something `#[retry]` cannot
    /// express.
    pub mod retry_bindings {
        wit_bindgen::generate!({
            world: "retry",
            path: "../wit",
            pub_export_macro: true,
            default_bindings_module: "::taskbox_sdk::__private::retry_bindings",
            runtime_path: "::taskbox_sdk::__private::wit_bindgen::rt",
            with: {
                "taskbox:plugin/types@0.1.0": ::taskbox_sdk::__private::bindings::taskbox::plugin::types,
                "taskbox:plugin/host@0.1.0": ::taskbox_sdk::__private::bindings::taskbox::plugin::host,
            },
        });
    }
}

pub use serde_json;
pub use wit_bindgen;

pub use bindings::taskbox::plugin::types::Provides;

use crate::{AtomFailure, Attempt, Decision, Failure, History};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// Failure kind for arguments that are missing or do not decode.
pub const INVALID_ARGUMENTS: &str = "invalid-arguments";
/// Failure kind for a result that does not serialize.
pub const INVALID_RESULT: &str = "invalid-result";

/// The `task-info` record `describe` returns.
pub fn task_info(
    name: &str,
    version: &str,
    description: &str,
    requires: &[&str],
    optional: &[&str],
    provides: Provides,
) -> bindings::TaskInfo {
    bindings::TaskInfo {
        name: name.to_owned(),
        version: version.to_owned(),
        description: description.to_owned(),
        requires: strings(requires),
        optional: strings(optional),
        provides,
    }
}

/// `provides::single(name)`.
pub fn provides_single(name: &str) -> Provides {
    Provides::Single(name.to_owned())
}

/// `provides::positional(names)`.
pub fn provides_positional(names: &[&str]) -> Provides {
    Provides::Positional(strings(names))
}

fn strings(names: &[&str]) -> Vec<String> {
    names.iter().map(|&name| name.to_owned()).collect()
}

/// The arguments of a call: a JSON object keyed by argument name.
#[derive(Debug, Clone, Default)]
pub struct Args(Map<String, Value>);

impl Args {
    /// Parses `json`, which must be a JSON object.
    pub fn parse(json: &str) -> Result<Self, Failure> {
        match serde_json::from_str(json) {
            Ok(Value::Object(map)) => Ok(Self(map)),
            Ok(other) => Err(Failure::new(
                INVALID_ARGUMENTS,
                format!("arguments must be a JSON object, not {}", json_type(&other)),
            )),
            Err(e) => Err(Failure::new(
                INVALID_ARGUMENTS,
                format!("arguments are not valid JSON: {e}"),
            )),
        }
    }

    /// Decodes the argument `name`, which must be present.
    pub fn required<T: DeserializeOwned>(&self, name: &str) -> Result<T, Failure> {
        match self.0.get(name) {
            Some(value) => decode(name, value),
            None => Err(Failure::new(
                INVALID_ARGUMENTS,
                format!("missing required argument `{name}`"),
            )),
        }
    }

    /// Decodes the argument `name` into `T`, an `Option<..>`; a missing
    /// argument decodes like `null`, that is as `None`.
    pub fn optional<T: DeserializeOwned>(&self, name: &str) -> Result<T, Failure> {
        decode(name, self.0.get(name).unwrap_or(&Value::Null))
    }
}

fn decode<T: DeserializeOwned>(name: &str, value: &Value) -> Result<T, Failure> {
    T::deserialize(value)
        .map_err(|e| Failure::new(INVALID_ARGUMENTS, format!("argument `{name}`: {e}")))
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A task function's `Result<T, E>` with the error converted to [`Failure`].
pub fn into_failure<T, E: Into<Failure>>(result: Result<T, E>) -> Result<T, Failure> {
    result.map_err(Into::into)
}

/// Parses `args` and calls `run` with them; a failure of either is returned
/// as the WIT `failure` record.
fn with_args<T>(
    args: &str,
    run: impl FnOnce(&Args) -> Result<T, Failure>,
) -> Result<T, bindings::Failure> {
    Args::parse(args)
        .and_then(|args| run(&args))
        .map_err(to_wire)
}

/// Runs a task's `execute` export: parses `args`, calls `run` and encodes
/// what it returns as JSON text.
pub fn execute<T, F>(args: &str, run: F) -> Result<String, bindings::Failure>
where
    T: Serialize,
    F: FnOnce(&Args) -> Result<T, Failure>,
{
    with_args(args, |args| {
        let value = run(args)?;
        serde_json::to_string(&value)
            .map_err(|e| Failure::new(INVALID_RESULT, format!("cannot serialize the result: {e}")))
    })
}

/// Runs a task's `revert` export: parses `args`, converts the flow failures
/// and calls `run` with the arguments, the execute result (JSON text) and the
/// failures.
pub fn revert<F>(
    args: &str,
    result: Option<String>,
    flow_failures: Vec<bindings::AtomFailure>,
    run: F,
) -> Result<(), bindings::Failure>
where
    F: FnOnce(&Args, Option<&str>, Vec<AtomFailure>) -> Result<(), Failure>,
{
    let flow_failures = flow_failures.into_iter().map(from_wire_atom).collect();
    with_args(args, |args| run(args, result.as_deref(), flow_failures))
}

/// Runs a retry controller's `execute` export: like a task's [`execute`],
/// with the converted history handed to `run` too.
pub fn retry_execute<T, F>(
    history: retry_bindings::History,
    args: &str,
    run: F,
) -> Result<String, bindings::Failure>
where
    T: Serialize,
    F: FnOnce(History, &Args) -> Result<T, Failure>,
{
    execute(args, |args| run(from_wire_history(history), args))
}

/// Runs a retry controller's `revert` export, and is the start of the
/// others: converts `history`, parses `args` and calls `run` with both.
pub fn retry_call<T, F>(
    history: retry_bindings::History,
    args: &str,
    run: F,
) -> Result<T, bindings::Failure>
where
    F: FnOnce(History, &Args) -> Result<T, Failure>,
{
    let history = from_wire_history(history);
    with_args(args, |args| run(history, args))
}

/// Runs a retry controller's `on-failure` export. `on-failure` cannot fail,
/// so when `args` do not decode this logs an error and decides
/// [`Decision::RevertAll`].
pub fn retry_on_failure<F>(
    history: retry_bindings::History,
    args: &str,
    run: F,
) -> retry_bindings::Decision
where
    F: FnOnce(History, &Args) -> Result<Decision, Failure>,
{
    match retry_call(history, args, run) {
        Ok(decision) => decision_to_wire(decision),
        Err(failure) => {
            crate::error(&format!(
                "on-failure cannot decode its arguments, so it reverts the whole flow: {}: {}",
                failure.kind, failure.message
            ));
            retry_bindings::Decision::RevertAll
        }
    }
}

/// A [`Decision`] as the WIT `decision` enum.
pub fn decision_to_wire(decision: Decision) -> retry_bindings::Decision {
    match decision {
        Decision::Retry => retry_bindings::Decision::Retry,
        Decision::Revert => retry_bindings::Decision::Revert,
        Decision::RevertAll => retry_bindings::Decision::RevertAll,
    }
}

/// The WIT `history` record as a [`History`]. An attempt value that is not
/// valid JSON is kept as a JSON string.
pub fn from_wire_history(history: retry_bindings::History) -> History {
    History {
        attempts: history
            .attempts
            .into_iter()
            .map(|attempt| Attempt {
                value: json_or_string(attempt.value),
                failures: attempt.failures.into_iter().map(from_wire_atom).collect(),
            })
            .collect(),
        failure: history.failure.map(from_wire),
    }
}

/// Decodes the execute result handed to `revert` into `T`, an `Option<..>`;
/// no result decodes like `null`, that is as `None`.
pub fn previous_result<T: DeserializeOwned>(result: Option<&str>) -> Result<T, Failure> {
    serde_json::from_str(result.unwrap_or("null"))
        .map_err(|e| Failure::new(INVALID_ARGUMENTS, format!("argument `result`: {e}")))
}

/// A [`Failure`] as the WIT `failure` record.
pub fn to_wire(failure: Failure) -> bindings::Failure {
    bindings::Failure {
        kind: failure.kind,
        message: failure.message,
        details: failure.details.map(|details| details.to_string()),
    }
}

/// A WIT `failure` record as a [`Failure`]. Details that are not valid JSON
/// are kept as a JSON string.
pub fn from_wire(failure: bindings::Failure) -> Failure {
    Failure {
        kind: failure.kind,
        message: failure.message,
        details: failure.details.map(json_or_string),
    }
}

/// `text` decoded as JSON, or as a JSON string when it is not valid JSON.
fn json_or_string(text: String) -> Value {
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

fn from_wire_atom(failure: bindings::AtomFailure) -> AtomFailure {
    AtomFailure {
        atom: failure.atom,
        failure: from_wire(failure.failure),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(value: Value) -> Args {
        Args::parse(&value.to_string()).expect("an object")
    }

    #[test]
    fn arguments_must_be_an_object() {
        for text in ["[1]", "3", "null", "{not json"] {
            let failure = Args::parse(text).expect_err(text);
            assert_eq!(failure.kind, INVALID_ARGUMENTS, "{text}");
        }
    }

    #[test]
    fn required_arguments_decode_or_fail_by_name() {
        let args = args(json!({ "x": 2, "s": "no" }));
        assert_eq!(args.required::<i64>("x"), Ok(2));
        let missing = args.required::<i64>("y").expect_err("missing");
        assert_eq!(missing.kind, INVALID_ARGUMENTS);
        assert!(missing.message.contains("`y`"), "{}", missing.message);
        let wrong = args.required::<i64>("s").expect_err("wrong type");
        assert!(
            wrong.message.starts_with("argument `s`: "),
            "{}",
            wrong.message
        );
    }

    #[test]
    fn optional_arguments_may_be_missing_or_null() {
        let args = args(json!({ "a": null, "b": 7 }));
        assert_eq!(args.optional::<Option<u8>>("a"), Ok(None));
        assert_eq!(args.optional::<Option<u8>>("b"), Ok(Some(7)));
        assert_eq!(args.optional::<Option<u8>>("c"), Ok(None));
    }

    #[test]
    fn execute_encodes_results_and_failures() {
        assert_eq!(execute("{}", |_| Ok(())).ok().as_deref(), Some("null"));
        let one = execute(r#"{"x":1}"#, |args| args.required::<i64>("x"));
        assert_eq!(one.ok().as_deref(), Some("1"));
        let failure = execute("{}", |_| -> Result<(), Failure> {
            Err(Failure::new("k", "m").with_details(json!({ "a": 1 })))
        })
        .expect_err("fails");
        assert_eq!(failure.kind, "k");
        assert_eq!(failure.details.as_deref(), Some(r#"{"a":1}"#));
    }

    #[test]
    fn unserializable_results_are_invalid() {
        let mut map = std::collections::HashMap::new();
        map.insert((1, 2), 3);
        let failure = execute("{}", |_| Ok(map)).expect_err("tuple keys");
        assert_eq!(failure.kind, INVALID_RESULT);
    }

    #[test]
    fn revert_decodes_result_and_flow_failures() {
        let wire = bindings::AtomFailure {
            atom: "pay".to_owned(),
            failure: bindings::Failure {
                kind: "payment.declined".to_owned(),
                message: "no".to_owned(),
                details: Some("not json".to_owned()),
            },
        };
        let outcome = revert(
            "{}",
            Some("5".to_owned()),
            vec![wire],
            |_, result, failures| {
                assert_eq!(previous_result::<Option<u8>>(result), Ok(Some(5)));
                assert_eq!(failures[0].atom, "pay");
                assert_eq!(failures[0].failure.details, Some(json!("not json")));
                Ok(())
            },
        );
        assert!(outcome.is_ok());
        assert_eq!(previous_result::<Option<u8>>(None), Ok(None));
    }

    #[test]
    fn failures_round_trip_through_the_wire() {
        let failure = Failure::new("a.b", "c").with_details(json!([1, "two"]));
        assert_eq!(from_wire(to_wire(failure.clone())), failure);
    }

    fn wire_history(values: &[&str]) -> retry_bindings::History {
        let attempt = |value: &&str| bindings::taskbox::plugin::types::Attempt {
            value: (*value).to_owned(),
            failures: vec![bindings::AtomFailure {
                atom: "fetch".to_owned(),
                failure: to_wire(Failure::new("net.timeout", "slow")),
            }],
        };
        retry_bindings::History {
            attempts: values.iter().map(attempt).collect(),
            failure: Some(to_wire(Failure::new("k", "m"))),
        }
    }

    #[test]
    fn history_comes_from_the_wire() {
        let history = from_wire_history(wire_history(&["1", r#"{"a":[2]}"#, "not json"]));
        let values: Vec<&Value> = history.attempts.iter().map(|a| &a.value).collect();
        assert_eq!(
            values,
            [&json!(1), &json!({ "a": [2] }), &json!("not json")]
        );
        assert_eq!(history.last_failures()[0].failure.kind, "net.timeout");
        assert_eq!(history.failure, Some(Failure::new("k", "m")));
    }

    #[test]
    fn retry_execute_and_revert_see_history_and_arguments() {
        let out = retry_execute(wire_history(&["1", "2"]), r#"{"n":3}"#, |history, args| {
            Ok(history.attempts.len() + args.required::<usize>("n")?)
        });
        assert_eq!(out.ok().as_deref(), Some("5"));
        let bad = retry_execute(wire_history(&[]), "[]", |_, _| Ok(())).expect_err("not an object");
        assert_eq!(bad.kind, INVALID_ARGUMENTS);
        let reverted = retry_call::<(), _>(wire_history(&["1"]), "{}", |history, _| {
            assert_eq!(history.attempts.len(), 1);
            Err(Failure::new("undo.failed", "no"))
        });
        assert_eq!(reverted.expect_err("fails").kind, "undo.failed");
    }

    #[test]
    fn on_failure_decides_or_reverts_everything_on_bad_arguments() {
        let decide = |args: &str| {
            retry_on_failure(wire_history(&["1"]), args, |history, args| {
                let budget: usize = args.required("budget")?;
                Ok(if history.attempts.len() < budget {
                    Decision::Retry
                } else {
                    Decision::Revert
                })
            })
        };
        assert!(matches!(
            decide(r#"{"budget":2}"#),
            retry_bindings::Decision::Retry
        ));
        assert!(matches!(
            decide(r#"{"budget":1}"#),
            retry_bindings::Decision::Revert
        ));
        for bad in ["{}", r#"{"budget":"two"}"#, "[1]", "{oops"] {
            assert!(
                matches!(decide(bad), retry_bindings::Decision::RevertAll),
                "{bad}"
            );
        }
    }

    #[test]
    fn decisions_map_onto_the_wire() {
        for (decision, wire) in [
            (Decision::Retry, retry_bindings::Decision::Retry),
            (Decision::Revert, retry_bindings::Decision::Revert),
            (Decision::RevertAll, retry_bindings::Decision::RevertAll),
        ] {
            assert_eq!(decision_to_wire(decision), wire);
        }
    }
}
