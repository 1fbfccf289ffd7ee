//! The ledger's error type and its handling classes; the HTTP layers map each variant to
//! a status.

use crate::commit::CommitError;
use crate::domain::DomainError;
use crate::integrity::Incomplete;
use crate::keys::KeyError;
use crate::proof::ProofError;
use crate::secret::SecretError;
use crate::store::StoreError;
use crate::template::TemplateError;

/// Errors of ledger operations. The HTTP layers map each to a status.
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
    /// Too many failed authentications from this source or for this token id: 429 with
    /// `Retry-After`. Retry after that many seconds.
    #[error("too many failed authentications; retry in {retry_after_s} s")]
    Throttled { retry_after_s: u64 },
    /// The event could not be made durable: 503, nothing was acknowledged.
    #[error(transparent)]
    Commit(#[from] CommitError),
    /// Storage failed: 500.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A secret could not be opened: 410 when it was shredded (its data key is gone),
    /// 500 otherwise (a wrong or corrupt key: an operator problem).
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
    /// The ledger cannot start (e.g. the connection-test HTTP client cannot be built):
    /// fix the environment and restart.
    #[error("cannot start: {0}")]
    Startup(String),
    /// A checkpoint or proof could not be produced (status per [`ProofError`]).
    #[error(transparent)]
    Proof(#[from] ProofError),
    /// A bug: a read task panicked. 500; report it.
    #[error("internal error: {0}")]
    Bug(&'static str),
}

/// How a caller should treat an error: every dialect (JSON API, Vault, console) maps
/// this first and a few specific variants after.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request was refused or wrong: tell the client why (4xx); nothing to log.
    Client,
    /// The ledger cannot record right now: 503, nothing was done; the client may retry.
    Unavailable,
    /// A bug, corruption or operator problem: 500 with a generic message; log it.
    Internal,
}

impl LedgerError {
    /// The handling class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            LedgerError::Domain(_)
            | LedgerError::Template(_)
            | LedgerError::Unauthenticated
            | LedgerError::Throttled { .. } => ErrorKind::Client,
            LedgerError::Secret(SecretError::Shredded) => ErrorKind::Client,
            LedgerError::Commit(_) => ErrorKind::Unavailable,
            LedgerError::Proof(p) => proof_kind(p),
            LedgerError::Store(_)
            | LedgerError::Secret(_)
            | LedgerError::Keys(_)
            | LedgerError::Integrity { .. }
            | LedgerError::Incomplete(_)
            | LedgerError::Startup(_)
            | LedgerError::Bug(_) => ErrorKind::Internal,
        }
    }
}

fn proof_kind(p: &ProofError) -> ErrorKind {
    match p {
        ProofError::IndexOutOfRange { .. }
        | ProofError::OldAfterNew { .. }
        | ProofError::OldSizeZero
        | ProofError::SizeTooLarge { .. }
        | ProofError::NoSuchEvent { .. }
        | ProofError::Empty => ErrorKind::Client,
        ProofError::RotationInProgress => ErrorKind::Unavailable,
        ProofError::WrongSigningKey { .. }
        | ProofError::Integrity { .. }
        | ProofError::Note(_)
        | ProofError::Store(_) => ErrorKind::Internal,
    }
}
