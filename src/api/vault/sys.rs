//! The read-only Vault system endpoints that clients call before (or instead of) KV:
//! `sys/health` (GET and HEAD, with Vault's status-code flags), `sys/seal-status`,
//! `sys/init`, `sys/mounts`, `sys/mounts/{mount}/tune`, `sys/mounts-all/{path}` and
//! `sys/internal/ui/mounts/{path}` (the preflight of `vault kv`, which reads `data.path`
//! and `data.options.version`), `auth/token/lookup-self` and `auth/token/renew-self`.
//!
//! credledger is always initialized, unsealed and active; it serves one KV v2 mount (in
//! every tenant). Everything else under `sys/` and `auth/` is a Vault-shaped 404 naming
//! what is offered; a known path with another method is 405. No rule lives here: the
//! answers are shapes of facts the ledger gives (the mount name, the caller's token).

use super::parse::{parse_bool, parse_int, query_param};
use super::{VaultAuth, VaultError};
use crate::http::extract::{token_from, NoStore};
use crate::http::AppState;
use crate::time::rfc3339;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use serde_json::{json, Value};

/// The Vault API version credledger answers as (`sys/health`, `sys/seal-status`):
/// the Vault release whose KV v2 and system endpoints it follows, with credledger's own
/// version as build metadata.
pub const VAULT_VERSION: &str = concat!("1.15.0+credledger.", env!("CARGO_PKG_VERSION"));

type Reply = Result<Response, VaultError>;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/sys/health", any(health))
        .route("/v1/sys/seal-status", any(seal_status))
        .route("/v1/sys/init", any(init))
        .route("/v1/sys/mounts", any(mounts))
        .route("/v1/sys/mounts/{*rest}", any(mount_tune))
        .route("/v1/sys/mounts-all/{*path}", any(mount_of))
        .route("/v1/sys/internal/ui/mounts", any(ui_mounts))
        .route("/v1/sys/internal/ui/mounts/{*path}", any(mount_of))
        .route("/v1/auth/token/lookup-self", any(lookup_self))
        .route("/v1/auth/token/renew-self", any(renew_self))
        .route("/v1/sys", any(super::not_offered))
        .route("/v1/sys/{*rest}", any(super::not_offered))
        .route("/v1/auth", any(super::not_offered))
        .route("/v1/auth/{*rest}", any(super::not_offered))
}

fn only(method: &Method, allowed: &[Method]) -> Result<(), VaultError> {
    if allowed.contains(method) {
        Ok(())
    } else {
        Err(VaultError::unsupported())
    }
}

fn cluster(st: &AppState) -> (String, String) {
    let origin = st.ledger.kv_origin();
    let h = blake3::hash(origin.as_bytes());
    let b = h.as_bytes();
    let id = uuid::Uuid::from_bytes(b[..16].try_into().unwrap_or([0; 16]));
    ("credledger".to_string(), id.to_string())
}

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// `GET|HEAD /v1/sys/health`: always initialized, unsealed and active, so the status is
/// `activecode` (default 200); the other flags (`standbyok`, `perfstandbyok`,
/// `standbycode`, `sealedcode`, `uninitcode`, …) are accepted and validated like Vault
/// does, and never apply.
pub async fn health(State(st): State<AppState>, method: Method, RawQuery(q): RawQuery) -> Reply {
    only(&method, &[Method::GET, Method::HEAD])?;
    let q = q.as_deref();
    for flag in ["standbyok", "perfstandbyok"] {
        if let Some(v) = query_param(q, flag) {
            if !v.is_empty() && parse_bool(&v).is_none() {
                return Err(VaultError::bad_request(format!(
                    "bad value for {flag} parameter"
                )));
            }
        }
    }
    let mut status = StatusCode::OK;
    for flag in [
        "activecode",
        "standbycode",
        "drsecondarycode",
        "performancestandbycode",
        "sealedcode",
        "uninitcode",
        "haunhealthycode",
        "removedcode",
    ] {
        if let Some(v) = query_param(q, flag) {
            let code = parse_int(&v)
                .and_then(|c| u16::try_from(c).ok())
                .and_then(|c| StatusCode::from_u16(c).ok())
                .ok_or_else(|| {
                    VaultError::bad_request(format!("unable to parse {flag} parameter"))
                })?;
            if flag == "activecode" {
                status = code;
            }
        }
    }
    let (name, id) = cluster(&st);
    let body = json!({
        "initialized": true,
        "sealed": false,
        "standby": false,
        "performance_standby": false,
        "replication_performance_mode": "disabled",
        "replication_dr_mode": "disabled",
        "server_time_utc": now_s(),
        "version": VAULT_VERSION,
        "enterprise": false,
        "cluster_name": name,
        "cluster_id": id,
        "echo_duration_ms": 0,
        "clock_skew_ms": 0,
    });
    Ok((status, Json(body)).into_response())
}

/// `GET /v1/sys/seal-status`.
pub async fn seal_status(State(st): State<AppState>, method: Method) -> Reply {
    only(&method, &[Method::GET])?;
    let (name, id) = cluster(&st);
    Ok(Json(json!({
        "type": "shamir",
        "initialized": true,
        "sealed": false,
        "t": 1,
        "n": 1,
        "progress": 0,
        "nonce": "",
        "version": VAULT_VERSION,
        "build_date": "",
        "migration": false,
        "cluster_name": name,
        "cluster_id": id,
        "recovery_seal": false,
        "storage_type": "credledger",
    }))
    .into_response())
}

/// `GET /v1/sys/init`.
pub async fn init(method: Method) -> Reply {
    only(&method, &[Method::GET])?;
    Ok(Json(json!({"initialized": true})).into_response())
}

/// The KV mount as Vault describes a mount.
fn mount_json(st: &AppState, mount: &str) -> Value {
    let (_, cluster_id) = cluster(st);
    let accessor: String = blake3::hash(format!("{cluster_id}/{mount}").as_bytes())
        .to_hex()
        .chars()
        .take(8)
        .collect();
    json!({
        "accessor": format!("kv_{accessor}"),
        "config": {"default_lease_ttl": 0, "force_no_cache": false, "max_lease_ttl": 0},
        "description": "credledger: key/value secret storage (KV v2) of the token's tenant",
        "external_entropy_access": false,
        "local": false,
        "options": {"version": "2"},
        "plugin_version": "",
        "running_plugin_version": "",
        "running_sha256": "",
        "seal_wrap": false,
        "type": "kv",
        "uuid": uuid::Uuid::from_bytes(
            blake3::hash(format!("{cluster_id}/{mount}/uuid").as_bytes()).as_bytes()[..16]
                .try_into()
                .unwrap_or([0; 16])
        )
        .to_string(),
        "deprecation_status": "supported",
    })
}

/// A Vault list answer: `data` and, as Vault does for `sys/mounts`, the same keys at
/// the top level.
fn with_top_level(request_id: Option<&str>, data: Value) -> Value {
    let mut body = super::envelope(request_id, data.clone());
    body["mount_type"] = json!("system");
    if let (Some(obj), Value::Object(d)) = (body.as_object_mut(), data) {
        for (k, v) in d {
            obj.entry(k).or_insert(v);
        }
    }
    body
}

fn mount_name(st: &AppState) -> String {
    st.ledger.config().vault_mount.clone()
}

/// `GET /v1/sys/mounts`: the one KV mount.
pub async fn mounts(
    State(st): State<AppState>,
    method: Method,
    ctx: crate::http::extract::Ctx,
    VaultAuth(_): VaultAuth,
) -> Reply {
    only(&method, &[Method::GET])?;
    let mount = mount_name(&st);
    let data = json!({ format!("{mount}/"): mount_json(&st, &mount) });
    Ok(Json(with_top_level(ctx.0.request_id.as_deref(), data)).into_response())
}

/// `GET /v1/sys/mounts/{mount}/tune`; `POST`/`DELETE` `sys/mounts/{path}` (enable and
/// disable a secrets engine) are not offered: the mount is fixed at start-up.
pub async fn mount_tune(
    State(st): State<AppState>,
    method: Method,
    ctx: crate::http::extract::Ctx,
    VaultAuth(_): VaultAuth,
    Path(rest): Path<String>,
) -> Reply {
    let mount = mount_name(&st);
    let Some(target) = rest.strip_suffix("/tune") else {
        return Err(VaultError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            vec![format!(
                "unsupported operation: credledger serves one KV v2 mount ({mount}/), set at \
                 start-up with --vault-mount; secrets engines cannot be enabled, disabled or \
                 moved"
            )],
        ));
    };
    only(&method, &[Method::GET])?;
    if target.trim_end_matches('/') != mount {
        return Err(VaultError::bad_request(format!(
            "cannot fetch sysview for path: no mount at that path; credledger serves only {mount}/"
        )));
    }
    let data = json!({
        "default_lease_ttl": 0,
        "max_lease_ttl": 0,
        "force_no_cache": false,
        "description": mount_json(&st, &mount)["description"],
        "options": {"version": "2"},
    });
    Ok(Json(with_top_level(ctx.0.request_id.as_deref(), data)).into_response())
}

/// `GET /v1/sys/mounts-all/{path}` and `GET /v1/sys/internal/ui/mounts/{path}`: the
/// mount that serves `path` (the `vault kv` preflight).
pub async fn mount_of(
    State(st): State<AppState>,
    method: Method,
    ctx: crate::http::extract::Ctx,
    VaultAuth(_): VaultAuth,
    Path(path): Path<String>,
) -> Reply {
    only(&method, &[Method::GET])?;
    let mount = mount_name(&st);
    let p = path.trim_start_matches('/');
    if p != mount && !p.starts_with(&format!("{mount}/")) {
        return Err(VaultError::bad_request(format!(
            "no secrets engine is mounted at the path given; credledger serves only the KV v2 \
             mount {mount}/"
        )));
    }
    let mut data = mount_json(&st, &mount);
    data["path"] = json!(format!("{mount}/"));
    let mut body = super::envelope(ctx.0.request_id.as_deref(), data);
    body["mount_type"] = json!("system");
    Ok(Json(body).into_response())
}

/// `GET /v1/sys/internal/ui/mounts`: the visible mounts by kind.
pub async fn ui_mounts(
    State(st): State<AppState>,
    method: Method,
    ctx: crate::http::extract::Ctx,
    VaultAuth(_): VaultAuth,
) -> Reply {
    only(&method, &[Method::GET])?;
    let mount = mount_name(&st);
    let data = json!({"auth": {}, "secret": { format!("{mount}/"): mount_json(&st, &mount) }});
    let mut body = super::envelope(ctx.0.request_id.as_deref(), data);
    body["mount_type"] = json!("system");
    Ok(Json(body).into_response())
}

/// `GET|POST /v1/auth/token/lookup-self`: the caller's token. `policies` is the role,
/// `ttl` and `expire_time` come from its expiry (none: `ttl` 0 and `expire_time` null,
/// like a Vault token without a TTL); tokens are never renewable. The answer repeats the
/// token the caller sent (`id`, as Vault does), so it is not cached.
pub async fn lookup_self(
    State(st): State<AppState>,
    method: Method,
    ctx: crate::http::extract::Ctx,
    headers: HeaderMap,
    VaultAuth(caller): VaultAuth,
) -> Reply {
    only(&method, &[Method::GET, Method::POST])?;
    let info = st.ledger.kv_token_info(&caller);
    let now_ms = now_s() * 1000;
    let ttl = info
        .expires_at_ms
        .map_or(0, |e| ((e - now_ms).max(0) + 999) / 1000);
    let role = caller.role.as_str();
    let data = json!({
        "accessor": caller.token.to_string(),
        "creation_time": 0,
        "creation_ttl": ttl,
        "display_name": format!("token-{}", info.principal_name),
        "entity_id": caller.principal.to_string(),
        "expire_time": info.expires_at_ms.map(rfc3339),
        "explicit_max_ttl": 0,
        "id": token_from(&headers).unwrap_or_default(),
        "meta": {
            "tenant": info.tenant_name,
            "principal": caller.principal.to_string(),
            "principal_name": info.principal_name,
            "role": role,
            "system": caller.system_admin,
        },
        "num_uses": 0,
        "orphan": true,
        "path": "auth/token/create",
        "policies": [role],
        "renewable": false,
        "ttl": ttl,
        "type": "service",
    });
    let mut body = super::envelope(ctx.0.request_id.as_deref(), data);
    body["mount_type"] = json!("token");
    Ok(NoStore(Json(body)).into_response())
}

/// `POST|PUT /v1/auth/token/renew-self`: credledger tokens have a fixed expiry.
pub async fn renew_self(method: Method, VaultAuth(_): VaultAuth) -> Reply {
    only(&method, &[Method::POST, Method::PUT])?;
    Err(VaultError::bad_request(
        "token is not renewable: credledger API tokens keep the expiry they were issued \
         with; issue a new one with POST /v1/principals/{id}/tokens",
    ))
}
