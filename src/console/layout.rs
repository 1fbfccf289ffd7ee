//! The page chrome every console page shares ([`Page`]: title, navigation, the signed-in
//! principal, the CSRF token for the sign-out form, asset names) and the security
//! headers of every console response.
//!
//! **Invariant:** every console response carries a strict Content-Security-Policy (no
//! inline script or style: pages load only `/ui/assets/*`), `X-Frame-Options: DENY`,
//! `Referrer-Policy: no-referrer`, `X-Content-Type-Options: nosniff` and, except for
//! the content-hashed assets, `Cache-Control: no-store`.

use super::assets;
use super::signed::Signed;
use crate::ledger::Capabilities;
use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// The Content-Security-Policy of every console response.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                       form-action 'self'; frame-ancestors 'none'; base-uri 'none'; connect-src 'self'";

/// Adds the security headers to every console response.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// Which menu entry a page belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nav {
    None,
    Credentials,
    Add,
    Audit,
    Reviews,
    Admin,
}

impl Nav {
    /// The entry's name, as the base template compares it.
    pub fn as_str(self) -> &'static str {
        match self {
            Nav::None => "",
            Nav::Credentials => "credentials",
            Nav::Add => "add",
            Nav::Audit => "audit",
            Nav::Reviews => "reviews",
            Nav::Admin => "admin",
        }
    }
}

/// What the base template needs.
pub struct Page {
    pub title: String,
    /// The current menu entry ([`Nav::as_str`]).
    pub nav: &'static str,
    /// The signed-in principal's name and role; empty when signed out.
    pub user: String,
    pub role: &'static str,
    pub csrf: String,
    pub caps: Capabilities,
    pub css: &'static str,
    pub htmx: &'static str,
    pub js: &'static str,
    /// A one-line notice shown above the content.
    pub notice: Option<String>,
}

impl Page {
    /// A page for the signed-in caller.
    pub fn new(s: &Signed, title: impl Into<String>, nav: Nav) -> Page {
        Page {
            title: title.into(),
            nav: nav.as_str(),
            user: s.name.clone(),
            role: s.caller.role.as_str(),
            csrf: s.csrf.clone(),
            caps: s.caps,
            ..Page::plain("")
        }
    }

    /// A page without a session (sign-in, errors).
    pub fn plain(title: impl Into<String>) -> Page {
        let a = assets::names();
        Page {
            title: title.into(),
            nav: Nav::None.as_str(),
            user: String::new(),
            role: "",
            csrf: String::new(),
            caps: Capabilities::default(),
            css: a.css,
            htmx: a.htmx,
            js: a.js,
            notice: None,
        }
    }

    /// With a notice.
    pub fn notice(mut self, notice: Option<String>) -> Page {
        self.notice = notice;
        self
    }

    pub fn signed_in(&self) -> bool {
        !self.user.is_empty() || !self.csrf.is_empty()
    }
}
