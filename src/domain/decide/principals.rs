//! Tenants, principals and tokens.

use super::{check_simple_name, require_admin, Caller, Decision, DomainError};
use crate::domain::state::State;
use crate::event::{Body, Hash32, PrincipalKind, Role};
use crate::id::Id;

/// A new tenant with its first admin principal and token. Only system admins.
#[allow(clippy::too_many_arguments)]
pub fn create_tenant(
    state: &State,
    caller: &Caller,
    tenant: Id,
    name: &str,
    admin: Id,
    token: Id,
    token_hash: Hash32,
) -> Decision {
    if !caller.system_admin {
        return Err(DomainError::Forbidden("only a system admin can create tenants".into()).into());
    }
    check_simple_name("name", name)?;
    if state.tenant_by_name(name).is_some() {
        return Err(
            DomainError::Conflict(format!("a tenant named '{name}' already exists")).into(),
        );
    }
    Ok(vec![
        Body::TenantCreated {
            tenant,
            name: name.to_string(),
        },
        Body::PrincipalCreated {
            tenant,
            principal: admin,
            name: "admin".into(),
            kind: PrincipalKind::User,
            role: Role::Admin,
            system_admin: false,
        },
        Body::TokenIssued {
            tenant,
            principal: admin,
            token,
            hash: token_hash,
            expires_at_ms: None,
        },
    ])
}

/// A new principal in the caller's tenant. Admins only.
pub fn create_principal(
    state: &State,
    caller: &Caller,
    principal: Id,
    name: &str,
    kind: PrincipalKind,
    role: Role,
) -> Decision {
    require_admin(caller)?;
    check_simple_name("name", name)?;
    if state
        .principals
        .values()
        .any(|p| p.tenant == caller.tenant && p.name == name)
    {
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
        system_admin: false,
    }])
}

/// A new token for `principal`: admins for anyone in the tenant, others for themselves.
pub fn issue_token(
    state: &State,
    caller: &Caller,
    principal: Id,
    token: Id,
    hash: Hash32,
    expires_at_ms: Option<i64>,
    now_ms: i64,
) -> Decision {
    let p = state
        .principals
        .get(&principal)
        .filter(|p| p.tenant == caller.tenant)
        .ok_or(DomainError::NotFound("principal"))?;
    if principal != caller.principal {
        require_admin(caller)?;
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

/// Revokes a token: admins any in the tenant, others their own.
pub fn revoke_token(state: &State, caller: &Caller, token: Id) -> Decision {
    let t = state
        .tokens
        .get(&token)
        .filter(|t| t.tenant == caller.tenant)
        .ok_or(DomainError::NotFound("token"))?;
    if t.principal != caller.principal {
        require_admin(caller)?;
    }
    if t.revoked {
        return Err(DomainError::Conflict("the token is already revoked".into()).into());
    }
    Ok(vec![Body::TokenRevoked {
        tenant: caller.tenant,
        token,
    }])
}

/// Disables a principal and revokes its tokens. Admins only; not oneself.
pub fn disable_principal(state: &State, caller: &Caller, principal: Id) -> Decision {
    require_admin(caller)?;
    let p = state
        .principals
        .get(&principal)
        .filter(|p| p.tenant == caller.tenant)
        .ok_or(DomainError::NotFound("principal"))?;
    if principal == caller.principal {
        return Err(DomainError::Conflict("a principal cannot disable itself".into()).into());
    }
    if p.disabled {
        return Err(DomainError::Conflict("the principal is already disabled".into()).into());
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
