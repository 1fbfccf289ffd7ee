//! Proofs of a tenant's own log: its RFC 9162 tree (the tenant's events, in log order;
//! see `projection::tenant_tree`), its C2SP checkpoints, inclusion and consistency
//! proofs.
//!
//! The tenant log's origin is `<ledger origin>/tenant/<tenant id>` (the id as a
//! lower-case hyphenated UUID), e.g. `credledger.example/ledger-1/tenant/0192…`; its
//! checkpoints are signed by the ledger's key in force at the global tree size when they
//! were made, under that origin as the key name (so its verifier key differs from the
//! global one only in name and key ID). A tenant checkpoint is made whenever a global one
//! is made, for each tenant whose tree grew since its last one.
//!
//! **Invariant:** a tenant leaf is the global leaf: the same stored record bytes, so the
//! same leaf hash. The record carries its own global sequence number.

use super::{
    genesis, key_at, parse_stored, tree_size, CheckpointSigner, ConsistencyProof, InclusionProof,
    ProofError, SignedCheckpoint,
};
use crate::id::Id;
use crate::merkle::{self, Hash};
use crate::note::{self, Checkpoint};
use crate::projection::{self, TenantNodes};
use crate::store::{Backend, ProjectionStore};
use ed25519_dalek::VerifyingKey;

/// The origin of `tenant`'s log in a ledger of origin `origin`.
pub fn tenant_origin(origin: &str, tenant: Id) -> String {
    format!("{origin}/tenant/{tenant}")
}

/// The number of leaves of `tenant`'s tree.
pub fn tenant_size(proj: &dyn ProjectionStore, tenant: Id) -> Result<u64, ProofError> {
    Ok(projection::tenant_tree_size(proj, tenant)?)
}

fn check_size(proj: &dyn ProjectionStore, tenant: Id, size: u64) -> Result<(), ProofError> {
    let tree_size = tenant_size(proj, tenant)?;
    if size > tree_size {
        return Err(ProofError::SizeTooLarge { size, tree_size });
    }
    Ok(())
}

/// The root of the first `size` leaves of `tenant`'s tree.
pub fn tenant_root(proj: &dyn ProjectionStore, tenant: Id, size: u64) -> Result<Hash, ProofError> {
    check_size(proj, tenant, size)?;
    Ok(merkle::root(size, &TenantNodes { proj, tenant })?)
}

/// The inclusion proof of leaf `index` in `tenant`'s tree of `size` leaves.
pub fn tenant_inclusion(
    proj: &dyn ProjectionStore,
    tenant: Id,
    index: u64,
    size: u64,
) -> Result<InclusionProof, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    check_size(proj, tenant, size)?;
    let audit_path = merkle::inclusion_proof(index, size, &TenantNodes { proj, tenant })
        .map_err(super::from_merkle)?;
    Ok(InclusionProof {
        leaf_index: index,
        tree_size: size,
        audit_path,
    })
}

/// The consistency proof between `tenant`'s trees of `old` and `new` leaves.
pub fn tenant_consistency(
    proj: &dyn ProjectionStore,
    tenant: Id,
    old: u64,
    new: u64,
) -> Result<ConsistencyProof, ProofError> {
    if old > new {
        return Err(ProofError::OldAfterNew { old, new });
    }
    if old == 0 {
        return Err(ProofError::OldSizeZero);
    }
    check_size(proj, tenant, new)?;
    let consistency = merkle::consistency_proof(old, new, &TenantNodes { proj, tenant })
        .map_err(super::from_merkle)?;
    Ok(ConsistencyProof {
        old_size: old,
        new_size: new,
        consistency,
    })
}

/// Leaf `index` of `tenant`'s tree: its global sequence number and its bytes (the
/// stored record).
pub fn tenant_leaf(
    store: &dyn Backend,
    tenant: Id,
    index: u64,
) -> Result<(u64, Vec<u8>), ProofError> {
    let size = tenant_size(store, tenant)?;
    let seq = projection::tenant_leaf_seq(store, tenant, index)?
        .ok_or(ProofError::IndexOutOfRange { index, size })?;
    let record = store.read(seq)?.ok_or(ProofError::Integrity {
        seq,
        detail: "the event is missing".into(),
    })?;
    Ok((seq, record))
}

/// The index in `tenant`'s tree of the event of global sequence number `seq`, if it is a
/// leaf of that tree (a binary search: the leaves are in log order).
pub fn tenant_index_of(
    store: &dyn Backend,
    tenant: Id,
    seq: u64,
) -> Result<Option<u64>, ProofError> {
    let (mut lo, mut hi) = (0, tenant_size(store, tenant)?);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let at = projection::tenant_leaf_seq(store, tenant, mid)?.ok_or(ProofError::Integrity {
            seq,
            detail: format!("tenant leaf {mid} is missing"),
        })?;
        match at.cmp(&seq) {
            std::cmp::Ordering::Equal => return Ok(Some(mid)),
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
        }
    }
    Ok(None)
}

/// Proves event `seq` (global sequence number) in `tenant`'s tree against the tenant
/// checkpoint `cp`: the leaf bytes, its tenant leaf index and the inclusion proof.
pub fn prove_tenant_event_at(
    store: &dyn Backend,
    tenant: Id,
    cp: &SignedCheckpoint,
    seq: u64,
) -> Result<super::EventProof, ProofError> {
    let not_in = ProofError::NoSuchEvent {
        seq,
        tree_size: cp.tree_size,
    };
    let index = tenant_index_of(store, tenant, seq)?.ok_or(not_in)?;
    if index >= cp.tree_size {
        return Err(ProofError::NoSuchEvent {
            seq,
            tree_size: cp.tree_size,
        });
    }
    let (_, leaf) = tenant_leaf(store, tenant, index)?;
    let p = tenant_inclusion(store, tenant, index, cp.tree_size)?;
    Ok(super::EventProof {
        seq,
        leaf,
        leaf_index: index,
        tree_size: cp.tree_size,
        audit_path: p.audit_path,
        checkpoint: cp.note.clone(),
    })
}

/// The stored checkpoints of `tenant`'s log, by ascending size.
pub fn tenant_checkpoints(
    store: &dyn Backend,
    tenant: Id,
) -> Result<Vec<SignedCheckpoint>, ProofError> {
    let (origin, _) = genesis(store)?;
    let origin = tenant_origin(&origin, tenant);
    store
        .log_checkpoints(&origin)?
        .into_iter()
        .map(|(size, v)| parse_stored(size, &v))
        .collect()
}

/// The stored checkpoint of `tenant`'s log of `size`, if one was issued.
pub fn tenant_checkpoint_at(
    store: &dyn Backend,
    tenant: Id,
    size: u64,
) -> Result<Option<SignedCheckpoint>, ProofError> {
    let (origin, _) = genesis(store)?;
    store
        .log_checkpoint(&tenant_origin(&origin, tenant), size)?
        .map(|v| parse_stored(size, &v))
        .transpose()
}

/// The latest stored checkpoint of every tenant log, for the witnesses.
pub fn latest_tenant_checkpoints(
    store: &dyn Backend,
) -> Result<Vec<(Id, SignedCheckpoint)>, ProofError> {
    let (origin, _) = genesis(store)?;
    let mut out = Vec::new();
    for (tenant, _) in projection::tenant_tree_sizes(store)? {
        if let Some((size, v)) = store.latest_log_checkpoint(&tenant_origin(&origin, tenant))? {
            out.push((tenant, parse_stored(size, &v)?));
        }
    }
    Ok(out)
}

/// Signs (or returns the already issued) checkpoint of `tenant`'s current tree with the
/// key in force at the current global size. `None` for a tenant without events.
pub fn issue_tenant_checkpoint<S: CheckpointSigner + ?Sized>(
    store: &dyn Backend,
    signer: &S,
    tenant: Id,
) -> Result<Option<SignedCheckpoint>, ProofError> {
    let expected = key_at(store, tree_size(store)?)?;
    issue_with(store, signer, tenant, &expected)
}

fn issue_with<S: CheckpointSigner + ?Sized>(
    store: &dyn Backend,
    signer: &S,
    tenant: Id,
    expected: &VerifyingKey,
) -> Result<Option<SignedCheckpoint>, ProofError> {
    let size = tenant_size(store, tenant)?;
    if size == 0 {
        return Ok(None);
    }
    let (origin, _) = genesis(store)?;
    let origin = tenant_origin(&origin, tenant);
    if let Some(v) = store.log_checkpoint(&origin, size)? {
        return parse_stored(size, &v).map(Some);
    }
    let cp = Checkpoint {
        origin: origin.clone(),
        size,
        root: merkle::root(
            size,
            &TenantNodes {
                proj: store,
                tenant,
            },
        )?,
        extensions: vec![],
    };
    let Some(note) = signer.sign_checkpoint(&cp, expected)? else {
        return Err(ProofError::WrongSigningKey {
            size,
            expected: hex::encode(expected.as_bytes()),
        });
    };
    let stored = store.insert_log_checkpoint_durable(&origin, size, note.as_bytes())?;
    parse_stored(size, &stored).map(Some)
}

/// Issues a checkpoint for every tenant whose tree grew since its latest one (called when
/// a global checkpoint of size `global_size` is made, with the key in force there).
pub fn issue_tenant_checkpoints<S: CheckpointSigner + ?Sized>(
    store: &dyn Backend,
    signer: &S,
    expected: &VerifyingKey,
) -> Result<(), ProofError> {
    let (origin, _) = genesis(store)?;
    for (tenant, size) in projection::tenant_tree_sizes(store)? {
        let latest = store.latest_log_checkpoint(&tenant_origin(&origin, tenant))?;
        if latest.is_none_or(|(s, _)| s < size) {
            issue_with(store, signer, tenant, expected)?;
        }
    }
    Ok(())
}

/// The C2SP verifier key of `tenant`'s log for the ledger key `key`.
pub fn tenant_verifier_key(
    store: &dyn Backend,
    tenant: Id,
    key: &VerifyingKey,
) -> Result<String, ProofError> {
    let (origin, _) = genesis(store)?;
    Ok(note::verifier_key(&tenant_origin(&origin, tenant), key)?)
}

/// Verifies a tenant checkpoint note with the ledger key `key` (for tests and tools).
pub fn verify_tenant_checkpoint(
    note: &str,
    origin: &str,
    tenant: Id,
    key: &VerifyingKey,
) -> Result<Checkpoint, ProofError> {
    let name = tenant_origin(origin, tenant);
    Ok(note::verify_checkpoint_with(note, &[(name, *key)])?)
}
