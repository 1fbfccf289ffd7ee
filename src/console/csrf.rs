//! [`Posted`]: the extractor of every state-changing console request. It is a
//! [`Signed`] caller plus the submitted [`Form`], and exists only when the form's `csrf`
//! field equals the session's token (compared in constant time): otherwise the request
//! is refused with 403 before any handler runs, so nothing is written.
//!
//! The sign-in form has no session yet; it carries a double-submit token instead (a
//! random value in a short-lived `SameSite=Strict` cookie and in the form).

use super::error::ConsoleError;
use super::form::Form;
use super::session::same_token;
use super::signed::Signed;
use super::ConsoleState;
use axum::extract::{FromRequest, FromRequestParts, Request};

/// The name of the CSRF field of every console form.
pub const FIELD: &str = "csrf";

/// A signed-in caller's form whose CSRF token checked out.
pub struct Posted {
    pub signed: Signed,
    pub form: Form,
}

impl FromRequest<ConsoleState> for Posted {
    type Rejection = ConsoleError;

    async fn from_request(req: Request, st: &ConsoleState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let signed = Signed::from_request_parts(&mut parts, st).await?;
        let form = Form::from_request(Request::from_parts(parts, body), st).await?;
        match form.get(FIELD) {
            Some(t) if same_token(t, &signed.csrf) => Ok(Posted { signed, form }),
            Some(_) | None => Err(ConsoleError::Csrf),
        }
    }
}
