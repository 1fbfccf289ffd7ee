//! The load benchmark's ceiling: `POST /v1/credentials/{id}/resolve-ceiling`, the same
//! router, layers, extractors (the bearer token checked against the ledger's in-memory
//! state, the request context, the id, the optional body) and response wrapper as a
//! resolve, answering a fixed JSON without deciding, opening a secret or appending an
//! event. `tools/loadbench.sh` prints every figure as a ratio to it.
//!
//! **Off by default:** the route exists only when the server starts with the environment
//! variable `CREDLEDGER_BENCH_CEILING=1` (the load benchmark sets it for its own
//! server); it is not in the OpenAPI document. It reveals nothing a valid token could not
//! already see (the id it was given), and refuses an invalid token like every route.

use super::dto::{ResolveById, ResolveResponse};
use super::error::ApiError;
use super::AppState;
use crate::http::extract::{Auth, Ctx, IdPath, NoStore, OptionalBody};
use axum::Json;
use std::collections::BTreeMap;

/// The environment variable that turns the route on.
pub const ENV: &str = "CREDLEDGER_BENCH_CEILING";

/// Whether the ceiling route is served (read once, when the router is built).
pub fn enabled() -> bool {
    std::env::var_os(ENV).is_some_and(|v| v == "1")
}

/// The fixed answer, shaped like a resolve's.
pub async fn resolve_ceiling(
    axum::extract::State(_st): axum::extract::State<AppState>,
    Auth(_caller): Auth,
    Ctx(_ctx): Ctx,
    IdPath(id): IdPath,
    OptionalBody(_req): OptionalBody<ResolveById>,
) -> Result<NoStore<Json<ResolveResponse>>, ApiError> {
    let value =
        serde_json::value::RawValue::from_string("\"ceiling\"".to_owned()).expect("a JSON string");
    Ok(NoStore(Json(ResolveResponse {
        credential_id: Some(id.to_string()),
        version: Some(1),
        source: "direct",
        template: Some("api_key".to_owned()),
        fields: BTreeMap::from([("api_key".to_owned(), value)]),
    })))
}
