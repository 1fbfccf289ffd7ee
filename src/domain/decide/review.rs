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
