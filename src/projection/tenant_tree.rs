//! Per-tenant Merkle trees: every event of tenant T is also a leaf of T's own RFC 9162
//! tree, in log order. The tenant leaf is the global leaf (the same stored record bytes,
//! so the same leaf hash `SHA-256(0x00 ‖ record)`): an auditor holding both trees can
//! check they agree, and the record names its global sequence number.
//!
//! Keys (all under `T`, which no other projection key starts with):
//!
//! * `Ts ‖ tenant` → the tenant tree's size (u64 BE).
//! * `Tl ‖ tenant ‖ index (u64 BE)` → the global sequence number of tenant leaf `index`
//!   (u64 BE), so a proof can hand out the leaf bytes.
//! * `Tn ‖ tenant ‖ level ‖ index (u64 BE)` → a perfect subtree hash of the tenant tree,
//!   exactly like the global tree's `m ‖ level ‖ index`.
//!
//! Events of no tenant (genesis, key rotations, failed-authentication summaries) and of
//! the nil tenant are leaves of the global tree only.
//!
//! **Invariant:** like every projection, a pure function of the log, written in the
//! batch's one change set (the overlay caches the size and the nodes a batch touches, so a
//! batch costs one size write per tenant, not one per event).

use super::apply::Overlay;
use super::read::read_node;
use crate::event::Event;
use crate::id::Id;
use crate::merkle;
use crate::store::{ProjectionStore, Seq, StoreError};

fn size_key(tenant: Id) -> Vec<u8> {
    [&b"Ts"[..], tenant.as_bytes()].concat()
}
fn leaf_key(tenant: Id, index: u64) -> Vec<u8> {
    [&b"Tl"[..], tenant.as_bytes(), &index.to_be_bytes()].concat()
}
fn node_key(tenant: Id, level: u8, index: u64) -> Vec<u8> {
    [
        &b"Tn"[..],
        tenant.as_bytes(),
        &[level],
        &index.to_be_bytes(),
    ]
    .concat()
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

/// The nodes of one tenant's tree as the overlay sees them.
struct OverlayNodes<'a, 'b> {
    ov: &'a Overlay<'b>,
    tenant: Id,
}

impl merkle::NodeReader for OverlayNodes<'_, '_> {
    type Error = StoreError;
    fn node(&self, level: u8, index: u64) -> Result<merkle::Hash, StoreError> {
        read_node(
            self.ov.get(&node_key(self.tenant, level, index))?,
            level,
            index,
        )
    }
}

/// Adds `record` (event `event.seq`) as the next leaf of its tenant's tree.
pub(super) fn apply(ov: &mut Overlay<'_>, event: &Event, record: &[u8]) -> Result<(), StoreError> {
    let Some(tenant) = tree_tenant(event) else {
        return Ok(());
    };
    let size = read_u64(ov.get(&size_key(tenant))?, "a tenant tree size")?.unwrap_or(0);
    let nodes = merkle::append(
        size,
        merkle::leaf_hash(record),
        &OverlayNodes { ov, tenant },
    )?;
    for (level, index, hash) in nodes {
        ov.put(node_key(tenant, level, index), hash.to_vec());
    }
    ov.put(leaf_key(tenant, size), event.seq.to_be_bytes().to_vec());
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
        read_node(
            self.proj.get(&node_key(self.tenant, level, index))?,
            level,
            index,
        )
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
    read_u64(proj.get(&leaf_key(tenant, index))?, "a tenant leaf")
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
