//! The rules of the Vault KV v2 API: check-and-set, soft deletion, undeletion and
//! destruction of single versions, per-secret KV metadata and the mount configuration.
//!
//! A KV path is a credential name; a KV write is a create (version 1) or a rotate (the
//! next version), decided by the functions in the parent module. What is added here is
//! what KV has and the native API has not. Authorization is the native one: deleting and
//! undeleting versions and changing KV metadata need the same access as a rotate;
//! destroying versions needs the same access as a destroy. What the KV API lists and
//! whose metadata it shows follows the resolve rule ([`kv_visible`]): a caller sees the
//! paths it could read, admins and auditors every path.

use super::access::{admin_only, refused, visible};
use super::permissions::can_resolve;
use super::{check_create, check_rotate, managed, require_status, Access, Decision, DomainError};
use crate::domain::state::{CredStatus, Credential, State};
use crate::domain::{names, Caller};
use crate::event::{Body, DenyReason, Owner, RefusalReason, Role, Target};
use crate::id::Id;
use std::collections::{BTreeMap, BTreeSet};

/// The template and service of credentials created through the KV API (free-form).
pub const KV_TEMPLATE: &str = "custom";

/// The facts of a KV write that rules look at (the data itself stays in the shell).
#[derive(Clone, Copy, Debug)]
pub struct WriteRequest<'a> {
    /// The secret's path (a credential name).
    pub path: &'a str,
    /// The check-and-set version as Vault parses it (any integer; a negative one never
    /// matches).
    pub cas: Option<i64>,
    /// An RFC 7396 merge patch of the current version instead of a replacement.
    pub patch: bool,
}

/// What a permitted KV write does.
#[derive(Clone, Copy, Debug)]
pub enum WritePlan<'s> {
    /// Create credential `name` (template [`KV_TEMPLATE`], shared) at version 1.
    Create,
    /// Rotate `cred` to `version`, keeping `retain` versions. For a patch, the shell
    /// merges the patch into the current version's data (RFC 7396,
    /// `secret::json::merge_patch`).
    Rotate {
        cred: &'s Credential,
        version: u32,
        retain: u32,
    },
}

/// Decides a KV write under the writer lock: authorization (a refusal is recorded),
/// check-and-set, and that a patch has a readable current version to patch. `existing`
/// is the credential at the path.
pub fn plan_write<'s>(
    state: &'s State,
    caller: &Caller,
    existing: Option<Id>,
    req: WriteRequest<'_>,
    ledger_retain: u32,
) -> Decision<WritePlan<'s>> {
    let Some(id) = existing else {
        if req.patch {
            return Err(DomainError::NotFound("secret").into());
        }
        check_cas(state, caller.tenant, None, req.cas)?;
        check_create(state, caller, req.path, KV_TEMPLATE, Owner::Tenant, false)?;
        return Ok(WritePlan::Create);
    };
    // Authorization first (a refusal is recorded), then the check-and-set.
    let rotation = check_rotate(state, caller, id)?;
    check_cas(state, caller.tenant, Some(id), req.cas)?;
    if req.patch && version_refusal(state, id, rotation.cred.current).is_some() {
        return Err(DomainError::NotFound("secret").into());
    }
    Ok(WritePlan::Rotate {
        cred: rotation.cred,
        version: rotation.version,
        retain: retention(state, caller.tenant, Some(id), ledger_retain),
    })
}

/// The credential at a KV path of `tenant` (paths are stored NFC-normalised).
pub fn lookup(state: &State, tenant: Id, path: &str) -> Option<Id> {
    state.names.get(&(tenant, names::nfc(path))).copied()
}

/// Whether the caller sees a KV path (lists it, reads its metadata): the resolve rule
/// (the owner; for a shared credential a grantee, anyone when it is the tenant default,
/// editors and admins) plus every path for admins and auditors, who review.
pub fn kv_visible(state: &State, caller: &Caller, cred: &Credential) -> bool {
    matches!(caller.role, Role::Admin | Role::Auditor) || can_resolve(state, caller, cred).is_ok()
}

/// The KV secret `id` for a metadata read or write: one the caller does not see by
/// [`kv_visible`] is "not found", and the refusal is recorded.
pub fn see_secret<'s>(
    state: &'s State,
    caller: &Caller,
    id: Id,
    operation: &str,
) -> Decision<&'s Credential> {
    let cred = visible(state, caller, id, operation, |tenant| {
        Body::AccessDeniedV2 {
            tenant,
            operation: operation.to_string(),
            target: Some(Target::Credential(id)),
            reason: RefusalReason::OtherTenant,
        }
    })?;
    if !kv_visible(state, caller, cred) {
        return Err(refused(
            caller,
            operation,
            Some(Target::Credential(id)),
            RefusalReason::NotGranted,
            DomainError::NotFound("secret"),
        ));
    }
    Ok(cred)
}

/// The KV keys directly under `prefix` (empty, or ending in `/`) that the caller sees
/// ([`kv_visible`]); a directory is listed with a trailing `/` when it holds a path the
/// caller sees. Destroyed credentials are gone.
pub fn list(state: &State, caller: &Caller, prefix: &str) -> BTreeSet<String> {
    let prefix = names::nfc(prefix);
    let mut keys = BTreeSet::new();
    for ((tenant, _), id) in &state.names {
        if *tenant != caller.tenant {
            continue;
        }
        let Some(cred) = state.credentials.get(id) else {
            continue;
        };
        if cred.status == CredStatus::Destroyed || !kv_visible(state, caller, cred) {
            continue;
        }
        if let Some(rest) = cred.name.strip_prefix(prefix.as_str()) {
            match rest.split_once('/') {
                Some((dir, _)) => keys.insert(format!("{dir}/")),
                None => keys.insert(rest.to_string()),
            };
        }
    }
    keys
}

/// Checks an `X-Vault-Namespace` header: none, empty (Vault's root namespace) or the
/// caller's own tenant name (compared as names are, without case; a trailing `/` is
/// ignored) is the caller's tenant. Any other is refused and recorded: another tenant's
/// name and a name that exists nowhere answer alike.
pub fn check_namespace(state: &State, caller: &Caller, namespace: Option<&str>) -> Decision<()> {
    let ns = namespace.unwrap_or_default().trim().trim_matches('/');
    if ns.is_empty() {
        return Ok(());
    }
    let own = state
        .tenants
        .get(&caller.tenant)
        .map(|t| names::fold(&t.name));
    if own.as_deref() == Some(names::fold(ns).as_str()) {
        return Ok(());
    }
    Err(refused(
        caller,
        "vault_namespace",
        None,
        RefusalReason::NotFound,
        DomainError::Forbidden("the namespace is not this token's tenant".into()),
    ))
}

/// Vault's message for a failed check-and-set.
pub const CAS_MISMATCH: &str = "check-and-set parameter did not match the current version";
/// Vault's message when check-and-set is required but missing.
pub const CAS_REQUIRED: &str = "check-and-set parameter required for this call";

/// Checks a KV write's check-and-set against the current state (run under the writer
/// lock, so it cannot race another write). `existing` is the credential at the path.
/// `cas` 0 means "only if the path does not exist"; N means "only if the current
/// version is N".
pub fn check_cas(
    state: &State,
    tenant: Id,
    existing: Option<Id>,
    cas: Option<i64>,
) -> Result<(), DomainError> {
    let required = state.kv_config.get(&tenant).is_some_and(|c| c.cas_required)
        || existing
            .and_then(|id| state.kv.get(&id))
            .is_some_and(|k| k.cas_required);
    let current = existing
        .and_then(|id| state.credentials.get(&id))
        .map_or(0, |c| c.current);
    match cas {
        None if required => Err(DomainError::Conflict(CAS_REQUIRED.into())),
        None => Ok(()),
        Some(n) if n == i64::from(current) => Ok(()),
        Some(_) => Err(DomainError::Conflict(CAS_MISMATCH.into())),
    }
}

/// The retention a KV write applies: the ledger's, lowered by the secret's or the
/// mount's `max_versions` (0 = unset).
pub fn retention(state: &State, tenant: Id, existing: Option<Id>, ledger_retain: u32) -> u32 {
    let secret = existing
        .and_then(|id| state.kv.get(&id))
        .map_or(0, |k| k.max_versions);
    let mount = state.kv_config.get(&tenant).map_or(0, |c| c.max_versions);
    let max = if secret > 0 { secret } else { mount };
    if max > 0 {
        ledger_retain.min(max)
    } else {
        ledger_retain
    }
}

/// Why a version cannot be read through its KV state, if it cannot.
pub fn version_refusal(state: &State, id: Id, version: u32) -> Option<(DenyReason, DomainError)> {
    let kv = state.kv.get(&id)?;
    if kv.destroyed.contains(&version) {
        return Some((
            DenyReason::Destroyed,
            DomainError::Gone(format!("version {version} was destroyed")),
        ));
    }
    if kv.deleted.contains_key(&version) {
        return Some((
            DenyReason::Deleted,
            DomainError::Gone(format!("version {version} is deleted; undelete it first")),
        ));
    }
    None
}

fn normalize(versions: &[u32]) -> Vec<u32> {
    versions
        .iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Soft-deletes versions. Versions that do not exist, are destroyed or already deleted
/// are ignored (as Vault does); if none is left, nothing is recorded.
pub fn delete_versions(state: &State, caller: &Caller, id: Id, versions: &[u32]) -> Decision {
    let cred = managed(state, caller, id, "versions_deleted", Access::Manage)?;
    require_status(cred, &[CredStatus::Active])?;
    let kv = state.kv.get(&id);
    let versions: Vec<u32> = normalize(versions)
        .into_iter()
        .filter(|v| (1..=cred.current).contains(v))
        .filter(|v| !kv.is_some_and(|k| k.destroyed.contains(v) || k.deleted.contains_key(v)))
        .collect();
    if versions.is_empty() {
        return Ok(vec![]);
    }
    Ok(vec![Body::VersionsDeleted {
        tenant: cred.tenant,
        credential: id,
        versions,
    }])
}

/// Undeletes soft-deleted versions; others are ignored.
pub fn undelete_versions(state: &State, caller: &Caller, id: Id, versions: &[u32]) -> Decision {
    let cred = managed(state, caller, id, "versions_undeleted", Access::Manage)?;
    require_status(cred, &[CredStatus::Active])?;
    let versions: Vec<u32> = normalize(versions)
        .into_iter()
        .filter(|v| state.kv.get(&id).is_some_and(|k| k.deleted.contains_key(v)))
        .collect();
    if versions.is_empty() {
        return Ok(vec![]);
    }
    Ok(vec![Body::VersionsUndeleted {
        tenant: cred.tenant,
        credential: id,
        versions,
    }])
}

/// Destroys versions (their data keys are deleted by the shell in the same commit).
/// Versions that do not exist or are already destroyed are ignored.
pub fn destroy_versions(state: &State, caller: &Caller, id: Id, versions: &[u32]) -> Decision {
    let cred = managed(state, caller, id, "versions_destroyed", Access::Destroy)?;
    require_status(cred, &[CredStatus::Active, CredStatus::Deleted])?;
    let versions: Vec<u32> = normalize(versions)
        .into_iter()
        .filter(|v| (1..=cred.current).contains(v))
        .filter(|v| !state.kv.get(&id).is_some_and(|k| k.destroyed.contains(v)))
        .collect();
    if versions.is_empty() {
        return Ok(vec![]);
    }
    Ok(vec![Body::VersionsDestroyed {
        tenant: cred.tenant,
        credential: id,
        versions,
    }])
}

/// KV metadata of one secret, as a whole (the shell merges a partial update first).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KvMetadata {
    pub max_versions: u32,
    pub cas_required: bool,
    pub delete_version_after: String,
    pub custom_metadata: BTreeMap<String, String>,
}

/// Checks a Go duration such as `0s`, `1h30m` or `768h` (what Vault accepts).
pub fn check_duration(field: &str, s: &str) -> Result<(), DomainError> {
    let invalid = || DomainError::Invalid {
        field: Some(field.into()),
        message: format!("{field} must be a duration such as 0s, 30m or 768h"),
    };
    if s.is_empty() || s.len() > 32 {
        return Err(invalid());
    }
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .ok_or_else(invalid)?;
        if digits == 0 {
            return Err(invalid());
        }
        rest = &rest[digits..];
        let unit = ["ns", "us", "µs", "ms", "s", "m", "h"]
            .into_iter()
            .find(|u| rest.starts_with(u))
            .ok_or_else(invalid)?;
        rest = &rest[unit.len()..];
    }
    Ok(())
}

fn check_custom_metadata(m: &BTreeMap<String, String>) -> Result<(), DomainError> {
    let invalid = |message: &str| DomainError::Invalid {
        field: Some("custom_metadata".into()),
        message: message.into(),
    };
    if m.len() > 64 {
        return Err(invalid("custom_metadata has at most 64 keys"));
    }
    if m.iter()
        .any(|(k, v)| k.is_empty() || k.len() > 128 || v.len() > 512)
    {
        return Err(invalid(
            "custom_metadata keys are 1-128 bytes and values at most 512 bytes",
        ));
    }
    Ok(())
}

/// Sets a secret's KV metadata.
pub fn set_metadata(state: &State, caller: &Caller, id: Id, meta: KvMetadata) -> Decision {
    let cred = managed(state, caller, id, "kv_metadata_set", Access::Manage)?;
    require_status(cred, &[CredStatus::Active, CredStatus::Deleted])?;
    check_duration("delete_version_after", &meta.delete_version_after)?;
    check_custom_metadata(&meta.custom_metadata)?;
    Ok(vec![Body::KvMetadataSet {
        tenant: cred.tenant,
        credential: id,
        max_versions: meta.max_versions,
        cas_required: meta.cas_required,
        delete_version_after: meta.delete_version_after,
        custom_metadata: meta.custom_metadata,
    }])
}

/// Sets the tenant's KV mount configuration. Admins only.
pub fn set_config(
    caller: &Caller,
    mount: &str,
    max_versions: u32,
    cas_required: bool,
    delete_version_after: &str,
) -> Decision {
    admin_only(caller, "kv_config_set", None)?;
    check_duration("delete_version_after", delete_version_after)?;
    Ok(vec![Body::KvConfigSet {
        tenant: caller.tenant,
        mount: mount.to_string(),
        max_versions,
        cas_required,
        delete_version_after: delete_version_after.to_string(),
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::event::{Event, Owner, RequestContext, Sealed, EVENT_FORMAT};

    fn state_with_version(current: u32, cas_required: bool) -> (State, Id, Id) {
        let (tenant, cred) = (Id([1; 16]), Id([2; 16]));
        let mut state = State::default();
        let sealed = Sealed {
            nonce: [0; 24],
            ciphertext: vec![],
        };
        let mut bodies = vec![Body::CredentialCreated {
            tenant,
            credential: cred,
            name: "app/db".into(),
            template: "custom".into(),
            service: "custom".into(),
            owner: Owner::Tenant,
            description: String::new(),
            public: BTreeMap::new(),
            sealed: sealed.clone(),
            rotate_every_days: None,
            expires_at_ms: None,
            is_default: false,
        }];
        for version in 2..=current {
            bodies.push(Body::CredentialRotated {
                tenant,
                credential: cred,
                version,
                public: BTreeMap::new(),
                sealed: sealed.clone(),
                retired: vec![],
            });
        }
        bodies.push(Body::KvMetadataSet {
            tenant,
            credential: cred,
            max_versions: 0,
            cas_required,
            delete_version_after: "0s".into(),
            custom_metadata: BTreeMap::new(),
        });
        for (seq, body) in bodies.into_iter().enumerate() {
            state.apply(&Event {
                format: EVENT_FORMAT,
                seq: seq as u64,
                at_ms: 0,
                prev: [0; 32],
                actor: Default::default(),
                context: RequestContext::default(),
                body,
            });
        }
        (state, tenant, cred)
    }

    #[test]
    fn check_and_set_matches_the_current_version_only() {
        let (s, t, c) = state_with_version(3, false);
        let mismatch = Err(DomainError::Conflict(CAS_MISMATCH.into()));
        assert_eq!(check_cas(&s, t, Some(c), Some(3)), Ok(()));
        assert_eq!(check_cas(&s, t, Some(c), None), Ok(()));
        assert_eq!(check_cas(&s, t, Some(c), Some(2)), mismatch);
        assert_eq!(check_cas(&s, t, Some(c), Some(0)), mismatch);
        assert_eq!(check_cas(&s, t, None, Some(0)), Ok(()));
        assert_eq!(check_cas(&s, t, None, Some(1)), mismatch.clone());
        // Vault compares any integer: a negative one is a mismatch, not an input error.
        assert_eq!(check_cas(&s, t, Some(c), Some(-1)), mismatch);
        let (s, t, c) = state_with_version(1, true);
        assert_eq!(
            check_cas(&s, t, Some(c), None),
            Err(DomainError::Conflict(CAS_REQUIRED.into()))
        );
    }

    #[test]
    fn given_a_patch_of_nothing_or_a_stale_cas_then_plan_write_refuses() {
        let (s, t, c) = state_with_version(2, false);
        let caller = Caller {
            tenant: t,
            principal: Id([9; 16]),
            token: Id([8; 16]),
            role: crate::event::Role::Admin,
            kind: crate::event::PrincipalKind::User,
            system_admin: false,
        };
        let req = |patch, cas| WriteRequest {
            path: "app/db",
            cas,
            patch,
        };
        let err = plan_write(&s, &caller, None, req(true, None), 10).unwrap_err();
        assert_eq!(err.error, DomainError::NotFound("secret"));
        // A permitted write of the existing path rotates to the next version.
        match plan_write(&s, &caller, Some(c), req(false, Some(2)), 10).unwrap() {
            WritePlan::Rotate {
                version, retain, ..
            } => assert_eq!((version, retain), (3, 10)),
            WritePlan::Create => panic!("expected a rotate"),
        }
        // A stale check-and-set is a conflict.
        let err = plan_write(&s, &caller, Some(c), req(false, Some(1)), 10).unwrap_err();
        assert_eq!(err.error, DomainError::Conflict(CAS_MISMATCH.into()));
    }

    #[test]
    fn go_durations() {
        for ok in ["0s", "1h30m", "768h", "1.5h", "10ms"] {
            assert!(check_duration("d", ok).is_ok(), "{ok}");
        }
        for bad in ["", "s", "10", "1d", "-1s", "1h x"] {
            assert!(check_duration("d", bad).is_err(), "{bad}");
        }
    }
}
