//! The storage boundary: three narrow, byte-level, object-safe, synchronous traits and
//! the error they share. Nothing here names a backend type; each backend lives in its own
//! folder or file behind the traits (`sled`, the embedded default; `postgres`).
//!
//! * [`LogStore`]: the truth. The append-only log of stored records, the key ring that
//!   must be durable with it, and a few metadata values (key check values, markers).
//! * [`ProjectionStore`]: read models and Merkle nodes, a rebuildable byte map with an
//!   atomic watermark. The key layout belongs to `projection`, not to the store.
//! * [`CheckpointStore`]: issued signed checkpoints. Not a cache: they survive a rebuild.
//!
//! Bytes only: record bytes belong to `event`, projection keys and values to
//! `projection`, the `WrappedKey` encoding to `ledger`. The traits are synchronous (the
//! committer is a plain thread; HTTP reads go through `spawn_blocking`, but for the
//! gets of a backend whose gets are local, [`ProjectionStore::local_gets`]) and return
//! owned chunks instead of borrowed iterators, so `WHERE seq >= $1 ORDER BY seq LIMIT $2`
//! can implement them as well as a sled range.
//!
//! The store is not trusted to know the log's length: the ledger keeps its own durable
//! head record ([`head`]) outside the backend and refuses a log that ends before it. A
//! backend that advances a head record in the very transaction of every batch
//! (PostgreSQL's `head` row) reports it through [`LogStore::stored_head`] instead.
//!
//! **Opening a backend is a constructor duty, not a trait method:** it takes the
//! exclusive writer lock (sled: its file lock, [`StoreError::Locked`] when another
//! process holds it). A backend shared by several nodes (PostgreSQL) elects its one
//! writer through [`lease::WriterLease`] instead; it MUST fail every append of a node
//! that does not hold the lease, or lost it, with [`StoreError::Fenced`], writing
//! nothing.
//!
//! Who may call what (`docs/ARCHITECTURE.md` has the table): `commit` appends,
//! `ledger::open` recovers, `projection` owns [`ProjectionStore`], `proof` owns
//! [`CheckpointStore`]; `api`, `domain`, `event` and the client CLI never touch a store.

mod copy;
pub mod head;
pub mod lease;
pub mod postgres;
pub mod select;
pub mod sled;

use crate::id::Id;
use std::path::PathBuf;

/// A position in the log (also the Merkle leaf index).
pub type Seq = u64;

/// The largest stored record the ledger writes: 128 KiB (event bytes + 80). Enforced by
/// the ledger before an event is staged (a 422 naming the fields), and again by every
/// backend. It keeps every sled page far below sled's blob threshold (see
/// [`sled::SledBackend`]); AWS Secrets Manager caps a secret at 64 KiB, for comparison.
pub const MAX_RECORD: usize = 128 * 1024;

/// The largest state snapshot a store is asked to keep, in bytes: a 1 GiB body
/// (`crate::snapshot::MAX_BODY`) plus its header and MAC, with room to spare. A backend
/// may refuse to read anything larger as corrupt.
pub const MAX_SNAPSHOT: u64 = (1 << 30) + 4096;

/// The key-ring key of a credential version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyRef {
    pub credential: Id,
    pub version: u32,
}

impl KeyRef {
    /// `credential (16) ‖ version (u32 BE)`: big-endian so a credential's versions sort
    /// together (docs/FORMAT.md, Key ring).
    pub fn to_bytes(self) -> [u8; 20] {
        keyring_key(self.credential, self.version)
    }

    /// The inverse of [`KeyRef::to_bytes`].
    pub fn from_bytes(b: &[u8]) -> Result<KeyRef, StoreError> {
        let b: &[u8; 20] = b.try_into().map_err(|_| StoreError::Corrupt {
            what: "keyring",
            detail: format!("key of {} bytes", b.len()),
        })?;
        let mut id = [0u8; 16];
        id.copy_from_slice(&b[..16]);
        let version = u32::from_be_bytes([b[16], b[17], b[18], b[19]]);
        Ok(KeyRef {
            credential: Id(id),
            version,
        })
    }
}

/// The key-ring key of a credential version (see [`KeyRef::to_bytes`]).
pub fn keyring_key(credential: Id, version: u32) -> [u8; 20] {
    let mut k = [0u8; 20];
    k[..16].copy_from_slice(credential.as_bytes());
    k[16..].copy_from_slice(&version.to_be_bytes());
    k
}

/// A projection entry: key and value.
pub type Entry = (Vec<u8>, Vec<u8>);

/// A change to the key ring, written in the same durable step as the records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyOp {
    /// Store `wrapped` (an encoded `WrappedKey`) under `key`, replacing any value.
    Put { key: KeyRef, wrapped: Vec<u8> },
    /// Delete the data key of `key` (crypto-shred or retention); absent is not an error.
    Delete { key: KeyRef },
}

/// One durable step: key-ring changes and the next contiguous records.
#[derive(Clone, Copy, Debug)]
pub struct Append<'a> {
    pub keyring: &'a [KeyOp],
    pub records: &'a [(Seq, &'a [u8])],
}

/// Errors of every store. Each variant says how it is handled; none carries a backend
/// type, a secret or a key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend failed (I/O, a sled error, a lost connection or lease). Writes: the
    /// committer is poisoned, answer 503, restart. Reads: answer 500.
    #[error("storage error: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A file the ledger manages itself (the head record, the data-file sync) failed.
    /// Handled like [`StoreError::Backend`].
    #[error("storage I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A stored value or key has the wrong shape: corruption or tampering. Refuse to
    /// serve it (500); run `credledger replay verify`.
    #[error("corrupt stored value in {what}: {detail}")]
    Corrupt { what: &'static str, detail: String },
    /// The backend panicked on what it read (sled does on some corrupt files). Contained
    /// at the backend boundary; handled like [`StoreError::Corrupt`].
    #[error("the storage engine failed while {during} (it panicked: {message}); the store is probably corrupt: run `credledger replay verify`")]
    Panicked {
        during: &'static str,
        message: String,
    },
    /// Another process holds the store's writer lock: refuse to start; stop that
    /// process (or work on a copy).
    #[error("a server is using this directory ({path} is locked by another process); stop it, or copy the directory and use the copy")]
    Locked { path: PathBuf },
    /// This node does not hold the writer lease, or lost it (another node took over):
    /// nothing was written. Writes: the committer stops; answer 503 (retryable, on any
    /// node); the node rebuilds its state from the log before it writes again.
    #[error("this node is not the ledger's writer: {0}")]
    Fenced(String),
    /// The store is configured so that an acknowledged event could be lost (PostgreSQL
    /// with `synchronous_commit` or `fsync` off): refuse to start; fix the setting or
    /// accept the loss explicitly.
    #[error("{0}")]
    Durability(String),
    /// An append broke the log's shape (not contiguous from `next_seq`, or a record
    /// over [`MAX_RECORD`]): a bug above the store. Nothing was written; poison.
    #[error("refused append: {0}")]
    BadAppend(String),
}

impl StoreError {
    /// Wraps a backend's own error.
    pub fn backend(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
        StoreError::Backend(Box::new(e))
    }
}

/// The head record a backend keeps in the same transaction as the records (see
/// [`LogStore::stored_head`]): records `0..size` are durable, and record `size - 1` has
/// the BLAKE3 hash `record_hash` of its stored bytes (zeros when `size` is 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredHead {
    pub size: Seq,
    pub record_hash: [u8; 32],
}

/// The truth: the append-only log, the key ring that must be durable with it, and a few
/// metadata values.
pub trait LogStore: Send + Sync {
    /// The number of records in the log, which is the next sequence number.
    ///
    /// Callers MUST NOT take it as the log's true length: a corrupt backend may drop a
    /// tail. The ledger compares it with its own head record and its checkpoints.
    fn next_seq(&self) -> Result<Seq, StoreError>;

    /// The record at `seq`, or `None` if there is none.
    ///
    /// MUST return the bytes exactly as appended; a value that cannot be read back MUST
    /// be an error, never a silently different record.
    fn read(&self, seq: Seq) -> Result<Option<Vec<u8>>, StoreError>;

    /// Up to `limit` records from `from` on, ascending, each with its position.
    ///
    /// Positions MUST be returned as stored, gaps included (a verifier reports them);
    /// fewer than `limit` records means the end of the log was reached.
    fn read_range(&self, from: Seq, limit: usize) -> Result<Vec<(Seq, Vec<u8>)>, StoreError>;

    /// Makes `append` durable: new keys first, then the records, then deleted keys (or
    /// all of it in one transaction).
    ///
    /// MUST return `Ok` only when every record and key-ring change is durable (survives
    /// a power cut: for sled, flush + `fdatasync`; for PostgreSQL, a committed
    /// transaction with `synchronous_commit = on`). A put MUST never be less durable
    /// than the records that need it; a delete MUST NOT be durable before the records
    /// of its append (a crash between may leave an orphan key, never a logged version
    /// without its key). `records` MUST be contiguous from
    /// [`LogStore::next_seq`] and each at most [`MAX_RECORD`] bytes, else nothing is
    /// written and [`StoreError::BadAppend`] is returned. An append with no records
    /// (recovery's deletion of orphan data keys) is allowed. Records are never
    /// overwritten or deleted.
    fn append_durable(&self, append: Append<'_>) -> Result<(), StoreError>;

    /// The head record this backend advances in the transaction of every
    /// [`LogStore::append_durable`], or `None` (the default) for a backend whose head
    /// record the ledger keeps itself (sled: `DIR/head`, [`head`]).
    ///
    /// A backend that returns `Some` MUST advance it atomically with the records, so
    /// that it never claims a record that is not durable; the ledger then writes no
    /// head file and checks the log against this head instead.
    fn stored_head(&self) -> Result<Option<StoredHead>, StoreError> {
        Ok(None)
    }

    /// Makes key-ring entries deleted so far unreadable in the backend's own files where
    /// it can, after a destroy (PostgreSQL: `VACUUM FULL` of the key-ring table, so the
    /// deleted rows stop lingering as dead tuples). The default does nothing (sled
    /// reclaims its segments itself; the master-key rotation covers stale copies).
    fn reclaim_deleted_keys(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Every key-ring entry: `(key, encoded WrappedKey)`, in key order.
    ///
    /// MUST reflect every durable `append_durable` (a deleted key MUST NOT come back).
    fn keyring(&self) -> Result<Vec<(KeyRef, Vec<u8>)>, StoreError>;

    /// A metadata value (key check values, format markers), if set.
    fn meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Sets (`Some`) or removes (`None`) a metadata value.
    ///
    /// MUST return `Ok` only when the change is durable. Values are small (under 1 KiB);
    /// they are never part of what the log proves.
    fn put_meta_durable(&self, name: &str, value: Option<&[u8]>) -> Result<(), StoreError>;

    /// The state snapshot last stored by [`LogStore::put_snapshot_durable`], if any.
    ///
    /// The bytes belong to `crate::snapshot`; the store is not trusted with them (the
    /// ledger authenticates a snapshot and checks it against the log before using it).
    /// MUST return the bytes exactly as stored, whole, or an error.
    fn snapshot(&self) -> Result<Option<Vec<u8>>, StoreError>;

    /// Replaces the stored state snapshot with `bytes` (at most [`MAX_SNAPSHOT`]).
    ///
    /// MUST be atomic (a reader sees the old snapshot or the new one, whole) and return
    /// `Ok` only when it is durable; MUST NOT touch the log, the key ring or the
    /// metadata. A backend shared by several nodes MUST refuse it, like any write, from a
    /// node that does not hold the writer lease ([`StoreError::Fenced`]).
    fn put_snapshot_durable(&self, bytes: &[u8]) -> Result<(), StoreError>;
}

/// Read models and Merkle nodes: a rebuildable byte map with an atomic watermark.
pub trait ProjectionStore: Send + Sync {
    /// The value of `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Up to `limit` entries whose key starts with `prefix` and is `>= from`, ascending.
    ///
    /// Pass `from = prefix` for the first page and the last key returned followed by a
    /// `0` byte for the next. Fewer than `limit` entries means the prefix is exhausted.
    fn scan(&self, prefix: &[u8], from: &[u8], limit: usize) -> Result<Vec<Entry>, StoreError>;

    /// The number of log records the projections reflect (0 when empty).
    ///
    /// MUST be the watermark of the last [`ProjectionStore::apply`] that took effect,
    /// together with exactly its changes.
    fn watermark(&self) -> Result<Seq, StoreError>;

    /// Applies every change (`None` deletes) and sets the watermark, atomically.
    ///
    /// MUST apply all of it or nothing, so that after a crash the projections are
    /// exactly those of some watermark. Need not be durable: projections are caches,
    /// caught up from the log on open.
    fn apply(
        &self,
        changes: &[(Vec<u8>, Option<Vec<u8>>)],
        watermark: Seq,
    ) -> Result<(), StoreError>;

    /// Removes every projection entry and resets the watermark to 0 (before a rebuild).
    ///
    /// MUST NOT touch the log, the key ring, the metadata or the checkpoints.
    fn clear(&self) -> Result<(), StoreError>;

    /// Whether a [`ProjectionStore::get`] is served in the process, from memory or a
    /// local file (microseconds, never a network round trip), so that an HTTP task may
    /// call it on its own thread instead of handing it to the blocking pool (two thread
    /// wake-ups). `false` unless a backend says so; scans always go to the pool.
    fn local_gets(&self) -> bool {
        false
    }
}

/// Issued signed checkpoints: not a cache; they survive a projection rebuild.
pub trait CheckpointStore: Send + Sync {
    /// The note issued for tree size `size`, if any.
    fn checkpoint(&self, size: Seq) -> Result<Option<Vec<u8>>, StoreError>;

    /// Every issued note, by ascending size. Notes are never changed or deleted.
    fn checkpoints(&self) -> Result<Vec<(Seq, Vec<u8>)>, StoreError>;

    /// The issued note with the largest size, if any.
    ///
    /// The ledger refuses a log shorter than this size, so it MUST come from the same
    /// durable state as the log (never a cache that may lag behind it).
    fn latest_checkpoint(&self) -> Result<Option<(Seq, Vec<u8>)>, StoreError>;

    /// Stores `note` for `size` unless one is stored already, and returns the stored one.
    ///
    /// MUST be insert-if-absent (two writers cannot both "win"; the caller answers with
    /// what is returned) and MUST return only once the stored note is durable.
    fn insert_checkpoint_durable(&self, size: Seq, note: &[u8]) -> Result<Vec<u8>, StoreError>;

    /// The witness cosignature lines stored for the checkpoint of `size` of the log named
    /// `origin` (the checkpoint's first line), or `None` if none were stored.
    ///
    /// The value is what [`CheckpointStore::put_cosignatures_durable`] stored last: C2SP
    /// signature lines (`— name base64\n`, c2sp.org/tlog-cosignature), verified by the
    /// ledger before they were stored. They are kept beside the note, never in it: an
    /// issued note never changes.
    fn cosignatures(&self, origin: &str, size: Seq) -> Result<Option<Vec<u8>>, StoreError>;

    /// Replaces the cosignature lines of the checkpoint of `size` of log `origin`.
    ///
    /// MUST return only once they are durable. One writer (the ledger's witnessing task)
    /// merges new lines into the stored ones, so a replace is all a backend offers.
    fn put_cosignatures_durable(
        &self,
        origin: &str,
        size: Seq,
        lines: &[u8],
    ) -> Result<(), StoreError>;

    /// The note issued for size `size` of the tenant log named `origin` (a tenant tree's
    /// checkpoints; the global log's are [`CheckpointStore::checkpoint`]), if any.
    fn log_checkpoint(&self, origin: &str, size: Seq) -> Result<Option<Vec<u8>>, StoreError>;

    /// Every note issued for the tenant log `origin`, by ascending size.
    fn log_checkpoints(&self, origin: &str) -> Result<Vec<(Seq, Vec<u8>)>, StoreError>;

    /// The note of the tenant log `origin` with the largest size, if any.
    fn latest_log_checkpoint(&self, origin: &str) -> Result<Option<(Seq, Vec<u8>)>, StoreError>;

    /// Stores `note` for size `size` of the tenant log `origin` unless one is stored
    /// already, and returns the stored one: insert-if-absent and durable, like
    /// [`CheckpointStore::insert_checkpoint_durable`].
    fn insert_log_checkpoint_durable(
        &self,
        origin: &str,
        size: Seq,
        note: &[u8],
    ) -> Result<Vec<u8>, StoreError>;
}

/// A whole backend: the three stores of one ledger.
pub trait Backend: LogStore + ProjectionStore + CheckpointStore + 'static {}
impl<T: LogStore + ProjectionStore + CheckpointStore + 'static> Backend for T {}

/// Opens the embedded default backend (sled) of data directory `dir`, taking its writer
/// lock. Callers that choose a backend from configuration construct it themselves.
pub fn open_default(dir: &std::path::Path) -> Result<std::sync::Arc<dyn Backend>, StoreError> {
    Ok(std::sync::Arc::new(sled::SledBackend::open(dir)?))
}

impl dyn Backend + '_ {
    /// The backend's projection store.
    pub fn proj(&self) -> &dyn ProjectionStore {
        self
    }

    /// The backend's log.
    pub fn log(&self) -> &dyn LogStore {
        self
    }

    /// Every record from `from` on, in order, read in chunks.
    pub fn records(&self, from: Seq) -> Records<'_> {
        records(self, from)
    }

    /// The number of records in the log ([`LogStore::next_seq`]).
    pub fn len(&self) -> Result<Seq, StoreError> {
        self.next_seq()
    }

    /// Whether the log is empty.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.next_seq()? == 0)
    }
}

/// How many records [`Records`] reads per [`LogStore::read_range`] call.
const CHUNK: usize = 1024;

/// Every record of `log` from `from` on, in order, read in chunks.
pub fn records(log: &dyn LogStore, from: Seq) -> Records<'_> {
    Records {
        log,
        next: from,
        buf: Vec::new().into_iter(),
        done: false,
    }
}

/// An iterator over stored records (see [`records`]). It stops after the first error.
pub struct Records<'a> {
    log: &'a dyn LogStore,
    next: Seq,
    buf: std::vec::IntoIter<(Seq, Vec<u8>)>,
    done: bool,
}

impl Iterator for Records<'_> {
    type Item = Result<(Seq, Vec<u8>), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(r) = self.buf.next() {
            return Some(Ok(r));
        }
        if self.done {
            return None;
        }
        match self.log.read_range(self.next, CHUNK) {
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
            Ok(chunk) => {
                if chunk.len() < CHUNK {
                    self.done = true;
                }
                if let Some((last, _)) = chunk.last() {
                    self.next = last + 1;
                }
                self.buf = chunk.into_iter();
                self.buf.next().map(Ok)
            }
        }
    }
}

/// Every entry of `proj` under `prefix`, read in pages of `page` entries.
pub fn scan_all<'a>(
    proj: &'a dyn ProjectionStore,
    prefix: &[u8],
    page: usize,
) -> impl Iterator<Item = Result<Entry, StoreError>> + 'a {
    scan_from(proj, prefix.to_vec(), prefix.to_vec(), page)
}

/// Every entry of `proj` under `prefix` with a key `>= from`, read in pages.
pub fn scan_from(
    proj: &dyn ProjectionStore,
    prefix: Vec<u8>,
    from: Vec<u8>,
    page: usize,
) -> impl Iterator<Item = Result<Entry, StoreError>> + '_ {
    let page = page.max(1);
    let mut from = Some(from);
    let mut buf = Vec::new().into_iter();
    std::iter::from_fn(move || loop {
        if let Some(kv) = buf.next() {
            return Some(Ok(kv));
        }
        let start = from.take()?;
        match proj.scan(&prefix, &start, page) {
            Err(e) => return Some(Err(e)),
            Ok(chunk) => {
                if chunk.len() == page {
                    if let Some((k, _)) = chunk.last() {
                        let mut next = k.clone();
                        next.push(0);
                        from = Some(next);
                    }
                }
                if chunk.is_empty() {
                    return None;
                }
                buf = chunk.into_iter();
            }
        }
    })
}
