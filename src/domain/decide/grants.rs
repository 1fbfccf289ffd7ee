//! Grants of shared credentials to principals and groups, at a level (`use`, `manage`,
//! `admin`).
//!
//! **Invariant:** only shared (tenant-owned) credentials are granted; a grantee is a
//! principal or a group of the credential's tenant; one grant per grantee (a new level
//! replaces the old one). Granting and revoking need [`Access::Administer`].

use super::access::not_found;
use super::{managed, require_status, Access, Caller, Decision, DomainError};
use crate::domain::state::{CredStatus, State};
use crate::event::{Body, GrantLevel, Grantee, Owner, Target};
use crate::id::Id;

/// The request field that names a grantee, for errors.
fn field(grantee: Grantee) -> &'static str {
    match grantee {
        Grantee::Principal(_) => "principal",
        Grantee::Group(_) => "group",
    }
}

/// Grants a shared credential to a principal or a group of the tenant at `level`, or
/// changes the level of an existing grant.
pub fn grant(
    state: &State,
    caller: &Caller,
    id: Id,
    grantee: Grantee,
    level: GrantLevel,
) -> Decision {
    let cred = managed(state, caller, id, "granted", Access::Administer)?;
    require_status(cred, &[CredStatus::Active, CredStatus::Deleted])?;
    if cred.owner != Owner::Tenant {
        return Err(DomainError::invalid(
            field(grantee),
            "only shared (tenant-owned) credentials can be granted",
        )
        .into());
    }
    let exists = match grantee {
        Grantee::Principal(p) => state.is_principal_of(p, cred.tenant),
        Grantee::Group(g) => state
            .groups
            .get(&g)
            .is_some_and(|g| g.tenant == cred.tenant),
    };
    if !exists {
        let message = match grantee {
            Grantee::Principal(_) => "principal is not a principal of this tenant",
            Grantee::Group(_) => "group is not a group of this tenant",
        };
        return Err(DomainError::invalid(field(grantee), message).into());
    }
    if cred.grants.get(&grantee) == Some(&level) {
        return Err(DomainError::Conflict(format!(
            "the {} already has this grant at level {}",
            field(grantee),
            level.as_str()
        ))
        .into());
    }
    Ok(vec![Body::GrantAddedV2 {
        tenant: cred.tenant,
        credential: id,
        grantee,
        level,
    }])
}

/// Revokes the grant of `id` to `grantee` (a principal or a group id: the credential's
/// grants say which).
pub fn revoke_grant(state: &State, caller: &Caller, id: Id, grantee: Id) -> Decision {
    const OP: &str = "grant_revoked";
    let cred = managed(state, caller, id, OP, Access::Administer)?;
    let found = [Grantee::Principal(grantee), Grantee::Group(grantee)]
        .into_iter()
        .find(|g| cred.grants.contains_key(g));
    let Some(found) = found else {
        let target = if state.groups.contains_key(&grantee) {
            Target::Group(grantee)
        } else {
            Target::Principal(grantee)
        };
        return Err(not_found(caller, OP, target, "grant"));
    };
    Ok(vec![Body::GrantRevokedV2 {
        tenant: cred.tenant,
        credential: id,
        grantee: found,
    }])
}
