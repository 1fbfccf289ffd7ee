//! `credledger migrate`: copy a ledger from one store to another (embedded sled ↔
//! PostgreSQL), byte for byte, then verify the target fully.
//!
//! What is copied: the log (every record's exact bytes, at the same positions), the key
//! ring (wrapped data keys), the key check values, the issued checkpoints, the tenant
//! logs' checkpoints and every checkpoint's witness cosignatures. What is
//! not: the projections (rebuilt from the log by the target's first open) and the keys
//! themselves (files or environment, never in a store).
//!
//! **Invariants:**
//! - the source is only read;
//! - the target either is empty or holds a prefix of the source, byte for byte (an
//!   interrupted migration): the copy resumes after it; anything else is refused before
//!   anything is written;
//! - the key ring reaches the target in the same durable append as the first records
//!   copied (so no record is durable without its data key), and is made equal to the
//!   source's;
//! - the migration succeeds only after the target was read back and verified whole:
//!   same records, every hash link and signature, the head, the checkpoints' roots, the
//!   key ring and the check values, the tenant checkpoints (byte for byte, their roots
//!   against the tenant trees rebuilt from the log, their signatures) and the
//!   cosignatures (byte for byte).

use crate::event::SignedEvent;
use crate::integrity::{self, Roots};
use crate::replay;
use crate::store::{Append, Backend, KeyOp, KeyRef, StoreError};
use std::collections::BTreeMap;
use std::path::Path;

/// Records per durable append (one transaction on PostgreSQL).
const BATCH: usize = 1024;

/// The metadata the ledger keeps that moves with the log (key check values, the head
/// marker). Master-key ids are small and increasing; ids past the key ring's are tried
/// up to this bound.
const MAX_MASTER_ID: u32 = 256;

/// What a migration did.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    /// Records in the source (and now in the target).
    pub records: u64,
    /// Records the target held already (a resumed migration).
    pub resumed_at: u64,
    pub keys: usize,
    pub checkpoints: usize,
    /// Tenant log checkpoints copied (and verified).
    pub log_checkpoints: usize,
    /// Checkpoints (global or tenant) whose cosignature lines were copied.
    pub cosignatures: usize,
    /// The Merkle root of the whole log (hex), the same on both.
    pub root: String,
}

/// Why a migration failed.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the target holds {target} records, more than the source's {source_len}: refusing (it is another ledger or a newer copy)")]
    TargetLonger { target: u64, source_len: u64 },
    #[error("the target's record {0} differs from the source's: it is another ledger; refusing")]
    Diverged(u64),
    #[error("the source is incomplete or broken: {0}")]
    Source(String),
    #[error("verification of the target failed: {0}")]
    Verify(String),
}

/// The ledger metadata names to copy.
fn meta_names(source: &dyn Backend) -> Result<Vec<String>, StoreError> {
    let mut ids: std::collections::BTreeSet<u32> = (1..=MAX_MASTER_ID).collect();
    for (_, w) in source.keyring()? {
        if w.len() >= 4 {
            ids.insert(u32::from_le_bytes(w[..4].try_into().unwrap_or_default()));
        }
    }
    let mut names = vec![
        integrity::HEAD_MARKER.to_string(),
        "key-check/token".to_string(),
    ];
    names.extend(ids.into_iter().map(|id| format!("key-check/master/{id}")));
    Ok(names)
}

/// Copies `source` into `target` and verifies it (see the module documentation).
/// `source_dir` is the source's data directory (its head file, for an embedded
/// source); `target_dir`, when the target is embedded, receives its head file.
pub fn migrate(
    source: &dyn Backend,
    source_dir: &Path,
    target: &dyn Backend,
    target_dir: Option<&Path>,
    mut progress: impl FnMut(u64, u64),
) -> Result<Report, MigrateError> {
    let total = source.next_seq()?;
    integrity::check_log(source, total, source_dir)
        .map_err(|e| MigrateError::Source(e.to_string()))?;
    let have = target.next_seq()?;
    if have > total {
        return Err(MigrateError::TargetLonger {
            target: have,
            source_len: total,
        });
    }
    // A resumed migration: the target must be a prefix of the source.
    let mut pos = 0;
    while pos < have {
        let (a, b) = (
            source.read_range(pos, BATCH)?,
            target.read_range(pos, BATCH)?,
        );
        for ((s, x), (t, y)) in a.iter().zip(b.iter()) {
            if s != t || x != y {
                return Err(MigrateError::Diverged(*s));
            }
        }
        if a.is_empty() || b.is_empty() {
            break;
        }
        pos += a.len().min(b.len()) as u64;
    }
    // The key ring: make the target's equal to the source's, with the first append.
    let want: BTreeMap<KeyRef, Vec<u8>> = source.keyring()?.into_iter().collect();
    let mut keyring: Vec<KeyOp> = target
        .keyring()?
        .into_iter()
        .filter(|(k, _)| !want.contains_key(k))
        .map(|(key, _)| KeyOp::Delete { key })
        .collect();
    keyring.extend(want.iter().map(|(key, w)| KeyOp::Put {
        key: *key,
        wrapped: w.clone(),
    }));
    let mut next = have;
    let mut last: Option<Vec<u8>> = None;
    loop {
        let chunk = source.read_range(next, BATCH)?;
        if chunk.is_empty() && keyring.is_empty() {
            break;
        }
        let records: Vec<(u64, &[u8])> = chunk.iter().map(|(s, r)| (*s, r.as_slice())).collect();
        target.append_durable(Append {
            records: &records,
            keyring: &keyring,
        })?;
        keyring.clear();
        next += chunk.len() as u64;
        if let Some((_, r)) = chunk.last() {
            last = Some(r.clone());
        }
        progress(next, total);
        if chunk.is_empty() {
            break;
        }
    }
    for name in meta_names(source)? {
        let value = source.meta(&name)?;
        if value.is_some() && target.meta(&name)? != value {
            target.put_meta_durable(&name, value.as_deref())?;
        }
    }
    let checkpoints = source.checkpoints()?;
    for (size, note) in &checkpoints {
        let stored = target.insert_checkpoint_durable(*size, note)?;
        if stored != *note {
            return Err(MigrateError::Verify(format!(
                "the target already holds a different checkpoint at size {size}"
            )));
        }
    }
    copy_side_data(source, target)?;
    if let Some(dir) = target_dir {
        write_head_file(target, dir, total, last)?;
    }
    verify(source, target, target_dir.unwrap_or(source_dir), have)
}

/// Copies the tenant log checkpoints and the cosignatures (see `proof::side`).
fn copy_side_data(source: &dyn Backend, target: &dyn Backend) -> Result<(), MigrateError> {
    let side = crate::proof::side::stored_side_data(source).map_err(MigrateError::Source)?;
    for (origin, size, note) in &side.log_checkpoints {
        if target.insert_log_checkpoint_durable(origin, *size, note)? != *note {
            return Err(MigrateError::Verify(format!(
                "the target already holds a different checkpoint of {origin} at size {size}"
            )));
        }
    }
    for (origin, size, lines) in &side.cosignatures {
        if target.cosignatures(origin, *size)?.as_ref() != Some(lines) {
            target.put_cosignatures_durable(origin, *size, lines)?;
        }
    }
    Ok(())
}

/// An embedded target keeps its head record in its data directory.
fn write_head_file(
    target: &dyn Backend,
    dir: &Path,
    total: u64,
    last: Option<Vec<u8>>,
) -> Result<(), MigrateError> {
    let last = match (last, total) {
        (Some(r), _) => Some(r),
        (None, 0) => None,
        (None, n) => target.read(n - 1)?,
    };
    let hash = match last {
        Some(r) => *SignedEvent::from_record(&r)
            .map_err(|e| MigrateError::Verify(format!("record {}: {e}", total - 1)))?
            .hash(),
        None => [0; 32],
    };
    crate::store::head::HeadFile::open(dir, crate::store::head::Head { size: total, hash })
        .map_err(|e| MigrateError::Verify(e.to_string()))?;
    if target.meta(integrity::HEAD_MARKER)?.is_none() {
        target.put_meta_durable(integrity::HEAD_MARKER, Some(b"v1"))?;
    }
    Ok(())
}

/// Reads the target back whole and compares it with the source.
fn verify(
    source: &dyn Backend,
    target: &dyn Backend,
    target_dir: &Path,
    resumed_at: u64,
) -> Result<Report, MigrateError> {
    let fail = |s: String| MigrateError::Verify(s);
    let total = source.next_seq()?;
    if target.next_seq()? != total {
        return Err(fail(format!(
            "the target holds {} records, the source {total}",
            target.next_seq()?
        )));
    }
    integrity::check_log(target, total, target_dir).map_err(|e| fail(e.to_string()))?;
    let report = replay::verify(target.records(0), None, |_| {});
    if let Some(f) = &report.failure {
        return Err(fail(format!("event {}: {}", f.seq, f.problem)));
    }
    if report.verified != total {
        return Err(fail(format!(
            "{} of {total} events verified",
            report.verified
        )));
    }
    let signed: Vec<(u64, crate::merkle::Hash)> = crate::proof::stored_checkpoints(target)
        .map_err(|e| fail(e.to_string()))?
        .into_iter()
        .map(|c| (c.tree_size, c.root))
        .collect();
    let mut roots = Roots::new(signed);
    let origin = match total {
        0 => String::new(),
        _ => {
            crate::proof::genesis(target)
                .map_err(|e| fail(e.to_string()))?
                .0
        }
    };
    let mut tenant_roots = crate::proof::side::TenantRoots::new(target, &origin);
    let mut pos = 0;
    loop {
        let (a, b) = (
            source.read_range(pos, BATCH)?,
            target.read_range(pos, BATCH)?,
        );
        if a != b {
            let at = a
                .iter()
                .zip(b.iter())
                .find(|(x, y)| x != y)
                .map_or(pos, |(x, _)| x.0);
            return Err(fail(format!("record {at} differs from the source's")));
        }
        if a.is_empty() {
            break;
        }
        for (_, r) in &a {
            roots.push(r);
            tenant_roots.push(r);
        }
        pos += a.len() as u64;
    }
    let root = hex::encode(roots.root());
    let (_, mismatches) = roots.finish();
    if let Some(m) = mismatches.first() {
        return Err(fail(format!(
            "the checkpoint at size {} signs root {}, the log's is {}",
            m.size, m.signed, m.log
        )));
    }
    let keys = source.keyring()?;
    if target.keyring()? != keys {
        return Err(fail("the key ring differs from the source's".into()));
    }
    for name in meta_names(source)? {
        if let Some(v) = source.meta(&name)? {
            if target.meta(&name)?.as_deref() != Some(v.as_slice()) {
                return Err(fail(format!("metadata {name} differs from the source's")));
            }
        }
    }
    let checkpoints = source.checkpoints()?;
    if target.checkpoints()? != checkpoints {
        return Err(fail("the checkpoints differ from the source's".into()));
    }
    let chain = crate::proof::side::chain_keys(&report.keys).map_err(fail)?;
    tenant_roots.finish(&chain).map_err(fail)?;
    let side = crate::proof::side::stored_side_data(source).map_err(MigrateError::Source)?;
    if crate::proof::side::stored_side_data(target).map_err(fail)? != side {
        return Err(fail(
            "the tenant checkpoints or the cosignatures differ from the source's".into(),
        ));
    }
    Ok(Report {
        records: total,
        resumed_at,
        keys: keys.len(),
        checkpoints: checkpoints.len(),
        log_checkpoints: side.log_checkpoints.len(),
        cosignatures: side.cosignatures.len(),
        root,
    })
}
