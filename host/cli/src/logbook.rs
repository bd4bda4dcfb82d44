//! `taskbox resume` and `taskbox logbook ls|show`: durable flows from the
//! command line.

use crate::args::{DbArgs, LogbookCommand, ResumeArgs};
use crate::commands::{drive, overrides, sandbox};
use crate::grants;
use anyhow::{Context, Result};
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use taskbox::{
    AtomDetail, AtomState, Engine, FlowDetail, FlowId, Limits, Logbook, RedbLogbook, ResumeOptions,
    Transition, TransitionKind,
};

/// The logbook file: `--db`, else `$TASKBOX_DB`, else the user's data dir.
fn path(args: &DbArgs) -> Result<PathBuf> {
    if let Some(path) = &args.db {
        return Ok(path.clone());
    }
    if let Some(path) = std::env::var_os("TASKBOX_DB") {
        return Ok(PathBuf::from(path));
    }
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .context("no --db given and neither TASKBOX_DB, XDG_DATA_HOME nor HOME is set")?;
    Ok(base.join("taskbox").join("logbook.redb"))
}

/// Opens (or creates) the logbook `args` names.
pub(crate) fn open(args: &DbArgs) -> Result<Arc<RedbLogbook>> {
    let path = path(args)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the logbook directory {}", dir.display()))?;
    }
    Ok(Arc::new(RedbLogbook::open(&path)?))
}

fn flow_id(text: &str) -> Result<FlowId> {
    text.parse()
        .with_context(|| format!("'{text}' is not a flow id (a number, see `taskbox logbook ls`)"))
}

/// `taskbox resume ID`.
pub(crate) fn resume(args: ResumeArgs) -> Result<ExitCode> {
    let id = flow_id(&args.id)?;
    let tenancy = grants::tenancy(&args.grants)?;
    let book = open(&args.db)?;
    let flow = book.flow(id)?;
    let dir = match &args.plugins {
        Some(dir) => dir.clone(),
        None => flow
            .meta
            .get("plugins")
            .map(PathBuf::from)
            .with_context(|| {
                format!("flow {id} does not record its plugin directory; pass --plugins")
            })?,
    };
    let sandbox = sandbox(&args.sandbox, 4)?;
    let plugins = sandbox.load_dir(&dir, &Limits::default().with(&overrides(&args.sandbox)?))?;
    for (name, error) in &plugins.errors {
        eprintln!("warning: {name}: {error}");
    }
    let options = ResumeOptions {
        accept_changed_plugins: args.accept_changed_plugins,
        tenancy: tenancy.clone(),
        ..ResumeOptions::default()
    };
    let atoms = book.atoms(id)?;
    let engine = Engine::resume(sandbox, &plugins, book, id, &options)
        .with_context(|| format!("cannot resume flow {id}"))?;
    grants::check_plugins(&tenancy, engine.graph())?;
    if flow.state.is_final() && flow.state != taskbox::FlowState::Suspended {
        eprintln!("flow {id} had already ended {}", flow.state);
    } else {
        eprintln!("resuming flow {id} ({}) from {}", flow.name, flow.state);
        grants::announce(&tenancy);
        grants::warn_changed(&tenancy, &atoms);
    }
    drive(&engine, args.json)
}

/// `taskbox logbook ls|show`.
pub(crate) fn inspect(command: LogbookCommand) -> Result<ExitCode> {
    match command {
        LogbookCommand::Ls { db, json } => list(&*open(&db)?, json)?,
        LogbookCommand::Show { id, db, json } => show(&*open(&db)?, flow_id(&id)?, json)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn list(book: &dyn Logbook, as_json: bool) -> Result<()> {
    let flows = book.flows()?;
    let mut out = std::io::stdout().lock();
    if as_json {
        writeln!(out, "{}", serde_json::to_string(&flows)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "{:>5}  {:<10} {:<20} {:<11} {:>9}  {:<19}  {:>10}",
        "ID", "BOOK", "FLOW", "STATE", "ATOMS", "STARTED (UTC)", "DURATION"
    )?;
    for flow in &flows {
        let atoms = book.atoms(flow.id)?;
        let done = atoms
            .iter()
            .filter(|a| a.state == AtomState::Success)
            .count();
        writeln!(
            out,
            "{:>5}  {:<10} {:<20} {:<11} {:>9}  {:<19}  {:>10}",
            flow.id.to_string(),
            flow.book,
            flow.name,
            flow.state.to_string(),
            format!("{done}/{}", atoms.len()),
            utc(flow.created_ms),
            millis(flow.updated_ms.saturating_sub(flow.created_ms)),
        )?;
    }
    Ok(())
}

fn show(book: &dyn Logbook, id: FlowId, as_json: bool) -> Result<()> {
    let flow = book.flow(id)?;
    let atoms = book.atoms(id)?;
    let story = book.transitions(id)?;
    let mut out = std::io::stdout().lock();
    if as_json {
        let all = json!({"flow": flow, "atoms": atoms, "transitions": story});
        writeln!(out, "{all}")?;
        return Ok(());
    }
    header(&mut out, &flow)?;
    atom_table(&mut out, &atoms)?;
    if !flow.failures.is_empty() {
        writeln!(out, "\nfailures (what reverts are given):")?;
        for f in &flow.failures {
            writeln!(out, "  {}: {}", f.atom, f.failure)?;
        }
    }
    histories(&mut out, &atoms)?;
    writeln!(out, "\nstory:")?;
    for step in &story {
        writeln!(
            out,
            "  {:>9}  {}",
            format!("+{}", millis(step.at_ms.saturating_sub(flow.created_ms))),
            narrate(step, &flow, &atoms)
        )?;
    }
    Ok(())
}

pub(crate) fn header(out: &mut impl Write, flow: &FlowDetail) -> Result<()> {
    writeln!(out, "flow {} '{}': {}", flow.id, flow.name, flow.state)?;
    writeln!(out, "  book     {}", flow.book)?;
    writeln!(out, "  started  {} UTC", utc(flow.created_ms))?;
    writeln!(out, "  updated  {} UTC", utc(flow.updated_ms))?;
    for (key, value) in &flow.meta {
        writeln!(out, "  {key:<8} {value}")?;
    }
    Ok(())
}

pub(crate) fn atom_table(out: &mut impl Write, atoms: &[AtomDetail]) -> Result<()> {
    let width = atoms.iter().map(|a| a.name.len()).max().unwrap_or(4).max(4);
    writeln!(
        out,
        "\n  {:<width$}  {:<5}  {:<34}  {:<14}  {:<9}  {:>9}  DETAIL",
        "ATOM", "KIND", "PLUGIN@HASH VERSION", "STATE", "INTENTION", "TIME"
    )?;
    for atom in atoms {
        let hash = atom.plugin_hash.trim_start_matches("sha256:");
        let plugin = if hash.is_empty() {
            atom.plugin.clone()
        } else {
            format!(
                "{}@{} {}",
                atom.plugin,
                &hash[..hash.len().min(12)],
                atom.version
            )
        };
        let detail = match (&atom.revert_failure, &atom.failure, &atom.result) {
            (Some(f), _, _) => format!("revert failed: {f}"),
            (None, Some(f), _) => f.to_string(),
            (None, None, Some(r)) => shorten(&r.to_string()),
            _ => String::new(),
        };
        let time = atom.elapsed_us.map_or_else(
            || "-".to_string(),
            |us| format!("{:.1?}", std::time::Duration::from_micros(us)),
        );
        writeln!(
            out,
            "  {:<width$}  {:<5}  {:<34}  {:<14}  {:<9}  {:>9}  {detail}",
            atom.name,
            format!("{:?}", atom.kind).to_lowercase(),
            plugin,
            atom.state.to_string(),
            atom.intention.to_string(),
            time,
        )?;
        if !atom.grants.is_empty() {
            writeln!(out, "  {:<width$}  granted: {}", "", atom.grants.summary())?;
        }
    }
    Ok(())
}

fn histories(out: &mut impl Write, atoms: &[AtomDetail]) -> Result<()> {
    for atom in atoms {
        let Some(history) = atom.history.as_ref().filter(|h| !h.attempts.is_empty()) else {
            continue;
        };
        writeln!(out, "\nretry '{}' history:", atom.name)?;
        for (n, attempt) in history.attempts.iter().enumerate() {
            writeln!(
                out,
                "  attempt {}: {}",
                n + 1,
                shorten(&attempt.value.to_string())
            )?;
            for f in &attempt.failures {
                writeln!(out, "    {} failed: {}", f.atom, f.failure)?;
            }
        }
    }
    Ok(())
}

/// One transition in words, with atom names.
fn narrate(step: &Transition, flow: &FlowDetail, atoms: &[AtomDetail]) -> String {
    let name = |i: u32| {
        atoms
            .get(i as usize)
            .map_or_else(|| format!("#{i}"), |a| a.name.clone())
    };
    match step.kind {
        TransitionKind::Flow { from, to } => format!("flow {}: {from} -> {to}", flow.name),
        TransitionKind::Atom { atom, from, to } => {
            let mut line = format!("  {}: {from} -> {to}", name(atom));
            let detail = atoms.get(atom as usize);
            if let (AtomState::Failure, Some(f)) = (to, detail.and_then(|a| a.failure.as_ref())) {
                line.push_str(&format!("  ({f})"));
            }
            line
        }
        TransitionKind::Decision {
            retry,
            atom,
            decision,
        } => format!(
            "retry '{}' decided {decision} after '{}' failed",
            name(retry),
            name(atom)
        ),
    }
}

pub(crate) fn shorten(text: &str) -> String {
    if text.len() <= 60 {
        return text.to_string();
    }
    let mut end = 57;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

fn millis(ms: u64) -> String {
    if ms < 10_000 {
        format!("{ms}ms")
    } else {
        format!("{:.1}s", ms as f64 / 1000.0)
    }
}

/// `YYYY-MM-DD HH:MM:SS` in UTC from Unix milliseconds.
pub(crate) fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(super::utc(0), "1970-01-01 00:00:00");
        assert_eq!(super::utc(1_795_000_000_000), "2026-11-18 11:06:40");
        assert_eq!(super::utc(951_782_400_000), "2000-02-29 00:00:00");
    }
}
