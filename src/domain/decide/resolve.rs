//! Resolution order and connection tests: which version a caller may receive, and the
//! event that records the release (or its refusal).

use super::{
    can_resolve, deny_message, kv, managed, require_status, visible, Access, Caller, Decision,
    DomainError, Rejection,
};
use crate::domain::state::{CredStatus, Credential, State};
use crate::event::{Body, DenyReason, Owner, PrincipalKind, Purpose, Role, Source};
use crate::id::Id;

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

pub(crate) fn denied(
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
