//! The credential lifecycle: create, rotate, update, delete, restore, destroy, grants.

use super::access::refused;
use super::{
    check_credential_name, check_expiry, check_rotate_days, managed, require_status, Access,
    Caller, Decision, DomainError,
};
use crate::domain::state::{CredStatus, Credential, State};
use crate::event::{Body, MetadataChange, Owner, RefusalReason, Role, Sealed};
use crate::id::Id;
use std::collections::BTreeMap;

/// Everything a new credential needs, made by the shell.
#[derive(Clone, Debug)]
pub struct NewCredential {
    pub id: Id,
    pub name: String,
    pub template: String,
    pub service: String,
    pub owner: Owner,
    pub description: String,
    pub public: BTreeMap<String, String>,
    pub sealed: Sealed,
    pub rotate_every_days: Option<u32>,
    pub expires_at_ms: Option<i64>,
    pub is_default: bool,
}

/// Checks who may own a new credential and the uniqueness rules, before sealing.
/// Returns the name as it is stored (NFC).
pub fn check_create(
    state: &State,
    caller: &Caller,
    name: &str,
    service: &str,
    owner: Owner,
    is_default: bool,
) -> Decision<String> {
    const OP: &str = "created";
    let forbidden = |reason, message: &str| {
        refused(
            caller,
            OP,
            None,
            reason,
            DomainError::Forbidden(message.into()),
        )
    };
    match caller.role {
        Role::Admin | Role::Editor => {}
        Role::Resolver | Role::Auditor => {
            return Err(forbidden(
                RefusalReason::Role,
                "creating credentials needs the admin or editor role",
            ))
        }
    }
    let name = check_credential_name(name)?;
    super::check_service(service)?;
    if let Owner::Principal(p) = owner {
        if !state.is_principal_of(p, caller.tenant) {
            return Err(
                DomainError::invalid("owner", "owner is not a principal of this tenant").into(),
            );
        }
        if p != caller.principal && caller.role != Role::Admin {
            return Err(forbidden(
                RefusalReason::NotGranted,
                "only admins create credentials owned by someone else",
            ));
        }
        if is_default {
            return Err(DomainError::invalid(
                "default",
                "only shared (tenant-owned) credentials can be a tenant default",
            )
            .into());
        }
    }
    if state.credential_name_taken(caller.tenant, &name, None) {
        return Err(DomainError::Conflict(format!(
            "a credential named '{name}' already exists (names are compared without case)"
        ))
        .into());
    }
    if is_default {
        if let Some(existing) = state.default_for(caller.tenant, service) {
            return Err(DomainError::Conflict(format!(
                "credential {existing} is already the default for service '{service}'; unset it first"
            )).into());
        }
    }
    Ok(name)
}

/// A new credential (version 1).
pub fn create_credential(
    state: &State,
    caller: &Caller,
    new: NewCredential,
    now_ms: i64,
) -> Decision {
    let name = check_create(
        state,
        caller,
        &new.name,
        &new.service,
        new.owner,
        new.is_default,
    )?;
    check_expiry(new.expires_at_ms, now_ms)?;
    check_rotate_days(new.rotate_every_days)?;
    Ok(vec![Body::CredentialCreated {
        tenant: caller.tenant,
        credential: new.id,
        name,
        template: new.template,
        service: new.service,
        owner: new.owner,
        description: new.description,
        public: new.public,
        sealed: new.sealed,
        rotate_every_days: new.rotate_every_days,
        expires_at_ms: new.expires_at_ms,
        is_default: new.is_default,
    }])
}

/// A rotation the caller may make: the credential and the version it will create.
#[derive(Clone, Copy, Debug)]
pub struct Rotation<'s> {
    pub cred: &'s Credential,
    pub version: u32,
}

/// Checks that the caller may rotate `id` and returns the credential and the next
/// version number.
pub fn check_rotate<'s>(state: &'s State, caller: &Caller, id: Id) -> Decision<Rotation<'s>> {
    let cred = managed(state, caller, id, "rotated", Access::Manage)?;
    require_status(cred, &[CredStatus::Active])?;
    Ok(Rotation {
        cred,
        version: cred.current + 1,
    })
}

/// A new version. Versions beyond `retain` (counting the new one) are retired.
pub fn rotate(
    state: &State,
    caller: &Caller,
    id: Id,
    version: u32,
    public: BTreeMap<String, String>,
    sealed: Sealed,
    retain: u32,
) -> Decision {
    let Rotation {
        cred,
        version: next,
    } = check_rotate(state, caller, id)?;
    if version != next {
        return Err(
            DomainError::Conflict("the credential was rotated concurrently; retry".into()).into(),
        );
    }
    let keep_from = version.saturating_sub(retain.max(2) - 1);
    let retired = cred
        .versions
        .keys()
        .copied()
        .filter(|v| *v < keep_from)
        .collect();
    Ok(vec![Body::CredentialRotated {
        tenant: cred.tenant,
        credential: id,
        version,
        public,
        sealed,
        retired,
    }])
}

/// A metadata change.
pub fn update(
    state: &State,
    caller: &Caller,
    id: Id,
    change: MetadataChange,
    now_ms: i64,
) -> Decision {
    let cred = managed(state, caller, id, "updated", Access::Manage)?;
    require_status(cred, &[CredStatus::Active, CredStatus::Deleted])?;
    if change == MetadataChange::default() {
        return Err(DomainError::Invalid {
            field: None,
            message: "nothing to update".into(),
        }
        .into());
    }
    let mut change = change;
    if let Some(name) = &change.name {
        let name = check_credential_name(name)?;
        if state.credential_name_taken(cred.tenant, &name, Some(id)) {
            return Err(DomainError::Conflict(format!(
                "a credential named '{name}' already exists (names are compared without case)"
            ))
            .into());
        }
        change.name = Some(name);
    }
    if let Some(Some(e)) = change.expires_at_ms {
        check_expiry(Some(e), now_ms)?;
    }
    if let Some(r) = change.rotate_every_days {
        check_rotate_days(r)?;
    }
    if change.is_default == Some(true) {
        if cred.owner != Owner::Tenant {
            return Err(DomainError::invalid(
                "default",
                "only shared (tenant-owned) credentials can be a tenant default",
            )
            .into());
        }
        if let Some(existing) = state
            .default_for(cred.tenant, &cred.service)
            .filter(|e| *e != id)
        {
            return Err(DomainError::Conflict(format!(
                "credential {existing} is already the default for service '{}'; unset it first",
                cred.service
            ))
            .into());
        }
    }
    Ok(vec![Body::CredentialUpdated {
        tenant: cred.tenant,
        credential: id,
        change,
    }])
}

/// Soft delete.
pub fn delete(state: &State, caller: &Caller, id: Id) -> Decision {
    let cred = managed(state, caller, id, "deleted", Access::Manage)?;
    require_status(cred, &[CredStatus::Active])?;
    Ok(vec![Body::CredentialDeleted {
        tenant: cred.tenant,
        credential: id,
    }])
}

/// Undo a soft delete.
pub fn restore(state: &State, caller: &Caller, id: Id) -> Decision {
    let cred = managed(state, caller, id, "restored", Access::Manage)?;
    require_status(cred, &[CredStatus::Deleted])?;
    Ok(vec![Body::CredentialRestored {
        tenant: cred.tenant,
        credential: id,
    }])
}

/// Crypto-shred every version.
pub fn destroy(state: &State, caller: &Caller, id: Id) -> Decision {
    let cred = managed(state, caller, id, "destroyed", Access::Destroy)?;
    require_status(cred, &[CredStatus::Active, CredStatus::Deleted])?;
    let versions = cred.versions.keys().copied().collect();
    Ok(vec![Body::CredentialDestroyed {
        tenant: cred.tenant,
        credential: id,
        versions,
    }])
}

/// Grant a shared credential to a principal of the tenant.
pub fn grant(state: &State, caller: &Caller, id: Id, principal: Id) -> Decision {
    let cred = managed(state, caller, id, "granted", Access::Manage)?;
    require_status(cred, &[CredStatus::Active, CredStatus::Deleted])?;
    if cred.owner != Owner::Tenant {
        return Err(DomainError::invalid(
            "principal",
            "only shared (tenant-owned) credentials can be granted",
        )
        .into());
    }
    if !state.is_principal_of(principal, cred.tenant) {
        return Err(DomainError::invalid(
            "principal",
            "principal is not a principal of this tenant",
        )
        .into());
    }
    if cred.grants.contains(&principal) {
        return Err(DomainError::Conflict("the principal already has this grant".into()).into());
    }
    Ok(vec![Body::GrantAdded {
        tenant: cred.tenant,
        credential: id,
        principal,
    }])
}

/// Revoke a grant.
pub fn revoke_grant(state: &State, caller: &Caller, id: Id, principal: Id) -> Decision {
    let cred = managed(state, caller, id, "grant_revoked", Access::Manage)?;
    if !cred.grants.contains(&principal) {
        return Err(super::access::not_found(
            caller,
            "grant_revoked",
            crate::event::Target::Principal(principal),
            "grant",
        ));
    }
    Ok(vec![Body::GrantRevoked {
        tenant: cred.tenant,
        credential: id,
        principal,
    }])
}
