//! Durable runs through the library: every change in the logbook, resume
//! after a (simulated) crash, suspend, plugin pinning.

mod common;

use common::Recorder;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use taskbox::{
    AtomState, Engine, EngineError, EngineOptions, Event, Flow, FlowId, FlowState, Logbook, Mode,
    Outcome, PluginSet, PowerCut, RedbLogbook, ResumeOptions, Retry, Sandbox, Task, TransitionKind,
};

struct Setup {
    sandbox: Arc<Sandbox>,
    plugins: PluginSet,
}

fn setup() -> Setup {
    let sandbox = common::sandbox();
    let plugins = common::guests(&sandbox);
    Setup { sandbox, plugins }
}

fn store(value: Value) -> BTreeMap<String, Value> {
    serde_json::from_value(value).expect("store object")
}

/// A chain of `n` adds: each adds 1 to the previous sum.
fn chain(n: usize) -> Flow {
    let mut flow = Flow::linear("chain");
    for i in 0..n {
        let from = if i == 0 {
            "start".to_string()
        } else {
            format!("s{}", i - 1)
        };
        flow = flow.task(
            Task::new(format!("add{i}"), "add")
                .rebind("x", &from)
                .inject("y", 1.into())
                .provides(format!("s{i}")),
        );
    }
    flow
}

fn recorded(
    setup: &Setup,
    logbook: Arc<dyn Logbook>,
    flow: &Flow,
    values: Value,
    mode: Mode,
) -> Engine {
    let options = EngineOptions {
        mode,
        ..EngineOptions::default()
    };
    Engine::new(
        setup.sandbox.clone(),
        &setup.plugins,
        flow,
        store(values),
        &options,
    )
    .expect("compiles")
    .record(logbook, "tests", BTreeMap::new())
    .expect("records")
}

#[test]
fn a_durable_run_persists_every_atom_and_its_story() {
    let setup = setup();
    let logbook: Arc<dyn Logbook> = Arc::new(RedbLogbook::in_memory().expect("logbook"));
    let engine = recorded(
        &setup,
        logbook.clone(),
        &chain(5),
        json!({"start": 10}),
        Mode::Serial,
    );
    let id = engine.flow_id().expect("recorded");
    let outcome = engine.run().expect("runs");
    assert_eq!(outcome.state, FlowState::Success);
    assert_eq!(outcome.fetch("s4"), Some(&json!(15)));
    let flow = logbook.flow(id).expect("flow");
    assert_eq!(flow.state, FlowState::Success);
    let atoms = logbook.atoms(id).expect("atoms");
    assert!(atoms.iter().all(|a| a.state == AtomState::Success));
    assert_eq!(atoms[4].result, Some(json!(15)));
    assert!(atoms.iter().all(|a| a.plugin_hash.starts_with("sha256:")));
    let story = logbook.transitions(id).expect("transitions");
    // PENDING -> RUNNING -> SUCCESS for the flow and every atom.
    assert_eq!(story.len(), 2 + 5 * 2, "{story:?}");
    // Running it again returns the recorded outcome without running anything.
    let again = engine.run().expect("runs");
    assert_eq!(again.fetch("s4"), Some(&json!(15)));
    assert_eq!(
        logbook.transitions(id).expect("transitions").len(),
        story.len()
    );
}
