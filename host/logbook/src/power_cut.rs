//! A storage backend that simulates losing power at a chosen sync, for
//! deterministic crash tests (as redb's own crash-consistency tests do).

use redb::StorageBackend;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

#[derive(Debug, Default)]
struct Disk {
    /// What the process has written, synced or not.
    volatile: Vec<u8>,
    /// What survived the last sync.
    durable: Vec<u8>,
    syncs: u64,
    cut_at: Option<u64>,
    cut: bool,
}

/// An in-memory disk that keeps what was synced apart from what was only
/// written. [`cut_at_sync`](Self::cut_at_sync) makes a later sync fail as
/// if the power went out: it and every call after it fail, and
/// [`durable_image`](Self::durable_image) is what a restarted process
/// finds on disk. Clones share the disk, so a test keeps one clone and
/// gives another to redb.
#[derive(Debug, Clone, Default)]
pub struct PowerCut {
    disk: Arc<Mutex<Disk>>,
}

impl PowerCut {
    /// An empty disk.
    pub fn new() -> PowerCut {
        PowerCut::default()
    }

    /// A disk holding `image`, as found after a restart.
    pub fn from_image(image: Vec<u8>) -> PowerCut {
        PowerCut {
            disk: Arc::new(Mutex::new(Disk {
                volatile: image.clone(),
                durable: image,
                ..Disk::default()
            })),
        }
    }

    fn disk(&self) -> MutexGuard<'_, Disk> {
        self.disk.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The `n`-th sync from now (1 = the next one) loses the power.
    pub fn cut_at_sync(&self, n: u64) {
        let mut disk = self.disk();
        disk.cut_at = Some(disk.syncs + n.max(1));
    }

    /// Syncs so far.
    pub fn syncs(&self) -> u64 {
        self.disk().syncs
    }

    /// True once the power is out.
    pub fn is_cut(&self) -> bool {
        self.disk().cut
    }

    /// The disk after a cut that lost every unsynced write.
    pub fn durable_image(&self) -> Vec<u8> {
        self.disk().durable.clone()
    }

    /// The disk after a cut where every write reached the platter but the
    /// last sync never returned.
    pub fn written_image(&self) -> Vec<u8> {
        self.disk().volatile.clone()
    }

    fn live(&self) -> io::Result<MutexGuard<'_, Disk>> {
        let disk = self.disk();
        if disk.cut {
            return Err(io::Error::other("simulated power cut"));
        }
        Ok(disk)
    }
}

fn offset(offset: u64, len: usize, size: usize) -> io::Result<std::ops::Range<usize>> {
    let start = usize::try_from(offset).map_err(io::Error::other)?;
    let end = start
        .checked_add(len)
        .filter(|&end| end <= size)
        .ok_or_else(|| {
            io::Error::new(io::ErrorKind::UnexpectedEof, "beyond the end of the disk")
        })?;
    Ok(start..end)
}

impl StorageBackend for PowerCut {
    fn len(&self) -> io::Result<u64> {
        Ok(self.live()?.volatile.len() as u64)
    }

    fn read(&self, at: u64, out: &mut [u8]) -> io::Result<()> {
        let disk = self.live()?;
        let range = offset(at, out.len(), disk.volatile.len())?;
        out.copy_from_slice(&disk.volatile[range]);
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let len = usize::try_from(len).map_err(io::Error::other)?;
        self.live()?.volatile.resize(len, 0);
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut disk = self.live()?;
        disk.syncs += 1;
        if disk.cut_at == Some(disk.syncs) {
            disk.cut = true;
            return Err(io::Error::other("simulated power cut"));
        }
        disk.durable = disk.volatile.clone();
        Ok(())
    }

    fn write(&self, at: u64, data: &[u8]) -> io::Result<()> {
        let mut disk = self.live()?;
        let size = disk.volatile.len();
        let range = offset(at, data.len(), size)?;
        disk.volatile[range].copy_from_slice(data);
        Ok(())
    }
}
