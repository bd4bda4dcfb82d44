//! On-disk cache of compiled components, keyed by content hash and engine.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::SystemTime;
use wasmtime::Engine;
use wasmtime::component::Component;

/// Compiled components stored as `<content-hash>-<engine-key>.cwasm`, at
/// most `max_bytes` of them: the least recently used go first.
pub(crate) struct ComponentCache {
    dir: PathBuf,
    engine_key: String,
    max_bytes: u64,
}

impl ComponentCache {
    /// A cache in `dir` for artifacts of `engine` (its version and settings
    /// are part of every key, so a changed engine never loads stale code).
    pub(crate) fn new(dir: &Path, engine: &Engine, max_bytes: u64) -> Self {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        ComponentCache {
            dir: dir.to_path_buf(),
            engine_key: format!("{:016x}", hasher.finish()),
            max_bytes,
        }
    }

    fn path_for(&self, content_hash: &str) -> PathBuf {
        let digest = content_hash.trim_start_matches("sha256:");
        self.dir.join(format!("{digest}-{}.cwasm", self.engine_key))
    }

    /// The cached compilation of the component with `content_hash`, if any.
    ///
    /// The file is read into memory rather than mapped, so another process
    /// truncating or rewriting the cache can never fault this one.
    #[allow(unsafe_code)]
    pub(crate) fn load(&self, engine: &Engine, content_hash: &str) -> Option<Component> {
        let path = self.path_for(content_hash);
        let bytes = std::fs::read(&path).ok()?;
        // SAFETY: the bytes were written by `store` below from wasmtime's own
        // serialisation, into a directory the operator trusts (see
        // `SandboxConfig::cache_dir`); the name binds them to this engine's
        // compatibility hash, and wasmtime checks the header again.
        match unsafe { Component::deserialize(engine, &bytes) } {
            Ok(component) => {
                // Mark it recently used, for eviction.
                if let Ok(file) = std::fs::File::options().append(true).open(&path) {
                    let _ = file.set_modified(SystemTime::now());
                }
                Some(component)
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "ignoring unusable cached component");
                None
            }
        }
    }

    /// Stores a compiled component; failures only cost a recompile later.
    pub(crate) fn store(&self, content_hash: &str, component: &Component) {
        let result = component
            .serialize()
            .map_err(|e| e.to_string())
            .and_then(|bytes| {
                std::fs::create_dir_all(&self.dir).map_err(|e| e.to_string())?;
                let path = self.path_for(content_hash);
                // Write then rename, so a crash never leaves a torn artifact.
                let tmp = path.with_extension(format!("tmp{}", std::process::id()));
                std::fs::write(&tmp, bytes).map_err(|e| e.to_string())?;
                std::fs::rename(&tmp, &path).map_err(|e| e.to_string())?;
                self.evict(&path).map_err(|e| e.to_string())
            });
        if let Err(e) = result {
            tracing::warn!(dir = %self.dir.display(), error = %e, "cannot cache compiled component");
        }
    }

    /// Deletes the least recently used artifacts until the cache fits in
    /// `max_bytes`; `keep` (just written) is never deleted.
    fn evict(&self, keep: &Path) -> std::io::Result<()> {
        let mut entries = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "cwasm") {
                let meta = entry.metadata()?;
                entries.push((meta.modified()?, meta.len(), path));
            }
        }
        let mut total: u64 = entries.iter().map(|(_, len, _)| len).sum();
        entries.sort();
        for (_, len, path) in entries {
            if total <= self.max_bytes {
                break;
            }
            if path != keep {
                std::fs::remove_file(&path)?;
                tracing::debug!(path = %path.display(), "evicted cached component");
                total -= len;
            }
        }
        Ok(())
    }
}
