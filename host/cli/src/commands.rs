//! The subcommands.

use crate::args::{
    Cli, Command, EngineKind, FlowArgs, GraphArgs, PluginsArgs, RunArgs, SandboxArgs,
};
use crate::output::{Reporter, Style, print_plugins, print_summary};
use crate::{grants, logbook};
use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use taskbox::{
    Engine, EngineOptions, FlowSpec, FlowState, LimitOverrides, Limits, Mode, PluginSet, Sandbox,
    SandboxConfig, SpecOnly, Tenancy, compile,
};
use taskbox_model::{parse_duration, parse_size};

pub(crate) fn dispatch(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Run(args) => run(args),
        Command::Validate(args) => validate(args),
        Command::Plugins(args) => plugins(args),
        Command::Graph(args) => graph(args),
        Command::Resume(args) => logbook::resume(args),
        Command::Logbook(command) => logbook::inspect(command),
        Command::Serve(args) => crate::serve::serve(args),
        Command::Post(args) => crate::remote::post(args),
        Command::Jobs(command) => crate::remote::jobs(command),
        Command::Usage(args) => crate::remote::usage(args),
        Command::Tenants(command) => crate::tenants::tenants(command),
    }
}

/// Parses `NAME=JSON` pairs; a value that is not JSON is taken as a string.
pub(crate) fn parse_store(pairs: &[String]) -> Result<BTreeMap<String, Value>> {
    let mut store = BTreeMap::new();
    for pair in pairs {
        let Some((name, raw)) = pair.split_once('=') else {
            bail!("--store '{pair}': expected NAME=JSON");
        };
        if name.is_empty() {
            bail!("--store '{pair}': the name is empty");
        }
        let value = serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()));
        store.insert(name.to_string(), value);
    }
    Ok(store)
}

pub(crate) fn overrides(args: &SandboxArgs) -> Result<LimitOverrides> {
    Ok(LimitOverrides {
        memory: args
            .memory
            .as_deref()
            .map(parse_size)
            .transpose()
            .context("--memory")?,
        timeout: args
            .timeout
            .as_deref()
            .map(parse_duration)
            .transpose()
            .context("--timeout")?,
        result_size: args
            .max_result
            .as_deref()
            .map(parse_size)
            .transpose()
            .context("--max-result")?,
        ..LimitOverrides::default()
    })
}

fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(base.join("taskbox").join("compiled"))
}

pub(crate) fn sandbox(args: &SandboxArgs, workers: usize) -> Result<Arc<Sandbox>> {
    let config = SandboxConfig {
        max_instances: u32::try_from(workers).unwrap_or(u32::MAX).saturating_add(8),
        cache_dir: if args.no_cache {
            None
        } else {
            args.cache_dir.clone().or_else(default_cache_dir)
        },
        ..SandboxConfig::default()
    };
    Ok(Arc::new(Sandbox::new(&config)?))
}

/// Loads the plugin directory; a plugin the flow uses that failed to load
/// is an error, others only warnings.
fn load_plugins(
    sandbox: &Sandbox,
    dir: &Path,
    limits: &Limits,
    spec: &FlowSpec,
) -> Result<PluginSet> {
    let set = sandbox.load_dir(dir, limits)?;
    let used: BTreeSet<&str> = spec
        .flow
        .tasks()
        .iter()
        .map(|t| t.plugin.as_str())
        .collect();
    for (name, error) in &set.errors {
        if used.contains(name.as_str()) {
            return Err(anyhow::anyhow!("{error}"));
        }
        eprintln!("warning: {error}");
    }
    Ok(set)
}

/// Loads the flow file and its plugins and compiles an engine for `mode`,
/// granting what `tenancy` grants.
fn prepare(
    args: &FlowArgs,
    mode: Mode,
    defer_reverts: bool,
    tenancy: Tenancy,
) -> Result<(FlowSpec, Engine)> {
    let spec = FlowSpec::load(&args.flow)?;
    let store = parse_store(&args.store)?;
    let limits = overrides(&args.sandbox)?;
    let workers = match mode {
        Mode::Serial => 1,
        Mode::Parallel { workers } => workers,
    };
    let sandbox = sandbox(&args.sandbox, workers)?;
    let plugins = load_plugins(
        &sandbox,
        &args.plugins,
        &Limits::default().with(&limits),
        &spec,
    )?;
    let options = EngineOptions {
        mode,
        limits,
        defer_reverts,
        tenancy,
        ..EngineOptions::default()
    };
    let engine = Engine::from_spec(sandbox, &plugins, &spec, store, &options)
        .with_context(|| format!("flow {} is invalid", args.flow.display()))?;
    grants::check_plugins(&options.tenancy, engine.graph())?;
    Ok((spec, engine))
}

fn run(args: RunArgs) -> Result<ExitCode> {
    let mode = match args.engine {
        EngineKind::Serial => Mode::Serial,
        EngineKind::Parallel => Mode::Parallel {
            workers: args
                .workers
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from)),
        },
    };
    let tenancy = grants::tenancy(&args.grants)?;
    let (_, mut engine) = prepare(&args.flow, mode, args.defer_reverts, tenancy.clone())?;
    grants::announce(&tenancy);
    if !args.no_db {
        let book = logbook::open(&args.db)?;
        let meta = BTreeMap::from([
            ("plugins".to_string(), absolute(&args.flow.plugins)),
            ("flow_file".to_string(), absolute(&args.flow.flow)),
        ]);
        engine = engine.record(book.clone(), "cli", meta)?;
        if let Some(id) = engine.flow_id() {
            eprintln!("logbook {}: flow {id}", book.path().display());
        }
    }
    drive(&engine, args.json)
}

/// `path` made absolute, as text, for the logbook's meta.
fn absolute(path: &Path) -> String {
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

/// Runs `engine` with live output and a summary; Ctrl-C suspends it.
pub(crate) fn drive(engine: &Engine, json: bool) -> Result<ExitCode> {
    let style = if json {
        Style::Json
    } else if std::io::stderr().is_terminal() {
        Style::Bar
    } else {
        Style::Plain
    };
    let reporter = Arc::new(Reporter::new(style, engine.graph().atoms.len()));
    let listener = reporter.clone();
    engine.subscribe(move |event| listener.event(event));
    suspend_on_ctrl_c(engine);
    let outcome = engine.run()?;
    reporter.finish();
    print_summary(&outcome, style)?;
    Ok(match outcome.state {
        FlowState::Success => ExitCode::SUCCESS,
        FlowState::Suspended => {
            match engine.flow_id() {
                Some(id) => eprintln!("suspended; continue with `taskbox resume {id}`"),
                None => eprintln!("suspended (not recorded: --no-db); nothing to resume"),
            }
            ExitCode::from(3)
        }
        _ => ExitCode::from(1),
    })
}

/// First Ctrl-C: suspend (running atoms finish, nothing new starts).
/// Second: exit at once with 130.
fn suspend_on_ctrl_c(engine: &Engine) {
    let suspender = engine.suspender();
    let id = engine.flow_id();
    let pressed = std::sync::atomic::AtomicBool::new(false);
    let handler = move || {
        if pressed.swap(true, std::sync::atomic::Ordering::Relaxed) {
            std::process::exit(130);
        }
        match id {
            Some(id) => eprintln!(
                "suspending: running atoms finish; resume with `taskbox resume {id}` (Ctrl-C again to exit now)"
            ),
            None => eprintln!("suspending: running atoms finish (Ctrl-C again to exit now)"),
        }
        suspender.suspend();
    };
    if let Err(e) = ctrlc::set_handler(handler) {
        tracing::warn!(error = %e, "Ctrl-C will not suspend the run");
    }
}

fn validate(args: FlowArgs) -> Result<ExitCode> {
    let (spec, engine) = prepare(&args, Mode::Serial, false, Tenancy::default())?;
    let graph = engine.graph();
    println!(
        "{}: flow '{}' is valid: {} atoms, {} edges",
        args.flow.display(),
        spec.flow.name,
        graph.atoms.len(),
        graph.edge_count()
    );
    Ok(ExitCode::SUCCESS)
}

fn plugins(args: PluginsArgs) -> Result<ExitCode> {
    let sandbox = sandbox(&args.sandbox, 1)?;
    let limits = Limits::default().with(&overrides(&args.sandbox)?);
    let set = sandbox.load_dir(&args.dir, &limits)?;
    print_plugins(&set, args.json)?;
    Ok(if set.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn graph(args: GraphArgs) -> Result<ExitCode> {
    let spec = FlowSpec::load(&args.flow)?;
    let names = spec.store.keys().cloned().collect();
    let graph = match &args.plugins {
        Some(dir) => {
            let sandbox = sandbox(&args.sandbox, 1)?;
            let limits = Limits::default().with(&overrides(&args.sandbox)?);
            let set = load_plugins(&sandbox, dir, &limits, &spec)?;
            compile(&spec.flow, &set, &names, &spec.limits)
        }
        None => compile(&spec.flow, &SpecOnly, &names, &spec.limits),
    }
    .with_context(|| format!("flow {} is invalid", args.flow.display()))?;
    print!("{}", graph.to_dot());
    Ok(ExitCode::SUCCESS)
}
