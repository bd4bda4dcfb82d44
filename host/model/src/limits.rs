//! Sandbox limits: safe defaults, overridable globally and per task.

use crate::units::{UnitError, parse_duration, parse_size};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::time::Duration;

/// The limits one sandboxed call runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Maximum linear memory of the instance, in bytes.
    pub memory_bytes: u64,
    /// CPU deadline of one call.
    pub timeout: Duration,
    /// Maximum size of a result, in bytes of JSON text.
    pub max_result_bytes: u64,
    /// Maximum number of log messages one call may emit; further ones are dropped.
    pub max_log_messages: u32,
    /// Maximum length of one log message in bytes; longer ones are truncated.
    pub max_log_bytes: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 64 << 20,
            timeout: Duration::from_secs(30),
            max_result_bytes: 1 << 20,
            max_log_messages: 1000,
            max_log_bytes: 4096,
        }
    }
}

impl Limits {
    /// These limits with every value `overrides` sets replaced.
    #[must_use]
    pub fn with(mut self, overrides: &LimitOverrides) -> Self {
        if let Some(v) = overrides.memory {
            self.memory_bytes = v;
        }
        if let Some(v) = overrides.timeout {
            self.timeout = v;
        }
        if let Some(v) = overrides.result_size {
            self.max_result_bytes = v;
        }
        if let Some(v) = overrides.log_messages {
            self.max_log_messages = v;
        }
        if let Some(v) = overrides.log_bytes {
            self.max_log_bytes = v;
        }
        self
    }
}

impl Limits {
    /// These limits, none above what `ceiling` sets: a tenant's limits
    /// bound whatever its jobs ask for.
    #[must_use]
    pub fn capped(mut self, ceiling: &LimitOverrides) -> Self {
        let cap =
            |value: &mut u64, max: Option<u64>| *value = max.map_or(*value, |m| m.min(*value));
        cap(&mut self.memory_bytes, ceiling.memory);
        cap(&mut self.max_result_bytes, ceiling.result_size);
        if let Some(max) = ceiling.timeout {
            self.timeout = self.timeout.min(max);
        }
        if let Some(max) = ceiling.log_messages {
            self.max_log_messages = self.max_log_messages.min(max);
        }
        if let Some(max) = ceiling.log_bytes {
            self.max_log_bytes = self.max_log_bytes.min(max);
        }
        self
    }
}

/// Limits set by a flow file, a task or the command line; unset values
/// fall through to the next level.
///
/// In a spec file sizes are strings with units (`"64MiB"`) or numbers of
/// bytes, durations are strings with units (`"30s"`, `"250ms"`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitOverrides {
    /// Linear memory cap.
    #[serde(
        default,
        deserialize_with = "de_size",
        skip_serializing_if = "Option::is_none"
    )]
    pub memory: Option<u64>,
    /// CPU deadline per call.
    #[serde(
        default,
        deserialize_with = "de_duration",
        serialize_with = "ser_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub timeout: Option<Duration>,
    /// Result size cap.
    #[serde(
        default,
        deserialize_with = "de_size",
        skip_serializing_if = "Option::is_none"
    )]
    pub result_size: Option<u64>,
    /// Log messages per call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_messages: Option<u32>,
    /// Bytes per log message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_bytes: Option<u32>,
}

impl LimitOverrides {
    /// `self` with unset values taken from `lower`.
    #[must_use]
    pub fn or(self, lower: &LimitOverrides) -> Self {
        LimitOverrides {
            memory: self.memory.or(lower.memory),
            timeout: self.timeout.or(lower.timeout),
            result_size: self.result_size.or(lower.result_size),
            log_messages: self.log_messages.or(lower.log_messages),
            log_bytes: self.log_bytes.or(lower.log_bytes),
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum SizeOrText {
    Bytes(u64),
    Text(String),
}

fn de_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match SizeOrText::deserialize(d)? {
        SizeOrText::Bytes(b) => Ok(Some(b)),
        SizeOrText::Text(t) => parse_size(&t)
            .map(Some)
            .map_err(|e: UnitError| serde::de::Error::custom(e)),
    }
}

/// Writes a duration as the spec format reads it: whole milliseconds
/// (durations are given in milliseconds or coarser units).
fn ser_duration<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_str(&format!("{}ms", d.as_millis())),
        None => s.serialize_none(),
    }
}

fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ceiling_lowers_and_never_raises() {
        let asked = Limits::default().with(&LimitOverrides {
            memory: Some(1 << 30),
            timeout: Some(Duration::from_millis(100)),
            ..LimitOverrides::default()
        });
        let ceiling = LimitOverrides {
            memory: Some(32 << 20),
            timeout: Some(Duration::from_secs(2)),
            log_messages: Some(10),
            ..LimitOverrides::default()
        };
        let capped = asked.capped(&ceiling);
        assert_eq!(capped.memory_bytes, 32 << 20);
        assert_eq!(capped.timeout, Duration::from_millis(100));
        assert_eq!(capped.max_log_messages, 10);
        assert_eq!(capped.max_result_bytes, asked.max_result_bytes);
        assert_eq!(asked.capped(&LimitOverrides::default()), asked);
    }

    #[test]
    fn overrides_round_trip_through_json() {
        let overrides = LimitOverrides {
            memory: Some(32 << 20),
            timeout: Some(Duration::from_millis(1500)),
            log_bytes: Some(10),
            ..LimitOverrides::default()
        };
        let text = serde_json::to_string(&overrides).expect("serializes");
        assert_eq!(
            text,
            r#"{"memory":33554432,"timeout":"1500ms","log_bytes":10}"#
        );
        let back: LimitOverrides = serde_json::from_str(&text).expect("parses");
        assert_eq!(back, overrides);
        let empty: LimitOverrides = serde_json::from_str("{}").expect("parses");
        assert_eq!(empty, LimitOverrides::default());
    }
}
