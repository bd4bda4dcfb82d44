//! `just bench`: per-task cost of taskbox flows next to the floor — a bare
//! pooled wasmtime instantiate + call of the same component, measured in the
//! same run with the same pooling settings.

use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use taskbox::{
    Engine, EngineOptions, Flow, Limits, Logbook, Mode, Plugin, RedbLogbook, Sandbox,
    SandboxConfig, Task,
};
use wasmtime::component::{Component, ComponentType, Lift, Linker, ResourceTable};
use wasmtime::{
    Config, Enabled, Engine as WasmEngine, InstanceAllocationStrategy, PoolingAllocationConfig,
    Store,
};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

#[derive(ComponentType, Lift)]
#[component(record)]
#[allow(dead_code)]
struct WitFailure {
    kind: String,
    message: String,
    details: Option<String>,
}

struct Bare {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for Bare {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Where the floor's time goes, per call.
#[derive(Default)]
struct Breakdown {
    store: Duration,
    instantiate: Duration,
    call: Duration,
    reset: Duration,
}

/// Fresh pooled instance + `execute` call of `add`, straight on wasmtime.
fn floor(path: &std::path::Path, calls: u32) -> wasmtime::Result<(Duration, Breakdown)> {
    let defaults = SandboxConfig::default();
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(64)
        .total_core_instances(512)
        .total_memories(128)
        .total_tables(512)
        .max_memory_size(defaults.memory_ceiling as usize)
        .linear_memory_keep_resident(defaults.keep_resident)
        .table_keep_resident(defaults.keep_resident)
        .pagemap_scan(Enabled::Auto);
    let mut config = Config::new();
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    let engine = WasmEngine::new(&config)?;
    let component = Component::from_file(&engine, path)?;
    let mut linker = Linker::<Bare>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    linker.define_unknown_imports_as_traps(&component)?;
    let pre = linker.instantiate_pre(&component)?;
    let mut parts = Breakdown::default();
    let started = Instant::now();
    for i in 0..calls {
        let t0 = Instant::now();
        let mut store = Store::new(
            &engine,
            Bare {
                wasi: WasiCtx::builder().build(),
                table: ResourceTable::new(),
            },
        );
        let t1 = Instant::now();
        let instance = pre.instantiate(&mut store)?;
        let t2 = Instant::now();
        let execute = instance
            .get_typed_func::<(&str,), (Result<String, WitFailure>,)>(&mut store, "execute")?;
        let args = format!("{{\"x\":{i},\"y\":1}}");
        let (out,) = execute.call(&mut store, (&args,))?;
        let t3 = Instant::now();
        drop(store);
        parts.store += t1 - t0;
        parts.instantiate += t2 - t1;
        parts.call += t3 - t2;
        parts.reset += t3.elapsed();
        if out.is_err() {
            wasmtime::bail!("add failed in the floor measurement");
        }
    }
    let per_call = |d: Duration| d / calls;
    let parts = Breakdown {
        store: per_call(parts.store),
        instantiate: per_call(parts.instantiate),
        call: per_call(parts.call),
        reset: per_call(parts.reset),
    };
    Ok((started.elapsed() / calls, parts))
}

fn sandbox_call(sandbox: &Sandbox, add: &Plugin, calls: u32) -> anyhow::Result<Duration> {
    let started = Instant::now();
    for i in 0..calls {
        let out = sandbox.execute(
            add,
            &json!({"x": i, "y": 1}),
            &Limits::default(),
            Arc::new(taskbox::NoObserver),
        );
        if out.is_err() {
            anyhow::bail!("add failed: {out:?}");
        }
    }
    Ok(started.elapsed() / calls)
}

fn chain(n: usize) -> Flow {
    let mut flow = Flow::linear(format!("chain-{n}")).task(
        Task::new("t0", "add")
            .inject("x", 0.into())
            .inject("y", 1.into())
            .provides("s0"),
    );
    for i in 1..n {
        flow = flow.task(
            Task::new(format!("t{i}"), "add")
                .rebind("x", format!("s{}", i - 1))
                .inject("y", 1.into())
                .provides(format!("s{i}")),
        );
    }
    flow
}

fn unordered(n: usize) -> Flow {
    let mut flow = Flow::unordered(format!("wide-{n}"));
    for i in 0..n {
        flow = flow.task(
            Task::new(format!("t{i}"), "add")
                .inject("x", i.into())
                .inject("y", 1.into())
                .provides(format!("s{i}")),
        );
    }
    flow
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
    let started = Instant::now();
    let mut engine = Engine::new(
        sandbox.clone(),
        plugins,
        flow,
        BTreeMap::new(),
        &EngineOptions {
            mode,
            ..EngineOptions::default()
        },
    )?;
    if let Some(logbook) = logbook {
        engine = engine.record(logbook.clone(), "bench", BTreeMap::new())?;
    }
    let compile = started.elapsed();
    let started = Instant::now();
    let outcome = engine.run()?;
    let run = started.elapsed();
    if !outcome.succeeded() {
        anyhow::bail!("{} failed: {:?}", flow.name, outcome.failures.first());
    }
    Ok(Row {
        what: format!(
            "{} ({mode:?}){}",
            flow.name,
            if logbook.is_some() { ", durable" } else { "" }
        ),
        compile,
        run,
        per_task: (compile + run) / n as u32,
    })
}

/// One durable redb commit of one small record, straight on redb.
fn redb_commit(path: &std::path::Path, commits: u32) -> anyhow::Result<Duration> {
    const TABLE: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("bench");
    let db = redb::Database::create(path)?;
    let record = [7u8; 200];
    let started = Instant::now();
    for i in 0..commits {
        let txn = db.begin_write()?;
        txn.open_table(TABLE)?
            .insert(u64::from(i), record.as_slice())?;
        txn.commit()?;
    }
    Ok(started.elapsed() / commits)
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
        max_instances: 64,
        ..SandboxConfig::default()
    })?);
    let plugins = sandbox.load_dir(taskbox_tests::GUEST_DIR.as_ref(), &Limits::default())?;
    let add = plugins
        .get("add")
        .ok_or_else(|| anyhow::anyhow!("no add guest"))?
        .clone();

    // Warm up both paths (page faults of fresh pool slots, caches).
    let floor = |calls| floor(&add_path, calls).map_err(|e| anyhow::anyhow!("floor: {e:#}"));
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
    durable(&sandbox, &plugins)
}

/// Durable runs on a redb file next to a bare redb commit on the same disk.
fn durable(sandbox: &Arc<Sandbox>, plugins: &taskbox::PluginSet) -> anyhow::Result<()> {
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
    Ok(())
}
