//! Tenants, principals and tokens, and the bootstrap of a new ledger.
//!
//! **Invariant (system administration is separate):** only system admins create tenants
//! and system principals, mint tokens for, revoke tokens of, or disable a system
//! principal; no one mints a token for a principal above them ([`privilege`]); the last
//! enabled system admin cannot be disabled.

use super::access::{admin_only, privilege, refused, system_admin_only, tenant_principal};
use super::{check_simple_name, Caller, Decision, DomainError};
use crate::domain::state::{Principal, State};
use crate::event::{Body, Hash32, PrincipalKind, RefusalReason, Role, Target};
use crate::id::Id;

/// A new tenant with its first admin principal and that admin's token.
#[derive(Clone, Copy, Debug)]
pub struct NewTenant<'a> {
    pub tenant: Id,
    pub name: &'a str,
    pub admin: Id,
    pub token: Id,
    pub token_hash: Hash32,
}

fn tenant_bodies(new: &NewTenant<'_>, system_admin: bool) -> Vec<Body> {
    vec![
        Body::TenantCreated {
            tenant: new.tenant,
            name: new.name.to_string(),
        },
        Body::PrincipalCreated {
            tenant: new.tenant,
            principal: new.admin,
            name: "admin".into(),
            kind: PrincipalKind::User,
            role: Role::Admin,
            system_admin,
        },
        Body::TokenIssued {
            tenant: new.tenant,
            principal: new.admin,
            token: new.token,
            hash: new.token_hash,
            expires_at_ms: None,
        },
    ]
}

/// The events of a new ledger: the genesis, the tenant `default` and its admin, who is
/// the first system admin.
pub fn bootstrap(
    origin: String,
    signing_key: [u8; 32],
    tenant: Id,
    admin: Id,
    token: Id,
    token_hash: Hash32,
) -> Vec<Body> {
    let mut bodies = vec![Body::LedgerInitialized {
        origin,
        signing_key,
    }];
    bodies.extend(tenant_bodies(
        &NewTenant {
            tenant,
            name: "default",
            admin,
            token,
            token_hash,
        },
        true,
    ));
    bodies
}

/// A new tenant with its first admin principal and token. Only system admins.
pub fn create_tenant(state: &State, caller: &Caller, new: NewTenant<'_>) -> Decision {
    system_admin_only(
        caller,
        "tenant_created",
        None,
        "only a system admin can create tenants",
    )?;
    check_simple_name("name", new.name)?;
    if state.tenant_by_name(new.name).is_some() {
        return Err(
            DomainError::Conflict(format!("a tenant named '{}' already exists", new.name)).into(),
        );
    }
    Ok(tenant_bodies(&new, false))
}

/// A new principal in the caller's tenant. Admins only; a system principal (`system`,
/// with the admin or auditor role) only by a system admin.
pub fn create_principal(
    state: &State,
    caller: &Caller,
    principal: Id,
    name: &str,
    kind: PrincipalKind,
    role: Role,
    system: bool,
) -> Decision {
    const OP: &str = "principal_created";
    admin_only(caller, OP, None)?;
    if system {
        system_admin_only(
            caller,
            OP,
            None,
            "only a system admin can create system principals",
        )?;
        if !matches!(role, Role::Admin | Role::Auditor) || kind != PrincipalKind::User {
            return Err(DomainError::invalid(
                "system",
                "a system principal is a user with the admin or auditor role",
            )
            .into());
        }
    }
    check_simple_name("name", name)?;
    if state.principal_by_name(caller.tenant, name).is_some() {
        return Err(
            DomainError::Conflict(format!("a principal named '{name}' already exists")).into(),
        );
    }
    Ok(vec![Body::PrincipalCreated {
        tenant: caller.tenant,
        principal,
        name: name.to_string(),
        kind,
        role,
        system_admin: system,
    }])
}

/// Refuses acting on `target` (another principal) when it is a system principal and the
/// caller is not a system admin, or when it has a higher privilege than the caller.
fn may_act_on(
    caller: &Caller,
    target_id: Id,
    target: &Principal,
    operation: &str,
) -> Result<(), super::Rejection> {
    if target_id == caller.principal {
        return Ok(());
    }
    if target.system_admin {
        system_admin_only(
            caller,
            operation,
            Some(Target::Principal(target_id)),
            "only a system admin can act on a system principal",
        )?;
    }
    if privilege(target.role, target.system_admin) > privilege(caller.role, caller.system_admin) {
        return Err(refused(
            caller,
            operation,
            Some(Target::Principal(target_id)),
            RefusalReason::Privilege,
            DomainError::Forbidden("the principal has a higher privilege than you".into()),
        ));
    }
    Ok(())
}

/// A new token for `principal`: admins for anyone in the tenant they may act on, others
/// for themselves.
pub fn issue_token(
    state: &State,
    caller: &Caller,
    principal: Id,
    token: Id,
    hash: Hash32,
    expires_at_ms: Option<i64>,
    now_ms: i64,
) -> Decision {
    const OP: &str = "token_issued";
    let p = tenant_principal(state, caller, principal, OP)?;
    if principal != caller.principal {
        admin_only(caller, OP, Some(Target::Principal(principal)))?;
        may_act_on(caller, principal, p, OP)?;
    }
    if p.disabled {
        return Err(DomainError::Conflict("the principal is disabled".into()).into());
    }
    if expires_at_ms.is_some_and(|e| e <= now_ms) {
        return Err(DomainError::invalid("expires_at", "expires_at must be in the future").into());
    }
    Ok(vec![Body::TokenIssued {
        tenant: caller.tenant,
        principal,
        token,
        hash,
        expires_at_ms,
    }])
}

/// Revokes a token: admins any in the tenant whose owner they may act on, others their
/// own.
pub fn revoke_token(state: &State, caller: &Caller, token: Id) -> Decision {
    const OP: &str = "token_revoked";
    let t = state
        .tokens
        .get(&token)
        .filter(|t| t.tenant == caller.tenant)
        .ok_or_else(|| super::access::not_found(caller, OP, Target::Token(token), "token"))?;
    if t.principal != caller.principal {
        admin_only(caller, OP, Some(Target::Token(token)))?;
        if let Some(owner) = state.principals.get(&t.principal) {
            may_act_on(caller, t.principal, owner, OP).map_err(|mut r| {
                for rec in &mut r.records {
                    if let Body::AccessDeniedV2 { target, .. } = rec {
                        *target = Some(Target::Token(token));
                    }
                }
                r
            })?;
        }
    }
    if t.revoked {
        return Err(DomainError::Conflict("the token is already revoked".into()).into());
    }
    Ok(vec![Body::TokenRevoked {
        tenant: caller.tenant,
        token,
    }])
}

/// Disables a principal and revokes its tokens. Admins only; not oneself; a system
/// principal only by a system admin; never the last enabled system admin.
pub fn disable_principal(state: &State, caller: &Caller, principal: Id) -> Decision {
    const OP: &str = "principal_disabled";
    admin_only(caller, OP, Some(Target::Principal(principal)))?;
    let p = tenant_principal(state, caller, principal, OP)?;
    if principal == caller.principal {
        return Err(DomainError::Conflict("a principal cannot disable itself".into()).into());
    }
    may_act_on(caller, principal, p, OP)?;
    if p.disabled {
        return Err(DomainError::Conflict("the principal is already disabled".into()).into());
    }
    if state.is_active_system_admin(principal)
        && !state
            .principals
            .keys()
            .any(|other| *other != principal && state.is_active_system_admin(*other))
    {
        return Err(
            DomainError::Conflict("the last system admin cannot be disabled".into()).into(),
        );
    }
    let mut events = vec![Body::PrincipalDisabled {
        tenant: caller.tenant,
        principal,
    }];
    let mut tokens: Vec<Id> = state
        .tokens
        .iter()
        .filter(|(_, t)| t.principal == principal && !t.revoked)
        .map(|(id, _)| *id)
        .collect();
    tokens.sort();
    events.extend(tokens.into_iter().map(|token| Body::TokenRevoked {
        tenant: caller.tenant,
        token,
    }));
    Ok(events)
}

/// Listing the tenant's principals: its reviewers, and editors (who grant credentials
/// to principals and groups by name).
pub fn list_principals(caller: &Caller) -> Decision<()> {
    if matches!(caller.role, Role::Admin | Role::Editor | Role::Auditor) {
        return Ok(());
    }
    Err(refused(
        caller,
        "principals_listed",
        None,
        RefusalReason::Role,
        DomainError::Forbidden("listing principals needs the admin, editor or auditor role".into()),
    ))
}
