//! A retry controller that misbehaves or decides on request, for the host's
//! tests.
//!
//! It implements the generated retry `Guest` trait directly instead of using
//! `#[retry]`, so that it sees the history exactly as the host sent it and
//! can break the contract. Every argument is optional: `mode`, `decision`
//! and `value`. It provides its `execute` result under `attempt`.
//!
//! `execute`, by `mode`:
//!
//! | mode | behaviour |
//! | --- | --- |
//! | `fail-execute` | fails with kind `test.retry-failed` |
//! | `loop` | spins forever |
//! | `echo-history` | returns the history it received, as JSON (below) |
//! | anything else, or none | returns `value` when given, else the attempt number (`attempts.len() + 1`) |
//!
//! `on-failure`, by `mode`:
//!
//! | mode | behaviour |
//! | --- | --- |
//! | `trap-on-failure` | panics |
//! | `loop-on-failure` | spins forever |
//! | anything else, or none | decides `decision`: `"retry"` (the default), `"revert"` or `"revert-all"`; any other value logs an error and decides `revert-all` |
//!
//! `revert` fails with kind `test.revert-failed` for mode `revert-fail`,
//! panics for mode `revert-trap` and succeeds otherwise.
//!
//! Arguments that are not a JSON object fail `execute` and `revert` with kind
//! `invalid-arguments` and make `on-failure` decide `revert-all`.
//!
//! The echoed history is
//! `{"attempts":[{"value":V,"failures":[{"atom":A,"failure":{"kind":K,"message":M}}]}],"failure":F}`
//! where each `V` is the attempt's value decoded from its JSON text (the text
//! as a JSON string if it is not valid JSON), a failure has a `"details"` key
//! only when it has details (decoded the same way), and `F` is the
//! controller's own failure or `null`.

use serde_json::{Map, Value, json};
use std::hint::black_box;
use taskbox_sdk::__private::bindings::taskbox::plugin::host::{self, Level};
use taskbox_sdk::__private::bindings::taskbox::plugin::types::{AtomFailure, Provides};
use taskbox_sdk::__private::retry_bindings::{
    self, Decision, Failure, Guest, History, Json, TaskInfo,
};

/// The exported retry controller.
struct HostileRetry;

retry_bindings::export!(HostileRetry);

impl Guest for HostileRetry {
    fn describe() -> TaskInfo {
        TaskInfo {
            name: "hostile-retry".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            description: "Misbehaves or decides on request, for the host's retry tests.".to_owned(),
            requires: Vec::new(),
            optional: ["decision", "mode", "value"].map(str::to_owned).to_vec(),
            provides: Provides::Single("attempt".to_owned()),
        }
    }

    fn execute(history: History, args: Json) -> Result<Json, Failure> {
        let args = parse(&args)?;
        let output = match mode(&args) {
            "fail-execute" => {
                return Err(failure(
                    "test.retry-failed",
                    "asked to fail in execute".to_owned(),
                ));
            }
            "loop" => spin(),
            "echo-history" => echo(&history),
            _ => match args.get("value") {
                Some(value) => value.clone(),
                None => json!(history.attempts.len() + 1),
            },
        };
        Ok(output.to_string())
    }

    fn revert(_history: History, args: Json) -> Result<(), Failure> {
        match mode(&parse(&args)?) {
            "revert-fail" => Err(failure(
                "test.revert-failed",
                "asked to fail in revert".to_owned(),
            )),
            "revert-trap" => panic!("asked to trap in revert"),
            _ => Ok(()),
        }
    }

    fn on_failure(_history: History, args: Json) -> Decision {
        let args = match parse(&args) {
            Ok(args) => args,
            Err(failure) => {
                host::log(
                    Level::Error,
                    &format!("{}; deciding revert-all", failure.message),
                );
                return Decision::RevertAll;
            }
        };
        match mode(&args) {
            "trap-on-failure" => panic!("asked to trap in on-failure"),
            "loop-on-failure" => spin(),
            _ => {}
        }
        match args.get("decision").and_then(Value::as_str) {
            None | Some("retry") => Decision::Retry,
            Some("revert") => Decision::Revert,
            Some("revert-all") => Decision::RevertAll,
            Some(other) => {
                host::log(
                    Level::Error,
                    &format!("unknown decision {other:?}; deciding revert-all"),
                );
                Decision::RevertAll
            }
        }
    }
}

/// The arguments as a JSON object.
fn parse(args: &str) -> Result<Map<String, Value>, Failure> {
    match serde_json::from_str(args) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(failure(
            "invalid-arguments",
            "arguments are not an object".to_owned(),
        )),
        Err(e) => Err(failure("invalid-arguments", e.to_string())),
    }
}

/// The `mode` argument, or `""`.
fn mode(args: &Map<String, Value>) -> &str {
    args.get("mode").and_then(Value::as_str).unwrap_or_default()
}

fn failure(kind: &str, message: String) -> Failure {
    Failure {
        kind: kind.to_owned(),
        message,
        details: None,
    }
}

/// The history as the JSON the crate docs describe.
fn echo(history: &History) -> Value {
    let attempts: Vec<Value> = history
        .attempts
        .iter()
        .map(|attempt| {
            json!({
                "value": decode(&attempt.value),
                "failures": attempt.failures.iter().map(echo_atom_failure).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "attempts": attempts,
        "failure": history.failure.as_ref().map(echo_failure),
    })
}

fn echo_atom_failure(failure: &AtomFailure) -> Value {
    json!({ "atom": failure.atom, "failure": echo_failure(&failure.failure) })
}

fn echo_failure(failure: &Failure) -> Value {
    let mut echoed = json!({ "kind": failure.kind, "message": failure.message });
    if let Some(details) = &failure.details {
        echoed["details"] = decode(details);
    }
    echoed
}

/// `text` decoded as JSON, or as a JSON string when it is not valid JSON.
fn decode(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// Spins forever; `black_box` keeps the optimizer from removing the loop.
fn spin() -> ! {
    let mut counter = 0_u64;
    loop {
        counter = black_box(counter.wrapping_add(1));
    }
}
