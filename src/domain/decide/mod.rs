//! Every business rule: who may do what, and which events a command yields.
//!
//! Each function takes the current [`State`], the authenticated [`Caller`] and the
//! command's inputs (ids, times and sealed payloads made by the shell) and returns the
//! events to append, or a [`Rejection`]. A rejection may carry an event that must be
//! recorded anyway (`UseDenied`, `AccessDenied`): every decision that touches a
//! credential leaves a trace.

mod access;
mod checks;
mod credentials;
pub mod kv;
mod principals;
mod resolve;

pub use super::caller::Caller;
pub use super::error::{Decision, DomainError, Rejection};
pub(crate) use access::*;
pub use checks::*;
pub use credentials::*;
pub use principals::*;
pub use resolve::*;

#[cfg(test)]
mod tests;
