//! Hostile guests: every breach ends the call with a failure whose kind names
//! it, and the host stays healthy.

mod common;

use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use taskbox::{CallObserver, LogLevel, NoObserver};
use taskbox::{Failure, Limits, Plugin, Sandbox, kinds};

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
        self.sandbox
            .execute(&self.hostile, &args, limits, Arc::new(NoObserver))
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
            &Limits::default(),
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
}

#[test]
fn files_are_out_of_reach() {
    let g = guests();
    for path in ["/etc/passwd", "Cargo.toml", "../../etc/hostname", "."] {
        let f = g.expect_failure(json!({"mode": "open-file", "path": path}), "io.denied");
        assert!(!f.message.contains("root:"), "{f}");
    }
}

#[test]
fn sockets_are_out_of_reach() {
    let g = guests();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    g.expect_failure(json!({"mode": "socket", "addr": addr}), "io.denied");
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
        &limits,
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
}

#[test]
fn panic_in_revert_is_a_trap() {
    let g = guests();
    let err = g.sandbox.revert(
        &g.hostile,
        &json!({"mode": "revert-trap"}),
        Some(&Value::Null),
        &[],
        &limits(),
        Arc::new(NoObserver),
    );
    assert_eq!(err.map_err(|f| f.kind), Err(kinds::TRAP.to_string()));
    g.assert_healthy();
}

#[test]
fn many_hostile_calls_in_parallel_leave_the_host_healthy() {
    let g = Arc::new(guests());
    let modes = ["loop", "grow", "trap", "recurse", "bad-json", "ok"];
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
