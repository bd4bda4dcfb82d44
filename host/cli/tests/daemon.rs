//! `taskbox serve` with `post` and `jobs` end to end: jobs posted from
//! another process complete, fail into the trash, are trashed and restored
//! by hand, bad payloads are refused naming the field; and a daemon killed
//! mid-run restarts and finishes every job exactly once, resuming flows
//! from the logbook.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use taskbox::{AtomState, FlowId, Logbook, RedbLogbook, TransitionKind};

const GUESTS: &str = taskbox_tests::GUEST_DIR;

fn repo(path: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
        .display()
        .to_string()
}

/// A running `taskbox serve` and what it printed.
struct Daemon {
    child: Child,
    url: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Daemon {
    fn start(db: &Path, extra: &[&str]) -> Daemon {
        let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-cache");
        let mut child = Command::new(env!("CARGO_BIN_EXE_taskbox"))
            .args(["serve", "--plugins", GUESTS, "--listen", "127.0.0.1:0"])
            .arg("--db")
            .arg(db)
            .arg("--cache-dir")
            .arg(cache)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn taskbox serve");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (sender, receiver) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some((_, url)) = line.split_once("listening on ") {
                    let _ = sender.send(url.trim().to_string());
                }
                sink.lock().expect("log").push(line);
            }
        });
        let url = receiver
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_else(|_| panic!("the daemon never listened: {:?}", log.lock()));
        Daemon { child, url, log }
    }

    /// `taskbox ARGS --server URL`.
    fn cli(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_taskbox"))
            .args(args)
            .args(["--server", &self.url])
            .output()
            .expect("run taskbox")
    }

    /// `taskbox ARGS` that must succeed; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{args:?}: {stdout}\n{stderr}");
        stdout
    }

    fn jobs(&self) -> Vec<Value> {
        serde_json::from_str(&self.ok(&["jobs", "ls", "--json"])).expect("jobs JSON")
    }

    fn job(&self, id: u64) -> Value {
        serde_json::from_str(&self.ok(&["jobs", "show", &id.to_string(), "--json"]))
            .expect("job JSON")
    }

    /// SIGTERM, then the exit status and the log.
    fn stop(mut self) -> (Option<i32>, String) {
        let signalled = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(signalled.success());
        let status = self.child.wait().expect("wait");
        // Let the reader thread take the last lines.
        std::thread::sleep(Duration::from_millis(100));
        (status.code(), self.log.lock().expect("log").join("\n"))
    }

    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("wait");
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn state(job: &Value) -> &str {
    job["job"]["state"].as_str().unwrap_or_default()
}

/// `n` hostile naps of `ms` in a line.
fn naps(dir: &Path, n: usize, ms: u64) -> String {
    let mut spec = String::from("flow = \"naps\"\npattern = \"linear\"\n");
    for i in 0..n {
        spec.push_str(&format!(
            "\n[[children]]\ntask = \"nap{i}\"\nplugin = \"hostile\"\ninject = {{ mode = \"sleep\", ms = {ms} }}\nprovides = \"n{i}\"\n"
        ));
    }
    let path = dir.join(format!("naps-{n}-{ms}.toml"));
    std::fs::write(&path, spec).expect("flow file");
    path.display().to_string()
}

#[test]
fn serve_post_watch_trash_and_restore_through_the_cli() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("daemon.redb");
    let daemon = Daemon::start(&db, &["--slots", "1", "--max-attempts", "2"]);
    let arithmetic = repo("examples/arithmetic.toml");

    // A job that succeeds, watched to the end.
    let out = daemon.cli(&["post", &arithmetic, "--wait"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("posted job 1 'arithmetic'"), "{stdout}");
    assert!(stderr.contains("job 1: complete"), "{stderr}");
    let shown = daemon.ok(&["jobs", "show", "1"]);
    for needle in [
        "job 1 'arithmetic': complete",
        "flow 1 'arithmetic': SUCCESS",
        "product",
        "SUCCESS",
        " ms CPU, 3 calls, memory peak",
    ] {
        assert!(shown.contains(needle), "{needle} missing from:\n{shown}");
    }
    let detail = daemon.job(1);
    assert_eq!(detail["atoms"][2]["result"], 210);
    assert_eq!(detail["job"]["usage"]["calls"], 3);

    // A job whose flow fails every time: abandoned, retried, trashed.
    let out = daemon.cli(&[
        "post",
        &arithmetic,
        "--store",
        "d=0",
        "--name",
        "by-zero",
        "--wait",
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("job 2 trashed: gave up after 2 attempts"),
        "{stderr}"
    );
    let listed = daemon.ok(&["jobs", "ls", "--state", "trashed"]);
    assert!(
        listed.contains("by-zero") && !listed.contains("arithmetic"),
        "{listed}"
    );
    let shown = daemon.ok(&["jobs", "show", "2"]);
    assert!(shown.contains("earlier flows 2, 3"), "{shown}");
    assert!(shown.contains("REVERTED"), "{shown}");

    // Trash by hand a job waiting behind a running one, then restore it.
    let slow = naps(dir.path(), 1, 1500);
    daemon.ok(&["post", &slow]);
    daemon.ok(&["post", &arithmetic, "--name", "waiting"]);
    let trashed = daemon.ok(&["jobs", "trash", "4", "--reason", "not needed"]);
    assert!(trashed.contains("job 4 trashed: not needed"), "{trashed}");
    assert_eq!(state(&daemon.job(4)), "trashed");
    assert_eq!(daemon.job(4)["job"]["trash_reason"], "not needed");
    let restored = daemon.ok(&["jobs", "restore", "4"]);
    assert!(restored.contains("job 4 restored: unclaimed"), "{restored}");
    eventually("the restored job to complete", || {
        state(&daemon.job(4)) == "complete"
    });
    assert_eq!(state(&daemon.job(3)), "complete");

    // Refusals, each naming what is wrong.
    let refusals: [(&[&str], &str); 4] = [
        (
            &["jobs", "trash", "1", "--reason", "x"],
            "cannot trash job 1: it is complete (HTTP 409)",
        ),
        (
            &["jobs", "restore", "1"],
            "cannot restore job 1: it is complete",
        ),
        (&["jobs", "show", "99"], "no job 99 on the board (HTTP 404)"),
        (
            &["jobs", "ls", "--state", "lost"],
            "'lost' is not a job state",
        ),
    ];
    for (args, needle) in refusals {
        let out = daemon.cli(args);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
    let missing = dir.path().join("missing.toml");
    std::fs::write(
        &missing,
        "flow = \"m\"\npattern = \"linear\"\n[[children]]\ntask = \"t\"\nplugin = \"nowhere\"\n",
    )
    .expect("flow file");
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"flow": {"file": "a.toml"}, "engine": {"mode": "sideways"}}"#,
    )
    .expect("payload file");
    let payloads: [(&[&str], &str); 2] = [
        (
            &["post", missing.to_str().unwrap_or_default()],
            "invalid job payload: flow: task 't' uses plugin 'nowhere', which is not in the plugin directory (HTTP 400)",
        ),
        (
            &["post", "--payload", bad.to_str().unwrap_or_default()],
            "invalid job payload: engine.mode: unknown variant `sideways`",
        ),
    ];
    for (args, needle) in payloads {
        let out = daemon.cli(args);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
    assert_eq!(daemon.jobs().len(), 4, "refused payloads were posted");
    let health = ureq::get(format!("{}/health", daemon.url))
        .call()
        .expect("GET /health")
        .body_mut()
        .read_to_string()
        .expect("health body");
    let health: Value = serde_json::from_str(&health).expect("health JSON");
    assert_eq!(health["status"], "ok");
    assert_eq!(
        health["jobs"],
        serde_json::json!({"unclaimed": 0, "claimed": 0, "complete": 3, "trashed": 1})
    );
    assert_eq!(health["conductor"]["consumed"], 3);

    let (code, log) = daemon.stop();
    assert_eq!(code, Some(0), "{log}");
    assert!(
        log.contains("stopped: 3 consumed, 1 abandoned, 1 trashed"),
        "{log}"
    );
}

/// How many times each atom of `flow` reached SUCCESS, and whether any ran
/// again after it had.
fn successes(logbook: &dyn Logbook, flow: FlowId) -> Vec<usize> {
    let atoms = logbook.atoms(flow).expect("atoms");
    let mut counts = vec![0; atoms.len()];
    for step in logbook.transitions(flow).expect("transitions") {
        if let TransitionKind::Atom { atom, to, .. } = step.kind {
            let index = usize::try_from(atom).expect("index");
            match to {
                AtomState::Success => counts[index] += 1,
                AtomState::Running => assert_eq!(
                    counts[index], 0,
                    "flow {flow}: atom {index} ran again after it succeeded"
                ),
                _ => {}
            }
        }
    }
    counts
}

#[test]
fn a_killed_daemon_restarts_and_finishes_every_job_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("daemon.redb");
    let daemon = Daemon::start(&db, &["--slots", "2"]);
    let slow = naps(dir.path(), 6, 200);
    let arithmetic = repo("examples/arithmetic.toml");
    for _ in 0..3 {
        daemon.ok(&["post", &slow]);
        daemon.ok(&["post", &arithmetic]);
    }
    // Kill it once the first slow job is part way through.
    eventually("two naps of job 1 to finish", || {
        let job = daemon.job(1);
        let done = job["atoms"].as_array().map_or(0, |atoms| {
            atoms.iter().filter(|a| a["state"] == "SUCCESS").count()
        });
        done >= 2
    });
    daemon.kill();

    let daemon = Daemon::start(&db, &["--slots", "2"]);
    eventually("every job to complete", || {
        daemon.jobs().iter().all(|job| job["state"] == "complete")
    });
    let jobs = daemon.jobs();
    assert_eq!(jobs.len(), 6);
    for job in &jobs {
        assert_eq!(job["past_flows"], serde_json::json!([]), "{job}");
        assert!(job["attempts"].as_u64() <= Some(1), "{job}");
    }
    assert_eq!(
        jobs[0]["attempts"], 1,
        "job 1's claim ended with the killed daemon"
    );
    let (code, log) = daemon.stop();
    assert_eq!(code, Some(0), "{log}");
    assert!(
        log.contains("resuming the job's flow from the logbook"),
        "{log}"
    );

    let logbook = RedbLogbook::open(&db).expect("logbook");
    let flows = logbook.flows().expect("flows");
    assert_eq!(flows.len(), 6, "a job ran in more than one flow");
    for job in &jobs {
        let flow = FlowId(job["flow"].as_u64().expect("flow id"));
        assert!(
            successes(&logbook, flow).iter().all(|&n| n == 1),
            "flow {flow}: every atom must succeed exactly once"
        );
    }
}
