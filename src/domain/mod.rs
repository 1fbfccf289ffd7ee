//! The functional core: current state folded from events, and the rules that decide
//! which events a command produces.
//!
//! `state` holds [`State`] and `State::apply`, which cannot fail and holds no rule.
//! `decide` holds every business rule: authorization, validation of invariants (unique
//! names, one default per service, lifecycle transitions) and resolution order. Neither
//! does I/O, reads a clock or draws randomness: ids, times, sealed secrets and token
//! hashes are passed in by the `ledger` shell.
//!
//! `rotation` is the rotation-schedule rule, `names` the rule for names people read,
//! `auth_failures` the counting and throttling of failed authentications, `summary` the
//! usage summary by template or service, `fields` the merge of a partial rotation.
//!
//! **Invariant:** `decide` never mutates state; the shell applies the events it returns.
//! Rejections that must still be recorded (a denied resolve, a denied rotate) come back
//! with the event to append.

pub mod auth_failures;
mod caller;
pub mod decide;
mod error;
pub mod fields;
pub mod names;
pub mod rotation;
pub mod state;
pub mod summary;

pub use caller::Caller;
pub use decide::AuditScope;
pub use error::{Decision, DomainError, Rejection};
pub use state::{CredStatus, State};
