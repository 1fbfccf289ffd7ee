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
mod grants;
mod groups;
mod keys;
pub mod kv;
mod permissions;
mod principals;
mod resolve;
pub mod review;
pub mod schedule;
mod templates;
pub mod webhooks;

pub use super::caller::Caller;
pub use super::error::{Decision, DomainError, Rejection};
pub use access::{
    audit_stream, can_see, global_log, proof_tree, require_reviewer, see_credential, see_event,
    see_principal_usage, tenant_log, visible_to, AuditScope, ProofTree,
};
pub(crate) use access::{deny_message, managed, require_status, visible};
pub use checks::*;
pub use credentials::*;
pub use delegation::{grant_delegation, revoke_delegation};
pub use grants::{grant, revoke_grant};
pub use groups::{add_member, create_group, remove_member, visible_groups};
pub use keys::*;
pub use permissions::grant_level;
pub(crate) use permissions::{can_resolve, Access};
pub use principals::*;
pub use resolve::*;
pub use templates::{check_definition, define_template, delete_template};

#[cfg(test)]
mod tests;
