//! One file per page family: each handler parses, calls the ledger, renders.

pub mod access;
pub mod actions;
pub mod add;
pub mod admin;
pub mod audit;
pub mod change;
pub mod credentials;
pub mod detail;
pub mod groups;
pub mod login;
pub mod reviews;

use super::error::ConsoleError;
use crate::id::Id;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};

/// Renders a template as an HTML response.
pub fn html(t: impl askama::Template) -> Result<Response, ConsoleError> {
    Ok(Html(t.render()?).into_response())
}

/// A 303 to `to` (after a POST), also as `HX-Redirect` for htmx requests.
pub fn see_other(to: &str) -> Response {
    let mut r = axum::response::Redirect::to(to).into_response();
    if let Ok(v) = header::HeaderValue::from_str(to) {
        r.headers_mut().insert("hx-redirect", v);
    }
    r
}

/// Parses an id from the path.
pub fn parse_id(s: &str) -> Result<Id, ConsoleError> {
    s.parse()
        .map_err(|_| ConsoleError::BadRequest("that is not a valid id".into()))
}

/// Whether the request came from htmx (a fragment is enough).
pub fn is_htmx(headers: &axum::http::HeaderMap) -> bool {
    headers.contains_key("hx-request")
}

/// A file download (not cached).
pub fn download(content_type: &'static str, filename: &str, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        body,
    )
        .into_response()
}
