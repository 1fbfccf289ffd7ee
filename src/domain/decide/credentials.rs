//! The credential lifecycle: create, rotate, update, delete, restore, destroy, and the
//! default of a service. Grants are in `grants`, the permission matrix in
//! `permissions`.
//!
//! **Invariant:** names are unique per owner (a principal's personal credentials; the
//! tenant's shared ones), compared without case, so a conflict only ever names a
//! credential the caller could list anyway. At most one active credential per owner and
//! service is marked default: for the tenant the *tenant default*, for a principal its
//! *selected profile*; [`set_default`] moves the mark in one event batch.

use super::access::refused;
use super::permissions::may_create;
use super::{
    check_credential_name, check_expiry, check_rotate_days, managed, require_status, Access,
    Caller, Decision, DomainError,
};
use crate::domain::state::{CredStatus, Credential, State};
use crate::event::{Body, DenyReason, MetadataChange, Owner, RefusalReason, Role, Sealed};
use crate::id::Id;
use std::collections::BTreeMap;

/// The 409 of a name taken within one owner's names (it only ever names a credential the
/// caller may list: its own, or a shared one).
fn name_taken(caller: &Caller, owner: Owner, name: &str) -> DomainError {
    let whose = match owner {
        Owner::Tenant => "a shared credential".to_string(),
        Owner::Principal(p) if p == caller.principal => "you already have a credential".into(),
        Owner::Principal(_) => "that principal already has a credential".into(),
    };
    DomainError::Conflict(format!(
        "{whose} named '{name}' (names are unique per owner and compared without case)"
    ))
}

/// The 409 of a second default for one owner and service.
fn default_taken(owner: Owner, existing: Id, service: &str) -> DomainError {
    let what = match owner {
        Owner::Tenant => "the tenant default",
        Owner::Principal(_) => "the selected profile",
    };
    DomainError::Conflict(format!(
        "credential {existing} is already {what} for service '{service}'; switch with POST /v1/credentials/{{id}}/default"
    ))
}

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
    may_create(caller, owner).map_err(|(reason, message)| {
        let reason = match reason {
            DenyReason::NotGranted => RefusalReason::NotGranted,
            _ => RefusalReason::Role,
        };
        refused(
            caller,
            OP,
            None,
            reason,
            DomainError::Forbidden(message.into()),
        )
    })?;
    let name = check_credential_name(name)?;
    super::check_service(service)?;
    if let Owner::Principal(p) = owner {
        if !state.is_principal_of(p, caller.tenant) {
            return Err(
                DomainError::invalid("owner", "owner is not a principal of this tenant").into(),
            );
        }
    }
    if state.credential_name_taken(caller.tenant, owner, &name, None) {
        return Err(name_taken(caller, owner, &name).into());
    }
    if is_default {
        if let Some(existing) = state.marked_for(caller.tenant, owner, service) {
            return Err(default_taken(owner, existing, service).into());
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
        if state.credential_name_taken(cred.tenant, cred.owner, &name, Some(id)) {
            return Err(name_taken(caller, cred.owner, &name).into());
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
        if let Some(existing) = state
            .marked_for(cred.tenant, cred.owner, &cred.service)
            .filter(|e| *e != id)
        {
            return Err(default_taken(cred.owner, existing, &cred.service).into());
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
    let cred = managed(state, caller, id, "deleted", Access::Administer)?;
    require_status(cred, &[CredStatus::Active])?;
    Ok(vec![Body::CredentialDeleted {
        tenant: cred.tenant,
        credential: id,
    }])
}

/// Undo a soft delete. A credential that was the default of its service while another
/// became the default comes back without the mark (in the same batch), so there is never
/// more than one.
pub fn restore(state: &State, caller: &Caller, id: Id) -> Decision {
    let cred = managed(state, caller, id, "restored", Access::Administer)?;
    require_status(cred, &[CredStatus::Deleted])?;
    let mut events = vec![Body::CredentialRestored {
        tenant: cred.tenant,
        credential: id,
    }];
    if cred.is_default
        && state
            .marked_for(cred.tenant, cred.owner, &cred.service)
            .is_some()
    {
        events.push(Body::CredentialUpdated {
            tenant: cred.tenant,
            credential: id,
            change: MetadataChange {
                is_default: Some(false),
                ..MetadataChange::default()
            },
        });
    }
    Ok(events)
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

/// Makes `id` the default of its service for its owner, unsetting the previous one in
/// the same batch: for a shared credential the tenant default (admins and editors, or an
/// `admin` grant), for a personal one its owner's selected profile. A credential that is
/// already the default yields no event.
pub fn set_default(state: &State, caller: &Caller, id: Id, now_ms: i64) -> Decision {
    const OP: &str = "updated";
    let cred = managed(state, caller, id, OP, Access::Manage)?;
    if cred.owner == Owner::Tenant && !matches!(caller.role, Role::Admin | Role::Editor) {
        let level = super::grant_level(state, caller.principal, cred);
        if level < Some(crate::event::GrantLevel::Admin) {
            return Err(refused(
                caller,
                OP,
                Some(crate::event::Target::Credential(id)),
                RefusalReason::NotGranted,
                DomainError::Forbidden(
                    "making a shared credential the tenant default needs the admin or editor role, or an admin grant"
                        .into(),
                ),
            ));
        }
    }
    require_status(cred, &[CredStatus::Active])?;
    if cred.expired(now_ms) {
        return Err(DomainError::Gone("the credential has expired".into()).into());
    }
    let mark = |credential, is_default| Body::CredentialUpdated {
        tenant: cred.tenant,
        credential,
        change: MetadataChange {
            is_default: Some(is_default),
            ..MetadataChange::default()
        },
    };
    let previous = state.marked_for(cred.tenant, cred.owner, &cred.service);
    Ok(match previous {
        Some(p) if p == id => vec![],
        Some(p) => vec![mark(p, false), mark(id, true)],
        None => vec![mark(id, true)],
    })
}

/// A partial rotation that keeps secrets of the current version while changing a public
/// field (a host, a URL) could send those secrets somewhere new at the next connection
/// test; so it needs the right to resolve the credential. Without it, give every secret
/// field again (or change secrets only). A refusal is recorded.
pub fn check_carry(
    state: &State,
    caller: &Caller,
    id: Id,
    carried_secrets: bool,
    public_changed: bool,
) -> Decision<()> {
    if !(carried_secrets && public_changed) {
        return Ok(());
    }
    let Some(cred) = state.credentials.get(&id) else {
        return Ok(());
    };
    if super::can_resolve(state, caller, cred).is_ok() {
        return Ok(());
    }
    Err(refused(
        caller,
        "rotated",
        Some(crate::event::Target::Credential(id)),
        RefusalReason::NotGranted,
        DomainError::Forbidden(
            "changing public fields while keeping the current secrets needs the right to resolve this credential; give every secret field too".into(),
        ),
    ))
}
