//! The one API error type: maps every failure to a status and a JSON body
//! `{"error":{"code","message","field"?}}`, telling the client what it may know and
//! logging the rest.
//!
//! **Invariant:** messages come from our own error texts, which never carry secret values;
//! internal errors (storage, crypto, key files) are logged and answered with a generic
//! message.

use crate::audit::QueryError;
use crate::domain::DomainError;
use crate::ledger::LedgerError;
use crate::template::TemplateError;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

/// An error answered to an API client.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
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
    fn internal(what: &str, detail: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "{what}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log",
        )
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
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
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
        let field = e.field().map(str::to_string).or_else(|| match &e {
            TemplateError::UnknownTemplate { .. } => Some("template".to_string()),
            _ => Some("fields".to_string()),
        });
        let status = match &e {
            TemplateError::InvalidTemplate { .. } => {
                return ApiError::internal("invalid builtin template", &e)
            }
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiError {
            status,
            code: e.code(),
            message: e.to_string(),
            field,
        }
    }
}

impl From<LedgerError> for ApiError {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::Domain(d) => d.into(),
            LedgerError::Template(t) => t.into(),
            LedgerError::Unauthenticated => ApiError::unauthenticated(),
            LedgerError::Commit(c) => {
                tracing::error!(error = %c, "ledger unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the ledger cannot record this request right now; nothing was done",
                )
            }
            LedgerError::Secret(s) => ApiError::internal("secret error", &s),
            other => ApiError::internal("ledger error", &other),
        }
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::UnknownAction(a) => {
                ApiError::invalid("action", format!("unknown action '{a}'"))
            }
            other => ApiError::internal("audit query failed", &other),
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        ApiError::internal("storage error", &e)
    }
}

/// Removes quoted fragments (which may echo input values) from a parser message.
pub fn sanitize_parser_message(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut quote: Option<char> = None;
    for c in msg.chars() {
        match quote {
            Some(q) if c == q => {
                out.push('…');
                out.push(c);
                quote = None;
            }
            Some(_) => {}
            None if c == '`' || c == '"' => {
                out.push(c);
                quote = Some(c);
            }
            None => out.push(c),
        }
    }
    if quote.is_some() {
        out.push('…');
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
    }
}
