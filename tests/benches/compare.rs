//! `just bench-compare`: the same flows in TaskFlow (Python) and taskbox,
//! alternating repetition by repetition, with medians, the floors measured
//! in the same run, a table (printed, CSV, JSON) and an SVG chart of the
//! linear chains.
//!
//! ```text
//! cargo bench -p taskbox-tests --bench compare -- [--reps N] [--out DIR] [--quick]
//!     [--taskflow-long-chains]
//! ```
//!
//! TaskFlow's side is `bench/taskflow/scenarios.py`, one Python process per
//! repetition, whose JSON line gives the seconds of the measured region;
//! taskbox's side runs in this process. TaskFlow's tasks are plain Python
//! functions; taskbox's are WebAssembly components in the sandbox, a fresh
//! instance per call.

#[path = "rig/mod.rs"]
mod rig;

#[path = "compare/chart.rs"]
mod chart;
#[path = "compare/report.rs"]
mod report;
#[path = "compare/taskbox_side.rs"]
mod taskbox_side;
#[path = "compare/taskflow.rs"]
mod taskflow;

use anyhow::Context as _;
use std::path::{Path, PathBuf};
use std::time::Duration;
use taskbox_side::Taskbox;
use taskflow::{QuadraticFit, TaskFlow};

/// How the command line is used.
const USAGE: &str = "usage: cargo bench -p taskbox-tests --bench compare -- \
[--reps N] [--out DIR] [--quick] [--taskflow-long-chains]

  --reps N                 repetitions per scenario and system (default 3; 1 with --quick)
  --out DIR                where compare.csv, compare.json and chains.svg go
                           (default target/bench-compare; relative to the workspace root)
  --quick                  one repetition and smaller sizes: a smoke run
  --taskflow-long-chains   also run TaskFlow's longest chain, which is quadratic
                           (about 30 min at 10,000 tasks); also TASKFLOW_LONG_CHAINS=1

TaskFlow's interpreter: $TASKFLOW_PYTHON, default target/taskflow-venv/bin/python.";

/// Milliseconds each task of the sleep scenario sleeps (TaskFlow's
/// `SLEEP_SECONDS` in scenarios.py).
const SLEEP_MS: u64 = 50;
/// Tasks, and parallel workers, of the sleep scenario.
const SLEEPERS: usize = 64;
/// Attempts of the retry scenario's `times` controller; the task fails on
/// all but the last (TaskFlow's `RETRY_ATTEMPTS` and `RETRY_FAILURES + 1`).
const RETRY_ATTEMPTS: u32 = 5;
/// `add` tasks in each job of the conductor scenario.
const TASKS_PER_JOB: usize = 10;
/// Conductor slots of taskbox's daemon.
const CONDUCTOR_SLOTS: usize = 16;

/// What the command line asked for.
struct Options {
    /// Repetitions of each scenario, per system.
    reps: usize,
    /// Where the CSV, JSON and SVG files go.
    out: PathBuf,
    /// One repetition and smaller sizes.
    quick: bool,
    /// Run TaskFlow's chains beyond `Sizes::taskflow_chain_max` too.
    long_chains: bool,
}

/// The workspace's root directory (this package's parent).
fn workspace_root() -> PathBuf {
    let package = Path::new(env!("CARGO_MANIFEST_DIR"));
    package.parent().unwrap_or(package).to_path_buf()
}

/// Parses the command line (cargo bench adds `--bench`, ignored). Relative
/// paths are taken from the workspace root: cargo runs benches in the
/// package's directory, which nobody expects.
fn options(root: &Path) -> anyhow::Result<Options> {
    let mut reps = None;
    let mut out = None;
    let mut quick = false;
    let mut long_chains = std::env::var("TASKFLOW_LONG_CHAINS").is_ok_and(|v| v == "1");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .with_context(|| format!("{name} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--bench" => {}
            "--reps" => {
                let text = value("--reps")?;
                let n: usize = text
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .with_context(|| format!("--reps {text:?}: a positive integer"))?;
                reps = Some(n);
            }
            "--out" => out = Some(root.join(value("--out")?)),
            "--quick" => quick = true,
            "--taskflow-long-chains" => long_chains = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => anyhow::bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    Ok(Options {
        reps: reps.unwrap_or(if quick { 1 } else { 3 }),
        out: out.unwrap_or_else(|| root.join("target/bench-compare")),
        quick,
        long_chains,
    })
}

/// The sizes of one run's scenarios.
struct Sizes {
    /// Tasks of each linear chain, ascending.
    chains: &'static [usize],
    /// Longest chain TaskFlow runs; longer ones are estimated.
    taskflow_chain_max: usize,
    /// Tasks of the unordered flows.
    unordered: usize,
    /// Flows of the retry scenario.
    retry_flows: usize,
    /// Tasks of the durable chain.
    durable: usize,
    /// Jobs through the conductor.
    jobs: usize,
}

/// The sizes the issue asks for.
const FULL: Sizes = Sizes {
    chains: &[100, 1_000, 10_000],
    taskflow_chain_max: 1_000,
    unordered: 1_000,
    retry_flows: 200,
    durable: 1_000,
    jobs: 200,
};

/// A smoke run's sizes: every scenario, a few seconds each.
const QUICK: Sizes = Sizes {
    chains: &[10, 100, 1_000],
    taskflow_chain_max: 100,
    unordered: 200,
    retry_flows: 20,
    durable: 100,
    jobs: 20,
};

/// One scenario, run the same way by both systems.
#[derive(Debug, Clone, Copy)]
enum Scenario {
    /// Linear chain of `tasks` adds, serial engine, in memory.
    Chain { tasks: usize },
    /// Unordered flow of `tasks` adds, parallel engine of `workers`.
    Unordered { tasks: usize, workers: usize },
    /// Unordered flow of `tasks` tasks sleeping `ms` each, `workers` workers.
    Sleep {
        tasks: usize,
        ms: u64,
        workers: usize,
    },
    /// `flows` flows, each its own engine, with a `times` retry around a
    /// task that fails on every attempt but the last.
    Retry { flows: usize },
    /// Linear chain of `tasks` recorded in durable storage.
    Durable { tasks: usize },
    /// `jobs` jobs, each a chain of `tasks`, through a conductor.
    Conductor {
        jobs: usize,
        tasks: usize,
        slots: usize,
    },
}

/// What a scenario's cost is compared with.
#[derive(Debug, Clone, Copy, PartialEq)]
enum FloorKind {
    /// Bare wasmtime instantiate + call, per task execution.
    Call,
    /// One durable redb commit, per task.
    Commit,
    /// The time one task sleeps, for the whole flow.
    Sleep(Duration),
}

impl Scenario {
    /// Every scenario of a run with `sizes`, in the order they run.
    fn all(sizes: &Sizes) -> Vec<Scenario> {
        let mut all: Vec<Scenario> = sizes
            .chains
            .iter()
            .map(|&tasks| Scenario::Chain { tasks })
            .collect();
        all.extend([2, 8].map(|workers| Scenario::Unordered {
            tasks: sizes.unordered,
            workers,
        }));
        all.extend([
            Scenario::Sleep {
                tasks: SLEEPERS,
                ms: SLEEP_MS,
                workers: SLEEPERS,
            },
            Scenario::Retry {
                flows: sizes.retry_flows,
            },
            Scenario::Durable {
                tasks: sizes.durable,
            },
            Scenario::Conductor {
                jobs: sizes.jobs,
                tasks: TASKS_PER_JOB,
                slots: CONDUCTOR_SLOTS,
            },
        ]);
        all
    }

    /// A short stable identifier, for the CSV and JSON.
    fn id(&self) -> String {
        match *self {
            Scenario::Chain { tasks } => format!("chain-{tasks}"),
            Scenario::Unordered { tasks, workers } => format!("unordered-{tasks}-w{workers}"),
            Scenario::Sleep { tasks, ms, workers } => format!("sleep-{tasks}x{ms}ms-w{workers}"),
            Scenario::Retry { flows } => format!("retry-times{RETRY_ATTEMPTS}-{flows}"),
            Scenario::Durable { tasks } => format!("durable-chain-{tasks}"),
            Scenario::Conductor { jobs, tasks, .. } => format!("conductor-{jobs}x{tasks}"),
        }
    }

    /// What the scenario is, for people.
    fn label(&self) -> String {
        let n = report::thousands;
        match *self {
            Scenario::Chain { tasks } => format!("chain of {}, serial, in memory", n(tasks)),
            Scenario::Unordered { tasks, workers } => {
                format!("unordered {}, parallel, {workers} workers", n(tasks))
            }
            Scenario::Sleep { tasks, ms, workers } => {
                format!("{tasks} × sleep {ms} ms, parallel, {workers} workers")
            }
            Scenario::Retry { flows } => format!(
                "times({RETRY_ATTEMPTS}) retry, {} failures, {} flows",
                RETRY_ATTEMPTS - 1,
                n(flows)
            ),
            Scenario::Durable { tasks } => {
                format!("chain of {}, durable (SQLite / redb)", n(tasks))
            }
            Scenario::Conductor { jobs, tasks, slots } => format!(
                "conductor, {} jobs × {tasks} tasks (taskbox: {slots} slots)",
                n(jobs)
            ),
        }
    }

    /// How many units the measured time covers.
    fn units(&self) -> usize {
        match *self {
            Scenario::Chain { tasks }
            | Scenario::Unordered { tasks, .. }
            | Scenario::Sleep { tasks, .. }
            | Scenario::Durable { tasks } => tasks,
            Scenario::Retry { flows } => flows,
            Scenario::Conductor { jobs, .. } => jobs,
        }
    }

    /// What one unit is.
    fn unit(&self) -> &'static str {
        match self {
            Scenario::Retry { .. } => "flow",
            Scenario::Conductor { .. } => "job",
            _ => "task",
        }
    }

    /// Component calls in one unit: the retry's flow executes its task
    /// `RETRY_ATTEMPTS` times and reverts each failed attempt before the
    /// next, a job runs its chain.
    fn tasks_per_unit(&self) -> usize {
        match *self {
            Scenario::Retry { .. } => 2 * RETRY_ATTEMPTS as usize - 1,
            Scenario::Conductor { tasks, .. } => tasks,
            _ => 1,
        }
    }

    /// The floor this scenario's cost is a multiple of.
    fn floor(&self) -> FloorKind {
        match *self {
            Scenario::Durable { .. } | Scenario::Conductor { .. } => FloorKind::Commit,
            Scenario::Sleep { ms, .. } => FloorKind::Sleep(Duration::from_millis(ms)),
            _ => FloorKind::Call,
        }
    }

    /// The chain length, for the chain scenarios.
    fn chain_tasks(&self) -> Option<usize> {
        match *self {
            Scenario::Chain { tasks } => Some(tasks),
            _ => None,
        }
    }
}

/// What TaskFlow gave for one scenario.
enum TaskFlowSide {
    /// Seconds of each repetition.
    Measured(Vec<f64>),
    /// Not run (quadratic): seconds estimated from the measured chains.
    Estimated(f64),
}

/// One scenario's results.
struct Row {
    /// The scenario.
    scenario: Scenario,
    /// TaskFlow's side.
    taskflow: TaskFlowSide,
    /// taskbox's seconds, per repetition.
    taskbox: Vec<f64>,
}

/// The floors, measured in the same run.
struct Floors {
    /// Bare pooled wasmtime instantiate + call of `add`, seconds.
    call: f64,
    /// Where `call` goes.
    breakdown: rig::floor::Breakdown,
    /// One durable redb commit on the durable files' disk, seconds.
    commit: f64,
}

impl Floors {
    /// Seconds of one `kind` floor.
    fn seconds(&self, kind: FloorKind) -> f64 {
        match kind {
            FloorKind::Call => self.call,
            FloorKind::Commit => self.commit,
            FloorKind::Sleep(d) => d.as_secs_f64(),
        }
    }
}

/// The median of `samples` (the mean of the middle two for an even count).
fn median(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 0 => (sorted[mid - 1] + sorted[mid]) / 2.0,
        _ => sorted[mid],
    }
}

impl Row {
    /// taskbox's median seconds.
    fn taskbox_median(&self) -> f64 {
        median(&self.taskbox)
    }

    /// TaskFlow's median seconds, or its estimate.
    fn taskflow_seconds(&self) -> f64 {
        match &self.taskflow {
            TaskFlowSide::Measured(samples) => median(samples),
            TaskFlowSide::Estimated(seconds) => *seconds,
        }
    }

    /// True when TaskFlow's figure is an estimate.
    fn estimated(&self) -> bool {
        matches!(self.taskflow, TaskFlowSide::Estimated(_))
    }

    /// TaskFlow's time over taskbox's: how many times faster taskbox is.
    fn ratio(&self) -> f64 {
        self.taskflow_seconds() / self.taskbox_median()
    }

    /// taskbox's median seconds per unit (task, flow or job).
    fn per_unit(&self) -> f64 {
        self.taskbox_median() / self.scenario.units() as f64
    }

    /// TaskFlow's median (or estimated) seconds per unit.
    fn taskflow_per_unit(&self) -> f64 {
        self.taskflow_seconds() / self.scenario.units() as f64
    }

    /// taskbox's cost as a multiple of its floor: per task execution over
    /// the call or commit floor, or the whole flow over the sleep.
    fn floor_multiple(&self, floors: &Floors) -> f64 {
        let kind = self.scenario.floor();
        let cost = match kind {
            FloorKind::Sleep(_) => self.taskbox_median(),
            _ => self.per_unit() / self.scenario.tasks_per_unit() as f64,
        };
        cost / floors.seconds(kind)
    }
}

/// Runs `scenario` `reps` times on each system, TaskFlow then taskbox in
/// each repetition, after one unmeasured taskbox warm-up run; TaskFlow is
/// not run when `estimate` is given.
fn measure(
    scenario: Scenario,
    reps: usize,
    estimate: Option<f64>,
    taskflow: &TaskFlow,
    taskbox: &Taskbox,
) -> anyhow::Result<Row> {
    eprintln!("[compare] {} ({})", scenario.label(), scenario.id());
    let taskbox_run = || {
        taskbox
            .run(scenario)
            .with_context(|| format!("taskbox's {}", scenario.id()))
    };
    taskbox_run()?;
    let mut taskflow_samples = Vec::with_capacity(reps);
    let mut taskbox_samples = Vec::with_capacity(reps);
    for rep in 1..=reps {
        let theirs = match estimate {
            Some(seconds) => format!("not run (est. {})", report::human(seconds)),
            None => {
                let seconds = taskflow.run(scenario)?;
                taskflow_samples.push(seconds);
                report::human(seconds)
            }
        };
        let ours = taskbox_run()?;
        taskbox_samples.push(ours);
        eprintln!(
            "[compare]   rep {rep}/{reps}: TaskFlow {theirs}, taskbox {}",
            report::human(ours)
        );
    }
    Ok(Row {
        scenario,
        taskflow: match estimate {
            Some(seconds) => TaskFlowSide::Estimated(seconds),
            None => TaskFlowSide::Measured(taskflow_samples),
        },
        taskbox: taskbox_samples,
    })
}

/// TaskFlow's seconds for a chain of `tasks`, estimated from the chains
/// measured so far in `rows`.
fn estimate_chain(rows: &[Row], tasks: usize) -> anyhow::Result<(f64, QuadraticFit)> {
    let points: Vec<(f64, f64)> = rows
        .iter()
        .filter(|row| !row.estimated())
        .filter_map(|row| Some((row.scenario.chain_tasks()? as f64, row.taskflow_seconds())))
        .collect();
    let fit = QuadraticFit::through(&points)
        .context("estimating TaskFlow's long chain needs two measured chains")?;
    Ok((fit.seconds(tasks as f64), fit))
}

/// Measures the floors and every scenario, prints the table and writes the
/// files.
fn main() -> anyhow::Result<()> {
    let root = workspace_root();
    let options = options(&root)?;
    let sizes = if options.quick { &QUICK } else { &FULL };
    // Both systems' durable files, and the commit floor's, on one disk.
    let tmp = options.out.join("tmp");
    std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let taskflow = TaskFlow::find(&root, &tmp)?;
    let taskbox = Taskbox::new(&tmp)?;

    eprintln!("[compare] floors");
    let floors = taskbox.floors(options.reps.max(3))?;
    let mut rows: Vec<Row> = Vec::new();
    let mut fit = None;
    for scenario in Scenario::all(sizes) {
        let estimate = match scenario.chain_tasks() {
            Some(tasks) if tasks > sizes.taskflow_chain_max && !options.long_chains => {
                let (seconds, quadratic) = estimate_chain(&rows, tasks)?;
                fit = Some(quadratic);
                Some(seconds)
            }
            _ => None,
        };
        rows.push(measure(
            scenario,
            options.reps,
            estimate,
            &taskflow,
            &taskbox,
        )?);
    }
    let _ = std::fs::remove_dir_all(&tmp);

    let run = report::Run {
        rows: &rows,
        floors: &floors,
        reps: options.reps,
        quick: options.quick,
        fit,
        taskflow_version: taskflow.version(),
        machine: report::Machine::detect(),
        date: report::utc_now(),
        disk: tmp,
    };
    run.print();
    let written = run.write(&options.out)?;
    println!();
    for path in written {
        println!("wrote {}", path.display());
    }
    Ok(())
}
