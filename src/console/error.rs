//! [`ConsoleError`]: every way a console request fails, answered as an HTML page (or a
//! redirect to the sign-in page) that tells the person what they may know.
//!
//! **Invariant:** the mapping from the ledger's errors is exhaustive (a new variant needs
//! a page); messages are our own error texts, which never carry a secret value; an
//! internal error's detail rides on the response for `http::layers::log_internal_errors`
//! and the page says only "internal error".

use super::layout::Page;
use crate::domain::DomainError;
use crate::http::layers::InternalError;
use crate::ledger::{ErrorKind, LedgerError};
use crate::proof::ProofError;
use crate::secret::SecretError;
use crate::template::TemplateError;
use askama::Template;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// Why a console request failed.
#[derive(Debug)]
pub enum ConsoleError {
    /// No live session: 303 to the sign-in page (`HX-Redirect` for htmx requests).
    SignIn,
    /// A state-changing form without the session's CSRF token: 403, nothing written.
    Csrf,
    /// A malformed request (bad id, bad parameter): 400.
    BadRequest(String),
    /// No such page: 404.
    NotFound,
    /// The ledger refused or failed (status per the error).
    Ledger(LedgerError),
    /// A template failed to render: 500.
    Render(askama::Error),
}

impl From<LedgerError> for ConsoleError {
    fn from(e: LedgerError) -> Self {
        ConsoleError::Ledger(e)
    }
}

impl From<askama::Error> for ConsoleError {
    fn from(e: askama::Error) -> Self {
        ConsoleError::Render(e)
    }
}

impl From<DomainError> for ConsoleError {
    fn from(e: DomainError) -> Self {
        ConsoleError::Ledger(e.into())
    }
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage<'a> {
    page: Page,
    status: u16,
    title: &'a str,
    message: String,
}

/// Status, title and message of a domain refusal.
fn domain(e: &DomainError) -> (StatusCode, &'static str) {
    match e {
        DomainError::NotFound(_) => (StatusCode::NOT_FOUND, "Not found"),
        DomainError::Forbidden(_) => (StatusCode::FORBIDDEN, "Not allowed"),
        DomainError::Conflict(_) => (StatusCode::CONFLICT, "Not possible now"),
        DomainError::Invalid { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "Check your input"),
        DomainError::Gone(_) => (StatusCode::GONE, "Gone"),
        DomainError::NotConfigured(_) => (StatusCode::NOT_FOUND, "Not configured"),
    }
}

fn template(e: &TemplateError) -> (StatusCode, &'static str) {
    match e {
        TemplateError::UnknownTemplate { .. } => (StatusCode::NOT_FOUND, "Unknown service"),
        TemplateError::InvalidTemplate { .. } => {
            (StatusCode::INTERNAL_SERVER_ERROR, "Internal error")
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
        | TemplateError::NoFields => (StatusCode::UNPROCESSABLE_ENTITY, "Check your input"),
    }
}

fn proof(e: &ProofError) -> (StatusCode, &'static str) {
    match e {
        ProofError::IndexOutOfRange { .. }
        | ProofError::OldAfterNew { .. }
        | ProofError::OldSizeZero => (StatusCode::BAD_REQUEST, "Bad request"),
        ProofError::SizeTooLarge { .. } | ProofError::NoSuchEvent { .. } | ProofError::Empty => {
            (StatusCode::NOT_FOUND, "Not found")
        }
        ProofError::RotationInProgress => (StatusCode::SERVICE_UNAVAILABLE, "Try again"),
        ProofError::WrongSigningKey { .. }
        | ProofError::Integrity { .. }
        | ProofError::Note(_)
        | ProofError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "Internal error"),
    }
}

/// The status, title, message and (for internal errors) the detail to log of a ledger
/// error.
pub fn ledger(e: &LedgerError) -> (StatusCode, &'static str, String, Option<String>) {
    let internal = |title| {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            title,
            "Something went wrong on the server; the error is in the server log.".to_string(),
            Some(format!("ledger error: {e}")),
        )
    };
    match e {
        LedgerError::Domain(d) => {
            let (s, t) = domain(d);
            (s, t, d.to_string(), None)
        }
        LedgerError::Template(t) => match template(t) {
            (StatusCode::INTERNAL_SERVER_ERROR, title) => internal(title),
            (s, title) => (s, title, t.to_string(), None),
        },
        LedgerError::Proof(p) => match proof(p) {
            (StatusCode::INTERNAL_SERVER_ERROR, title) => internal(title),
            (s, title) => (s, title, p.to_string(), None),
        },
        LedgerError::Unauthenticated => (
            StatusCode::UNAUTHORIZED,
            "Signed out",
            "Your token is no longer accepted; sign in again.".into(),
            None,
        ),
        LedgerError::Throttled { retry_after_s } => (
            StatusCode::TOO_MANY_REQUESTS,
            "Too many attempts",
            format!("Too many failed sign-ins from here; try again in {retry_after_s} s."),
            None,
        ),
        LedgerError::Secret(SecretError::Shredded) => (
            StatusCode::GONE,
            "Gone",
            "The secret of this version was shredded.".into(),
            None,
        ),
        LedgerError::Commit(c) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Try again later",
            "The ledger cannot record this request right now; nothing was done.".into(),
            Some(format!("ledger unavailable: {c}")),
        ),
        LedgerError::Store(_)
        | LedgerError::Secret(_)
        | LedgerError::Keys(_)
        | LedgerError::Integrity { .. }
        | LedgerError::Incomplete(_)
        | LedgerError::Startup(_)
        | LedgerError::Bug(_) => {
            debug_assert_eq!(e.kind(), ErrorKind::Internal);
            internal("Internal error")
        }
    }
}

impl ConsoleError {
    /// Status, title, message, detail to log.
    fn parts(&self) -> (StatusCode, &'static str, String, Option<String>) {
        match self {
            ConsoleError::SignIn => (
                StatusCode::UNAUTHORIZED,
                "Sign in",
                "Sign in to continue.".into(),
                None,
            ),
            ConsoleError::Csrf => (
                StatusCode::FORBIDDEN,
                "Form expired",
                "This form was not sent from your current session (or it expired); nothing was \
                 done. Go back, reload the page and try again."
                    .into(),
                None,
            ),
            ConsoleError::BadRequest(m) => {
                (StatusCode::BAD_REQUEST, "Bad request", m.clone(), None)
            }
            ConsoleError::NotFound => (
                StatusCode::NOT_FOUND,
                "Page not found",
                "There is no such page.".into(),
                None,
            ),
            ConsoleError::Ledger(e) => ledger(e),
            ConsoleError::Render(e) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal error",
                "Something went wrong on the server; the error is in the server log.".into(),
                Some(format!("rendering a console page: {e}")),
            ),
        }
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        if let ConsoleError::SignIn = self {
            let mut resp = (
                StatusCode::SEE_OTHER,
                [(header::LOCATION, HeaderValue::from_static("/ui/login"))],
            )
                .into_response();
            resp.headers_mut()
                .insert("hx-redirect", HeaderValue::from_static("/ui/login"));
            return resp;
        }
        let retry = if let ConsoleError::Ledger(LedgerError::Throttled { retry_after_s }) = &self {
            Some(*retry_after_s)
        } else {
            None
        };
        let (status, title, message, detail) = self.parts();
        let html = ErrorPage {
            page: Page::plain(title),
            status: status.as_u16(),
            title,
            message,
        }
        .render()
        .unwrap_or_else(|_| format!("<!doctype html><title>{title}</title><h1>{title}</h1>"));
        let mut resp = (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            html,
        )
            .into_response();
        if let Some(s) = retry {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if let Some(d) = detail {
            resp.extensions_mut().insert(InternalError(Arc::from(d)));
        }
        resp
    }
}
