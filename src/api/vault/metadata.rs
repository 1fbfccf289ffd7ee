//! The KV v2 metadata handlers: `metadata` (with `LIST`), the metadata of one secret
//! and its update, and the mount's `config`. Shared helpers come from [`super::kv`].

use super::parse::{
    format_duration, parse_bool, query_param, weak_bool, weak_duration_seconds, weak_int,
};
use super::{json_body, VaultAuth, VaultError};
use crate::audit::rfc3339;

use crate::domain::Caller;
use crate::http::extract::Ctx;
use crate::http::AppState;
use crate::ledger::KvMetadata;
use crate::projection::{KvView, VersionView};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::Method;
use serde_json::{json, Map, Value};

use super::kv::{custom_metadata, no_content, ok, secret_path, versions_and_kv, visible, Reply};

/// `LIST`, or `GET` with `?list=` that Go's `strconv.ParseBool` reads as true (hvac's
/// `client.list()` sends `True`, node-vault `1`); a value it cannot parse is a 400.
fn is_list(method: &Method, query: &Option<String>) -> Result<bool, VaultError> {
    if method.as_str() == "LIST" {
        return Ok(true);
    }
    if method != Method::GET {
        return Ok(false);
    }
    match query_param(query.as_deref(), "list") {
        None => Ok(false),
        Some(v) if v.is_empty() => Ok(false),
        Some(v) => parse_bool(&v)
            .ok_or_else(|| VaultError::bad_request("error parsing list parameter: not a boolean")),
    }
}

/// `LIST /v1/{mount}/metadata/` (or `GET ?list=true`): the top-level keys.
pub async fn metadata_root(
    State(st): State<AppState>,
    method: Method,
    VaultAuth(caller): VaultAuth,
    RawQuery(query): RawQuery,
    ctx: Ctx,
) -> Reply {
    if !is_list(&method, &query)? {
        return Err(VaultError::unsupported());
    }
    list(&st, &ctx, &caller, "").await
}

/// `/v1/{mount}/metadata/{path}`: LIST, GET, POST/PUT (update metadata), DELETE (destroy
/// every version and the metadata: the credential's `destroy`).
pub async fn metadata(
    State(st): State<AppState>,
    ctx: Ctx,
    method: Method,
    VaultAuth(caller): VaultAuth,
    Path(path): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Reply {
    if is_list(&method, &query)? {
        let prefix = path.trim_start_matches('/');
        let prefix = if prefix.is_empty() || prefix.ends_with('/') {
            prefix.to_string()
        } else {
            format!("{prefix}/")
        };
        return list(&st, &ctx, &caller, &prefix).await;
    }
    let path = secret_path(&path)?;
    match method.as_str() {
        "GET" => read_metadata(&st, &ctx, &caller, path).await,
        "POST" | "PUT" => {
            let req = json_body(&body)?;
            let view = visible(&st, &ctx, &caller, path, "kv_metadata_set")
                .await?
                .ok_or_else(VaultError::not_found)?;
            let (_, current) = versions_and_kv(&st, &caller, view.id).await?;
            let meta = merge_metadata(current, &req)?;
            st.ledger
                .kv_set_metadata(&ctx.0, &caller, view.id, meta)
                .await?;
            no_content()
        }
        "DELETE" => {
            let Some(id) = st.ledger.kv_lookup(&caller, path) else {
                return no_content();
            };
            st.ledger.destroy(&ctx.0, &caller, id).await?;
            no_content()
        }
        _ => Err(VaultError::unsupported()),
    }
}

fn u32_field(req: &Map<String, Value>, name: &str) -> Result<Option<u32>, VaultError> {
    match req.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => weak_int(v)
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| {
                VaultError::bad_request(format!("{name} must be a non-negative integer"))
            }),
    }
}

fn bool_field(req: &Map<String, Value>, name: &str) -> Result<Option<bool>, VaultError> {
    match req.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => weak_bool(v)
            .map(Some)
            .ok_or_else(|| VaultError::bad_request(format!("{name} must be a boolean"))),
    }
}

/// A duration field, normalised as Vault prints it (`30m` → `30m0s`).
fn duration_field(req: &Map<String, Value>, name: &str) -> Result<Option<String>, VaultError> {
    match req.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => weak_duration_seconds(v)
            .filter(|s| *s >= 0)
            .map(|s| Some(format_duration(s)))
            .ok_or_else(|| {
                VaultError::bad_request(format!(
                    "{name} must be a duration such as 0s, 30m or 768h, or seconds"
                ))
            }),
    }
}

/// Applies a metadata update to the current values (fields not given stay).
fn merge_metadata(current: KvView, req: &Map<String, Value>) -> Result<KvMetadata, VaultError> {
    let custom = match req.get("custom_metadata") {
        None | Some(Value::Null) => current.custom_metadata,
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
            .collect::<Option<_>>()
            .ok_or_else(|| VaultError::bad_request("custom_metadata values must be strings"))?,
        Some(_) => return Err(VaultError::bad_request("custom_metadata must be an object")),
    };
    let dva = duration_field(req, "delete_version_after")?
        .or(Some(current.delete_version_after).filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "0s".into());
    Ok(KvMetadata {
        max_versions: u32_field(req, "max_versions")?.unwrap_or(current.max_versions),
        cas_required: bool_field(req, "cas_required")?.unwrap_or(current.cas_required),
        delete_version_after: dva,
        custom_metadata: custom,
    })
}

async fn read_metadata(st: &AppState, ctx: &Ctx, caller: &Caller, path: &str) -> Reply {
    let view = visible(st, ctx, caller, path, "kv_metadata_read")
        .await?
        .ok_or_else(VaultError::not_found)?;
    let (versions, kv) = versions_and_kv(st, caller, view.id).await?;
    let listed: Vec<&VersionView> = versions.iter().filter(|v| v.state != "retired").collect();
    let map: Map<String, Value> = listed
        .iter()
        .map(|v| {
            (
                v.version.to_string(),
                json!({
                    "created_time": rfc3339(v.created_at_ms),
                    "deletion_time": kv.deleted.get(&v.version).map(|t| rfc3339(*t)).unwrap_or_default(),
                    "destroyed": v.state == "destroyed",
                }),
            )
        })
        .collect();
    let dva = if kv.delete_version_after.is_empty() {
        "0s".to_string()
    } else {
        kv.delete_version_after.clone()
    };
    ok(
        ctx,
        json!({
            "cas_required": kv.cas_required,
            "created_time": rfc3339(view.created_at_ms),
            "current_version": view.current_version,
            "custom_metadata": custom_metadata(&kv),
            "delete_version_after": dva,
            "max_versions": kv.max_versions,
            "oldest_version": listed.first().map_or(0, |v| v.version),
            "updated_time": rfc3339(view.updated_at_ms),
            "versions": map,
        }),
    )
}

/// The keys directly under `prefix` (a directory ends with `/`); 404 when none.
async fn list(st: &AppState, ctx: &Ctx, caller: &Caller, prefix: &str) -> Reply {
    let keys = st
        .ledger
        .reads()
        .kv_list(caller, prefix.to_string())
        .await?;
    if keys.is_empty() {
        return Err(VaultError::not_found());
    }
    ok(ctx, json!({"keys": keys}))
}

/// `/v1/{mount}/config`: GET reads, POST/PUT sets the mount configuration (admins).
pub async fn config(
    State(st): State<AppState>,
    ctx: Ctx,
    method: Method,
    VaultAuth(caller): VaultAuth,
    body: Bytes,
) -> Reply {
    let current = st.ledger.reads().kv_config(&caller).await?;
    let dva = if current.delete_version_after.is_empty() {
        "0s".to_string()
    } else {
        current.delete_version_after.clone()
    };
    match method.as_str() {
        "GET" => ok(
            &ctx,
            json!({"cas_required": current.cas_required, "delete_version_after": dva,
                   "max_versions": current.max_versions}),
        ),
        "POST" | "PUT" => {
            let req = json_body(&body)?;
            let max = u32_field(&req, "max_versions")?.unwrap_or(current.max_versions);
            let cas = bool_field(&req, "cas_required")?.unwrap_or(current.cas_required);
            let dva = duration_field(&req, "delete_version_after")?.unwrap_or(dva);
            st.ledger
                .kv_set_config(&ctx.0, &caller, max, cas, &dva)
                .await?;
            no_content()
        }
        _ => Err(VaultError::unsupported()),
    }
}
