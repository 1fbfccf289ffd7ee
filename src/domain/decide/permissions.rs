//! The credential permission matrix: which role, ownership or grant allows which action
//! on one credential. Every decision about a credential asks here (`managed` and the
//! resolves), and the access review ([`super::review`]) reads the same rules backwards.
//!
//! | action                                   | personal: owner | personal: admin | shared: admin | shared: editor | shared: others |
//! | ---------------------------------------- | --------------- | --------------- | ------------- | -------------- | -------------- |
//! | resolve                                  | yes             | no              | yes           | grant or default | grant or default |
//! | update, rotate, verify ([`Access::Manage`]) | yes          | yes             | yes           | yes            | grant `manage` |
//! | grant, revoke, delete, restore ([`Access::Administer`]) | yes | yes         | yes           | yes            | grant `admin`  |
//! | destroy ([`Access::Destroy`])            | yes             | yes             | yes           | grant `admin`  | grant `admin`  |
//!
//! "Others" are members and resolvers; auditors never act on a credential, whatever
//! they own or were granted. A grant reaches a principal directly or through a group
//! it is a member of; the higher level wins. The tenant default of a service is
//! resolvable by every principal of the tenant that resolves (everyone but auditors).

use crate::domain::state::{Credential, State};
use crate::domain::Caller;
use crate::event::{DenyReason, GrantLevel, Grantee, Owner, Role};
use crate::id::Id;

/// What kind of access a credential action needs (resolving is [`can_resolve`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// Change metadata, rotate, verify: grant level `manage`.
    Manage,
    /// Grant and revoke, delete and restore: grant level `admin` (editors by role).
    Administer,
    /// Destroy (irreversible): grant level `admin`, for editors too.
    Destroy,
}

impl Access {
    /// The grant level a principal needs when its role alone does not allow it.
    pub(crate) fn level(self) -> GrantLevel {
        match self {
            Access::Manage => GrantLevel::Manage,
            Access::Administer | Access::Destroy => GrantLevel::Admin,
        }
    }
}

/// The highest grant `principal` holds on `cred`, directly or through its groups.
pub fn grant_level(state: &State, principal: Id, cred: &Credential) -> Option<GrantLevel> {
    let direct = cred.grants.get(&Grantee::Principal(principal)).copied();
    let via_groups = state
        .groups_of(principal)
        .filter_map(|g| cred.grants.get(&Grantee::Group(g)).copied());
    direct.into_iter().chain(via_groups).max()
}

/// Whether the caller may act on `cred` with `access`; the reason when not.
pub(crate) fn can_manage(
    state: &State,
    caller: &Caller,
    cred: &Credential,
    access: Access,
) -> Result<(), DenyReason> {
    if caller.role == Role::Auditor {
        return Err(DenyReason::Role);
    }
    match cred.owner {
        Owner::Principal(p) if p == caller.principal => Ok(()),
        Owner::Principal(_) if caller.role == Role::Admin => Ok(()),
        Owner::Principal(_) => Err(DenyReason::NotGranted),
        Owner::Tenant => match (caller.role, access) {
            (Role::Admin, _) | (Role::Editor, Access::Manage | Access::Administer) => Ok(()),
            (Role::Editor | Role::Member | Role::Resolver | Role::Auditor, _) => {
                match grant_level(state, caller.principal, cred) {
                    Some(l) if l >= access.level() => Ok(()),
                    _ => Err(DenyReason::NotGranted),
                }
            }
        },
    }
}

/// Whether the caller may resolve `cred` (by id, or by service for itself).
pub(crate) fn can_resolve(
    state: &State,
    caller: &Caller,
    cred: &Credential,
) -> Result<(), DenyReason> {
    if caller.role == Role::Auditor {
        return Err(DenyReason::Role);
    }
    match cred.owner {
        Owner::Principal(p) if p == caller.principal => Ok(()),
        Owner::Principal(_) => Err(DenyReason::NotGranted),
        Owner::Tenant
            if caller.role == Role::Admin
                || cred.is_default
                || grant_level(state, caller.principal, cred).is_some() =>
        {
            Ok(())
        }
        Owner::Tenant => Err(DenyReason::NotGranted),
    }
}

/// Whether the caller's role may create a credential owned by `owner` (the caller
/// itself, another principal, or the tenant). Ownership checks (the owner exists) are
/// the caller's.
pub(crate) fn may_create(caller: &Caller, owner: Owner) -> Result<(), (DenyReason, &'static str)> {
    match (caller.role, owner) {
        (Role::Admin, _) => Ok(()),
        (Role::Editor, Owner::Tenant) => Ok(()),
        (Role::Editor | Role::Member, Owner::Principal(p)) if p == caller.principal => Ok(()),
        (Role::Editor | Role::Member, Owner::Principal(_)) => Err((
            DenyReason::NotGranted,
            "only admins create credentials owned by someone else",
        )),
        (Role::Member, Owner::Tenant) => Err((
            DenyReason::Role,
            "members create personal credentials only (owner \"me\"); shared ones need the admin or editor role",
        )),
        (Role::Resolver | Role::Auditor, _) => Err((
            DenyReason::Role,
            "creating credentials needs the admin, editor or member role",
        )),
    }
}

/// Whether the caller's role may create any credential at all (admins, editors,
/// members): the test-before-save rule.
pub(crate) fn may_create_any(caller: &Caller) -> bool {
    matches!(caller.role, Role::Admin | Role::Editor | Role::Member)
}
