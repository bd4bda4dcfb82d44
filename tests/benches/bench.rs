//! `just bench`: per-task cost of taskbox flows next to the floor — a bare
//! pooled wasmtime instantiate + call of the same component, measured in the
//! same run with the same pooling settings.

#[path = "rig/mod.rs"]
mod rig;

use rig::floor::{floor, redb_commit};
use rig::flows::{chain, timed_run, unordered};
use rig::jobs::{JobFigures, JobSet, board_row, http_row};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use taskbox::{
    Flow, Limits, Logbook, Mode, Plugin, RedbLogbook, Sandbox, SandboxConfig, Terms, Workshop,
};

/// Pool slots of the bench's sandbox, and of the floor's bare pool.
const SLOTS: u32 = 64;

fn sandbox_call(sandbox: &Sandbox, add: &Plugin, calls: u32) -> anyhow::Result<Duration> {
    let started = Instant::now();
    for i in 0..calls {
        let out = sandbox.execute(
            add,
            &json!({"x": i, "y": 1}),
            &Terms::default(),
            Arc::new(taskbox::NoObserver),
        );
        if out.is_err() {
            anyhow::bail!("add failed: {out:?}");
        }
    }
    Ok(started.elapsed() / calls)
}

struct Row {
    what: String,
    compile: Duration,
    run: Duration,
    per_task: Duration,
}

/// The best of three measurements: this kind of machine is noisy and the
/// minimum is the signal.
fn best_of_three<T>(
    mut measure: impl FnMut() -> anyhow::Result<T>,
    cost: impl Fn(&T) -> Duration,
) -> anyhow::Result<T> {
    let mut best = measure()?;
    for _ in 0..2 {
        let again = measure()?;
        if cost(&again) < cost(&best) {
            best = again;
        }
    }
    Ok(best)
}

/// The best of three runs of `flow`, recorded in `logbook` if given.
fn flow_row(
    sandbox: &Arc<Sandbox>,
    plugins: &taskbox::PluginSet,
    flow: &Flow,
    mode: Mode,
    logbook: Option<&Arc<dyn Logbook>>,
) -> anyhow::Result<Row> {
    let tasks = flow.tasks().len();
    best_of_three(
        || flow_once(sandbox, plugins, flow, mode, logbook, tasks),
        |row| row.per_task,
    )
}

fn flow_once(
    sandbox: &Arc<Sandbox>,
    plugins: &taskbox::PluginSet,
    flow: &Flow,
    mode: Mode,
    logbook: Option<&Arc<dyn Logbook>>,
    n: usize,
) -> anyhow::Result<Row> {
    let timed = timed_run(sandbox, plugins, flow, BTreeMap::new(), mode, logbook)?;
    Ok(Row {
        what: format!(
            "{} ({mode:?}){}",
            flow.name,
            if logbook.is_some() { ", durable" } else { "" }
        ),
        compile: timed.compile,
        run: timed.run,
        per_task: timed.total() / n as u32,
    })
}

/// One line per row, the per-task cost also as a multiple of `unit`.
fn print_rows(rows: &[Row], width: usize, unit: Duration) {
    for row in rows {
        println!(
            "{:<width$} {:>12} {:>12} {:>14} {:>9.2}x",
            row.what,
            format!("{:.1?}", row.compile),
            format!("{:.1?}", row.run),
            us(row.per_task),
            row.per_task.as_secs_f64() / unit.as_secs_f64()
        );
    }
}

fn us(d: Duration) -> String {
    format!("{:.2} µs", d.as_secs_f64() * 1e6)
}

fn main() -> anyhow::Result<()> {
    let add_path = std::path::Path::new(taskbox_tests::GUEST_DIR).join("add.wasm");
    let sandbox = Arc::new(Sandbox::new(&SandboxConfig {
        max_instances: SLOTS,
        ..SandboxConfig::default()
    })?);
    let plugins = sandbox.load_dir(taskbox_tests::GUEST_DIR.as_ref(), &Limits::default())?;
    let add = plugins
        .get("add")
        .ok_or_else(|| anyhow::anyhow!("no add guest"))?
        .clone();

    // Warm up both paths (page faults of fresh pool slots, caches).
    let floor = |calls| floor(&add_path, SLOTS, calls).map_err(|e| anyhow::anyhow!("floor: {e:#}"));
    floor(2_000)?;
    sandbox_call(&sandbox, &add, 2_000)?;
    let (floor_cost, parts) = best_of_three(|| floor(20_000), |(cost, _)| *cost)?;
    let call_cost = best_of_three(|| sandbox_call(&sandbox, &add, 20_000), |cost| *cost)?;

    println!(
        "taskbox bench ({} CPUs)",
        std::thread::available_parallelism().map_or(1, usize::from)
    );
    println!();
    println!(
        "{:<44} {:>12}",
        "floor: bare pooled instantiate + call (add)",
        us(floor_cost)
    );
    println!(
        "  of which: store {}, instantiate {}, call {}, slot reset {}",
        us(parts.store),
        us(parts.instantiate),
        us(parts.call),
        us(parts.reset)
    );
    println!(
        "{:<44} {:>12}   {:.2}x floor",
        "sandbox: fresh instance + call, limits, JSON",
        us(call_cost),
        call_cost.as_secs_f64() / floor_cost.as_secs_f64()
    );
    println!();
    println!(
        "{:<34} {:>12} {:>12} {:>14} {:>10}",
        "flow", "compile", "run", "per task", "vs floor"
    );
    let parallel = Mode::Parallel { workers: 2 };
    let rows = [
        flow_row(&sandbox, &plugins, &chain(1_000), Mode::Serial, None)?,
        flow_row(&sandbox, &plugins, &chain(10_000), Mode::Serial, None)?,
        flow_row(&sandbox, &plugins, &unordered(1_000), Mode::Serial, None)?,
        flow_row(&sandbox, &plugins, &unordered(1_000), parallel, None)?,
    ];
    print_rows(&rows, 34, floor_cost);
    println!();
    println!(
        "per task = (compile + run) / tasks, best of 3; linear growth shows as a flat per-task cost from 1,000 to 10,000."
    );
    let commit = durable(&sandbox, &plugins)?;
    conductor(Arc::new(Workshop::new(sandbox, plugins, None, 2)), commit)
}

/// Durable runs on a redb file next to a bare redb commit on the same disk;
/// the commit's cost, the floor of the durable sections.
fn durable(sandbox: &Arc<Sandbox>, plugins: &taskbox::PluginSet) -> anyhow::Result<Duration> {
    let dir = tempfile::tempdir()?;
    let commit = best_of_three(|| redb_commit(&dir.path().join("bare.redb"), 200), |d| *d)?;
    let logbook: Arc<dyn Logbook> = Arc::new(RedbLogbook::open(&dir.path().join("book.redb"))?);
    println!();
    println!(
        "{:<44} {:>12}",
        "durable: one bare redb commit (fsync)",
        us(commit)
    );
    println!(
        "{:<44} {:>12} {:>12} {:>14} {:>10}",
        "flow", "record", "run", "per task", "vs commit"
    );
    let rows = [
        flow_row(
            sandbox,
            plugins,
            &chain(1_000),
            Mode::Serial,
            Some(&logbook),
        )?,
        flow_row(
            sandbox,
            plugins,
            &unordered(1_000),
            Mode::Parallel { workers: 2 },
            Some(&logbook),
        )?,
    ];
    print_rows(&rows, 44, commit);
    println!();
    println!(
        "durable: every state change committed before its consequences start; one commit per scheduler step (the chain: one per task; parallel completions share commits)."
    );
    Ok(commit)
}

/// Jobs per conductor row.
const JOBS: usize = 1_000;
/// `add` tasks in each job's chain.
const TASKS_PER_JOB: usize = 10;

/// Jobs through a conductor on durable storage, posted straight to the
/// board and through the daemon's HTTP API; `commit` is one bare redb
/// commit, the floor.
fn conductor(workshop: Arc<Workshop>, commit: Duration) -> anyhow::Result<()> {
    let jobs = JobSet::chains(JOBS, TASKS_PER_JOB);
    let dir = tempfile::tempdir()?;
    let db = |name: &str| dir.path().join(name);
    println!();
    println!(
        "conductor: {JOBS} jobs × {TASKS_PER_JOB} add tasks, durable (logbook and board in one redb file)"
    );
    println!(
        "{:<34} {:>9} {:>9} {:>9} {:>13} {:>11} {:>10}",
        "jobs", "wall", "jobs/s", "tasks/s", "mean latency", "per task", "vs commit"
    );
    let rows = [
        (
            "conductor, board posts, 1 slot",
            board_row(&workshop, &jobs, 1, &db("board-1.redb"))?,
        ),
        (
            "conductor, board posts, 4 slots",
            board_row(&workshop, &jobs, 4, &db("board-4.redb"))?,
        ),
        (
            "conductor, board posts, 16 slots",
            board_row(&workshop, &jobs, 16, &db("board-16.redb"))?,
        ),
        (
            "daemon over HTTP, 16 slots",
            http_row(&workshop, &jobs, 16, &db("http-16.redb"))?,
        ),
    ];
    for (what, figures) in &rows {
        print_jobs_row(what, figures, commit);
    }
    println!();
    println!(
        "wall = first post to last job consumed, posting from one thread while the conductor runs; latency = posted to consumed, mean (mostly queueing: posting outruns the conductor); vs commit = per task / one bare redb commit."
    );
    Ok(())
}

/// One line of the conductor section.
fn print_jobs_row(what: &str, figures: &JobFigures, commit: Duration) {
    let tasks = (JOBS * TASKS_PER_JOB) as f64;
    let secs = figures.wall.as_secs_f64();
    let per_task = secs / tasks;
    println!(
        "{what:<34} {:>9} {:>9.0} {:>9.0} {:>13} {:>11} {:>9.2}x",
        format!("{:.2?}", figures.wall),
        JOBS as f64 / secs,
        tasks / secs,
        format!("{:.1?}", figures.latency),
        us(Duration::from_secs_f64(per_task)),
        per_task / commit.as_secs_f64()
    );
}
