//! Every business rule: who may do what, and which events a command yields.
//!
//! Each function takes the current [`State`], the authenticated [`Caller`] and the
//! command's inputs (ids, times and sealed payloads made by the shell) and returns the
//! events to append, or a [`Rejection`]. A rejection may carry an event that must be
//! recorded anyway (`use_denied`, `access_denied`): every 403 or 404 decision about an
//! authenticated caller leaves a trace (see `access`). Every event body is built here
//! (or in `domain::auth_failures`), never in the shell.

mod access;
mod checks;
pub mod console;
mod credentials;
mod delegation;
mod keys;
pub mod kv;
mod principals;
mod resolve;

pub use super::caller::Caller;
pub use super::error::{Decision, DomainError, Rejection};
pub use access::{
    audit_stream, can_see, require_reviewer, see_credential, see_event, see_principal_usage,
    visible_to, AuditScope,
};
pub(crate) use access::{can_resolve, deny_message, managed, require_status, visible, Access};
pub use checks::*;
pub use credentials::*;
pub use delegation::{grant_delegation, revoke_delegation};
pub use keys::*;
pub use principals::*;
pub use resolve::*;

#[cfg(test)]
mod tests;
