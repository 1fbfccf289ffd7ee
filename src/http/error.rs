//! The JSON error type of the API and of the shared extractors: maps every failure to a
//! status and a body `{"error":{"code","message","field"?}}`, telling the client what it
//! may know. The rest (an internal error's detail) rides on the response as an
//! [`InternalError`] extension for `layers::log_internal_errors` to log once.
//!
//! **Invariant:** messages come from our own error texts, which never carry secret values;
//! internal errors (storage, crypto, key files) are answered with a generic message.
//! Every mapping over our own error enums is exhaustive: a new variant must be given a
//! status.

use super::layers::InternalError;
use crate::domain::DomainError;
use crate::ledger::{ErrorKind, LedgerError};
use crate::proof::ProofError;
use crate::secret::SecretError;
use crate::template::TemplateError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use std::sync::Arc;

/// An error answered to an API client.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    /// Seconds for `Retry-After` (429).
    pub retry_after_s: Option<u64>,
    /// What to log (internal errors only).
    pub internal: Option<Arc<str>>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// A stable machine-readable code, e.g. `not_found`, `invalid_field`.
    pub code: &'static str,
    /// A human-readable explanation.
    pub message: String,
    /// The request field the error is about, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after_s: None,
            internal: None,
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ApiError {
            field: Some(field.to_string()),
            ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message)
        }
    }
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "missing, invalid, expired or revoked token (send Authorization: Bearer <token>)",
        )
    }
    /// 429 with `Retry-After`.
    pub fn throttled(retry_after_s: u64) -> Self {
        ApiError {
            retry_after_s: Some(retry_after_s),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "throttled",
                format!("too many failed authentications; retry in {retry_after_s} s"),
            )
        }
    }
    /// 503: nothing was done.
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the ledger cannot record this request right now; nothing was done",
        )
    }
    /// 500 with a generic message; `detail` is logged by the middleware.
    pub fn internal(what: &str, detail: &dyn std::fmt::Display) -> Self {
        ApiError {
            internal: Some(Arc::from(format!("{what}: {detail}"))),
            ..Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error; see the server log",
            )
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                field: self.field,
            },
        };
        let mut resp = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(s) = self.retry_after_s {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if let Some(detail) = self.internal {
            resp.extensions_mut().insert(InternalError(detail));
        }
        if self.code == "not_writer" {
            resp.extensions_mut().insert(super::layers::NotWriter);
        }
        resp
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        let message = e.to_string();
        match e {
            DomainError::NotFound(what) => ApiError::not_found(what),
            DomainError::Forbidden(_) => ApiError::forbidden(message),
            DomainError::Conflict(_) => ApiError::new(StatusCode::CONFLICT, "conflict", message),
            DomainError::Invalid { field, .. } => ApiError {
                field,
                ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message)
            },
            DomainError::Gone(_) => ApiError::new(StatusCode::GONE, "gone", message),
            DomainError::NotConfigured(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "not_configured", message)
            }
        }
    }
}

impl From<TemplateError> for ApiError {
    fn from(e: TemplateError) -> Self {
        let field = match &e {
            TemplateError::UnknownTemplate { .. } => Some("template".to_string()),
            TemplateError::InvalidTemplate { .. } => {
                return ApiError::internal("invalid builtin template", &e)
            }
            TemplateError::UnknownField { .. }
            | TemplateError::Missing { .. }
            | TemplateError::NotApplicable { .. }
            | TemplateError::WrongType { .. }
            | TemplateError::NotAnOption { .. }
            | TemplateError::Empty { .. }
            | TemplateError::TooLong { .. }
            | TemplateError::InvalidJson { .. }
            | TemplateError::InvalidFieldName { .. }
            | TemplateError::TooManyFields { .. }
            | TemplateError::PublicFieldNotSupplied { .. }
            | TemplateError::NoFields => e.field().map(str::to_string).or(Some("fields".into())),
        };
        ApiError {
            field,
            ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.code(), e.to_string())
        }
    }
}

impl From<ProofError> for ApiError {
    fn from(e: ProofError) -> Self {
        let msg = e.to_string();
        match e {
            ProofError::IndexOutOfRange { .. } | ProofError::OldAfterNew { .. } => {
                ApiError::bad_request(msg)
            }
            ProofError::OldSizeZero => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", msg)
            }
            ProofError::SizeTooLarge { .. }
            | ProofError::NoSuchEvent { .. }
            | ProofError::Empty => ApiError::new(StatusCode::NOT_FOUND, "not_found", msg),
            ProofError::RotationInProgress => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", msg)
            }
            ProofError::WrongSigningKey { .. }
            | ProofError::Integrity { .. }
            | ProofError::Note(_)
            | ProofError::Store(_) => ApiError::internal("proof failed", &msg),
        }
    }
}

impl From<LedgerError> for ApiError {
    fn from(e: LedgerError) -> Self {
        let kind = e.kind();
        match e {
            LedgerError::Domain(d) => d.into(),
            LedgerError::Template(t) => t.into(),
            LedgerError::Proof(p) => p.into(),
            LedgerError::Unauthenticated => ApiError::unauthenticated(),
            LedgerError::Throttled { retry_after_s } => ApiError::throttled(retry_after_s),
            // One place decides that a shredded secret is "gone".
            LedgerError::Secret(SecretError::Shredded) => ApiError::new(
                StatusCode::GONE,
                "gone",
                "the secret of this version was shredded",
            ),
            // A follower over a shared store: retryable, at the writer it names.
            LedgerError::Commit(c @ crate::commit::CommitError::NotWriter(_)) => ApiError {
                retry_after_s: Some(1),
                ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_writer", c.to_string())
            },
            LedgerError::Commit(c) => ApiError {
                internal: Some(Arc::from(format!("ledger unavailable: {c}"))),
                ..ApiError::unavailable()
            },
            other @ (LedgerError::Store(_)
            | LedgerError::Secret(_)
            | LedgerError::Keys(_)
            | LedgerError::Integrity { .. }
            | LedgerError::Incomplete(_)
            | LedgerError::Startup(_)
            | LedgerError::Bug(_)) => {
                debug_assert_eq!(kind, ErrorKind::Internal);
                ApiError::internal("ledger error", &other)
            }
        }
    }
}

/// Removes the quoted fragments of a parser message that may echo input values, and keeps
/// those that are names from the request schema: serde's `` missing field `x` ``,
/// `` duplicate field `x` `` and the `` expected one of `a`, `b` `` (or `` expected `a` or `b` ``)
/// lists. A user-supplied key or value (`` unknown field `…` ``, `` unknown variant `…` ``,
/// `invalid type: string "…"`) is replaced by `…`; double-quoted fragments always are.
pub fn sanitize_parser_message(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    // The unquoted text since the last fragment.
    let mut between = String::new();
    // Whether fragments are currently the schema's ("expected …" lists).
    let mut expected = false;
    let mut chars = msg.chars();
    while let Some(c) = chars.next() {
        if c != '`' && c != '"' {
            out.push(c);
            between.push(c);
            continue;
        }
        let mut fragment = String::new();
        let mut closed = false;
        for d in chars.by_ref() {
            if d == c {
                closed = true;
                break;
            }
            fragment.push(d);
        }
        let gap = between.trim_start_matches(',').trim();
        expected = if between.contains("expected") {
            true
        } else {
            expected && (gap.is_empty() || gap == "or")
        };
        let schema = c == '`'
            && (expected
                || between.ends_with("missing field ")
                || between.ends_with("duplicate field "));
        out.push(c);
        if schema && closed {
            out.push_str(&fragment);
        } else {
            out.push('…');
        }
        if closed {
            out.push(c);
        }
        between.clear();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parser_messages_lose_their_quoted_values() {
        let m = sanitize_parser_message(
            "invalid type: string \"sk-secret\", expected u32 at line 1 column 9",
        );
        assert!(!m.contains("sk-secret"), "{m}");
        assert!(m.contains("expected u32"));
        let m =
            sanitize_parser_message("unknown variant `sk-x`, expected one of `user`, `service`");
        assert!(!m.contains("sk-x"));
        assert_eq!(m, "unknown variant `…`, expected one of `user`, `service`");
    }

    #[test]
    fn schema_field_names_stay() {
        assert_eq!(
            sanitize_parser_message(
                "unknown field `sk-9`, expected one of `name`, `kind`, `role` at line 1 column 7"
            ),
            "unknown field `…`, expected one of `name`, `kind`, `role` at line 1 column 7"
        );
        assert_eq!(
            sanitize_parser_message("missing field `template` at line 1 column 2"),
            "missing field `template` at line 1 column 2"
        );
        assert_eq!(
            sanitize_parser_message("unknown variant `x`, expected `json` or `slack`"),
            "unknown variant `…`, expected `json` or `slack`"
        );
        assert_eq!(
            sanitize_parser_message("fields.api_key: invalid type: string \"sk-z\", expected u32"),
            "fields.api_key: invalid type: string \"…\", expected u32"
        );
        // A value after an expected list is stripped again.
        let m = sanitize_parser_message("expected `a`, found `sk-secret-1` then `b`");
        assert!(!m.contains("sk-secret-1"), "{m}");
        assert!(sanitize_parser_message("unterminated `sk-abc").ends_with('…'));
    }
}
