//! The results: the printed table with its notes, `compare.csv`,
//! `compare.json` and `chains.svg`, and the machine they were measured on.

use crate::chart::{self, Chart, HLine, Marker, Series};
use crate::taskflow::QuadraticFit;
use crate::{CONDUCTOR_SLOTS, FloorKind, Floors, Row, TaskFlowSide};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// One run of the comparison, as reported.
pub struct Run<'a> {
    /// One row per scenario, in the order they ran.
    pub rows: &'a [Row],
    /// The floors.
    pub floors: &'a Floors,
    /// Repetitions per scenario and system.
    pub reps: usize,
    /// A smoke run (small sizes).
    pub quick: bool,
    /// The fit TaskFlow's unrun chains were estimated with, if any.
    pub fit: Option<QuadraticFit>,
    /// TaskFlow's version.
    pub taskflow_version: &'a str,
    /// Where it ran.
    pub machine: Machine,
    /// When it ran (UTC, ISO 8601).
    pub date: String,
    /// The directory of both systems' durable files.
    pub disk: PathBuf,
}

/// The machine the comparison ran on.
pub struct Machine {
    /// CPUs available to this process.
    pub cpus: usize,
    /// `model name` of /proc/cpuinfo.
    pub cpu_model: String,
    /// Total memory, GiB.
    pub memory_gib: f64,
    /// The OS' pretty name (/etc/os-release), or its family.
    pub os: String,
    /// The kernel release.
    pub kernel: String,
}

impl Machine {
    /// What this machine is, from /proc and /etc (blank where unknown).
    pub fn detect() -> Machine {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        let field = |text: &str, key: &str, sep: char| {
            text.lines()
                .filter_map(|line| line.split_once(sep))
                .find(|(k, _)| k.trim() == key)
                .map(|(_, v)| v.trim().trim_matches('"').to_string())
        };
        let memory_kib = field(&read("/proc/meminfo"), "MemTotal", ':')
            .and_then(|v| v.trim_end_matches("kB").trim().parse::<f64>().ok())
            .unwrap_or(0.0);
        Machine {
            cpus: std::thread::available_parallelism().map_or(1, usize::from),
            cpu_model: field(&read("/proc/cpuinfo"), "model name", ':').unwrap_or_default(),
            memory_gib: memory_kib / (1024.0 * 1024.0),
            os: field(&read("/etc/os-release"), "PRETTY_NAME", '=')
                .unwrap_or_else(|| std::env::consts::OS.to_string()),
            kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
        }
    }

    /// One line: CPUs, memory, CPU model, OS.
    fn summary(&self) -> String {
        format!(
            "{} CPUs, {:.0} GiB, {}; {} ({} {})",
            self.cpus,
            self.memory_gib,
            self.cpu_model,
            self.os,
            std::env::consts::ARCH,
            self.kernel
        )
    }
}

/// Now, in UTC, as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_date(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// The proleptic Gregorian date of `days` since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil_date(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `n` with thousands separators: 10,000.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `value` with three significant digits (at most two decimals).
fn three_digits(value: f64) -> String {
    match value {
        v if v >= 100.0 => format!("{v:.0}"),
        v if v >= 10.0 => format!("{v:.1}"),
        v => format!("{v:.2}"),
    }
}

/// Seconds for people: 14.2 ms, 3.05 s, 17 min.
pub fn human(secs: f64) -> String {
    match secs {
        s if s >= 120.0 => format!("{:.0} min", s / 60.0),
        s if s >= 1.0 => format!("{} s", three_digits(s)),
        s if s >= 1e-3 => format!("{} ms", three_digits(s * 1e3)),
        s if s >= 1e-6 => format!("{} µs", three_digits(s * 1e6)),
        s => format!("{:.0} ns", s * 1e9),
    }
}

/// A power of ten of seconds, for an axis: 10 µs, 1 ms, 100 ms.
fn decade(secs: f64) -> String {
    let (value, unit) = match secs {
        s if s >= 1.0 => (s, "s"),
        s if s >= 1e-3 => (s * 1e3, "ms"),
        s if s >= 1e-6 => (s * 1e6, "µs"),
        s => (s * 1e9, "ns"),
    };
    format!("{value:.0} {unit}")
}

/// A ratio: 81×, 3.2×, 12,345×.
fn times(ratio: f64) -> String {
    if ratio >= 100.0 {
        format!("{}×", thousands(ratio.round() as usize))
    } else {
        format!("{ratio:.1}×")
    }
}

/// The name of a floor, after a multiple of it.
fn floor_name(kind: FloorKind) -> String {
    match kind {
        FloorKind::Call => "call".to_string(),
        FloorKind::Commit => "commit".to_string(),
        FloorKind::Sleep(d) => format!("{} ms sleep", d.as_millis()),
    }
}

/// Column titles of the table.
const HEADER: [&str; 6] = [
    "scenario",
    "TaskFlow median",
    "taskbox median",
    "ratio TF/tb",
    "taskbox per task/flow/job",
    "× floor",
];

impl Run<'_> {
    /// The table's cells for `row`.
    fn cells(&self, row: &Row) -> [String; 6] {
        let scenario = &row.scenario;
        let (taskflow, ratio) = if row.estimated() {
            (
                format!(
                    "not run (quadratic; est. {})",
                    human(row.taskflow_seconds())
                ),
                format!("≈{} (est.)", times(row.ratio())),
            )
        } else {
            (human(row.taskflow_seconds()), times(row.ratio()))
        };
        [
            scenario.label(),
            taskflow,
            human(row.taskbox_median()),
            ratio,
            format!("{}/{}", human(row.per_unit()), scenario.unit()),
            format!(
                "{:.2}× {}",
                row.floor_multiple(self.floors),
                floor_name(scenario.floor())
            ),
        ]
    }

    /// The notes under the table: what was measured and how.
    fn notes(&self) -> Vec<String> {
        let mut notes = vec![
            "ratio = TaskFlow median / taskbox median: how many times faster taskbox is.".into(),
            "× floor = taskbox per task execution / floor: in-memory rows over the bare wasmtime instantiate + call of `add`, durable and conductor rows over one durable redb commit; the sleep row is the whole flow over one 50 ms sleep.".into(),
            "chains: each task adds 1 to the previous one's output; timed: engine load (TaskFlow engines.load, taskbox Engine::new) + run; building the flow objects is not timed.".into(),
            "parallel rows: TaskFlow's engine starts and shuts down its own thread pool inside run(), and futurist's idle workers notice the shutdown only at their 1 s queue poll: about 1 s of every TaskFlow parallel row is that shutdown (a caller-owned executor would avoid it).".into(),
            "sleep: the taskbox guest (tests/guests/hostile, mode sleep) calls std::thread::sleep, which waits on WASI's monotonic clock (wasi:clocks subscribe-duration + poll) and blocks its worker thread, as Python's time.sleep does.".into(),
            "retry: taskbox's builtin `times(5)` retry providing `attempt` around flaky_fetch, which fails with net.timeout on attempts 1-4 (TaskFlow: retry.Times(5) around a task raising 4 times); every flow its own engine, each checked SUCCESS after 5 attempts; per flow; × floor counts 9 component calls per flow (5 executes, 4 reverts of the failed attempts).".into(),
            format!(
                "durable: taskbox records in a redb logbook, TaskFlow in SQLAlchemy on SQLite; both fresh files per repetition in {} (the redb commit floor was measured there too).",
                self.disk.display()
            ),
            format!(
                "conductor: TaskFlow: Redis jobboard (its own redis-server) and one blocking conductor (serial engine), logbooks in memory; taskbox: the daemon's HTTP API in this process, a conductor of {CONDUCTOR_SLOTS} slots (the daemon's default), logbook and job board durable in one redb file; timed: first post to last job done."
            ),
            format!(
                "median of {} repetition(s), alternating TaskFlow and taskbox; TaskFlow runs each repetition in a fresh Python process (imports not timed); taskbox runs in the bench process after one unmeasured warm-up run per scenario.",
                self.reps
            ),
        ];
        if let Some(fit) = self.fit {
            notes.push(format!(
                "est.: TaskFlow's chain is quadratic, so its longest chain is not run by default (--taskflow-long-chains or TASKFLOW_LONG_CHAINS=1 runs it); its time is estimated as a·n + b·n² through the measured chains (a = {:.3e} s, b = {:.3e} s).",
                fit.a, fit.b
            ));
        }
        if self.quick {
            notes.push(
                "--quick: one repetition and small sizes; a smoke run, not a measurement.".into(),
            );
        }
        notes
    }

    /// Prints the header, the floors, the table and the notes.
    pub fn print(&self) {
        let floors = self.floors;
        let parts = &floors.breakdown;
        println!();
        println!(
            "TaskFlow {} vs taskbox {}: TaskFlow's tasks are plain Python functions; taskbox's are WebAssembly components in the sandbox, a fresh instance per call. That is the honest comparison.",
            self.taskflow_version,
            env!("CARGO_PKG_VERSION")
        );
        println!("{}; {}", self.machine.summary(), self.date);
        println!();
        println!(
            "floor: bare pooled wasmtime instantiate + call of `add`: {} (store {}, instantiate {}, call {}, slot reset {})",
            human(floors.call),
            human(parts.store.as_secs_f64()),
            human(parts.instantiate.as_secs_f64()),
            human(parts.call.as_secs_f64()),
            human(parts.reset.as_secs_f64())
        );
        println!(
            "floor: one durable redb commit (fsync), same disk as the durable files: {}",
            human(floors.commit)
        );
        println!();
        let rows: Vec<[String; 6]> = self.rows.iter().map(|row| self.cells(row)).collect();
        print_aligned(&HEADER.map(String::from), &rows);
        println!();
        for note in self.notes() {
            println!("- {note}");
        }
    }

    /// Writes `compare.csv`, `compare.json` and `chains.svg` into `out`;
    /// the paths written.
    pub fn write(&self, out: &Path) -> anyhow::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(out)?;
        let files = [
            ("compare.csv", self.csv()),
            (
                "compare.json",
                serde_json::to_string_pretty(&self.json())? + "\n",
            ),
            ("chains.svg", chart::svg(&self.chart())),
        ];
        let mut written = Vec::new();
        for (name, text) in files {
            let path = out.join(name);
            std::fs::write(&path, text)?;
            written.push(path);
        }
        Ok(written)
    }

    /// The CSV: one line per scenario, seconds throughout.
    fn csv(&self) -> String {
        let mut lines = vec![
            "scenario_id,scenario,taskflow_median_s,taskflow_estimated,taskbox_median_s,ratio,unit,units,taskbox_per_unit_s,floor,floor_s,floor_multiple,reps,taskflow_samples_s,taskbox_samples_s".to_string(),
        ];
        for row in self.rows {
            let scenario = &row.scenario;
            let samples = |s: &[f64]| {
                s.iter()
                    .map(|v| format!("{v:.6}"))
                    .collect::<Vec<_>>()
                    .join(";")
            };
            let taskflow_samples = match &row.taskflow {
                TaskFlowSide::Measured(s) => samples(s),
                TaskFlowSide::Estimated(_) => String::new(),
            };
            let fields = [
                scenario.id(),
                scenario.label(),
                format!("{:.6}", row.taskflow_seconds()),
                row.estimated().to_string(),
                format!("{:.6}", row.taskbox_median()),
                format!("{:.2}", row.ratio()),
                scenario.unit().to_string(),
                scenario.units().to_string(),
                format!("{:.9}", row.per_unit()),
                floor_name(scenario.floor()),
                format!("{:.9}", self.floors.seconds(scenario.floor())),
                format!("{:.3}", row.floor_multiple(self.floors)),
                row.taskbox.len().to_string(),
                taskflow_samples,
                samples(&row.taskbox),
            ];
            lines.push(fields.map(|f| csv_field(&f)).join(","));
        }
        lines.join("\n") + "\n"
    }

    /// The JSON: the machine, the floors, the rows and the notes.
    fn json(&self) -> Value {
        let rows: Vec<Value> = self.rows.iter().map(|row| {
            let scenario = &row.scenario;
            let taskflow = match &row.taskflow {
                TaskFlowSide::Measured(samples) => json!({
                    "status": "measured", "median_s": row.taskflow_seconds(), "samples_s": samples,
                    "per_unit_s": row.taskflow_per_unit(),
                }),
                TaskFlowSide::Estimated(seconds) => json!({
                    "status": "not run (quadratic); estimated", "estimate_s": seconds,
                    "per_unit_s": row.taskflow_per_unit(),
                }),
            };
            json!({
                "id": scenario.id(),
                "scenario": scenario.label(),
                "unit": scenario.unit(),
                "units": scenario.units(),
                "taskflow": taskflow,
                "taskbox": {
                    "median_s": row.taskbox_median(),
                    "samples_s": row.taskbox,
                    "per_unit_s": row.per_unit(),
                },
                "ratio": row.ratio(),
                "floor": floor_name(scenario.floor()),
                "floor_multiple": row.floor_multiple(self.floors),
            })
        }).collect();
        let parts = &self.floors.breakdown;
        json!({
            "date": self.date,
            "machine": {
                "cpus": self.machine.cpus,
                "cpu_model": self.machine.cpu_model,
                "memory_gib": self.machine.memory_gib,
                "os": self.machine.os,
                "arch": std::env::consts::ARCH,
                "kernel": self.machine.kernel,
            },
            "taskflow_version": self.taskflow_version,
            "taskbox_version": env!("CARGO_PKG_VERSION"),
            "reps": self.reps,
            "quick": self.quick,
            "floors": {
                "instantiate_call_s": self.floors.call,
                "instantiate_call_breakdown_s": {
                    "store": parts.store.as_secs_f64(),
                    "instantiate": parts.instantiate.as_secs_f64(),
                    "call": parts.call.as_secs_f64(),
                    "reset": parts.reset.as_secs_f64(),
                },
                "redb_commit_s": self.floors.commit,
            },
            "chain_estimate_fit": self.fit.map(|fit| json!({"a_s": fit.a, "b_s": fit.b, "model": "seconds = a*n + b*n^2"})),
            "rows": rows,
            "notes": self.notes(),
        })
    }

    /// The chart of the in-memory chains: time per task against length.
    fn chart(&self) -> Chart {
        let chains: Vec<(f64, &Row)> = self
            .rows
            .iter()
            .filter_map(|row| Some((row.scenario.chain_tasks()? as f64, row)))
            .collect();
        let taskbox = chains.iter().map(|&(n, row)| (n, row.per_unit())).collect();
        let measured: Vec<(f64, f64)> = chains
            .iter()
            .filter(|(_, row)| !row.estimated())
            .map(|&(n, row)| (n, row.taskflow_per_unit()))
            .collect();
        let estimated: Vec<(f64, f64)> = chains
            .iter()
            .filter(|(_, row)| row.estimated())
            .map(|&(n, row)| (n, row.taskflow_per_unit()))
            .collect();
        let mut series = Vec::new();
        if !estimated.is_empty() {
            series.push(Series {
                name: format!(
                    "TaskFlow {} estimate (not run; quadratic fit)",
                    self.taskflow_version
                ),
                points: estimated,
                from: measured.last().copied(),
                color: "#d9730d",
                dash: Some("7 5"),
                marker: Marker::Hollow,
                labelled: true,
            });
        }
        series.push(Series {
            name: format!("TaskFlow {} (Python functions)", self.taskflow_version),
            points: measured,
            from: None,
            color: "#d9730d",
            dash: None,
            marker: Marker::Filled,
            labelled: true,
        });
        series.push(Series {
            name: format!("taskbox {} (WASM components)", env!("CARGO_PKG_VERSION")),
            points: taskbox,
            from: None,
            color: "#1f6fd1",
            dash: None,
            marker: Marker::Filled,
            labelled: true,
        });
        Chart {
            title: "Linear chain, serial engine, in memory: time per task".into(),
            subtitle: format!(
                "median of {} repetition(s); {}; {}",
                self.reps,
                self.machine.summary(),
                &self.date[..10]
            ),
            x_label: "tasks in the chain (log)".into(),
            y_label: "(engine load + run) / tasks (log)".into(),
            series,
            hlines: vec![HLine {
                name: format!(
                    "floor: bare wasmtime instantiate + call, {}",
                    human(self.floors.call)
                ),
                y: self.floors.call,
                color: "#777",
            }],
            x_format: |n| thousands(n.round() as usize),
            y_format: |secs| {
                if (secs.log10().fract()).abs() < 1e-9 {
                    decade(secs)
                } else {
                    human(secs)
                }
            },
        }
    }
}

/// A CSV field, quoted when it needs to be.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// Prints `rows` under `header` in aligned columns: the first left, the
/// others right.
fn print_aligned<const N: usize>(header: &[String; N], rows: &[[String; N]]) {
    let width = |i: usize| {
        std::iter::once(header)
            .chain(rows)
            .map(|cells| cells[i].chars().count())
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..N).map(width).collect();
    let line = |cells: &[String; N]| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = " ".repeat(widths[i] - cell.chars().count());
            if i == 0 {
                text.push_str(&format!("{cell}{pad}"));
            } else {
                text.push_str(&format!(" | {pad}{cell}"));
            }
        }
        text
    };
    let header_line = line(header);
    println!("{header_line}");
    println!("{}", "-".repeat(header_line.chars().count()));
    for cells in rows {
        println!("{}", line(cells));
    }
}
