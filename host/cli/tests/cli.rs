//! The `taskbox` binary end to end: run (plain, JSON, failure exit code),
//! validate, plugins, graph, errors naming the bad input, the logbook
//! commands, resume, Ctrl-C suspending a run, and the operator's
//! capability grants (`--grant-*`) as the `hostile` guest sees them.

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

// Capability grants. The `hostile` guest reports what it sees: its
// environment, the wall clock, the files of a directory.

/// The JSON summary: the last line `run --json` prints.
fn summary(out: &Output) -> Value {
    let (stdout, stderr) = text(out);
    let last = stdout.lines().last().unwrap_or_default();
    let summary: Value = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("no JSON summary ({e}):\n{stdout}\n{stderr}"));
    assert_eq!(summary["event"], "summary", "{last}");
    summary
}

/// Writes `body` (the flow's tasks) as a linear flow file in `dir`.
fn probe_flow(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!("flow = \"{name}\"\npattern = \"linear\"\n{body}"),
    )
    .expect("flow file");
    path
}

const ENV_AND_CLOCK: &str = r#"
[[children]]
task = "env"
plugin = "hostile"
inject = { mode = "env" }
provides = "env"

[[children]]
task = "clock"
plugin = "hostile"
inject = { mode = "clock" }
provides = "clock"
"#;

#[test]
fn without_grants_a_plugin_sees_no_environment_and_a_frozen_clock() {
    let dir = tempfile::tempdir().expect("tempdir");
    let flow = probe_flow(dir.path(), "probe", ENV_AND_CLOCK);
    let out = command(&[
        "run",
        flow.to_str().unwrap_or_default(),
        "--plugins",
        GUESTS,
        "--json",
        "--no-db",
    ])
    // The operator's environment is not the guest's.
    .env("TASKBOX_TEST_GRANT", "from-the-operator")
    .output()
    .expect("run taskbox");
    let results = &summary(&out)["results"];
    assert_eq!(results["env"], serde_json::json!({"vars": [], "args": []}));
    assert_eq!(results["clock"], 0);
    assert!(!text(&out).1.contains("granted"), "{}", text(&out).1);
}

#[test]
fn granted_environment_and_wall_clock_are_seen_and_announced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let flow = probe_flow(dir.path(), "probe", ENV_AND_CLOCK);
    let out = command(&[
        "run",
        flow.to_str().unwrap_or_default(),
        "--plugins",
        GUESTS,
        "--json",
        "--no-db",
        "--grant-env",
        "GREETING=hello=world",
        "--grant-env-from",
        "TASKBOX_TEST_GRANT",
        "--grant-wall-clock",
    ])
    .env("TASKBOX_TEST_GRANT", "from-the-operator")
    .env("TASKBOX_TEST_NOT_GRANTED", "secret")
    .output()
    .expect("run taskbox");
    let results = &summary(&out)["results"];
    assert_eq!(
        results["env"]["vars"],
        serde_json::json!([
            ["GREETING", "hello=world"],
            ["TASKBOX_TEST_GRANT", "from-the-operator"]
        ])
    );
    // 2023-11-14: the real clock, not the epoch.
    assert!(
        results["clock"].as_i64().is_some_and(|s| s > 1_700_000_000),
        "{results}"
    );
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains("granted to every task: env GREETING, env TASKBOX_TEST_GRANT, wall-clock"),
        "{stderr}"
    );
}

#[test]
fn granted_directories_are_read_only_unless_rw_and_logbook_show_prints_grants() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let output = dir.path().join("output");
    std::fs::create_dir_all(&data).expect("data dir");
    std::fs::create_dir_all(&output).expect("output dir");
    std::fs::write(data.join("hello.txt"), "hello from the host").expect("hello");
    let flow = probe_flow(
        dir.path(),
        "files",
        r#"
[[children]]
task = "read"
plugin = "hostile"
inject = { mode = "read-file", path = "/data/hello.txt" }
provides = "text"

[[children]]
task = "list"
plugin = "hostile"
inject = { mode = "list-dir", path = "/data" }
provides = "names"

[[children]]
task = "write"
plugin = "hostile"
inject = { mode = "write-file", path = "/out/new.txt", value = "from the guest" }
"#,
    );
    let flow = flow.to_str().unwrap_or_default();
    let data_grant = format!("{}:/data", data.display());
    let db = dir.path().join("book.redb");

    // Nothing granted: the first read is denied inside the guest.
    let out = in_db(&["run", flow, "--plugins", GUESTS], &db);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("read: RUNNING -> FAILURE  io.denied"),
        "{stderr}"
    );

    // /out read-only: reading works, writing is denied.
    let out = in_db(
        &[
            "run",
            flow,
            "--plugins",
            GUESTS,
            "--grant-dir",
            &data_grant,
            "--grant-dir",
            &format!("{}:/out:ro", output.display()),
        ],
        &db,
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("read: RUNNING -> SUCCESS"), "{stderr}");
    assert!(
        stderr.contains("write: RUNNING -> FAILURE  io.denied"),
        "{stderr}"
    );
    assert!(!output.join("new.txt").exists());

    // /out read-write: the guest's file lands on the host.
    let out = in_db(
        &[
            "run",
            flow,
            "--plugins",
            GUESTS,
            "--json",
            "--grant-dir",
            &data_grant,
            "--grant-dir",
            &format!("{}:/out:rw", output.display()),
        ],
        &db,
    );
    let results = &summary(&out)["results"];
    assert_eq!(results["text"], "hello from the host");
    assert_eq!(results["names"], serde_json::json!(["hello.txt"]));
    assert_eq!(
        std::fs::read_to_string(output.join("new.txt")).expect("the guest's file"),
        "from the guest"
    );

    let (show, _) = text(&in_db(&["logbook", "show", "1"], &db));
    assert!(!show.contains("granted:"), "flow 1 had no grants:\n{show}");
    let (show, _) = text(&in_db(&["logbook", "show", "3"], &db));
    let granted = show
        .lines()
        .filter(|l| l.trim_start().starts_with("granted: "))
        .collect::<Vec<_>>();
    assert_eq!(granted.len(), 3, "{show}");
    assert!(
        granted
            .iter()
            .all(|l| l.ends_with("granted: dir /data (ro), dir /out (rw)")),
        "{show}"
    );
    let out = in_db(&["logbook", "show", "3", "--json"], &db);
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        json["atoms"][0]["grants"]["dirs"][1]["access"],
        "read-write"
    );
}

#[test]
fn grant_for_limits_the_grants_to_one_plugin() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The same guest under two plugin names.
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).expect("plugin dir");
    for name in ["hostile", "trusted"] {
        std::fs::copy(taskbox_tests::HOSTILE, plugins.join(format!("{name}.wasm")))
            .expect("copy hostile");
    }
    let flow = probe_flow(
        dir.path(),
        "two",
        r#"
[[children]]
task = "other"
plugin = "hostile"
inject = { mode = "env" }
provides = "other"

[[children]]
task = "chosen"
plugin = "trusted"
inject = { mode = "env" }
provides = "chosen"

[[children]]
task = "clock"
plugin = "hostile"
inject = { mode = "clock" }
provides = "clock"
"#,
    );
    let flow = flow.to_str().unwrap_or_default();
    let plugins = plugins.to_str().unwrap_or_default();
    let db = dir.path().join("book.redb");
    let out = in_db(
        &[
            "run",
            flow,
            "--plugins",
            plugins,
            "--json",
            "--grant-env",
            "TOKEN=t",
            "--grant-wall-clock",
            "--grant-for",
            "trusted",
        ],
        &db,
    );
    let results = &summary(&out)["results"];
    assert_eq!(
        results["chosen"]["vars"],
        serde_json::json!([["TOKEN", "t"]])
    );
    assert_eq!(results["other"]["vars"], serde_json::json!([]));
    assert_eq!(results["clock"], 0);
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains("granted to the tasks of plugin 'trusted': env TOKEN, wall-clock"),
        "{stderr}"
    );
    let (show, _) = text(&in_db(&["logbook", "show", "1"], &db));
    let lines: Vec<&str> = show.lines().collect();
    let chosen = lines
        .iter()
        .position(|l| l.trim_start().starts_with("chosen "))
        .expect("the chosen atom's row");
    assert!(
        lines[chosen + 1].ends_with("granted: env TOKEN, wall-clock"),
        "{show}"
    );
    assert_eq!(show.matches("granted:").count(), 1, "{show}");

    // A plugin the flow does not run is refused by name.
    let out = in_db(
        &[
            "run",
            flow,
            "--plugins",
            plugins,
            "--grant-random",
            "--grant-for",
            "trustd",
        ],
        &db,
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--grant-for 'trustd': no task of the flow runs plugin 'trustd'"),
        "{stderr}"
    );
}

#[test]
fn bad_grants_are_refused_naming_the_flag_and_help_explains_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").expect("write");
    let not_a_dir = format!("{}:/data", file.display());
    let cases = [
        (
            vec!["--grant-dir", "/no/such/dir:/data"],
            "--grant-dir '/no/such/dir:/data'",
        ),
        (vec!["--grant-dir", &not_a_dir], "is not a directory"),
        (
            vec!["--grant-dir", "/tmp:/data:rx"],
            "'rx' is neither ro nor rw",
        ),
        (vec!["--grant-dir", "/tmp"], "expected HOST:GUEST[:ro|rw]"),
        (vec!["--grant-env", "NOVALUE"], "--grant-env 'NOVALUE'"),
        (
            vec!["--grant-env-from", "TASKBOX_TEST_SURELY_UNSET"],
            "TASKBOX_TEST_SURELY_UNSET is not set in your environment",
        ),
        (vec!["--grant-for", "add"], "nothing to grant"),
    ];
    for (flags, needle) in cases {
        let out = on_flow("run", "examples/saga.toml", &flags);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {stdout}\n{stderr}");
        assert!(stderr.contains(needle), "{flags:?}: {stderr}");
        // Refused before anything ran.
        assert!(!stderr.contains("RUNNING"), "{flags:?}: {stderr}");
    }
    for command in ["run", "resume"] {
        let out = Command::new(env!("CARGO_BIN_EXE_taskbox"))
            .args([command, "--help"])
            .output()
            .expect("help");
        let (help, _) = text(&out);
        for needle in [
            "nothing is granted without these flags",
            "--grant-dir <HOST:GUEST[:ro|rw]>",
            "--grant-env <KEY=VALUE>",
            "--grant-env-from <KEY>",
            "--grant-wall-clock",
            "--grant-random",
            "--grant-for <PLUGIN>",
        ] {
            assert!(
                help.contains(needle),
                "{command}: {needle} missing:\n{help}"
            );
        }
    }
    let (help, _) = text(
        &Command::new(env!("CARGO_BIN_EXE_taskbox"))
            .args(["run", "--help"])
            .output()
            .expect("help"),
    );
    assert!(help.contains("Plugins are untrusted code"), "{help}");
}

#[test]
fn resume_takes_grants_from_its_own_flags_and_warns_when_they_differ() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("book.redb");
    let flow = probe_flow(
        dir.path(),
        "pause",
        r#"
[[children]]
task = "before"
plugin = "hostile"
inject = { mode = "env" }
provides = "before"

[[children]]
task = "nap"
plugin = "hostile"
inject = { mode = "sleep", ms = 1500 }

[[children]]
task = "after"
plugin = "hostile"
inject = { mode = "env" }
provides = "after"
"#,
    );
    let mut child = command(&[
        "run",
        flow.to_str().unwrap_or_default(),
        "--plugins",
        GUESTS,
        "--db",
        db.to_str().unwrap_or_default(),
        "--grant-env",
        "STAGE=run",
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let started = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|line| line.contains("nap: PENDING -> RUNNING"));
    assert!(started, "the nap atom never started");
    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(interrupted.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert_eq!(child.wait().expect("wait").code(), Some(3), "{rest:?}");

    let out = in_db(
        &[
            "resume",
            "1",
            "--json",
            "--grant-env",
            "STAGE=resume",
            "--grant-wall-clock",
        ],
        &db,
    );
    let (_, stderr) = text(&out);
    let results = &summary(&out)["results"];
    assert_eq!(
        results["before"]["vars"],
        serde_json::json!([["STAGE", "run"]])
    );
    assert_eq!(
        results["after"]["vars"],
        serde_json::json!([["STAGE", "resume"]])
    );
    assert!(
        stderr.contains(
            "warning: atom 'after' was recorded with grants [env STAGE]; \
             this resume grants it [env STAGE, wall-clock]"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("granted to every task: env STAGE, wall-clock"),
        "{stderr}"
    );
}
