//! Where the sled backend keeps the state snapshot: a file of its own beside sled's
//! (`DIR/ledger/state-snapshot`, mode 0600), not a sled value.
//!
//! As a sled value (the `snapshot` tree, fourth pass) the ~47 MB snapshot of a 100k-
//! credential state stayed in sled's page cache after open, resident and taking a fifth
//! of the cache from the log and projections; each write went through sled's log as a
//! blob, and was read back through sled by the next write. A file is read into the
//! caller's buffer only (docs/PERFORMANCE.md, sixth pass).
//!
//! **Invariant:** a reader sees the old snapshot or the new one, whole: the bytes go to
//! a fresh temporary file in the same directory, which is synced and renamed over the
//! target, and the directory is synced (`fsutil::write_private_atomic`). A snapshot is
//! checked (MAC, then the log) before it is used, so a damaged file means one full fold,
//! never a wrong state. sled ignores the file: its own are `conf`, `db`, `blobs/` and
//! `snap.*`.

use crate::store::StoreError;
use std::path::{Path, PathBuf};

/// The file's name in sled's directory.
pub(super) const FILE_NAME: &str = "state-snapshot";

/// The largest file read. Anything larger, or not a regular file, is refused before it
/// is read, so a planted device or huge file cannot stall or exhaust open.
const MAX_FILE: u64 = crate::store::MAX_SNAPSHOT;

/// The state snapshot file of one store.
pub(super) struct SnapshotFile {
    path: PathBuf,
}

impl SnapshotFile {
    /// The file in the store directory `sled_dir` (`DIR/ledger`).
    pub(super) fn new(sled_dir: &Path) -> SnapshotFile {
        SnapshotFile {
            path: sled_dir.join(FILE_NAME),
        }
    }

    /// The stored snapshot; `None` when there is no file.
    pub(super) fn read(&self) -> Result<Option<Vec<u8>>, StoreError> {
        use std::io::Read;
        let file = match std::fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(self.io(source)),
        };
        let meta = file.metadata().map_err(|e| self.io(e))?;
        if !meta.is_file() || meta.len() > MAX_FILE {
            return Err(StoreError::Corrupt {
                what: "state snapshot",
                detail: format!(
                    "{} is not a regular file of at most {MAX_FILE} bytes; remove it (the ledger folds its log instead)",
                    self.path.display()
                ),
            });
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        file.take(MAX_FILE + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| self.io(e))?;
        Ok(Some(bytes))
    }

    /// Replaces the file with `bytes` atomically and durably.
    pub(super) fn write_durable(&self, bytes: &[u8]) -> Result<(), StoreError> {
        crate::fsutil::write_private_atomic(&self.path, bytes).map_err(|e| self.io(e))
    }

    fn io(&self, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: self.path.clone(),
            source,
        }
    }
}
