//! The `taskbox` binary end to end: run (plain, JSON, failure exit code),
//! validate, plugins, graph, errors naming the bad input, the logbook
//! commands, resume, and Ctrl-C suspending a run.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

/// A logbook file of its own for every call that does not name one, so
/// tests never share one (redb allows one process at a time) nor touch the
/// user's data directory.
fn fresh_db() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-db");
    std::fs::create_dir_all(&dir).expect("db dir");
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let path = dir.join(format!("{}-{n}.redb", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

fn command(args: &[&str]) -> Command {
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-cache");
    let mut command = Command::new(env!("CARGO_BIN_EXE_taskbox"));
    command
        .args(args)
        .env("TASKBOX_DB", fresh_db())
        .arg("--cache-dir")
        .arg(cache);
    command
}

fn taskbox(args: &[&str]) -> Output {
    command(args).output().expect("run taskbox")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const GUESTS: &str = taskbox_tests::GUEST_DIR;

/// `taskbox COMMAND <repo>/FILE --plugins GUESTS EXTRA...`
fn on_flow(command: &str, file: &str, extra: &[&str]) -> Output {
    let path = repo(file);
    let mut args = vec![
        command,
        path.to_str().unwrap_or_default(),
        "--plugins",
        GUESTS,
    ];
    args.extend_from_slice(extra);
    taskbox(&args)
}

#[test]
fn run_saga_succeeds_and_prints_transitions_and_results() {
    let out = on_flow("run", "examples/saga.toml", &[]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("reserve: PENDING -> RUNNING"), "{stderr}");
    assert!(
        stderr.contains("flow order: RUNNING -> SUCCESS"),
        "{stderr}"
    );
    assert!(stdout.contains("flow order: SUCCESS"), "{stdout}");
    assert!(stdout.contains("shipment = "), "{stdout}");
}

#[test]
fn failing_saga_reverts_and_exits_non_zero() {
    let out = on_flow("run", "examples/saga.toml", &["--store", "country=JP"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("flow order: REVERTED"), "{stdout}");
    assert!(stdout.contains("shipping.unsupported-country"), "{stdout}");
    let reverted = [
        "ship: REVERTING -> REVERTED",
        "charge: REVERTING -> REVERTED",
        "reserve: REVERTING -> REVERTED",
    ];
    let positions: Vec<usize> = reverted
        .iter()
        .map(|r| stderr.find(r).unwrap_or(usize::MAX))
        .collect();
    assert!(
        positions
            .windows(2)
            .all(|w| w[0] < w[1] && w[1] != usize::MAX),
        "{stderr}"
    );
}

#[test]
fn json_mode_prints_one_event_per_line_and_a_summary() {
    let out = on_flow(
        "run",
        "examples/arithmetic.toml",
        &["--json", "--engine", "parallel", "--workers", "2"],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    let last = lines.last().expect("summary");
    assert_eq!(last["event"], "summary");
    assert_eq!(last["state"], "SUCCESS");
    assert_eq!(last["results"]["answer"], 210);
    assert!(
        lines
            .iter()
            .any(|l| l["event"] == "atom" && l["to"] == "SUCCESS")
    );
}

#[test]
fn validate_reports_success_and_names_bad_atoms() {
    let out = on_flow("validate", "examples/saga.toml", &[]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(text(&out).0.contains("is valid: 3 atoms, 2 edges"));

    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "flow = \"f\"\n[[children]]\ntask = \"d\"\nplugin = \"divide\"\n",
    )
    .expect("write");
    let out = taskbox(&[
        "validate",
        bad.to_str().unwrap_or_default(),
        "--plugins",
        GUESTS,
    ]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("atom 'd' requires 'numerator'"), "{stderr}");

    std::fs::write(
        &bad,
        "flow = \"f\"\n[[children]]\ntask = \"d\"\nplugin = \"nothing\"\n",
    )
    .expect("write");
    let (_, stderr) = text(&taskbox(&[
        "validate",
        bad.to_str().unwrap_or_default(),
        "--plugins",
        GUESTS,
    ]));
    assert!(stderr.contains("plugin 'nothing'"), "{stderr}");

    std::fs::write(&bad, "flow = \"f\"\nchildren = 3\n").expect("write");
    let (_, stderr) = text(&taskbox(&[
        "validate",
        bad.to_str().unwrap_or_default(),
        "--plugins",
        GUESTS,
    ]));
    assert!(stderr.contains("bad.toml"), "{stderr}");
}

#[test]
fn plugins_lists_describe_and_hash() {
    let out = taskbox(&["plugins", GUESTS]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("divide") && stdout.contains("requires: numerator, denominator"),
        "{stdout}"
    );
    assert!(stdout.contains("hash:     sha256:"), "{stdout}");
    let out = taskbox(&["plugins", GUESTS, "--json"]);
    let listing: Value = serde_json::from_slice(&out.stdout).expect("JSON listing");
    assert!(listing["plugins"].as_array().is_some_and(|p| p.len() >= 7));
}

#[test]
fn graph_prints_dot_with_data_edges() {
    let out = on_flow("graph", "examples/arithmetic.toml", &[]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.starts_with("digraph taskbox {"), "{stdout}");
    assert!(
        stdout.contains("\"sum\" -> \"product\";")
            && stdout.contains("\"quotient\" -> \"product\";"),
        "{stdout}"
    );
}

#[test]
fn bad_flags_are_named() {
    let (_, stderr) = text(&on_flow(
        "run",
        "examples/saga.toml",
        &["--timeout", "soon"],
    ));
    assert!(
        stderr.contains("--timeout") && stderr.contains("soon"),
        "{stderr}"
    );
    let (_, stderr) = text(&on_flow("run", "examples/saga.toml", &["--store", "oops"]));
    assert!(stderr.contains("--store 'oops'"), "{stderr}");
    let (_, stderr) = text(&taskbox(&[
        "run",
        "/no/such/flow.toml",
        "--plugins",
        GUESTS,
    ]));
    assert!(stderr.contains("/no/such/flow.toml"), "{stderr}");
}

#[test]
fn retries_print_retrying_transitions_and_decisions() {
    let out = on_flow("run", "examples/failover.toml", &[]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("servers: on_failure(connect) -> RETRY"),
        "{stderr}"
    );
    assert!(stderr.contains("servers: SUCCESS -> RETRYING"), "{stderr}");
    assert!(stderr.contains("servers: RETRYING -> RUNNING"), "{stderr}");
    assert!(stdout.contains("connection = "), "{stdout}");
    let out = on_flow(
        "run",
        "examples/failover.toml",
        &[
            "--store",
            r#"down=["10.0.0.1","10.0.0.2","10.0.0.3"]"#,
            "--defer-reverts",
        ],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("servers: on_failure(connect) -> REVERT"),
        "{stderr}"
    );
    assert!(stdout.contains("flow failover: REVERTED"), "{stdout}");
}

fn in_db(args: &[&str], db: &Path) -> Output {
    let mut all = args.to_vec();
    all.extend(["--db", db.to_str().unwrap_or_default()]);
    if args[0] == "logbook" {
        // `logbook` takes no sandbox options.
        return Command::new(env!("CARGO_BIN_EXE_taskbox"))
            .args(&all)
            .output()
            .expect("run taskbox");
    }
    taskbox(&all)
}

#[test]
fn a_failed_flow_tells_its_story_in_the_logbook() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("book.redb");
    let saga = repo("examples/saga.toml");
    let saga = saga.to_str().unwrap_or_default();
    let out = in_db(
        &["run", saga, "--plugins", GUESTS, "--store", "country=JP"],
        &db,
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("flow 1"), "{stderr}");

    let (list, _) = text(&in_db(&["logbook", "ls"], &db));
    let row = list.lines().nth(1).unwrap_or_default();
    for needle in ["1", "cli", "order", "REVERTED", "0/3"] {
        assert!(row.contains(needle), "{needle} missing from: {list}");
    }
    let out = in_db(&["logbook", "show", "1"], &db);
    let (show, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    for needle in [
        "flow 1 'order': REVERTED",
        "ship: RUNNING -> FAILURE  (shipping.unsupported-country: the carrier does not deliver to \"JP\")",
        "charge: REVERTING -> REVERTED",
        "flow order: REVERTING -> REVERTED",
        "reserve_stock@",
        "failures (what reverts are given):",
    ] {
        assert!(show.contains(needle), "{needle} missing from:\n{show}");
    }
    let out = in_db(&["logbook", "show", "1", "--json"], &db);
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        json["atoms"][2]["failure"]["kind"],
        "shipping.unsupported-country"
    );

    let out = in_db(&["resume", "1"], &db);
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains("flow 1 had already ended REVERTED"),
        "{stderr}"
    );
    let out = in_db(&["resume", "9"], &db);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("no flow 9 in the logbook"), "{stderr}");
}

#[test]
fn ctrl_c_suspends_and_resume_continues_from_the_logbook() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("book.redb");
    let flow = dir.path().join("slow.toml");
    std::fs::write(
        &flow,
        r#"
flow = "slow"
pattern = "linear"

[[children]]
task = "first"
plugin = "add"
inject = { x = 1, y = 2 }

[[children]]
task = "spin"
plugin = "hostile"
inject = { mode = "loop" }

[[children]]
task = "last"
plugin = "add"
inject = { x = 3, y = 4 }
"#,
    )
    .expect("flow file");
    let flow = flow.to_str().unwrap_or_default();
    let db_arg = db.to_str().unwrap_or_default();
    let mut child = command(&[
        "run",
        flow,
        "--plugins",
        GUESTS,
        "--timeout",
        "2s",
        "--db",
        db_arg,
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .expect("spawn");
    // Transitions go to stderr, the summary to stdout.
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let started = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|line| line.contains("spin: PENDING -> RUNNING"));
    assert!(started, "the spin atom never started");
    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(interrupted.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(3), "{rest:?}");
    // The running atom finished (timed out); no revert started.
    assert!(rest.iter().any(|l| l.contains("-> SUSPENDED")), "{rest:?}");
    assert!(
        !rest
            .iter()
            .any(|l| l.contains("  spin: FAILURE -> REVERTING")),
        "{rest:?}"
    );
    let (show, _) = text(&in_db(&["logbook", "show", "1"], &db));
    assert!(show.contains("flow 1 'slow': SUSPENDED"), "{show}");

    let out = in_db(&["resume", "1"], &db);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("resuming flow 1 (slow) from SUSPENDED"),
        "{stderr}"
    );
    for needle in [
        "flow slow: SUSPENDED -> RESUMING",
        "flow slow: RESUMING -> REVERTING",
        "spin: FAILURE -> REVERTING",
        "first: SUCCESS -> REVERTING",
        "flow slow: REVERTING -> REVERTED",
    ] {
        assert!(stderr.contains(needle), "{needle} missing from:\n{stderr}");
    }
    assert!(!stderr.contains("first: PENDING -> RUNNING"), "{stderr}");
}
