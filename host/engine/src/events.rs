//! Transitions and guest reports, published to subscribers.

use serde::Serialize;
use serde_json::Value;
use std::sync::{Arc, RwLock};
use taskbox_model::{AtomState, Decision, Failure, FlowState};
use taskbox_sandbox::LogLevel;

/// Something that happened while a flow ran.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The flow changed state.
    Flow {
        /// Flow name.
        flow: String,
        /// Previous state.
        from: FlowState,
        /// New state.
        to: FlowState,
    },
    /// An atom changed state.
    Atom {
        /// Atom name.
        atom: String,
        /// Previous state.
        from: AtomState,
        /// New state.
        to: AtomState,
        /// The result, on SUCCESS.
        #[serde(skip_serializing_if = "Option::is_none")]
        result: Option<Value>,
        /// The failure, on FAILURE and REVERT_FAILURE.
        #[serde(skip_serializing_if = "Option::is_none")]
        failure: Option<Failure>,
    },
    /// A retry controller decided how to resolve a failure in its scope.
    Decision {
        /// The retry atom.
        retry: String,
        /// The atom whose failure it resolved.
        atom: String,
        /// What it decided.
        decision: Decision,
    },
    /// A running atom reported progress.
    Progress {
        /// Atom name.
        atom: String,
        /// Fraction done, in `[0, 1]`.
        fraction: f32,
    },
    /// A running atom logged a message.
    Log {
        /// Atom name.
        atom: String,
        /// Severity.
        #[serde(serialize_with = "level_name")]
        level: LogLevel,
        /// The message.
        message: String,
    },
}

fn level_name<S: serde::Serializer>(level: &LogLevel, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(match level {
        LogLevel::Trace => "trace",
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error => "error",
    })
}

type Listener = Box<dyn Fn(&Event) + Send + Sync>;

/// The subscribers of an engine; cheap to clone, shared with workers.
#[derive(Clone, Default)]
pub(crate) struct Notifier {
    listeners: Arc<RwLock<Vec<Listener>>>,
}

impl Notifier {
    pub(crate) fn subscribe(&self, listener: Listener) {
        if let Ok(mut listeners) = self.listeners.write() {
            listeners.push(listener);
        }
    }

    pub(crate) fn publish(&self, event: Event) {
        tracing::trace!(?event, "event");
        if let Ok(listeners) = self.listeners.read() {
            for listener in listeners.iter() {
                listener(&event);
            }
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.listeners.read().map(|l| l.is_empty()).unwrap_or(true)
    }
}
