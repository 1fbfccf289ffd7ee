//! Request extractors shared by the dialects: the authenticated caller, the request
//! context, path ids, query parameters and JSON bodies whose rejections become our JSON
//! errors without echoing input; and [`NoStore`] for secret-bearing answers.

use super::error::{sanitize_parser_message, ApiError};
use super::AppState;
use crate::domain::Caller;
use crate::id::Id;
use crate::ledger::{LedgerError, RequestCtx};
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use std::net::SocketAddr;

/// Reads the token from the request headers (`Authorization: Bearer` or `X-Vault-Token`).
pub fn token_from(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, token) = v.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then_some(token.trim());
    }
    headers
        .get("x-vault-token")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// The client's address (no port), when served over a socket: the connection's peer,
/// or behind a trusted proxy the nearest untrusted hop of its forwarding headers (see
/// [`super::proxy`]). Failed authentications are counted against it.
pub fn remote_addr(parts: &Parts) -> Option<String> {
    peer_and_proxy(parts).map(|(client, _)| client.to_string())
}

/// The address recorded in events: [`remote_addr`], with `" via PROXY"` when a trusted
/// proxy forwarded the request.
pub fn audited_addr(parts: &Parts) -> Option<String> {
    peer_and_proxy(parts).map(|(client, proxy)| super::proxy::audited(client, proxy))
}

fn peer_and_proxy(parts: &Parts) -> Option<(std::net::IpAddr, Option<std::net::IpAddr>)> {
    // Forwarded by a peer node under a valid MAC (`cluster::forward`): its client.
    if let Some(r) = parts.extensions.get::<crate::cluster::forward::Relayed>() {
        return Some((r.client, Some(r.via)));
    }
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>()?.0.ip();
    Some(
        match parts.extensions.get::<super::proxy::TrustedProxies>() {
            Some(trusted) => trusted.client(peer, &parts.headers),
            None => (peer, None),
        },
    )
}

/// Authenticates the request's token, counting a failure against the remote address and
/// the token id (`LedgerError::Unauthenticated` or `Throttled`). A request without a
/// token is `Unauthenticated` and not counted.
pub fn authenticate(state: &AppState, parts: &Parts) -> Result<Caller, LedgerError> {
    let token = token_from(&parts.headers).ok_or(LedgerError::Unauthenticated)?;
    state
        .ledger
        .authenticate_from(token, remote_addr(parts).as_deref())
}

/// The caller behind `Authorization: Bearer <token>` (or `X-Vault-Token`).
pub struct Auth(pub Caller);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        authenticate(state, parts).map(Auth).map_err(ApiError::from)
    }
}

/// Request id and remote address, recorded in every event.
pub struct Ctx(pub RequestCtx);

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let request_id = parts
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(128).collect());
        Ok(Ctx(RequestCtx {
            request_id,
            remote_addr: audited_addr(parts),
        }))
    }
}

/// Parses an id from a path segment (400 naming the fragment, truncated).
pub fn parse_id(s: &str) -> Result<Id, ApiError> {
    s.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "'{}' is not a valid id",
            s.chars().take(40).collect::<String>()
        ))
    })
}

/// One id from the path (`/…/{id}`).
pub struct IdPath(pub Id);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(s) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(e.body_text()))?;
        parse_id(&s).map(IdPath)
    }
}

/// Two ids from the path (`/…/{id}/…/{other}`).
pub struct IdPair(pub Id, pub Id);

impl<S: Send + Sync> FromRequestParts<S> for IdPair {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path((a, b)) = Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(e.body_text()))?;
        Ok(IdPair(parse_id(&a)?, parse_id(&b)?))
    }
}

/// Query parameters; unknown or mistyped ones are a 400 JSON error.
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| Params(q))
            .map_err(|e| ApiError::bad_request(e.body_text()))
    }
}

/// A JSON body; malformed input is a 400, mistyped input a 422 JSON error.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Body(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn invalid_body(detail: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
        format!(
            "the request body does not match this endpoint: {}",
            sanitize_parser_message(detail)
        ),
    )
}

fn not_json(detail: &str) -> ApiError {
    ApiError::bad_request(format!(
        "the request body is not valid JSON: {}",
        sanitize_parser_message(detail)
    ))
}

/// An optional JSON body: empty (or whitespace) is `T::default()`; otherwise as
/// [`Body`] (400 for malformed JSON, 422 for a mistyped body), with or without a JSON
/// content type.
pub struct OptionalBody<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalBody<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    too_large()
                } else {
                    ApiError::bad_request("cannot read the request body")
                }
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalBody(T::default()));
        }
        serde_json::from_slice(&bytes)
            .map(OptionalBody)
            .map_err(|e| match e.classify() {
                serde_json::error::Category::Data => invalid_body(&e.to_string()),
                serde_json::error::Category::Io
                | serde_json::error::Category::Syntax
                | serde_json::error::Category::Eof => not_json(&e.to_string()),
            })
    }
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "the request body is too large",
    )
}

#[allow(
    clippy::wildcard_enum_match_arm,
    reason = "JsonRejection is axum's non-exhaustive enum: the rest are generic read failures"
)]
fn json_rejection(r: JsonRejection) -> ApiError {
    match r {
        JsonRejection::JsonDataError(e) => invalid_body(&e.body_text()),
        JsonRejection::JsonSyntaxError(e) => not_json(&e.body_text()),
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with Content-Type: application/json",
        ),
        JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            too_large()
        }
        other => {
            ApiError::bad_request(format!("cannot read the request body ({})", other.status()))
        }
    }
}

/// An answer that carries a secret (a resolve, a KV read, a new token): sent with
/// `Cache-Control: no-store` so no cache or proxy keeps it.
pub struct NoStore<T>(pub T);

impl<T: IntoResponse> IntoResponse for NoStore<T> {
    fn into_response(self) -> Response {
        let mut resp = self.0.into_response();
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp
    }
}
