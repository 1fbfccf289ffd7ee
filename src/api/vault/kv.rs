//! The KV v2 handlers: `data`, `metadata` (with `LIST`), `delete`, `undelete`,
//! `destroy` and `config`. Each parses Vault's request, calls one ledger operation or
//! `Reads` query, and shapes Vault's answer. A read answer carries `Cache-Control:
//! no-store`.

use super::parse::{query_param, weak_int, weak_int_list};
use super::{envelope, json_body, Envelope, VaultAuth, VaultError};
use crate::audit::rfc3339;
use crate::secret::json as typed;
use serde::Serialize;
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use zeroize::Zeroizing;

use crate::domain::{Caller, DomainError};
use crate::event::Purpose;
use crate::http::extract::{Ctx, NoStore};
use crate::http::AppState;
use crate::id::Id;
use crate::ledger::{KvWrite, LedgerError, ResolveTarget};
use crate::projection::{CredentialView, KvView, VersionView};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

pub(super) type Reply = Result<Response, VaultError>;

pub(super) fn ok(ctx: &Ctx, data: Value) -> Reply {
    Ok(Json(envelope(ctx.0.request_id.as_deref(), data)).into_response())
}

pub(super) fn no_content() -> Reply {
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A KV path as a credential name (a trailing `/` is a directory, for lists only).
pub(super) fn secret_path(path: &str) -> Result<&str, VaultError> {
    let p = path.trim_start_matches('/');
    if p.is_empty() || p.ends_with('/') {
        return Err(VaultError::not_found());
    }
    Ok(p)
}

/// The credential at `path` that the caller may see (a refusal is recorded).
pub(super) async fn visible(
    st: &AppState,
    ctx: &Ctx,
    caller: &Caller,
    path: &str,
    operation: &'static str,
) -> Result<Option<CredentialView>, VaultError> {
    match st
        .ledger
        .reads()
        .kv_secret(&ctx.0, caller, path, operation)
        .await
    {
        Ok(v) => Ok(v),
        Err(LedgerError::Domain(DomainError::NotFound(_))) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub(super) fn custom_metadata(kv: &KvView) -> Value {
    if kv.custom_metadata.is_empty() {
        Value::Null
    } else {
        json!(kv.custom_metadata)
    }
}

/// The metadata object of one version, as Vault shows it next to its data.
pub(super) fn version_metadata(v: &VersionView, kv: &KvView) -> Value {
    json!({
        "created_time": rfc3339(v.created_at_ms),
        "custom_metadata": custom_metadata(kv),
        "deletion_time": kv.deleted.get(&v.version).map(|t| rfc3339(*t)).unwrap_or_default(),
        "destroyed": v.state == "destroyed",
        "version": v.version,
    })
}

/// One version (if it exists) and the KV facts of credential `id`.
async fn version_and_kv(
    st: &AppState,
    caller: &Caller,
    id: Id,
    version: u32,
) -> Result<(Option<VersionView>, KvView), VaultError> {
    Ok(st.ledger.reads().kv_version(caller, id, version).await?)
}

pub(super) async fn versions_and_kv(
    st: &AppState,
    caller: &Caller,
    id: Id,
) -> Result<(Vec<VersionView>, KvView), VaultError> {
    Ok(st.ledger.reads().kv_versions(caller, id).await?)
}

/// `?version=N` as Vault parses it: an integer; 0 or less (or none) is the current one.
fn parse_version(query: &Option<String>) -> Result<Option<u32>, VaultError> {
    match query_param(query.as_deref(), "version") {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) => match weak_int(&Value::String(v)) {
            Some(n) if n <= 0 => Ok(None),
            Some(n) => Ok(Some(u32::try_from(n).unwrap_or(u32::MAX))),
            None => Err(VaultError::bad_request(
                "error converting input for field \"version\": not an integer",
            )),
        },
    }
}

/// The data of a read: typed values as their raw JSON text (numbers keep their bytes),
/// strings as JSON strings. Zeroized after the answer is serialized.
fn data_text(fields: &crate::secret::SecretFields) -> Result<Zeroizing<String>, VaultError> {
    let mut out = Zeroizing::new(String::from("{"));
    for (i, (k, v)) in fields.0.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(k).unwrap_or_default());
        out.push(':');
        if v.is_json() {
            out.push_str(v.expose());
        } else {
            out.push_str(&Zeroizing::new(
                serde_json::to_string(v.expose()).unwrap_or_default(),
            ));
        }
    }
    out.push('}');
    Ok(out)
}

#[derive(Serialize)]
struct ReadData<'a> {
    data: &'a RawValue,
    metadata: Value,
}

/// `/v1/{mount}/data/{path}`: GET reads, POST/PUT writes, PATCH merges, DELETE soft-deletes
/// the latest version.
pub async fn data(
    State(st): State<AppState>,
    ctx: Ctx,
    method: Method,
    VaultAuth(caller): VaultAuth,
    Path(path): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Reply {
    let path = secret_path(&path)?;
    match method.as_str() {
        "GET" => read(&st, &ctx, &caller, path, parse_version(&query)?).await,
        "POST" | "PUT" => write(&st, &ctx, &caller, path, &body, false).await,
        "PATCH" => write(&st, &ctx, &caller, path, &body, true).await,
        "DELETE" => {
            let Some(id) = st.ledger.kv_lookup(&caller, path) else {
                return no_content();
            };
            st.ledger
                .kv_delete_versions(&ctx.0, &caller, id, None)
                .await?;
            no_content()
        }
        _ => Err(VaultError::unsupported()),
    }
}

async fn read(
    st: &AppState,
    ctx: &Ctx,
    caller: &Caller,
    path: &str,
    version: Option<u32>,
) -> Reply {
    let Some(id) = st.ledger.kv_lookup(caller, path) else {
        return Err(VaultError::not_found());
    };
    let target = ResolveTarget::Id { id, version };
    let result = st
        .ledger
        .resolve_as(&ctx.0, caller, target, Purpose::VaultRead)
        .await;
    match result {
        Ok(res) => {
            let v = res.version.unwrap_or_default();
            let (found, kv) = version_and_kv(st, caller, id, v).await?;
            let meta = found
                .map(|x| version_metadata(&x, &kv))
                .unwrap_or(Value::Null);
            let text = data_text(&res.fields)?;
            drop(res);
            let raw: &RawValue = serde_json::from_str(&text)
                .map_err(|_| VaultError::bad_request("the stored data is not valid JSON"))?;
            let body = Envelope::new(
                ctx.0.request_id.as_deref(),
                "kv",
                ReadData {
                    data: raw,
                    metadata: meta,
                },
            );
            let bytes = Zeroizing::new(serde_json::to_vec(&body).unwrap_or_default());
            let resp = (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                bytes.to_vec(),
            )
                .into_response();
            Ok(NoStore(resp).into_response())
        }
        Err(LedgerError::Domain(DomainError::Gone(_))) => {
            // A deleted or destroyed version: Vault answers 404 with its metadata.
            let current = st.ledger.reads().current_version(caller, id).await?;
            let v = version.unwrap_or(current);
            let (found, kv) = version_and_kv(st, caller, id, v).await?;
            match found.filter(|x| x.state == "destroyed" || kv.deleted.contains_key(&v)) {
                Some(x) => {
                    // The envelope with the version's metadata (what hvac looks at) and
                    // an empty `errors` (what vaultrs looks at).
                    let mut body = envelope(
                        ctx.0.request_id.as_deref(),
                        json!({"data": null, "metadata": version_metadata(&x, &kv)}),
                    );
                    body["errors"] = json!([]);
                    Err(VaultError {
                        body: Some(body),
                        ..VaultError::not_found()
                    })
                }
                None => Err(VaultError::not_found()),
            }
        }
        Err(e) => Err(e.into()),
    }
}

async fn write(
    st: &AppState,
    ctx: &Ctx,
    caller: &Caller,
    path: &str,
    body: &[u8],
    patch: bool,
) -> Reply {
    let (data, cas) = write_body(body)?;
    let (id, version) = st
        .ledger
        .kv_write(&ctx.0, caller, path, KvWrite { data, cas, patch })
        .await?;
    let (found, kv) = version_and_kv(st, caller, id, version).await?;
    let meta = found
        .map(|x| version_metadata(&x, &kv))
        .unwrap_or(Value::Null);
    ok(ctx, meta)
}

/// The body of a write or patch: `{"data":{...},"options":{"cas":N}}`. The data keeps
/// each value's JSON text (typed values); `cas` is parsed as Vault does (a string or
/// number; any integer, a negative one never matching).
fn write_body(body: &[u8]) -> Result<(crate::secret::SecretFields, Option<i64>), VaultError> {
    let invalid_json = |e: serde_json::Error| {
        VaultError::bad_request(format!(
            "failed to parse JSON input: {}",
            crate::http::error::sanitize_parser_message(&e.to_string())
        ))
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(VaultError::bad_request("no data provided"));
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| VaultError::bad_request("failed to parse JSON input: not UTF-8"))?;
    let top: BTreeMap<String, Box<RawValue>> = match text.trim_start().as_bytes().first() {
        Some(b'{') => serde_json::from_str(text).map_err(invalid_json)?,
        _ => {
            serde_json::from_str::<serde::de::IgnoredAny>(text).map_err(invalid_json)?;
            return Err(VaultError::bad_request(
                "the request body must be a JSON object",
            ));
        }
    };
    let raw_data = match top.get("data").map(|r| r.get().trim()) {
        None | Some("null") => return Err(VaultError::bad_request("no data provided")),
        Some(d) if d.starts_with('{') => d,
        Some(_) => return Err(VaultError::bad_request("data must be a JSON object")),
    };
    let members: BTreeMap<String, Box<RawValue>> =
        serde_json::from_str(raw_data).map_err(invalid_json)?;
    let data = typed::fields(&members)
        .map_err(|_| VaultError::bad_request("data holds a value that is not valid JSON"))?;
    let cas = match top.get("options") {
        None => None,
        Some(raw) => match serde_json::from_str::<Value>(raw.get()).map_err(invalid_json)? {
            Value::Null => None,
            Value::Object(o) => match o.get("cas") {
                None | Some(Value::Null) => None,
                Some(v) => Some(weak_int(v).ok_or_else(|| {
                    VaultError::bad_request("error parsing check-and-set parameter")
                })?),
            },
            Value::Bool(_) | Value::Number(_) | Value::String(_) | Value::Array(_) => {
                return Err(VaultError::bad_request("options must be a JSON object"))
            }
        },
    };
    Ok((data, cas))
}

/// The `versions` of a delete, undelete or destroy body: integers or integer strings
/// (`{"versions":["1"]}` from the `vault` CLI), or a comma-separated string. Versions
/// that cannot exist (0, negative) are ignored, like versions that do not.
fn versions_body(body: &[u8]) -> Result<Vec<u32>, VaultError> {
    let req = json_body(body)?;
    let versions: Vec<i64> = match req.get("versions") {
        None => vec![],
        Some(v) => weak_int_list(v).ok_or_else(|| {
            VaultError::bad_request(
                "error converting input for field \"versions\": expected integers",
            )
        })?,
    };
    if versions.is_empty() {
        return Err(VaultError::bad_request("no version number provided"));
    }
    Ok(versions
        .into_iter()
        .filter_map(|v| u32::try_from(v).ok().filter(|v| *v > 0))
        .collect())
}

#[derive(Clone, Copy)]
enum VersionOp {
    Delete,
    Undelete,
    Destroy,
}

async fn version_op(
    st: AppState,
    ctx: Ctx,
    method: Method,
    caller: Caller,
    path: String,
    body: Bytes,
    op: VersionOp,
) -> Reply {
    if !matches!(method.as_str(), "POST" | "PUT") {
        return Err(VaultError::unsupported());
    }
    let path = secret_path(&path)?;
    let versions = versions_body(&body)?;
    let Some(id) = st.ledger.kv_lookup(&caller, path) else {
        return no_content();
    };
    let l = &st.ledger;
    match op {
        VersionOp::Delete => {
            l.kv_delete_versions(&ctx.0, &caller, id, Some(versions))
                .await?
        }
        VersionOp::Undelete => {
            l.kv_undelete_versions(&ctx.0, &caller, id, versions)
                .await?
        }
        VersionOp::Destroy => {
            l.kv_destroy_versions(&ctx.0, &caller, id, versions).await?;
        }
    }
    no_content()
}

/// `POST /v1/{mount}/delete/{path}` `{"versions":[...]}`.
pub async fn delete_versions(
    State(st): State<AppState>,
    ctx: Ctx,
    method: Method,
    VaultAuth(caller): VaultAuth,
    Path(path): Path<String>,
    body: Bytes,
) -> Reply {
    version_op(st, ctx, method, caller, path, body, VersionOp::Delete).await
}

/// `POST /v1/{mount}/undelete/{path}` `{"versions":[...]}`.
pub async fn undelete_versions(
    State(st): State<AppState>,
    ctx: Ctx,
    method: Method,
    VaultAuth(caller): VaultAuth,
    Path(path): Path<String>,
    body: Bytes,
) -> Reply {
    version_op(st, ctx, method, caller, path, body, VersionOp::Undelete).await
}

/// `POST /v1/{mount}/destroy/{path}` `{"versions":[...]}`: crypto-shreds those versions.
pub async fn destroy_versions(
    State(st): State<AppState>,
    ctx: Ctx,
    method: Method,
    VaultAuth(caller): VaultAuth,
    Path(path): Path<String>,
    body: Bytes,
) -> Reply {
    version_op(st, ctx, method, caller, path, body, VersionOp::Destroy).await
}
