//! `GET /metrics`: the Prometheus text exposition, for a system admin's or system
//! auditor's token (the numbers span every tenant). `serve --metrics-listen ADDR` serves
//! the same text without a token on a separate address ([`unauthenticated_router`]),
//! for a scraper on a private network.

use super::error::{ApiError, ErrorBody};
use crate::http::extract::Auth;
use crate::http::AppState;
use crate::ledger::Ledger;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

/// The exposition format's content type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

fn text(ledger: &Ledger) -> Response {
    (
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        crate::metrics::render(ledger),
    )
        .into_response()
}

#[utoipa::path(get, path = "/metrics", tag = "service",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 429, body = ErrorBody)))]
pub async fn scrape(State(st): State<AppState>, Auth(caller): Auth) -> Result<Response, ApiError> {
    if !caller.is_system_reviewer() {
        return Err(ApiError::forbidden(
            "metrics are for system admins and system auditors",
        ));
    }
    Ok(text(&st.ledger))
}

/// `GET /metrics` without authentication, for `--metrics-listen`.
pub fn unauthenticated_router(ledger: Arc<Ledger>) -> Router {
    Router::new().route("/metrics", get(move || async move { text(&ledger) }))
}
