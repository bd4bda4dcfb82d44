//! The public engine: compile a flow against loaded plugins, subscribe to
//! events, run serially or in parallel.

use crate::clock::{Clock, SystemClock};
use crate::compile::{CompileError, compile};
use crate::durable::{Definition, Durable};
use crate::events::{Event, Notifier};
use crate::graph::ExecGraph;
use crate::outcome::Outcome;
use crate::run::{Run, RunSetup};
use crate::work::{Parallel, Serial, Worker};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use taskbox_logbook::{FlowId, LogbookError};
use taskbox_model::{Flow, FlowSpec, Grants, LimitOverrides, Limits};
use taskbox_sandbox::{Lane, Plugin, PluginSet, Sandbox, Terms};

/// How atoms are run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// One atom at a time, on the calling thread.
    Serial,
    /// Up to `workers` atoms at once, each on a worker thread.
    Parallel {
        /// Number of worker threads (at least 1).
        workers: usize,
    },
}

/// Jobs queued per parallel worker.
const QUEUE_DEPTH: usize = 16;

/// Options of an engine.
#[derive(Clone)]
pub struct EngineOptions {
    /// Serial or parallel.
    pub mode: Mode,
    /// Limits applied to every atom, under the flow file's and the task's own.
    pub limits: LimitOverrides,
    /// TaskFlow's `defer_reverts`: a retry deciding REVERT always defers to
    /// the enclosing retry, and without one the whole flow reverts. Off: a
    /// REVERT without an enclosing retry reverts only the retry's scope.
    pub defer_reverts: bool,
    /// Where retry delays wait.
    pub clock: Arc<dyn Clock>,
    /// Whom the flow runs for.
    pub tenancy: Tenancy,
}

/// Whom a flow runs for: the lane its calls are scheduled and accounted
/// in, what they are granted, and the ceiling on their limits. The
/// default grants nothing, caps nothing and runs unmetered.
#[derive(Debug, Clone, Default)]
pub struct Tenancy {
    /// The job's lane.
    pub lane: Lane,
    /// Granted to every atom.
    pub grants: Grants,
    /// Granted to the atoms of one plugin, on top of `grants`.
    pub plugin_grants: BTreeMap<String, Grants>,
    /// No atom's limits go above these, whatever the flow asks.
    pub ceiling: LimitOverrides,
}

impl Tenancy {
    /// What the atoms of `plugin` are granted.
    pub fn grants_for(&self, plugin: &str) -> Grants {
        match self.plugin_grants.get(plugin) {
            Some(extra) => self.grants.union(extra),
            None => self.grants.clone(),
        }
    }

    /// The terms of an atom of `plugin` asking for `limits`.
    fn terms(&self, plugin: &str, limits: Limits) -> Terms {
        Terms {
            limits: limits.capped(&self.ceiling),
            grants: self.grants_for(plugin),
            lane: self.lane.clone(),
        }
    }
}

impl std::fmt::Debug for EngineOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineOptions")
            .field("mode", &self.mode)
            .field("limits", &self.limits)
            .field("defer_reverts", &self.defer_reverts)
            .finish_non_exhaustive()
    }
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            mode: Mode::Serial,
            limits: LimitOverrides::default(),
            defer_reverts: false,
            clock: Arc::new(SystemClock),
            tenancy: Tenancy::default(),
        }
    }
}

/// An engine could not be built.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The flow does not compile.
    #[error(transparent)]
    Compile(#[from] CompileError),
    /// A bad option.
    #[error("invalid engine option: {0}")]
    Option(String),
    /// The logbook failed; the flow resumes from its last commit.
    #[error(transparent)]
    Logbook(#[from] LogbookError),
    /// On resume, an atom's plugin is not the one it ran with.
    #[error(
        "atom '{atom}' ran plugin '{plugin}' with hash {recorded}, but the plugin now has hash \
         {current}; resume with the changed plugin only on purpose (accept_changed_plugins, \
         `taskbox resume --accept-changed-plugins`)"
    )]
    PluginChanged {
        /// The atom.
        atom: String,
        /// Its plugin.
        plugin: String,
        /// The hash in the logbook.
        recorded: String,
        /// The hash of the plugin loaded now.
        current: String,
    },
    /// A flow's stored definition cannot rebuild it.
    #[error("flow {id} cannot be rebuilt from its logbook: {message}")]
    Definition {
        /// The flow.
        id: FlowId,
        /// Why.
        message: String,
    },
}

/// Asks a running engine to suspend, from any thread (e.g. a Ctrl-C
/// handler): no new atom starts, running ones finish, and the run ends
/// SUSPENDED.
#[derive(Debug, Clone, Default)]
pub struct Suspender(Arc<AtomicBool>);

impl Suspender {
    /// Requests the suspension.
    pub fn suspend(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// A compiled flow, ready to run.
pub struct Engine {
    sandbox: Arc<Sandbox>,
    flow: String,
    graph: ExecGraph,
    plugins: Vec<Option<Plugin>>,
    terms: Vec<Terms>,
    store: BTreeMap<String, Value>,
    mode: Mode,
    defer_reverts: bool,
    clock: Arc<dyn Clock>,
    notifier: Notifier,
    /// What rebuilds this engine in another process.
    pub(crate) definition: Definition,
    /// The logbook this engine's runs commit to.
    pub(crate) durable: Option<Durable>,
    suspender: Suspender,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("flow", &self.flow)
            .field("atoms", &self.graph.atoms.len())
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Compiles `flow` against `plugins` with the initial `store`.
    pub fn new(
        sandbox: Arc<Sandbox>,
        plugins: &PluginSet,
        flow: &Flow,
        store: BTreeMap<String, Value>,
        options: &EngineOptions,
    ) -> Result<Engine, EngineError> {
        Engine::build(
            sandbox,
            plugins,
            flow,
            store,
            &LimitOverrides::default(),
            options,
        )
    }

    /// Compiles a spec: its store, overlaid with `store`, and its limits.
    pub fn from_spec(
        sandbox: Arc<Sandbox>,
        plugins: &PluginSet,
        spec: &FlowSpec,
        store: BTreeMap<String, Value>,
        options: &EngineOptions,
    ) -> Result<Engine, EngineError> {
        let mut merged = spec.store.clone();
        merged.extend(store);
        Engine::build(sandbox, plugins, &spec.flow, merged, &spec.limits, options)
    }

    pub(crate) fn build(
        sandbox: Arc<Sandbox>,
        plugins: &PluginSet,
        flow: &Flow,
        store: BTreeMap<String, Value>,
        flow_limits: &LimitOverrides,
        options: &EngineOptions,
    ) -> Result<Engine, EngineError> {
        if let Mode::Parallel { workers: 0 } = options.mode {
            return Err(EngineError::Option(
                "the parallel engine needs at least 1 worker".into(),
            ));
        }
        let names = store.keys().cloned().collect();
        let graph = compile(flow, plugins, &names, flow_limits)?;
        let base = Limits::default().with(&options.limits);
        // `compile` refused atoms whose plugin is not loaded; only builtin
        // retries have none.
        let atom_plugins = graph
            .atoms
            .iter()
            .map(|a| plugins.get(&a.plugin).cloned())
            .collect();
        Ok(Engine {
            sandbox,
            flow: flow.name.clone(),
            terms: graph
                .atoms
                .iter()
                .map(|a| options.tenancy.terms(&a.plugin, base.with(&a.limits)))
                .collect(),
            plugins: atom_plugins,
            graph,
            definition: Definition {
                flow: flow.clone(),
                store: store.clone(),
                flow_limits: *flow_limits,
                limits: options.limits,
                mode: options.mode,
                defer_reverts: options.defer_reverts,
            },
            store,
            mode: options.mode,
            defer_reverts: options.defer_reverts,
            clock: options.clock.clone(),
            notifier: Notifier::default(),
            durable: None,
            suspender: Suspender::default(),
        })
    }

    /// The plugin of each atom (`None` for builtin retries).
    pub(crate) fn plugins(&self) -> &[Option<Plugin>] {
        &self.plugins
    }

    /// The flow's id in the logbook, once recorded or resumed.
    pub fn flow_id(&self) -> Option<FlowId> {
        self.durable.as_ref().map(|d| d.id)
    }

    /// Suspends the current run: no new atom starts, running ones finish,
    /// and [`run`](Self::run) returns with the flow SUSPENDED. A recorded
    /// flow continues later with another `run` or [`Engine::resume`].
    pub fn suspend(&self) {
        self.suspender.suspend();
    }

    /// A handle that suspends this engine's run from another thread.
    pub fn suspender(&self) -> Suspender {
        self.suspender.clone()
    }

    /// Calls `listener` with every event of every later run.
    pub fn subscribe(&self, listener: impl Fn(&Event) + Send + Sync + 'static) {
        self.notifier.subscribe(Box::new(listener));
    }

    /// The execution graph.
    pub fn graph(&self) -> &ExecGraph {
        &self.graph
    }

    /// The limits atom `index` runs under.
    pub fn limits_of(&self, index: usize) -> Option<&Limits> {
        self.terms.get(index).map(|t| &t.limits)
    }

    /// The terms (limits, grants, lane) of each atom, by index.
    pub(crate) fn terms(&self) -> &[Terms] {
        &self.terms
    }

    /// Runs the flow to its end: SUCCESS, or REVERTED after a failure
    /// (FAILURE when a revert failed too), or SUSPENDED. Blocks the calling
    /// thread.
    ///
    /// A recorded flow (see [`record`](Self::record)) continues from its
    /// logbook: atoms that succeeded keep their results and do not run
    /// again, atoms that were running run again (at-least-once), and every
    /// change is committed before anything depends on it. It fails only
    /// when the logbook does; the flow then resumes from its last commit.
    pub fn run(&self) -> Result<Outcome, EngineError> {
        let worker = Worker {
            sandbox: &self.sandbox,
            graph: &self.graph,
            plugins: &self.plugins,
            terms: &self.terms,
            notifier: &self.notifier,
            clock: self.clock.as_ref(),
        };
        let journal = match &self.durable {
            Some(durable) => Some(durable.journal(&self.graph)?),
            None => None,
        };
        // Jobs queued ahead of each worker keep it busy while the scheduler
        // commits or handles answers (a worker that runs dry sleeps and
        // costs a wake-up per job). The price: an atom that becomes ready
        // later waits behind what is queued, whatever its priority.
        let depth = QUEUE_DEPTH;
        let run = Run::new(
            &self.graph,
            RunSetup {
                flow: &self.flow,
                store: &self.store,
                notifier: &self.notifier,
                defer_reverts: self.defer_reverts,
                journal,
                suspend: &self.suspender.0,
            },
        );
        let ran = match self.mode {
            Mode::Serial => run.run(&mut Serial::new(&worker)),
            Mode::Parallel { workers } => std::thread::scope(|scope| {
                let mut exec = Parallel::start(scope, &worker, workers, depth);
                run.run(&mut exec)
            }),
        };
        self.suspender.0.store(false, Ordering::Relaxed);
        let mut outcome = ran?;
        for (report, plugin) in outcome.atoms.iter_mut().zip(&self.plugins) {
            if let Some(plugin) = plugin {
                report.plugin_hash = plugin.hash().to_string();
            }
        }
        Ok(outcome)
    }
}
