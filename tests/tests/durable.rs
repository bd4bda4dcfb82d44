//! Durable runs through the library: every change in the logbook, resume
//! after a (simulated) crash, suspend, plugin pinning.

mod common;

use common::durable::{
    Setup, assert_none_rerun, chain, essence, recorded, reference, resume, scenarios, setup,
    succeeded, suspend_after,
};
use serde_json::json;
use std::sync::Arc;
use taskbox::{
    AtomState, Engine, EngineError, Event, FlowState, Logbook, Mode, PowerCut, RedbLogbook,
    ResumeOptions, TransitionKind,
};

/// A serial chain of `n` adds from `start`, recorded in an in-memory logbook.
fn in_memory_chain(setup: &Setup, n: usize, start: i64) -> (Arc<dyn Logbook>, Engine) {
    let logbook: Arc<dyn Logbook> = Arc::new(RedbLogbook::in_memory().expect("logbook"));
    let values = json!({ "start": start });
    let engine = recorded(setup, logbook.clone(), &chain(n), values, Mode::Serial);
    (logbook, engine)
}

#[test]
fn a_durable_run_persists_every_atom_and_its_story() {
    let setup = setup();
    let (logbook, engine) = in_memory_chain(&setup, 5, 10);
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

#[test]
fn a_power_cut_at_any_sync_resumes_to_the_same_outcome() {
    let setup = setup();
    let mut cuts = 0;
    for scenario in scenarios() {
        let before = cuts;
        let (reference, _) = reference(&setup, &scenario);
        for cut in 1.. {
            let disk = PowerCut::new();
            let logbook: Arc<dyn Logbook> =
                Arc::new(RedbLogbook::with_backend(disk.clone(), "disk").expect("logbook"));
            let engine = recorded(
                &setup,
                logbook,
                &scenario.flow,
                scenario.store.clone(),
                scenario.mode,
            );
            let id = engine.flow_id().expect("recorded");
            disk.cut_at_sync(cut);
            let ran = engine.run();
            if !disk.is_cut() {
                assert_eq!(
                    essence(&ran.expect("uncut run")),
                    reference,
                    "{}",
                    scenario.name
                );
                eprintln!("{}: {} power cuts resumed", scenario.name, cuts - before);
                break;
            }
            let err = ran.expect_err("a cut run fails");
            assert!(matches!(err, EngineError::Logbook(_)), "{err}");
            drop(engine);
            cuts += 1;
            for (image, kind) in [
                (disk.durable_image(), "lost"),
                (disk.written_image(), "written"),
            ] {
                let context = format!(
                    "{} cut at sync {cut}, unsynced writes {kind}",
                    scenario.name
                );
                let logbook: Arc<dyn Logbook> = Arc::new(
                    RedbLogbook::with_backend(PowerCut::from_image(image), "disk")
                        .unwrap_or_else(|e| panic!("{context}: reopen: {e}")),
                );
                let done = succeeded(logbook.as_ref(), id);
                let (outcome, recorder) = resume(&setup, logbook, id);
                assert_eq!(essence(&outcome), reference, "{context}");
                assert_none_rerun(&done, &recorder, &context);
            }
        }
    }
    assert!(cuts >= 40, "only {cuts} cuts");
}

#[test]
fn suspend_stops_starting_atoms_and_resume_finishes_the_flow() {
    let setup = setup();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("book.redb");
    let id = {
        let logbook: Arc<dyn Logbook> = Arc::new(RedbLogbook::open(&path).expect("logbook"));
        let engine = recorded(
            &setup,
            logbook.clone(),
            &chain(5),
            json!({"start": 0}),
            Mode::Serial,
        );
        suspend_after(&engine, "add1");
        let outcome = engine.run().expect("runs");
        assert_eq!(outcome.state, FlowState::Suspended);
        assert!(!outcome.succeeded());
        let id = engine.flow_id().expect("recorded");
        let flow = logbook.flow(id).expect("flow");
        assert_eq!(flow.state, FlowState::Suspended);
        let states: Vec<AtomState> = logbook
            .atoms(id)
            .expect("atoms")
            .iter()
            .map(|a| a.state)
            .collect();
        use AtomState::{Pending, Success};
        assert_eq!(states, [Success, Success, Pending, Pending, Pending]);
        id
    };
    // Another process resumes it from the file.
    let logbook: Arc<dyn Logbook> = Arc::new(RedbLogbook::open(&path).expect("reopen"));
    let (outcome, recorder) = resume(&setup, logbook.clone(), id);
    assert_eq!(outcome.state, FlowState::Success);
    assert_eq!(outcome.fetch("s4"), Some(&json!(5)));
    assert_none_rerun(&["add0".into(), "add1".into()], &recorder, "resume");
    let flows: Vec<String> = recorder
        .events()
        .iter()
        .filter_map(|e| match e {
            Event::Flow { to, .. } => Some(to.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(flows, ["RESUMING", "RUNNING", "SUCCESS"]);
    let story = logbook.transitions(id).expect("transitions");
    assert!(story.iter().any(|t| matches!(
        t.kind,
        TransitionKind::Flow {
            from: FlowState::Running,
            to: FlowState::Suspending
        }
    )));
}

#[test]
fn a_changed_plugin_is_refused_on_resume_unless_accepted() {
    let setup = setup();
    let (logbook, engine) = in_memory_chain(&setup, 2, 0);
    engine.suspend();
    assert_eq!(engine.run().expect("runs").state, FlowState::Suspended);
    let id = engine.flow_id().expect("recorded");
    let recorded_hash = logbook.atoms(id).expect("atoms")[0].plugin_hash.clone();
    // Same name, other component: "add" is now multiply's code.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(taskbox_tests::MULTIPLY, dir.path().join("add.wasm")).expect("copy");
    let changed = setup
        .sandbox
        .load_dir(dir.path(), &taskbox::Limits::default())
        .expect("loads");
    let current = changed.get("add").expect("add").hash().to_string();
    let err = Engine::resume(
        setup.sandbox.clone(),
        &changed,
        logbook.clone(),
        id,
        &ResumeOptions::default(),
    )
    .expect_err("changed plugin");
    let text = err.to_string();
    for needle in ["'add0'", &recorded_hash, &current] {
        assert!(text.contains(needle), "{needle} missing from: {text}");
    }
    let accept = ResumeOptions {
        accept_changed_plugins: true,
        ..ResumeOptions::default()
    };
    let engine = Engine::resume(
        setup.sandbox.clone(),
        &changed,
        logbook.clone(),
        id,
        &accept,
    )
    .expect("accepted");
    let outcome = engine.run().expect("runs");
    assert_eq!(outcome.state, FlowState::Success);
    // 0 * 1 then * 1 with multiply's code.
    assert_eq!(outcome.fetch("s1"), Some(&json!(0)));
    let atom = &logbook.atoms(id).expect("atoms")[0];
    assert_eq!(atom.plugin_hash, current);
    assert_eq!(atom.meta["previous_plugin_hash"], recorded_hash);
}
