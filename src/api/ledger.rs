//! Proof endpoints: signed checkpoints, the verifier key, event leaves, RFC 9162
//! inclusion and consistency proofs, and "prove this audit entry".
//!
//! Checkpoints and proofs reveal hashes only, so every authenticated principal may read
//! them. Event leaves are the signed records themselves: a tenant's reviewers (admins
//! and auditors) get their own tenant's events; system admins get the whole log.

use super::auth::Auth;
use super::error::{ApiError, ErrorBody};
use super::AppState;
use crate::audit::event_at;
use crate::domain::Caller;
use crate::event::{Role, SignedEvent};
use crate::id::Id;
use crate::proof::{self, ProofError};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};

impl From<ProofError> for ApiError {
    fn from(e: ProofError) -> Self {
        let msg = e.to_string();
        match e {
            ProofError::IndexOutOfRange { .. } | ProofError::OldAfterNew { .. } => {
                ApiError::bad_request(msg)
            }
            ProofError::OldSizeZero => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", msg)
            }
            ProofError::SizeTooLarge { .. }
            | ProofError::NoSuchEvent { .. }
            | ProofError::Empty => ApiError::new(StatusCode::NOT_FOUND, "not_found", msg),
            ProofError::RotationInProgress => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", msg)
            }
            other => {
                tracing::error!(error = %other, "proof failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error; see the server log",
                )
            }
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    })?
}

fn text(body: String) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body)
}

#[utoipa::path(get, path = "/v1/ledger/checkpoint", tag = "ledger", responses((status = 200, description = "A C2SP signed note (tlog-checkpoint)", content_type = "text/plain")))]
pub async fn checkpoint(
    State(st): State<AppState>,
    Auth(_caller): Auth,
) -> Result<impl IntoResponse, ApiError> {
    let ledger = st.ledger.clone();
    let cp = blocking(move || Ok(proof::checkpoint(&ledger)?)).await?;
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
    Auth(_caller): Auth,
) -> Result<Json<CheckpointList>, ApiError> {
    let ledger = st.ledger.clone();
    let checkpoints = blocking(move || Ok(proof::stored_checkpoints(ledger.store())?)).await?;
    Ok(Json(CheckpointList { checkpoints }))
}

#[derive(Deserialize, utoipa::IntoParams, Default)]
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
    q: Result<Query<KeyQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let key = match q.which.as_deref() {
        None | Some("current") => proof::verifier_key(&st.ledger)?,
        Some("genesis") => proof::genesis_verifier_key(st.ledger.store())?,
        Some(_) => {
            return Err(ApiError::invalid(
                "which",
                "which must be 'current' or 'genesis'",
            ))
        }
    };
    Ok(text(format!("{key}\n")))
}

#[derive(Deserialize, utoipa::IntoParams)]
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
    pub tree_size: u64,
}

fn visible_to(caller: &Caller, event_tenant: Option<Id>) -> bool {
    caller.system_admin || event_tenant == Some(caller.tenant)
}

fn require_reviewer(caller: &Caller) -> Result<(), ApiError> {
    if caller.system_admin || matches!(caller.role, Role::Admin | Role::Auditor) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "event leaves need the admin or auditor role",
        ))
    }
}

#[utoipa::path(get, path = "/v1/ledger/events", tag = "ledger", params(EventsQuery), responses((status = 200, body = LedgerEvents)))]
pub async fn events(
    State(st): State<AppState>,
    Auth(caller): Auth,
    q: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<LedgerEvents>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    require_reviewer(&caller)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            "limit must be between 1 and 1000",
        ));
    }
    let from = q.from.unwrap_or(0);
    let ledger = st.ledger.clone();
    blocking(move || {
        let store = ledger.store();
        let tree_size = proof::tree_size(store)?;
        let mut events = Vec::new();
        let mut next = None;
        for r in store.records(from) {
            let (seq, rec) = r?;
            if seq >= tree_size {
                break;
            }
            if events.len() == limit {
                next = Some(seq);
                break;
            }
            let signed = SignedEvent::from_record(&rec).map_err(|e| {
                tracing::error!(seq, error = %e, "undecodable event");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the log is inconsistent; run `credledger replay verify`",
                )
            })?;
            if !visible_to(&caller, signed.event().body.tenant()) {
                continue;
            }
            events.push(LedgerEvent {
                seq,
                leaf: B64.encode(&rec),
                hash: hex::encode(signed.hash()),
                action: signed.event().body.action(),
                at: crate::audit::rfc3339(signed.event().at_ms),
            });
        }
        Ok(Json(LedgerEvents {
            events,
            next,
            tree_size,
        }))
    })
    .await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct InclusionQuery {
    pub index: u64,
    /// Tree size (default: the current one).
    pub size: Option<u64>,
}

#[utoipa::path(get, path = "/v1/ledger/proof/inclusion", tag = "ledger", params(InclusionQuery), responses((status = 200), (status = 400, body = ErrorBody)))]
pub async fn inclusion(
    State(st): State<AppState>,
    Auth(_caller): Auth,
    q: Result<Query<InclusionQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<proof::InclusionProof>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let ledger = st.ledger.clone();
    blocking(move || {
        let size = match q.size {
            Some(s) => s,
            None => proof::tree_size(ledger.store())?,
        };
        Ok(Json(proof::inclusion(ledger.store(), q.index, size)?))
    })
    .await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    pub old: u64,
    /// New tree size (default: the current one).
    pub new: Option<u64>,
}

#[utoipa::path(get, path = "/v1/ledger/proof/consistency", tag = "ledger", params(ConsistencyQuery), responses((status = 200), (status = 400, body = ErrorBody)))]
pub async fn consistency(
    State(st): State<AppState>,
    Auth(_caller): Auth,
    q: Result<Query<ConsistencyQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<proof::ConsistencyProof>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let ledger = st.ledger.clone();
    blocking(move || {
        let new = match q.new {
            Some(s) => s,
            None => proof::tree_size(ledger.store())?,
        };
        Ok(Json(proof::consistency(ledger.store(), q.old, new)?))
    })
    .await
}

#[utoipa::path(get, path = "/v1/audit/{seq}/proof", tag = "audit", responses((status = 200), (status = 404, body = ErrorBody)))]
pub async fn prove_audit_entry(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Path(seq): Path<String>,
) -> Result<Json<proof::EventProof>, ApiError> {
    let seq: u64 = seq
        .parse()
        .map_err(|_| ApiError::bad_request("seq must be a sequence number"))?;
    require_reviewer(&caller)?;
    let ledger = st.ledger.clone();
    blocking(move || {
        let event = event_at(ledger.store(), seq)?.ok_or_else(|| ApiError::not_found("event"))?;
        if !visible_to(&caller, event.body.tenant()) {
            return Err(ApiError::not_found("event"));
        }
        Ok(Json(proof::prove_event(&ledger, seq)?))
    })
    .await
}
