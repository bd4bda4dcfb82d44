//! The SIGKILL crash harness: a child process (`crash-child`) runs a
//! recorded flow and freezes at its K-th event; the harness kills it with
//! SIGKILL, checks the database opens cleanly, resumes the flow, and checks
//! the outcome equals an uninterrupted run and that no atom the logbook held
//! as SUCCESS executed again. Every event of every scenario is a kill point;
//! every fourth also kills the resumed run (a second crash) before resuming.

mod common;

use common::durable::{assert_none_rerun, essence, reference, resume, scenarios, setup, succeeded};
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;
use taskbox::{FlowId, RedbLogbook};

/// Runs `crash-child`; when it reports `PAUSED`, SIGKILLs it and returns
/// the flow id. `None` when the run ended before event `pause`.
fn kill_at(db: &Path, scenario: &str, pause: usize, what: &str) -> Option<FlowId> {
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("component-cache");
    let mut child = Command::new(env!("CARGO_BIN_EXE_crash-child"))
        .arg(db)
        .arg(cache)
        .args([scenario, &pause.to_string(), what])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn crash-child");
    let stdout = child.stdout.take().expect("stdout");
    let line = BufReader::new(stdout)
        .lines()
        .next()
        .and_then(Result::ok)
        .unwrap_or_default();
    if let Some(id) = line.strip_prefix("PAUSED ") {
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        return Some(id.parse().expect("flow id"));
    }
    let status = child.wait().expect("reap");
    assert!(
        status.success() && line.starts_with("DONE "),
        "crash-child failed: {status}, said {line:?}"
    );
    None
}

#[test]
fn sigkill_at_every_transition_then_resume_matches_an_uninterrupted_run() {
    let setup = setup();
    let started = Instant::now();
    let mut kills = 0;
    for scenario in scenarios() {
        let (reference, events) = reference(&setup, &scenario);
        let spec = json!({"flow": scenario.flow, "store": scenario.store, "mode": scenario.mode})
            .to_string();
        let before = kills;
        for pause in 1..=events {
            let dir = tempfile::tempdir().expect("tempdir");
            let db = dir.path().join("book.redb");
            let Some(id) = kill_at(&db, &spec, pause, "start") else {
                continue;
            };
            kills += 1;
            let context = format!("{}: killed at event {pause}", scenario.name);
            if pause % 4 == 0 && kill_at(&db, &spec, 3, &format!("resume:{id}")).is_some() {
                kills += 1;
            }
            let logbook = RedbLogbook::open(&db)
                .unwrap_or_else(|e| panic!("{context}: the database does not open: {e}"));
            let done = succeeded(&logbook, id);
            let (outcome, recorder) = resume(&setup, Arc::new(logbook), id);
            assert_eq!(essence(&outcome), reference, "{context}");
            assert_none_rerun(&done, &recorder, &context);
            RedbLogbook::open(&db)
                .unwrap_or_else(|e| panic!("{context}: the database does not reopen: {e}"));
        }
        eprintln!(
            "{}: {} kills over {events} events",
            scenario.name,
            kills - before
        );
    }
    eprintln!("{kills} SIGKILLs in {:.1?}", started.elapsed());
    assert!(kills >= 100, "only {kills} kill points");
}
