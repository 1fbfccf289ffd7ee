//! The Vault KV v2 compatible endpoints: the subset of Vault's HTTP API that KV clients
//! (hvac, vaultrs, the `vault` CLI, External Secrets Operator) use, served under
//! `/v1/{mount}/` for the configured mount only (default `secret`).
//!
//! A KV path is a credential name in the caller's tenant; its fields are the KV data.
//! Reads are resolves with purpose `vault_read` (the `used` event is durable before the
//! data is answered), writes are creates and rotates, and version deletes, undeletes and
//! destroys are their own events. This module only speaks Vault's dialect: the response
//! envelope (`request_id`, `lease_id`, `lease_duration`, `renewable`, `data`, `warnings`),
//! the error shape `{"errors":[...]}` and Vault's status codes. Every rule is in
//! `domain::decide::kv`, reads go through `Reads`; the handlers are in [`kv`], the
//! read-only system endpoints clients call first (`sys/health`, `sys/mounts`,
//! `auth/token/lookup-self`, …) in [`sys`], Vault's value parsing in [`parse`].
//!
//! Every request of this dialect that asks for response wrapping (`X-Vault-Wrap-TTL`) is
//! refused with 400 before anything is read, so no secret is answered unwrapped to a
//! client that asked for a wrapping token. `X-Vault-Namespace` names a tenant: empty or
//! the token's own tenant, else a recorded 403. Every other path under `/v1/sys/`,
//! `/v1/auth/` and the mount is a Vault-shaped 404 (or 405) saying credledger does not
//! offer it.
//!
//! **Invariant:** an error body never carries a secret: messages are our own error texts
//! and parser messages with quoted fragments removed.

mod kv;
mod metadata;
pub mod parse;
mod sys;

use crate::domain::{Caller, DomainError};
use crate::http::error::sanitize_parser_message;
use crate::http::extract::Ctx;
use crate::http::layers::InternalError;
use crate::http::AppState;
use crate::ledger::LedgerError;
use crate::secret::SecretError;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// An error in Vault's shape: `{"errors":[...]}`, or a whole envelope (Vault answers a
/// read of a deleted version with 404 and the version's metadata).
#[derive(Debug)]
pub struct VaultError {
    pub status: StatusCode,
    pub errors: Vec<String>,
    pub body: Option<Value>,
    /// Seconds for `Retry-After` (429).
    pub retry_after_s: Option<u64>,
    /// What the error-logging layer logs (internal errors only).
    pub internal: Option<Arc<str>>,
}

impl VaultError {
    pub fn new(status: StatusCode, errors: Vec<String>) -> Self {
        VaultError {
            status,
            errors,
            body: None,
            retry_after_s: None,
            internal: None,
        }
    }
    fn internal(detail: String) -> Self {
        VaultError {
            internal: Some(Arc::from(detail)),
            ..Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                vec!["internal error; see the server log".into()],
            )
        }
    }
    /// 404 with no message, as Vault answers a missing path.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, vec![])
    }
    /// 400 with one message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, vec![message.into()])
    }
    /// 403 `permission denied`, for a missing or wrong token and for refusals.
    pub fn permission_denied() -> Self {
        Self::new(StatusCode::FORBIDDEN, vec!["permission denied".into()])
    }
    /// 405 for a method the path does not support.
    pub fn unsupported() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            vec!["unsupported operation".into()],
        )
    }
    /// 404 for a path credledger does not serve, saying so.
    pub fn not_offered(path: &str) -> Self {
        let shown: String = path.chars().take(128).collect();
        Self::new(
            StatusCode::NOT_FOUND,
            vec![format!(
                "unsupported path: credledger does not offer {shown}; it serves the KV v2 \
                 mount and read-only sys/health, sys/seal-status, sys/init, sys/mounts, \
                 sys/mounts-all, sys/internal/ui/mounts and auth/token/lookup-self"
            )],
        )
    }
}

impl IntoResponse for VaultError {
    fn into_response(self) -> Response {
        let body = self.body.unwrap_or_else(|| json!({"errors": self.errors}));
        let mut resp = (self.status, Json(body)).into_response();
        if let Some(s) = self.retry_after_s {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if let Some(detail) = self.internal {
            resp.extensions_mut().insert(InternalError(detail));
        }
        resp
    }
}

impl From<DomainError> for VaultError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::NotFound(_) | DomainError::NotConfigured(_) | DomainError::Gone(_) => {
                VaultError::not_found()
            }
            DomainError::Forbidden(_) => VaultError::permission_denied(),
            DomainError::Conflict(m) => VaultError::bad_request(m),
            e @ DomainError::Invalid { .. } => VaultError::bad_request(e.to_string()),
        }
    }
}

impl From<LedgerError> for VaultError {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::Domain(d) => d.into(),
            LedgerError::Template(t) => VaultError::bad_request(t.to_string()),
            LedgerError::Unauthenticated => VaultError::permission_denied(),
            LedgerError::Throttled { retry_after_s } => VaultError {
                retry_after_s: Some(retry_after_s),
                ..VaultError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    vec!["too many failed authentications".into()],
                )
            },
            LedgerError::Secret(SecretError::Shredded) => VaultError::not_found(),
            LedgerError::Commit(c) => VaultError {
                internal: Some(Arc::from(format!("ledger unavailable: {c}"))),
                ..VaultError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    vec![
                        "the ledger cannot record this request right now; nothing was done".into(),
                    ],
                )
            },
            other @ (LedgerError::Store(_)
            | LedgerError::Secret(_)
            | LedgerError::Keys(_)
            | LedgerError::Integrity { .. }
            | LedgerError::Incomplete(_)
            | LedgerError::Startup(_)
            | LedgerError::Proof(_)
            | LedgerError::Bug(_)) => {
                VaultError::internal(format!("vault kv request failed: {other}"))
            }
        }
    }
}

/// Vault's response envelope around `data` (any serializable value: the KV read puts
/// typed values in as raw JSON text, so numbers keep their bytes).
#[derive(Serialize)]
pub struct Envelope<'a, T: Serialize> {
    request_id: &'a str,
    lease_id: &'static str,
    renewable: bool,
    lease_duration: u64,
    data: T,
    wrap_info: Option<()>,
    warnings: Option<()>,
    auth: Option<()>,
    mount_type: &'static str,
}

impl<'a, T: Serialize> Envelope<'a, T> {
    pub fn new(request_id: Option<&'a str>, mount_type: &'static str, data: T) -> Self {
        Envelope {
            request_id: request_id.unwrap_or_default(),
            lease_id: "",
            renewable: false,
            lease_duration: 0,
            data,
            wrap_info: None,
            warnings: None,
            auth: None,
            mount_type,
        }
    }
}

/// Vault's response envelope around `data`, as a JSON value.
pub fn envelope(request_id: Option<&str>, data: Value) -> Value {
    serde_json::to_value(Envelope::new(request_id, "kv", data)).unwrap_or(Value::Null)
}

/// The caller behind `X-Vault-Token` (or `Authorization: Bearer`); Vault's 403 otherwise
/// (429 while the source or token id is throttled). An `X-Vault-Namespace` other than
/// empty or the caller's tenant is a recorded 403.
pub struct VaultAuth(pub Caller);

/// The header that names a Vault namespace (here: a tenant).
pub const NAMESPACE_HEADER: &str = "x-vault-namespace";

impl FromRequestParts<AppState> for VaultAuth {
    type Rejection = VaultError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let caller = crate::http::extract::authenticate(state, parts)?;
        let namespace = parts
            .headers
            .get(NAMESPACE_HEADER)
            .map(|v| v.to_str().unwrap_or("\u{fffd}").to_string());
        if namespace.is_some() {
            let Ok(Ctx(ctx)) = Ctx::from_request_parts(parts, state).await;
            state
                .ledger
                .kv_check_namespace(&ctx, &caller, namespace.as_deref())
                .await
                .map_err(|e| match e {
                    LedgerError::Domain(DomainError::Forbidden(_)) => VaultError::new(
                        StatusCode::FORBIDDEN,
                        vec![
                            "permission denied: X-Vault-Namespace names no tenant of this token \
                             (send none, or the token's own tenant name)"
                                .into(),
                        ],
                    ),
                    other => other.into(),
                })?;
        }
        Ok(VaultAuth(caller))
    }
}

/// Refuses response wrapping before anything else runs: Vault answers a wrapping token
/// instead of the data to a client that sent `X-Vault-Wrap-TTL`, and credledger has no
/// wrapping, so answering the data would hand plaintext to a client that expected a
/// token.
pub async fn refuse_wrapping(req: Request, next: Next) -> Response {
    if req.headers().contains_key("x-vault-wrap-ttl") {
        return VaultError::bad_request(
            "response wrapping is not supported: credledger refuses X-Vault-Wrap-TTL rather \
             than answer unwrapped data",
        )
        .into_response();
    }
    let resp = next.run(req).await;
    // The body limit's rejection is plain text: give it Vault's shape.
    if resp.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return VaultError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            vec![format!(
                "request body too large: at most {} bytes",
                crate::http::BODY_LIMIT
            )],
        )
        .into_response();
    }
    resp
}

/// A JSON object body; an empty body is `{}`.
pub fn json_body(bytes: &[u8]) -> Result<serde_json::Map<String, Value>, VaultError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Map::new());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(VaultError::bad_request(
            "the request body must be a JSON object",
        )),
        Err(e) => Err(VaultError::bad_request(format!(
            "failed to parse JSON input: {}",
            sanitize_parser_message(&e.to_string())
        ))),
    }
}

/// The routes of the configured mount and of Vault's `sys/` and `auth/` (merged by
/// `http::app`). Only this mount name is served; native routes such as
/// `/v1/credentials` are static paths and keep their priority.
pub fn router(mount: &str) -> Router<AppState> {
    let p = |rest: &str| format!("/v1/{mount}/{rest}");
    Router::new()
        .route(&p("data/{*path}"), any(kv::data))
        .route(&p("metadata"), any(metadata::metadata_root))
        .route(&p("metadata/"), any(metadata::metadata_root))
        .route(&p("metadata/{*path}"), any(metadata::metadata))
        .route(&p("delete/{*path}"), any(kv::delete_versions))
        .route(&p("undelete/{*path}"), any(kv::undelete_versions))
        .route(&p("destroy/{*path}"), any(kv::destroy_versions))
        .route(&p("config"), any(metadata::config))
        .route(&format!("/v1/{mount}"), any(not_offered))
        .route(&format!("/v1/{mount}/"), any(not_offered))
        .route(&p("{*rest}"), any(not_offered))
        .merge(sys::router())
        .layer(axum::middleware::from_fn(refuse_wrapping))
}

/// A path of the mount, `sys/` or `auth/` that credledger does not serve.
pub async fn not_offered(uri: axum::http::Uri) -> VaultError {
    VaultError::not_offered(uri.path().trim_start_matches("/v1/"))
}

/// Whether `name` can be a mount: 1-64 characters of `a-z0-9_-`, not a native route.
pub fn valid_mount(name: &str) -> bool {
    const NATIVE: &[&str] = &[
        "health",
        "ready",
        "openapi.json",
        "whoami",
        "tenants",
        "principals",
        "tokens",
        "templates",
        "credentials",
        "resolve",
        "audit",
        "usage",
        "compliance",
        "ledger",
        "sys",
        "auth",
        "ui",
        "metrics",
    ];
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        && !NATIVE.contains(&name)
}
