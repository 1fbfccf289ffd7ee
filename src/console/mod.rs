//! The web console (`/ui/`): server-rendered HTML pages over the same ledger calls as the
//! JSON API, for people — the credential manager, the add flow, a credential's detail
//! with reveal, the audit explorer with proofs, reviews, and administration.
//!
//! The console is a shell like `api/`: a page handler parses the request, calls one
//! [`Ledger`](crate::ledger::Ledger) command or [`Reads`](crate::ledger::Reads) query,
//! and renders an askama template (compiled into the binary from `templates/console/`).
//! htmx (vendored, `assets/`) only swaps fragments the server rendered; every page also
//! works without script. What a page offers (menus, buttons) comes from
//! `domain::decide::console`; whatever it offers is decided again by the ledger when it
//! is sent, and a refusal is shown as the ledger's error.
//!
//! **Invariants:**
//! - No rule lives here: roles, grants, lifecycle and validation are decided in `domain`
//!   and `template`, through the ledger.
//! - No page's HTML contains a secret value, except the answer of a Reveal (a resolve
//!   recorded as `used` with purpose `console`), which is sent once with
//!   `Cache-Control: no-store`.
//! - Sessions are server-side (`session`): the browser holds a random id in an
//!   `HttpOnly`, `SameSite=Strict`, `Path=/ui` cookie; the API token stays in the server.
//!   Every state-changing request carries the session's CSRF token (`csrf::Posted`).
//! - Every response carries the security headers of `layout::security_headers` (strict
//!   CSP, no framing, no referrer, no caching of pages).
//!
//! The files: `session` (the table), `signed` (the signed-in extractor), `csrf` (the
//! checked form extractor), `form` (form bodies), `layout` (page chrome, security
//! headers), `view` (formatting), `error` (`ConsoleError` → HTML), `assets` (embedded
//! static files), and one file per page family under `pages/`.

mod assets;
mod csrf;
mod error;
mod form;
mod layout;
mod pages;
mod session;
mod signed;
mod view;

pub use error::ConsoleError;
pub use layout::CSP;
pub use session::{Sessions, COOKIE};

use crate::http::AppState;
use axum::response::Redirect;
use axum::routing::{any, get, post};
use axum::Router;
use std::sync::Arc;

/// What console handlers share: the application state and the session table.
#[derive(Clone)]
pub struct ConsoleState {
    pub app: AppState,
    pub sessions: Arc<Sessions>,
}

impl ConsoleState {
    fn ledger(&self) -> &Arc<crate::ledger::Ledger> {
        &self.app.ledger
    }
}

/// The console's routes (`/` and `/ui/...`), with their own state and headers, ready to
/// be merged into `http::app`.
pub fn router(state: &AppState) -> Router<AppState> {
    let st = ConsoleState {
        app: state.clone(),
        sessions: Arc::new(Sessions::new(state.ledger.config().console)),
    };
    use pages::{actions, add, admin, audit, change, credentials, detail, groups, login, reviews};
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/") }))
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(credentials::list))
        .route("/ui/login", get(login::form).post(login::submit))
        .route("/ui/logout", post(login::logout))
        .route("/ui/assets/{name}", get(assets::serve))
        .route("/ui/credentials/new", get(add::picker))
        .route(
            "/ui/credentials/new/{template}",
            get(add::form).post(add::submit),
        )
        .route(
            "/ui/credentials/new/{template}/fields",
            post(add::fields_fragment),
        )
        .route("/ui/credentials/new/{template}/test", post(add::test))
        .route("/ui/credentials/{id}", get(detail::show))
        .route("/ui/credentials/{id}/reveal", post(detail::reveal))
        .route(
            "/ui/credentials/{id}/rotate",
            get(change::rotate_form).post(change::rotate),
        )
        .route(
            "/ui/credentials/{id}/edit",
            get(change::edit_form).post(change::edit),
        )
        .route("/ui/credentials/{id}/default", post(actions::make_default))
        .route("/ui/credentials/{id}/delete", post(actions::delete))
        .route("/ui/credentials/{id}/restore", post(actions::restore))
        .route("/ui/credentials/{id}/destroy", post(actions::destroy))
        .route("/ui/credentials/{id}/verify", post(actions::verify))
        .route("/ui/credentials/{id}/grants", post(actions::grant))
        .route(
            "/ui/credentials/{id}/grants/{principal}/revoke",
            post(actions::revoke_grant),
        )
        .route("/ui/credentials/{id}/bundle", get(detail::bundle))
        .route("/ui/audit", get(audit::page))
        .route("/ui/audit/export", get(audit::export))
        .route("/ui/audit/{seq}/proof", get(audit::proof))
        .route("/ui/reviews", get(reviews::page))
        .route("/ui/reviews/export", get(reviews::export))
        .route("/ui/reviews/evidence", get(reviews::evidence))
        .route("/ui/admin", get(admin::page))
        .route("/ui/admin/principals", post(admin::create_principal))
        .route("/ui/admin/principals/{id}/tokens", post(admin::issue_token))
        .route(
            "/ui/admin/principals/{id}/disable",
            post(admin::disable_principal),
        )
        .route("/ui/admin/tokens/{id}/revoke", post(admin::revoke_token))
        .route("/ui/admin/tenants", post(admin::create_tenant))
        .route("/ui/admin/groups", post(groups::create))
        .route("/ui/admin/groups/{id}/members", post(groups::add_member))
        .route(
            "/ui/admin/groups/{id}/members/{principal}/remove",
            post(groups::remove_member),
        )
        .route("/ui/{*rest}", any(not_found))
        .layer(axum::middleware::from_fn(layout::security_headers))
        .with_state(st)
}

async fn not_found() -> ConsoleError {
    ConsoleError::NotFound
}
