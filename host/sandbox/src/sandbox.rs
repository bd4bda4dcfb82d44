//! The sandbox: engine, linker, epoch ticker, and plugin loading.

use crate::bindings::retry::RetryPre;
use crate::bindings::{Task, TaskPre};
use crate::cache::ComponentCache;
use crate::call::{Charge, NoObserver};
use crate::config::SandboxConfig;
use crate::drive::Reactor;
use crate::error::{LoadError, SandboxError};
use crate::host::HostState;
use crate::plugin::{Plugin, PluginInner, PluginSet, Pre, TaskInfo};
use crate::terms::Terms;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;
use taskbox_model::{Failure, Limits};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// The most CPU time `describe` may take, whatever the limits: it only
/// names the plugin's arguments, and a plugin whose `describe` spins must
/// not hold up the loading of the others for long.
const DESCRIBE_DEADLINE: Duration = Duration::from_secs(5);

/// Import name prefixes a plugin may use.
const ALLOWED_IMPORTS: [&str; 3] = ["wasi:", "taskbox:plugin/host@", "taskbox:plugin/types@"];

/// Runs plugins in isolation. Create one per process and share it: it owns
/// the compiled code, the instance pool and the epoch ticker thread.
pub struct Sandbox {
    engine: Engine,
    linker: Linker<HostState>,
    cache: Option<ComponentCache>,
    tick: Duration,
    ticker: Option<EpochTicker>,
    reactor: Reactor,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("tick", &self.tick)
            .finish_non_exhaustive()
    }
}

/// Advances the engine's epoch at a fixed interval until dropped.
struct EpochTicker {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: Engine, tick: Duration) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("taskbox-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    engine.increment_epoch();
                }
            })?;
        Ok(EpochTicker {
            stop,
            handle: Some(handle),
        })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

fn engine_error(e: impl std::fmt::Display) -> SandboxError {
    SandboxError::Engine(e.to_string())
}

impl Sandbox {
    /// Sets up the engine, the instance pool and the linker.
    pub fn new(config: &SandboxConfig) -> Result<Sandbox, SandboxError> {
        let slots = config.max_instances.max(1);
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(slots)
            .total_core_instances(slots.saturating_mul(8))
            .total_memories(slots.saturating_mul(2))
            .total_tables(slots.saturating_mul(8))
            .total_stacks(slots)
            .max_memory_size(usize::try_from(config.memory_ceiling).unwrap_or(usize::MAX))
            .linear_memory_keep_resident(config.keep_resident)
            .table_keep_resident(config.keep_resident)
            .pagemap_scan(Enabled::Auto);
        let mut wasm = Config::new();
        wasm.wasm_component_model(true)
            .epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&wasm).map_err(engine_error)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(engine_error)?;
        Task::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |state| state)
            .map_err(engine_error)?;
        let ticker = EpochTicker::start(engine.clone(), config.epoch_tick)
            .map_err(|e| SandboxError::Engine(format!("cannot start the epoch thread: {e}")))?;
        let reactor = Reactor::start()
            .map_err(|e| SandboxError::Engine(format!("cannot start the I/O thread: {e}")))?;
        let cache = config
            .cache_dir
            .as_deref()
            .map(|dir| ComponentCache::new(dir, &engine, config.cache_max_bytes));
        Ok(Sandbox {
            engine,
            linker,
            cache,
            tick: config.epoch_tick,
            ticker: Some(ticker),
            reactor,
        })
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The runtime of WASI's async host functions.
    pub(crate) fn reactor(&self) -> &tokio::runtime::Handle {
        self.reactor.handle()
    }

    /// Loads every `*.wasm` in `dir`; the plugin name is the file stem.
    /// `describe` runs under `limits`, with at most 5 s of CPU time. A plugin that fails to load is
    /// reported in [`PluginSet::errors`] without stopping the others.
    pub fn load_dir(&self, dir: &Path, limits: &Limits) -> Result<PluginSet, SandboxError> {
        let dir_error = |source| SandboxError::PluginDir {
            path: dir.to_path_buf(),
            source,
        };
        let mut paths = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(dir_error)? {
            let path = entry.map_err(dir_error)?.path();
            if path.extension().is_some_and(|e| e == "wasm") && path.is_file() {
                paths.push(path);
            }
        }
        paths.sort();
        let mut set = PluginSet::default();
        for path in paths {
            let name = plugin_name(&path);
            match self.load_file(&path, limits) {
                Ok(plugin) => {
                    set.plugins.insert(name, plugin);
                }
                Err(e) => {
                    tracing::warn!(plugin = %name, error = %e, "plugin not loaded");
                    set.errors.insert(name, e);
                }
            }
        }
        Ok(set)
    }

    /// Loads the component at `path` (plugin name = file stem).
    pub fn load_file(&self, path: &Path, limits: &Limits) -> Result<Plugin, LoadError> {
        let name = plugin_name(path);
        let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
            plugin: name.clone(),
            path: path.to_path_buf(),
            source,
        })?;
        self.load_inner(name, &bytes, Some(path), limits)
    }

    /// Loads a component from memory under `name`.
    pub fn load_bytes(
        &self,
        name: &str,
        bytes: &[u8],
        limits: &Limits,
    ) -> Result<Plugin, LoadError> {
        self.load_inner(name.to_string(), bytes, None, limits)
    }

    fn load_inner(
        &self,
        name: String,
        bytes: &[u8],
        path: Option<&Path>,
        limits: &Limits,
    ) -> Result<Plugin, LoadError> {
        check_header(&name, bytes)?;
        let hash = format!("sha256:{}", hex::encode(Sha256::digest(bytes)));
        let (component, from_cache) = self.compile(&name, &hash, bytes)?;
        self.check_imports(&name, &component)?;
        let instance_pre =
            self.linker
                .instantiate_pre(&component)
                .map_err(|e| LoadError::Link {
                    plugin: name.clone(),
                    message: e.to_string(),
                })?;
        let pre = match TaskPre::new(instance_pre.clone()) {
            Ok(task) => Pre::Task(task),
            Err(not_task) => match RetryPre::new(instance_pre) {
                Ok(retry) => Pre::Retry(retry),
                Err(not_retry) => {
                    return Err(LoadError::WrongWorld {
                        plugin: name.clone(),
                        message: format!("as a task: {not_task:#}; as a retry: {not_retry:#}"),
                    });
                }
            },
        };
        let info = self.describe(&name, &pre, limits)?;
        Ok(Plugin::new(PluginInner {
            name,
            hash,
            info,
            pre,
            path: path.map(Path::to_path_buf),
            size: bytes.len(),
            from_cache,
        }))
    }

    /// Compiles `bytes`, or loads the compilation from the disk cache.
    fn compile(
        &self,
        name: &str,
        hash: &str,
        bytes: &[u8],
    ) -> Result<(Component, bool), LoadError> {
        if let Some(component) = self.cache.as_ref().and_then(|c| c.load(&self.engine, hash)) {
            return Ok((component, true));
        }
        let component = Component::new(&self.engine, bytes).map_err(|e| LoadError::Corrupt {
            plugin: name.to_string(),
            message: format!("{e:#}"),
        })?;
        if let Some(cache) = &self.cache {
            cache.store(hash, &component);
        }
        Ok((component, false))
    }

    fn check_imports(&self, name: &str, component: &Component) -> Result<(), LoadError> {
        let ty = component.component_type();
        for (import, _) in ty.imports(&self.engine) {
            if !ALLOWED_IMPORTS.iter().any(|p| import.starts_with(p)) {
                return Err(LoadError::UnknownImport {
                    plugin: name.to_string(),
                    import: import.to_string(),
                });
            }
        }
        Ok(())
    }

    fn describe(&self, name: &str, pre: &Pre, limits: &Limits) -> Result<TaskInfo, LoadError> {
        let observer = Arc::new(NoObserver);
        let terms = Terms::new(Limits {
            timeout: limits.timeout.min(DESCRIBE_DEADLINE),
            ..*limits
        });
        let charge = Charge::Exempt(&terms);
        let info = match pre {
            Pre::Task(task) => self.call(task, name, charge, observer, async |instance, store| {
                instance.call_describe(store).await.map(Ok)
            }),
            Pre::Retry(retry) => {
                self.call(retry, name, charge, observer, async |instance, store| {
                    instance.call_describe(store).await.map(Ok)
                })
            }
        };
        let describe_error = |failure: Failure| LoadError::Describe {
            plugin: name.to_string(),
            failure,
        };
        TaskInfo::from_wit(info.and_then(|r| r).map_err(describe_error)?).map_err(describe_error)
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // Stop the ticker before the engine goes away.
        self.ticker.take();
    }
}

fn plugin_name(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Tells apart corrupt bytes, core modules and components by the preamble.
fn check_header(name: &str, bytes: &[u8]) -> Result<(), LoadError> {
    const MAGIC: &[u8; 4] = b"\0asm";
    const CORE_VERSION: [u8; 4] = [1, 0, 0, 0];
    if bytes.len() < 8 || &bytes[..4] != MAGIC {
        return Err(LoadError::Corrupt {
            plugin: name.to_string(),
            message: "not a WebAssembly binary (bad magic number)".into(),
        });
    }
    if bytes[4..8] == CORE_VERSION {
        return Err(LoadError::NotAComponent {
            plugin: name.to_string(),
        });
    }
    Ok(())
}
