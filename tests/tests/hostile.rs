//! Hostile guests: every breach ends the call with a failure whose kind names
//! it, and the host stays healthy.

mod common;

use serde_json::{Value, json};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use taskbox::{CallObserver, LogLevel, NoObserver};
use taskbox::{Failure, Limits, LoadError, Plugin, Sandbox, kinds};
use taskbox_model::{Access, DirGrant, Grants};
use taskbox_sandbox::Terms;

struct Guests {
    sandbox: Arc<Sandbox>,
    hostile: Plugin,
    add: Plugin,
}

fn guests() -> Guests {
    let sandbox = common::sandbox();
    let set = common::guests(&sandbox);
    Guests {
        hostile: set.get("hostile").expect("hostile guest").clone(),
        add: set.get("add").expect("add guest").clone(),
        sandbox,
    }
}

fn limits() -> Limits {
    Limits {
        timeout: Duration::from_millis(300),
        memory_bytes: 16 << 20,
        ..Limits::default()
    }
}

impl Guests {
    fn hostile(&self, args: Value, limits: &Limits) -> Result<Value, Failure> {
        self.sandbox.execute(
            &self.hostile,
            &args,
            &Terms::from(*limits),
            Arc::new(NoObserver),
        )
    }

    fn expect_failure(&self, args: Value, kind: &str) -> Failure {
        match self.hostile(args.clone(), &limits()) {
            Ok(v) => panic!("{args} should fail with {kind}, returned {v}"),
            Err(f) => {
                assert_eq!(f.kind, kind, "{args}: {f}");
                f
            }
        }
    }

    /// The host still runs a well-behaved guest afterwards.
    fn assert_healthy(&self) {
        let sum = self.sandbox.execute(
            &self.add,
            &json!({"x": 2, "y": 40}),
            &Terms::default(),
            Arc::new(NoObserver),
        );
        assert_eq!(sum, Ok(json!(42)));
    }
}

#[test]
fn infinite_loop_hits_the_cpu_deadline() {
    let g = guests();
    let f = g.expect_failure(json!({"mode": "loop"}), kinds::TIMEOUT);
    assert!(f.message.contains("300ms"), "{f}");
    g.assert_healthy();
}

#[test]
fn sleeping_uses_no_cpu_time_but_is_bounded_in_wall_time() {
    let g = guests();
    // Sleeping past the CPU deadline is fine: it uses no CPU.
    let slept = g.hostile(json!({"mode": "sleep", "ms": 600, "value": 1}), &limits());
    assert_eq!(slept, Ok(json!(1)));
    // Waiting may last ten CPU deadlines (3 s here), no longer.
    let started = Instant::now();
    let f = g.expect_failure(json!({"mode": "sleep", "ms": 60_000}), kinds::TIMEOUT);
    assert!(f.message.contains("waited for the host"), "{f}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    g.assert_healthy();
}

#[test]
fn unbounded_memory_growth_hits_the_memory_cap() {
    let g = guests();
    let f = g.expect_failure(json!({"mode": "grow"}), kinds::MEMORY);
    assert!(f.message.contains(&(16u64 << 20).to_string()), "{f}");
    g.assert_healthy();
}

#[test]
fn panic_is_a_trap_carrying_the_panic_message() {
    let g = guests();
    let f = g.expect_failure(json!({"mode": "trap"}), kinds::TRAP);
    assert!(f.message.contains("panicked"), "{f}");
    g.assert_healthy();
}

#[test]
fn stack_exhaustion_is_a_trap() {
    let g = guests();
    g.expect_failure(json!({"mode": "recurse"}), kinds::TRAP);
    g.assert_healthy();
}

#[test]
fn oversized_result_is_refused() {
    let g = guests();
    let f = g.expect_failure(
        json!({"mode": "big-result", "size": 2 << 20}),
        kinds::RESULT_SIZE,
    );
    assert!(f.message.contains("over the cap"), "{f}");
    g.assert_healthy();
}

#[test]
fn result_that_is_not_json_is_refused() {
    let g = guests();
    g.expect_failure(json!({"mode": "bad-json"}), kinds::INVALID_RESULT);
    g.assert_healthy();
}

#[test]
fn result_that_is_not_utf8_is_refused() {
    let g = guests();
    // The canonical ABI refuses to lift the string; the host calls that a
    // malformed result, not a trap.
    let f = g.expect_failure(json!({"mode": "bad-utf8"}), kinds::INVALID_RESULT);
    assert!(f.message.contains("malformed"), "{f}");
    assert!(f.message.to_lowercase().contains("utf-8"), "{f}");
    g.assert_healthy();
}

#[test]
fn files_are_out_of_reach() {
    let g = guests();
    for path in ["/etc/passwd", "Cargo.toml", "../../etc/hostname", "."] {
        let f = g.expect_failure(json!({"mode": "open-file", "path": path}), "io.denied");
        assert!(!f.message.contains("root:"), "{f}");
    }
    g.assert_healthy();
}

#[test]
fn sockets_are_out_of_reach() {
    let g = guests();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    g.expect_failure(json!({"mode": "socket", "addr": addr}), "io.denied");
    g.assert_healthy();
}

#[test]
fn environment_and_arguments_are_empty() {
    let g = guests();
    // SAFETY-free: the host has variables; the guest must see none of them.
    assert!(std::env::vars().next().is_some());
    let seen = g
        .hostile(json!({"mode": "env"}), &limits())
        .expect("env mode");
    let text = seen.to_string();
    assert!(!text.contains("PATH") && !text.contains("HOME"), "{text}");
    g.assert_healthy();
}

#[derive(Default)]
struct Counting {
    logs: AtomicUsize,
    warnings: Mutex<Vec<String>>,
    longest: AtomicUsize,
}

impl CallObserver for Counting {
    fn log(&self, level: LogLevel, message: &str) {
        if level == LogLevel::Warn && message.contains("dropped") {
            if let Ok(mut w) = self.warnings.lock() {
                w.push(message.to_string());
            }
            return;
        }
        self.logs.fetch_add(1, Ordering::Relaxed);
        self.longest.fetch_max(message.len(), Ordering::Relaxed);
    }
}

#[test]
fn log_flood_is_capped_in_count_and_size() {
    let g = guests();
    let observer = Arc::new(Counting::default());
    let limits = Limits {
        max_log_messages: 50,
        max_log_bytes: 100,
        timeout: Duration::from_secs(10),
        ..Limits::default()
    };
    let out = g.sandbox.execute(
        &g.hostile,
        &json!({"mode": "log-flood", "count": 5000}),
        &Terms::from(limits),
        observer.clone(),
    );
    assert_eq!(out, Ok(Value::Null));
    assert_eq!(observer.logs.load(Ordering::Relaxed), 50);
    assert!(observer.longest.load(Ordering::Relaxed) <= 100);
    let warnings = observer
        .warnings
        .lock()
        .map(|w| w.clone())
        .unwrap_or_default();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("4950"), "{warnings:?}");
    g.assert_healthy();
}

#[test]
fn panic_in_revert_is_a_trap() {
    let g = guests();
    let err = g.sandbox.revert(
        &g.hostile,
        &json!({"mode": "revert-trap"}),
        Some(&Value::Null),
        &[],
        &Terms::from(limits()),
        Arc::new(NoObserver),
    );
    assert_eq!(err.map_err(|f| f.kind), Err(kinds::TRAP.to_string()));
    g.assert_healthy();
}

#[test]
fn many_hostile_calls_in_parallel_leave_the_host_healthy() {
    let g = Arc::new(guests());
    let modes = [
        "loop", "grow", "trap", "recurse", "bad-json", "bad-utf8", "ok",
    ];
    let handles: Vec<_> = modes
        .iter()
        .map(|mode| {
            let g = g.clone();
            let mode = mode.to_string();
            std::thread::spawn(move || {
                (
                    mode.clone(),
                    g.hostile(json!({"mode": mode, "value": 7}), &limits()),
                )
            })
        })
        .collect();
    for h in handles {
        let (mode, out) = h.join().expect("thread");
        assert_eq!(out.is_ok(), mode == "ok", "{mode}: {out:?}");
    }
    g.assert_healthy();
}

#[test]
fn every_call_gets_a_fresh_instance() {
    let g = guests();
    for _ in 0..5 {
        assert_eq!(
            g.hostile(json!({"mode": "counter"}), &limits()),
            Ok(json!(1))
        );
    }
}

/// `describe` runs under the load's CPU deadline: a plugin that spins in it
/// fails to load with a timeout, and the other plugins of its directory load.
#[test]
fn describe_that_takes_the_whole_cpu_deadline_fails_only_its_own_load() {
    let sandbox = common::sandbox();
    let limits = Limits {
        timeout: Duration::from_millis(200),
        ..Limits::default()
    };
    let expect_timeout = |result: Result<Plugin, &LoadError>| match result {
        Err(LoadError::Describe { plugin, failure }) => {
            assert_eq!(plugin, "slow_describe");
            assert_eq!(failure.kind, kinds::TIMEOUT, "{failure}");
            assert!(failure.message.contains("200ms"), "{failure}");
        }
        other => panic!("slow_describe should time out in describe, got {other:?}"),
    };

    let started = Instant::now();
    let alone = sandbox.load_file(Path::new(taskbox_tests::SLOW_DESCRIBE), &limits);
    expect_timeout(alone.as_ref().map(Plugin::clone));

    let dir = tempfile::tempdir().expect("tempdir");
    for guest in [taskbox_tests::SLOW_DESCRIBE, taskbox_tests::ADD] {
        let guest = Path::new(guest);
        std::fs::copy(
            guest,
            dir.path().join(guest.file_name().expect("a file name")),
        )
        .expect("copy a guest");
    }
    let set = sandbox.load_dir(dir.path(), &limits).expect("load_dir");
    assert_eq!(set.plugins.keys().collect::<Vec<_>>(), ["add"]);
    assert_eq!(set.errors.keys().collect::<Vec<_>>(), ["slow_describe"]);
    expect_timeout(Err(&set.errors["slow_describe"]));
    // Two 200ms deadlines plus compiling two small components, with room
    // for a slow machine.
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );

    let sum = sandbox.execute(
        &set.plugins["add"],
        &json!({"x": 2, "y": 40}),
        &Terms::default(),
        Arc::new(NoObserver),
    );
    assert_eq!(sum, Ok(json!(42)));
}

// Capability grants. Nothing is granted by default; a grant gives exactly
// what it names, and a granted directory cannot be left by `..`, absolute
// paths or symlinks.

/// What the host keeps next to the granted directory.
const SECRET: &str = "the host's secret: do not show the guest";

/// Where the guests see the granted directory.
const DATA: &str = "/data";

/// A granted directory and what surrounds it on the host:
///
/// ```text
/// root/
///   secret.txt                 SECRET, outside the grant
///   granted/                   granted as /data
///     hello.txt                "hello from the host"
///     sub/
///     up-link -> ../secret.txt
///     abs-link -> root/secret.txt (absolute)
///     parent-link -> ..
/// ```
struct Jail {
    root: tempfile::TempDir,
}

impl Jail {
    fn new() -> Jail {
        use std::os::unix::fs::symlink;
        let jail = Jail {
            root: tempfile::tempdir().expect("tempdir"),
        };
        let granted = jail.granted();
        std::fs::create_dir(&granted).expect("create the granted directory");
        std::fs::create_dir(granted.join("sub")).expect("create sub/");
        std::fs::write(granted.join("hello.txt"), "hello from the host").expect("write hello");
        std::fs::write(jail.secret(), SECRET).expect("write the secret");
        symlink("../secret.txt", granted.join("up-link")).expect("relative symlink");
        symlink(jail.secret(), granted.join("abs-link")).expect("absolute symlink");
        symlink("..", granted.join("parent-link")).expect("directory symlink");
        jail
    }

    fn granted(&self) -> std::path::PathBuf {
        self.root.path().join("granted")
    }

    fn secret(&self) -> std::path::PathBuf {
        self.root.path().join("secret.txt")
    }

    /// Grants the directory at [`DATA`] with `access`.
    fn grant(&self, access: Access) -> Grants {
        Grants {
            dirs: vec![DirGrant {
                host: self.granted(),
                guest: DATA.to_string(),
                access,
            }],
            ..Grants::default()
        }
    }
}

impl Guests {
    /// Runs the hostile guest with `grants` under the usual limits.
    fn granted(&self, args: Value, grants: &Grants) -> Result<Value, Failure> {
        let terms = Terms {
            grants: grants.clone(),
            ..Terms::from(limits())
        };
        self.sandbox
            .execute(&self.hostile, &args, &terms, Arc::new(NoObserver))
    }

    fn expect_granted(&self, args: Value, grants: &Grants) -> Value {
        match self.granted(args.clone(), grants) {
            Ok(v) => v,
            Err(f) => panic!("{args} with {} should succeed: {f}", grants.summary()),
        }
    }

    fn expect_denied(&self, args: Value, grants: &Grants) -> Failure {
        match self.granted(args.clone(), grants) {
            Ok(v) => panic!(
                "{args} with {} should be denied, returned {v}",
                grants.summary()
            ),
            Err(f) => {
                assert_eq!(f.kind, "io.denied", "{args}: {f}");
                assert!(!f.to_string().contains(SECRET), "{args}: {f}");
                f
            }
        }
    }
}

fn read(path: &str) -> Value {
    json!({"mode": "read-file", "path": path})
}

fn write(path: &str, value: &str) -> Value {
    json!({"mode": "write-file", "path": path, "value": value})
}

fn list(path: &str) -> Value {
    json!({"mode": "list-dir", "path": path})
}

#[test]
fn without_grants_there_are_no_directories_environment_clock_or_randomness() {
    let g = guests();
    let jail = Jail::new();
    let none = Grants::default();
    for path in ["/", ".", DATA] {
        g.expect_denied(list(path), &none);
    }
    g.expect_denied(read("/data/hello.txt"), &none);
    let host_path = jail.granted().join("hello.txt");
    g.expect_denied(read(host_path.to_str().expect("UTF-8 path")), &none);
    g.expect_denied(write("/data/new.txt", "x"), &none);
    assert!(!jail.granted().join("new.txt").exists());

    let env = g.expect_granted(json!({"mode": "env"}), &none);
    assert_eq!(env, json!({"vars": [], "args": []}));

    // The wall clock is frozen at the Unix epoch.
    assert_eq!(g.expect_granted(json!({"mode": "clock"}), &none), json!(0));

    // Randomness is deterministic: every call draws the same keys.
    let first = g.expect_granted(json!({"mode": "random"}), &none);
    let second = g.expect_granted(json!({"mode": "random"}), &none);
    assert!(first.is_u64(), "{first}");
    assert_eq!(first, second);
    g.assert_healthy();
}

#[test]
fn a_read_only_directory_can_be_read_and_listed_but_not_changed() {
    let g = guests();
    let jail = Jail::new();
    let ro = jail.grant(Access::ReadOnly);
    assert_eq!(
        g.expect_granted(read("/data/hello.txt"), &ro),
        json!("hello from the host")
    );
    assert_eq!(
        g.expect_granted(list(DATA), &ro),
        json!(["abs-link", "hello.txt", "parent-link", "sub", "up-link"])
    );
    assert_eq!(g.expect_granted(list("/data/sub"), &ro), json!([]));

    g.expect_denied(write("/data/new.txt", "x"), &ro);
    g.expect_denied(write("/data/sub/new.txt", "x"), &ro);
    g.expect_denied(write("/data/hello.txt", "overwritten"), &ro);
    assert!(!jail.granted().join("new.txt").exists());
    assert!(!jail.granted().join("sub/new.txt").exists());
    assert_eq!(
        std::fs::read_to_string(jail.granted().join("hello.txt")).expect("read hello"),
        "hello from the host"
    );
    g.assert_healthy();
}

#[test]
fn a_read_write_directory_keeps_what_the_guest_writes() {
    let g = guests();
    let jail = Jail::new();
    let rw = jail.grant(Access::ReadWrite);
    assert_eq!(
        g.expect_granted(write("/data/sub/out.txt", "written by the guest"), &rw),
        Value::Null
    );
    // In a later call (a fresh instance) and on the host.
    assert_eq!(
        g.expect_granted(read("/data/sub/out.txt"), &rw),
        json!("written by the guest")
    );
    assert_eq!(
        std::fs::read_to_string(jail.granted().join("sub/out.txt")).expect("read out.txt"),
        "written by the guest"
    );
    assert_eq!(g.expect_granted(list("/data/sub"), &rw), json!(["out.txt"]));
    g.assert_healthy();
}

#[test]
fn a_granted_directory_cannot_be_left() {
    let g = guests();
    let jail = Jail::new();
    let secret = jail.secret();
    let secret = secret.to_str().expect("UTF-8 path");
    // Each escape aims at something the host can read, so a denial is the
    // sandbox's doing, not a missing file.
    assert_eq!(
        std::fs::read_to_string(jail.granted().join("up-link")).expect("host follows up-link"),
        SECRET
    );
    assert_eq!(
        std::fs::read_to_string(jail.granted().join("abs-link")).expect("host follows abs-link"),
        SECRET
    );
    assert!(std::fs::read_to_string("/etc/passwd").is_ok_and(|p| !p.is_empty()));

    let escapes = [
        "../secret.txt".to_string(),
        "/data/../secret.txt".to_string(),
        "/data/sub/../../secret.txt".to_string(),
        secret.to_string(),
        "/etc/passwd".to_string(),
        "/data/up-link".to_string(),
        "/data/abs-link".to_string(),
        "/data/parent-link/secret.txt".to_string(),
    ];
    for access in [Access::ReadOnly, Access::ReadWrite] {
        let grant = jail.grant(access);
        // The grant works: the same guest reads inside it.
        assert_eq!(
            g.expect_granted(read("/data/hello.txt"), &grant),
            json!("hello from the host")
        );
        for path in &escapes {
            let f = g.expect_denied(read(path), &grant);
            assert!(!f.message.contains("root:"), "{path}: {f}");
        }
        for path in ["/data/..", "/data/parent-link", "/"] {
            g.expect_denied(list(path), &grant);
        }
    }

    // Nor can a read-write grant write outside itself.
    let rw = jail.grant(Access::ReadWrite);
    for path in [
        "/data/../secret.txt",
        "/data/up-link",
        "/data/abs-link",
        "/data/parent-link/secret.txt",
        secret,
    ] {
        g.expect_denied(write(path, "overwritten"), &rw);
    }
    g.expect_denied(write("/data/../planted.txt", "x"), &rw);
    g.expect_denied(write("/data/parent-link/planted.txt", "x"), &rw);
    assert_eq!(
        std::fs::read_to_string(jail.secret()).expect("read the secret"),
        SECRET
    );
    assert!(!jail.root.path().join("planted.txt").exists());
    g.assert_healthy();
}

#[test]
fn an_environment_grant_shows_exactly_the_granted_variables() {
    let g = guests();
    let grants = Grants {
        env: [
            ("GREETING".to_string(), "hello".to_string()),
            ("TENANT".to_string(), "a".to_string()),
        ]
        .into(),
        ..Grants::default()
    };
    assert_eq!(
        g.expect_granted(json!({"mode": "env"}), &grants),
        json!({"vars": [["GREETING", "hello"], ["TENANT", "a"]], "args": []})
    );
    g.assert_healthy();
}

#[test]
fn a_wall_clock_grant_shows_the_real_time() {
    let g = guests();
    let grants = Grants {
        wall_clock: true,
        ..Grants::default()
    };
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after the epoch")
            .as_secs()
    };
    let before = now();
    let seen = g.expect_granted(json!({"mode": "clock"}), &grants);
    let after = now();
    let seen = seen
        .as_u64()
        .unwrap_or_else(|| panic!("seconds, got {seen}"));
    assert!(
        before.saturating_sub(60) <= seen && seen <= after + 60,
        "guest {seen}, host {before}..{after}"
    );
    g.assert_healthy();
}

#[test]
fn a_random_grant_gives_fresh_randomness_per_call() {
    let g = guests();
    let grants = Grants {
        random: true,
        ..Grants::default()
    };
    let first = g.expect_granted(json!({"mode": "random"}), &grants);
    let second = g.expect_granted(json!({"mode": "random"}), &grants);
    assert!(first.is_u64(), "{first}");
    // Equal by chance with probability 2^-64.
    assert_ne!(first, second);
    // And different from the deterministic value without the grant.
    let fixed = g.expect_granted(json!({"mode": "random"}), &Grants::default());
    assert_ne!(first, fixed);
    g.assert_healthy();
}
