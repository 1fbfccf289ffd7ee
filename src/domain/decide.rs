//! Every business rule: who may do what, and which events a command yields.
//!
//! Each function takes the current [`State`], the authenticated [`Caller`] and the
//! command's inputs (ids, times and sealed payloads made by the shell) and returns the
//! events to append, or a [`Rejection`]. A rejection may carry an event that must be
//! recorded anyway (`UseDenied`, `AccessDenied`): every decision that touches a
//! credential leaves a trace.

use super::state::{CredStatus, Credential, State};
use crate::event::{
    Body, DenyReason, Hash32, MetadataChange, Owner, PrincipalKind, Purpose, Role, Sealed, Source,
};
use crate::id::Id;
use std::collections::BTreeMap;

/// The authenticated principal behind a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    pub tenant: Id,
    pub principal: Id,
    pub token: Id,
    pub role: Role,
    pub kind: PrincipalKind,
    pub system_admin: bool,
}

/// Why a command was refused. Each variant names its HTTP status.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DomainError {
    /// 404: no such object in the caller's tenant (also for other tenants' objects, so
    /// existence does not leak). Not retryable.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 403: the caller's role or grants do not allow this. Not retryable.
    #[error("{0}")]
    Forbidden(String),
    /// 409: the command conflicts with current state (duplicate name, wrong lifecycle
    /// state). Retry after changing the state.
    #[error("{0}")]
    Conflict(String),
    /// 422: an input value breaks a rule; `field` names it. Fix the input.
    #[error("{message}")]
    Invalid {
        field: Option<String>,
        message: String,
    },
    /// 410: the credential was destroyed or has expired. Not retryable.
    #[error("{0}")]
    Gone(String),
    /// 404: nothing is configured for the service (no credential, no fallback).
    #[error("no credential is configured for service '{0}' (none owned, granted or default, and no environment fallback)")]
    NotConfigured(String),
}

impl DomainError {
    fn invalid(field: &str, message: impl Into<String>) -> Self {
        DomainError::Invalid {
            field: Some(field.to_string()),
            message: message.into(),
        }
    }
}

/// A refused command, with the event that records the refusal (if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub error: DomainError,
    pub record: Option<Box<Body>>,
}

impl From<DomainError> for Rejection {
    fn from(error: DomainError) -> Self {
        Rejection {
            error,
            record: None,
        }
    }
}

/// The result of a decision.
pub type Decision<T = Vec<Body>> = Result<T, Rejection>;

/// Checks a tenant or principal name: 1–64 characters of `[A-Za-z0-9._@-]`.
pub fn check_simple_name(field: &str, name: &str) -> Result<(), DomainError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(DomainError::invalid(
            field,
            format!("{field} must be 1-64 characters of letters, digits, '.', '_', '-', '@'"),
        ))
    }
}

/// Checks a credential name: 1–128 printable characters, no leading/trailing '/'.
pub fn check_credential_name(name: &str) -> Result<(), DomainError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('/')
        && !name.ends_with('/')
        && !name.contains("//")
        && name
            .chars()
            .all(|c| !c.is_control() && c != '?' && c != '#');
    if ok {
        Ok(())
    } else {
        Err(DomainError::invalid("name", "name must be 1-128 printable characters without '?', '#', empty path segments or a leading/trailing '/'"))
    }
}

fn require_admin(caller: &Caller) -> Result<(), DomainError> {
    if caller.role == Role::Admin {
        Ok(())
    } else {
        Err(DomainError::Forbidden(
            "this action needs the admin role".into(),
        ))
    }
}

// ---- tenants, principals, tokens -------------------------------------------------

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

// ---- credentials -------------------------------------------------------------------

/// What kind of access a credential action needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    /// Change metadata, rotate, delete, restore, grant, verify.
    Manage,
    /// Destroy (irreversible): admins, or the owner of a personal credential.
    Destroy,
}

fn can_manage(caller: &Caller, cred: &Credential, access: Access) -> Result<(), DenyReason> {
    match (caller.role, access) {
        (Role::Admin, _) => Ok(()),
        (Role::Editor, _) if cred.owner == Owner::Principal(caller.principal) => Ok(()),
        (Role::Editor, Access::Manage) if cred.owner == Owner::Tenant => Ok(()),
        (Role::Editor, _) => Err(DenyReason::NotGranted),
        _ => Err(DenyReason::Role),
    }
}

fn deny_message(reason: DenyReason) -> String {
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
fn managed<'s>(
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
fn visible<'s>(
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

fn require_status(cred: &Credential, allowed: &[CredStatus]) -> Result<(), DomainError> {
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
pub fn check_create(
    state: &State,
    caller: &Caller,
    name: &str,
    service: &str,
    owner: Owner,
    is_default: bool,
) -> Result<(), DomainError> {
    match caller.role {
        Role::Admin | Role::Editor => {}
        _ => {
            return Err(DomainError::Forbidden(
                "creating credentials needs the admin or editor role".into(),
            ))
        }
    }
    check_credential_name(name)?;
    if let Owner::Principal(p) = owner {
        if !state.is_principal_of(p, caller.tenant) {
            return Err(DomainError::invalid(
                "owner",
                "owner is not a principal of this tenant",
            ));
        }
        if p != caller.principal && caller.role != Role::Admin {
            return Err(DomainError::Forbidden(
                "only admins create credentials owned by someone else".into(),
            ));
        }
        if is_default {
            return Err(DomainError::invalid(
                "default",
                "only shared (tenant-owned) credentials can be a tenant default",
            ));
        }
    }
    if state.names.contains_key(&(caller.tenant, name.to_string())) {
        return Err(DomainError::Conflict(format!(
            "a credential named '{name}' already exists"
        )));
    }
    if is_default {
        if let Some(existing) = state.default_for(caller.tenant, service) {
            return Err(DomainError::Conflict(format!(
                "credential {existing} is already the default for service '{service}'; unset it first"
            )));
        }
    }
    Ok(())
}

/// A new credential (version 1).
pub fn create_credential(
    state: &State,
    caller: &Caller,
    new: NewCredential,
    now_ms: i64,
) -> Decision {
    check_create(
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
        name: new.name,
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

fn check_expiry(expires_at_ms: Option<i64>, now_ms: i64) -> Result<(), DomainError> {
    if expires_at_ms.is_some_and(|e| e <= now_ms) {
        return Err(DomainError::invalid(
            "expires_at",
            "expires_at must be in the future",
        ));
    }
    Ok(())
}

fn check_rotate_days(days: Option<u32>) -> Result<(), DomainError> {
    if days.is_some_and(|d| d == 0 || d > 3650) {
        return Err(DomainError::invalid(
            "rotate_every_days",
            "rotate_every_days must be between 1 and 3650",
        ));
    }
    Ok(())
}

/// Checks that the caller may rotate `id` and returns the next version number.
pub fn check_rotate(state: &State, caller: &Caller, id: Id) -> Decision<u32> {
    let cred = managed(state, caller, id, "rotated", Access::Manage)?;
    require_status(cred, &[CredStatus::Active])?;
    Ok(cred.current + 1)
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
    let next = check_rotate(state, caller, id)?;
    if version != next {
        return Err(
            DomainError::Conflict("the credential was rotated concurrently; retry".into()).into(),
        );
    }
    let cred = &state.credentials[&id];
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
    if let Some(name) = &change.name {
        check_credential_name(name)?;
        if state
            .names
            .get(&(cred.tenant, name.clone()))
            .is_some_and(|other| *other != id)
        {
            return Err(DomainError::Conflict(format!(
                "a credential named '{name}' already exists"
            ))
            .into());
        }
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
        return Err(DomainError::NotFound("grant").into());
    }
    Ok(vec![Body::GrantRevoked {
        tenant: cred.tenant,
        credential: id,
        principal,
    }])
}

// ---- resolution --------------------------------------------------------------------

/// What a resolve released.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolved {
    /// A credential version.
    Credential {
        id: Id,
        version: u32,
        source: Source,
    },
    /// The start-up environment fallback for the service.
    Env,
}

fn denied(
    cred_tenant: Id,
    credential: Option<Id>,
    service: Option<&str>,
    subject: Option<Id>,
    reason: DenyReason,
    error: DomainError,
) -> Rejection {
    Rejection {
        error,
        record: Some(Box::new(Body::UseDenied {
            tenant: cred_tenant,
            credential,
            service: service.map(str::to_string),
            subject,
            reason,
        })),
    }
}

fn resolvable(cred: &Credential, now_ms: i64) -> Result<(), (DenyReason, DomainError)> {
    match cred.status {
        CredStatus::Destroyed => Err((
            DenyReason::Destroyed,
            DomainError::Gone("the credential was destroyed".into()),
        )),
        CredStatus::Deleted => Err((
            DenyReason::Deleted,
            DomainError::Conflict("the credential is deleted; restore it first".into()),
        )),
        CredStatus::Active if cred.expired(now_ms) => Err((
            DenyReason::Expired,
            DomainError::Gone("the credential has expired".into()),
        )),
        CredStatus::Active => Ok(()),
    }
}

fn can_resolve(caller: &Caller, cred: &Credential) -> Result<(), DenyReason> {
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

/// Resolve one credential by id (its current version, or `version`).
pub fn resolve_by_id(
    state: &State,
    caller: &Caller,
    id: Id,
    version: Option<u32>,
    purpose: Purpose,
    now_ms: i64,
) -> Decision<(Resolved, Body)> {
    let cred = visible(state, caller, id, |tenant| Body::UseDenied {
        tenant,
        credential: Some(id),
        service: None,
        subject: None,
        reason: DenyReason::OtherTenant,
    })?;
    let deny = |reason, error| denied(cred.tenant, Some(id), None, None, reason, error);
    can_resolve(caller, cred).map_err(|r| deny(r, DomainError::Forbidden(deny_message(r))))?;
    resolvable(cred, now_ms).map_err(|(r, e)| deny(r, e))?;
    let version = version.unwrap_or(cred.current);
    if let Some((reason, error)) = kv::version_refusal(state, id, version) {
        return Err(deny(reason, error));
    }
    if !cred.versions.contains_key(&version) {
        let error = if version > cred.current || version == 0 {
            DomainError::NotFound("version")
        } else {
            DomainError::Gone(format!(
                "version {version} is past retention and was shredded"
            ))
        };
        return Err(deny(DenyReason::Unavailable, error));
    }
    let resolved = Resolved::Credential {
        id,
        version,
        source: Source::Direct,
    };
    Ok((
        resolved,
        Body::CredentialUsed {
            tenant: cred.tenant,
            credential: Some(id),
            version: Some(version),
            service: Some(cred.service.clone()),
            subject: None,
            source: Source::Direct,
            purpose,
        },
    ))
}

/// Resolve a service for the caller or, for resolver services and admins, for a user:
/// own credential → granted shared credential → tenant default → environment fallback.
pub fn resolve_service(
    state: &State,
    caller: &Caller,
    service: &str,
    for_user: Option<Id>,
    env_fallback: bool,
    now_ms: i64,
) -> Decision<(Resolved, Body)> {
    let tenant = caller.tenant;
    if caller.role == Role::Auditor {
        return Err(denied(
            tenant,
            None,
            Some(service),
            for_user,
            DenyReason::Role,
            DomainError::Forbidden(deny_message(DenyReason::Role)),
        ));
    }
    let subject = match for_user {
        None => caller.principal,
        Some(u) => {
            if !(caller.role == Role::Admin
                || (caller.role == Role::Resolver && caller.kind == PrincipalKind::Service))
            {
                let error = DomainError::Forbidden(
                    "only admins and resolver services may resolve for another user".into(),
                );
                return Err(denied(
                    tenant,
                    None,
                    Some(service),
                    Some(u),
                    DenyReason::Role,
                    error,
                ));
            }
            if !state.is_principal_of(u, tenant) {
                return Err(DomainError::invalid(
                    "for_user",
                    "for_user is not a principal of this tenant",
                )
                .into());
            }
            u
        }
    };
    let candidates = state
        .by_service
        .get(&(tenant, service.to_string()))
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    // A credential whose current version was deleted or destroyed through the KV API is
    // passed over, like a deleted credential.
    let live = |id: &&Id| {
        state.credentials.get(*id).is_some_and(|c| {
            resolvable(c, now_ms).is_ok() && kv::version_refusal(state, **id, c.current).is_none()
        })
    };
    // Most recently created first, so a re-created credential wins over an old one.
    let own = candidates
        .iter()
        .rev()
        .filter(live)
        .find(|id| state.credentials[*id].owner == Owner::Principal(subject));
    let granted = || {
        candidates.iter().rev().filter(live).find(|id| {
            let c = &state.credentials[*id];
            c.owner == Owner::Tenant && c.grants.contains(&subject)
        })
    };
    let default = || {
        candidates
            .iter()
            .rev()
            .filter(live)
            .find(|id| state.credentials[*id].is_default)
    };
    let found = own
        .map(|id| (*id, Source::Own))
        .or_else(|| granted().map(|id| (*id, Source::Granted)))
        .or_else(|| default().map(|id| (*id, Source::TenantDefault)));
    let subject_field = for_user;
    match found {
        Some((id, source)) => {
            let version = state.credentials[&id].current;
            Ok((
                Resolved::Credential {
                    id,
                    version,
                    source,
                },
                Body::CredentialUsed {
                    tenant,
                    credential: Some(id),
                    version: Some(version),
                    service: Some(service.to_string()),
                    subject: subject_field,
                    source,
                    purpose: Purpose::Resolve,
                },
            ))
        }
        None if env_fallback => Ok((
            Resolved::Env,
            Body::CredentialUsed {
                tenant,
                credential: None,
                version: None,
                service: Some(service.to_string()),
                subject: subject_field,
                source: Source::Env,
                purpose: Purpose::Resolve,
            },
        )),
        None => Err(denied(
            tenant,
            None,
            Some(service),
            subject_field,
            DenyReason::NotConfigured,
            DomainError::NotConfigured(service.to_string()),
        )),
    }
}

/// Start a connection test: records the use of the secret that is about to be sent.
pub fn verify(state: &State, caller: &Caller, id: Id) -> Decision<(u32, Body)> {
    let cred = managed(state, caller, id, "verified", Access::Manage)?;
    require_status(cred, &[CredStatus::Active])?;
    Ok((
        cred.current,
        Body::CredentialUsed {
            tenant: cred.tenant,
            credential: Some(id),
            version: Some(cred.current),
            service: Some(cred.service.clone()),
            subject: None,
            source: Source::Direct,
            purpose: Purpose::Verify,
        },
    ))
}

pub mod kv;

#[cfg(test)]
mod tests;
