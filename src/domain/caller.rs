//! The authenticated principal behind a request, as every rule sees it.

use crate::event::{Actor, PrincipalKind, Role};
use crate::id::Id;

/// The authenticated principal behind a request.
///
/// `system_admin` marks a *system principal* (the flag of its `principal_created`
/// event): with the admin role it is a system admin, with the auditor role a system
/// auditor. Use [`Caller::is_system_admin`] and [`Caller::is_system_reviewer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    pub tenant: Id,
    pub principal: Id,
    pub token: Id,
    pub role: Role,
    pub kind: PrincipalKind,
    pub system_admin: bool,
}

impl Caller {
    /// A system principal with the admin role: creates tenants, administers system
    /// principals, rotates keys.
    pub fn is_system_admin(&self) -> bool {
        self.system_admin && self.role == Role::Admin
    }

    /// A system admin or system auditor: reads the ledger-wide (system) stream.
    pub fn is_system_reviewer(&self) -> bool {
        self.system_admin && matches!(self.role, Role::Admin | Role::Auditor)
    }
}

impl From<&Caller> for Actor {
    fn from(c: &Caller) -> Self {
        Actor {
            tenant: Some(c.tenant),
            principal: Some(c.principal),
            token: Some(c.token),
        }
    }
}
