//! The floors taskbox's costs are measured against: a bare pooled wasmtime
//! instantiate + call of a component (no sandbox, no engine) and one durable
//! redb commit (no logbook).

use std::path::Path;
use std::time::{Duration, Instant};
use taskbox::SandboxConfig;
use wasmtime::component::{Component, ComponentType, Lift, Linker, ResourceTable};
use wasmtime::{
    Config, Enabled, Engine as WasmEngine, InstanceAllocationStrategy, PoolingAllocationConfig,
    Store,
};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// The task world's failure record, as `execute` returns it.
#[derive(ComponentType, Lift)]
#[component(record)]
#[allow(dead_code)]
struct WitFailure {
    kind: String,
    message: String,
    details: Option<String>,
}

/// The bare store's data: WASI and nothing else.
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
pub struct Breakdown {
    /// Creating the store.
    pub store: Duration,
    /// Instantiating the component in a pool slot.
    pub instantiate: Duration,
    /// Looking up and calling `execute`.
    pub call: Duration,
    /// Dropping the store, which resets the slot.
    pub reset: Duration,
}

/// Fresh pooled instance + `execute` call of the `add` component at `path`,
/// straight on wasmtime, with the pool the sandbox sets up for `slots`
/// instances: the mean cost of one of `calls` calls, and its breakdown.
pub fn floor(path: &Path, slots: u32, calls: u32) -> wasmtime::Result<(Duration, Breakdown)> {
    let defaults = SandboxConfig::default();
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(slots)
        .total_core_instances(slots * 8)
        .total_memories(slots * 2)
        .total_tables(slots * 8)
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

/// One durable redb commit of one small record, straight on redb, in a
/// database at `path`: the mean of `commits` commits.
pub fn redb_commit(path: &Path, commits: u32) -> anyhow::Result<Duration> {
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
