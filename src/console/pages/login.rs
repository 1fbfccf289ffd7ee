//! Sign-in and sign-out.
//!
//! `POST /ui/login` checks the double-submit token, then hands the API token to
//! [`Ledger::console_sign_in`](crate::ledger::Ledger::console_sign_in): a wrong token is
//! a failed authentication like any other (counted, throttled with 429, aggregated into
//! `auth_failures`), a good one opens a server-side session and records
//! `console_signed_in`. `POST /ui/logout` ends it and records `console_signed_out`.

use super::{html, see_other};
use crate::console::csrf::Posted;
use crate::console::error::ConsoleError;
use crate::console::form::Form;
use crate::console::layout::Page;
use crate::console::session::{random_token, same_token, Lookup, COOKIE};
use crate::console::signed::cookie;
use crate::console::ConsoleState;
use crate::event::SessionEnd;
use crate::http::extract::Ctx;
use crate::ledger::LedgerError;
use crate::secret::SecretString;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

/// The double-submit cookie of the sign-in form.
const LOGIN_COOKIE: &str = "credledger_login";

#[derive(Template)]
#[template(path = "console/login.html")]
struct Login {
    page: Page,
    error: Option<String>,
    login_csrf: String,
    next: String,
}

#[derive(Deserialize, Default)]
pub struct NextQuery {
    next: Option<String>,
}

/// Only a console path may be a target after sign-in (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/ui/") && !n.starts_with("/ui//") && !n.contains('\\') => {
            n.to_string()
        }
        _ => "/ui/".to_string(),
    }
}

/// Whether the session cookie gets `Secure`: configured (behind a TLS proxy), or the
/// request arrived over the server's own TLS (`http::serve::Secure`).
fn secure(st: &ConsoleState, parts: &Parts) -> bool {
    st.sessions.limits().secure_cookie
        || crate::http::serve::is_secure(&parts.extensions)
        || parts.uri.scheme_str() == Some("https")
}

fn login_page(
    status: StatusCode,
    error: Option<String>,
    next: String,
    secure: bool,
) -> Result<Response, ConsoleError> {
    let token = random_token();
    let mut resp = html(Login {
        page: Page::plain("Sign in"),
        error,
        login_csrf: token.clone(),
        next,
    })?;
    *resp.status_mut() = status;
    let cookie = format!(
        "{LOGIN_COOKIE}={token}; Path=/ui/login; HttpOnly; SameSite=Strict; Max-Age=900{}",
        if secure { "; Secure" } else { "" }
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp)
}

/// `GET /ui/login`: the sign-in form (or the credentials, when already signed in).
pub async fn form(
    State(st): State<ConsoleState>,
    Query(q): Query<NextQuery>,
    parts: Parts,
) -> Result<Response, ConsoleError> {
    if let Some(c) = cookie(&parts, COOKIE) {
        if let Lookup::Live(_) = st.sessions.lookup(c, st.ledger().now_ms()) {
            return Ok(see_other("/ui/"));
        }
    }
    login_page(
        StatusCode::OK,
        None,
        safe_next(q.next.as_deref()),
        secure(&st, &parts),
    )
}

/// `POST /ui/login`: sign in with an API token.
pub async fn submit(
    State(st): State<ConsoleState>,
    Ctx(ctx): Ctx,
    parts: Parts,
    form: Form,
) -> Result<Response, ConsoleError> {
    let secure = secure(&st, &parts);
    let next = safe_next(form.get("next"));
    match (cookie(&parts, LOGIN_COOKIE), form.get("login_csrf")) {
        (Some(c), Some(f)) if same_token(c, f) => {}
        _ => return Err(ConsoleError::Csrf),
    }
    let token = SecretString::new(form.get("token").unwrap_or_default().trim().to_string());
    if token.expose().is_empty() {
        return login_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("Enter your API token".into()),
            next,
            secure,
        );
    }
    let ledger = st.ledger().clone();
    let (caller, public_id) = match ledger.console_sign_in(&ctx, token.expose()).await {
        Ok(ok) => ok,
        Err(LedgerError::Unauthenticated) => {
            return login_page(
                StatusCode::UNAUTHORIZED,
                Some("That token was not accepted: it is wrong, expired or revoked".into()),
                next,
                secure,
            )
        }
        Err(e) => return Err(e.into()),
    };
    let (value, evicted) = st.sessions.open(public_id, caller, token, ledger.now_ms());
    // Sessions that timed out unseen, and those ended to make room, are recorded now.
    let mut ended = st.sessions.sweep(ledger.now_ms());
    ended.extend(
        evicted
            .into_iter()
            .map(|(id, c)| (id, c, SessionEnd::IdleTimeout)),
    );
    for (id, c, reason) in ended {
        let _ = ledger.console_sign_out(&ctx, &c, id, reason).await;
    }
    let mut resp = see_other(&next);
    let cookie = format!(
        "{COOKIE}={value}; Path=/ui; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    );
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        h.append(header::SET_COOKIE, v);
    }
    h.append(
        header::SET_COOKIE,
        HeaderValue::from_static("credledger_login=; Path=/ui/login; Max-Age=0"),
    );
    Ok(resp)
}

/// `POST /ui/logout`: end the session.
pub async fn logout(
    State(st): State<ConsoleState>,
    Ctx(ctx): Ctx,
    posted: Posted,
) -> Result<Response, ConsoleError> {
    let s = posted.signed;
    st.sessions.close(&s.cookie);
    st.ledger()
        .console_sign_out(&ctx, &s.caller, s.session, SessionEnd::SignedOut)
        .await?;
    let mut resp = see_other("/ui/login");
    resp.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "credledger_session=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0",
        ),
    );
    Ok(resp.into_response())
}
