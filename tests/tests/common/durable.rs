//! Shared by the durability tests: flows to crash, what must match after a
//! resume, and the check that no succeeded atom runs twice.

use super::Recorder;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use taskbox::{
    AtomState, Engine, EngineOptions, Event, Flow, FlowId, FlowSpec, Intention, Logbook, Mode,
    Outcome, PluginSet, ResumeOptions, Sandbox, SpecFormat, Task,
};

pub struct Setup {
    pub sandbox: Arc<Sandbox>,
    pub plugins: PluginSet,
}

pub fn setup() -> Setup {
    let sandbox = super::sandbox();
    let plugins = super::guests(&sandbox);
    Setup { sandbox, plugins }
}

pub fn store(value: Value) -> BTreeMap<String, Value> {
    serde_json::from_value(value).expect("store object")
}

/// A chain of `n` adds: each adds 1 to the previous sum.
pub fn chain(n: usize) -> Flow {
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

pub fn recorded(
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

pub fn spec(file: &str) -> FlowSpec {
    let path = format!("{}/../examples/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("example file");
    FlowSpec::parse(&text, SpecFormat::Toml, file).expect("example parses")
}

/// A flow to crash: what it runs, on which engine, with which store.
pub struct Scenario {
    pub name: &'static str,
    pub flow: Flow,
    pub store: Value,
    pub mode: Mode,
}

pub fn scenarios() -> Vec<Scenario> {
    let failover = spec("failover.toml");
    let saga = spec("saga.toml");
    let wide = (0..4).fold(Flow::unordered("wide"), |wide, i| {
        wide.flow(
            Flow::linear(format!("lane{i}"))
                .task(
                    Task::new(format!("a{i}"), "add")
                        .inject("x", i.into())
                        .inject("y", 1.into())
                        .provides(format!("a{i}")),
                )
                .task(
                    Task::new(format!("m{i}"), "multiply")
                        .rebind("x", format!("a{i}"))
                        .inject("y", 10.into())
                        .provides(format!("m{i}")),
                ),
        )
    });
    let mut saga_store = serde_json::to_value(&saga.store).expect("store");
    saga_store["country"] = json!("JP");
    vec![
        Scenario {
            name: "chain",
            flow: chain(6),
            store: json!({"start": 1}),
            mode: Mode::Serial,
        },
        Scenario {
            name: "saga reverting",
            flow: saga.flow.clone(),
            store: saga_store.clone(),
            mode: Mode::Serial,
        },
        Scenario {
            name: "saga reverting, parallel",
            flow: saga.flow,
            store: saga_store,
            mode: Mode::Parallel { workers: 2 },
        },
        Scenario {
            name: "failover retries",
            flow: failover.flow,
            store: serde_json::to_value(&failover.store).expect("store"),
            mode: Mode::Serial,
        },
        Scenario {
            name: "wide, parallel",
            flow: wide,
            store: json!({}),
            mode: Mode::Parallel { workers: 2 },
        },
    ]
}

/// What must match between an uninterrupted run and a resumed one.
pub fn essence(outcome: &Outcome) -> Value {
    let atoms: Vec<Value> = outcome
        .atoms
        .iter()
        .map(|a| {
            json!({
                "name": a.name, "state": a.state, "result": a.result, "failure": a.failure,
                "revert_failure": a.revert_failure, "history": a.history,
            })
        })
        .collect();
    json!({"state": outcome.state, "atoms": atoms, "values": outcome.fetch_all()})
}

/// Suspends `engine` once `atom` has succeeded.
pub fn suspend_after(engine: &Engine, atom: &str) {
    let suspender = engine.suspender();
    let atom = atom.to_string();
    engine.subscribe(move |event| {
        if let Event::Atom {
            atom: name,
            to: AtomState::Success,
            ..
        } = event
            && *name == atom
        {
            suspender.suspend();
        }
    });
}

/// Atoms the logbook holds as done: SUCCESS, intending to execute.
pub fn succeeded(logbook: &dyn Logbook, id: FlowId) -> Vec<String> {
    logbook
        .atoms(id)
        .expect("atoms")
        .into_iter()
        .filter(|a| a.state == AtomState::Success && a.intention == Intention::Execute)
        .map(|a| a.name)
        .collect()
}

/// Fails when an atom in `done` runs again before being reverted or retried.
pub fn assert_none_rerun(done: &[String], recorder: &Recorder, context: &str) {
    let mut undone = Vec::new();
    for event in recorder.events() {
        if let Event::Atom { atom, to, .. } = event {
            match to {
                AtomState::Reverting | AtomState::Retrying | AtomState::Pending => {
                    undone.push(atom)
                }
                AtomState::Running => assert!(
                    !done.contains(&atom) || undone.contains(&atom),
                    "{context}: SUCCESS atom {atom} executed again"
                ),
                _ => {}
            }
        }
    }
}

pub fn resume(setup: &Setup, logbook: Arc<dyn Logbook>, id: FlowId) -> (Outcome, Recorder) {
    let engine = Engine::resume(
        setup.sandbox.clone(),
        &setup.plugins,
        logbook,
        id,
        &ResumeOptions::default(),
    )
    .expect("resumes");
    let recorder = Recorder::default();
    engine.subscribe(recorder.listener());
    (engine.run().expect("resumed run"), recorder)
}

/// An uninterrupted run of `scenario`: its essence and how many events it
/// published.
pub fn reference(setup: &Setup, scenario: &Scenario) -> (Value, usize) {
    let logbook: Arc<dyn Logbook> = Arc::new(taskbox::RedbLogbook::in_memory().expect("logbook"));
    let engine = recorded(
        setup,
        logbook,
        &scenario.flow,
        scenario.store.clone(),
        scenario.mode,
    );
    let recorder = Recorder::default();
    engine.subscribe(recorder.listener());
    let outcome = engine.run().expect("reference run");
    (essence(&outcome), recorder.events().len())
}
