//! The sled layout and the durable write.
//!
//! One sled database under `DIR/ledger/` with four trees:
//!
//! * `log` — `seq (u64 BE)` → stored record (see `event`). Append-only: nothing else
//!   writes or deletes here.
//! * `keyring` — `credential (16) || version (u32 BE)` → wrapped data key. Deleted on
//!   destroy and retention, rewrapped on master-key rotation.
//! * `proj` — projections and the Merkle tree, caches of the log (see `projection`).
//! * `checkpoints` — `tree size (u64 BE)` → signed checkpoint note (see `proof`). Not a
//!   cache: a checkpoint signed by a key that was rotated away cannot be signed again, so
//!   it lives outside `proj` and survives a projection rebuild.
//!
//! **Invariant:** [`Store::write_durable`] returns only after sled's flush *and* an
//! `fdatasync` of sled's data file. sled 0.34's own flush ends in `sync_file_range`, which
//! does not survive a power cut (sled issue #1452); the extra `fdatasync` closes that gap.

use crate::codec;
use crate::id::Id;
use crate::secret::WrappedKey;
use std::fs::File;
use std::path::{Path, PathBuf};

/// Errors of the store. All are I/O or corruption: the ledger stops accepting writes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// sled failed (I/O error, corruption). Not retryable in-process: restart and let
    /// recovery run; if it persists, run `credledger replay verify`.
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
    /// A file operation (the data-file sync) failed. Treated like [`StoreError::Sled`].
    #[error("storage I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A stored value did not decode: corruption or tampering.
    #[error("corrupt stored value in {tree}: {detail}")]
    Corrupt { tree: &'static str, detail: String },
}

/// A change to the key ring, written in the same durable step as the events.
#[derive(Clone, Debug)]
pub enum KeyOp {
    Put {
        credential: Id,
        version: u32,
        key: WrappedKey,
    },
    Delete {
        credential: Id,
        version: u32,
    },
}

/// The key-ring key of a credential version.
pub fn keyring_key(credential: Id, version: u32) -> [u8; 20] {
    let mut k = [0u8; 20];
    k[..16].copy_from_slice(credential.as_bytes());
    k[16..].copy_from_slice(&version.to_be_bytes());
    k
}

/// The open store.
pub struct Store {
    db: sled::Db,
    log: sled::Tree,
    keyring: sled::Tree,
    proj: sled::Tree,
    checkpoints: sled::Tree,
    data_file: File,
    data_path: PathBuf,
}

impl Store {
    /// Opens (or creates) the store under `dir/ledger`.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let path = dir.join("ledger");
        let db = open_db(&path)?;
        // sled creates its files without syncing their directories, and never syncs
        // `conf`; a power cut could lose the names of a fresh store's files. Make them
        // durable once, before anything is acknowledged.
        sync_file(&path.join("conf"))?;
        for d in [path.join("blobs"), path.clone(), dir.to_path_buf()] {
            sync_file(&d)?;
        }
        let data_path = path.join("db");
        let data_file = File::open(&data_path).map_err(|source| StoreError::Io {
            path: data_path.clone(),
            source,
        })?;
        Ok(Store {
            log: db.open_tree("log")?,
            keyring: db.open_tree("keyring")?,
            proj: db.open_tree("proj")?,
            checkpoints: db.open_tree("checkpoints")?,
            db,
            data_file,
            data_path,
        })
    }

    /// The number of events in the log (the next sequence number).
    pub fn len(&self) -> Result<u64, StoreError> {
        Ok(match self.log.last()? {
            None => 0,
            Some((k, _)) => seq_of(&k)? + 1,
        })
    }

    /// Whether the log is empty.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.log.is_empty())
    }

    /// The stored record at `seq`.
    pub fn record(&self, seq: u64) -> Result<Option<sled::IVec>, StoreError> {
        Ok(self.log.get(seq.to_be_bytes())?)
    }

    /// Stored records from `from` on, in key order, with their keys.
    pub fn records(
        &self,
        from: u64,
    ) -> impl Iterator<Item = Result<(u64, sled::IVec), StoreError>> + '_ {
        self.log.range(from.to_be_bytes()..).map(|r| {
            let (k, v) = r?;
            Ok((seq_of(&k)?, v))
        })
    }

    /// Writes key-ring changes, then log records, then makes both durable. Key-ring
    /// changes go first so that no event ever survives without its data key.
    pub fn write_durable(
        &self,
        keyring: &[KeyOp],
        records: &[(u64, Vec<u8>)],
    ) -> Result<(), StoreError> {
        if !keyring.is_empty() {
            let mut kb = sled::Batch::default();
            for op in keyring {
                match op {
                    KeyOp::Put {
                        credential,
                        version,
                        key,
                    } => {
                        let bytes = codec::encode(key).map_err(|e| StoreError::Corrupt {
                            tree: "keyring",
                            detail: e.to_string(),
                        })?;
                        kb.insert(&keyring_key(*credential, *version)[..], bytes);
                    }
                    KeyOp::Delete {
                        credential,
                        version,
                    } => kb.remove(&keyring_key(*credential, *version)[..]),
                }
            }
            self.keyring.apply_batch(kb)?;
        }
        let mut lb = sled::Batch::default();
        for (seq, bytes) in records {
            lb.insert(&seq.to_be_bytes()[..], bytes.as_slice());
        }
        self.log.apply_batch(lb)?;
        self.sync()
    }

    /// sled flush followed by `fdatasync` of the data file.
    pub fn sync(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        self.data_file.sync_data().map_err(|source| StoreError::Io {
            path: self.data_path.clone(),
            source,
        })
    }

    /// Every wrapped data key.
    pub fn keyring_entries(&self) -> Result<Vec<(Id, u32, WrappedKey)>, StoreError> {
        self.keyring
            .iter()
            .map(|r| {
                let (k, v) = r?;
                let corrupt = |detail: String| StoreError::Corrupt {
                    tree: "keyring",
                    detail,
                };
                if k.len() != 20 {
                    return Err(corrupt(format!("key of {} bytes", k.len())));
                }
                let mut id = [0u8; 16];
                id.copy_from_slice(&k[..16]);
                let version = u32::from_be_bytes(k[16..].try_into().expect("4 bytes"));
                let key: WrappedKey = codec::decode(&v).map_err(|e| corrupt(e.to_string()))?;
                Ok((Id(id), version, key))
            })
            .collect()
    }

    /// The projection tree.
    pub fn proj(&self) -> &sled::Tree {
        &self.proj
    }

    /// The signed checkpoints issued so far, by tree size (see `proof`).
    pub fn checkpoints(&self) -> &sled::Tree {
        &self.checkpoints
    }

    /// The log tree, for tools that inspect or (in tests) tamper with raw records.
    pub fn log_tree(&self) -> &sled::Tree {
        &self.log
    }

    /// Bytes sled reports on disk.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.db.size_on_disk()?)
    }
}

/// Opens sled, waiting a little while its lock is held. sled releases the lock of a
/// closed database asynchronously (a thread of its I/O pool may still hold the file for a
/// moment after the last handle drops), so a reopen in the same process right after a
/// close can find it taken. Another process holding it still fails, after about 2 s.
fn open_db(path: &Path) -> Result<sled::Db, StoreError> {
    let config = sled::Config::new()
        .path(path)
        .mode(sled::Mode::HighThroughput);
    let mut tries = 0;
    loop {
        match config.open() {
            Err(sled::Error::Io(e))
                if tries < 400 && e.to_string().contains("could not acquire lock") =>
            {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            other => return Ok(other?),
        }
    }
}

/// `fsync` of a file or directory by path.
fn sync_file(path: &Path) -> Result<(), StoreError> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        })
}

fn seq_of(key: &[u8]) -> Result<u64, StoreError> {
    let arr: [u8; 8] = key.try_into().map_err(|_| StoreError::Corrupt {
        tree: "log",
        detail: format!("key of {} bytes", key.len()),
    })?;
    Ok(u64::from_be_bytes(arr))
}
