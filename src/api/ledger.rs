//! Proof endpoints: signed checkpoints, the verifier key, event leaves, RFC 9162
//! inclusion and consistency proofs, and "prove this audit entry".
//!
//! The global tree's checkpoints and proofs reveal every tenant's activity volume, so
//! only system reviewers read them (`domain::decide::global_log`); a tenant's reviewers
//! read their own tenant's log (`api::tenant_log`). The verifier key stays open to every
//! caller (it checks tenant checkpoints and usage reports too). Event leaves are the signed records themselves: a tenant's reviewers (admins
//! and auditors) get their own tenant's events; system reviewers get the whole log
//! (the rules are `domain::decide::{require_reviewer, visible_to, see_event}`).

use super::error::{ApiError, ErrorBody};
use super::AppState;
use crate::http::extract::{Auth, Ctx, Params};
use crate::proof;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};

fn text(body: String) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body)
}

#[utoipa::path(get, path = "/v1/ledger/checkpoint", tag = "ledger", responses((status = 200, description = "A C2SP signed note (tlog-checkpoint)", content_type = "text/plain")))]
pub async fn checkpoint(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
) -> Result<impl IntoResponse, ApiError> {
    st.ledger.reads().require_global_log(&ctx, &caller).await?;
    let cp = st.ledger.reads().checkpoint().await?;
    Ok(text(cp.note))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CheckpointList {
    #[schema(value_type = Vec<Object>)]
    pub checkpoints: Vec<proof::SignedCheckpoint>,
}

#[utoipa::path(get, path = "/v1/ledger/checkpoints", tag = "ledger", responses((status = 200, body = CheckpointList)))]
pub async fn checkpoints(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
) -> Result<Json<CheckpointList>, ApiError> {
    st.ledger.reads().require_global_log(&ctx, &caller).await?;
    let checkpoints = st.ledger.reads().checkpoints().await?;
    Ok(Json(CheckpointList { checkpoints }))
}

#[derive(Deserialize, utoipa::IntoParams, Default)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct KeyQuery {
    /// `current` (default: the key that signs new checkpoints) or `genesis` (the ledger's
    /// identity, from which verifiers follow the key chain).
    pub which: Option<String>,
}

#[utoipa::path(get, path = "/v1/ledger/publickey", tag = "ledger", params(KeyQuery), responses((status = 200, description = "The C2SP verifier key name+hexid+base64", content_type = "text/plain")))]
pub async fn publickey(
    State(st): State<AppState>,
    Auth(_caller): Auth,
    Params(q): Params<KeyQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let genesis = match q.which.as_deref() {
        None | Some("current") => false,
        Some("genesis") => true,
        Some(_) => {
            return Err(ApiError::invalid(
                "which",
                "which must be 'current' or 'genesis'",
            ))
        }
    };
    let key = st.ledger.reads().verifier_key(genesis).await?;
    Ok(text(format!("{key}\n")))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// First sequence number (default 0).
    pub from: Option<u64>,
    /// At most this many events, 1-1000 (default 100).
    pub limit: Option<usize>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct LedgerEvent {
    pub seq: u64,
    /// Base64 of the exact bytes hashed as this event's Merkle leaf (the stored record).
    pub leaf: String,
    /// Hex BLAKE3 event hash (the chain link the next event carries).
    pub hash: String,
    pub action: &'static str,
    pub at: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct LedgerEvents {
    pub events: Vec<LedgerEvent>,
    /// The next `from`, or null at the end of the log.
    pub next: Option<u64>,
    /// The size of the caller's tree: the global tree for system reviewers, the tenant's
    /// own tree (`/v1/ledger/tenant/…`) for the tenant's reviewers.
    pub tree_size: u64,
}

#[utoipa::path(get, path = "/v1/ledger/events", tag = "ledger", params(EventsQuery), responses((status = 200, body = LedgerEvents)))]
pub async fn events(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    Params(q): Params<EventsQuery>,
) -> Result<Json<LedgerEvents>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            "limit must be between 1 and 1000",
        ));
    }
    let page = st
        .ledger
        .reads()
        .leaves(&ctx, &caller, q.from.unwrap_or(0), limit)
        .await?;
    Ok(Json(LedgerEvents {
        events: page
            .events
            .into_iter()
            .map(|l| LedgerEvent {
                seq: l.seq,
                leaf: B64.encode(&l.record),
                hash: hex::encode(l.hash),
                action: l.action,
                at: crate::audit::rfc3339(l.at_ms),
            })
            .collect(),
        next: page.next,
        tree_size: page.tree_size,
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InclusionQuery {
    pub index: u64,
    /// Tree size (default: the current one).
    pub size: Option<u64>,
}

#[utoipa::path(get, path = "/v1/ledger/proof/inclusion", tag = "ledger", params(InclusionQuery), responses((status = 200), (status = 400, body = ErrorBody)))]
pub async fn inclusion(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    Params(q): Params<InclusionQuery>,
) -> Result<Json<proof::InclusionProof>, ApiError> {
    st.ledger.reads().require_global_log(&ctx, &caller).await?;
    Ok(Json(st.ledger.reads().inclusion(q.index, q.size).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    pub old: u64,
    /// New tree size (default: the current one).
    pub new: Option<u64>,
}

#[utoipa::path(get, path = "/v1/ledger/proof/consistency", tag = "ledger", params(ConsistencyQuery), responses((status = 200), (status = 400, body = ErrorBody)))]
pub async fn consistency(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    Params(q): Params<ConsistencyQuery>,
) -> Result<Json<proof::ConsistencyProof>, ApiError> {
    st.ledger.reads().require_global_log(&ctx, &caller).await?;
    Ok(Json(st.ledger.reads().consistency(q.old, q.new).await?))
}

#[utoipa::path(get, path = "/v1/audit/{seq}/proof", tag = "audit", responses((status = 200), (status = 404, body = ErrorBody)))]
pub async fn prove_audit_entry(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    Path(seq): Path<String>,
) -> Result<Json<proof::EventProof>, ApiError> {
    let seq: u64 = seq
        .parse()
        .map_err(|_| ApiError::bad_request("seq must be a sequence number"))?;
    Ok(Json(
        st.ledger.reads().prove_event(&ctx, &caller, seq).await?,
    ))
}
