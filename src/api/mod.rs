//! The HTTP service over axum: routing, middleware, and the handlers' shared helpers.
//!
//! [`router`] builds the whole `/v1` API around an [`AppState`]; [`serve`] runs it on a
//! listener until a shutdown signal, then drains the ledger so nothing acknowledged is
//! lost. Tests call `router` with `tower::ServiceExt::oneshot`, or `serve` on port 0.
//!
//! **Invariant:** handlers only parse, call one [`Ledger`] method or projection read, and
//! shape the answer; every rule lives in `domain`. No handler logs a request body or an
//! `Authorization` header, and the trace layer records method, path, status and latency
//! only.

pub mod admin;
pub mod audit;
pub mod auth;
pub mod credentials;
pub mod dto;
pub mod error;
pub mod ledger;
pub mod vault;

use crate::id::Id;
use crate::ledger::Ledger;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderName, Request, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use error::ApiError;
use serde_json::{json, Value};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;

/// The largest request body accepted (secret file fields are at most 64 KiB each).
pub const BODY_LIMIT: usize = 256 * 1024;

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    pub ledger: Arc<Ledger>,
}

/// Parses an id from a path segment.
pub fn parse_id(s: &str) -> Result<Id, ApiError> {
    s.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "'{}' is not a valid id",
            s.chars().take(40).collect::<String>()
        ))
    })
}

/// Parses an RFC 3339 time field into Unix milliseconds.
pub fn parse_time(field: &str, s: &str) -> Result<i64, ApiError> {
    crate::audit::parse_rfc3339(s).ok_or_else(|| {
        ApiError::invalid(
            field,
            format!("{field} must be an RFC 3339 time such as 2027-01-31T00:00:00Z"),
        )
    })
}

#[derive(OpenApi)]
#[openapi(
    info(title = "credledger", description = "An event-sourced, audit-first credential ledger. Every call that touches a credential is a signed, hash-chained event."),
    paths(
        health, ready, openapi_json,
        admin::create_tenant, admin::create_principal, admin::list_principals, admin::disable_principal,
        admin::issue_token, admin::revoke_token, admin::whoami, admin::list_templates, admin::get_template,
        credentials::create, credentials::list, credentials::get, credentials::update, credentials::rotate,
        credentials::delete, credentials::restore, credentials::destroy, credentials::verify, credentials::versions,
        credentials::grant, credentials::revoke_grant, credentials::usage, credentials::resolve_by_id,
        credentials::resolve_service,
        audit::query, audit::export, audit::usage_list, audit::principal_usage, audit::rotation,
        ledger::checkpoint, ledger::checkpoints, ledger::publickey, ledger::events, ledger::inclusion,
        ledger::consistency, ledger::prove_audit_entry,
    ),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub struct ApiDoc;

struct BearerAuth;
impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[utoipa::path(get, path = "/v1/health", tag = "service", security(()), responses((status = 200)))]
async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

#[utoipa::path(get, path = "/v1/ready", tag = "service", security(()), responses((status = 200), (status = 503)))]
async fn ready(State(st): State<AppState>) -> (StatusCode, Json<Value>) {
    let stats = st.ledger.commit_stats();
    match st.ledger.writable() {
        Ok(()) => (
            StatusCode::OK,
            Json(
                json!({"status": "ready", "events_committed": stats.events, "syncs": stats.syncs}),
            ),
        ),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({"status": "unavailable", "reason": "the ledger cannot be written; see the server log"}),
            ),
        ),
    }
}

#[utoipa::path(get, path = "/v1/openapi.json", tag = "service", security(()), responses((status = 200)))]
async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

async fn method_not_allowed<B>(
    req: Request<B>,
    next: axum::middleware::Next,
) -> axum::response::Response
where
    B: Send + 'static,
    axum::body::Body: From<B>,
{
    let resp = next.run(req.map(axum::body::Body::from)).await;
    // axum's own 405 has no body; one with a content type (the Vault API's) is kept.
    if resp.status() == StatusCode::METHOD_NOT_ALLOWED
        && !resp
            .headers()
            .contains_key(axum::http::header::CONTENT_TYPE)
    {
        return axum::response::IntoResponse::into_response(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this endpoint does not support that method",
        ));
    }
    resp
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let trace = TraceLayer::new_for_http().make_span_with(|req: &Request<axum::body::Body>| {
        let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-").to_string();
        tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
    })
    .on_request(())
    .on_response(tower_http::trace::DefaultOnResponse::new().level(tracing::Level::INFO));
    let vault = vault::routes(&state.ledger.config().vault_mount);
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/ready", get(ready))
        .route("/v1/openapi.json", get(openapi_json))
        .route("/v1/whoami", get(admin::whoami))
        .route("/v1/tenants", post(admin::create_tenant))
        .route(
            "/v1/principals",
            post(admin::create_principal).get(admin::list_principals),
        )
        .route(
            "/v1/principals/{id}",
            axum::routing::delete(admin::disable_principal),
        )
        .route("/v1/principals/{id}/tokens", post(admin::issue_token))
        .route(
            "/v1/tokens/{id}",
            axum::routing::delete(admin::revoke_token),
        )
        .route("/v1/templates", get(admin::list_templates))
        .route("/v1/templates/{name}", get(admin::get_template))
        .route(
            "/v1/credentials",
            post(credentials::create).get(credentials::list),
        )
        .route(
            "/v1/credentials/{id}",
            get(credentials::get)
                .patch(credentials::update)
                .delete(credentials::delete),
        )
        .route("/v1/credentials/{id}/rotate", post(credentials::rotate))
        .route("/v1/credentials/{id}/restore", post(credentials::restore))
        .route("/v1/credentials/{id}/destroy", post(credentials::destroy))
        .route("/v1/credentials/{id}/verify", post(credentials::verify))
        .route("/v1/credentials/{id}/versions", get(credentials::versions))
        .route("/v1/credentials/{id}/grants", post(credentials::grant))
        .route(
            "/v1/credentials/{id}/grants/{principal}",
            axum::routing::delete(credentials::revoke_grant),
        )
        .route("/v1/credentials/{id}/usage", get(credentials::usage))
        .route(
            "/v1/credentials/{id}/resolve",
            post(credentials::resolve_by_id),
        )
        .route("/v1/resolve", post(credentials::resolve_service))
        .route("/v1/audit", get(audit::query))
        .route("/v1/audit/export", get(audit::export))
        .route("/v1/usage", get(audit::usage_list))
        .route("/v1/usage/principals/{id}", get(audit::principal_usage))
        .route("/v1/compliance/rotation", get(audit::rotation))
        .route("/v1/audit/{seq}/proof", get(ledger::prove_audit_entry))
        .route("/v1/ledger/checkpoint", get(ledger::checkpoint))
        .route("/v1/ledger/checkpoints", get(ledger::checkpoints))
        .route("/v1/ledger/publickey", get(ledger::publickey))
        .route("/v1/ledger/events", get(ledger::events))
        .route("/v1/ledger/proof/inclusion", get(ledger::inclusion))
        .route("/v1/ledger/proof/consistency", get(ledger::consistency))
        .merge(vault)
        .fallback(not_found)
        .with_state(state)
        .layer(axum::middleware::from_fn(
            method_not_allowed::<axum::body::Body>,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(trace)
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

/// Serves the API on `listener` until `shutdown` completes, then commits what is queued.
pub async fn serve(
    listener: tokio::net::TcpListener,
    ledger: Arc<Ledger>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(AppState {
        ledger: ledger.clone(),
    });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    let l = ledger.clone();
    tokio::task::spawn_blocking(move || l.shutdown()).await.ok();
    Ok(())
}
