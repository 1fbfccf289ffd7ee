//! The access review of one credential: who can resolve it, and why. The same rules as
//! [`super::permissions`] and the resolution order, read backwards, so a reviewer (and
//! the console) sees exactly the paths the ledger would follow.
//!
//! **Invariant:** a principal is listed with a direct path (owner, role, grant, group
//! grant, tenant default) exactly when `resolve_by_id` would let it resolve the
//! credential; a service is listed with a delegation when its delegation covers a user
//! who would get the credential from a resolve by service (own, granted, tenant
//! default). Disabled principals are not listed: they cannot authenticate.

use super::access::{require_reviewer, see_credential};
use super::permissions::can_resolve;
use super::{Caller, Decision};
use crate::domain::state::{Credential, State};
use crate::event::{GrantLevel, Grantee, Owner, PrincipalKind, Role};
use crate::id::Id;

/// One reason a principal can resolve a credential.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccessPath {
    /// It owns the (personal) credential.
    Owner,
    /// Its role resolves every shared credential of the tenant (admins).
    Role(Role),
    /// A grant to the principal itself.
    Grant(GrantLevel),
    /// A grant to a group it is a member of.
    GroupGrant { group: Id, level: GrantLevel },
    /// The credential is the tenant default of its service; the principal's role
    /// resolves.
    TenantDefault(Role),
    /// A service whose delegation covers these users, who get the credential from a
    /// resolve by service.
    Delegation { for_users: Vec<Id> },
}

/// A principal and every path by which it can resolve the credential.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessEntry {
    pub principal: Id,
    pub paths: Vec<AccessPath>,
}

/// The paths by which a resolve *by service* for `subject` reaches `cred` (owner, grant,
/// group grant, tenant default), whatever the subject's role: what a delegated service
/// obtains for it.
fn service_paths(state: &State, cred: &Credential, subject: Id, role: Role) -> Vec<AccessPath> {
    let mut paths = Vec::new();
    match cred.owner {
        Owner::Principal(p) if p == subject => paths.push(AccessPath::Owner),
        Owner::Principal(_) => {}
        Owner::Tenant => {
            if let Some(level) = cred.grants.get(&Grantee::Principal(subject)) {
                paths.push(AccessPath::Grant(*level));
            }
            for group in state.groups_of(subject) {
                if let Some(level) = cred.grants.get(&Grantee::Group(group)) {
                    paths.push(AccessPath::GroupGrant {
                        group,
                        level: *level,
                    });
                }
            }
            if cred.is_default {
                paths.push(AccessPath::TenantDefault(role));
            }
        }
    }
    paths
}

/// Who can resolve credential `id` and why: admins and auditors of its tenant.
pub fn review_access(state: &State, caller: &Caller, id: Id) -> Decision<Vec<AccessEntry>> {
    const OP: &str = "access_reviewed";
    require_reviewer(caller, OP, "the access review")?;
    let cred = see_credential(state, caller, id, OP)?;
    let mut principals: Vec<(Id, &crate::domain::state::Principal)> = state
        .principals
        .iter()
        .filter(|(_, p)| p.tenant == cred.tenant && !p.disabled)
        .map(|(id, p)| (*id, p))
        .collect();
    principals.sort_by(|a, b| a.1.name.cmp(&b.1.name).then(a.0.cmp(&b.0)));
    let mut out = Vec::new();
    for (pid, p) in &principals {
        let me = Caller {
            tenant: p.tenant,
            principal: *pid,
            token: Id::NIL,
            role: p.role,
            kind: p.kind,
            system_admin: p.system_admin,
        };
        let mut paths = Vec::new();
        if can_resolve(state, &me, cred).is_ok() {
            paths = service_paths(state, cred, *pid, p.role);
            if p.role == Role::Admin && cred.owner == Owner::Tenant {
                paths.insert(0, AccessPath::Role(Role::Admin));
            }
        }
        if p.kind == PrincipalKind::Service {
            if let Some(d) = state.delegations.get(pid) {
                let for_users: Vec<Id> = principals
                    .iter()
                    .filter(|(u, user)| {
                        u != pid
                            && (d.users.contains(u) || (d.all_users && !user.system_admin))
                            && !service_paths(state, cred, *u, user.role).is_empty()
                    })
                    .map(|(u, _)| *u)
                    .collect();
                if !for_users.is_empty() {
                    paths.push(AccessPath::Delegation { for_users });
                }
            }
        }
        if !paths.is_empty() {
            out.push(AccessEntry {
                principal: *pid,
                paths,
            });
        }
    }
    Ok(out)
}

/// How long a grant may go unused before the access review flags it.
pub const UNUSED_GRANT_DAYS: u32 = 90;

/// Whether `entry` reaches the credential by a grant (to the principal or to one of its
/// groups) that the principal has not used within `days` days of `now_ms` (never used,
/// or last used earlier): the access review's "grants unused for 90 days". Paths by
/// role, ownership, default or delegation are never flagged: nothing was granted.
pub fn unused_grant(
    entry: &AccessEntry,
    last_used_at_ms: Option<i64>,
    now_ms: i64,
    days: u32,
) -> bool {
    let granted = entry
        .paths
        .iter()
        .any(|p| matches!(p, AccessPath::Grant(_) | AccessPath::GroupGrant { .. }));
    granted && last_used_at_ms.is_none_or(|t| t < now_ms - i64::from(days) * 86_400_000)
}

#[cfg(test)]
mod unused_tests {
    use super::*;

    #[test]
    fn given_grants_and_uses_when_asked_then_only_old_or_unused_grants_are_flagged() {
        const DAY: i64 = 86_400_000;
        let now = 1_000 * DAY;
        let by = |paths| AccessEntry {
            principal: Id([7; 16]),
            paths,
        };
        let grant = by(vec![AccessPath::Grant(GrantLevel::Use)]);
        let group = by(vec![AccessPath::GroupGrant {
            group: Id([8; 16]),
            level: GrantLevel::Manage,
        }]);
        let role = by(vec![AccessPath::Role(Role::Admin)]);
        assert!(unused_grant(&grant, None, now, UNUSED_GRANT_DAYS));
        assert!(unused_grant(&grant, Some(now - 91 * DAY), now, 90));
        assert!(!unused_grant(&grant, Some(now - 89 * DAY), now, 90));
        assert!(unused_grant(&group, None, now, 90));
        assert!(!unused_grant(&role, None, now, 90), "nothing was granted");
    }
}
