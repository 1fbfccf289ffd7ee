//! The shared web layer: the state handlers share, the application router, the server
//! loop, extractors, layers and the JSON error type.
//!
//! [`app`] merges the dialects, each a sibling router over [`AppState`]: the JSON API
//! (`api::router`), the Vault KV dialect (`api::vault::router`) and the web console
//! (`console::router`: `/` and `/ui/...`, with its own session state and headers), never
//! one inside another. [`serve`] runs an app on a listener until a shutdown signal, then
//! records the pending failed authentications and drains the ledger so nothing
//! acknowledged is lost ([`serve_with`]: over TLS, [`tls`], and with trusted proxies,
//! [`proxy`]).
//! Tests call `app` with `tower::ServiceExt::oneshot`, or `serve` on port 0.
//!
//! **Invariant:** no handler logs a request body or an `Authorization` header; the trace
//! layer records method, path, status and latency only; each internal error is logged
//! once, by [`layers::log_internal_errors`], never inside a conversion.

pub mod error;
pub mod extract;
pub mod layers;
pub mod proxy;
pub mod serve;
pub mod tls;

use crate::ledger::Ledger;
use axum::extract::DefaultBodyLimit;
use axum::http::HeaderName;
use axum::Router;
pub use serve::{serve, serve_with, ServeOptions};
use std::sync::Arc;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

/// The largest request body accepted (secret file fields are at most 64 KiB each).
pub const BODY_LIMIT: usize = 256 * 1024;

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    pub ledger: Arc<Ledger>,
}

/// The whole application: every dialect's routes, the fallback, and the shared layers.
pub fn app(state: AppState) -> Router {
    let mount = state.ledger.config().vault_mount.clone();
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .merge(crate::api::router())
        .merge(crate::api::vault::router(&mount))
        .merge(crate::console::router(&state))
        .fallback(crate::api::not_found)
        .with_state(state)
        .layer(axum::middleware::from_fn(layers::method_not_allowed))
        .layer(axum::middleware::from_fn(layers::log_internal_errors))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(layers::trace())
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}
