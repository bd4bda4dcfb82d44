//! TaskFlow's side: `bench/taskflow/scenarios.py` in the virtualenv's
//! Python, one process per repetition, and the estimate of the chains it is
//! too slow to run.

use crate::Scenario;
use anyhow::Context as _;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A Python interpreter with TaskFlow, and the scenarios script.
pub struct TaskFlow {
    /// The interpreter.
    python: PathBuf,
    /// `bench/taskflow/scenarios.py`.
    script: PathBuf,
    /// Where the script runs (the workspace root).
    root: PathBuf,
    /// Where its durable files go.
    tmp: PathBuf,
    /// TaskFlow's version, as the interpreter reports it.
    version: String,
}

impl TaskFlow {
    /// The interpreter `$TASKFLOW_PYTHON` (default: the virtualenv that
    /// `bench/taskflow/setup.sh` creates under `root`), checked to import
    /// TaskFlow; fails with what to run when it is missing. Durable files
    /// go in `tmp`.
    pub fn find(root: &Path, tmp: &Path) -> anyhow::Result<TaskFlow> {
        let python = std::env::var_os("TASKFLOW_PYTHON").map_or_else(
            || root.join("target/taskflow-venv/bin/python"),
            |python| root.join(python),
        );
        let setup = "run `just bench-compare` or `bash scripts/bench-compare.sh`, which set up \
                     TaskFlow's virtualenv first (bench/taskflow/setup.sh), or point \
                     TASKFLOW_PYTHON at a Python with taskflow, SQLAlchemy, alembic and redis";
        if !python.exists() {
            anyhow::bail!(
                "TaskFlow's Python interpreter {} is missing: {setup}",
                python.display()
            );
        }
        let output = Command::new(&python)
            .args([
                "-c",
                "import importlib.metadata as m, taskflow; print(m.version('taskflow'))",
            ])
            .output()
            .with_context(|| format!("running {}", python.display()))?;
        if !output.status.success() {
            anyhow::bail!(
                "{} cannot import taskflow ({}): {setup}",
                python.display(),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(TaskFlow {
            script: root.join("bench/taskflow/scenarios.py"),
            root: root.to_path_buf(),
            tmp: tmp.to_path_buf(),
            version: String::from_utf8_lossy(&output.stdout).trim().to_string(),
            python,
        })
    }

    /// TaskFlow's version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// One repetition of `scenario` in a fresh Python process: the seconds
    /// of the region the script measures (its stderr passes through).
    pub fn run(&self, scenario: Scenario) -> anyhow::Result<f64> {
        let args = arguments(scenario, &self.tmp)?;
        let output = Command::new(&self.python)
            .arg(&self.script)
            .args(&args)
            .current_dir(&self.root)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .with_context(|| format!("running {}", self.script.display()))?;
        if !output.status.success() {
            anyhow::bail!(
                "TaskFlow's {} ({}) failed: {}",
                scenario.id(),
                args.join(" "),
                output.status
            );
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        let seconds = parse_line(&stdout, scenario.units())
            .with_context(|| format!("TaskFlow's {} printed {stdout:?}", scenario.id()))?;
        remove_database(scenario, &self.tmp)?;
        Ok(seconds)
    }
}

/// Where the durable scenario's SQLite database goes.
fn database(tmp: &Path) -> PathBuf {
    tmp.join("taskflow-durable.sqlite")
}

/// Deletes what the durable scenario left in `tmp`.
fn remove_database(scenario: Scenario, tmp: &Path) -> std::io::Result<()> {
    if let Scenario::Durable { .. } = scenario {
        let db = database(tmp);
        for suffix in ["", "-journal", "-wal", "-shm"] {
            let mut path = db.clone().into_os_string();
            path.push(suffix);
            crate::rig::remove_stale(Path::new(&path))?;
        }
    }
    Ok(())
}

/// The script's arguments for `scenario`, its files in `tmp`.
fn arguments(scenario: Scenario, tmp: &Path) -> anyhow::Result<Vec<String>> {
    let words = |words: &[&str]| words.iter().map(ToString::to_string).collect::<Vec<_>>();
    Ok(match scenario {
        Scenario::Chain { tasks } => words(&["chain", "--size", &tasks.to_string()]),
        Scenario::Unordered { tasks, workers } => words(&[
            "unordered",
            "--size",
            &tasks.to_string(),
            "--workers",
            &workers.to_string(),
        ]),
        Scenario::Sleep { tasks, workers, .. } => words(&[
            "sleep",
            "--size",
            &tasks.to_string(),
            "--workers",
            &workers.to_string(),
        ]),
        Scenario::Retry { flows } => words(&["retry", "--flows", &flows.to_string()]),
        Scenario::Durable { tasks } => words(&[
            "durable",
            "--size",
            &tasks.to_string(),
            "--db",
            &database(tmp).to_string_lossy(),
        ]),
        Scenario::Conductor { jobs, tasks, .. } => words(&[
            "conductor",
            "--jobs",
            &jobs.to_string(),
            "--size",
            &tasks.to_string(),
            "--redis-port",
            &free_port()?.to_string(),
        ]),
    })
}

/// A TCP port nothing listens on right now, for the script's Redis server.
fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The `seconds` of the script's JSON line (its last line), checked to
/// cover `units` units.
fn parse_line(stdout: &str, units: usize) -> anyhow::Result<f64> {
    let line = stdout
        .lines()
        .rev()
        .find(|line| line.starts_with('{'))
        .context("no JSON line")?;
    let fields: Value = serde_json::from_str(line)?;
    let measured = fields["units"].as_u64().context("no units")?;
    anyhow::ensure!(
        measured == units as u64,
        "measured {measured} units, expected {units}"
    );
    fields["seconds"].as_f64().context("no seconds")
}

/// `seconds = a·n + b·n²`, least-squares through measured chains: TaskFlow's
/// chain is quadratic (every task's scheduling walks the flow so far).
#[derive(Debug, Clone, Copy)]
pub struct QuadraticFit {
    /// Seconds per task.
    pub a: f64,
    /// Seconds per task squared.
    pub b: f64,
}

impl QuadraticFit {
    /// The fit through `points` (tasks, seconds); none without two distinct
    /// lengths. A negative `b` (not quadratic after all) falls back to a
    /// line through the origin.
    pub fn through(points: &[(f64, f64)]) -> Option<QuadraticFit> {
        let sum = |f: &dyn Fn(f64, f64) -> f64| points.iter().map(|&(n, t)| f(n, t)).sum::<f64>();
        let (s2, s3, s4) = (
            sum(&|n, _| n * n),
            sum(&|n, _| n * n * n),
            sum(&|n, _| n * n * n * n),
        );
        let (s1t, s2t) = (sum(&|n, t| n * t), sum(&|n, t| n * n * t));
        let det = s2 * s4 - s3 * s3;
        if points.len() < 2 || det.abs() <= f64::EPSILON * s2 * s4 {
            return None;
        }
        let fit = QuadraticFit {
            a: (s1t * s4 - s2t * s3) / det,
            b: (s2 * s2t - s3 * s1t) / det,
        };
        Some(if fit.b >= 0.0 {
            fit
        } else {
            QuadraticFit {
                a: s1t / s2,
                b: 0.0,
            }
        })
    }

    /// The estimated seconds of a chain of `n` tasks.
    pub fn seconds(&self, n: f64) -> f64 {
        self.a * n + self.b * n * n
    }
}
