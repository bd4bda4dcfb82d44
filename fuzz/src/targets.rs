//! What is fuzzed: each target decodes one kind of untrusted input.

use std::collections::BTreeSet;
use taskbox::{FlowId, FlowSpec, JobPayload, SpecFormat, SpecOnly, compile};
use taskbox_logbook::{decode_atom, decode_flow, decode_transition};

/// One decoder under test.
pub struct Target {
    /// Its name on the command line.
    pub name: &'static str,
    /// What it reads.
    pub about: &'static str,
    /// Inputs to start from.
    pub seeds: fn() -> Vec<Vec<u8>>,
    /// Decodes one input: true when it was accepted. Must never panic.
    pub run: fn(&[u8]) -> bool,
}

/// Every target.
pub const TARGETS: &[Target] = &[
    Target {
        name: "spec-toml",
        about: "a flow spec in TOML, parsed and compiled",
        seeds: toml_specs,
        run: |bytes| spec(bytes, SpecFormat::Toml),
    },
    Target {
        name: "spec-json",
        about: "a flow spec in JSON, parsed and compiled",
        seeds: json_specs,
        run: |bytes| spec(bytes, SpecFormat::Json),
    },
    Target {
        name: "payload",
        about: "a job payload (JSON)",
        seeds: payloads,
        run: |bytes| JobPayload::from_json(&String::from_utf8_lossy(bytes)).is_ok(),
    },
    Target {
        name: "logbook",
        about: "logbook records (atom, flow and transition), postcard",
        seeds: records,
        run: |bytes| {
            let atom = decode_atom(0, bytes).is_ok();
            let flow = decode_flow(FlowId(1), bytes).is_ok();
            let transition = decode_transition(bytes).is_ok();
            atom || flow || transition
        },
    },
];

/// Parses a spec and compiles its flow against the spec alone.
fn spec(bytes: &[u8], format: SpecFormat) -> bool {
    let Ok(spec) = FlowSpec::parse(&String::from_utf8_lossy(bytes), format, "fuzz") else {
        return false;
    };
    let names: BTreeSet<String> = spec.store.keys().cloned().collect();
    compile(&spec.flow, &SpecOnly, &names, &spec.limits).is_ok()
}

const EXAMPLES: [&str; 5] = [
    include_str!("../../examples/arithmetic.toml"),
    include_str!("../../examples/failover.toml"),
    include_str!("../../examples/mixed.toml"),
    include_str!("../../examples/saga.toml"),
    include_str!("../../examples/transient.toml"),
];

const JSON_SPEC: &str = r#"{
  "flow": "order", "pattern": "graph",
  "store": {"a": 1, "b": [1, 2.5, "x"], "c": {"d": null}},
  "limits": {"memory": "64MiB", "timeout": "2s"},
  "retry": {"name": "r", "kind": "times", "attempts": 3, "provides": "attempt"},
  "children": [
    {"task": "sum", "plugin": "add", "rebind": {"x": "a", "y": "a"}, "priority": 3},
    {"flow": "inner", "pattern": "unordered",
     "retry": {"name": "each", "kind": "for_each", "values": [1, 2]},
     "children": [{"task": "t", "plugin": "p", "inject": {"v": true}, "provides": ["p1", "p2"]}]}
  ]
}"#;

fn toml_specs() -> Vec<Vec<u8>> {
    EXAMPLES.iter().map(|s| s.as_bytes().to_vec()).collect()
}

fn json_specs() -> Vec<Vec<u8>> {
    vec![JSON_SPEC.as_bytes().to_vec()]
}

fn payloads() -> Vec<Vec<u8>> {
    let spec = EXAMPLES[0]
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    vec![
        format!(
            r#"{{"name": "n", "flow": {{"spec": "{spec}", "format": "toml"}}, "plugins": [{{"name": "add", "hash": "sha256:00"}}], "store": {{"d": 0}}, "engine": {{"mode": "parallel", "workers": 2, "defer_reverts": true}}, "limits": {{"memory": "1MiB", "timeout": "250ms", "result_size": 10, "log_messages": 3}}}}"#
        )
        .into_bytes(),
        br#"{"flow": {"file": "a.toml"}}"#.to_vec(),
    ]
}

fn records() -> Vec<Vec<u8>> {
    // Short runs of small varints and lengths, the shape of postcard.
    vec![
        vec![0; 16],
        vec![1, 4, b'n', b'a', b'm', b'e', 0, 0, 1, 2, 3],
        (0u8..64).collect(),
    ]
}
