//! What the command line prints: live transitions (progress bar, plain
//! lines or JSON lines), run summaries and plugin tables.

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use std::io::Write;
use std::sync::Mutex;
use std::time::Instant;
use taskbox::{AtomState, Event, Outcome, PluginSet, Provides};

/// How live output looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// A progress bar on a terminal, transitions printed above it.
    Bar,
    /// One plain line per event, for pipes and logs.
    Plain,
    /// One JSON object per line.
    Json,
}

/// Prints events as they come; shared with the engine's listener.
pub(crate) struct Reporter {
    style: Style,
    started: Instant,
    bar: Option<ProgressBar>,
    out: Mutex<()>,
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.len() > 80 {
        let mut end = 77;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &text[..end])
    } else {
        text
    }
}

impl Reporter {
    pub(crate) fn new(style: Style, atoms: usize) -> Self {
        let bar = (style == Style::Bar).then(|| {
            let bar = ProgressBar::new(atoms as u64);
            if let Ok(look) = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} atoms done  {msg}",
            ) {
                bar.set_style(look);
            }
            bar
        });
        Reporter {
            style,
            started: Instant::now(),
            bar,
            out: Mutex::new(()),
        }
    }

    fn line(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => {
                let _guard = self.out.lock();
                let mut err = std::io::stderr().lock();
                let _ = writeln!(err, "{text}");
            }
        }
    }

    pub(crate) fn event(&self, event: &Event) {
        if self.style == Style::Json {
            if let Ok(text) = serde_json::to_string(event) {
                let _guard = self.out.lock();
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{text}");
            }
            return;
        }
        let at = format!("[{:>8.3}s]", self.started.elapsed().as_secs_f64());
        let text = match event {
            Event::Flow { flow, from, to } => format!("{at} flow {flow}: {from} -> {to}"),
            Event::Atom {
                atom,
                from,
                to,
                result,
                failure,
            } => {
                if let Some(bar) = &self.bar {
                    match to {
                        AtomState::Running => bar.set_message(format!("running {atom}")),
                        AtomState::Reverting => bar.set_message(format!("reverting {atom}")),
                        AtomState::Success | AtomState::Failure => bar.inc(1),
                        _ => {}
                    }
                }
                let detail = match (result, failure) {
                    (Some(r), _) => format!("  {}", short(r)),
                    (_, Some(f)) => format!("  {f}"),
                    _ => String::new(),
                };
                format!("{at}   {atom}: {from} -> {to}{detail}")
            }
            Event::Progress { atom, fraction } => {
                if let Some(bar) = &self.bar {
                    bar.set_message(format!("{atom} {:.0}%", fraction * 100.0));
                    return;
                }
                format!("{at}   {atom}: progress {:.0}%", fraction * 100.0)
            }
            Event::Decision {
                retry,
                atom,
                decision,
            } => format!("{at}   {retry}: on_failure({atom}) -> {decision}"),
            Event::Log {
                atom,
                level,
                message,
            } => format!("{at}   {atom} [{level:?}] {message}"),
        };
        self.line(&text);
    }

    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Prints the end of a run: each atom, then the published values.
pub(crate) fn print_summary(outcome: &Outcome, style: Style) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if style == Style::Json {
        let summary = json!({
            "event": "summary",
            "flow": outcome.flow,
            "state": outcome.state,
            "elapsed_ms": outcome.elapsed.as_secs_f64() * 1000.0,
            "atoms": outcome.atoms,
            "failures": outcome.failures,
            "results": outcome.fetch_all(),
        });
        writeln!(out, "{summary}")?;
        return Ok(());
    }
    writeln!(out)?;
    writeln!(
        out,
        "flow {}: {} in {:.1?}",
        outcome.flow, outcome.state, outcome.elapsed
    )?;
    let width = outcome
        .atoms
        .iter()
        .map(|a| a.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    writeln!(
        out,
        "  {:<width$}  {:<14}  {:>9}  DETAIL",
        "ATOM", "STATE", "TIME"
    )?;
    for atom in &outcome.atoms {
        let time = atom
            .elapsed
            .map(|d| format!("{:.1?}", d))
            .unwrap_or_else(|| "-".into());
        let detail = match (&atom.revert_failure, &atom.failure, &atom.result) {
            (Some(f), _, _) => format!("revert failed: {f}"),
            (None, Some(f), _) => f.to_string(),
            (None, None, Some(r)) => short(r),
            _ => String::new(),
        };
        writeln!(
            out,
            "  {:<width$}  {:<14}  {:>9}  {detail}",
            atom.name,
            atom.state.to_string(),
            time
        )?;
    }
    if !outcome.failures.is_empty() {
        writeln!(out, "failures:")?;
        for f in &outcome.failures {
            writeln!(out, "  {}: {}", f.atom, f.failure)?;
        }
    }
    if outcome.succeeded() {
        writeln!(out, "results:")?;
        for (name, value) in outcome.fetch_all() {
            writeln!(out, "  {name} = {}", short(value))?;
        }
    }
    Ok(())
}

fn provides_text(provides: &Provides) -> String {
    match provides {
        Provides::None => "-".into(),
        Provides::Single(n) => n.clone(),
        Provides::Positional(v) => format!("[{}]", v.join(", ")),
        Provides::Keyed(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(n, k)| format!("{n}={k}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Prints each plugin's describe() and hash, then the ones that failed.
pub(crate) fn print_plugins(set: &PluginSet, as_json: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if as_json {
        let plugins: Vec<Value> = set
            .plugins
            .values()
            .map(|p| {
                let info = p.info();
                json!({
                    "plugin": p.name(), "hash": p.hash(), "size": p.size(),
                    "kind": if p.is_retry() { "retry" } else { "task" },
                    "name": info.name, "version": info.version, "description": info.description,
                    "requires": info.requires, "optional": info.optional, "provides": info.provides,
                })
            })
            .collect();
        let errors: Value = set
            .errors
            .iter()
            .map(|(n, e)| (n.clone(), Value::String(e.to_string())))
            .collect::<serde_json::Map<_, _>>()
            .into();
        writeln!(out, "{}", json!({ "plugins": plugins, "errors": errors }))?;
        return Ok(());
    }
    for plugin in set.plugins.values() {
        let info = plugin.info();
        let kind = if plugin.is_retry() {
            "retry controller"
        } else {
            "task"
        };
        writeln!(
            out,
            "{}  ({kind} {} {}, {} bytes)",
            plugin.name(),
            info.name,
            info.version,
            plugin.size()
        )?;
        writeln!(out, "    hash:     {}", plugin.hash())?;
        if !info.description.is_empty() {
            writeln!(out, "    about:    {}", info.description)?;
        }
        writeln!(
            out,
            "    requires: {}",
            if info.requires.is_empty() {
                "-".into()
            } else {
                info.requires.join(", ")
            }
        )?;
        if !info.optional.is_empty() {
            writeln!(out, "    optional: {}", info.optional.join(", "))?;
        }
        writeln!(out, "    provides: {}", provides_text(&info.provides))?;
    }
    for (name, error) in &set.errors {
        writeln!(out, "{name}  NOT LOADED: {error}")?;
    }
    Ok(())
}
