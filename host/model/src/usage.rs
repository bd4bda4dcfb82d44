//! What guest calls used: CPU time, memory, calls.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Resources used by some guest calls: one call, a job's attempts, or all
/// of a tenant's jobs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageSnapshot {
    /// CPU time of guest code, in microseconds.
    pub cpu_us: u64,
    /// The largest linear memory any one instance reached, in bytes.
    pub memory_peak_bytes: u64,
    /// Calls made (executes, reverts, describes, retry decisions).
    pub calls: u64,
}

impl UsageSnapshot {
    /// CPU time.
    pub fn cpu(&self) -> Duration {
        Duration::from_micros(self.cpu_us)
    }

    /// CPU time in whole milliseconds.
    pub fn cpu_ms(&self) -> u64 {
        self.cpu_us / 1000
    }

    /// Both together: times and calls add up, the peak is the larger.
    #[must_use]
    pub fn plus(self, other: UsageSnapshot) -> UsageSnapshot {
        UsageSnapshot {
            cpu_us: self.cpu_us.saturating_add(other.cpu_us),
            memory_peak_bytes: self.memory_peak_bytes.max(other.memory_peak_bytes),
            calls: self.calls.saturating_add(other.calls),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_adds_times_and_calls_and_keeps_the_higher_peak() {
        let a = UsageSnapshot {
            cpu_us: 1500,
            memory_peak_bytes: 64,
            calls: 2,
        };
        let b = UsageSnapshot {
            cpu_us: 700,
            memory_peak_bytes: 32,
            calls: 1,
        };
        let both = a.plus(b);
        assert_eq!(
            (both.cpu_us, both.memory_peak_bytes, both.calls),
            (2200, 64, 3)
        );
        assert_eq!(both.cpu_ms(), 2);
        assert_eq!(both.cpu(), Duration::from_micros(2200));
    }
}
