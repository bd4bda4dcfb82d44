//! `just bench`, second part: what the Python and JavaScript plugins cost
//! next to the Rust ones, for the same saga steps. Per plugin: its size,
//! the first load (compile + describe, into an empty compiled-component
//! cache), the cached load (a new sandbox on that cache), the cost of one
//! `execute` call (fresh instance, best of three) and the smallest memory
//! cap under which a call succeeds.
//!
//! Reads the Python and JavaScript plugins from `TASKBOX_POLYGLOT_DIR`
//! (`bash scripts/build-polyglot.sh` builds them into
//! `target/polyglot/plugins`).

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use taskbox::{Limits, NoObserver, Plugin, Sandbox, SandboxConfig};

/// Memory caps are searched in steps of one WebAssembly page.
const PAGE: u64 = 64 << 10;

/// The host's default memory cap, 64 MiB.
const DEFAULT_MEMORY: u64 = 64 << 20;

struct Case {
    step: &'static str,
    language: &'static str,
    path: PathBuf,
    args: Value,
    calls: u32,
}

fn cases(polyglot: &Path) -> Vec<Case> {
    let rust = Path::new(taskbox_tests::GUEST_DIR);
    let reserve = json!({"sku": "widget-42", "quantity": 3});
    let charge = json!({
        "reservation": {"reservation_id": "rsv-widget-42-3"},
        "card": "4242-4242-4242-4242",
        "amount_cents": 12900
    });
    [
        ("reserve", "Rust", rust.join("reserve_stock.wasm"), &reserve),
        (
            "reserve",
            "Python",
            polyglot.join("reserve_stock_py.wasm"),
            &reserve,
        ),
        ("charge", "Rust", rust.join("charge_payment.wasm"), &charge),
        (
            "charge",
            "JavaScript",
            polyglot.join("charge_payment_js.wasm"),
            &charge,
        ),
    ]
    .into_iter()
    .map(|(step, language, path, args)| Case {
        step,
        language,
        path,
        args: args.clone(),
        // Interpreted calls cost milliseconds: fewer of them.
        calls: if language == "Rust" { 2_000 } else { 200 },
    })
    .collect()
}

fn sandbox(cache: &Path) -> anyhow::Result<Sandbox> {
    Ok(Sandbox::new(&SandboxConfig {
        cache_dir: Some(cache.to_path_buf()),
        ..SandboxConfig::default()
    })?)
}

fn timed_load(cache: &Path, path: &Path) -> anyhow::Result<(Sandbox, Plugin, Duration)> {
    let sandbox = sandbox(cache)?;
    let started = Instant::now();
    let plugin = sandbox.load_file(path, &Limits::default())?;
    Ok((sandbox, plugin, started.elapsed()))
}

fn call(sandbox: &Sandbox, plugin: &Plugin, args: &Value, memory: u64) -> bool {
    let limits = Limits {
        memory_bytes: memory,
        ..Limits::default()
    };
    sandbox
        .execute(plugin, args, &limits.into(), Arc::new(NoObserver))
        .is_ok()
}

/// Mean cost of one execute, best of three runs of `calls` calls.
fn per_call(sandbox: &Sandbox, plugin: &Plugin, case: &Case) -> anyhow::Result<Duration> {
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let started = Instant::now();
        for _ in 0..case.calls {
            if !call(sandbox, plugin, &case.args, DEFAULT_MEMORY) {
                anyhow::bail!("{} failed", case.path.display());
            }
        }
        best = best.min(started.elapsed() / case.calls);
    }
    Ok(best)
}

/// The smallest memory cap, in whole pages, under which a call succeeds.
fn min_memory(sandbox: &Sandbox, plugin: &Plugin, args: &Value) -> u64 {
    let (mut fails, mut works) = (0, DEFAULT_MEMORY / PAGE);
    while works - fails > 1 {
        let mid = (fails + works) / 2;
        if call(sandbox, plugin, args, mid * PAGE) {
            works = mid;
        } else {
            fails = mid;
        }
    }
    works * PAGE
}

fn mib(bytes: u64) -> String {
    format!("{:.2} MiB", bytes as f64 / f64::from(1 << 20))
}

fn main() -> anyhow::Result<()> {
    let polyglot = std::env::var_os("TASKBOX_POLYGLOT_DIR").map(PathBuf::from).ok_or_else(|| {
        anyhow::anyhow!(
            "TASKBOX_POLYGLOT_DIR is not set: run `bash scripts/build-polyglot.sh` and set it to \
             target/polyglot/plugins (`just bench` does both)"
        )
    })?;
    println!("taskbox polyglot bench: the same saga steps in Rust, Python and JavaScript");
    println!();
    println!(
        "{:<8} {:<11} {:>10} {:>12} {:>12} {:>12} {:>11}",
        "step", "language", "size", "first load", "cached load", "per call", "min memory"
    );
    for case in cases(&polyglot) {
        let cache = tempfile::tempdir()?;
        let (_, first, compile) = timed_load(cache.path(), &case.path)?;
        let (sandbox, cached, load) = timed_load(cache.path(), &case.path)?;
        if first.from_cache() || !cached.from_cache() {
            anyhow::bail!(
                "{}: the second load did not come from the cache",
                case.path.display()
            );
        }
        // Warm up the pool slot before timing calls.
        call(&sandbox, &cached, &case.args, DEFAULT_MEMORY);
        let cost = per_call(&sandbox, &cached, &case)?;
        let memory = min_memory(&sandbox, &cached, &case.args);
        println!(
            "{:<8} {:<11} {:>10} {:>12} {:>12} {:>12} {:>11}",
            case.step,
            case.language,
            mib(cached.size() as u64),
            format!("{compile:.2?}"),
            format!("{load:.1?}"),
            format!("{:.1} µs", cost.as_secs_f64() * 1e6),
            mib(memory)
        );
    }
    println!();
    println!(
        "first load = compile + describe into an empty cache; cached load = a new sandbox on that cache;"
    );
    println!(
        "per call = fresh instance + execute, best of 3; min memory = smallest cap (64 KiB steps) a call succeeds under."
    );
    Ok(())
}
