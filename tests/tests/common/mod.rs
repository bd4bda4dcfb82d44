//! Shared set-up of the integration tests.

#![allow(dead_code)]

pub mod durable;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use taskbox::{Event, Limits, PluginSet, Sandbox, SandboxConfig};

/// A sandbox whose compiled-component cache is shared by all tests.
pub fn sandbox() -> Arc<Sandbox> {
    let config = SandboxConfig {
        cache_dir: Some(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("component-cache")),
        ..SandboxConfig::default()
    };
    match Sandbox::new(&config) {
        Ok(s) => Arc::new(s),
        Err(e) => panic!("sandbox: {e}"),
    }
}

/// Every guest built from source, loaded, but the ones that fail to load by
/// design (`slow_describe`): tests/build.rs keeps those out of `GUEST_DIR`
/// and gives each a path constant of its own.
pub fn guests(sandbox: &Sandbox) -> PluginSet {
    match sandbox.load_dir(taskbox_tests::GUEST_DIR.as_ref(), &Limits::default()) {
        Ok(set) => {
            assert!(
                set.errors.is_empty(),
                "guests failed to load: {:?}",
                set.errors
            );
            set
        }
        Err(e) => panic!("loading guests: {e}"),
    }
}

/// Collects events for later inspection.
#[derive(Clone, Default)]
pub struct Recorder(pub Arc<Mutex<Vec<Event>>>);

impl Recorder {
    pub fn listener(&self) -> impl Fn(&Event) + Send + Sync + 'static {
        let events = self.0.clone();
        move |e| {
            if let Ok(mut v) = events.lock() {
                v.push(e.clone());
            }
        }
    }

    pub fn events(&self) -> Vec<Event> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// "atom:STATE" for every atom transition, in order.
    pub fn transitions(&self) -> Vec<String> {
        self.events()
            .iter()
            .filter_map(|e| match e {
                Event::Atom { atom, to, .. } => Some(format!("{atom}:{to}")),
                _ => None,
            })
            .collect()
    }
}

/// The directory of the Python and JavaScript plugins that
/// `scripts/build-polyglot.sh` builds, from `TASKBOX_POLYGLOT_DIR` (a
/// relative path is taken from the repository's root). Panics, saying how
/// to build them, when the variable is unset: these tests never skip.
pub fn polyglot_dir() -> PathBuf {
    let Some(dir) = std::env::var_os("TASKBOX_POLYGLOT_DIR").filter(|d| !d.is_empty()) else {
        panic!(
            "TASKBOX_POLYGLOT_DIR is not set. Build the Python and JavaScript plugins with \
             `bash scripts/build-polyglot.sh` and run with \
             TASKBOX_POLYGLOT_DIR=target/polyglot/plugins, or run `bash scripts/test.sh`, \
             which does both"
        );
    };
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = repo.join(dir);
    assert!(
        dir.is_dir(),
        "TASKBOX_POLYGLOT_DIR={} is not a directory; run `bash scripts/build-polyglot.sh`",
        dir.display()
    );
    dir
}

/// Every guest built from source plus the polyglot plugins, loaded into one
/// set: a plugin directory holding Rust, Python and JavaScript tasks.
pub fn guests_and_polyglot(sandbox: &Sandbox) -> PluginSet {
    let mut set = guests(sandbox);
    let dir = polyglot_dir();
    match sandbox.load_dir(&dir, &Limits::default()) {
        Ok(polyglot) if polyglot.errors.is_empty() => set.plugins.extend(polyglot.plugins),
        Ok(polyglot) => panic!("polyglot plugins failed to load: {:?}", polyglot.errors),
        Err(e) => panic!("loading {}: {e}", dir.display()),
    }
    set
}
