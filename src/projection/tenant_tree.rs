//! Per-tenant Merkle trees: every event of tenant T is also a leaf of T's own RFC 9162
//! tree, in log order. The tenant leaf is the global leaf (the same stored record bytes,
//! so the same leaf hash `SHA-256(0x00 ‖ record)`): an auditor holding both trees can
//! check they agree, and the record names its global sequence number.
//!
//! Keys (all under `T`, which no other projection key starts with):
//!
//! * `Ts ‖ tenant` → the tenant tree's size (u64 BE).
//! * `Tb ‖ tenant ‖ bucket (u64 BE)` → the global sequence numbers (u64 BE each) of tenant
//!   leaves `[256·bucket, 256·bucket + n)`, so a proof can hand out the leaf bytes.
//! * `Tt ‖ tenant ‖ L ‖ N` → the tenant tree's Merkle tiles, laid out like the global
//!   tree's (`tiles`).
//!
//! Events of no tenant (genesis, key rotations, failed-authentication summaries) and of
//! the nil tenant are leaves of the global tree only.
//!
//! **Invariant:** like every projection, a pure function of the log, written in the
//! batch's one change set (the overlay caches the size, the tiles and the leaf buckets a
//! batch touches, so a batch costs one write of each per tenant, not one per event).

use super::overlay::Overlay;
use super::tiles;
use crate::event::Event;
use crate::id::Id;
use crate::merkle;
use crate::store::{ProjectionStore, Seq, StoreError};

/// Tenant leaves per leaf bucket.
const LEAF_BUCKET: u64 = 256;

fn size_key(tenant: Id) -> Vec<u8> {
    [&b"Ts"[..], tenant.as_bytes()].concat()
}
fn leaf_bucket_key(tenant: Id, index: u64) -> Vec<u8> {
    [
        &b"Tb"[..],
        tenant.as_bytes(),
        &(index / LEAF_BUCKET).to_be_bytes(),
    ]
    .concat()
}
fn tree_prefix(tenant: Id) -> Vec<u8> {
    [&b"Tt"[..], tenant.as_bytes()].concat()
}

fn read_u64(v: Option<Vec<u8>>, what: &str) -> Result<Option<u64>, StoreError> {
    v.map(|v| {
        <[u8; 8]>::try_from(v.as_slice())
            .map(u64::from_be_bytes)
            .map_err(|_| StoreError::Corrupt {
                what: "proj",
                detail: format!("{what} is not 8 bytes"),
            })
    })
    .transpose()
}

/// The tenant whose tree an event is a leaf of, if any.
pub fn tree_tenant(event: &Event) -> Option<Id> {
    event.body.tenant().filter(|t| *t != Id::NIL)
}

/// Adds the event (leaf hash `leaf`) as the next leaf of its tenant's tree.
pub(super) fn apply(
    ov: &mut Overlay<'_>,
    event: &Event,
    leaf: merkle::Hash,
) -> Result<(), StoreError> {
    let Some(tenant) = tree_tenant(event) else {
        return Ok(());
    };
    let size = read_u64(ov.get(&size_key(tenant))?, "a tenant tree size")?.unwrap_or(0);
    tiles::append(ov, &tree_prefix(tenant), size, leaf)?;
    let bucket = ov.chunk(leaf_bucket_key(tenant, size))?;
    if bucket.len() as u64 != (size % LEAF_BUCKET) * 8 {
        return Err(StoreError::Corrupt {
            what: "proj",
            detail: format!("a tenant leaf bucket disagrees with the tree size {size}"),
        });
    }
    bucket.extend_from_slice(&event.seq.to_be_bytes());
    ov.put(size_key(tenant), (size + 1).to_be_bytes().to_vec());
    Ok(())
}

/// The nodes of one tenant's tree, read straight from the projection store.
pub struct TenantNodes<'a> {
    pub proj: &'a dyn ProjectionStore,
    pub tenant: Id,
}

impl merkle::NodeReader for TenantNodes<'_> {
    type Error = StoreError;
    fn node(&self, level: u8, index: u64) -> Result<merkle::Hash, StoreError> {
        tiles::stored_node(self.proj, &tree_prefix(self.tenant), level, index)
    }
}

/// The number of leaves of `tenant`'s tree (0 for a tenant without events).
pub fn tenant_tree_size(proj: &dyn ProjectionStore, tenant: Id) -> Result<u64, StoreError> {
    Ok(read_u64(proj.get(&size_key(tenant))?, "a tenant tree size")?.unwrap_or(0))
}

/// The global sequence number of leaf `index` of `tenant`'s tree, if it exists.
pub fn tenant_leaf_seq(
    proj: &dyn ProjectionStore,
    tenant: Id,
    index: u64,
) -> Result<Option<Seq>, StoreError> {
    let Some(bucket) = proj.get(&leaf_bucket_key(tenant, index))? else {
        return Ok(None);
    };
    let at = ((index % LEAF_BUCKET) * 8) as usize;
    match bucket.get(at..at + 8) {
        Some(b) => read_u64(Some(b.to_vec()), "a tenant leaf"),
        None => Ok(None),
    }
}

/// Every tenant with a tree and its size, in tenant-id order.
pub fn tenant_tree_sizes(proj: &dyn ProjectionStore) -> Result<Vec<(Id, u64)>, StoreError> {
    let mut out = Vec::new();
    for entry in crate::store::scan_all(proj, b"Ts", 256) {
        let (k, v) = entry?;
        let id: [u8; 16] = k[2..].try_into().map_err(|_| StoreError::Corrupt {
            what: "proj",
            detail: "a tenant tree size key is not 18 bytes".into(),
        })?;
        let size = read_u64(Some(v), "a tenant tree size")?.unwrap_or(0);
        out.push((Id(id), size));
    }
    Ok(out)
}
