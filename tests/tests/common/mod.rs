//! Shared set-up of the integration tests.

#![allow(dead_code)]

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

/// Every guest built from source, loaded.
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
