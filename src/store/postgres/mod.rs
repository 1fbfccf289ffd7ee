//! The PostgreSQL backend: the log, the key ring, the issued checkpoints, the metadata,
//! the head row and the writer lease in one database (schema `credledger`, created and
//! migrated by [`migrate`]); the projections in a node-local cache (a sled store under
//! the node's data directory), caught up from the log.
//!
//! Why the projections are not tables: they are read on every request and the Merkle
//! append reads nodes one at a time; a round trip per read (188 µs measured by
//! `tests/pg_store.rs`, against 0.3 µs from the local cache) on the database that also
//! sequences the writes is tessera's MySQL lesson (`docs/adr/0002-postgres-projections.md`). Each node keeps
//! its own cache, so reads never touch the database but to tail the log.
//!
//! **Invariants:**
//! - one transaction per [`LogStore::append_durable`]: it first advances the head row
//!   from the batch's first position if this node's epoch still holds it
//!   (`sql::ADVANCE_HEAD`), then writes the key-ring changes and inserts the records,
//!   then commits; `Ok` only after the commit returned (with `synchronous_commit` on,
//!   which [`PgBackend::connect`] insists on unless told to accept the loss). No row
//!   advanced: another node took the lease, nothing was written,
//!   [`StoreError::Fenced`];
//! - a node that does not hold the lease writes nothing to the log, the key ring or the
//!   metadata (checkpoints are insert-if-absent and may come from any node);
//! - the local cache belongs to one database: a cache made from another (its `store-id`
//!   differs) or reaching past the log is cleared and rebuilt.

mod checkpoints;
mod db;
mod lease;
pub mod migrate;
mod snapshot;
mod sql;

pub use db::{describe, parse_url, PgError};

use super::sled::SledBackend;
use super::{
    Append, Entry, KeyOp, KeyRef, LogStore, ProjectionStore, Seq, StoreError, StoredHead,
    MAX_RECORD,
};
use db::Db;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Records read per query by [`LogStore::read_range`] at most.
const MAX_RANGE: usize = 4096;

/// The cache's metadata name for the database it was made from.
const CACHE_OF: &str = "cache-of";

/// How to connect.
#[derive(Clone, Debug, Default)]
pub struct PgOptions {
    /// Start even if the server runs with `synchronous_commit = off` or `fsync = off`
    /// (acknowledged events can then be lost when PostgreSQL crashes).
    pub accept_lost_commits: bool,
    /// How long PostgreSQL lets one of this backend's sessions sit idle inside a
    /// transaction before it ends the session (`idle_in_transaction_session_timeout`;
    /// [`db::OP_TIMEOUT`] when `None`). A node passes its lease: a writer frozen in the
    /// middle of a commit (SIGSTOP, a paused VM) then loses its locks on the head row
    /// about when it loses the lease, so the next writer can take over.
    pub idle_in_transaction: Option<Duration>,
}

/// The PostgreSQL backend (see the module documentation).
pub struct PgBackend {
    db: Db,
    cache: SledBackend,
    _cache_tmp: Option<tempfile::TempDir>,
    /// The epoch this node appends as; 0 when it does not hold the lease.
    epoch: AtomicU64,
    place: String,
}

/// The server's durability settings.
struct Durability {
    synchronous_commit: String,
    fsync: String,
}

impl PgBackend {
    /// Connects to `url`, creates or migrates the schema, checks the server's durability
    /// settings, and opens the projection cache in `cache_dir` (a temporary directory
    /// when `None`). The node does not write until it takes the lease
    /// ([`super::lease::WriterLease::try_take`]).
    pub fn connect(
        url: &str,
        cache_dir: Option<&Path>,
        options: &PgOptions,
    ) -> Result<PgBackend, StoreError> {
        let config = parse_url(url)?;
        let place = describe(&config);
        let idle = options.idle_in_transaction.unwrap_or(db::OP_TIMEOUT);
        let db = Db::new(config, idle)?;
        let pool = db.pool.clone();
        let (applied, durability) = db.run(async move {
            let mut c = pool.get().await?;
            let applied = migrate::run(&mut c).await.map_err(schema_error)?;
            Ok((applied, durability(&c).await?))
        })?;
        for v in applied {
            tracing::info!(version = v, store = %place, "applied a schema migration");
        }
        check_durability(&durability, options, &place)?;
        Self::with_cache(db, place, cache_dir)
    }

    /// Connects without writing anything to the database (offline tools: `replay`,
    /// `export`, the source of `migrate`): the schema must exist and be this binary's.
    /// The projections go to a fresh temporary cache.
    pub fn open_read_only(url: &str) -> Result<PgBackend, StoreError> {
        let config = parse_url(url)?;
        let place = describe(&config);
        let db = Db::new(config, db::OP_TIMEOUT)?;
        let pool = db.pool.clone();
        db.run(async move {
            let c = pool.get().await?;
            migrate::check(&c).await.map_err(schema_error)
        })?;
        Self::with_cache(db, place, None)
    }

    fn with_cache(
        db: Db,
        place: String,
        cache_dir: Option<&Path>,
    ) -> Result<PgBackend, StoreError> {
        let (cache, tmp) = match cache_dir {
            Some(dir) => (SledBackend::open(dir)?, None),
            None => {
                let tmp = tempfile::Builder::new()
                    .prefix("credledger-cache-")
                    .tempdir()
                    .map_err(|source| StoreError::Io {
                        path: std::env::temp_dir(),
                        source,
                    })?;
                (SledBackend::open(tmp.path())?, Some(tmp))
            }
        };
        let backend = PgBackend {
            db,
            cache,
            _cache_tmp: tmp,
            epoch: AtomicU64::new(0),
            place,
        };
        backend.check_cache()?;
        Ok(backend)
    }

    /// Clears the cache if it was made from another database or reaches past the log.
    fn check_cache(&self) -> Result<(), StoreError> {
        let id = self.meta("store-id")?.unwrap_or_default();
        let of = self.cache.meta(CACHE_OF)?;
        let ahead = self.cache.watermark()? > self.next_seq()?;
        if of.as_deref() != Some(id.as_slice()) || ahead {
            if of.is_some() {
                tracing::warn!(store = %self.place, "the local projection cache belongs to another database or is ahead of its log; rebuilding it");
            }
            self.cache.clear()?;
            self.cache.put_meta_durable(CACHE_OF, Some(&id))?;
        }
        Ok(())
    }

    /// Where this backend connects (hosts, port, database; never a password).
    pub fn place(&self) -> &str {
        &self.place
    }

    fn fenced(&self, why: &str) -> StoreError {
        self.epoch.store(0, Ordering::Release);
        StoreError::Fenced(why.to_string())
    }
}

#[allow(
    clippy::wildcard_enum_match_arm,
    reason = "every schema error but the database's own is reported by its text"
)]
fn schema_error(e: migrate::SchemaError) -> PgError {
    match e {
        migrate::SchemaError::Pg(e) => e,
        other @ (migrate::SchemaError::Changed { .. }
        | migrate::SchemaError::Newer { .. }
        | migrate::SchemaError::Missing
        | migrate::SchemaError::Older { .. }) => PgError::Pool(other.to_string()),
    }
}

async fn durability(c: &tokio_postgres::Client) -> Result<Durability, PgError> {
    let row = c.query_one(sql::DURABILITY_SETTINGS, &[]).await?;
    Ok(Durability {
        synchronous_commit: row.get(0),
        fsync: row.get(1),
    })
}

/// Refuses `synchronous_commit = off` and `fsync = off` unless the operator accepts the
/// loss.
fn check_durability(d: &Durability, options: &PgOptions, place: &str) -> Result<(), StoreError> {
    let unsafe_settings: Vec<String> = [
        ("synchronous_commit", d.synchronous_commit.as_str()),
        ("fsync", d.fsync.as_str()),
    ]
    .iter()
    .filter(|(_, v)| *v == "off")
    .map(|(k, v)| format!("{k} = {v}"))
    .collect();
    if unsafe_settings.is_empty() {
        return Ok(());
    }
    let what = unsafe_settings.join(" and ");
    if options.accept_lost_commits {
        tracing::warn!(store = %place, settings = %what, "PostgreSQL may lose acknowledged events on a crash; accepted by --accept-lost-commits");
        return Ok(());
    }
    Err(StoreError::Durability(format!(
        "PostgreSQL at {place} runs with {what}: a crash of the server would lose events the ledger acknowledged. Set them on (ALTER SYSTEM SET synchronous_commit = on; fsync = on), or pass --accept-lost-commits to accept the loss"
    )))
}

/// The final change per key of a batch of key-ring operations (later ones win), as puts
/// and deletes.
type KeyChanges = (Vec<Vec<u8>>, Vec<Vec<u8>>, Vec<Vec<u8>>);

fn key_changes(ops: &[KeyOp]) -> KeyChanges {
    let mut last: BTreeMap<[u8; 20], Option<&[u8]>> = BTreeMap::new();
    for op in ops {
        match op {
            KeyOp::Put { key, wrapped } => last.insert(key.to_bytes(), Some(wrapped)),
            KeyOp::Delete { key } => last.insert(key.to_bytes(), None),
        };
    }
    let (mut put_keys, mut put_values, mut deletes) = (Vec::new(), Vec::new(), Vec::new());
    for (k, v) in last {
        match v {
            Some(v) => {
                put_keys.push(k.to_vec());
                put_values.push(v.to_vec());
            }
            None => deletes.push(k.to_vec()),
        }
    }
    (put_keys, put_values, deletes)
}

/// What became of an append's transaction.
enum Appended {
    Done,
    /// The head row did not match: its size and epoch as they are.
    Refused {
        size: i64,
        epoch: i64,
    },
}

impl LogStore for PgBackend {
    fn next_seq(&self) -> Result<Seq, StoreError> {
        let pool = self.db.pool.clone();
        let next: Option<i64> = self.db.run(async move {
            let c = pool.get().await?;
            let st = c.prepare_cached(sql::NEXT_SEQ).await?;
            Ok(c.query_opt(&st, &[]).await?.map(|r| r.get(0)))
        })?;
        Ok(next.unwrap_or(0) as Seq)
    }

    fn read(&self, seq: Seq) -> Result<Option<Vec<u8>>, StoreError> {
        let pool = self.db.pool.clone();
        let seq = seq_param(seq)?;
        self.db.run(async move {
            let c = pool.get().await?;
            let st = c.prepare_cached(sql::READ_RECORD).await?;
            Ok(c.query_opt(&st, &[&seq]).await?.map(|r| r.get(0)))
        })
    }

    fn read_range(&self, from: Seq, limit: usize) -> Result<Vec<(Seq, Vec<u8>)>, StoreError> {
        let pool = self.db.pool.clone();
        let from = seq_param(from)?;
        let limit = limit.min(MAX_RANGE) as i64;
        self.db.run(async move {
            let c = pool.get().await?;
            let st = c.prepare_cached(sql::READ_RANGE).await?;
            let rows = c.query(&st, &[&from, &limit]).await?;
            Ok(rows
                .iter()
                .map(|r| (r.get::<_, i64>(0) as Seq, r.get::<_, Vec<u8>>(1)))
                .collect())
        })
    }

    fn append_durable(&self, append: Append<'_>) -> Result<(), StoreError> {
        let epoch = self.epoch.load(Ordering::Acquire) as i64;
        if epoch == 0 {
            return Err(StoreError::Fenced(
                "this node does not hold the writer lease".into(),
            ));
        }
        let first = append.records.first().map(|(s, _)| *s);
        for (i, (seq, bytes)) in append.records.iter().enumerate() {
            let expected = first.unwrap_or(0) + i as u64;
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
        let seqs: Vec<i64> = append.records.iter().map(|(s, _)| *s as i64).collect();
        let records: Vec<Vec<u8>> = append.records.iter().map(|(_, r)| r.to_vec()).collect();
        let last_hash = records.last().map(|r| blake3::hash(r).as_bytes().to_vec());
        let (put_keys, put_values, deletes) = key_changes(append.keyring);
        let first = match first {
            Some(f) => Some(seq_param(f)?),
            None => None,
        };
        let pool = self.db.pool.clone();
        let outcome = self.db.run(async move {
            let mut c = pool.get().await?;
            let tx = c.transaction().await?;
            match (first, &last_hash) {
                (Some(first), Some(hash)) => {
                    let st = tx.prepare_cached(sql::ADVANCE_HEAD).await?;
                    let size = first + seqs.len() as i64;
                    if tx.execute(&st, &[&size, &first, hash, &epoch]).await? == 0 {
                        let h = tx.query_one(sql::READ_HEAD, &[]).await?;
                        return Ok(Appended::Refused {
                            size: h.get(0),
                            epoch: h.get(2),
                        });
                    }
                }
                _ => {
                    if tx.query(sql::FENCE, &[&epoch]).await?.is_empty() {
                        let h = tx.query_one(sql::READ_HEAD, &[]).await?;
                        return Ok(Appended::Refused {
                            size: h.get(0),
                            epoch: h.get(2),
                        });
                    }
                }
            }
            if !put_keys.is_empty() {
                tx.execute(sql::PUT_KEYS, &[&put_keys, &put_values]).await?;
            }
            if !deletes.is_empty() {
                tx.execute(sql::DELETE_KEYS, &[&deletes]).await?;
            }
            if !seqs.is_empty() {
                let st = tx.prepare_cached(sql::INSERT_RECORDS).await?;
                tx.execute(&st, &[&seqs, &records]).await?;
            }
            tx.commit().await?;
            Ok(Appended::Done)
        })?;
        match outcome {
            Appended::Done => Ok(()),
            Appended::Refused { epoch: e, .. } if e != epoch => Err(self.fenced(&format!(
                "the writer lease moved to epoch {e} (this node wrote as {epoch})"
            ))),
            Appended::Refused { size, .. } => Err(StoreError::BadAppend(format!(
                "record {} where {size} comes next",
                first.unwrap_or_default()
            ))),
        }
    }

    fn stored_head(&self) -> Result<Option<StoredHead>, StoreError> {
        let pool = self.db.pool.clone();
        let (size, hash): (i64, Vec<u8>) = self.db.run(async move {
            let c = pool.get().await?;
            let r = c.query_one(sql::READ_HEAD, &[]).await?;
            Ok((r.get(0), r.get(1)))
        })?;
        let record_hash = hash.try_into().map_err(|_| StoreError::Corrupt {
            what: "head",
            detail: "record_hash is not 32 bytes".into(),
        })?;
        Ok(Some(StoredHead {
            size: size as Seq,
            record_hash,
        }))
    }

    /// Rewrites the key-ring table (`VACUUM FULL`), so that data keys deleted by a
    /// destroy stop lingering as dead tuples in its files (the WAL and backups keep
    /// them: `docs/POSTGRES.md`).
    fn reclaim_deleted_keys(&self) -> Result<(), StoreError> {
        let pool = self.db.pool.clone();
        self.db.run(async move {
            let c = pool.get().await?;
            c.batch_execute(sql::VACUUM_KEYRING).await?;
            Ok(())
        })
    }

    fn keyring(&self) -> Result<Vec<(KeyRef, Vec<u8>)>, StoreError> {
        let pool = self.db.pool.clone();
        let rows: Vec<(Vec<u8>, Vec<u8>)> = self.db.run(async move {
            let c = pool.get().await?;
            let rows = c.query(sql::READ_KEYRING, &[]).await?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })?;
        rows.into_iter()
            .map(|(k, v)| Ok((KeyRef::from_bytes(&k)?, v)))
            .collect()
    }

    fn meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let pool = self.db.pool.clone();
        let name = name.to_string();
        self.db.run(async move {
            let c = pool.get().await?;
            Ok(c.query_opt(sql::READ_META, &[&name])
                .await?
                .map(|r| r.get(0)))
        })
    }

    fn put_meta_durable(&self, name: &str, value: Option<&[u8]>) -> Result<(), StoreError> {
        let epoch = self.epoch.load(Ordering::Acquire) as i64;
        if epoch == 0 {
            return Err(StoreError::Fenced(
                "this node does not hold the writer lease".into(),
            ));
        }
        let pool = self.db.pool.clone();
        let (name, value) = (name.to_string(), value.map(<[u8]>::to_vec));
        let held = self.db.run(async move {
            let mut c = pool.get().await?;
            let tx = c.transaction().await?;
            if tx.query(sql::FENCE, &[&epoch]).await?.is_empty() {
                return Ok(false);
            }
            match value {
                Some(v) => tx.execute(sql::PUT_META, &[&name, &v]).await?,
                None => tx.execute(sql::DELETE_META, &[&name]).await?,
            };
            tx.commit().await?;
            Ok(true)
        })?;
        if held {
            Ok(())
        } else {
            Err(self.fenced("the writer lease moved to another node"))
        }
    }

    fn snapshot(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.read_snapshot()
    }

    fn put_snapshot_durable(&self, bytes: &[u8]) -> Result<(), StoreError> {
        self.write_snapshot(bytes)
    }
}

fn seq_param(seq: Seq) -> Result<i64, StoreError> {
    i64::try_from(seq).map_err(|_| StoreError::BadAppend(format!("position {seq} out of range")))
}

/// The projections live in the node-local cache.
impl ProjectionStore for PgBackend {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.cache.get(key)
    }

    fn scan(&self, prefix: &[u8], from: &[u8], limit: usize) -> Result<Vec<Entry>, StoreError> {
        self.cache.scan(prefix, from, limit)
    }

    fn watermark(&self) -> Result<Seq, StoreError> {
        self.cache.watermark()
    }

    fn apply(
        &self,
        changes: &[(Vec<u8>, Option<Vec<u8>>)],
        watermark: Seq,
    ) -> Result<(), StoreError> {
        self.cache.apply(changes, watermark)
    }

    fn clear(&self) -> Result<(), StoreError> {
        self.cache.clear()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::Id;

    #[test]
    fn the_last_key_ring_change_per_key_wins() {
        let k = |v| KeyRef {
            credential: Id([1; 16]),
            version: v,
        };
        let ops = [
            KeyOp::Put {
                key: k(1),
                wrapped: vec![1],
            },
            KeyOp::Delete { key: k(1) },
            KeyOp::Delete { key: k(2) },
            KeyOp::Put {
                key: k(2),
                wrapped: vec![2],
            },
        ];
        let (pk, pv, del) = key_changes(&ops);
        assert_eq!(pk, vec![k(2).to_bytes().to_vec()]);
        assert_eq!(pv, vec![vec![2]]);
        assert_eq!(del, vec![k(1).to_bytes().to_vec()]);
    }

    #[test]
    fn unsafe_durability_is_refused_unless_accepted() {
        let d = Durability {
            synchronous_commit: "off".into(),
            fsync: "on".into(),
        };
        let e = check_durability(&d, &PgOptions::default(), "h:5432/db").unwrap_err();
        assert!(e.to_string().contains("synchronous_commit = off"), "{e}");
        let accept = PgOptions {
            accept_lost_commits: true,
            ..PgOptions::default()
        };
        assert!(check_durability(&d, &accept, "h").is_ok());
        let ok = Durability {
            synchronous_commit: "remote_apply".into(),
            fsync: "on".into(),
        };
        assert!(check_durability(&ok, &PgOptions::default(), "h").is_ok());
    }
}
