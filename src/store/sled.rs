//! The embedded backend: the log in a record file of its own (`record_file`,
//! `DIR/ledger/records`), and one sled database under `DIR/ledger/` for the rest; the
//! only file that names `sled`.
//!
//! Seven sled trees: `keyring` (`credential ‖ version u32 BE` → encoded `WrappedKey`),
//! `proj` (the projection store; its watermark is the key `w`, which no projection key
//! equals), `checkpoints` (`size u64 BE` → note), `cosignatures` (`origin ‖ 0x00 ‖ size
//! u64 BE` → signature lines), `log_checkpoints` (the tenant logs' notes, `origin ‖ 0x00 ‖
//! size u64 BE` → note), `meta` (name → small value) and `snapshot` (where stores before
//! the snapshot file kept the state snapshot). A `log` tree (`seq u64 BE` → record) is
//! where stores before the record file kept the log: its records are moved into the
//! record file at the first open, and the tree is emptied. The state snapshot is a file
//! too (`snapshot_file`).
//!
//! **Invariant (durability):** [`LogStore::append_durable`] makes new keys durable first
//! (sled's flush, an `fsync` of every blob file sled created since the last step and of
//! the `blobs` directory, an `fdatasync` of sled's data file), then the records (`pwrite`
//! and `fdatasync` of the record file), then deleted keys (the same steps as the first).
//! sled 0.34's own flush ends in `sync_file_range`, which does not survive a power cut
//! (sled issue #1452), and it never syncs blob files. An append without key-ring changes
//! (every `used` event) syncs the record file only: projections are caches, caught up
//! from the log on open.
//!
//! **Invariant (no blobs):** sled writes a page larger than a quarter of its segment
//! size as a separate blob file. New stores use 16 MiB segments (sled's maximum), so a
//! leaf of small projection values or key-ring entries (and, in stores before the record
//! file, of up to ~18 records of at most [`MAX_RECORD`]) stays far below the 4 MiB
//! threshold; stores created with sled's default 512 KiB segments keep the size their
//! `conf` says (sled cannot change it) and rely on the blob sync above. A state snapshot
//! over 4 MiB (about 9k credentials and more) is always a blob, synced the same way.
//!
//! **Invariant (containment):** every call into sled runs under `catch_unwind`; a panic
//! (sled panics on some corrupt files, e.g. "tried to serialize Uninitialized") becomes
//! [`StoreError::Panicked`] and its message is not printed as a crash.

use super::{Append, Entry, KeyRef, LogStore, ProjectionStore, Seq, StoreError, MAX_RECORD};
use std::cell::Cell;
use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once};

mod behind;
mod checkpoints;
mod keyring;
mod legacy_log;
mod prealloc;
mod record_file;
#[cfg(test)]
mod record_tests;
mod snapshot_file;
#[cfg(test)]
mod tests;
mod tuning;

use tuning::Tuning;

/// The segment size of stores this version creates: sled's maximum, 16 MiB.
pub const NEW_STORE_SEGMENT_SIZE: usize = 1 << 24;

const WATERMARK: &[u8] = b"w";
/// The state snapshot's key in the `snapshot` tree, where stores before the snapshot
/// file kept it (read when there is no file, removed by the next write).
const SNAPSHOT: &[u8] = b"s";
/// Where stores before the `snapshot` tree kept it, in `meta` (no metadata name starts
/// with a NUL byte).
const OLD_SNAPSHOT: &[u8] = b"\0state-snapshot";

/// The sled backend (see the module documentation).
pub struct SledBackend {
    /// The projections' changes on their way to `proj` (the writes behind); first, so
    /// that it is dropped (and writes what waits) before the trees and the database.
    behind: behind::Behind,
    db: ::sled::Db,
    keyring: ::sled::Tree,
    proj: ::sled::Tree,
    checkpoints: ::sled::Tree,
    cosignatures: ::sled::Tree,
    log_checkpoints: ::sled::Tree,
    meta: ::sled::Tree,
    snapshots: ::sled::Tree,
    snapshot_file: snapshot_file::SnapshotFile,
    records: record_file::RecordFile,
    data_file: File,
    data_path: PathBuf,
    blobs_dir: PathBuf,
    known_blobs: Mutex<HashSet<OsString>>,
    blob_warned: AtomicBool,
    segment_size: usize,
}

impl SledBackend {
    /// Opens (or creates) the store under `dir/ledger`, taking sled's exclusive file
    /// lock ([`StoreError::Locked`] if another process holds it).
    pub fn open(dir: &Path) -> Result<SledBackend, StoreError> {
        Self::open_with_segment_size(dir, NEW_STORE_SEGMENT_SIZE)
    }

    /// Like [`SledBackend::open`], creating a new store with `segment_size` (a power of
    /// two, 256 B to 16 MiB). For tests of stores made before the 16 MiB default; an
    /// existing store always keeps the size in its `conf`.
    #[doc(hidden)]
    pub fn open_with_segment_size(
        dir: &Path,
        segment_size: usize,
    ) -> Result<SledBackend, StoreError> {
        let path = dir.join("ledger");
        let segment_size = match existing_segment_size(&path)? {
            Some(s) => s,
            None => segment_size,
        };
        let db = open_db(&path, segment_size)?;
        // sled creates its files without syncing their directories, and never syncs
        // `conf`; a power cut could lose the names of a fresh store's files. Make them
        // durable once, before anything is acknowledged.
        sync_path(&path.join("conf"))?;
        let blobs_dir = path.join("blobs");
        for d in [blobs_dir.clone(), path.clone(), dir.to_path_buf()] {
            sync_path(&d)?;
        }
        let data_path = path.join("db");
        let data_file = File::open(&data_path).map_err(|source| StoreError::Io {
            path: data_path.clone(),
            source,
        })?;
        let tree = |name: &'static str| guard("opening the store", || db.open_tree(name));
        let records = legacy_log::open_records(&path, &tree("log")?)?;
        let proj = tree("proj")?;
        let backend = SledBackend {
            records,
            keyring: tree("keyring")?,
            behind: behind::Behind::start(proj.clone()),
            proj,
            checkpoints: tree("checkpoints")?,
            cosignatures: tree("cosignatures")?,
            log_checkpoints: tree("log_checkpoints")?,
            meta: tree("meta")?,
            snapshots: tree("snapshot")?,
            snapshot_file: snapshot_file::SnapshotFile::new(&path),
            db,
            data_file,
            data_path,
            blobs_dir,
            known_blobs: Mutex::new(HashSet::new()),
            blob_warned: AtomicBool::new(false),
            segment_size,
        };
        // Blob files an earlier process left unsynced: sync them once now.
        backend.sync_new_blobs()?;
        Ok(backend)
    }

    /// Opens a private copy of the store under `dir`, for tools that must not change
    /// the evidence: sled cannot open a store read-only (its recovery writes), so the
    /// store's files (and the head record) are copied into a new temporary directory
    /// and opened there. Works on a read-only `dir`. Fails with [`StoreError::Locked`]
    /// while a server holds the store, as the copy would be torn. Returns the backend
    /// and the temporary directory (deleted when dropped).
    pub fn open_private_copy(dir: &Path) -> Result<(SledBackend, tempfile::TempDir), StoreError> {
        let src = dir.join("ledger");
        super::copy::ensure_unlocked(&src.join("db"))?;
        let tmp = tempfile::Builder::new()
            .prefix("credledger-copy-")
            .tempdir()
            .map_err(|source| StoreError::Io {
                path: std::env::temp_dir(),
                source,
            })?;
        super::copy::copy_tree(&src, &tmp.path().join("ledger"))?;
        let head = dir.join(super::head::FILE_NAME);
        if head.exists() {
            super::copy::copy_file(&head, &tmp.path().join(super::head::FILE_NAME))?;
        }
        let backend = SledBackend::open(tmp.path())?;
        Ok((backend, tmp))
    }

    /// Bytes sled reports on disk.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        let sled = guard("measuring the store", || self.db.size_on_disk())?;
        Ok(sled + self.records.size_on_disk()?)
    }

    /// The segment size of this store (from its `conf`).
    pub fn segment_size(&self) -> usize {
        self.segment_size
    }

    /// Rewrites the log of the closed store under `dir` as `f` leaves it, for tamper
    /// tests only: positions and bytes as given, gaps and all, durably.
    #[doc(hidden)]
    pub fn tamper_log(
        dir: &Path,
        f: impl FnOnce(&mut std::collections::BTreeMap<Seq, Vec<u8>>),
    ) -> Result<(), StoreError> {
        let store = SledBackend::open(dir)?;
        let mut log: std::collections::BTreeMap<Seq, Vec<u8>> =
            store.records.all()?.into_iter().collect();
        f(&mut log);
        record_file::RecordFile::create(&dir.join("ledger"), log.into_iter().map(Ok))?;
        Ok(())
    }

    /// The projections written, then flush + `fdatasync` of sled's files and the record
    /// file's index, after raw writes in tamper tests and after an in-place rebuild.
    #[doc(hidden)]
    pub fn sync(&self) -> Result<(), StoreError> {
        self.behind.flush()?;
        self.records.sync_index()?;
        self.durable()
    }

    /// `fsync`s every blob file not seen before, then the blobs directory.
    fn sync_new_blobs(&self) -> Result<(), StoreError> {
        let io = |source| StoreError::Io {
            path: self.blobs_dir.clone(),
            source,
        };
        let mut known = self.known_blobs.lock().unwrap_or_else(|p| p.into_inner());
        let mut fresh = Vec::new();
        for entry in std::fs::read_dir(&self.blobs_dir).map_err(io)? {
            let name = entry.map_err(io)?.file_name();
            if !known.contains(&name) {
                fresh.push(name);
            }
        }
        if fresh.is_empty() {
            return Ok(());
        }
        let small_segments = self.segment_size < NEW_STORE_SEGMENT_SIZE;
        if small_segments && !self.blob_warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                segment_size = self.segment_size,
                "sled wrote a page as a separate blob file (a store made with small segments); syncing blob files explicitly"
            );
        }
        for name in &fresh {
            match File::open(self.blobs_dir.join(name)) {
                Ok(f) => f.sync_all().map_err(io)?,
                // sled removes blobs it no longer needs.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(e)),
            }
        }
        sync_path(&self.blobs_dir)?;
        known.extend(fresh);
        Ok(())
    }
}

/// Opens sled, waiting a little while its lock is held. sled releases the lock of a
/// closed database asynchronously (a thread of its I/O pool may still hold the file for a
/// moment after the last handle drops), so a reopen in the same process right after a
/// close can find it taken. Another process holding it still fails, after about 2 s.
fn open_db(path: &Path, segment_size: usize) -> Result<::sled::Db, StoreError> {
    let tuning = Tuning::from_env();
    let config = ::sled::Config::new()
        .path(path)
        .segment_size(segment_size)
        .cache_capacity(tuning.cache_bytes)
        .mode(::sled::Mode::HighThroughput);
    let mut tries = 0;
    loop {
        match guard("opening the store", || config.open()) {
            Err(StoreError::Locked { .. }) if tries < 400 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(StoreError::Locked { .. }) => {
                return Err(StoreError::Locked {
                    path: path.join("db"),
                })
            }
            other => return other,
        }
    }
}

/// The segment size recorded in an existing store's `conf`, or `None` for a new store.
/// A store with a data file but no readable `conf` is refused: opening it with another
/// segment size would misread every segment.
fn existing_segment_size(path: &Path) -> Result<Option<usize>, StoreError> {
    let conf = path.join("conf");
    let text = match std::fs::read(&conf) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let has_data = std::fs::metadata(path.join("db")).is_ok_and(|m| m.len() > 0);
            if has_data {
                return Err(StoreError::Corrupt {
                    what: "sled conf",
                    detail: format!(
                        "{} is missing but the store has data: its segment size is unknown",
                        conf.display()
                    ),
                });
            }
            return Ok(None);
        }
        Err(source) => return Err(StoreError::Io { path: conf, source }),
    };
    let size = String::from_utf8_lossy(&text).lines().find_map(|l| {
        l.strip_prefix("segment_size: ")?
            .trim()
            .parse::<usize>()
            .ok()
    });
    match size {
        Some(s) if s.is_power_of_two() && (256..=1 << 24).contains(&s) => Ok(Some(s)),
        _ => Err(StoreError::Corrupt {
            what: "sled conf",
            detail: format!("{} does not name a valid segment size", conf.display()),
        }),
    }
}

/// `fsync` of a file or directory by path.
fn sync_path(path: &Path) -> Result<(), StoreError> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        })
}

thread_local! {
    /// How many guarded sled calls this thread is inside (the panic hook stays quiet).
    static GUARDED: Cell<u32> = const { Cell::new(0) };
}

/// Installs, once, a panic hook that is silent for panics inside [`guard`] (they become
/// errors) and hands every other panic to the hook that was there before.
fn install_quiet_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if GUARDED.with(Cell::get) == 0 {
                previous(info);
            }
        }));
    });
}

/// Runs one sled call, mapping its errors and containing its panics.
fn guard<T>(
    during: &'static str,
    f: impl FnOnce() -> Result<T, ::sled::Error>,
) -> Result<T, StoreError> {
    install_quiet_hook();
    GUARDED.with(|g| g.set(g.get() + 1));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(g.get() - 1));
    match result {
        Ok(r) => r.map_err(from_sled),
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".into());
            Err(StoreError::Panicked { during, message })
        }
    }
}

/// Runs a fallible closure that is not a sled call itself but iterates sled's values.
fn guard_iter<T>(
    during: &'static str,
    f: impl FnOnce() -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let mut inner = None;
    guard(during, || {
        inner = Some(f());
        Ok(())
    })?;
    inner.expect("the closure ran")
}

fn from_sled(e: ::sled::Error) -> StoreError {
    match e {
        ::sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => {
            StoreError::Locked {
                path: PathBuf::from("ledger/db"),
            }
        }
        ::sled::Error::Corruption { .. } => StoreError::Corrupt {
            what: "the sled store",
            detail: "sled found damaged data in its data or snapshot files".into(),
        },
        other @ (::sled::Error::CollectionNotFound(_)
        | ::sled::Error::Unsupported(_)
        | ::sled::Error::ReportableBug(_)
        | ::sled::Error::Io(_)) => StoreError::backend(other),
    }
}

impl SledBackend {
    fn next_seq_inner(&self) -> Result<Seq, StoreError> {
        Ok(self.records.next_seq())
    }

    /// Flush, blob sync, then `fdatasync` of the data file.
    fn durable(&self) -> Result<(), StoreError> {
        guard("flushing the store", || self.db.flush().map(|_| ()))?;
        self.sync_new_blobs()?;
        self.data_file.sync_data().map_err(|source| StoreError::Io {
            path: self.data_path.clone(),
            source,
        })
    }
}

impl LogStore for SledBackend {
    fn next_seq(&self) -> Result<Seq, StoreError> {
        self.next_seq_inner()
    }

    fn read(&self, seq: Seq) -> Result<Option<Vec<u8>>, StoreError> {
        self.records.read(seq)
    }

    fn read_range(&self, from: Seq, limit: usize) -> Result<Vec<(Seq, Vec<u8>)>, StoreError> {
        self.records.read_range(from, limit)
    }

    fn append_durable(&self, append: Append<'_>) -> Result<(), StoreError> {
        if !append.records.is_empty() {
            let first = self.next_seq_inner()?;
            for (expected, (seq, bytes)) in (first..).zip(append.records) {
                if *seq != expected {
                    return Err(StoreError::BadAppend(format!(
                        "record {seq} where {expected} comes next"
                    )));
                }
                if bytes.len() > MAX_RECORD {
                    return Err(StoreError::BadAppend(format!(
                        "record {seq} is {} bytes, over the {MAX_RECORD}-byte limit",
                        bytes.len()
                    )));
                }
            }
        }
        // New keys durable before any record that needs them; deleted keys only after
        // the records that say so (see `keyring::steps`).
        let (before, after) = keyring::steps(append.keyring);
        self.write_keyring(&before)?;
        self.records.append_durable(append.records)?;
        self.write_keyring(&after)
    }

    fn keyring(&self) -> Result<Vec<(KeyRef, Vec<u8>)>, StoreError> {
        guard_iter("reading the key ring", || {
            let mut out = Vec::new();
            for r in self.keyring.iter() {
                let (k, v) = r.map_err(from_sled)?;
                out.push((KeyRef::from_bytes(&k)?, v.to_vec()));
            }
            Ok(out)
        })
    }

    fn meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        guard("reading store metadata", || {
            self.meta
                .get(name.as_bytes())
                .map(|v| v.map(|v| v.to_vec()))
        })
    }

    fn put_meta_durable(&self, name: &str, value: Option<&[u8]>) -> Result<(), StoreError> {
        guard("writing store metadata", || match value {
            Some(v) => self.meta.insert(name.as_bytes(), v).map(|_| ()),
            None => self.meta.remove(name.as_bytes()).map(|_| ()),
        })?;
        self.durable()
    }

    fn snapshot(&self) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(bytes) = self.snapshot_file.read()? {
            return Ok(Some(bytes));
        }
        guard("reading the state snapshot", || {
            self.snapshots.get(SNAPSHOT).map(|v| v.map(|v| v.to_vec()))
        })
    }

    fn put_snapshot_durable(&self, bytes: &[u8]) -> Result<(), StoreError> {
        self.snapshot_file.write_durable(bytes)?;
        // The copies older stores kept: the file is read first, so their removal need
        // not be durable.
        guard("removing an older state snapshot", || {
            self.snapshots.remove(SNAPSHOT)?;
            self.meta.remove(OLD_SNAPSHOT).map(|_| ())
        })
    }
}

impl ProjectionStore for SledBackend {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(v) = self.behind.get(key) {
            return Ok(v);
        }
        guard("reading the projections", || {
            self.proj.get(key).map(|v| v.map(|v| v.to_vec()))
        })
    }

    fn scan(&self, prefix: &[u8], from: &[u8], limit: usize) -> Result<Vec<Entry>, StoreError> {
        let start = if from < prefix { prefix } else { from };
        guard_iter("reading the projections", || {
            let sled = self
                .proj
                .range(start..)
                .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(from_sled));
            self.behind.scan(prefix, start, limit, sled)
        })
    }

    fn watermark(&self) -> Result<Seq, StoreError> {
        if let Some(w) = self.behind.watermark() {
            return Ok(w);
        }
        match guard("reading the projections", || self.proj.get(WATERMARK))? {
            None => Ok(0),
            Some(v) => Ok(u64::from_be_bytes(v.as_ref().try_into().map_err(|_| {
                StoreError::Corrupt {
                    what: "proj",
                    detail: "the watermark is not 8 bytes".into(),
                }
            })?)),
        }
    }

    fn apply(
        &self,
        changes: &[(Vec<u8>, Option<Vec<u8>>)],
        watermark: Seq,
    ) -> Result<(), StoreError> {
        self.behind.apply(changes, watermark)
    }

    fn clear(&self) -> Result<(), StoreError> {
        self.behind.clear()
    }

    /// sled's page cache, else a `pread` of its file: local.
    fn local_gets(&self) -> bool {
        true
    }
}
