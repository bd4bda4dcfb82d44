//! Plugins: validated, compiled components with their `describe` output.

use crate::bindings::TaskPre;
use crate::bindings::retry::RetryPre;
use crate::bindings::taskbox::plugin::types as wit;
use crate::error::LoadError;
use crate::host::HostState;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use taskbox_model::{Failure, Provides, kinds};

/// What a task plugin says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskInfo {
    /// The task's own name for itself.
    pub name: String,
    /// Its version.
    pub version: String,
    /// One-line description.
    pub description: String,
    /// Required argument names.
    pub requires: Vec<String>,
    /// Optional argument names.
    pub optional: Vec<String>,
    /// Where its result goes by default.
    pub provides: Provides,
}

impl TaskInfo {
    /// Converts and checks `describe`'s answer.
    pub(crate) fn from_wit(info: wit::TaskInfo) -> Result<TaskInfo, Failure> {
        let provides = match info.provides {
            wit::Provides::None => Provides::None,
            wit::Provides::Single(n) => Provides::Single(n),
            wit::Provides::Positional(v) => Provides::Positional(v),
            wit::Provides::Keyed(pairs) => Provides::Keyed(pairs.into_iter().collect()),
        };
        let info = TaskInfo {
            name: info.name,
            version: info.version,
            description: info.description,
            requires: info.requires,
            optional: info.optional,
            provides,
        };
        let bad = |message: String| Err(Failure::new(kinds::INVALID_RESULT, message));
        let mut seen = BTreeSet::new();
        for arg in info.requires.iter().chain(&info.optional) {
            if arg.is_empty() {
                return bad("an argument name is empty".into());
            }
            if !seen.insert(arg) {
                return bad(format!("argument '{arg}' is listed twice"));
            }
        }
        if info.provides.names().iter().any(|n| n.is_empty()) {
            return bad("a provided name is empty".into());
        }
        Ok(info)
    }
}

/// A loaded plugin. Cheap to clone.
#[derive(Clone)]
pub struct Plugin {
    inner: Arc<PluginInner>,
}

/// A pre-linked component of one of the two worlds.
#[derive(Clone)]
pub(crate) enum Pre {
    /// World `task`.
    Task(TaskPre<HostState>),
    /// World `retry`.
    Retry(RetryPre<HostState>),
}

/// What a [`Plugin`] holds.
pub(crate) struct PluginInner {
    pub(crate) name: String,
    pub(crate) hash: String,
    pub(crate) info: TaskInfo,
    pub(crate) pre: Pre,
    pub(crate) path: Option<PathBuf>,
    pub(crate) size: usize,
    pub(crate) from_cache: bool,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.inner.name)
            .field("hash", &self.inner.hash)
            .field("info", &self.inner.info)
            .finish_non_exhaustive()
    }
}

impl Plugin {
    pub(crate) fn new(inner: PluginInner) -> Self {
        Plugin {
            inner: Arc::new(inner),
        }
    }

    /// The plugin's name: the file stem of its `.wasm`.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Content hash of the component, `sha256:<hex>`; identifies the plugin.
    pub fn hash(&self) -> &str {
        &self.inner.hash
    }

    /// What `describe` returned.
    pub fn info(&self) -> &TaskInfo {
        &self.inner.info
    }

    /// The file it was loaded from, if any.
    pub fn path(&self) -> Option<&std::path::Path> {
        self.inner.path.as_deref()
    }

    /// Size of the component in bytes.
    pub fn size(&self) -> usize {
        self.inner.size
    }

    /// True when the compiled code came from the on-disk cache.
    pub fn from_cache(&self) -> bool {
        self.inner.from_cache
    }

    /// True for a retry controller (world `retry`), false for a task.
    pub fn is_retry(&self) -> bool {
        matches!(self.inner.pre, Pre::Retry(_))
    }

    pub(crate) fn pre(&self) -> &Pre {
        &self.inner.pre
    }
}

/// The plugins of a directory: those that loaded, and why the others did not.
#[derive(Debug, Default)]
pub struct PluginSet {
    /// Loaded plugins by name.
    pub plugins: BTreeMap<String, Plugin>,
    /// Plugins that failed to load, by name.
    pub errors: BTreeMap<String, LoadError>,
}

impl PluginSet {
    /// The plugin named `name`.
    pub fn get(&self, name: &str) -> Option<&Plugin> {
        self.plugins.get(name)
    }
}
