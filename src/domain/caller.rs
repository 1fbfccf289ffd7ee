//! The authenticated principal behind a request, as every rule sees it.

use crate::event::{PrincipalKind, Role};
use crate::id::Id;

/// The authenticated principal behind a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    pub tenant: Id,
    pub principal: Id,
    pub token: Id,
    pub role: Role,
    pub kind: PrincipalKind,
    pub system_admin: bool,
}
