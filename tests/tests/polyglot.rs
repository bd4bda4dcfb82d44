//! Python and JavaScript plugins (built by `scripts/build-polyglot.sh` into
//! `TASKBOX_POLYGLOT_DIR`) next to the Rust ones: the mixed-language saga
//! behaves exactly like the Rust saga, reverts included; a Python retry
//! controller decides like the Rust one; the sandbox's limits hold for the
//! interpreters; and their compiled components come from the disk cache.
//!
//! Without `TASKBOX_POLYGLOT_DIR` every test fails, saying how to build the
//! plugins: `bash scripts/test.sh` builds them and sets it.

mod common;

use common::Recorder;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use taskbox::{
    Engine, EngineOptions, Event, FlowSpec, FlowState, Limits, NoObserver, Outcome, Plugin,
    PluginSet, Provides, Sandbox, SandboxConfig, SpecFormat, kinds,
};

/// The sandbox and plugin set every test shares, so that each component is
/// compiled (or read from the cache) once per run, not once per test.
struct Loaded {
    sandbox: Arc<Sandbox>,
    plugins: PluginSet,
}

fn loaded() -> &'static Loaded {
    static LOADED: OnceLock<Loaded> = OnceLock::new();
    // Outside the lock, so that a missing variable fails every test with
    // its own clear message.
    common::polyglot_dir();
    LOADED.get_or_init(|| {
        let sandbox = common::sandbox();
        let plugins = common::guests_and_polyglot(&sandbox);
        Loaded { sandbox, plugins }
    })
}

fn plugin(name: &str) -> &'static Plugin {
    loaded()
        .plugins
        .get(name)
        .unwrap_or_else(|| panic!("no plugin {name}; rebuild with scripts/build-polyglot.sh"))
}

/// A file of the repository, by its path from the root.
fn repo_file(path: &str) -> String {
    let path = format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn example(file: &str) -> String {
    repo_file(&format!("examples/{file}"))
}

fn parse(text: &str, origin: &str) -> FlowSpec {
    FlowSpec::parse(text, SpecFormat::Toml, origin).expect("spec parses")
}

/// Runs `spec` with `store` on top of its own, recording every event.
fn run(spec: &FlowSpec, store: Value) -> (Outcome, Recorder) {
    let loaded = loaded();
    let store: BTreeMap<String, Value> = serde_json::from_value(store).expect("store object");
    let engine = Engine::from_spec(
        loaded.sandbox.clone(),
        &loaded.plugins,
        spec,
        store,
        &EngineOptions::default(),
    )
    .expect("flow compiles");
    let recorder = Recorder::default();
    engine.subscribe(recorder.listener());
    (engine.run().expect("an in-memory run"), recorder)
}

/// Every event as JSON: transitions with results and failures, decisions,
/// progress and logs, in order.
fn events(recorder: &Recorder) -> Vec<Value> {
    recorder
        .events()
        .iter()
        .map(|e| serde_json::to_value(e).expect("events serialize"))
        .collect()
}

fn logs(recorder: &Recorder) -> Vec<String> {
    recorder
        .events()
        .iter()
        .filter_map(|e| match e {
            Event::Log { atom, message, .. } => Some(format!("{atom}: {message}")),
            _ => None,
        })
        .collect()
}

/// Runs the Rust saga and the mixed one with `store` and checks that they
/// did the same: same final state, failures and events, event for event.
fn same_as_rust_saga(store: Value) -> (Outcome, Recorder) {
    let (rust, rust_events) = run(&parse(&example("saga.toml"), "saga.toml"), store.clone());
    let (mixed, mixed_events) = run(&parse(&example("mixed.toml"), "mixed.toml"), store.clone());
    assert_eq!(mixed.state, rust.state, "{store}: {:?}", mixed.failures);
    assert_eq!(mixed.failures, rust.failures, "{store}");
    assert_eq!(events(&mixed_events), events(&rust_events), "{store}");
    let plugins: Vec<&str> = mixed.atoms.iter().map(|a| a.plugin.as_str()).collect();
    assert_eq!(
        plugins,
        ["reserve_stock_py", "charge_payment_js", "ship_order"]
    );
    (mixed, mixed_events)
}

#[test]
fn mixed_language_saga_succeeds_like_the_rust_one() {
    let (outcome, recorder) = same_as_rust_saga(json!({}));
    assert_eq!(outcome.state, FlowState::Success, "{:?}", outcome.failures);
    assert_eq!(
        outcome.fetch("reservation"),
        Some(&json!({"reservation_id": "rsv-widget-42-3", "sku": "widget-42", "quantity": 3}))
    );
    assert_eq!(
        outcome.fetch("payment"),
        Some(&json!({"payment_id": "pay-rsv-widget-42-3", "amount_cents": 12900}))
    );
    assert_eq!(
        outcome.fetch("shipment").map(|s| &s["country"]),
        Some(&json!("NL"))
    );
    assert_eq!(
        logs(&recorder)[..2],
        [
            "reserve: reserved 3 x widget-42 as rsv-widget-42-3",
            "charge: charged 129.00 to card ending 4242 as pay-rsv-widget-42-3"
        ]
    );
}

#[test]
fn mixed_language_saga_reverts_the_js_and_python_steps() {
    let (outcome, recorder) = same_as_rust_saga(json!({"country": "JP"}));
    assert_eq!(outcome.state, FlowState::Reverted);
    assert_eq!(
        outcome.failures[0].failure.kind,
        "shipping.unsupported-country"
    );
    // Ran in order, reverted in reverse order.
    let pairs = |atoms: &[&str], first: &str, then: &str| -> Vec<String> {
        atoms
            .iter()
            .flat_map(|atom| [format!("{atom}:{first}"), format!("{atom}:{then}")])
            .collect()
    };
    let mut expected = pairs(&["reserve", "charge"], "RUNNING", "SUCCESS");
    expected.extend(pairs(&["ship"], "RUNNING", "FAILURE"));
    expected.extend(pairs(
        &["ship", "charge", "reserve"],
        "REVERTING",
        "REVERTED",
    ));
    assert_eq!(recorder.transitions(), expected);
    let logs = logs(&recorder);
    assert_eq!(
        logs[logs.len() - 2..],
        [
            "charge: refunded 129.00 of payment pay-rsv-widget-42-3",
            "reserve: released reservation rsv-widget-42-3: 3 x widget-42 back in stock"
        ]
    );
}

#[test]
fn python_and_js_failures_match_the_rust_ones() {
    let cases = [
        (json!({"card": "4000-0000-0000-0002"}), "payment.declined"),
        (json!({"amount_cents": 500_001}), "payment.limit-exceeded"),
        (json!({"quantity": 0}), "stock.unavailable"),
        (json!({"quantity": 101}), "stock.unavailable"),
    ];
    for (store, kind) in cases {
        let (outcome, _) = same_as_rust_saga(store.clone());
        assert_eq!(outcome.state, FlowState::Reverted, "{store}");
        assert_eq!(outcome.failures[0].failure.kind, kind, "{store}");
        assert!(outcome.failures[0].failure.details.is_some(), "{store}");
    }
    // Arguments are checked by the SDK as the Rust SDK checks them.
    let (outcome, _) = run(
        &parse(&example("mixed.toml"), "mixed.toml"),
        json!({"sku": 42}),
    );
    let failure = &outcome.failures[0];
    assert_eq!(
        (failure.atom.as_str(), failure.failure.kind.as_str()),
        ("reserve", kinds::INVALID_ARGUMENTS)
    );
    assert!(failure.failure.message.contains("`sku`"), "{failure:?}");
}

#[test]
fn python_retry_controller_decides_like_the_rust_one() {
    let rust = parse(&example("transient.toml"), "transient.toml");
    let text = example("transient.toml").replace(
        r#"plugin = "transient_retry""#,
        r#"plugin = "transient_retry_py""#,
    );
    assert_ne!(text, example("transient.toml"), "transient.toml changed");
    let python = parse(&text, "transient.toml with transient_retry_py");
    for store in [json!({}), json!({"fail_until": 9})] {
        let (rust_outcome, rust_events) = run(&rust, store.clone());
        let (py_outcome, py_events) = run(&python, store.clone());
        assert_eq!(py_outcome.state, rust_outcome.state, "{store}");
        assert_eq!(events(&py_events), events(&rust_events), "{store}");
    }
    let (outcome, recorder) = run(&python, json!({}));
    assert_eq!(
        outcome.fetch("page").map(|p| &p["attempt"]),
        Some(&json!(3))
    );
    let decisions = recorder
        .events()
        .iter()
        .filter(|e| matches!(e, Event::Decision { .. }))
        .count();
    assert_eq!(decisions, 2);
}

#[test]
fn sdk_templates_run_as_docs_plugins_md_shows() {
    let mut streams = Vec::new();
    for template in ["sdk/python/template/hello_py", "sdk/js/template/hello_js"] {
        let spec = parse(&repo_file(&format!("{template}/flow.toml")), template);
        let (outcome, _) = run(&spec, json!({}));
        assert_eq!(
            outcome.state,
            FlowState::Success,
            "{template}: {:?}",
            outcome.failures
        );
        assert_eq!(outcome.fetch("greeting"), Some(&json!("Hello, world!")));
        assert_eq!(outcome.fetch("quotient"), Some(&json!(42)));

        let (outcome, recorder) = run(&spec, json!({"denominator": 0}));
        assert_eq!(outcome.state, FlowState::Reverted, "{template}");
        assert_eq!(outcome.failures[0].atom, "divide");
        assert_eq!(
            logs(&recorder),
            [
                "greet: greeted world",
                r#"greet: took back "Hello, world!""#
            ],
            "{template}"
        );
        streams.push(events(&recorder));

        let (outcome, _) = run(&spec, json!({"name": " "}));
        assert_eq!(
            outcome.failures[0].failure.kind, "greet.nobody",
            "{template}"
        );
    }
    assert_eq!(
        streams[0], streams[1],
        "the Python and JavaScript templates differ"
    );
}

#[test]
fn describe_reports_what_the_sdk_derived() {
    let reserve = plugin("reserve_stock_py").info();
    assert_eq!(reserve.name, "reserve-stock");
    assert_eq!(reserve.requires, ["sku", "quantity"]);
    assert!(reserve.optional.is_empty());
    assert_eq!(reserve.provides, Provides::Single("reservation".into()));
    assert!(
        reserve.description.contains("stock.unavailable"),
        "{}",
        reserve.description
    );

    let charge = plugin("charge_payment_js").info();
    assert_eq!(charge.name, "charge-payment");
    assert_eq!(charge.requires, ["reservation", "card", "amount_cents"]);
    assert_eq!(charge.provides, Provides::Single("payment".into()));

    let retry = plugin("transient_retry_py");
    assert!(retry.is_retry());
    assert!(retry.info().requires.is_empty());
    assert_eq!(retry.info().optional, ["budget", "transient"]);
    assert_eq!(retry.info().provides, Provides::Single("attempt".into()));

    let spin = plugin("spin_py").info();
    assert!(spin.requires.is_empty() && spin.optional.is_empty());
}

#[test]
fn python_infinite_loop_ends_in_limit_timeout() {
    let limits = Limits {
        timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let started = Instant::now();
    let result = loaded().sandbox.execute(
        plugin("spin_py"),
        &json!({}),
        &limits.into(),
        Arc::new(NoObserver),
    );
    let failure = result.expect_err("spin_py never returns");
    assert_eq!(failure.kind, kinds::TIMEOUT, "{failure}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // The host goes on running Python afterwards.
    let reserved = loaded().sandbox.execute(
        plugin("reserve_stock_py"),
        &json!({"sku": "a", "quantity": 1}),
        &Limits::default().into(),
        Arc::new(NoObserver),
    );
    assert_eq!(
        reserved.map(|r| r["reservation_id"].clone()),
        Ok(json!("rsv-a-1"))
    );
}

/// Runs one call of the saga step `name` under a memory cap of `mib` MiB.
fn call_with_memory(name: &str, mib: u64) -> Result<Value, taskbox::Failure> {
    let args = match name {
        "reserve_stock_py" => json!({"sku": "a", "quantity": 1}),
        _ => json!({"reservation": {"reservation_id": "r"}, "card": "1234", "amount_cents": 1}),
    };
    let limits = Limits {
        memory_bytes: mib << 20,
        ..Limits::default()
    };
    loaded()
        .sandbox
        .execute(plugin(name), &args, &limits.into(), Arc::new(NoObserver))
}

#[test]
fn interpreters_start_at_their_documented_memory_minimum_and_not_far_below() {
    // docs/plugins.md#memory: Python needs 14 MiB, JavaScript 10 MiB.
    for (name, minimum) in [("reserve_stock_py", 14), ("charge_payment_js", 10)] {
        let ok = call_with_memory(name, minimum);
        assert!(ok.is_ok(), "{name} at {minimum} MiB: {ok:?}");
        let failure = call_with_memory(name, minimum / 2).expect_err("below the minimum");
        assert_eq!(failure.kind, kinds::MEMORY, "{name}: {failure}");
    }
}

#[test]
fn second_load_comes_from_the_compiled_component_cache() {
    let path = common::polyglot_dir().join("charge_payment_js.wasm");
    let cache = tempfile::tempdir().expect("tempdir");
    let config = SandboxConfig {
        cache_dir: Some(cache.path().to_path_buf()),
        ..SandboxConfig::default()
    };
    let load = || {
        let sandbox = Sandbox::new(&config).expect("sandbox");
        let started = Instant::now();
        let plugin = sandbox.load_file(&path, &Limits::default()).expect("loads");
        (plugin, started.elapsed())
    };
    let (first, compile) = load();
    let (second, cached) = load();
    eprintln!(
        "charge_payment_js ({} bytes): first load {compile:.1?}, cached load {cached:.1?}",
        first.size()
    );
    assert!(!first.from_cache());
    assert!(second.from_cache());
    assert_eq!(first.hash(), second.hash());
    assert!(
        cached * 10 < compile,
        "a cached load ({cached:?}) should be far cheaper than compiling ({compile:?})"
    );
}
