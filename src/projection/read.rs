//! Reads of the projection tree: the views, the Merkle nodes and the watermark (the
//! audit indexes are read in `audit_index`).
//!
//! **Invariant:** reads never write; a value that does not decode is reported as
//! [`StoreError::Corrupt`] of the `proj` tree, never skipped.

use super::{
    cred_key, kv_config_key, kv_key, usage_cred_key, usage_principal_key, version_key,
    CredentialView, KvConfigView, KvView, UsageView, VersionView,
};
use crate::codec;
use crate::id::Id;
use crate::merkle;
use crate::store::{scan_all, ProjectionStore, Seq, StoreError};
use serde::Deserialize;

/// Entries read per page of a scan.
const PAGE: usize = 256;

/// Reads Merkle nodes straight from the projection store.
pub struct Nodes<'a>(pub &'a dyn ProjectionStore);

impl merkle::NodeReader for Nodes<'_> {
    type Error = StoreError;
    fn node(&self, level: u8, index: u64) -> Result<merkle::Hash, StoreError> {
        super::tiles::stored_node(self.0, super::GLOBAL_TREE, level, index)
    }
}

/// The layout version the projections were written with (`None` before versions).
pub fn schema(proj: &dyn ProjectionStore) -> Result<Option<u32>, StoreError> {
    proj.get(super::SCHEMA_KEY)?
        .map(|v| {
            v.as_slice()
                .try_into()
                .map(u32::from_be_bytes)
                .map_err(|_| StoreError::Corrupt {
                    what: "proj",
                    detail: "bad schema version".into(),
                })
        })
        .transpose()
}

/// The number of events applied to the projections.
pub fn watermark(proj: &dyn ProjectionStore) -> Result<Seq, StoreError> {
    proj.watermark()
}

fn decode_view<T: for<'de> Deserialize<'de>>(v: &[u8]) -> Result<T, StoreError> {
    codec::decode(v).map_err(|e| StoreError::Corrupt {
        what: "proj",
        detail: e.to_string(),
    })
}

/// One credential's view.
pub fn credential(
    proj: &dyn ProjectionStore,
    tenant: Id,
    id: Id,
) -> Result<Option<CredentialView>, StoreError> {
    proj.get(&cred_key(tenant, id))?
        .map(|v| decode_view(&v))
        .transpose()
}

/// Every credential view of a tenant.
pub fn credentials(
    proj: &dyn ProjectionStore,
    tenant: Id,
) -> impl Iterator<Item = Result<CredentialView, StoreError>> + '_ {
    scan_all(proj, &[&b"c"[..], tenant.as_bytes()].concat(), PAGE).map(|r| decode_view(&r?.1))
}

/// Every version of a credential, oldest first.
pub fn versions(
    proj: &dyn ProjectionStore,
    tenant: Id,
    id: Id,
) -> Result<Vec<VersionView>, StoreError> {
    scan_all(
        proj,
        &[&b"v"[..], tenant.as_bytes(), id.as_bytes()].concat(),
        PAGE,
    )
    .map(|r| decode_view(&r?.1))
    .collect()
}

/// One version of a credential, if it exists.
pub fn version(
    proj: &dyn ProjectionStore,
    tenant: Id,
    id: Id,
    version: u32,
) -> Result<Option<VersionView>, StoreError> {
    proj.get(&version_key(tenant, id, version))?
        .map(|v| decode_view(&v))
        .transpose()
}

/// The Vault KV facts of a credential (defaults when the KV API never touched it).
pub fn kv(proj: &dyn ProjectionStore, tenant: Id, id: Id) -> Result<KvView, StoreError> {
    Ok(proj
        .get(&kv_key(tenant, id))?
        .map(|v| decode_view(&v))
        .transpose()?
        .unwrap_or_default())
}

/// A tenant's Vault KV mount configuration, if it was ever set.
pub fn kv_config(
    proj: &dyn ProjectionStore,
    tenant: Id,
) -> Result<Option<KvConfigView>, StoreError> {
    proj.get(&kv_config_key(tenant))?
        .map(|v| decode_view(&v))
        .transpose()
}

/// Usage of a credential.
pub fn credential_usage(
    proj: &dyn ProjectionStore,
    tenant: Id,
    id: Id,
) -> Result<UsageView, StoreError> {
    Ok(proj
        .get(&usage_cred_key(tenant, id))?
        .map(|v| decode_view(&v))
        .transpose()?
        .unwrap_or_default())
}

/// Usage by a principal.
pub fn principal_usage(
    proj: &dyn ProjectionStore,
    tenant: Id,
    id: Id,
) -> Result<UsageView, StoreError> {
    Ok(proj
        .get(&usage_principal_key(tenant, id))?
        .map(|v| decode_view(&v))
        .transpose()?
        .unwrap_or_default())
}
