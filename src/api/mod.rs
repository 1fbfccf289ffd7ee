//! The JSON API (`/v1`): routes, handlers, DTOs and the OpenAPI document.
//!
//! [`router`] is one of the dialects `http::app` merges; the Vault KV dialect
//! ([`vault`]) is its sibling. Handlers extract (`http::extract`), call one [`Ledger`]
//! command or one [`Reads`](crate::ledger::Reads) query, and shape the answer.
//!
//! **Invariant:** no handler contains a rule (every rule lives in `domain`), names the
//! store or the projection key layout, or logs a request body or an `Authorization`
//! header. Secret-bearing answers are wrapped in `NoStore`.

pub mod admin;
pub mod audit;
pub mod ceiling;
pub mod credentials;
pub mod dto;
pub mod groups;
pub mod ledger;
pub mod metrics;
mod openapi;
pub mod operations;
pub mod review;
pub mod templates;
pub mod tenant_log;
pub mod vault;
mod vault_openapi;
pub mod webhooks;

pub use crate::http::error;
pub use crate::http::AppState;

use crate::ledger::Ledger;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use error::ApiError;
use openapi::Complete as CompleteDoc;
use serde_json::{json, Value};
use std::future::Future;
use std::sync::Arc;
use utoipa::OpenApi;

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
        health, ready, openapi_json, metrics::scrape,
        operations::backup, operations::rotate_master, operations::rotate_signing,
        admin::create_tenant, admin::create_principal, admin::list_principals, admin::disable_principal,
        admin::issue_token, admin::revoke_token, admin::grant_delegation, admin::revoke_delegation, admin::whoami,
        templates::list, templates::get, templates::create, templates::put, templates::delete,
        groups::create, groups::list, groups::add_member, groups::remove_member,
        credentials::create, credentials::list, credentials::get, credentials::update, credentials::rotate,
        credentials::delete, credentials::restore, credentials::destroy, credentials::verify, credentials::versions,
        credentials::set_default, credentials::verify_input, review::access,
        credentials::grant, credentials::revoke_grant, credentials::usage, credentials::resolve_by_id,
        credentials::resolve_service,
        audit::query, audit::export, audit::usage_list, audit::usage_summary, audit::principal_usage, audit::rotation,
        ledger::checkpoint, ledger::checkpoints, ledger::publickey, ledger::events, ledger::inclusion,
        ledger::consistency, ledger::prove_audit_entry,
        webhooks::create, webhooks::list, webhooks::delete,
        tenant_log::checkpoint, tenant_log::checkpoints, tenant_log::publickey, tenant_log::leaves,
        tenant_log::inclusion, tenant_log::consistency, tenant_log::usage_report,
    ),
    modifiers(&BearerAuth, &CompleteDoc),
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
async fn openapi_json(State(st): State<AppState>) -> Json<utoipa::openapi::OpenApi> {
    Json(document(&st.ledger.config().vault_mount))
}

/// The whole OpenAPI document: the JSON API and the Vault dialect on `mount`.
pub fn document(mount: &str) -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    vault_openapi::add(&mut doc, mount);
    doc
}

/// The answer for a path no dialect serves.
pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

/// The JSON API's routes (merged by `http::app`).
pub fn router() -> Router<AppState> {
    let routes = Router::new()
        .route("/v1/health", get(health))
        .route("/v1/ready", get(ready))
        .route("/v1/openapi.json", get(openapi_json))
        .route("/metrics", get(metrics::scrape))
        .route("/v1/admin/backup", get(operations::backup))
        .route(
            "/v1/admin/keys/rotate-master",
            post(operations::rotate_master),
        )
        .route(
            "/v1/admin/keys/rotate-signing",
            post(operations::rotate_signing),
        )
        .route("/v1/whoami", get(admin::whoami))
        .route("/v1/tenants", post(admin::create_tenant))
        .route(
            "/v1/principals",
            post(admin::create_principal).get(admin::list_principals),
        )
        .route("/v1/principals/{id}", delete(admin::disable_principal))
        .route("/v1/principals/{id}/tokens", post(admin::issue_token))
        .route(
            "/v1/principals/{id}/delegation",
            post(admin::grant_delegation).delete(admin::revoke_delegation),
        )
        .route("/v1/tokens/{id}", delete(admin::revoke_token))
        .route(
            "/v1/templates",
            get(templates::list).post(templates::create),
        )
        .route(
            "/v1/templates/{name}",
            get(templates::get)
                .put(templates::put)
                .delete(templates::delete),
        )
        .route("/v1/groups", post(groups::create).get(groups::list))
        .route("/v1/groups/{id}/members", post(groups::add_member))
        .route(
            "/v1/groups/{id}/members/{principal}",
            delete(groups::remove_member),
        )
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
        .route(
            "/v1/credentials/{id}/default",
            post(credentials::set_default),
        )
        .route("/v1/credentials/{id}/access", get(review::access))
        .route("/v1/verify", post(credentials::verify_input))
        .route("/v1/credentials/{id}/versions", get(credentials::versions))
        .route("/v1/credentials/{id}/grants", post(credentials::grant))
        .route(
            "/v1/credentials/{id}/grants/{principal}",
            delete(credentials::revoke_grant),
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
        .route("/v1/usage/summary", get(audit::usage_summary))
        .route("/v1/usage/principals/{id}", get(audit::principal_usage))
        .route("/v1/compliance/rotation", get(audit::rotation))
        .route("/v1/audit/{seq}/proof", get(ledger::prove_audit_entry))
        .route("/v1/ledger/checkpoint", get(ledger::checkpoint))
        .route("/v1/ledger/checkpoints", get(ledger::checkpoints))
        .route("/v1/ledger/publickey", get(ledger::publickey))
        .route("/v1/ledger/events", get(ledger::events))
        .route("/v1/ledger/proof/inclusion", get(ledger::inclusion))
        .route("/v1/ledger/proof/consistency", get(ledger::consistency))
        .route("/v1/webhooks", post(webhooks::create).get(webhooks::list))
        .route("/v1/webhooks/{id}", delete(webhooks::delete))
        .merge(tenant_log::routes());
    if ceiling::enabled() {
        routes.route(
            "/v1/credentials/{id}/resolve-ceiling",
            post(ceiling::resolve_ceiling),
        )
    } else {
        routes
    }
}

/// Serves the whole application (`http::app`) for `ledger` on `listener` until
/// `shutdown` completes (the binary's and the integration tests' entry point).
pub async fn serve(
    listener: tokio::net::TcpListener,
    ledger: Arc<Ledger>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = crate::http::app(AppState {
        ledger: ledger.clone(),
    });
    crate::http::serve(listener, app, ledger, shutdown).await
}
