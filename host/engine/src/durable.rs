//! Recording a flow in a logbook and resuming it from there.

use crate::clock::{Clock, SystemClock};
use crate::engine::{Engine, EngineError, EngineOptions, Mode, Tenancy};
use crate::graph::ExecGraph;
use crate::journal::Journal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use taskbox_logbook::{AtomDetail, AtomKind, FlowId, Logbook, NewFlow};
use taskbox_model::{Flow, LimitOverrides};
use taskbox_sandbox::{PluginSet, Sandbox};

/// Everything that rebuilds an engine in another process, stored as JSON
/// with the flow detail.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Definition {
    pub(crate) flow: Flow,
    pub(crate) store: BTreeMap<String, Value>,
    pub(crate) flow_limits: LimitOverrides,
    pub(crate) limits: LimitOverrides,
    pub(crate) mode: Mode,
    pub(crate) defer_reverts: bool,
}

/// The logbook an engine commits to, and its flow there.
#[derive(Clone)]
pub(crate) struct Durable {
    pub(crate) logbook: Arc<dyn Logbook>,
    pub(crate) id: FlowId,
}

impl Durable {
    /// A journal holding the flow's records as committed last.
    pub(crate) fn journal(&self, graph: &ExecGraph) -> Result<Journal, EngineError> {
        let flow = self.logbook.flow(self.id)?;
        let atoms = self.logbook.atoms(self.id)?;
        let matches = atoms.len() == graph.atoms.len()
            && atoms
                .iter()
                .zip(&graph.atoms)
                .all(|(a, n)| a.name == n.name);
        if !matches {
            return Err(EngineError::Definition {
                id: self.id,
                message: "its atom records do not match its flow".into(),
            });
        }
        Ok(Journal::new(self.logbook.clone(), flow, atoms))
    }
}

/// How [`Engine::resume`] rebuilds a flow.
#[derive(Clone)]
pub struct ResumeOptions {
    /// Run atoms whose plugin changed since they were recorded; each such
    /// atom's record notes the hash it had before.
    pub accept_changed_plugins: bool,
    /// Another engine mode than the one the flow was started with.
    pub mode: Option<Mode>,
    /// Where retry delays wait.
    pub clock: Arc<dyn Clock>,
    /// Whom the flow runs for now (grants and limits are the current
    /// ones, not those it was recorded with).
    pub tenancy: Tenancy,
}

impl Default for ResumeOptions {
    fn default() -> Self {
        ResumeOptions {
            accept_changed_plugins: false,
            mode: None,
            clock: Arc::new(SystemClock),
            tenancy: Tenancy::default(),
        }
    }
}

impl std::fmt::Debug for ResumeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResumeOptions")
            .field("accept_changed_plugins", &self.accept_changed_plugins)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Records the flow in `logbook` under `book` (a new flow detail with
    /// every atom PENDING, and the definition that rebuilds it); from now
    /// on [`run`](Engine::run) commits every change there, and the flow can
    /// be resumed by id after a crash or a suspension.
    pub fn record(
        mut self,
        logbook: Arc<dyn Logbook>,
        book: &str,
        meta: BTreeMap<String, String>,
    ) -> Result<Engine, EngineError> {
        let definition = serde_json::to_string(&self.definition)
            .map_err(|e| EngineError::Option(e.to_string()))?;
        let atoms = self
            .graph()
            .atoms
            .iter()
            .zip(self.plugins())
            .zip(self.terms())
            .enumerate()
            .map(|(index, ((node, plugin), terms))| {
                let kind = if node.is_retry() {
                    AtomKind::Retry
                } else {
                    AtomKind::Task
                };
                let index = u32::try_from(index).unwrap_or(u32::MAX);
                let mut detail = AtomDetail::pending(index, &node.name, kind, &node.runs());
                if let Some(plugin) = plugin {
                    detail.plugin_hash = plugin.hash().to_string();
                    detail.version = plugin.info().version.clone();
                }
                detail.grants = terms.grants.redacted();
                detail
            })
            .collect();
        let flow = logbook.create_flow(NewFlow {
            book: book.to_string(),
            name: self.definition.flow.name.clone(),
            definition,
            meta,
            atoms,
        })?;
        self.durable = Some(Durable {
            logbook,
            id: flow.id,
        });
        Ok(self)
    }

    /// Rebuilds flow `id` from `logbook` against `plugins`, to continue it
    /// with [`run`](Engine::run). Refuses an atom whose plugin's content
    /// hash differs from the one it was recorded with, unless
    /// [`ResumeOptions::accept_changed_plugins`] says otherwise.
    pub fn resume(
        sandbox: Arc<Sandbox>,
        plugins: &PluginSet,
        logbook: Arc<dyn Logbook>,
        id: FlowId,
        options: &ResumeOptions,
    ) -> Result<Engine, EngineError> {
        let text = logbook.definition(id)?;
        let definition: Definition =
            serde_json::from_str(&text).map_err(|e| EngineError::Definition {
                id,
                message: e.to_string(),
            })?;
        let engine_options = EngineOptions {
            mode: options.mode.unwrap_or(definition.mode),
            limits: definition.limits,
            defer_reverts: definition.defer_reverts,
            clock: options.clock.clone(),
            tenancy: options.tenancy.clone(),
        };
        let mut engine = Engine::build(
            sandbox,
            plugins,
            &definition.flow,
            definition.store.clone(),
            &definition.flow_limits,
            &engine_options,
        )?;
        let durable = Durable { logbook, id };
        let mut journal = durable.journal(engine.graph())?;
        let mut repinned = Vec::new();
        for (index, (detail, plugin)) in journal.details().iter().zip(engine.plugins()).enumerate()
        {
            let Some(plugin) = plugin else { continue };
            if detail.plugin_hash == plugin.hash() {
                continue;
            }
            if !options.accept_changed_plugins {
                return Err(EngineError::PluginChanged {
                    atom: detail.name.clone(),
                    plugin: detail.plugin.clone(),
                    recorded: detail.plugin_hash.clone(),
                    current: plugin.hash().to_string(),
                });
            }
            tracing::warn!(atom = %detail.name, recorded = %detail.plugin_hash, current = %plugin.hash(), "resuming with a changed plugin");
            repinned.push((
                index,
                plugin.hash().to_string(),
                plugin.info().version.clone(),
            ));
        }
        if !repinned.is_empty() {
            journal.repin(&repinned)?;
        }
        engine.durable = Some(durable);
        Ok(engine)
    }
}
