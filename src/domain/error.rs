//! Why a command was refused, and the refusal's record: the error kinds every shell
//! (HTTP, Vault dialect, console) maps to its own answer.

use crate::event::Body;

/// Why a command was refused. Each variant names its HTTP status.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DomainError {
    /// 404: no such object in the caller's tenant (also for other tenants' objects, so
    /// existence does not leak). Not retryable.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 403: the caller's role or grants do not allow this. Not retryable.
    #[error("{0}")]
    Forbidden(String),
    /// 409: the command conflicts with current state (duplicate name, wrong lifecycle
    /// state). Retry after changing the state.
    #[error("{0}")]
    Conflict(String),
    /// 422: an input value breaks a rule; `field` names it. Fix the input.
    #[error("{message}")]
    Invalid {
        field: Option<String>,
        message: String,
    },
    /// 410: the credential was destroyed or has expired. Not retryable.
    #[error("{0}")]
    Gone(String),
    /// 404: nothing is configured for the service (no credential, no fallback). Retry
    /// after configuring one.
    #[error("no credential is configured for service '{0}' (none owned, granted or default, and no environment fallback)")]
    NotConfigured(String),
}

impl DomainError {
    pub(crate) fn invalid(field: &str, message: impl Into<String>) -> Self {
        DomainError::Invalid {
            field: Some(field.to_string()),
            message: message.into(),
        }
    }
}

/// A refused command, with the events that record the refusal: one in the caller's
/// tenant for every 403/404, and one more in the owning tenant for a cross-tenant attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub error: DomainError,
    pub records: Vec<Body>,
}

impl Rejection {
    /// A refusal recorded by `records`.
    pub fn recorded(error: DomainError, records: Vec<Body>) -> Self {
        Rejection { error, records }
    }
}

impl From<DomainError> for Rejection {
    fn from(error: DomainError) -> Self {
        Rejection {
            error,
            records: vec![],
        }
    }
}

/// The result of a decision.
pub type Decision<T = Vec<Body>> = Result<T, Rejection>;
