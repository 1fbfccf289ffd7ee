//! What a checkpoint store keeps beside the global checkpoints, for the tools that copy a
//! ledger (backup, restore, `migrate`): the tenant logs' checkpoints and the witness
//! cosignature lines of every checkpoint (global and tenant). Listing them for a copy,
//! and checking a copy: every tenant checkpoint's root against the tenant tree rebuilt
//! from the log, and its signature under a ledger key of the log's key chain.
//!
//! **Invariant:** the tenants are found in the log itself (never in the projections,
//! which a copy does not carry), so a copy's side data is listed the same way on the
//! source and on the target.

use super::tenant::tenant_origin;
use crate::event::SignedEvent;
use crate::id::Id;
use crate::integrity::Roots;
use crate::merkle::Hash;
use crate::projection::tree_tenant;
use crate::store::{Backend, CheckpointStore, LogStore, StoreError};
use ed25519_dalek::VerifyingKey;
use std::collections::BTreeMap;

/// A tenant log's checkpoint or a cosignature set: `(origin, size, bytes)`.
pub type Item = (String, u64, Vec<u8>);

/// The side data of a store, in a stable order (origin, then size).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SideData {
    /// Tenant log checkpoints (notes, byte for byte).
    pub log_checkpoints: Vec<Item>,
    /// Cosignature lines, byte for byte, of global and tenant checkpoints.
    pub cosignatures: Vec<Item>,
}

/// The tenant (if any) whose tree `record` is a leaf of.
fn record_tenant(seq: u64, record: &[u8]) -> Result<Option<Id>, String> {
    let e = SignedEvent::from_record(record).map_err(|e| format!("record {seq}: {e}"))?;
    Ok(tree_tenant(e.event()))
}

/// The number of leaves of each tenant's tree among the records `0..below`.
pub fn tenant_sizes(log: &dyn LogStore, below: u64) -> Result<BTreeMap<Id, u64>, String> {
    let mut out = BTreeMap::new();
    for r in crate::store::records(log, 0) {
        let (seq, rec) = r.map_err(|e| e.to_string())?;
        if seq >= below {
            break;
        }
        if let Some(t) = record_tenant(seq, &rec)? {
            *out.entry(t).or_insert(0) += 1;
        }
    }
    Ok(out)
}

/// The side data of `store` for a log of origin `origin` whose tenants' trees have
/// `tenants` leaves (tenant checkpoints beyond them are left out) and whose global
/// checkpoints have `global_sizes`.
pub fn side_data(
    store: &dyn CheckpointStore,
    origin: &str,
    tenants: &BTreeMap<Id, u64>,
    global_sizes: &[u64],
) -> Result<SideData, StoreError> {
    let mut out = SideData::default();
    for size in global_sizes {
        if let Some(lines) = store.cosignatures(origin, *size)? {
            out.cosignatures.push((origin.to_string(), *size, lines));
        }
    }
    for (tenant, leaves) in tenants {
        let name = tenant_origin(origin, *tenant);
        for (size, note) in store.log_checkpoints(&name)? {
            if size > *leaves {
                continue;
            }
            if let Some(lines) = store.cosignatures(&name, size)? {
                out.cosignatures.push((name.clone(), size, lines));
            }
            out.log_checkpoints.push((name.clone(), size, note));
        }
    }
    Ok(out)
}

/// The side data of a whole stored ledger (all its records and global checkpoints).
pub fn stored_side_data(store: &dyn Backend) -> Result<SideData, String> {
    let total = store.next_seq().map_err(|e| e.to_string())?;
    if total == 0 {
        return Ok(SideData::default());
    }
    let (origin, _) = super::genesis(store).map_err(|e| e.to_string())?;
    let tenants = tenant_sizes(store, total)?;
    let sizes: Vec<u64> = store
        .checkpoints()
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    side_data(store, &origin, &tenants, &sizes).map_err(|e| e.to_string())
}

/// One tenant tree being rebuilt, and its stored checkpoints `(size, note)`.
type Tree = (Roots, Vec<(u64, Vec<u8>)>);

/// Follows a log's records (in order, from 0) and checks every stored tenant checkpoint
/// of `store` against the tenant tree rebuilt from them.
pub struct TenantRoots<'a> {
    store: &'a dyn CheckpointStore,
    origin: String,
    trees: BTreeMap<Id, Tree>,
    seq: u64,
    error: Option<String>,
}

/// What [`TenantRoots::finish`] established.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TenantCheck {
    pub tenants: usize,
    pub checkpoints: usize,
}

impl<'a> TenantRoots<'a> {
    pub fn new(store: &'a dyn CheckpointStore, origin: &str) -> TenantRoots<'a> {
        TenantRoots {
            store,
            origin: origin.to_string(),
            trees: BTreeMap::new(),
            seq: 0,
            error: None,
        }
    }

    /// Appends the next record of the log.
    pub fn push(&mut self, record: &[u8]) {
        let seq = self.seq;
        self.seq += 1;
        if self.error.is_some() {
            return;
        }
        let tenant = match record_tenant(seq, record) {
            Ok(Some(t)) => t,
            Ok(None) => return,
            Err(e) => return self.error = Some(e),
        };
        if !self.trees.contains_key(&tenant) {
            match self.expected(tenant) {
                Ok(v) => {
                    self.trees.insert(tenant, v);
                }
                Err(e) => return self.error = Some(e),
            }
        }
        if let Some((roots, _)) = self.trees.get_mut(&tenant) {
            roots.push(record);
        }
    }

    fn expected(&self, tenant: Id) -> Result<Tree, String> {
        let name = tenant_origin(&self.origin, tenant);
        let notes = self
            .store
            .log_checkpoints(&name)
            .map_err(|e| e.to_string())?;
        let mut roots: Vec<(u64, Hash)> = Vec::new();
        for (size, note) in &notes {
            let cp = super::parse_stored(*size, note).map_err(|e| format!("{name}: {e}"))?;
            roots.push((*size, cp.root));
        }
        Ok((Roots::new(roots), notes))
    }

    /// Checks the roots and that every tenant checkpoint is signed, under its tenant
    /// log's origin, by a key of `chain` (the log's key chain).
    pub fn finish(self, chain: &[VerifyingKey]) -> Result<TenantCheck, String> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let mut check = TenantCheck {
            tenants: self.trees.len(),
            checkpoints: 0,
        };
        for (tenant, (roots, notes)) in self.trees {
            let name = tenant_origin(&self.origin, tenant);
            let (checked, mismatches) = roots.finish();
            if let Some(m) = mismatches.first() {
                return Err(format!(
                    "the checkpoint of size {} of {name} signs root {}, the tenant tree's is {}",
                    m.size, m.signed, m.log
                ));
            }
            if checked as usize != notes.len() {
                return Err(format!(
                    "{name} has a checkpoint larger than its tree in the log"
                ));
            }
            let keys: Vec<(String, VerifyingKey)> =
                chain.iter().map(|k| (name.clone(), *k)).collect();
            for (size, note) in &notes {
                let text = std::str::from_utf8(note)
                    .map_err(|_| format!("the checkpoint of size {size} of {name} is not UTF-8"))?;
                crate::note::verify_checkpoint_with(text, &keys).map_err(|e| {
                    format!("the checkpoint of size {size} of {name} does not verify under the ledger's keys ({e})")
                })?;
            }
            check.checkpoints += notes.len();
        }
        Ok(check)
    }
}

/// The key chain of a replay report (`(from, hex key)`), as keys.
pub fn chain_keys(keys: &[(u64, String)]) -> Result<Vec<VerifyingKey>, String> {
    keys.iter()
        .map(|(from, k)| {
            let bytes: [u8; 32] = hex::decode(k)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| format!("the key from {from} is not 32 bytes"))?;
            VerifyingKey::from_bytes(&bytes)
                .map_err(|_| format!("the key from {from} is not ed25519"))
        })
        .collect()
}
