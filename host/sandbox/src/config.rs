//! Configuration of a [`Sandbox`](crate::Sandbox).

use std::path::PathBuf;
use std::time::Duration;

/// How the sandbox's wasmtime engine is set up.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Most instances alive at once (pool slots). Calls beyond it fail with
    /// an `instantiation` failure, so keep it above the engine's workers.
    pub max_instances: u32,
    /// Largest memory any task may be granted; per-task caps are below it.
    pub memory_ceiling: u64,
    /// Guest memory kept resident between instances of a pool slot, which
    /// saves page faults on every fresh instance.
    pub keep_resident: usize,
    /// How often the epoch advances; CPU deadlines are rounded up to it.
    pub epoch_tick: Duration,
    /// Where compiled components are cached; `None` disables the cache.
    /// The directory must be writable only by trusted users: cached
    /// artifacts are loaded as native code.
    pub cache_dir: Option<PathBuf>,
    /// Most bytes the cache may hold; the least recently used compiled
    /// components are deleted beyond it.
    pub cache_max_bytes: u64,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            max_instances: 128,
            memory_ceiling: 4 << 30,
            keep_resident: 1 << 20,
            epoch_tick: Duration::from_millis(5),
            cache_dir: None,
            cache_max_bytes: 2 << 30,
        }
    }
}
