//! A tenant's own log over HTTP: its C2SP checkpoints (cosigned), verifier key, leaves,
//! and RFC 9162 inclusion and consistency proofs, under `/v1/ledger/tenant/…`.
//!
//! The caller's tenant by default; `?tenant=ID` names another for system reviewers (a
//! tenant's reviewers asking for another tenant get a recorded 404). The rule is
//! `domain::decide::tenant_log`.

use super::error::{ApiError, ErrorBody};
use super::AppState;
use crate::http::extract::{parse_id, Auth, Ctx, Params};
use crate::id::Id;
use crate::proof;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};

/// The routes of this file.
pub fn routes() -> axum::Router<AppState> {
    use axum::routing::get;
    axum::Router::new()
        .route("/v1/ledger/tenant/checkpoint", get(checkpoint))
        .route("/v1/ledger/tenant/checkpoints", get(checkpoints))
        .route("/v1/ledger/tenant/publickey", get(publickey))
        .route("/v1/ledger/tenant/leaves", get(leaves))
        .route("/v1/ledger/tenant/proof/inclusion", get(inclusion))
        .route("/v1/ledger/tenant/proof/consistency", get(consistency))
        .route("/v1/credentials/{id}/usage-report", get(usage_report))
}

fn tenant(q: Option<&str>) -> Result<Option<Id>, ApiError> {
    q.map(parse_id).transpose()
}

#[derive(Deserialize, utoipa::IntoParams, Default)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TenantQuery {
    /// The tenant (default: the caller's; another needs a system reviewer).
    pub tenant: Option<String>,
}

#[utoipa::path(get, path = "/v1/ledger/tenant/checkpoint", tag = "ledger", params(TenantQuery), responses((status = 200, description = "A C2SP signed note of the tenant's log, with witness cosignatures", content_type = "text/plain"), (status = 404, body = ErrorBody)))]
pub async fn checkpoint(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    Params(q): Params<TenantQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let t = tenant(q.tenant.as_deref())?;
    let cp = st
        .ledger
        .reads()
        .tenant_checkpoint(&ctx, &caller, t)
        .await?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        cp.note,
    ))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TenantCheckpointList {
    #[schema(value_type = Vec<Object>)]
    pub checkpoints: Vec<proof::SignedCheckpoint>,
}

#[utoipa::path(get, path = "/v1/ledger/tenant/checkpoints", tag = "ledger", params(TenantQuery), responses((status = 200, body = TenantCheckpointList), (status = 404, body = ErrorBody)))]
pub async fn checkpoints(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    Params(q): Params<TenantQuery>,
) -> Result<Json<TenantCheckpointList>, ApiError> {
    let t = tenant(q.tenant.as_deref())?;
    let checkpoints = st
        .ledger
        .reads()
        .tenant_checkpoints(&ctx, &caller, t)
        .await?;
    Ok(Json(TenantCheckpointList { checkpoints }))
}

#[utoipa::path(get, path = "/v1/ledger/tenant/publickey", tag = "ledger", params(TenantQuery), responses((status = 200, description = "The C2SP verifier key of the tenant's log", content_type = "text/plain"), (status = 404, body = ErrorBody)))]
pub async fn publickey(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    Params(q): Params<TenantQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let t = tenant(q.tenant.as_deref())?;
    let key = st
        .ledger
        .reads()
        .tenant_verifier_key(&ctx, &caller, t)
        .await?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{key}\n"),
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TenantLeavesQuery {
    pub tenant: Option<String>,
    /// First leaf index of the tenant's tree (default 0).
    pub from: Option<u64>,
    /// At most this many leaves, 1-1000 (default 100).
    pub limit: Option<usize>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TenantLeafDto {
    /// The leaf index in the tenant's tree.
    pub index: u64,
    /// The event's sequence number in the global log.
    pub seq: u64,
    /// Base64 of the leaf bytes (the stored record, as in the global tree).
    pub leaf: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TenantLeavesDto {
    pub leaves: Vec<TenantLeafDto>,
    /// The next `from`, or null at the end of the tree.
    pub next: Option<u64>,
    pub tree_size: u64,
}

#[utoipa::path(get, path = "/v1/ledger/tenant/leaves", tag = "ledger", params(TenantLeavesQuery), responses((status = 200, body = TenantLeavesDto), (status = 400, body = ErrorBody)))]
pub async fn leaves(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    Params(q): Params<TenantLeavesQuery>,
) -> Result<Json<TenantLeavesDto>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            "limit must be between 1 and 1000",
        ));
    }
    let t = tenant(q.tenant.as_deref())?;
    let page = st
        .ledger
        .reads()
        .tenant_leaves(&ctx, &caller, t, q.from.unwrap_or(0), limit)
        .await?;
    Ok(Json(TenantLeavesDto {
        leaves: page
            .leaves
            .into_iter()
            .map(|l| TenantLeafDto {
                index: l.index,
                seq: l.seq,
                leaf: B64.encode(&l.record),
            })
            .collect(),
        next: page.next,
        tree_size: page.tree_size,
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TenantInclusionQuery {
    pub tenant: Option<String>,
    /// The leaf index in the tenant's tree.
    pub index: u64,
    /// The tenant tree size (default: the current one).
    pub size: Option<u64>,
}

#[utoipa::path(get, path = "/v1/ledger/tenant/proof/inclusion", tag = "ledger", params(TenantInclusionQuery), responses((status = 200), (status = 400, body = ErrorBody)))]
pub async fn inclusion(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    Params(q): Params<TenantInclusionQuery>,
) -> Result<Json<proof::InclusionProof>, ApiError> {
    let t = tenant(q.tenant.as_deref())?;
    Ok(Json(
        st.ledger
            .reads()
            .tenant_inclusion(&ctx, &caller, t, q.index, q.size)
            .await?,
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TenantConsistencyQuery {
    pub tenant: Option<String>,
    pub old: u64,
    /// The new tenant tree size (default: the current one).
    pub new: Option<u64>,
}

#[utoipa::path(get, path = "/v1/ledger/tenant/proof/consistency", tag = "ledger", params(TenantConsistencyQuery), responses((status = 200), (status = 400, body = ErrorBody)))]
pub async fn consistency(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    Params(q): Params<TenantConsistencyQuery>,
) -> Result<Json<proof::ConsistencyProof>, ApiError> {
    let t = tenant(q.tenant.as_deref())?;
    Ok(Json(
        st.ledger
            .reads()
            .tenant_consistency(&ctx, &caller, t, q.old, q.new)
            .await?,
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UsageReportQuery {
    /// The interval's start (RFC 3339, included).
    pub from: String,
    /// The interval's end (RFC 3339, excluded).
    pub to: String,
}

/// The complete usage report bundle of a credential (docs/FORMAT.md, Usage report
/// bundles), for the tenant's reviewers: check it offline with `credledger verify-bundle`.
#[utoipa::path(get, path = "/v1/credentials/{id}/usage-report", tag = "audit", params(UsageReportQuery), responses((status = 200, description = "A credledger-usage-report/v1 JSON document", body = Object), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn usage_report(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    Params(q): Params<UsageReportQuery>,
) -> Result<Json<crate::report::UsageReport>, ApiError> {
    let id = parse_id(&id)?;
    let from = super::parse_time("from", &q.from)?;
    let to = super::parse_time("to", &q.to)?;
    Ok(Json(
        st.ledger
            .reads()
            .usage_report(&ctx, &caller, id, from, to)
            .await?,
    ))
}
