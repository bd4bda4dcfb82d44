//! Per-call store state: the powers granted to a guest and the accounting
//! of its limits.

use crate::bindings::taskbox::plugin::{host, types};
use crate::call::{CallObserver, LogLevel};
use crate::drive::Meter;
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::sync::Arc;
use std::time::Duration;
use taskbox_model::{Access, Grants, Limits};
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, HostWallClock, WasiCtx, WasiCtxView, WasiView};

/// Bytes of guest stderr kept to explain traps (panic messages).
const STDERR_CAPTURE: usize = 8 << 10;

/// The data of one call's store.
pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    stderr: MemoryOutputPipe,
    pub(crate) memory: MemoryCap,
    /// The call's CPU time, read by the epoch callback.
    pub(crate) meter: Arc<Meter>,
    /// The job's CPU budget, once it ran out during the call.
    pub(crate) budget_hit: Option<Duration>,
    observer: Arc<dyn CallObserver>,
    logs_left: u32,
    log_bytes: usize,
    logs_dropped: u64,
}

impl HostState {
    /// State for one call under `limits` with `grants`. WASI is linked
    /// with only what `grants` gives: no preopens, environment, clock or
    /// randomness beyond it; never arguments, network or stdin; stdout is
    /// discarded and stderr captured (bounded) to explain traps.
    pub(crate) fn new(
        limits: &Limits,
        grants: &Grants,
        observer: Arc<dyn CallObserver>,
    ) -> Result<Self, std::io::Error> {
        let stderr = MemoryOutputPipe::new(STDERR_CAPTURE);
        let mut wasi = WasiCtx::builder();
        wasi.stderr(stderr.clone())
            .allow_blocking_current_thread(true)
            .allow_ip_name_lookup(false)
            .allow_tcp(false)
            .allow_udp(false);
        for dir in &grants.dirs {
            let perms = match dir.access {
                Access::ReadOnly => FsPerms::ReadOnly,
                Access::ReadWrite => FsPerms::ReadWrite,
            };
            wasi.preopened_dir(&dir.host, &dir.guest, perms)
                .map_err(|e| {
                    std::io::Error::other(format!(
                        "cannot open granted directory {}: {e}",
                        dir.host.display()
                    ))
                })?;
        }
        for (key, value) in &grants.env {
            wasi.env(key, value);
        }
        if !grants.wall_clock {
            wasi.wall_clock(FrozenClock);
        }
        if !grants.random {
            wasi.secure_random(StdRng::seed_from_u64(0))
                .insecure_random(StdRng::seed_from_u64(0))
                .insecure_random_seed(0);
        }
        Ok(HostState {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            stderr,
            memory: MemoryCap {
                cap: usize::try_from(limits.memory_bytes).unwrap_or(usize::MAX),
                hit: false,
                peak: 0,
            },
            meter: Meter::new(),
            budget_hit: None,
            observer,
            logs_left: limits.max_log_messages,
            log_bytes: usize::try_from(limits.max_log_bytes).unwrap_or(usize::MAX),
            logs_dropped: 0,
        })
    }

    /// What the guest wrote to stderr (e.g. a panic message), lossily decoded.
    pub(crate) fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.contents())
            .trim()
            .to_string()
    }

    /// Reports dropped log messages once the call is over.
    pub(crate) fn finish(&self) {
        if self.logs_dropped > 0 {
            self.observer.log(
                LogLevel::Warn,
                &format!(
                    "{} log messages dropped: the call exceeded its log cap",
                    self.logs_dropped
                ),
            );
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl types::Host for HostState {}

impl host::Host for HostState {
    fn log(&mut self, level: host::Level, message: String) {
        if self.logs_left == 0 {
            self.logs_dropped += 1;
            return;
        }
        self.logs_left -= 1;
        let level = match level {
            host::Level::Trace => LogLevel::Trace,
            host::Level::Debug => LogLevel::Debug,
            host::Level::Info => LogLevel::Info,
            host::Level::Warn => LogLevel::Warn,
            host::Level::Error => LogLevel::Error,
        };
        self.observer
            .log(level, truncate_at_char(&message, self.log_bytes));
    }

    fn update_progress(&mut self, fraction: f32) {
        if fraction.is_finite() {
            self.observer.progress(fraction.clamp(0.0, 1.0));
        }
    }
}

/// The longest prefix of `text` of at most `max` bytes that ends on a char
/// boundary.
fn truncate_at_char(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The wall clock of a guest without the `wall_clock` grant: always the
/// Unix epoch, so a guest can neither read the date nor time itself by it.
struct FrozenClock;

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

/// Caps a guest's linear memory, remembers whether the cap was hit (so a
/// resulting trap is reported as `limit.memory`) and the largest size
/// reached.
pub(crate) struct MemoryCap {
    cap: usize,
    pub(crate) hit: bool,
    pub(crate) peak: usize,
}

/// Table elements any one table may hold.
const MAX_TABLE_ELEMENTS: usize = 100_000;

impl wasmtime::ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.cap {
            self.hit = true;
            return Ok(false);
        }
        let allowed = maximum.is_none_or(|max| desired <= max);
        if allowed {
            self.peak = self.peak.max(desired);
        }
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS && maximum.is_none_or(|max| desired <= max))
    }
}

#[cfg(test)]
mod tests {
    use super::truncate_at_char;

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate_at_char("héllo", 2), "h");
        assert_eq!(truncate_at_char("héllo", 3), "hé");
        assert_eq!(truncate_at_char("abc", 10), "abc");
    }
}
