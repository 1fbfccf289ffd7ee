//! Scheduled connection tests (`serve --verify-every`): which credentials are due a test,
//! the system's own test of one, and the per-credential opt-out.
//!
//! A scheduled test is recorded exactly like a manual one (`used` with purpose `verify`,
//! then `verified`), with [`scheduler_actor`] as the actor: the credential's tenant and
//! no principal or token. The shell adds the request id [`SCHEDULER_REQUEST_ID`].

use super::{managed, require_status, Access, Decision, DomainError};
use crate::domain::state::{Credential, State};
use crate::domain::{Caller, CredStatus};
use crate::event::{Actor, Body, Purpose, Source};
use crate::id::Id;

/// The request id of every event the scheduler records (audit rows show it).
pub const SCHEDULER_REQUEST_ID: &str = "credledger-scheduler";

/// The actor of a scheduled test of `cred`: its tenant, no principal, no token.
pub fn scheduler_actor(cred: &Credential) -> Actor {
    Actor {
        tenant: Some(cred.tenant),
        principal: None,
        token: None,
    }
}

/// Whether `cred` takes part in scheduled tests at `now_ms` (given whether its template
/// has a connection test): active, not expired, not opted out.
pub fn schedulable(cred: &Credential, has_connection_test: bool, now_ms: i64) -> bool {
    has_connection_test
        && cred.scheduled_verify
        && cred.status == CredStatus::Active
        && !cred.expired(now_ms)
}

/// The credentials a round of scheduled tests covers, in a stable order (by id).
pub fn scheduled_round(
    state: &State,
    has_connection_test: impl Fn(&Credential) -> bool,
    now_ms: i64,
) -> Vec<Id> {
    let mut ids: Vec<Id> = state
        .credentials
        .iter()
        .filter(|(_, c)| schedulable(c, has_connection_test(c), now_ms))
        .map(|(id, _)| *id)
        .collect();
    ids.sort();
    ids
}

/// Starts a scheduled test of `id`: the `used` event of the secret about to be sent. A
/// credential that left the schedule since the round was planned (deleted, destroyed,
/// expired, opted out) is skipped with `NotFound`/`Conflict` and writes nothing.
pub fn scheduled_verify(
    state: &State,
    id: Id,
    has_connection_test: bool,
    now_ms: i64,
) -> Result<(&Credential, u32, Body), DomainError> {
    let cred = state
        .credentials
        .get(&id)
        .ok_or(DomainError::NotFound("credential"))?;
    if !schedulable(cred, has_connection_test, now_ms) {
        return Err(DomainError::Conflict(
            "the credential is no longer scheduled for connection tests".into(),
        ));
    }
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

/// Switches scheduled tests of `id` on or off: who may run a connection test by hand
/// (its owner, admins and editors, a `manage` grant) may. A deleted credential may be
/// switched too (it is skipped while deleted anyway); a destroyed one may not. No event
/// when nothing changes.
pub fn set_scheduled_verify(state: &State, caller: &Caller, id: Id, enabled: bool) -> Decision {
    let cred = managed(state, caller, id, "scheduled_verify_set", Access::Manage)?;
    require_status(cred, &[CredStatus::Active, CredStatus::Deleted])?;
    if cred.scheduled_verify == enabled {
        return Ok(vec![]);
    }
    Ok(vec![Body::ScheduledVerifySet {
        tenant: cred.tenant,
        credential: id,
        enabled,
    }])
}
