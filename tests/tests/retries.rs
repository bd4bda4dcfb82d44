//! Retry controllers through the public API with real guests: builtins and
//! WASM controllers are interchangeable, failure kinds from the sandbox reach
//! controllers, decisions and histories are what TaskFlow prescribes.

mod common;

use common::Recorder;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use taskbox::{
    AtomState, Clock, Decision, Delay, Engine, EngineOptions, Event, Flow, FlowSpec, FlowState,
    LimitOverrides, Outcome, Retry, SpecFormat, Task,
};

fn run(flow: &Flow, store: Value, options: EngineOptions) -> (Outcome, Recorder) {
    let sandbox = common::sandbox();
    let plugins = common::guests(&sandbox);
    let store: BTreeMap<String, Value> = serde_json::from_value(store).expect("store object");
    let engine = Engine::new(sandbox, &plugins, flow, store, &options).expect("flow compiles");
    let recorder = Recorder::default();
    engine.subscribe(recorder.listener());
    (engine.run().expect("an in-memory run"), recorder)
}

fn spec(file: &str) -> FlowSpec {
    let path = format!("{}/../examples/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("example file");
    FlowSpec::parse(&text, SpecFormat::Toml, file).expect("example parses")
}

fn run_spec(spec: &FlowSpec, store: Value) -> (Outcome, Recorder) {
    let mut spec = spec.clone();
    let extra: BTreeMap<String, Value> = serde_json::from_value(store).expect("store object");
    spec.store.extend(extra);
    run(
        &spec.flow,
        serde_json::to_value(&spec.store).expect("store"),
        EngineOptions::default(),
    )
}

fn decisions(recorder: &Recorder) -> Vec<String> {
    recorder
        .events()
        .iter()
        .filter_map(|e| match e {
            Event::Decision {
                retry,
                atom,
                decision,
            } => Some(format!("{retry}({atom})={decision}")),
            _ => None,
        })
        .collect()
}

fn history_of(outcome: &Outcome, retry: &str) -> taskbox::History {
    outcome
        .atom(retry)
        .and_then(|a| a.history.clone())
        .expect("retry history")
}

#[test]
fn for_each_fails_over_to_the_next_server() {
    let (outcome, recorder) = run_spec(&spec("failover.toml"), json!({}));
    assert_eq!(outcome.state, FlowState::Success, "{:?}", outcome.failures);
    assert_eq!(
        outcome.fetch("connection").map(|c| c["ip"].clone()),
        Some(json!("10.0.0.3"))
    );
    assert_eq!(
        decisions(&recorder),
        ["servers(connect)=RETRY", "servers(connect)=RETRY"]
    );
    let history = history_of(&outcome, "servers");
    let tried: Vec<&Value> = history.attempts.iter().map(|a| &a.value).collect();
    assert_eq!(
        tried,
        [&json!("10.0.0.1"), &json!("10.0.0.2"), &json!("10.0.0.3")]
    );
    assert_eq!(
        history.attempts[0].failures[0].failure.kind,
        "net.unreachable"
    );
    let transitions = recorder.transitions();
    let retrying = transitions
        .iter()
        .filter(|t| *t == "servers:RETRYING")
        .count();
    assert_eq!(retrying, 2, "{transitions:?}");
}

#[test]
fn for_each_out_of_servers_reverts() {
    let (outcome, recorder) = run_spec(
        &spec("failover.toml"),
        json!({"down": ["10.0.0.1", "10.0.0.2", "10.0.0.3"]}),
    );
    assert_eq!(outcome.state, FlowState::Reverted);
    assert_eq!(
        decisions(&recorder),
        [
            "servers(connect)=RETRY",
            "servers(connect)=RETRY",
            "servers(connect)=REVERT"
        ]
    );
    assert_eq!(outcome.failures[0].failure.kind, "net.unreachable");
}

#[test]
fn wasm_controller_retries_transient_failures_within_its_budget() {
    let (outcome, recorder) = run_spec(&spec("transient.toml"), json!({}));
    assert_eq!(outcome.state, FlowState::Success, "{:?}", outcome.failures);
    assert_eq!(
        outcome.fetch("page").map(|p| p["attempt"].clone()),
        Some(json!(3))
    );
    assert_eq!(
        decisions(&recorder),
        ["budget(fetch)=RETRY", "budget(fetch)=RETRY"]
    );

    let (outcome, recorder) = run_spec(&spec("transient.toml"), json!({"fail_until": 9}));
    assert_eq!(outcome.state, FlowState::Reverted);
    assert_eq!(
        decisions(&recorder),
        [
            "budget(fetch)=RETRY",
            "budget(fetch)=RETRY",
            "budget(fetch)=RETRY",
            "budget(fetch)=REVERT"
        ]
    );
}

#[test]
fn builtin_and_wasm_controllers_are_interchangeable_in_a_flow_file() {
    let mut builtin = spec("transient.toml");
    let text = std::fs::read_to_string(format!(
        "{}/../examples/transient.toml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("example");
    let swapped = text.replace(
        r#"retry = { name = "budget", plugin = "transient_retry", inject = { budget = 4 }, provides = "attempt" }"#,
        r#"retry = { name = "budget", kind = "times", attempts = 4, provides = "attempt" }"#,
    );
    assert_ne!(
        text, swapped,
        "the example's retry line changed; update this test"
    );
    builtin.flow = FlowSpec::parse(&swapped, SpecFormat::Toml, "swapped.toml")
        .expect("parses")
        .flow;
    let (wasm, _) = run_spec(&spec("transient.toml"), json!({}));
    let (native, _) = run_spec(&builtin, json!({}));
    assert_eq!(wasm.state, native.state);
    assert_eq!(wasm.fetch("page"), native.fetch("page"));
    let values = |o: &Outcome| {
        history_of(o, "budget")
            .attempts
            .iter()
            .map(|a| a.value.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(values(&wasm), values(&native));
}

#[test]
fn non_transient_failures_are_reverted_at_once() {
    let flow = Flow::linear("f").flow(
        Flow::linear("scope")
            .retry(Retry::plugin("budget", "transient_retry"))
            .task(Task::new("boom", "hostile").inject("mode", json!("fail"))),
    );
    let (outcome, recorder) = run(&flow, json!({}), EngineOptions::default());
    assert_eq!(outcome.state, FlowState::Reverted);
    assert_eq!(decisions(&recorder), ["budget(boom)=REVERT"]);
}

#[test]
fn sandbox_failure_kinds_reach_the_controller() {
    let spin = Task::new("spin", "hostile")
        .inject("mode", json!("loop"))
        .limits(LimitOverrides {
            timeout: Some(Duration::from_millis(100)),
            ..LimitOverrides::default()
        });
    let flow = Flow::linear("f").flow(
        Flow::linear("scope")
            .retry(Retry::plugin("budget", "transient_retry").inject("budget", json!(2)))
            .task(spin),
    );
    let (outcome, recorder) = run(&flow, json!({}), EngineOptions::default());
    assert_eq!(outcome.state, FlowState::Reverted);
    // limit.timeout is transient: retried once, then the budget is spent.
    assert_eq!(
        decisions(&recorder),
        ["budget(spin)=RETRY", "budget(spin)=REVERT"]
    );
    let history = history_of(&outcome, "budget");
    assert!(
        history.attempts.is_empty(),
        "a reverted retry forgets its history"
    );
    assert_eq!(outcome.failures[0].failure.kind, "limit.timeout");
}

#[test]
fn a_controller_receives_the_history_the_host_recorded() {
    // hostile_retry provides `history.attempts.len() + 1` and decides RETRY:
    // the task sees 1, fails, then sees 2 only if the plugin got the history.
    let flow = Flow::linear("f").flow(
        Flow::linear("scope")
            .retry(Retry::plugin("counter", "hostile_retry").provides("attempt"))
            .task(Task::new("flaky", "flaky_fetch").inject("fail_until", json!(2))),
    );
    let (outcome, recorder) = run(&flow, json!({}), EngineOptions::default());
    assert_eq!(outcome.state, FlowState::Success, "{:?}", outcome.failures);
    assert_eq!(decisions(&recorder), ["counter(flaky)=RETRY"]);
    let history = history_of(&outcome, "counter");
    let values: Vec<&Value> = history.attempts.iter().map(|a| &a.value).collect();
    assert_eq!(values, [&json!(1), &json!(2)]);
    assert_eq!(history.attempts[0].failures[0].atom, "flaky");
    assert_eq!(history.attempts[0].failures[0].failure.kind, "net.timeout");
    assert!(history.attempts[1].failures.is_empty());
}

/// `first` (an add), then a scope governed by `retry` whose only atom fails.
fn guarded(retry: Retry) -> Flow {
    Flow::linear("f")
        .task(
            Task::new("first", "add")
                .inject("x", json!(1))
                .inject("y", json!(1)),
        )
        .flow(
            Flow::linear("scope")
                .retry(retry)
                .task(Task::new("boom", "hostile").inject("mode", json!("fail"))),
        )
}

#[test]
fn a_controller_that_traps_in_on_failure_reverts_everything() {
    let flow =
        guarded(Retry::plugin("broken", "hostile_retry").inject("mode", json!("trap-on-failure")));
    let (outcome, recorder) = run(&flow, json!({}), EngineOptions::default());
    assert_eq!(outcome.state, FlowState::Reverted);
    assert_eq!(decisions(&recorder), ["broken(boom)=REVERT_ALL"]);
    assert_eq!(
        outcome.atom("first").map(|a| a.state),
        Some(AtomState::Reverted)
    );
    let logged = recorder.events().iter().any(|e| {
        matches!(e, Event::Log { atom, message, .. } if atom == "broken" && message.contains("on_failure failed"))
    });
    assert!(logged);
}

#[test]
fn plugin_decisions_are_obeyed() {
    for (decision, first_state) in [
        ("revert", AtomState::Success),
        ("revert-all", AtomState::Reverted),
    ] {
        let flow = guarded(Retry::plugin("r", "hostile_retry").inject("decision", json!(decision)));
        let (outcome, _) = run(&flow, json!({}), EngineOptions::default());
        assert_eq!(outcome.state, FlowState::Reverted, "{decision}");
        assert_eq!(
            outcome.atom("first").map(|a| a.state),
            Some(first_state),
            "{decision}"
        );
    }
}

/// Records the pauses instead of sleeping.
#[derive(Default)]
struct RecordingClock(Mutex<Vec<Duration>>);

impl Clock for RecordingClock {
    fn sleep(&self, duration: Duration) {
        if let Ok(mut slept) = self.0.lock() {
            slept.push(duration);
        }
    }
}

#[test]
fn backoff_between_attempts_uses_the_injected_clock() {
    let clock = Arc::new(RecordingClock::default());
    let retry = Retry::times("r", 4)
        .provides("attempt")
        .delay(Delay::Exponential {
            initial: Duration::from_secs(1),
            factor: 3.0,
            max: Duration::from_secs(5),
        });
    let flow = Flow::linear("f").flow(
        Flow::linear("scope")
            .retry(retry)
            .task(Task::new("fetch", "flaky_fetch").inject("fail_until", json!(4))),
    );
    let options = EngineOptions {
        clock: clock.clone(),
        ..EngineOptions::default()
    };
    let started = std::time::Instant::now();
    let (outcome, _) = run(&flow, json!({}), options);
    assert_eq!(outcome.state, FlowState::Success, "{:?}", outcome.failures);
    let slept = clock.0.lock().map(|s| s.clone()).unwrap_or_default();
    assert_eq!(
        slept,
        [
            Duration::from_secs(1),
            Duration::from_secs(3),
            Duration::from_secs(5)
        ]
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the test clock must not sleep"
    );
}

#[test]
fn decisions_have_the_taskflow_names() {
    assert_eq!(Decision::RevertAll.to_string(), "REVERT_ALL");
}
