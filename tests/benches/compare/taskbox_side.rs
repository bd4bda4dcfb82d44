//! taskbox's side, in this process: the scenarios on the guest components
//! of `taskbox_tests::GUEST_DIR`, and the floors.

use crate::rig::floor::{floor, redb_commit};
use crate::rig::flows::{
    ATTEMPT, RETRY, TimedRun, chain, retried, sleepers, store, timed_run, unordered,
};
use crate::rig::jobs::{JobSet, http_row};
use crate::rig::remove_stale;
use crate::{Floors, RETRY_ATTEMPTS, Scenario, median};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use taskbox::{
    AtomState, Flow, FlowState, Limits, Logbook, Mode, PluginSet, RedbLogbook, Sandbox,
    SandboxConfig, Workshop,
};

/// Pool slots of the sandbox (and of the floor's bare pool): twice the
/// sleep scenario's 64 workers, each holding an instance while it sleeps.
const SLOTS: u32 = 2 * crate::SLEEPERS as u32;

/// Parallel workers a job may ask the conductor's workshop for.
const JOB_WORKERS: usize = 2;

/// The sandbox, the guests and where durable files go.
pub struct Taskbox {
    /// The sandbox and the guests, shared with the daemon's conductor.
    workshop: Arc<Workshop>,
    /// Directory of the durable files, next to TaskFlow's.
    tmp: PathBuf,
}

impl Taskbox {
    /// A sandbox of `SLOTS` instances with every guest loaded; durable
    /// files go in `tmp`.
    pub fn new(tmp: &Path) -> anyhow::Result<Taskbox> {
        let sandbox = Arc::new(Sandbox::new(&SandboxConfig {
            max_instances: SLOTS,
            ..SandboxConfig::default()
        })?);
        let plugins = sandbox.load_dir(taskbox_tests::GUEST_DIR.as_ref(), &Limits::default())?;
        anyhow::ensure!(
            plugins.errors.is_empty(),
            "guests failed to load: {:?}",
            plugins.errors
        );
        Ok(Taskbox {
            workshop: Arc::new(Workshop::new(sandbox, plugins, None, JOB_WORKERS)),
            tmp: tmp.to_path_buf(),
        })
    }

    /// The sandbox.
    fn sandbox(&self) -> &Arc<Sandbox> {
        self.workshop.sandbox()
    }

    /// The guests.
    fn plugins(&self) -> &PluginSet {
        self.workshop.plugins()
    }

    /// The floors, each the middle one of `reps` measurements: a bare
    /// pooled instantiate + call of `add` (after a warm-up; the mean of
    /// 20,000 calls) and one redb commit in `tmp` (the mean of 200).
    pub fn floors(&self, reps: usize) -> anyhow::Result<Floors> {
        let add = Path::new(taskbox_tests::GUEST_DIR).join("add.wasm");
        let call = |calls| floor(&add, SLOTS, calls).map_err(|e| anyhow::anyhow!("floor: {e:#}"));
        call(2_000)?;
        let mut calls = (0..reps)
            .map(|_| call(20_000))
            .collect::<anyhow::Result<Vec<_>>>()?;
        calls.sort_by_key(|(cost, _)| *cost);
        let (call_cost, breakdown) = calls.swap_remove(calls.len() / 2);
        let commit_db = self.tmp.join("redb-commit.redb");
        let mut commits = Vec::with_capacity(reps);
        for _ in 0..reps {
            remove_stale(&commit_db)?;
            commits.push(redb_commit(&commit_db, 200)?.as_secs_f64());
        }
        remove_stale(&commit_db)?;
        Ok(Floors {
            call: call_cost.as_secs_f64(),
            breakdown,
            commit: median(&commits),
        })
    }

    /// One repetition of `scenario`: its seconds, checked to have done
    /// what it should.
    pub fn run(&self, scenario: Scenario) -> anyhow::Result<f64> {
        let elapsed = match scenario {
            Scenario::Chain { tasks } => self.chain(tasks)?,
            Scenario::Unordered { tasks, workers } => self
                .in_memory(&unordered(tasks), Mode::Parallel { workers })?
                .total(),
            Scenario::Sleep { tasks, ms, workers } => self.sleep(tasks, ms, workers)?,
            Scenario::Retry { flows } => self.retry(flows)?,
            Scenario::Durable { tasks } => self.durable(tasks)?,
            Scenario::Conductor { jobs, tasks, slots } => {
                let db = self.tmp.join("taskbox-daemon.redb");
                let figures = http_row(&self.workshop, &JobSet::chains(jobs, tasks), slots, &db)?;
                remove_stale(&db)?;
                figures.wall
            }
        };
        Ok(elapsed.as_secs_f64())
    }

    /// `flow` in memory in `mode`, with an empty store: Engine::new + run.
    fn in_memory(&self, flow: &Flow, mode: Mode) -> anyhow::Result<TimedRun> {
        timed_run(
            self.sandbox(),
            self.plugins(),
            flow,
            BTreeMap::new(),
            mode,
            None,
        )
    }

    /// The linear chain of `tasks`, serial, in memory; checks its sum.
    fn chain(&self, tasks: usize) -> anyhow::Result<Duration> {
        let timed = self.in_memory(&chain(tasks), Mode::Serial)?;
        check_sum(&timed.outcome, tasks)?;
        Ok(timed.total())
    }

    /// `tasks` guests sleeping `ms` each on `workers` workers; checks that
    /// they did sleep.
    fn sleep(&self, tasks: usize, ms: u64, workers: usize) -> anyhow::Result<Duration> {
        let elapsed = self
            .in_memory(&sleepers(tasks, ms), Mode::Parallel { workers })?
            .total();
        anyhow::ensure!(
            elapsed >= Duration::from_millis(ms),
            "{tasks} tasks sleeping {ms} ms took only {elapsed:?}"
        );
        Ok(elapsed)
    }

    /// `flows` retried flows, each its own serial engine (built up front,
    /// like TaskFlow's); checks that each took `RETRY_ATTEMPTS` attempts.
    fn retry(&self, flows: usize) -> anyhow::Result<Duration> {
        let pending: Vec<Flow> = (0..flows)
            .map(|i| retried(&format!("retry-{i}"), RETRY_ATTEMPTS))
            .collect();
        let started = Instant::now();
        let outcomes = pending
            .iter()
            .map(|flow| {
                let values = store(json!({ "fail_until": RETRY_ATTEMPTS }));
                timed_run(
                    self.sandbox(),
                    self.plugins(),
                    flow,
                    values,
                    Mode::Serial,
                    None,
                )
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let elapsed = started.elapsed();
        for timed in &outcomes {
            let outcome = &timed.outcome;
            let attempts = outcome
                .atom(RETRY)
                .and_then(|retry| retry.history.as_ref())
                .map_or(0, |history| history.attempts.len());
            anyhow::ensure!(
                outcome.fetch(ATTEMPT) == Some(&json!(RETRY_ATTEMPTS))
                    && attempts == RETRY_ATTEMPTS as usize
                    && outcome.fetch("page").map(|page| &page["attempt"])
                        == Some(&json!(RETRY_ATTEMPTS)),
                "{} took {attempts} attempts, not {RETRY_ATTEMPTS}: {:?}",
                outcome.flow,
                outcome.fetch_all()
            );
        }
        Ok(elapsed)
    }

    /// The linear chain of `tasks` recorded in a redb logbook on a fresh
    /// file in `tmp` (opened before the clock starts, as TaskFlow's
    /// database is created untimed); checks what the logbook holds.
    fn durable(&self, tasks: usize) -> anyhow::Result<Duration> {
        let db = self.tmp.join("taskbox-durable.redb");
        remove_stale(&db)?;
        let logbook: Arc<dyn Logbook> = Arc::new(RedbLogbook::open(&db)?);
        let flow = chain(tasks);
        let timed = timed_run(
            self.sandbox(),
            self.plugins(),
            &flow,
            BTreeMap::new(),
            Mode::Serial,
            Some(&logbook),
        )?;
        check_sum(&timed.outcome, tasks)?;
        let flows = logbook.flows()?;
        let [recorded] = flows.as_slice() else {
            anyhow::bail!("the logbook holds {} flows, not 1", flows.len());
        };
        let atoms = logbook.atoms(recorded.id)?;
        anyhow::ensure!(
            recorded.state == FlowState::Success
                && atoms.len() == tasks
                && atoms.iter().all(|atom| atom.state == AtomState::Success),
            "the logbook holds the flow {} with {} atoms",
            recorded.state,
            atoms.len()
        );
        drop(logbook);
        remove_stale(&db)?;
        Ok(timed.total())
    }
}

/// Fails unless the chain of `tasks` computed `tasks` (see `rig::flows::chain`).
fn check_sum(outcome: &taskbox::Outcome, tasks: usize) -> anyhow::Result<()> {
    let last = outcome.fetch(&format!("s{}", tasks - 1));
    anyhow::ensure!(
        last == Some(&json!(tasks)),
        "chain of {tasks} computed {last:?}"
    );
    Ok(())
}
