//! Who may touch a credential, read what, or administer a tenant: the authorization
//! rules shared by every decision, and the records refusals leave.
//!
//! **Invariant:** every 403 or 404 decision about an authenticated caller returns a
//! [`Rejection`] that records it: an `access_denied` (or, for resolves, `use_denied`)
//! event in the caller's tenant, and for a cross-tenant attempt one more in the owning
//! tenant. The caller's record of a cross-tenant attempt says `not_found`, exactly like
//! an id that exists nowhere, so it reveals nothing about other tenants.

use super::permissions::{can_manage, grant_level, Access};
use super::{Caller, Decision, DomainError, Rejection};
use crate::domain::state::{CredStatus, Credential, Principal, State};
use crate::event::{Body, DenyReason, Owner, RefusalReason, Role, Target};
use crate::id::Id;

/// The record of a refusal in the caller's tenant.
pub(crate) fn refusal_record(
    caller: &Caller,
    operation: &str,
    target: Option<Target>,
    reason: RefusalReason,
) -> Body {
    Body::AccessDeniedV2 {
        tenant: caller.tenant,
        operation: operation.to_string(),
        target,
        reason,
    }
}

/// A refusal recorded in the caller's tenant.
pub(crate) fn refused(
    caller: &Caller,
    operation: &str,
    target: Option<Target>,
    reason: RefusalReason,
    error: DomainError,
) -> Rejection {
    Rejection::recorded(
        error,
        vec![refusal_record(caller, operation, target, reason)],
    )
}

/// "Not found" for an id the caller named, recorded in the caller's tenant.
pub(crate) fn not_found(
    caller: &Caller,
    operation: &str,
    target: Target,
    what: &'static str,
) -> Rejection {
    refused(
        caller,
        operation,
        Some(target),
        RefusalReason::NotFound,
        DomainError::NotFound(what),
    )
}

pub(crate) fn require_admin(caller: &Caller) -> Result<(), DomainError> {
    if caller.role == Role::Admin {
        Ok(())
    } else {
        Err(DomainError::Forbidden(
            "this action needs the admin role".into(),
        ))
    }
}

/// [`require_admin`], recording a refusal.
pub(crate) fn admin_only(
    caller: &Caller,
    operation: &str,
    target: Option<Target>,
) -> Result<(), Rejection> {
    require_admin(caller).map_err(|e| refused(caller, operation, target, RefusalReason::Role, e))
}

/// System administration (tenants, system principals, keys), recording a refusal.
pub(crate) fn system_admin_only(
    caller: &Caller,
    operation: &str,
    target: Option<Target>,
    message: &str,
) -> Result<(), Rejection> {
    if caller.is_system_admin() {
        return Ok(());
    }
    Err(refused(
        caller,
        operation,
        target,
        RefusalReason::SystemOnly,
        DomainError::Forbidden(message.into()),
    ))
}

/// The privilege order of principals: system admin > system auditor > admin > editor >
/// member, resolver and auditor. No one may act for (mint a token for) someone above
/// them.
pub(crate) fn privilege(role: Role, system: bool) -> u8 {
    match (system, role) {
        (true, Role::Admin) => 5,
        (true, _) => 4,
        (false, Role::Admin) => 3,
        (false, Role::Editor) => 2,
        (false, Role::Member | Role::Resolver | Role::Auditor) => 1,
    }
}

/// Finds a principal of the caller's tenant (404, recorded, otherwise).
pub(crate) fn tenant_principal<'s>(
    state: &'s State,
    caller: &Caller,
    principal: Id,
    operation: &str,
) -> Decision<&'s Principal> {
    state
        .principals
        .get(&principal)
        .filter(|p| p.tenant == caller.tenant)
        .ok_or_else(|| not_found(caller, operation, Target::Principal(principal), "principal"))
}

/// The refusal reason of a credential-access denial.
fn refusal_reason(reason: DenyReason) -> RefusalReason {
    match reason {
        DenyReason::NotGranted => RefusalReason::NotGranted,
        DenyReason::OtherTenant => RefusalReason::OtherTenant,
        DenyReason::Role
        | DenyReason::Deleted
        | DenyReason::Destroyed
        | DenyReason::Expired
        | DenyReason::NotConfigured
        | DenyReason::Unavailable => RefusalReason::Role,
    }
}

pub(crate) fn deny_message(reason: DenyReason) -> String {
    match reason {
        DenyReason::Role => "your role does not allow this action on credentials".into(),
        DenyReason::NotGranted => {
            "you are neither the owner of this credential nor granted it".into()
        }
        DenyReason::OtherTenant
        | DenyReason::Deleted
        | DenyReason::Destroyed
        | DenyReason::Expired
        | DenyReason::NotConfigured
        | DenyReason::Unavailable => "access denied".into(),
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
    let cred = visible(state, caller, id, attempted, |tenant| {
        Body::AccessDeniedV2 {
            tenant,
            operation: attempted.to_string(),
            target: Some(Target::Credential(id)),
            reason: RefusalReason::OtherTenant,
        }
    })?;
    can_manage(state, caller, cred, access).map_err(|reason| {
        let message = match grant_level(state, caller.principal, cred) {
            Some(held) if reason == DenyReason::NotGranted => format!(
                "your grant on this credential ({}) does not allow this; it needs {}",
                held.as_str(),
                access.level().as_str()
            ),
            _ => deny_message(reason),
        };
        refused(
            caller,
            attempted,
            Some(Target::Credential(id)),
            refusal_reason(reason),
            DomainError::Forbidden(message),
        )
    })?;
    Ok(cred)
}

/// Finds a credential in the caller's tenant. One that does not exist is "not found"
/// (recorded in the caller's tenant); one in another tenant is "not found" too, recorded
/// in the caller's tenant the same way and in the owning tenant by `owner_record`.
pub(crate) fn visible<'s>(
    state: &'s State,
    caller: &Caller,
    id: Id,
    operation: &str,
    owner_record: impl FnOnce(Id) -> Body,
) -> Decision<&'s Credential> {
    let missing = || not_found(caller, operation, Target::Credential(id), "credential");
    let cred = state.credentials.get(&id).ok_or_else(missing)?;
    if cred.tenant != caller.tenant {
        let mut rejection = missing();
        rejection.records.push(owner_record(cred.tenant));
        return Err(rejection);
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

// ---- read rules (the API, the Vault dialect and the console share them) ------------

/// Whether the caller may see a credential's metadata: admins and auditors see the whole
/// tenant; others see shared credentials and their own.
pub fn can_see(caller: &Caller, owner: Owner) -> bool {
    matches!(caller.role, Role::Admin | Role::Auditor)
        || owner == Owner::Tenant
        || owner == Owner::Principal(caller.principal)
}

/// Finds a credential the caller may see (its metadata, versions, usage); otherwise a
/// recorded "not found".
pub fn see_credential<'s>(
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
    if !can_see(caller, cred.owner) {
        return Err(refused(
            caller,
            operation,
            Some(Target::Credential(id)),
            RefusalReason::NotGranted,
            DomainError::NotFound("credential"),
        ));
    }
    Ok(cred)
}

/// Reviewers read a tenant's audit log, usage of others, principals, event leaves and
/// the compliance report: the tenant's admins and auditors. System principals are admins
/// or auditors by construction, so they need no rule of their own here; a system
/// principal is a reviewer of its own tenant like any other.
pub fn require_reviewer(caller: &Caller, operation: &str, what: &str) -> Result<(), Rejection> {
    if matches!(caller.role, Role::Admin | Role::Auditor) {
        return Ok(());
    }
    Err(refused(
        caller,
        operation,
        None,
        RefusalReason::Role,
        DomainError::Forbidden(format!("{what} needs the admin or auditor role")),
    ))
}

/// Whether an event of `event_tenant` (`None`: ledger-wide, the system stream) may be
/// shown to the caller: system reviewers see every event, others their tenant's.
pub fn visible_to(caller: &Caller, event_tenant: Option<Id>) -> bool {
    caller.is_system_reviewer() || event_tenant == Some(caller.tenant)
}

/// Which audit stream a query reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditScope {
    /// The caller's tenant.
    Tenant,
    /// The ledger-wide stream: key rotations, the genesis, failed authentications.
    System,
}

/// The audit stream (tenant id; `Id::NIL` for the system stream) the caller may read.
pub fn audit_stream(caller: &Caller, scope: AuditScope, operation: &str) -> Decision<Id> {
    require_reviewer(caller, operation, "the audit log")?;
    match scope {
        AuditScope::Tenant => Ok(caller.tenant),
        AuditScope::System if caller.is_system_reviewer() => Ok(Id::NIL),
        AuditScope::System => Err(refused(
            caller,
            operation,
            None,
            RefusalReason::SystemOnly,
            DomainError::Forbidden("scope=system needs a system admin or system auditor".into()),
        )),
    }
}

/// A principal's usage: the principal itself, or a reviewer of its tenant.
pub fn see_principal_usage<'s>(
    state: &'s State,
    caller: &Caller,
    principal: Id,
) -> Decision<&'s Principal> {
    const OP: &str = "principal_usage_read";
    if principal != caller.principal {
        require_reviewer(caller, OP, "usage of another principal")?;
    }
    tenant_principal(state, caller, principal, OP)
}

/// An event's leaf or proof: reviewers, for events they may see (`event_tenant` is
/// `None` when there is no such event, `Some(None)` for a ledger-wide one).
pub fn see_event(caller: &Caller, seq: u64, event_tenant: Option<Option<Id>>) -> Decision<()> {
    const OP: &str = "event_proof_read";
    require_reviewer(caller, OP, "event leaves")?;
    match event_tenant {
        Some(t) if visible_to(caller, t) => Ok(()),
        Some(Some(owner)) => {
            let mut r = not_found(caller, OP, Target::Event(seq), "event");
            r.records.push(Body::AccessDeniedV2 {
                tenant: owner,
                operation: OP.into(),
                target: Some(Target::Event(seq)),
                reason: RefusalReason::OtherTenant,
            });
            Err(r)
        }
        Some(None) | None => Err(not_found(caller, OP, Target::Event(seq), "event")),
    }
}

/// A tenant's own log (its tree, checkpoints, proofs and leaves): the tenant's reviewers
/// read their own (`requested` `None` or their tenant); system reviewers read any
/// tenant's. Another tenant's log is "not found" to everyone else, recorded like any
/// cross-tenant attempt.
pub fn tenant_log(state: &State, caller: &Caller, requested: Option<Id>) -> Decision<Id> {
    const OP: &str = "tenant_log_read";
    require_reviewer(caller, OP, "the tenant log")?;
    match requested {
        None => Ok(caller.tenant),
        Some(t) if t == caller.tenant || caller.is_system_reviewer() => Ok(t),
        Some(t) => {
            let mut r = not_found(caller, OP, Target::Tenant(t), "tenant log");
            if !state.tenants.contains_key(&t) {
                return Err(r);
            }
            r.records.push(Body::AccessDeniedV2 {
                tenant: t,
                operation: OP.into(),
                target: Some(Target::Tenant(t)),
                reason: RefusalReason::OtherTenant,
            });
            Err(r)
        }
    }
}

/// The global log (its tree size, checkpoints and hash proofs, which reveal every
/// tenant's activity volume): system reviewers only; tenants read their own log
/// ([`tenant_log`]). Refusals are recorded.
pub fn global_log(caller: &Caller) -> Decision<()> {
    if caller.is_system_reviewer() {
        return Ok(());
    }
    Err(refused(
        caller,
        "global_log_read",
        None,
        RefusalReason::SystemOnly,
        DomainError::Forbidden(
            "the global log needs a system admin or system auditor; read your tenant's log at /v1/ledger/tenant/…".into(),
        ),
    ))
}

/// The tree a reviewer's proofs, checkpoints and tree sizes come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProofTree {
    /// The global tree (every tenant's events): system reviewers.
    Global,
    /// The tenant's own tree: everyone else, so no tenant learns the others' volume.
    Tenant(Id),
}

/// Which tree serves the caller's event proofs ("prove this audit entry", the console's
/// proof download) and the tree size of the ledger's event leaves: system reviewers
/// the global one, the tenant's reviewers their tenant's ([`tenant_log`]).
pub fn proof_tree(caller: &Caller) -> ProofTree {
    if caller.is_system_reviewer() {
        ProofTree::Global
    } else {
        ProofTree::Tenant(caller.tenant)
    }
}
