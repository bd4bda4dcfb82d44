//! The flows the benches run, all on the guest components of
//! `taskbox_tests::GUEST_DIR`, and one timed run of a flow.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use taskbox::{
    Engine, EngineOptions, Flow, Logbook, Mode, Outcome, PluginSet, Retry, Sandbox, Task,
};

/// A linear chain of `n` `add` tasks, each adding 1 to the previous one's
/// output: task `i` provides `s<i>`, so `s<n-1>` ends up as `n`.
pub fn chain(n: usize) -> Flow {
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

/// An unordered flow of `n` independent `add` tasks.
pub fn unordered(n: usize) -> Flow {
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

/// An unordered flow of `n` `hostile` tasks in mode `sleep`, each sleeping
/// `ms` milliseconds inside the guest (`std::thread::sleep`, which waits on
/// WASI's monotonic clock: the guest blocks its worker thread, as a Python
/// task's `time.sleep` does).
pub fn sleepers(n: usize, ms: u64) -> Flow {
    let mut flow = Flow::unordered(format!("sleep-{n}x{ms}ms"));
    for i in 0..n {
        flow = flow.task(
            Task::new(format!("t{i}"), "hostile")
                .inject("mode", json!("sleep"))
                .inject("ms", json!(ms))
                .provides(format!("slept{i}")),
        );
    }
    flow
}

/// The name of [`retried`]'s retry controller.
pub const RETRY: &str = "times";

/// Where [`retried`]'s retry controller provides the attempt number.
pub const ATTEMPT: &str = "attempt";

/// A flow with one subflow whose builtin `times(attempts)` retry wraps a
/// `flaky_fetch` task; the fetch fails with `net.timeout` while the attempt
/// number is below the store's `fail_until`.
pub fn retried(name: &str, attempts: u32) -> Flow {
    Flow::linear(name).flow(
        Flow::linear("scope")
            .retry(Retry::times(RETRY, attempts).provides(ATTEMPT))
            .task(Task::new("fetch", "flaky_fetch")),
    )
}

/// The initial store of a flow, from a JSON object.
pub fn store(values: Value) -> BTreeMap<String, Value> {
    match values {
        Value::Object(map) => map.into_iter().collect(),
        _ => BTreeMap::new(),
    }
}

/// One timed run of a flow.
pub struct TimedRun {
    /// `Engine::new` (compiling the flow), and recording it when durable.
    pub compile: Duration,
    /// `Engine::run`.
    pub run: Duration,
    /// What the run ended with.
    pub outcome: Outcome,
}

impl TimedRun {
    /// Compile + run: what a user pays for the flow.
    pub fn total(&self) -> Duration {
        self.compile + self.run
    }
}

/// Compiles `flow` with `store` into an engine in `mode`, records it in
/// `logbook` if given, and runs it; fails unless the flow succeeded.
pub fn timed_run(
    sandbox: &Arc<Sandbox>,
    plugins: &PluginSet,
    flow: &Flow,
    store: BTreeMap<String, Value>,
    mode: Mode,
    logbook: Option<&Arc<dyn Logbook>>,
) -> anyhow::Result<TimedRun> {
    let started = Instant::now();
    let mut engine = Engine::new(
        sandbox.clone(),
        plugins,
        flow,
        store,
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
    Ok(TimedRun {
        compile,
        run,
        outcome,
    })
}
