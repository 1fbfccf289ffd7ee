//! The ledger's error type; the HTTP layers map each variant to a status.

use crate::commit::CommitError;
use crate::domain::DomainError;
use crate::integrity::Incomplete;
use crate::keys::KeyError;
use crate::secret::SecretError;
use crate::store::StoreError;
use crate::template::TemplateError;

/// Errors of ledger operations. The HTTP layer maps each to a status.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// A business rule refused the command (status per [`DomainError`]).
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The fields do not fit the template: 422 naming the field.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// Missing, malformed, unknown, expired or revoked token: 401.
    #[error("invalid or expired token")]
    Unauthenticated,
    /// The event could not be made durable: 503, nothing was acknowledged.
    #[error(transparent)]
    Commit(#[from] CommitError),
    /// Storage failed: 500.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A secret could not be opened: 500 (or 410 when shredded).
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// A key file problem (at start-up or during a key rotation): 500.
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// The stored log ends before the head record or a signed checkpoint, or is not the
    /// log they name: refuse to start (500 if it ever reached a request).
    #[error(transparent)]
    Incomplete(#[from] Incomplete),
    /// The stored log is inconsistent at `seq`: refuse to serve; run `replay verify`.
    #[error("the log is inconsistent at event {seq}: {detail} (run `credledger replay verify`)")]
    Integrity { seq: u64, detail: String },
}
