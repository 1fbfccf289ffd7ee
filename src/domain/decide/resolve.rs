//! Resolution order and connection tests: which version a caller may receive, and the
//! event that records the release (or its refusal).

use super::access::refused;
use super::delegation::{may_resolve_for, not_delegated};
use super::permissions::may_create_any;
use super::{
    can_resolve, deny_message, kv, managed, require_status, visible, Access, Caller, Decision,
    DomainError, Rejection,
};
use crate::domain::names::fold;
use crate::domain::state::{CredStatus, Credential, State};
use crate::event::{Body, DenyReason, Grantee, Owner, Purpose, RefusalReason, Role, Source};
use crate::id::Id;

/// What a resolve released.
#[derive(Clone, Copy, Debug)]
pub enum Resolved<'s> {
    /// A version of credential `id`.
    Credential {
        id: Id,
        cred: &'s Credential,
        version: u32,
        source: Source,
    },
    /// The start-up environment fallback for the service.
    Env,
}

pub(crate) fn denied(
    cred_tenant: Id,
    credential: Option<Id>,
    service: Option<&str>,
    subject: Option<Id>,
    reason: DenyReason,
    error: DomainError,
) -> Rejection {
    Rejection::recorded(
        error,
        vec![Body::UseDenied {
            tenant: cred_tenant,
            credential,
            service: service.map(str::to_string),
            subject,
            reason,
        }],
    )
}

pub(crate) fn resolvable(cred: &Credential, now_ms: i64) -> Result<(), (DenyReason, DomainError)> {
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

/// Resolve one credential by id (its current version, or `version`).
pub fn resolve_by_id<'s>(
    state: &'s State,
    caller: &Caller,
    id: Id,
    version: Option<u32>,
    purpose: Purpose,
    now_ms: i64,
) -> Decision<(Resolved<'s>, Body)> {
    let cred = visible(state, caller, id, "used", |tenant| Body::UseDenied {
        tenant,
        credential: Some(id),
        service: None,
        subject: None,
        reason: DenyReason::OtherTenant,
    })?;
    let deny = |reason, error| denied(cred.tenant, Some(id), None, None, reason, error);
    can_resolve(state, caller, cred)
        .map_err(|r| deny(r, DomainError::Forbidden(deny_message(r))))?;
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
        cred,
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

/// Whether the start-up environment fallbacks apply to `tenant`: only to the tenants
/// named at start-up (compared without case).
pub fn fallback_applies(state: &State, tenant: Id, fallback_tenants: &[String]) -> bool {
    state
        .tenants
        .get(&tenant)
        .is_some_and(|t| fallback_tenants.iter().any(|n| fold(n) == fold(&t.name)))
}

/// Who a service resolve is for: the caller, or `for_user` under a delegation.
fn subject(
    state: &State,
    caller: &Caller,
    service: &str,
    for_user: Option<Id>,
) -> Result<Id, Rejection> {
    let Some(u) = for_user.filter(|u| *u != caller.principal) else {
        return Ok(caller.principal);
    };
    if !state.is_principal_of(u, caller.tenant) {
        return Err(
            DomainError::invalid("for_user", "for_user is not a principal of this tenant").into(),
        );
    }
    may_resolve_for(state, caller, u).map_err(|r| not_delegated(caller, service, u, r))?;
    Ok(u)
}

/// Resolve a service for the caller or, for a service with a delegation, for a user:
/// own credential (the selected profile first) → shared credential granted to them
/// (directly first, then through a group) → tenant default → environment fallback
/// (`env_fallback`: one is configured for this service and applies to this tenant).
/// Among several candidates of one step the most recently created wins.
pub fn resolve_service<'s>(
    state: &'s State,
    caller: &Caller,
    service: &str,
    for_user: Option<Id>,
    purpose: Purpose,
    env_fallback: bool,
    now_ms: i64,
) -> Decision<(Resolved<'s>, Body)> {
    let tenant = caller.tenant;
    super::check_service(service)?;
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
    let subject = subject(state, caller, service, for_user)?;
    let candidates = state
        .by_service
        .get(&(tenant, service.to_string()))
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    // A credential whose current version was deleted or destroyed through the KV API is
    // passed over, like a deleted credential. Most recently created first, so a
    // re-created credential wins over an old one.
    let live = || {
        candidates.iter().rev().filter_map(|id| {
            let c = state.credentials.get(id)?;
            let ok = resolvable(c, now_ms).is_ok()
                && kv::version_refusal(state, *id, c.current).is_none();
            ok.then_some((*id, c))
        })
    };
    let mine = Owner::Principal(subject);
    let groups: Vec<Grantee> = state.groups_of(subject).map(Grantee::Group).collect();
    let shared = |c: &Credential| c.owner == Owner::Tenant;
    let found = live()
        .find(|(_, c)| c.owner == mine && c.is_default)
        .or_else(|| live().find(|(_, c)| c.owner == mine))
        .map(|(id, c)| (id, c, Source::Own))
        .or_else(|| {
            live()
                .find(|(_, c)| shared(c) && c.grants.contains_key(&Grantee::Principal(subject)))
                .or_else(|| {
                    live()
                        .find(|(_, c)| shared(c) && groups.iter().any(|g| c.grants.contains_key(g)))
                })
                .map(|(id, c)| (id, c, Source::Granted))
        })
        .or_else(|| {
            live()
                .find(|(_, c)| shared(c) && c.is_default)
                .map(|(id, c)| (id, c, Source::TenantDefault))
        });
    let used = |credential: Option<Id>, version: Option<u32>, source| Body::CredentialUsed {
        tenant,
        credential,
        version,
        service: Some(service.to_string()),
        subject: for_user,
        source,
        purpose,
    };
    match found {
        Some((id, cred, source)) => Ok((
            Resolved::Credential {
                id,
                cred,
                version: cred.current,
                source,
            },
            used(Some(id), Some(cred.current), source),
        )),
        None if env_fallback => Ok((Resolved::Env, used(None, None, Source::Env))),
        None => Err(denied(
            tenant,
            None,
            Some(service),
            for_user,
            DenyReason::NotConfigured,
            DomainError::NotConfigured(service.to_string()),
        )),
    }
}

/// The refusal of a release whose secret cannot be opened (a data key or master key
/// problem), recorded like any other refusal.
pub fn unopenable(cred: &Credential, id: Id) -> Rejection {
    denied(
        cred.tenant,
        Some(id),
        Some(&cred.service),
        None,
        DenyReason::Unavailable,
        DomainError::Gone("the secret of this version is unavailable".into()),
    )
}

/// Start a connection test: records the use of the secret that is about to be sent. A
/// template without a connection test sends nothing anywhere, so it is refused before
/// the `used` event (the log never records a use that did not happen).
pub fn verify<'s>(
    state: &'s State,
    caller: &Caller,
    id: Id,
    has_connection_test: bool,
) -> Decision<(&'s Credential, u32, Body)> {
    let cred = managed(state, caller, id, "verified", Access::Manage)?;
    if !has_connection_test {
        return Err(DomainError::Conflict(format!(
            "the {} template has no connection test",
            cred.template
        ))
        .into());
    }
    require_status(cred, &[CredStatus::Active])?;
    Ok((
        cred,
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

/// The outcome of a connection test of `version`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyOutcome {
    pub ok: bool,
    pub reason: String,
    pub latency_ms: u64,
}

/// The record of a connection test's outcome.
pub fn verified(state: &State, id: Id, version: u32, outcome: VerifyOutcome) -> Decision {
    let tenant = state
        .credentials
        .get(&id)
        .map(|c| c.tenant)
        .ok_or(DomainError::NotFound("credential"))?;
    Ok(vec![Body::CredentialVerified {
        tenant,
        credential: id,
        version,
        ok: outcome.ok,
        reason: outcome.reason,
        latency_ms: outcome.latency_ms,
    }])
}

/// Test before save: a connection test of unsaved input needs a role that may create
/// credentials (admins, editors, members); a refusal is recorded.
pub fn check_verify_input(caller: &Caller) -> Decision<()> {
    if may_create_any(caller) {
        return Ok(());
    }
    Err(refused(
        caller,
        "verified",
        None,
        RefusalReason::Role,
        DomainError::Forbidden(
            "testing unsaved input needs a role that may create credentials (admin, editor or member)"
                .into(),
        ),
    ))
}

/// The record of a connection test of unsaved input with `template` (its outcome only).
pub fn input_verified(caller: &Caller, template: &str, outcome: VerifyOutcome) -> Body {
    Body::CredentialVerifiedV2 {
        tenant: caller.tenant,
        credential: None,
        version: None,
        template: template.to_string(),
        ok: outcome.ok,
        reason: outcome.reason,
        latency_ms: outcome.latency_ms,
    }
}
