//! Turning payloads into engines: the plugin directory, loaded once, and
//! the checks a payload passes before it is posted and again before it
//! runs.

use crate::payload::{EngineMode, JobPayload, PayloadError, SpecText};
use crate::tenants::{Tenant, Tenants};
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use taskbox_engine::{Engine, EngineError, EngineOptions, Mode, Tenancy, compile};
use taskbox_model::{FlowSpec, Limits, SpecFormat};
use taskbox_sandbox::{Lane, PluginSet, Sandbox, SandboxError};

/// What conductors build flows from: the plugins, loaded once, and the
/// tenants with their own plugins, limits and grants.
#[derive(Debug)]
pub struct Workshop {
    sandbox: Arc<Sandbox>,
    plugins: PluginSet,
    flows: Option<PathBuf>,
    max_workers: usize,
    tenants: Option<Arc<Tenants>>,
    /// Each tenant's plugins: the public ones and its own.
    realms: BTreeMap<String, PluginSet>,
}

/// A payload that passed its checks, with its spec parsed.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The tenant it runs for (empty on a daemon without tenants).
    pub tenant: String,
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
            tenants: None,
            realms: BTreeMap::new(),
        }
    }

    /// This workshop serving `tenants`: each runs the plugins the tenants
    /// file marks public, from the shared set, and its own, loaded from
    /// its directory under `plugin_dir` (with `limits` for `describe`).
    /// A tenant's own plugin shadows a public one of the same name. A
    /// tenant whose directory does not exist has only the public plugins.
    pub fn with_tenants(
        mut self,
        tenants: Arc<Tenants>,
        plugin_dir: &Path,
        limits: &Limits,
    ) -> Result<Workshop, SandboxError> {
        for name in &tenants.public_plugins {
            if self.plugins.get(name).is_none() && !self.plugins.errors.contains_key(name) {
                tracing::warn!(plugin = %name, "a public plugin is not in the plugin directory");
            }
        }
        for tenant in tenants.iter() {
            let mut realm = PluginSet::default();
            for name in &tenants.public_plugins {
                if let Some(plugin) = self.plugins.plugins.get(name) {
                    realm.plugins.insert(name.clone(), plugin.clone());
                }
            }
            let dir = plugin_dir.join(&tenant.plugins);
            if dir.is_dir() {
                let own = self.sandbox.load_dir(&dir, limits)?;
                realm.plugins.extend(own.plugins);
                realm.errors.extend(own.errors);
            }
            tracing::info!(tenant = %tenant.id, plugins = realm.plugins.len(), "tenant ready");
            self.realms.insert(tenant.id.clone(), realm);
        }
        self.tenants = Some(tenants);
        Ok(self)
    }

    /// The tenants, when the workshop serves some.
    pub fn tenants(&self) -> Option<&Arc<Tenants>> {
        self.tenants.as_ref()
    }

    /// The plugins `tenant` may run: every plugin on a workshop without
    /// tenants (whose only tenant is `""`); `None` for an unknown tenant.
    pub fn plugins_of(&self, tenant: &str) -> Option<&PluginSet> {
        match &self.tenants {
            None => tenant.is_empty().then_some(&self.plugins),
            Some(_) => self.realms.get(tenant),
        }
    }

    /// The tenant `id`, if the workshop serves tenants and knows it.
    fn tenant(&self, id: &str) -> Option<&Tenant> {
        self.tenants.as_ref().and_then(|t| t.get(id))
    }

    /// Whom a flow of `tenant` runs for, in `lane`: the tenant's grants
    /// and its limits as a ceiling.
    pub fn tenancy(&self, tenant: &str, lane: Lane) -> Tenancy {
        match self.tenant(tenant) {
            Some(t) => Tenancy {
                lane,
                grants: t.grants.clone(),
                plugin_grants: t.plugin_grants.clone(),
                ceiling: t.limits.call,
            },
            None => Tenancy {
                lane,
                ..Tenancy::default()
            },
        }
    }

    /// The sandbox flows run in.
    pub fn sandbox(&self) -> &Arc<Sandbox> {
        &self.sandbox
    }

    /// The plugins of the shared plugin directory.
    pub fn plugins(&self) -> &PluginSet {
        &self.plugins
    }

    /// Decodes and checks a payload of `tenant` (`""` on a workshop
    /// without tenants): the spec parses, every plugin exists among the
    /// tenant's (and matches its pinned hash), the engine options are sane
    /// and the flow compiles against the plugins with its store.
    pub fn check(&self, tenant: &str, json: &str) -> Result<Checked, PayloadError> {
        let Some(plugins) = self.plugins_of(tenant) else {
            return Err(PayloadError::new(
                "tenant",
                format!("no tenant '{tenant}' on this daemon"),
            ));
        };
        let payload = JobPayload::from_json(json)?;
        let spec = self.spec(&payload)?;
        let place = if self.tenants.is_some() {
            "among the plugins this tenant may run (its own and the public ones)"
        } else {
            "in the plugin directory"
        };
        check_plugins(plugins, place, &payload, &spec)?;
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
        compile(&spec.flow, plugins, &names, &spec.limits)
            .map_err(|e| PayloadError::new("flow", e.to_string()))?;
        Ok(Checked {
            tenant: tenant.to_string(),
            payload,
            spec,
        })
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

    /// Builds the engine of a checked payload, running in `lane`.
    pub fn engine(&self, checked: &Checked, lane: Lane) -> Result<Engine, EngineError> {
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
            tenancy: self.tenancy(&checked.tenant, lane),
            ..EngineOptions::default()
        };
        let plugins = self.plugins_of(&checked.tenant).unwrap_or(&self.plugins);
        Engine::from_spec(
            self.sandbox.clone(),
            plugins,
            &checked.spec,
            checked.payload.store.clone(),
            &options,
        )
    }
}

/// Checks the payload's plugin list and the flow's plugins against
/// `plugins` (for a tenant: its own and the public ones, so another
/// tenant's plugin reads as missing), which are `place` in messages.
fn check_plugins(
    plugins: &PluginSet,
    place: &str,
    payload: &JobPayload,
    spec: &FlowSpec,
) -> Result<(), PayloadError> {
    for (i, pin) in payload.plugins.iter().enumerate() {
        let Some(plugin) = plugins.get(&pin.name) else {
            let why = match plugins.errors.get(&pin.name) {
                Some(error) => format!("'{}' failed to load: {error}", pin.name),
                None => format!("no plugin '{}' {place}", pin.name),
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
        if plugins.get(&task.plugin).is_none() {
            return Err(PayloadError::new(
                "flow",
                format!(
                    "task '{}' uses plugin '{}', which is not {place}",
                    task.name, task.plugin
                ),
            ));
        }
        if !payload.plugins.is_empty() && !payload.plugins.iter().any(|p| p.name == task.plugin) {
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
