//! Turning payloads into engines: the plugin directory, loaded once, and
//! the checks a payload passes before it is posted and again before it
//! runs.

use crate::payload::{EngineMode, JobPayload, PayloadError, SpecText};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use taskbox_engine::{Engine, EngineError, EngineOptions, Mode, compile};
use taskbox_model::{FlowSpec, SpecFormat};
use taskbox_sandbox::{PluginSet, Sandbox};

/// What conductors build flows from.
#[derive(Debug)]
pub struct Workshop {
    sandbox: Arc<Sandbox>,
    plugins: PluginSet,
    flows: Option<PathBuf>,
    max_workers: usize,
}

/// A payload that passed its checks, with its spec parsed.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The payload.
    pub payload: JobPayload,
    /// Its flow spec.
    pub spec: FlowSpec,
}

impl Checked {
    /// The job's name: the payload's, or the flow's.
    pub fn name(&self) -> &str {
        self.payload.name.as_deref().unwrap_or(&self.spec.flow.name)
    }
}

impl Workshop {
    /// A workshop over loaded `plugins`; `flows` is where `flow.file`
    /// names are looked up (none: payloads must carry their spec);
    /// `max_workers` caps a payload's parallel workers.
    pub fn new(
        sandbox: Arc<Sandbox>,
        plugins: PluginSet,
        flows: Option<PathBuf>,
        max_workers: usize,
    ) -> Workshop {
        Workshop {
            sandbox,
            plugins,
            flows,
            max_workers: max_workers.max(1),
        }
    }

    /// The sandbox flows run in.
    pub fn sandbox(&self) -> &Arc<Sandbox> {
        &self.sandbox
    }

    /// The plugins.
    pub fn plugins(&self) -> &PluginSet {
        &self.plugins
    }

    /// Decodes and checks a payload: the spec parses, every plugin exists
    /// (and matches its pinned hash), the engine options are sane and the
    /// flow compiles against the plugins with its store.
    pub fn check(&self, json: &str) -> Result<Checked, PayloadError> {
        let payload = JobPayload::from_json(json)?;
        let spec = self.spec(&payload)?;
        self.check_plugins(&payload, &spec)?;
        if let Some(workers) = payload.engine.workers
            && (workers == 0 || workers > self.max_workers)
        {
            return Err(PayloadError::new(
                "engine.workers",
                format!("must be between 1 and {}", self.max_workers),
            ));
        }
        let mut names: std::collections::BTreeSet<String> = spec.store.keys().cloned().collect();
        names.extend(payload.store.keys().cloned());
        compile(&spec.flow, &self.plugins, &names, &spec.limits)
            .map_err(|e| PayloadError::new("flow", e.to_string()))?;
        Ok(Checked { payload, spec })
    }

    fn spec(&self, payload: &JobPayload) -> Result<FlowSpec, PayloadError> {
        match (&payload.flow.spec, &payload.flow.file) {
            (Some(text), None) => {
                let format = match payload.flow.format {
                    SpecText::Toml => SpecFormat::Toml,
                    SpecText::Json => SpecFormat::Json,
                };
                FlowSpec::parse(text, format, "the job's flow")
                    .map_err(|e| PayloadError::new("flow.spec", e.to_string()))
            }
            (None, Some(file)) => {
                let Some(dir) = &self.flows else {
                    return Err(PayloadError::new(
                        "flow.file",
                        "this daemon has no flow directory (start it with --flows DIR) — send the spec inline",
                    ));
                };
                let relative = Path::new(file);
                if !relative
                    .components()
                    .all(|c| matches!(c, Component::Normal(_)))
                {
                    return Err(PayloadError::new(
                        "flow.file",
                        format!("'{file}' must be a plain path inside the flow directory"),
                    ));
                }
                FlowSpec::load(&dir.join(relative))
                    .map_err(|e| PayloadError::new("flow.file", e.to_string()))
            }
            (Some(_), Some(_)) => Err(PayloadError::new(
                "flow",
                "give either `spec` or `file`, not both",
            )),
            (None, None) => Err(PayloadError::new(
                "flow",
                "missing: give `spec` (the spec's text) or `file` (a name in the flow directory)",
            )),
        }
    }

    fn check_plugins(&self, payload: &JobPayload, spec: &FlowSpec) -> Result<(), PayloadError> {
        for (i, pin) in payload.plugins.iter().enumerate() {
            let Some(plugin) = self.plugins.get(&pin.name) else {
                let why = match self.plugins.errors.get(&pin.name) {
                    Some(error) => format!("'{}' failed to load: {error}", pin.name),
                    None => format!("no plugin '{}' in the plugin directory", pin.name),
                };
                return Err(PayloadError::new(format!("plugins[{i}].name"), why));
            };
            if let Some(hash) = &pin.hash
                && !plugin.hash().eq_ignore_ascii_case(hash)
            {
                return Err(PayloadError::new(
                    format!("plugins[{i}].hash"),
                    format!(
                        "'{}' is pinned to {hash}, but the plugin directory holds {}",
                        pin.name,
                        plugin.hash()
                    ),
                ));
            }
        }
        for task in spec.flow.tasks() {
            if self.plugins.get(&task.plugin).is_none() {
                return Err(PayloadError::new(
                    "flow",
                    format!(
                        "task '{}' uses plugin '{}', which is not in the plugin directory",
                        task.name, task.plugin
                    ),
                ));
            }
            if !payload.plugins.is_empty() && !payload.plugins.iter().any(|p| p.name == task.plugin)
            {
                return Err(PayloadError::new(
                    "plugins",
                    format!(
                        "task '{}' uses plugin '{}', which the list does not name",
                        task.name, task.plugin
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Builds the engine of a checked payload.
    pub fn engine(&self, checked: &Checked) -> Result<Engine, EngineError> {
        let choice = checked.payload.engine;
        let mode = match choice.mode {
            EngineMode::Serial => Mode::Serial,
            EngineMode::Parallel => Mode::Parallel {
                workers: choice.workers.unwrap_or(self.max_workers),
            },
        };
        let options = EngineOptions {
            mode,
            limits: checked.payload.limits,
            defer_reverts: choice.defer_reverts,
            ..EngineOptions::default()
        };
        Engine::from_spec(
            self.sandbox.clone(),
            &self.plugins,
            &checked.spec,
            checked.payload.store.clone(),
            &options,
        )
    }
}
