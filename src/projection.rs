//! Projections: read models folded from the log into the `proj` tree.
//!
//! * `v ‖ tenant ‖ credential ‖ version (u32 BE)` → [`VersionView`].
//! * `c ‖ tenant ‖ credential` → [`CredentialView`] (metadata, status, the
//!   encrypted current secret, rotation schedule, last connection test).
//! * `uc ‖ tenant ‖ credential` and `up ‖ tenant ‖ principal` → [`UsageView`].
//! * `a ‖ tenant ‖ kind ‖ [key] ‖ seq` → `[action, outcome]`: the audit indexes, by time
//!   (`t`), credential (`c`) and actor (`p`). Entries point at log sequence numbers and
//!   carry the action and outcome, so filters on those skip the log; the audit view reads
//!   the event itself from the log.
//! * `kv ‖ tenant ‖ credential` → [`KvView`] (Vault KV metadata and soft-deleted
//!   versions) and `kg ‖ tenant` → [`KvConfigView`] (the KV mount configuration).
//! * `m ‖ level ‖ index` → a Merkle subtree hash (RFC 9162, see `merkle`).
//! * `w` → the number of events applied (the watermark).
//!
//! **Invariant:** the tree is a pure function of the log: [`rebuild`] from an empty tree
//! gives byte-identical contents. Every batch of events is applied with its watermark in
//! one atomic sled batch, so after a crash [`catch_up`] continues exactly where it was.

use crate::codec;
use crate::event::{Body, Event, Owner, Sealed, SignedEvent, Source};
use crate::id::Id;
use crate::merkle;
use crate::store::{Store, StoreError};
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

const WATERMARK: &[u8] = b"w";

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
    pub grants: Vec<Id>,
    pub last_verified: Option<VerifyView>,
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
fn node_key(level: u8, index: u64) -> Vec<u8> {
    [&b"m"[..], &[level], &index.to_be_bytes()].concat()
}

/// Reads and buffers writes to the projection tree for one atomic batch.
struct Overlay<'a> {
    tree: &'a sled::Tree,
    pending: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl Overlay<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        match self.pending.get(key) {
            Some(v) => Ok(v.clone()),
            None => Ok(self.tree.get(key)?.map(|v| v.to_vec())),
        }
    }
    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.pending.insert(key, Some(value));
    }
    fn get_as<T: for<'de> Deserialize<'de>>(&self, key: &[u8]) -> Result<Option<T>, StoreError> {
        self.get(key)?
            .map(|v| {
                codec::decode(&v).map_err(|e| StoreError::Corrupt {
                    tree: "proj",
                    detail: e.to_string(),
                })
            })
            .transpose()
    }
    fn put_as<T: Serialize>(&mut self, key: Vec<u8>, value: &T) {
        self.put(key, codec::encode(value).expect("views always encode"));
    }
}

impl merkle::NodeReader for Overlay<'_> {
    type Error = StoreError;
    fn node(&self, level: u8, index: u64) -> Result<merkle::Hash, StoreError> {
        read_node(self.get(&node_key(level, index))?, level, index)
    }
}

fn read_node(
    v: Option<impl AsRef<[u8]>>,
    level: u8,
    index: u64,
) -> Result<merkle::Hash, StoreError> {
    let v = v.ok_or_else(|| StoreError::Corrupt {
        tree: "proj",
        detail: format!("missing Merkle node {level}/{index}"),
    })?;
    v.as_ref().try_into().map_err(|_| StoreError::Corrupt {
        tree: "proj",
        detail: format!("Merkle node {level}/{index} is not 32 bytes"),
    })
}

/// Reads Merkle nodes straight from the projection tree.
pub struct Nodes<'a>(pub &'a sled::Tree);

impl merkle::NodeReader for Nodes<'_> {
    type Error = StoreError;
    fn node(&self, level: u8, index: u64) -> Result<merkle::Hash, StoreError> {
        read_node(self.0.get(node_key(level, index))?, level, index)
    }
}

/// The number of events applied to the projections.
pub fn watermark(proj: &sled::Tree) -> Result<u64, StoreError> {
    Ok(match proj.get(WATERMARK)? {
        None => 0,
        Some(v) => u64::from_be_bytes(v.as_ref().try_into().map_err(|_| StoreError::Corrupt {
            tree: "proj",
            detail: "bad watermark".into(),
        })?),
    })
}

/// Applies `(event, record)` pairs; events below the watermark are skipped, a gap is an
/// error.
pub fn apply_records<'e>(
    proj: &sled::Tree,
    items: impl Iterator<Item = (&'e Event, &'e [u8])>,
) -> Result<(), StoreError> {
    let mut ov = Overlay {
        tree: proj,
        pending: BTreeMap::new(),
    };
    let mut next = watermark(proj)?;
    for (event, record) in items {
        if event.seq < next {
            continue;
        }
        if event.seq != next {
            return Err(StoreError::Corrupt {
                tree: "proj",
                detail: format!("expected event {next}, got {}", event.seq),
            });
        }
        apply_one(&mut ov, event, record)?;
        next += 1;
    }
    ov.put(WATERMARK.to_vec(), next.to_be_bytes().to_vec());
    let mut batch = sled::Batch::default();
    for (k, v) in ov.pending {
        match v {
            Some(v) => batch.insert(k, v),
            None => batch.remove(k),
        }
    }
    proj.apply_batch(batch)?;
    Ok(())
}

fn apply_one(ov: &mut Overlay<'_>, event: &Event, record: &[u8]) -> Result<(), StoreError> {
    let seq = event.seq.to_be_bytes();
    let body = &event.body;
    let tenant = body.tenant().unwrap_or(Id::NIL);
    let tag = audit_tag(body).to_vec();
    ov.put(
        [audit_prefix(tenant, index::TIME, &[]), seq.to_vec()].concat(),
        tag.clone(),
    );
    if let Some(p) = event.actor.principal {
        ov.put(
            [
                audit_prefix(tenant, index::ACTOR, p.as_bytes()),
                seq.to_vec(),
            ]
            .concat(),
            tag.clone(),
        );
    }
    if let Some(c) = body.credential() {
        ov.put(
            [
                audit_prefix(tenant, index::CREDENTIAL, c.as_bytes()),
                seq.to_vec(),
            ]
            .concat(),
            tag,
        );
    }
    apply_credential_view(ov, event)?;
    apply_kv(ov, event)?;
    apply_usage(ov, event)?;
    let size = event.seq;
    let nodes = merkle::append(size, merkle::leaf_hash(record), &*ov)?;
    for (level, index, hash) in nodes {
        ov.put(node_key(level, index), hash.to_vec());
    }
    Ok(())
}

fn apply_credential_view(ov: &mut Overlay<'_>, event: &Event) -> Result<(), StoreError> {
    let at = event.at_ms;
    let actor = event.actor.principal;
    if let Body::CredentialCreated {
        tenant,
        credential,
        name,
        template,
        service,
        owner,
        description,
        public,
        sealed,
        rotate_every_days,
        expires_at_ms,
        is_default,
    } = &event.body
    {
        let view = CredentialView {
            id: *credential,
            tenant: *tenant,
            name: name.clone(),
            template: template.clone(),
            service: service.clone(),
            owner: *owner,
            description: description.clone(),
            status: "active".into(),
            current_version: 1,
            public: public.clone(),
            sealed: Some(sealed.clone()),
            created_at_ms: at,
            created_by: actor,
            updated_at_ms: at,
            rotated_at_ms: at,
            rotate_every_days: *rotate_every_days,
            expires_at_ms: *expires_at_ms,
            is_default: *is_default,
            grants: vec![],
            last_verified: None,
        };
        ov.put_as(cred_key(*tenant, *credential), &view);
        let v1 = VersionView {
            version: 1,
            created_at_ms: at,
            created_by: actor,
            state: "live".into(),
        };
        ov.put_as(version_key(*tenant, *credential, 1), &v1);
        return Ok(());
    }
    // Uses and refusals change usage, not metadata: skip reading the view for them (they
    // are most of the log).
    if matches!(
        event.body,
        Body::CredentialUsed { .. } | Body::UseDenied { .. } | Body::AccessDenied { .. }
    ) {
        return Ok(());
    }
    let (Some(tenant), Some(cred)) = (event.body.tenant(), event.body.credential()) else {
        return Ok(());
    };
    let key = cred_key(tenant, cred);
    let Some(mut view) = ov.get_as::<CredentialView>(&key)? else {
        return Ok(());
    };
    match &event.body {
        Body::CredentialUpdated { change, .. } => {
            if let Some(n) = &change.name {
                view.name = n.clone();
            }
            if let Some(r) = change.rotate_every_days {
                view.rotate_every_days = r;
            }
            if let Some(e) = change.expires_at_ms {
                view.expires_at_ms = e;
            }
            if let Some(d) = change.is_default {
                view.is_default = d;
            }
            if let Some(d) = &change.description {
                view.description = d.clone();
            }
        }
        Body::CredentialRotated {
            version,
            public,
            sealed,
            retired,
            ..
        } => {
            view.current_version = *version;
            view.public = public.clone();
            view.sealed = Some(sealed.clone());
            view.rotated_at_ms = at;
            for r in retired {
                mark_version(ov, tenant, cred, *r, "retired")?;
            }
            let v = VersionView {
                version: *version,
                created_at_ms: at,
                created_by: actor,
                state: "live".into(),
            };
            ov.put_as(version_key(tenant, cred, *version), &v);
        }
        Body::GrantAdded { principal, .. } => {
            view.grants.push(*principal);
            view.grants.sort();
        }
        Body::GrantRevoked { principal, .. } => view.grants.retain(|p| p != principal),
        Body::CredentialDeleted { .. } => view.status = "deleted".into(),
        Body::CredentialRestored { .. } => view.status = "active".into(),
        Body::CredentialDestroyed { versions, .. } => {
            view.status = "destroyed".into();
            view.sealed = None;
            view.is_default = false;
            for v in versions {
                mark_version(ov, tenant, cred, *v, "destroyed")?;
            }
        }
        Body::VersionsDeleted { versions, .. } => {
            for v in versions {
                mark_version(ov, tenant, cred, *v, "deleted")?;
            }
        }
        Body::VersionsUndeleted { versions, .. } => {
            for v in versions {
                mark_version(ov, tenant, cred, *v, "live")?;
            }
        }
        Body::VersionsDestroyed { versions, .. } => {
            for v in versions {
                mark_version(ov, tenant, cred, *v, "destroyed")?;
            }
            if versions.contains(&view.current_version) {
                view.sealed = None;
            }
        }
        Body::KvMetadataSet { .. } => {}
        Body::CredentialVerified {
            version,
            ok,
            reason,
            latency_ms,
            ..
        } => {
            view.last_verified = Some(VerifyView {
                at_ms: at,
                version: *version,
                ok: *ok,
                reason: reason.clone(),
                latency_ms: *latency_ms,
            });
        }
        // Uses and denials change usage, not metadata.
        _ => return Ok(()),
    }
    view.updated_at_ms = at;
    ov.put_as(key, &view);
    Ok(())
}

fn mark_version(
    ov: &mut Overlay<'_>,
    tenant: Id,
    cred: Id,
    version: u32,
    state: &str,
) -> Result<(), StoreError> {
    let key = version_key(tenant, cred, version);
    if let Some(mut v) = ov.get_as::<VersionView>(&key)? {
        v.state = state.to_string();
        ov.put_as(key, &v);
    }
    Ok(())
}

fn apply_kv(ov: &mut Overlay<'_>, event: &Event) -> Result<(), StoreError> {
    if let Body::KvConfigSet {
        tenant,
        max_versions,
        cas_required,
        delete_version_after,
        ..
    } = &event.body
    {
        let view = KvConfigView {
            max_versions: *max_versions,
            cas_required: *cas_required,
            delete_version_after: delete_version_after.clone(),
        };
        ov.put_as(kv_config_key(*tenant), &view);
        return Ok(());
    }
    let (tenant, cred) = match &event.body {
        Body::VersionsDeleted {
            tenant, credential, ..
        }
        | Body::VersionsUndeleted {
            tenant, credential, ..
        }
        | Body::VersionsDestroyed {
            tenant, credential, ..
        }
        | Body::KvMetadataSet {
            tenant, credential, ..
        } => (*tenant, *credential),
        _ => return Ok(()),
    };
    let key = kv_key(tenant, cred);
    let mut view: KvView = ov.get_as(&key)?.unwrap_or_default();
    match &event.body {
        Body::VersionsDeleted { versions, .. } => {
            for v in versions {
                view.deleted.insert(*v, event.at_ms);
            }
        }
        Body::VersionsUndeleted { versions, .. } | Body::VersionsDestroyed { versions, .. } => {
            for v in versions {
                view.deleted.remove(v);
            }
        }
        Body::KvMetadataSet {
            max_versions,
            cas_required,
            delete_version_after,
            custom_metadata,
            ..
        } => {
            view.max_versions = *max_versions;
            view.cas_required = *cas_required;
            view.delete_version_after = delete_version_after.clone();
            view.custom_metadata = custom_metadata.clone();
        }
        _ => {}
    }
    ov.put_as(key, &view);
    Ok(())
}

fn apply_usage(ov: &mut Overlay<'_>, event: &Event) -> Result<(), StoreError> {
    let (tenant, credential, source, denied, verify) = match &event.body {
        Body::CredentialUsed {
            tenant,
            credential,
            source,
            purpose,
            ..
        } => (
            *tenant,
            *credential,
            Some(*source),
            false,
            *purpose == crate::event::Purpose::Verify,
        ),
        Body::UseDenied {
            tenant, credential, ..
        } => (*tenant, *credential, None, true, false),
        _ => return Ok(()),
    };
    let actor = event.actor.principal;
    let bump = |ov: &mut Overlay<'_>, key: Vec<u8>, other: Option<Id>| -> Result<(), StoreError> {
        let mut u: UsageView = ov.get_as(&key)?.unwrap_or_default();
        if denied {
            u.denied += 1;
        } else if verify {
            u.verifies += 1;
        } else {
            u.uses += 1;
            u.last_used_at_ms = Some(event.at_ms);
            u.last_other = other;
            u.last_remote_addr = event.context.remote_addr.clone();
            u.last_source = source;
        }
        ov.put_as(key, &u);
        Ok(())
    };
    if let Some(c) = credential {
        bump(ov, usage_cred_key(tenant, c), actor)?;
    }
    if let Some(p) = actor {
        bump(ov, usage_principal_key(tenant, p), credential)?;
    }
    Ok(())
}

// ---- reads -------------------------------------------------------------------------

fn decode_view<T: for<'de> Deserialize<'de>>(v: &[u8]) -> Result<T, StoreError> {
    codec::decode(v).map_err(|e| StoreError::Corrupt {
        tree: "proj",
        detail: e.to_string(),
    })
}

/// One credential's view.
pub fn credential(
    proj: &sled::Tree,
    tenant: Id,
    id: Id,
) -> Result<Option<CredentialView>, StoreError> {
    proj.get(cred_key(tenant, id))?
        .map(|v| decode_view(&v))
        .transpose()
}

/// Every credential view of a tenant.
pub fn credentials(
    proj: &sled::Tree,
    tenant: Id,
) -> impl Iterator<Item = Result<CredentialView, StoreError>> + '_ {
    proj.scan_prefix([&b"c"[..], tenant.as_bytes()].concat())
        .map(|r| decode_view(&r?.1))
}

/// Every version of a credential, oldest first.
pub fn versions(proj: &sled::Tree, tenant: Id, id: Id) -> Result<Vec<VersionView>, StoreError> {
    proj.scan_prefix([&b"v"[..], tenant.as_bytes(), id.as_bytes()].concat())
        .map(|r| decode_view(&r?.1))
        .collect()
}

/// The Vault KV facts of a credential (defaults when the KV API never touched it).
pub fn kv(proj: &sled::Tree, tenant: Id, id: Id) -> Result<KvView, StoreError> {
    Ok(proj
        .get(kv_key(tenant, id))?
        .map(|v| decode_view(&v))
        .transpose()?
        .unwrap_or_default())
}

/// A tenant's Vault KV mount configuration, if it was ever set.
pub fn kv_config(proj: &sled::Tree, tenant: Id) -> Result<Option<KvConfigView>, StoreError> {
    proj.get(kv_config_key(tenant))?
        .map(|v| decode_view(&v))
        .transpose()
}

/// Usage of a credential.
pub fn credential_usage(proj: &sled::Tree, tenant: Id, id: Id) -> Result<UsageView, StoreError> {
    Ok(proj
        .get(usage_cred_key(tenant, id))?
        .map(|v| decode_view(&v))
        .transpose()?
        .unwrap_or_default())
}

/// Usage by a principal.
pub fn principal_usage(proj: &sled::Tree, tenant: Id, id: Id) -> Result<UsageView, StoreError> {
    Ok(proj
        .get(usage_principal_key(tenant, id))?
        .map(|v| decode_view(&v))
        .transpose()?
        .unwrap_or_default())
}

/// Sequence numbers in one audit index, ascending, starting at `from_seq`.
pub fn audit_seqs(
    proj: &sled::Tree,
    prefix: Vec<u8>,
    from_seq: u64,
) -> impl Iterator<Item = Result<(u64, [u8; 2]), StoreError>> + '_ {
    let start = [prefix.as_slice(), &from_seq.to_be_bytes()].concat();
    let n = prefix.len();
    proj.range(start..)
        .take_while(move |r| r.as_ref().map_or(true, |(k, _)| k.starts_with(&prefix)))
        .map(move |r| {
            let (k, v) = r?;
            let corrupt = || StoreError::Corrupt {
                tree: "proj",
                detail: "bad audit index entry".into(),
            };
            let tail: [u8; 8] = k[n..].try_into().map_err(|_| corrupt())?;
            let tag: [u8; 2] = v.as_ref().try_into().map_err(|_| corrupt())?;
            Ok((u64::from_be_bytes(tail), tag))
        })
}

/// Drops every projection and rebuilds them from the log.
pub fn rebuild(store: &Store, mut progress: impl FnMut(u64)) -> Result<(), StoreError> {
    store.proj().clear()?;
    catch_up(store, &mut progress)
}

/// Applies every logged event above the watermark.
pub fn catch_up(store: &Store, mut progress: impl FnMut(u64)) -> Result<(), StoreError> {
    let from = watermark(store.proj())?;
    let mut chunk: Vec<(Event, Vec<u8>)> = Vec::with_capacity(4096);
    let flush = |chunk: &mut Vec<(Event, Vec<u8>)>| -> Result<(), StoreError> {
        apply_records(store.proj(), chunk.iter().map(|(e, r)| (e, r.as_slice())))?;
        chunk.clear();
        Ok(())
    };
    for r in store.records(from) {
        let (seq, rec) = r?;
        let signed = SignedEvent::from_record(&rec).map_err(|e| StoreError::Corrupt {
            tree: "log",
            detail: format!("event {seq}: {e}"),
        })?;
        chunk.push((signed.into_event(), rec.to_vec()));
        if chunk.len() == 4096 {
            flush(&mut chunk)?;
            progress(seq + 1);
        }
    }
    flush(&mut chunk)?;
    Ok(())
}

/// A raw key and value.
pub type KeyValue = (Vec<u8>, Vec<u8>);

/// Every key and value of the projection tree, for comparing against a rebuild.
pub fn dump(proj: &sled::Tree) -> Result<Vec<KeyValue>, StoreError> {
    proj.iter()
        .map(|r| {
            r.map(|(k, v)| (k.to_vec(), v.to_vec()))
                .map_err(StoreError::from)
        })
        .collect()
}
