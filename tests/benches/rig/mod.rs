//! What the bench binaries share: the floors (`floor`), the flows they run
//! (`flows`) and the conductor/daemon rig (`jobs`). Each binary includes it
//! with `#[path = "rig/mod.rs"] mod rig;` and uses a subset.

#![allow(dead_code)]

pub mod floor;
pub mod flows;
pub mod jobs;

use std::path::Path;

/// Deletes the file at `path` if there is one, so that what is created
/// there next starts empty.
pub fn remove_stale(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
