//! The powers the host grants a task: logging and progress reports.
//!
//! Inside a component these call the host's `taskbox:plugin/host` imports.
//! Compiled for any other target (say, to unit-test a task natively) logging
//! writes to standard error and progress reports are dropped.

/// Severity of a log message, from least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Very fine-grained detail.
    Trace,
    /// Information useful when debugging.
    Debug,
    /// Normal progress worth recording.
    Info,
    /// Something unexpected that the task recovered from.
    Warn,
    /// Something failed.
    Error,
}

impl Level {
    /// Lower-case name of the level, as the host prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// Writes `message` to the host's log at `level`, attributed to the running
/// atom. The host caps message size and count.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    {
        use crate::__private::bindings::taskbox::plugin::host;
        let level = match level {
            Level::Trace => host::Level::Trace,
            Level::Debug => host::Level::Debug,
            Level::Info => host::Level::Info,
            Level::Warn => host::Level::Warn,
            Level::Error => host::Level::Error,
        };
        host::log(level, message);
    }
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("[{}] {message}", level.as_str());
}

/// Logs `message` at [`Level::Trace`].
pub fn trace(message: &str) {
    log(Level::Trace, message);
}

/// Logs `message` at [`Level::Debug`].
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Logs `message` at [`Level::Info`].
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Logs `message` at [`Level::Warn`].
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Logs `message` at [`Level::Error`].
pub fn error(message: &str) {
    log(Level::Error, message);
}

/// Reports progress of the running call as a fraction in `[0, 1]`.
///
/// Values outside that range are clamped; NaN is ignored.
pub fn progress(fraction: f32) {
    if fraction.is_nan() {
        return;
    }
    let fraction = fraction.clamp(0.0, 1.0);
    #[cfg(target_arch = "wasm32")]
    crate::__private::bindings::taskbox::plugin::host::update_progress(fraction);
    #[cfg(not(target_arch = "wasm32"))]
    let _ = fraction;
}
