//! Projections: read models folded from the log into the [`ProjectionStore`]; this
//! module is the only owner of its key layout.
//!
//! * `v ‖ tenant ‖ credential ‖ version (u32 BE)` → [`VersionView`].
//! * `c ‖ tenant ‖ credential` → [`CredentialView`] (metadata, status, the
//!   encrypted current secret, rotation schedule, last connection test).
//! * `uc ‖ tenant ‖ credential` and `up ‖ tenant ‖ principal` → [`UsageView`].
//! * `a ‖ tenant ‖ kind ‖ [key] ‖ last` → the audit indexes, by time (`t`), credential
//!   (`c`) and actor (`p`), in chunks of 256 entries (`audit_index`). Entries
//!   point at log sequence numbers and carry the action and outcome, so filters on those
//!   skip the log; the audit view reads the event itself from the log.
//! * `kv ‖ tenant ‖ credential` → [`KvView`] (Vault KV metadata and soft-deleted
//!   versions) and `kg ‖ tenant` → [`KvConfigView`] (the KV mount configuration).
//! * `rp ‖ tenant ‖ credential ‖ principal` and `rv ‖ tenant ‖ credential` → the
//!   reviewer views of `review` (each principal's uses of a credential; connection-test
//!   counts).
//! * `M ‖ L ‖ N` → the global Merkle tree (RFC 9162, see `merkle`) as tiles of 256 hashes
//!   (`tiles`).
//! * `Ts ‖ tenant`, `Tb ‖ tenant ‖ bucket`, `Tt ‖ tenant ‖ L ‖ N` → each tenant's own tree:
//!   its size, its leaves' global sequence numbers, its tiles (`tenant_tree`).
//! * `s` → [`SCHEMA`], the layout version of the views: [`catch_up`] rebuilds the tree
//!   from the log when it differs, so a data directory written by an older build gets
//!   the views of this one.
//!
//! The watermark (the number of events applied) is the store's own
//! ([`ProjectionStore::watermark`]); sled keeps it under the key `w`, which no key above
//! starts with.
//!
//! **Invariant:** the projections are a pure function of the log: [`rebuild`] from an
//! empty store gives byte-identical contents. Every batch of events is applied with its
//! watermark in one atomic change set ([`ProjectionStore::apply`]), so after a crash
//! [`catch_up`] continues exactly where it was.
//!
//! The files: this one holds the key layout and the views; `apply` folds events into the
//! store through an `overlay` (one atomic change set per call), `read` serves the views,
//! `audit_index` and `tiles` own the chunked audit indexes and the Merkle tiles, and
//! `rebuild` replays the log into the store.
//!
//! [`ProjectionStore`]: crate::store::ProjectionStore
//! [`ProjectionStore::watermark`]: crate::store::ProjectionStore::watermark
//! [`ProjectionStore::apply`]: crate::store::ProjectionStore::apply

mod apply;
mod audit_index;
mod overlay;
mod read;
mod rebuild;
mod review;
mod tenant_tree;
mod tiles;

pub use apply::apply_records;
pub use audit_index::audit_seqs;
pub use read::{
    credential, credential_usage, credentials, kv, kv_config, principal_usage, version, versions,
    watermark, Nodes,
};
pub use rebuild::{catch_up, dump, rebuild, KeyValue};
pub use review::{principal_uses, verify_counts, PrincipalUse, VerifyCounts};
pub use tenant_tree::{
    tenant_leaf_seq, tenant_tree_size, tenant_tree_sizes, tree_tenant, TenantNodes,
};

use crate::event::{Body, GrantLevel, Grantee, Owner, Sealed, Source};
use crate::id::Id;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The audit index kinds.
pub mod index {
    pub const TIME: u8 = b't';
    pub const CREDENTIAL: u8 = b'c';
    pub const ACTOR: u8 = b'p';
}

/// The value of every audit index entry: the action's position in [`Body::ACTIONS`] and
/// the outcome (0 ok, 1 denied, 2 failed), so scans filter on both without reading the
/// log.
pub fn audit_tag(body: &Body) -> [u8; 2] {
    let action = Body::ACTIONS
        .iter()
        .position(|a| *a == body.action())
        .expect("every action is listed") as u8;
    [action, outcome_code(body.outcome())]
}

/// The outcome byte of an audit tag.
pub fn outcome_code(o: crate::event::Outcome) -> u8 {
    match o {
        crate::event::Outcome::Ok => 0,
        crate::event::Outcome::Denied => 1,
        crate::event::Outcome::Failed => 2,
    }
}

const SCHEMA_KEY: &[u8] = b"s";
/// The layout version of the views (2: grant levels and groups in the credential view,
/// the reviewer views; 3: the tenant trees; 4: Merkle tiles, bucketed audit indexes and
/// tenant leaves; 5: the audit indexes in chunks of 256 entries).
pub const SCHEMA: u32 = 5;
/// The key prefix of the global Merkle tree's tiles.
const GLOBAL_TREE: &[u8] = b"M";

/// One version of a credential, as listed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct VersionView {
    pub version: u32,
    pub created_at_ms: i64,
    pub created_by: Option<Id>,
    /// `live`, `retired` (past retention, shredded) or `destroyed`.
    pub state: String,
}

/// The outcome of the last connection test.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct VerifyView {
    pub at_ms: i64,
    pub version: u32,
    pub ok: bool,
    pub reason: String,
    pub latency_ms: u64,
}

/// A credential's current metadata and encrypted secret.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct CredentialView {
    pub id: Id,
    pub tenant: Id,
    pub name: String,
    pub template: String,
    pub service: String,
    pub owner: Owner,
    pub description: String,
    /// `active`, `deleted` or `destroyed`.
    pub status: String,
    pub current_version: u32,
    pub public: BTreeMap<String, String>,
    /// The current version's ciphertext (`None` once destroyed).
    pub sealed: Option<Sealed>,
    pub created_at_ms: i64,
    pub created_by: Option<Id>,
    pub updated_at_ms: i64,
    pub rotated_at_ms: i64,
    pub rotate_every_days: Option<u32>,
    pub expires_at_ms: Option<i64>,
    pub is_default: bool,
    /// Principals granted the credential directly (at any level).
    pub grants: Vec<Id>,
    pub last_verified: Option<VerifyView>,
    /// Every grant, to principals and groups, with its level.
    pub grantees: Vec<GrantView>,
}

/// One grant of a shared credential.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct GrantView {
    pub grantee: Grantee,
    pub level: GrantLevel,
}

impl CredentialView {
    /// When the next rotation is due, if a schedule is set.
    pub fn rotation_due_ms(&self) -> Option<i64> {
        self.rotate_every_days
            .map(|d| self.rotated_at_ms + i64::from(d) * 86_400_000)
    }
}

/// Usage counters of a credential or a principal.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct UsageView {
    pub uses: u64,
    pub denied: u64,
    pub verifies: u64,
    pub last_used_at_ms: Option<i64>,
    /// For a credential: the last principal; for a principal: the last credential.
    pub last_other: Option<Id>,
    pub last_remote_addr: Option<String>,
    pub last_source: Option<Source>,
}

/// Vault KV facts of a credential: its KV metadata and its soft-deleted versions.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct KvView {
    pub max_versions: u32,
    pub cas_required: bool,
    pub delete_version_after: String,
    pub custom_metadata: BTreeMap<String, String>,
    /// Soft-deleted versions and when they were deleted.
    pub deleted: BTreeMap<u32, i64>,
}

/// A tenant's Vault KV mount configuration.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct KvConfigView {
    pub max_versions: u32,
    pub cas_required: bool,
    pub delete_version_after: String,
}

fn kv_key(tenant: Id, cred: Id) -> Vec<u8> {
    [&b"kv"[..], tenant.as_bytes(), cred.as_bytes()].concat()
}
fn kv_config_key(tenant: Id) -> Vec<u8> {
    [&b"kg"[..], tenant.as_bytes()].concat()
}

fn cred_key(tenant: Id, cred: Id) -> Vec<u8> {
    [&b"c"[..], tenant.as_bytes(), cred.as_bytes()].concat()
}
fn version_key(tenant: Id, cred: Id, version: u32) -> Vec<u8> {
    [
        &b"v"[..],
        tenant.as_bytes(),
        cred.as_bytes(),
        &version.to_be_bytes(),
    ]
    .concat()
}
fn usage_cred_key(tenant: Id, cred: Id) -> Vec<u8> {
    [&b"uc"[..], tenant.as_bytes(), cred.as_bytes()].concat()
}
fn usage_principal_key(tenant: Id, principal: Id) -> Vec<u8> {
    [&b"up"[..], tenant.as_bytes(), principal.as_bytes()].concat()
}
/// The prefix of one audit index: `a ‖ tenant ‖ kind ‖ key`.
pub fn audit_prefix(tenant: Id, kind: u8, key: &[u8]) -> Vec<u8> {
    [&b"a"[..], tenant.as_bytes(), &[kind], key].concat()
}
