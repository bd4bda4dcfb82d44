//! Job payloads: what a job asks a conductor to run.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use taskbox_model::LimitOverrides;

/// What a job runs: its flow, the plugins it uses, its initial store,
/// engine options and limits. Posted as JSON; unknown fields are refused.
///
/// ```json
/// { "name": "order-42",
///   "flow": { "spec": "name = \"add\"\n...", "format": "toml" },
///   "plugins": [ { "name": "add", "hash": "3f2a…" } ],
///   "store": { "x": 1 },
///   "engine": { "mode": "parallel", "workers": 4, "defer_reverts": false },
///   "limits": { "timeout": "2s", "memory": "64MiB" } }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobPayload {
    /// A name for people; the flow's name when missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The flow to run (required; checked by the workshop so that a
    /// missing one is named like any other fault).
    #[serde(default)]
    pub flow: FlowSource,
    /// The plugins the flow uses, optionally pinned to a content hash.
    /// When given, it must name every plugin the flow uses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<PluginPin>,
    /// Initial store values, over the spec's own.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub store: BTreeMap<String, Value>,
    /// Engine options.
    #[serde(default)]
    pub engine: EngineChoice,
    /// Limits for every atom, under the flow's and the tasks' own.
    #[serde(default)]
    pub limits: LimitOverrides,
}

/// Where the flow spec comes from: exactly one of `spec` and `file`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowSource {
    /// The spec itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<String>,
    /// The format of `spec`: `toml` (the default) or `json`.
    #[serde(default)]
    pub format: SpecText,
    /// A spec file in the daemon's flow directory, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

/// The format of an inline spec.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpecText {
    /// TOML.
    #[default]
    Toml,
    /// JSON.
    Json,
}

/// A plugin a job uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginPin {
    /// The plugin's name in the plugin directory.
    pub name: String,
    /// Its content hash (hex SHA-256); the job refuses any other build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
}

/// The engine a job runs on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineChoice {
    /// Serial (the default) or parallel.
    #[serde(default)]
    pub mode: EngineMode,
    /// Workers of the parallel engine; the daemon's default when missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workers: Option<usize>,
    /// TaskFlow's `defer_reverts`.
    #[serde(default)]
    pub defer_reverts: bool,
}

/// Serial or parallel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineMode {
    /// One atom at a time.
    #[default]
    Serial,
    /// Ready atoms on a worker pool.
    Parallel,
}

/// A payload that cannot run, naming the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid job payload: {field}: {message}")]
pub struct PayloadError {
    /// The field, as a path (`flow.spec`, `plugins[0].hash`); `payload`
    /// for the whole document.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl PayloadError {
    /// An error about `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> PayloadError {
        PayloadError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl JobPayload {
    /// Decodes a payload from JSON; a bad field is named by its path.
    pub fn from_json(text: &str) -> Result<JobPayload, PayloadError> {
        let mut de = serde_json::Deserializer::from_str(text);
        let payload: JobPayload = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." || path.is_empty() {
                "payload".to_string()
            } else {
                path
            };
            PayloadError::new(field, e.into_inner().to_string())
        })?;
        de.end()
            .map_err(|e| PayloadError::new("payload", e.to_string()))?;
        Ok(payload)
    }

    /// The payload as JSON, as the board stores it.
    pub fn to_json(&self) -> Result<String, PayloadError> {
        serde_json::to_string(self).map_err(|e| PayloadError::new("payload", e.to_string()))
    }
}
