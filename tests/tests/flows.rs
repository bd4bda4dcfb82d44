//! Flows of real guests through the library: results, revert order,
//! hostile atoms inside flows, provides forms, the parallel engine.

mod common;

use common::Recorder;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;
use taskbox::{
    AtomState, Engine, EngineOptions, Event, Flow, FlowSpec, FlowState, LimitOverrides, Mode,
    Outcome, Provides, SpecFormat, Task, kinds,
};

fn run_flow(flow: &Flow, store: Value, mode: Mode) -> (Outcome, Recorder) {
    let sandbox = common::sandbox();
    let plugins = common::guests(&sandbox);
    let store: BTreeMap<String, Value> = serde_json::from_value(store).expect("store object");
    let options = EngineOptions {
        mode,
        ..EngineOptions::default()
    };
    let engine = Engine::new(sandbox, &plugins, flow, store, &options).expect("flow compiles");
    let recorder = Recorder::default();
    engine.subscribe(recorder.listener());
    (engine.run().expect("an in-memory run"), recorder)
}

fn state_of(outcome: &Outcome, atom: &str) -> Option<AtomState> {
    outcome.atom(atom).map(|a| a.state)
}

fn saga() -> Flow {
    Flow::linear("order")
        .task(Task::new("reserve", "reserve_stock"))
        .task(Task::new("charge", "charge_payment"))
        .task(Task::new("ship", "ship_order"))
}

fn order(country: &str) -> Value {
    json!({"sku": "widget-42", "quantity": 3, "card": "4242-4242-4242-4242", "amount_cents": 12900, "country": country})
}

#[test]
fn saga_succeeds_and_results_are_fetchable() {
    let (outcome, recorder) = run_flow(&saga(), order("NL"), Mode::Serial);
    assert_eq!(outcome.state, FlowState::Success, "{:?}", outcome.failures);
    let shipment = outcome.fetch("shipment").expect("shipment");
    assert_eq!(shipment["country"], "NL");
    assert!(outcome.fetch("payment").is_some() && outcome.fetch("reservation").is_some());
    assert_eq!(outcome.fetch("sku"), Some(&json!("widget-42")));
    assert_eq!(
        recorder.transitions(),
        [
            "reserve:RUNNING",
            "reserve:SUCCESS",
            "charge:RUNNING",
            "charge:SUCCESS",
            "ship:RUNNING",
            "ship:SUCCESS"
        ]
    );
    assert!(
        outcome
            .atoms
            .iter()
            .all(|a| a.plugin_hash.starts_with("sha256:"))
    );
}

#[test]
fn saga_failure_reverts_every_step_in_reverse_order() {
    let (outcome, recorder) = run_flow(&saga(), order("JP"), Mode::Serial);
    assert_eq!(outcome.state, FlowState::Reverted);
    assert_eq!(outcome.failures.len(), 1);
    assert_eq!(outcome.failures[0].atom, "ship");
    assert_eq!(
        outcome.failures[0].failure.kind,
        "shipping.unsupported-country"
    );
    assert_eq!(
        recorder.transitions()[5..],
        [
            "ship:FAILURE",
            "ship:REVERTING",
            "ship:REVERTED",
            "charge:REVERTING",
            "charge:REVERTED",
            "reserve:REVERTING",
            "reserve:REVERTED"
        ]
    );
    // Reverted results are gone; the reverts logged what they undid.
    assert_eq!(outcome.fetch("payment"), None);
    let logs: Vec<String> = recorder
        .events()
        .iter()
        .filter_map(|e| match e {
            Event::Log { atom, message, .. } => Some(format!("{atom}: {message}")),
            _ => None,
        })
        .collect();
    assert!(logs.iter().any(|l| l.starts_with("charge:")), "{logs:?}");
    assert!(logs.iter().any(|l| l.starts_with("reserve:")), "{logs:?}");
}

#[test]
fn declined_card_reverts_only_the_reservation() {
    let mut store = order("NL");
    store["card"] = json!("4000-0000-0000-0002");
    let (outcome, _) = run_flow(&saga(), store, Mode::Serial);
    assert_eq!(outcome.state, FlowState::Reverted);
    assert_eq!(state_of(&outcome, "reserve"), Some(AtomState::Reverted));
    assert_eq!(state_of(&outcome, "charge"), Some(AtomState::Reverted));
    assert_eq!(state_of(&outcome, "ship"), Some(AtomState::Pending));
    assert_eq!(outcome.failures[0].failure.kind, "payment.declined");
}

fn arithmetic() -> FlowSpec {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/arithmetic.toml"
    ))
    .expect("examples/arithmetic.toml");
    FlowSpec::parse(&text, SpecFormat::Toml, "arithmetic.toml").expect("spec parses")
}

fn run_spec(spec: &FlowSpec, store: Value, mode: Mode) -> Outcome {
    let sandbox = common::sandbox();
    let plugins = common::guests(&sandbox);
    let store: BTreeMap<String, Value> = serde_json::from_value(store).expect("store object");
    let options = EngineOptions {
        mode,
        ..EngineOptions::default()
    };
    Engine::from_spec(sandbox, &plugins, spec, store, &options)
        .expect("compiles")
        .run()
        .expect("an in-memory run")
}

#[test]
fn graph_spec_runs_on_both_engines() {
    for mode in [Mode::Serial, Mode::Parallel { workers: 2 }] {
        let outcome = run_spec(&arithmetic(), json!({}), mode);
        assert_eq!(
            outcome.state,
            FlowState::Success,
            "{mode:?}: {:?}",
            outcome.failures
        );
        assert_eq!(outcome.fetch("answer"), Some(&json!(210)), "{mode:?}");
    }
}

#[test]
fn division_by_zero_reverts_the_sum() {
    let outcome = run_spec(
        &arithmetic(),
        json!({"d": 0}),
        Mode::Parallel { workers: 2 },
    );
    assert_eq!(outcome.state, FlowState::Reverted);
    assert_eq!(outcome.failures[0].failure.kind, "math.division-by-zero");
    assert_eq!(state_of(&outcome, "product"), Some(AtomState::Pending));
    assert_eq!(state_of(&outcome, "sum"), Some(AtomState::Reverted));
}

#[test]
fn a_looping_atom_times_out_and_the_flow_reverts() {
    let looping = Task::new("spin", "hostile")
        .inject("mode", json!("loop"))
        .limits(LimitOverrides {
            timeout: Some(Duration::from_millis(200)),
            ..LimitOverrides::default()
        });
    let flow = Flow::linear("f")
        .task(
            Task::new("first", "add")
                .inject("x", json!(1))
                .inject("y", json!(2)),
        )
        .task(looping);
    let (outcome, _) = run_flow(&flow, json!({}), Mode::Serial);
    assert_eq!(outcome.state, FlowState::Reverted);
    assert_eq!(outcome.failures[0].failure.kind, kinds::TIMEOUT);
    assert_eq!(state_of(&outcome, "first"), Some(AtomState::Reverted));
}

#[test]
fn a_failing_revert_ends_the_flow_in_failure() {
    let flow = Flow::linear("f")
        .task(Task::new("stubborn", "hostile").inject("mode", json!("revert-fail")))
        .task(
            Task::new("boom", "hostile")
                .inject("mode", json!("fail"))
                .provides("other"),
        );
    let (outcome, recorder) = run_flow(&flow, json!({}), Mode::Serial);
    assert_eq!(outcome.state, FlowState::Failure);
    let stubborn = outcome.atom("stubborn").expect("stubborn");
    assert_eq!(stubborn.state, AtomState::RevertFailure);
    assert_eq!(
        stubborn.revert_failure.as_ref().map(|f| f.kind.as_str()),
        Some("test.revert-failed")
    );
    assert!(
        recorder
            .transitions()
            .contains(&"stubborn:REVERT_FAILURE".to_string())
    );
}

#[test]
fn positional_and_keyed_provides_unpack_results() {
    let flow = Flow::linear("f")
        .task(
            Task::new("pair", "hostile")
                .inject("mode", json!("ok"))
                .inject("value", json!([6, 7]))
                .provides_as(Provides::Positional(vec!["x".into(), "y".into()])),
        )
        .task(
            Task::new("keyed", "hostile")
                .inject("mode", json!("ok"))
                .inject("value", json!({"total": 5, "extra": true}))
                .provides_as(Provides::Keyed(BTreeMap::from([(
                    "z".to_string(),
                    "total".to_string(),
                )]))),
        )
        .task(Task::new("product", "multiply").provides("p"))
        .task(Task::new("sum", "add").rebind("y", "z").provides("s"));
    let (outcome, _) = run_flow(&flow, json!({}), Mode::Serial);
    assert_eq!(outcome.state, FlowState::Success, "{:?}", outcome.failures);
    assert_eq!(outcome.fetch("p"), Some(&json!(42)));
    assert_eq!(outcome.fetch("s"), Some(&json!(11)));
}

#[test]
fn a_result_missing_a_promised_key_fails_the_atom() {
    let flow = Flow::linear("f").task(
        Task::new("keyed", "hostile")
            .inject("mode", json!("ok"))
            .inject("value", json!({"other": 1}))
            .provides_as(Provides::Keyed(BTreeMap::from([(
                "z".to_string(),
                "total".to_string(),
            )]))),
    );
    let (outcome, _) = run_flow(&flow, json!({}), Mode::Serial);
    assert_eq!(outcome.state, FlowState::Reverted);
    assert_eq!(outcome.failures[0].failure.kind, kinds::INVALID_RESULT);
    assert!(outcome.failures[0].failure.message.contains("'total'"));
}

#[test]
fn progress_is_published() {
    let flow = Flow::linear("f").task(Task::new("p", "hostile").inject("mode", json!("progress")));
    let (outcome, recorder) = run_flow(&flow, json!({}), Mode::Serial);
    assert!(outcome.succeeded());
    let fractions: Vec<f32> = recorder
        .events()
        .iter()
        .filter_map(|e| match e {
            Event::Progress { fraction, .. } => Some(*fraction),
            _ => None,
        })
        .collect();
    assert_eq!(fractions, [0.25, 0.5, 1.0]);
}

#[test]
fn parallel_engine_runs_a_wide_unordered_flow() {
    let mut inner = Flow::unordered("wide");
    for i in 0..40 {
        inner = inner.task(
            Task::new(format!("t{i}"), "add")
                .inject("x", json!(i))
                .inject("y", json!(i))
                .provides(format!("s{i}")),
        );
    }
    let flow = Flow::linear("f").flow(inner);
    let (outcome, _) = run_flow(&flow, json!({}), Mode::Parallel { workers: 4 });
    assert_eq!(outcome.state, FlowState::Success, "{:?}", outcome.failures);
    for i in 0..40 {
        assert_eq!(outcome.fetch(&format!("s{i}")), Some(&json!(2 * i)));
    }
}
