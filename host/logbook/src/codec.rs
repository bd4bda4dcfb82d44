//! Postcard encoding of the records. postcard is compact and fast but not
//! self-describing, so JSON values (results, failure details, histories)
//! travel inside the records as JSON text. Enum variants are encoded by
//! position: reordering a state enum is a schema change.

use crate::error::LogbookError;
use crate::record::{AtomDetail, AtomKind, FlowDetail, FlowId, LogBook, Transition};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use taskbox_model::{AtomFailure, AtomState, Failure, FlowState, Grants, History, Intention};

#[derive(Serialize, Deserialize)]
struct FailureWire {
    kind: String,
    message: String,
    details: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct AtomFailureWire {
    atom: String,
    failure: FailureWire,
}

#[derive(Serialize, Deserialize)]
struct BookWire {
    created_ms: u64,
    meta: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize)]
struct FlowWire {
    book: String,
    name: String,
    state: FlowState,
    phase: FlowState,
    failures: Vec<AtomFailureWire>,
    created_ms: u64,
    updated_ms: u64,
    meta: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize)]
struct AtomWire {
    name: String,
    kind: AtomKind,
    plugin: String,
    plugin_hash: String,
    version: String,
    state: AtomState,
    intention: Intention,
    result: Option<String>,
    failure: Option<FailureWire>,
    revert_failure: Option<FailureWire>,
    history: Option<String>,
    started_ms: Option<u64>,
    finished_ms: Option<u64>,
    elapsed_us: Option<u64>,
    /// JSON text; `None` when nothing is granted.
    grants: Option<String>,
    meta: BTreeMap<String, String>,
}

fn corrupt(what: &'static str, message: impl std::fmt::Display) -> LogbookError {
    LogbookError::Corrupt {
        what,
        message: message.to_string(),
    }
}

fn json_text(value: &impl Serialize) -> String {
    // Serializing a JSON value or a history to text cannot fail: every map
    // key is a string.
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_string())
}

fn from_json<T: DeserializeOwned>(what: &'static str, text: &str) -> Result<T, LogbookError> {
    serde_json::from_str(text).map_err(|e| corrupt(what, e))
}

fn failure_wire(failure: &Failure) -> FailureWire {
    FailureWire {
        kind: failure.kind.clone(),
        message: failure.message.clone(),
        details: failure.details.as_ref().map(json_text),
    }
}

fn failure_from(what: &'static str, wire: FailureWire) -> Result<Failure, LogbookError> {
    Ok(Failure {
        kind: wire.kind,
        message: wire.message,
        details: wire
            .details
            .map(|d| from_json::<Value>(what, &d))
            .transpose()?,
    })
}

fn encode(what: &'static str, wire: &impl Serialize) -> Result<Vec<u8>, LogbookError> {
    postcard::to_stdvec(wire).map_err(|e| corrupt(what, e))
}

fn decode<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T, LogbookError> {
    postcard::from_bytes(bytes).map_err(|e| corrupt(what, e))
}

pub(crate) fn encode_book(book: &LogBook) -> Result<Vec<u8>, LogbookError> {
    encode(
        "logbook",
        &BookWire {
            created_ms: book.created_ms,
            meta: book.meta.clone(),
        },
    )
}

pub(crate) fn decode_book(name: &str, bytes: &[u8]) -> Result<LogBook, LogbookError> {
    let wire: BookWire = decode("logbook", bytes)?;
    Ok(LogBook {
        name: name.to_string(),
        created_ms: wire.created_ms,
        meta: wire.meta,
    })
}

pub(crate) fn encode_flow(flow: &FlowDetail) -> Result<Vec<u8>, LogbookError> {
    encode(
        "flow",
        &FlowWire {
            book: flow.book.clone(),
            name: flow.name.clone(),
            state: flow.state,
            phase: flow.phase,
            failures: flow
                .failures
                .iter()
                .map(|f| AtomFailureWire {
                    atom: f.atom.clone(),
                    failure: failure_wire(&f.failure),
                })
                .collect(),
            created_ms: flow.created_ms,
            updated_ms: flow.updated_ms,
            meta: flow.meta.clone(),
        },
    )
}

/// Decodes the flow record of flow `id`; arbitrary bytes give an error.
pub fn decode_flow(id: FlowId, bytes: &[u8]) -> Result<FlowDetail, LogbookError> {
    let wire: FlowWire = decode("flow", bytes)?;
    Ok(FlowDetail {
        id,
        book: wire.book,
        name: wire.name,
        state: wire.state,
        phase: wire.phase,
        failures: wire
            .failures
            .into_iter()
            .map(|f| {
                Ok(AtomFailure {
                    atom: f.atom,
                    failure: failure_from("flow failure", f.failure)?,
                })
            })
            .collect::<Result<_, LogbookError>>()?,
        created_ms: wire.created_ms,
        updated_ms: wire.updated_ms,
        meta: wire.meta,
    })
}

pub(crate) fn encode_atom(atom: &AtomDetail) -> Result<Vec<u8>, LogbookError> {
    encode(
        "atom",
        &AtomWire {
            name: atom.name.clone(),
            kind: atom.kind,
            plugin: atom.plugin.clone(),
            plugin_hash: atom.plugin_hash.clone(),
            version: atom.version.clone(),
            state: atom.state,
            intention: atom.intention,
            result: atom.result.as_ref().map(json_text),
            failure: atom.failure.as_ref().map(failure_wire),
            revert_failure: atom.revert_failure.as_ref().map(failure_wire),
            history: atom.history.as_ref().map(json_text),
            started_ms: atom.started_ms,
            finished_ms: atom.finished_ms,
            elapsed_us: atom.elapsed_us,
            grants: (!atom.grants.is_empty()).then(|| json_text(&atom.grants)),
            meta: atom.meta.clone(),
        },
    )
}

/// Decodes the record of atom `index`; arbitrary bytes give an error.
pub fn decode_atom(index: u32, bytes: &[u8]) -> Result<AtomDetail, LogbookError> {
    let wire: AtomWire = decode("atom", bytes)?;
    Ok(AtomDetail {
        index,
        name: wire.name,
        kind: wire.kind,
        plugin: wire.plugin,
        plugin_hash: wire.plugin_hash,
        version: wire.version,
        state: wire.state,
        intention: wire.intention,
        result: wire
            .result
            .map(|r| from_json("atom result", &r))
            .transpose()?,
        failure: wire
            .failure
            .map(|f| failure_from("atom failure", f))
            .transpose()?,
        revert_failure: wire
            .revert_failure
            .map(|f| failure_from("atom revert failure", f))
            .transpose()?,
        history: wire
            .history
            .map(|h| from_json::<History>("retry history", &h))
            .transpose()?,
        started_ms: wire.started_ms,
        finished_ms: wire.finished_ms,
        elapsed_us: wire.elapsed_us,
        grants: wire
            .grants
            .map(|g| from_json::<Grants>("atom grants", &g))
            .transpose()?
            .unwrap_or_default(),
        meta: wire.meta,
    })
}

pub(crate) fn encode_transition(transition: &Transition) -> Result<Vec<u8>, LogbookError> {
    encode("transition", transition)
}

/// Decodes a transition record; arbitrary bytes give an error.
pub fn decode_transition(bytes: &[u8]) -> Result<Transition, LogbookError> {
    decode("transition", bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use taskbox_model::{Attempt, Decision};

    fn sample_atom() -> AtomDetail {
        let mut atom = AtomDetail::pending(3, "charge", AtomKind::Retry, "transient_retry");
        atom.plugin_hash = "ab12".into();
        atom.state = AtomState::Failure;
        atom.intention = Intention::Revert;
        atom.result = Some(serde_json::json!({"a": [1, 2.5, null]}));
        atom.failure = Some(
            Failure::new("payment.declined", "no funds")
                .with_details(serde_json::json!({"code": 51})),
        );
        atom.history = Some(History {
            attempts: vec![Attempt {
                value: serde_json::json!(1),
                failures: vec![AtomFailure {
                    atom: "x".into(),
                    failure: Failure::new("k", "m"),
                }],
            }],
            failure: None,
        });
        atom.started_ms = Some(5);
        atom.meta.insert("k".into(), "v".into());
        atom.grants.env.insert("LANG".into(), "C".into());
        atom.grants.wall_clock = true;
        atom
    }

    #[test]
    fn atoms_round_trip() {
        let atom = sample_atom();
        let bytes = encode_atom(&atom).expect("encode");
        assert_eq!(decode_atom(3, &bytes).expect("decode"), atom);
    }

    #[test]
    fn transitions_round_trip() {
        let t = Transition {
            at_ms: 9,
            kind: crate::TransitionKind::Decision {
                retry: 1,
                atom: 2,
                decision: Decision::RevertAll,
            },
        };
        let bytes = encode_transition(&t).expect("encode");
        assert_eq!(decode_transition(&bytes).expect("decode"), t);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let bytes = encode_atom(&sample_atom()).expect("encode");
        for cut in 0..bytes.len() {
            assert!(
                decode_atom(0, &bytes[..cut]).is_err(),
                "prefix of {cut} bytes"
            );
        }
        let err = decode_flow(FlowId(1), &[0xff; 40]).expect_err("garbage");
        assert!(err.to_string().contains("corrupt flow record"), "{err}");
    }
}
