//! Consistent backups of a ledger, taken while it serves, and their restore.
//!
//! A backup is the ledger's own facts at one durable point N: the log's records `0..N`,
//! the key ring, the key check values, the signed checkpoints of at most N events and the
//! key files (`keys/`). [`Ledger::backup_snapshot`] fixes N under the writer lock once
//! everything staged is durable (writes pause for that moment only): records below N
//! never change, so they are streamed afterwards without the lock, while the server goes
//! on. The key ring and metadata are read at the same moment, so a destroy after N
//! cannot remove a data key the backup's events still need.
//!
//! The file is JSON lines (`credledger-backup/v1`): a header, then `key_file`, `keyring`,
//! `meta`, `checkpoint` and `record` lines, then `log_checkpoint` (a tenant log's
//! checkpoint: `origin`, `size`, `note`) and `cosignatures` (a checkpoint's witness
//! cosignature lines: `origin`, `size`, `lines`) lines (bytes in base64), then an `end`
//! line with the count and a BLAKE3 digest of every line before it. The tenant
//! checkpoints carried are those of tenant trees no larger than the tenant's events among
//! the records carried; the cosignatures, those of every checkpoint carried. [`restore`] refuses a file whose
//! end line is missing or wrong, and writes into an empty directory only.
//!
//! **Invariant:** a backup holds the key files, so it is as secret as the data directory:
//! it is written with mode 0600 and never logged.

use super::{Ledger, LedgerError};
use crate::store::{self, Append, Backend, KeyOp, KeyRef};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// The first line's `format`.
pub const BACKUP_FORMAT: &str = "credledger-backup/v1";

/// The key files carried (those present in `keys/`).
const KEY_FILES: &[&str] = &["signing.key", "master.keys", "token.key"];

/// What a backup holds besides the records, fixed at one durable point.
pub struct Snapshot {
    pub size: u64,
    pub head_hash: [u8; 32],
    pub keyring: Vec<(KeyRef, Vec<u8>)>,
    pub metas: Vec<(String, Vec<u8>)>,
    pub checkpoints: Vec<(u64, Vec<u8>)>,
}

/// One line of the file.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Line {
    Header {
        format: String,
        size: u64,
        head_hash: String,
        taken_at_ms: i64,
    },
    KeyFile {
        name: String,
        data: String,
    },
    Keyring {
        key: String,
        value: String,
    },
    Meta {
        name: String,
        value: String,
    },
    Checkpoint {
        size: u64,
        note: String,
    },
    Record {
        seq: u64,
        data: String,
    },
    LogCheckpoint {
        origin: String,
        size: u64,
        note: String,
    },
    Cosignatures {
        origin: String,
        size: u64,
        lines: String,
    },
    End {
        records: u64,
        digest: String,
    },
}

/// What a written or restored backup covers.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Summary {
    pub events: u64,
    pub keyring: usize,
    pub checkpoints: usize,
    /// Tenant log checkpoints.
    pub log_checkpoints: usize,
    /// Checkpoints (global or tenant) with cosignature lines.
    pub cosignatures: usize,
}

fn io_err(e: impl std::fmt::Display) -> LedgerError {
    LedgerError::Startup(format!("backup: {e}"))
}

impl Ledger {
    /// Fixes a consistent point: waits (holding the writer lock, at most 30 s) until every
    /// staged event is durable, then reads the key ring, key checks and checkpoints.
    pub fn backup_snapshot(&self) -> Result<Snapshot, LedgerError> {
        let w = self.lock();
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.commit_stats().durable < w.next_seq {
            self.writable()?;
            if Instant::now() > deadline {
                return Err(io_err("the commit queue did not drain within 30 s"));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let size = w.next_seq;
        let head_hash = w.last_hash;
        let keyring = self.store.keyring()?;
        let mut metas = Vec::new();
        let mut names = vec![super::keycheck::TOKEN_CHECK.to_string()];
        names.extend(
            w.masters
                .ids()
                .into_iter()
                .map(super::keycheck::master_check),
        );
        names.push(crate::integrity::HEAD_MARKER.to_string());
        for name in names {
            if let Some(v) = self.store.meta(&name)? {
                metas.push((name, v));
            }
        }
        let checkpoints = self
            .store
            .checkpoints()?
            .into_iter()
            .filter(|(s, _)| *s <= size)
            .collect();
        drop(w);
        Ok(Snapshot {
            size,
            head_hash,
            keyring,
            metas,
            checkpoints,
        })
    }

    /// Writes a consistent backup to `out` (see the module documentation).
    pub fn write_backup(&self, out: &mut dyn Write) -> Result<Summary, LedgerError> {
        let snap = self.backup_snapshot()?;
        write(
            &*self.store,
            &self.config.data_dir,
            &snap,
            self.now_ms(),
            out,
        )
    }
}

/// A writer that hashes every line it writes.
struct Hashed<'a> {
    out: &'a mut dyn Write,
    hash: blake3::Hasher,
}

impl Hashed<'_> {
    fn line(&mut self, line: &Line) -> Result<(), LedgerError> {
        let mut bytes = serde_json::to_vec(line).map_err(io_err)?;
        bytes.push(b'\n');
        self.hash.update(&bytes);
        self.out.write_all(&bytes).map_err(io_err)
    }
}

/// Writes the backup of `snap` from `store` (records `0..snap.size`) and the key files of
/// `data`.
pub fn write(
    store: &dyn Backend,
    data: &Path,
    snap: &Snapshot,
    now_ms: i64,
    out: &mut dyn Write,
) -> Result<Summary, LedgerError> {
    let mut h = Hashed {
        out,
        hash: blake3::Hasher::new(),
    };
    h.line(&Line::Header {
        format: BACKUP_FORMAT.into(),
        size: snap.size,
        head_hash: hex::encode(snap.head_hash),
        taken_at_ms: now_ms,
    })?;
    for name in KEY_FILES {
        let path = crate::keys::key_dir(data).join(name);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let bytes = zeroize::Zeroizing::new(bytes);
                h.line(&Line::KeyFile {
                    name: name.to_string(),
                    data: B64.encode(&*bytes),
                })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(format!("{}: {e}", path.display()))),
        }
    }
    for (k, v) in &snap.keyring {
        h.line(&Line::Keyring {
            key: B64.encode(k.to_bytes()),
            value: B64.encode(v),
        })?;
    }
    for (name, v) in &snap.metas {
        h.line(&Line::Meta {
            name: name.clone(),
            value: B64.encode(v),
        })?;
    }
    for (size, note) in &snap.checkpoints {
        h.line(&Line::Checkpoint {
            size: *size,
            note: B64.encode(note),
        })?;
    }
    let mut n = 0;
    for r in store::records(store.log(), 0) {
        let (seq, rec) = r?;
        if seq >= snap.size {
            break;
        }
        h.line(&Line::Record {
            seq,
            data: B64.encode(&rec),
        })?;
        n += 1;
    }
    if n != snap.size {
        return Err(io_err(format!(
            "the log holds {n} events below the snapshot's {}",
            snap.size
        )));
    }
    let side = snapshot_side_data(store, snap)?;
    for (origin, size, note) in &side.log_checkpoints {
        h.line(&Line::LogCheckpoint {
            origin: origin.clone(),
            size: *size,
            note: B64.encode(note),
        })?;
    }
    for (origin, size, lines) in &side.cosignatures {
        h.line(&Line::Cosignatures {
            origin: origin.clone(),
            size: *size,
            lines: B64.encode(lines),
        })?;
    }
    let digest = h.hash.finalize().to_hex().to_string();
    h.line(&Line::End { records: n, digest })?;
    h.out.flush().map_err(io_err)?;
    Ok(Summary {
        events: n,
        keyring: snap.keyring.len(),
        checkpoints: snap.checkpoints.len(),
        log_checkpoints: side.log_checkpoints.len(),
        cosignatures: side.cosignatures.len(),
    })
}

/// The tenant checkpoints and cosignatures that belong with the snapshot's records and
/// checkpoints (see `proof::side`).
fn snapshot_side_data(
    store: &dyn Backend,
    snap: &Snapshot,
) -> Result<crate::proof::side::SideData, LedgerError> {
    if snap.size == 0 {
        return Ok(Default::default());
    }
    let (origin, _) = crate::proof::genesis(store).map_err(io_err)?;
    let tenants = crate::proof::side::tenant_sizes(store, snap.size).map_err(io_err)?;
    let sizes: Vec<u64> = snap.checkpoints.iter().map(|(s, _)| *s).collect();
    Ok(crate::proof::side::side_data(
        store, &origin, &tenants, &sizes,
    )?)
}

fn b64(s: &str) -> Result<Vec<u8>, LedgerError> {
    B64.decode(s).map_err(|_| io_err("a value is not base64"))
}

/// Restores a backup into `data`, which must not hold a ledger. Checks the file's digest
/// and completeness only; the caller verifies the restored ledger (open, replay).
#[allow(
    clippy::too_many_lines,
    reason = "the backup file is read in its format's order (header, records, key files, key ring, metadata, checkpoints, end line) in one pass, each line checked as it arrives"
)]
pub fn restore(input: &mut dyn BufRead, data: &Path) -> Result<Summary, LedgerError> {
    if data.join("ledger").exists() {
        return Err(io_err(format!("{} already holds a ledger", data.display())));
    }
    std::fs::create_dir_all(data).map_err(io_err)?;
    let backend = store::open_default(data)?;
    let mut hash = blake3::Hasher::new();
    let (mut size, mut head_hash, mut ended) = (None, [0u8; 32], None);
    let (mut keyring, mut checkpoints, mut records) = (0, 0, 0u64);
    let (mut log_checkpoints, mut cosignatures) = (0, 0);
    let mut batch: Vec<(u64, Vec<u8>)> = Vec::new();
    let flush = |batch: &mut Vec<(u64, Vec<u8>)>| -> Result<(), LedgerError> {
        let borrowed: Vec<(u64, &[u8])> = batch.iter().map(|(s, r)| (*s, r.as_slice())).collect();
        backend.append_durable(Append {
            keyring: &[],
            records: &borrowed,
        })?;
        batch.clear();
        Ok(())
    };
    let mut buf = String::new();
    loop {
        buf.clear();
        if input.read_line(&mut buf).map_err(io_err)? == 0 {
            break;
        }
        if ended.is_some() {
            return Err(io_err("data after the end line"));
        }
        let line: Line =
            serde_json::from_str(&buf).map_err(|_| io_err("a line is not a backup line"))?;
        if let Line::End { records: n, digest } = &line {
            if *digest != hash.finalize().to_hex().to_string() {
                return Err(io_err("the digest does not match: the file is damaged"));
            }
            ended = Some(*n);
            continue;
        }
        hash.update(buf.as_bytes());
        match line {
            Line::Header {
                format,
                size: s,
                head_hash: hh,
                ..
            } => {
                if format != BACKUP_FORMAT {
                    return Err(io_err(format!("unknown format {format}")));
                }
                size = Some(s);
                let bytes = hex::decode(hh).map_err(io_err)?;
                head_hash = bytes.try_into().map_err(|_| io_err("bad head hash"))?;
            }
            _ if size.is_none() => return Err(io_err("the header line is missing")),
            Line::KeyFile { name, data: d } => {
                if !KEY_FILES.contains(&name.as_str()) {
                    return Err(io_err(format!("unexpected key file {name}")));
                }
                let bytes = zeroize::Zeroizing::new(b64(&d)?);
                let path = crate::keys::key_dir(data).join(&name);
                crate::keys::write_private(&path, &bytes).map_err(io_err)?;
            }
            Line::Keyring { key, value } => {
                let key = KeyRef::from_bytes(&b64(&key)?)?;
                backend.append_durable(Append {
                    keyring: &[KeyOp::Put {
                        key,
                        wrapped: b64(&value)?,
                    }],
                    records: &[],
                })?;
                keyring += 1;
            }
            Line::Meta { name, value } => backend.put_meta_durable(&name, Some(&b64(&value)?))?,
            Line::Checkpoint { size, note } => {
                backend.insert_checkpoint_durable(size, &b64(&note)?)?;
                checkpoints += 1;
            }
            Line::Record { seq, data: d } => {
                if seq != records {
                    return Err(io_err(format!(
                        "record {seq} out of order (expected {records})"
                    )));
                }
                batch.push((seq, b64(&d)?));
                records += 1;
                if batch.len() >= 1024 {
                    flush(&mut batch)?;
                }
            }
            Line::LogCheckpoint { origin, size, note } => {
                let note = b64(&note)?;
                if backend.insert_log_checkpoint_durable(&origin, size, &note)? != note {
                    return Err(io_err(format!(
                        "two checkpoints of {origin} at size {size}"
                    )));
                }
                log_checkpoints += 1;
            }
            Line::Cosignatures {
                origin,
                size,
                lines,
            } => {
                backend.put_cosignatures_durable(&origin, size, &b64(&lines)?)?;
                cosignatures += 1;
            }
            Line::End { .. } => unreachable!(),
        }
    }
    flush(&mut batch)?;
    let size = size.ok_or_else(|| io_err("the file is empty"))?;
    match ended {
        Some(n) if n == records && n == size => {}
        Some(_) => return Err(io_err("the record count does not match the header")),
        None => return Err(io_err("the end line is missing: the file is truncated")),
    }
    drop(backend);
    if size > 0 {
        crate::store::head::HeadFile::open(
            data,
            crate::store::head::Head {
                size,
                hash: head_hash,
            },
        )
        .map_err(io_err)?;
    }
    Ok(Summary {
        events: records,
        keyring,
        checkpoints,
        log_checkpoints,
        cosignatures,
    })
}
