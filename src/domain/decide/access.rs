//! Who may touch a credential or administer a tenant: the authorization rules shared by
//! every decision.

use super::{Caller, Decision, DomainError, Rejection};
use crate::domain::state::{CredStatus, Credential, State};
use crate::event::{Body, DenyReason, Owner, Role};
use crate::id::Id;

pub(crate) fn require_admin(caller: &Caller) -> Result<(), DomainError> {
    if caller.role == Role::Admin {
        Ok(())
    } else {
        Err(DomainError::Forbidden(
            "this action needs the admin role".into(),
        ))
    }
}

/// What kind of access a credential action needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// Change metadata, rotate, delete, restore, grant, verify.
    Manage,
    /// Destroy (irreversible): admins, or the owner of a personal credential.
    Destroy,
}

pub(crate) fn can_manage(
    caller: &Caller,
    cred: &Credential,
    access: Access,
) -> Result<(), DenyReason> {
    match (caller.role, access) {
        (Role::Admin, _) => Ok(()),
        (Role::Editor, _) if cred.owner == Owner::Principal(caller.principal) => Ok(()),
        (Role::Editor, Access::Manage) if cred.owner == Owner::Tenant => Ok(()),
        (Role::Editor, _) => Err(DenyReason::NotGranted),
        _ => Err(DenyReason::Role),
    }
}

pub(crate) fn deny_message(reason: DenyReason) -> String {
    match reason {
        DenyReason::Role => "your role does not allow this action on credentials".into(),
        DenyReason::NotGranted => {
            "you are neither the owner of this credential nor granted it".into()
        }
        _ => "access denied".into(),
    }
}

/// Finds a credential for a managing action, recording a refusal when it exists but the
/// caller may not act on it.
pub(crate) fn managed<'s>(
    state: &'s State,
    caller: &Caller,
    id: Id,
    attempted: &str,
    access: Access,
) -> Decision<&'s Credential> {
    let cred = visible(state, caller, id, |tenant| Body::AccessDenied {
        tenant,
        credential: id,
        attempted: attempted.to_string(),
        reason: DenyReason::OtherTenant,
    })?;
    can_manage(caller, cred, access).map_err(|reason| Rejection {
        error: DomainError::Forbidden(deny_message(reason)),
        record: Some(Box::new(Body::AccessDenied {
            tenant: cred.tenant,
            credential: id,
            attempted: attempted.to_string(),
            reason,
        })),
    })?;
    Ok(cred)
}

/// Finds a credential in the caller's tenant. One in another tenant is reported as not
/// found, and the attempt is recorded in the owning tenant's log.
pub(crate) fn visible<'s>(
    state: &'s State,
    caller: &Caller,
    id: Id,
    record: impl FnOnce(Id) -> Body,
) -> Decision<&'s Credential> {
    let cred = state
        .credentials
        .get(&id)
        .ok_or(DomainError::NotFound("credential"))?;
    if cred.tenant != caller.tenant {
        return Err(Rejection {
            error: DomainError::NotFound("credential"),
            record: Some(Box::new(record(cred.tenant))),
        });
    }
    Ok(cred)
}

pub(crate) fn require_status(cred: &Credential, allowed: &[CredStatus]) -> Result<(), DomainError> {
    if allowed.contains(&cred.status) {
        return Ok(());
    }
    Err(match cred.status {
        CredStatus::Destroyed => DomainError::Gone("the credential was destroyed".into()),
        CredStatus::Deleted => {
            DomainError::Conflict("the credential is deleted; restore it first".into())
        }
        CredStatus::Active => DomainError::Conflict("the credential is not deleted".into()),
    })
}

pub(crate) fn can_resolve(caller: &Caller, cred: &Credential) -> Result<(), DenyReason> {
    if caller.role == Role::Auditor {
        return Err(DenyReason::Role);
    }
    match cred.owner {
        Owner::Principal(p) if p == caller.principal => Ok(()),
        Owner::Principal(_) => Err(DenyReason::NotGranted),
        Owner::Tenant
            if matches!(caller.role, Role::Admin | Role::Editor)
                || cred.grants.contains(&caller.principal)
                || cred.is_default =>
        {
            Ok(())
        }
        Owner::Tenant => Err(DenyReason::NotGranted),
    }
}
