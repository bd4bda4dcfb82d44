//! The `taskbox` binary end to end: run (plain, JSON, failure exit code),
//! validate, plugins, graph, and errors naming the bad input.

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn taskbox(args: &[&str]) -> Output {
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-cache");
    Command::new(env!("CARGO_BIN_EXE_taskbox"))
        .args(args)
        .arg("--cache-dir")
        .arg(cache)
        .output()
        .expect("run taskbox")
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
