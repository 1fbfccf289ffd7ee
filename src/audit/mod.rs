//! The audit view: events rendered for reviewers, and the filtered, paginated query.
//!
//! An [`AuditEntry`] is derived from an event alone. It names who did what to which
//! credential, when, from where, with which outcome, and details such as the version or
//! the resolve source. It never contains a secret value or a ciphertext, and not even the
//! public field values of a credential (only their names).
//!
//! **Invariant:** queries only ever return events of the caller's tenant (ledger-wide
//! events live under the nil tenant, visible to system admins only).
//!
//! The files: `view` renders an event as an [`AuditEntry`] (pure: no store, no clock),
//! and `query` runs filtered scans over the audit indexes and the log. `replay` uses the
//! view half only.

mod query;
pub(crate) mod view;

pub use query::{event_at, first_seq_at, query, scan, Filter, Page, QueryError};
pub use view::{csv_cell, entry, source_str, AuditEntry};

// `api` imports the time formats from here; they live in `crate::time`.
pub use crate::time::{parse_rfc3339, rfc3339};
