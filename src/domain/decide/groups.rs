//! Groups of principals (teams): created and filled by admins, granted credentials like
//! principals are.
//!
//! **Invariant:** a group and its members belong to one tenant; group names are unique
//! per tenant without case; a membership change is an event and takes effect at the next
//! resolve (resolves decide on the state the event was applied to).

use super::access::{admin_only, not_found};
use super::{check_simple_name, Caller, Decision, DomainError};
use crate::domain::state::{Group, State};
use crate::event::{Body, Role, Target};
use crate::id::Id;

/// A new group in the caller's tenant. Admins only.
pub fn create_group(state: &State, caller: &Caller, group: Id, name: &str) -> Decision {
    admin_only(caller, "group_created", None)?;
    check_simple_name("name", name)?;
    if state.group_by_name(caller.tenant, name).is_some() {
        return Err(DomainError::Conflict(format!("a group named '{name}' already exists")).into());
    }
    Ok(vec![Body::GroupCreated {
        tenant: caller.tenant,
        group,
        name: name.to_string(),
    }])
}

/// A group of the caller's tenant (a recorded "not found" otherwise).
fn tenant_group<'s>(
    state: &'s State,
    caller: &Caller,
    group: Id,
    operation: &str,
) -> Decision<&'s Group> {
    state
        .groups
        .get(&group)
        .filter(|g| g.tenant == caller.tenant)
        .ok_or_else(|| not_found(caller, operation, Target::Group(group), "group"))
}

/// Adds a principal of the tenant to a group. Admins only.
pub fn add_member(state: &State, caller: &Caller, group: Id, principal: Id) -> Decision {
    const OP: &str = "group_member_added";
    admin_only(caller, OP, Some(Target::Group(group)))?;
    let g = tenant_group(state, caller, group, OP)?;
    if !state.is_principal_of(principal, caller.tenant) {
        return Err(DomainError::invalid(
            "principal",
            "principal is not a principal of this tenant",
        )
        .into());
    }
    if g.members.contains(&principal) {
        return Err(DomainError::Conflict("the principal is already a member".into()).into());
    }
    Ok(vec![Body::GroupMemberAdded {
        tenant: caller.tenant,
        group,
        principal,
    }])
}

/// Removes a member from a group. Admins only.
pub fn remove_member(state: &State, caller: &Caller, group: Id, principal: Id) -> Decision {
    const OP: &str = "group_member_removed";
    admin_only(caller, OP, Some(Target::Group(group)))?;
    let g = tenant_group(state, caller, group, OP)?;
    if !g.members.contains(&principal) {
        return Err(not_found(
            caller,
            OP,
            Target::Principal(principal),
            "member",
        ));
    }
    Ok(vec![Body::GroupMemberRemoved {
        tenant: caller.tenant,
        group,
        principal,
    }])
}

/// The groups the caller may list, by name: every group of the tenant for admins,
/// editors (who grant to them) and auditors; the groups it is a member of for others.
pub fn visible_groups<'s>(state: &'s State, caller: &Caller) -> Vec<(Id, &'s Group)> {
    let all = matches!(caller.role, Role::Admin | Role::Editor | Role::Auditor);
    let mut out: Vec<(Id, &Group)> = state
        .groups
        .iter()
        .filter(|(_, g)| g.tenant == caller.tenant)
        .filter(|(_, g)| all || g.members.contains(&caller.principal))
        .map(|(id, g)| (*id, g))
        .collect();
    out.sort_by(|a, b| a.1.name.cmp(&b.1.name).then(a.0.cmp(&b.0)));
    out
}
