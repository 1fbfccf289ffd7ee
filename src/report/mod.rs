//! Complete usage reports: an offline bundle proving that the events it lists are **all**
//! the events of one credential in a time interval `[from, to)` — and so, when it lists
//! none, that nobody used it.
//!
//! The proof is over the credential's tenant log (`proof::tenant`): the bundle holds the
//! complete range of tenant leaves `[start, end)` between two tenant checkpoints (sizes
//! `start` and `end`), every leaf as its full event bytes, the perfect subtree hashes of
//! `[0, start)` (so the verifier recomputes the root at `end` from them and the leaves),
//! the consistency proof between the two checkpoints, and the boundary leaf `start − 1`
//! with its inclusion proof in the start checkpoint. Event times never decrease along the
//! log (format rule), so if leaf `start − 1` is before `from` and leaf `end − 1` is at or
//! after `to`, every event of the tenant inside `[from, to)` is a leaf of the range.
//!
//! What the bundle shows: every event of the tenant in the range, whole (the leaf hash
//! needs the bytes; a hash-only leaf could hide a use). Events carry secrets only as
//! sealed ciphertext under data keys that are not in the bundle, never as plaintext; they
//! do show other credentials' metadata (names, public fields, principals, addresses) of
//! the same tenant in the range. Other tenants' events are never in it.
//!
//! The files: `format` is the bundle's JSON document (`docs/FORMAT.md`), `make` builds one
//! from a store, `check` verifies one offline.

mod check;
#[cfg(test)]
mod example;
mod format;
mod make;

pub use check::{verify_report, ReportError, ReportUse, VerifiedReport};
pub use format::{UsageReport, REPORT_FORMAT};
pub use make::{usage_report, MakeError};
