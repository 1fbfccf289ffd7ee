//! Delegated resolves: which service may resolve `for_user`, for whom.
//!
//! **Invariant:** a `for_user` resolve happens only under a delegation an admin granted
//! to that service; `all_users` never covers a system principal, which must be listed by
//! name, and only a system admin may list one.

use super::access::{admin_only, system_admin_only, tenant_principal};
use super::{Caller, Decision, DomainError};
use crate::domain::state::State;
use crate::event::{Body, DenyReason, PrincipalKind, Target};
use crate::id::Id;

/// Grants (or replaces) the delegation of service `principal`. Admins only.
pub fn grant_delegation(
    state: &State,
    caller: &Caller,
    principal: Id,
    all_users: bool,
    users: &[Id],
) -> Decision {
    const OP: &str = "delegation_granted";
    admin_only(caller, OP, Some(Target::Principal(principal)))?;
    let p = tenant_principal(state, caller, principal, OP)?;
    if p.kind != PrincipalKind::Service {
        return Err(DomainError::invalid(
            "principal",
            "only service principals can hold a delegation",
        )
        .into());
    }
    if !all_users && users.is_empty() {
        return Err(
            DomainError::invalid("users", "give all_users: true or at least one user").into(),
        );
    }
    let mut listed: Vec<Id> = users.to_vec();
    listed.sort();
    listed.dedup();
    for u in &listed {
        let Some(user) = state
            .principals
            .get(u)
            .filter(|x| x.tenant == caller.tenant)
        else {
            return Err(DomainError::invalid(
                "users",
                format!("{u} is not a principal of this tenant"),
            )
            .into());
        };
        if user.system_admin {
            system_admin_only(
                caller,
                OP,
                Some(Target::Principal(principal)),
                "only a system admin can delegate resolves for a system principal",
            )?;
        }
    }
    Ok(vec![Body::DelegationGranted {
        tenant: caller.tenant,
        principal,
        all_users,
        users: listed,
    }])
}

/// Withdraws the delegation of `principal`. Admins only.
pub fn revoke_delegation(state: &State, caller: &Caller, principal: Id) -> Decision {
    const OP: &str = "delegation_revoked";
    admin_only(caller, OP, Some(Target::Principal(principal)))?;
    tenant_principal(state, caller, principal, OP)?;
    if !state.delegations.contains_key(&principal) {
        return Err(DomainError::NotFound("delegation").into());
    }
    Ok(vec![Body::DelegationRevoked {
        tenant: caller.tenant,
        principal,
    }])
}

/// Whether the caller may resolve for `user`: a service whose delegation covers them
/// (`NotGranted` when it has none that does, `Role` when the caller is not a service).
pub(crate) fn may_resolve_for(state: &State, caller: &Caller, user: Id) -> Result<(), DenyReason> {
    if caller.kind != PrincipalKind::Service {
        return Err(DenyReason::Role);
    }
    let Some(d) = state.delegations.get(&caller.principal) else {
        return Err(DenyReason::NotGranted);
    };
    let system = state.principals.get(&user).is_some_and(|p| p.system_admin);
    if d.users.contains(&user) || (d.all_users && !system) {
        Ok(())
    } else {
        Err(DenyReason::NotGranted)
    }
}

/// The refusal of a `for_user` resolve without delegation (a `use_denied` record).
pub(crate) fn not_delegated(
    caller: &Caller,
    service: &str,
    user: Id,
    reason: DenyReason,
) -> super::Rejection {
    let message = match reason {
        DenyReason::Role => "only service principals may resolve for another user",
        DenyReason::NotGranted
        | DenyReason::OtherTenant
        | DenyReason::Deleted
        | DenyReason::Destroyed
        | DenyReason::Expired
        | DenyReason::NotConfigured
        | DenyReason::Unavailable => "this service has no delegation to resolve for that user",
    };
    super::resolve::denied(
        caller.tenant,
        None,
        Some(service),
        Some(user),
        reason,
        DomainError::Forbidden(message.into()),
    )
}
