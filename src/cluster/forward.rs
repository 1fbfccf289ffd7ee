//! Any node serves any request: a follower hands what it cannot do itself (every write,
//! every resolve — a resolve appends its `used` event) to the writer over an
//! authenticated internal channel and returns the writer's answer unchanged; and every
//! node makes a client's own writes visible to its next read (read-your-writes).
//!
//! [`wrap`] adds one layer around a node's whole application (the JSON API, the Vault
//! dialect and the console alike). On a **follower** it buffers the request body
//! (bounded by [`crate::http::BODY_LIMIT`]), runs the request locally, and when the local
//! ledger refuses it as a follower (the 503 `not_writer` of any dialect: the follower
//! refuses before anything is sealed or applied, so nothing was done) re-sends method,
//! path, query, the client's headers (`Authorization`, `X-Vault-Token`, cookies, …) and
//! body to the writer the lease names, with the client's address and a MAC. A connection
//! refused before anything was sent is retried once against the writer the lease names
//! then; anything else is answered as it came (the writer's 503 stays a retryable 503).
//! A follower's 401 is forwarded too (the writer records failed authentications, and
//! knows a token the follower has not applied yet). Two exceptions are forwarded
//! without running them: the web console (its sessions live
//! in the writer's memory: every `/`, `/ui/…` request) and the test before save (`POST
//! /v1/verify`: its probe runs before its record is written, so it would probe twice).
//! On the **writer** it accepts a forwarded client address only under a valid, fresh
//! MAC, so the audit row shows `CLIENT via NODE`; an invalid one is ignored (the request
//! is an ordinary one from its peer).
//!
//! Read-your-writes: every answer carries [`SEQ`], the sequence number of the last event
//! the node had applied (the writer: made durable) when it answered — for a write, at
//! least the write's own last event. A follower that forwarded a write waits (at most
//! [`RYW_WAIT`]) until its own tail applied that sequence number before it answers; if
//! the tail is slower it answers anyway, with [`LAGGING`] (the write is committed: a 503
//! would invite a duplicate). A client switching nodes sends [`MIN_SEQ`] on a read: the
//! node waits (at most [`RYW_WAIT`]) until it applied that sequence number, else answers
//! a retryable 503 `behind` having done nothing.
//!
//! **The MAC:** blake3 in keyed mode (a PRF, used as the MAC) under a key derived with
//! `blake3::derive_key` from the token-hash key every node already shares and checks
//! against the store at start ([`crate::ledger::Ledger::cluster_key`]); it covers the
//! method, the path and query, the blake3 hash of the body, the timestamp and the
//! forwarded client address. A timestamp further than [`FRESH`] from the writer's clock
//! is refused.
//!
//! **Invariants:** a request with a valid MAC is never forwarded again (a forwarded
//! request reaching a non-writer gets its 503), so forwarding cannot loop; a follower
//! forwards at most twice per request (the retry after a refused connection); the
//! forwarding headers a client sends are never trusted without the MAC and never passed
//! on.

use crate::http::error::ApiError;
use crate::http::layers::{InternalError, NotWriter};
use crate::ledger::Ledger;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use zeroize::Zeroizing;

/// Response header: the sequence number of the last event the answering node applied.
pub const SEQ: &str = "x-credledger-seq";
/// Request header: answer only once this node applied this sequence number.
pub const MIN_SEQ: &str = "x-credledger-min-seq";
/// Response header on a forwarded write whose event this follower had not applied yet
/// after [`RYW_WAIT`] (`1`).
pub const LAGGING: &str = "x-credledger-lagging";
/// Response header on an answer a follower got from the writer: the writer's address.
pub const FORWARDED_TO: &str = "x-credledger-forwarded-to";
/// Internal request headers of a forwarded request (with [`MAC`]).
pub const FOR: &str = "x-credledger-forwarded-for";
pub const AT: &str = "x-credledger-forwarded-at";
pub const MAC: &str = "x-credledger-forwarded-mac";

/// How long a node waits for its tail to reach a sequence number.
pub const RYW_WAIT: Duration = Duration::from_secs(2);
/// How far a forwarded request's timestamp may be from the receiver's clock.
pub const FRESH: Duration = Duration::from_secs(30);
/// How long the writer has to answer a forwarded request.
const WRITER_TIMEOUT: Duration = Duration::from_secs(30);

/// The context string of the forwarding key (`blake3::derive_key`).
pub const KEY_CONTEXT: &str = "credledger 2026-12 cluster forwarding MAC v1";

/// Looks the writer's address up afresh (the lease), for the one retry.
pub type Refresh =
    Arc<dyn Fn() -> futures::future::BoxFuture<'static, Option<String>> + Send + Sync>;

/// What the layer needs: the node's ledger (a follower or the writer), the key, an
/// HTTP client for the writer.
pub struct Forwarder {
    ledger: Arc<Ledger>,
    key: Zeroizing<[u8; 32]>,
    client: reqwest::Client,
    refresh: Option<Refresh>,
    /// Set when this node stops serving as it is (it took the lease, or shuts down):
    /// forwards still waiting for a writer's answer are answered 503 at once, so a
    /// paused writer cannot hold the node's take-over.
    cancelled: tokio::sync::watch::Sender<bool>,
}

impl Forwarder {
    /// A forwarder for `ledger`; `ca_pem` adds a CA to trust for an `https://` writer
    /// (the system roots otherwise); `refresh` reads the writer's address from the lease.
    pub fn new(
        ledger: Arc<Ledger>,
        ca_pem: Option<&[u8]>,
        refresh: Option<Refresh>,
    ) -> Result<Forwarder, reqwest::Error> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(2))
            .timeout(WRITER_TIMEOUT)
            .pool_idle_timeout(Duration::from_secs(30));
        if let Some(pem) = ca_pem {
            for cert in reqwest::Certificate::from_pem_bundle(pem)? {
                builder = builder.add_root_certificate(cert);
            }
        }
        Ok(Forwarder {
            key: ledger.cluster_key(),
            ledger,
            client: builder.build()?,
            refresh,
            cancelled: tokio::sync::watch::Sender::new(false),
        })
    }

    /// Answers every forward still waiting, and every later one, with a retryable 503.
    pub fn cancel(&self) {
        self.cancelled.send_replace(true);
    }
}

/// Adds the forwarding and read-your-writes layer to a node's application.
pub fn wrap(app: Router, forwarder: Arc<Forwarder>) -> Router {
    app.layer(axum::middleware::from_fn_with_state(forwarder, layer))
}

/// A request a peer node forwarded under a valid MAC: the audited client address and
/// the node it came through (a request extension, read by `http::extract`).
#[derive(Clone, Debug)]
pub struct Relayed {
    pub client: IpAddr,
    pub via: IpAddr,
}

/// The MAC of a forwarded request.
pub fn mac(
    key: &[u8; 32],
    method: &str,
    path_and_query: &str,
    body: &[u8],
    at_ms: i64,
    client: &str,
) -> blake3::Hash {
    let mut h = blake3::Hasher::new_keyed(key);
    for part in [
        "credledger-forward-v1",
        method,
        path_and_query,
        &blake3::hash(body).to_hex(),
        &at_ms.to_string(),
        client,
    ] {
        h.update(&(part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    h.finalize()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Whether the forwarding headers of a request carry a valid, fresh MAC: the client
/// address then.
fn verify(
    key: &[u8; 32],
    method: &str,
    path_and_query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<IpAddr> {
    let client = header(headers, FOR)?;
    let at: i64 = header(headers, AT)?.parse().ok()?;
    let given = blake3::Hash::from_hex(header(headers, MAC)?).ok()?;
    if now_ms().abs_diff(at) > FRESH.as_millis() as u64 {
        return None;
    }
    // blake3::Hash compares in constant time.
    (mac(key, method, path_and_query, body, at, client) == given)
        .then(|| client.parse().ok())
        .flatten()
}

fn strip_forwarding(headers: &mut HeaderMap) {
    for h in [FOR, AT, MAC] {
        headers.remove(h);
    }
}

/// The sequence number of the last event applied, for [`SEQ`].
fn last_seq(ledger: &Ledger) -> Option<u64> {
    ledger.applied().checked_sub(1)
}

fn behind(seq: u64) -> Response {
    ApiError {
        retry_after_s: Some(1),
        ..ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "behind",
            format!("this node has not applied event {seq} yet; nothing was done: retry"),
        )
    }
    .into_response()
}

async fn layer(State(fw): State<Arc<Forwarder>>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    if let Some(min) = header(&parts.headers, MIN_SEQ) {
        let Ok(min) = min.trim().parse::<u64>() else {
            return ApiError::invalid(MIN_SEQ, format!("{MIN_SEQ} must be a sequence number"))
                .into_response();
        };
        if !fw
            .ledger
            .wait_applied(min.saturating_add(1), RYW_WAIT)
            .await
        {
            return behind(min);
        }
    }
    let relayed = parts.headers.contains_key(MAC);
    let follower = fw.ledger.is_follower();
    let resp = if !relayed && !follower {
        strip_forwarding(&mut parts.headers);
        next.run(Request::from_parts(parts, body)).await
    } else {
        let Ok(bytes) = axum::body::to_bytes(body, crate::http::BODY_LIMIT).await else {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "the request body is too large",
            )
            .into_response();
        };
        let pq = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let client = relayed
            .then(|| verify(&fw.key, parts.method.as_str(), pq, &parts.headers, &bytes))
            .flatten();
        strip_forwarding(&mut parts.headers);
        match (client, peer) {
            (Some(client), Some(via)) => {
                parts.extensions.insert(Relayed { client, via });
            }
            _ if relayed => {
                tracing::warn!(
                    "a forwarded request without a valid MAC: served as an ordinary request"
                );
            }
            _ => {}
        }
        if client.is_none() && follower && forwarded_whole(&parts.method, parts.uri.path()) {
            // Console sessions live in the writer's memory: all of it is the writer's; a
            // test before save probes before it records, so it must not run here too.
            let refusal = not_writer(&fw.ledger);
            return with_seq(&fw, forward(&fw, parts, bytes, refusal).await);
        }
        let local = Request::from_parts(parts.clone(), Body::from(bytes.clone()));
        let resp = next.run(local).await;
        if client.is_none() && follower && (refused_as_follower(&resp) || unauthenticated(&resp)) {
            forward(&fw, parts, bytes, resp).await
        } else {
            resp
        }
    };
    with_seq(&fw, resp)
}

fn with_seq(fw: &Forwarder, mut resp: Response) -> Response {
    if !resp.headers().contains_key(SEQ) {
        if let Some(seq) = last_seq(&fw.ledger) {
            resp.headers_mut().insert(SEQ, HeaderValue::from(seq));
        }
    }
    resp
}

/// What a follower hands to the writer without running it: the web console's paths
/// (`/` redirects to `/ui/`), and the test before save (`POST /v1/verify`), whose probe
/// runs before its record is written (run here, it would probe twice).
fn forwarded_whole(method: &axum::http::Method, path: &str) -> bool {
    path == "/"
        || path == "/ui"
        || path.starts_with("/ui/")
        || (method == axum::http::Method::POST && path == "/v1/verify")
}

/// This follower's own refusal: the retryable 503 naming the writer.
fn not_writer(ledger: &Ledger) -> Response {
    let e = crate::commit::CommitError::NotWriter(ledger.writer_address());
    ApiError::from(crate::ledger::LedgerError::from(e)).into_response()
}

/// A 401: the writer decides it again, so that the failed authentication is counted and
/// recorded where events are written (a follower cannot record it), and a token issued a
/// moment ago that this follower has not applied yet works at once.
fn unauthenticated(resp: &Response) -> bool {
    resp.status() == StatusCode::UNAUTHORIZED
}

/// The local answer is a follower's refusal (any dialect's): nothing was done.
fn refused_as_follower(resp: &Response) -> bool {
    resp.status() == StatusCode::SERVICE_UNAVAILABLE
        && (resp.extensions().get::<NotWriter>().is_some()
            // The console's and the Vault dialect's 503 for a commit refusal: on a
            // follower the committer refuses every submission first.
            || resp
                .extensions()
                .get::<InternalError>()
                .is_some_and(|d| d.0.starts_with("ledger unavailable: ")))
}

/// Hop-by-hop headers and those the client library sets itself.
fn passed_on(name: &HeaderName) -> bool {
    !matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "content-length"
    )
}

async fn forward(
    fw: &Forwarder,
    parts: axum::http::request::Parts,
    body: axum::body::Bytes,
    local: Response,
) -> Response {
    let pq = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let client = crate::http::extract::remote_addr(&parts).unwrap_or_default();
    let mut target = fw.ledger.writer_address();
    for attempt in 0..2 {
        let at = now_ms();
        let tag = mac(&fw.key, parts.method.as_str(), &pq, &body, at, &client);
        let mut headers = reqwest::header::HeaderMap::new();
        for (k, v) in parts.headers.iter().filter(|(k, _)| passed_on(k)) {
            headers.append(k.clone(), v.clone());
        }
        let fwd = [
            (FOR, client.clone()),
            (AT, at.to_string()),
            (MAC, tag.to_hex().to_string()),
        ];
        for (k, v) in fwd {
            if let Ok(v) = HeaderValue::from_str(&v) {
                headers.insert(HeaderName::from_static(k), v);
            }
        }
        let sent = fw
            .client
            .request(parts.method.clone(), format!("{target}{pq}"))
            .headers(headers)
            .body(body.clone())
            .send();
        let mut cancelled = fw.cancelled.subscribe();
        let sent = tokio::select! {
            s = sent => s,
            _ = cancelled.wait_for(|c| *c) => return changed_writer(),
        };
        match sent {
            Ok(r) => return answer(fw, r, &target).await,
            // Nothing reached the writer: ask the lease once who writes now.
            Err(e) if e.is_connect() && attempt == 0 => {
                tracing::debug!(writer = %target, error = %e, "the writer is unreachable");
                let fresh = match &fw.refresh {
                    Some(r) => r().await,
                    None => None,
                };
                match fresh {
                    Some(a) if a != target => target = a,
                    _ => return local,
                }
            }
            Err(e) if e.is_connect() => return local,
            Err(e) => {
                tracing::warn!(writer = %target, error = %e, "the writer did not answer a forwarded request");
                return ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "writer_unreachable",
                    "the writer did not answer; the request may or may not have been recorded",
                )
                .into_response();
            }
        }
    }
    local
}

/// A forward cut short because this node stopped serving as a follower.
fn changed_writer() -> Response {
    ApiError {
        retry_after_s: Some(1),
        ..ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the writer changed while this request was forwarded; it may have been recorded \
             before: check before retrying",
        )
    }
    .into_response()
}

/// The writer's answer as it came, after this follower applied its events.
async fn answer(fw: &Forwarder, r: reqwest::Response, writer: &str) -> Response {
    let status = r.status();
    let mut headers = HeaderMap::new();
    for (k, v) in r.headers().iter().filter(|(k, _)| passed_on(k)) {
        headers.append(k.clone(), v.clone());
    }
    let seq = header(&headers, SEQ).and_then(|s| s.parse::<u64>().ok());
    let mut resp = Response::new(Body::from_stream(r.bytes_stream()));
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    if let Ok(v) = HeaderValue::from_str(writer) {
        resp.headers_mut().insert(FORWARDED_TO, v);
    }
    if let Some(seq) = seq {
        if status.as_u16() < 500 && !fw.ledger.wait_applied(seq + 1, RYW_WAIT).await {
            resp.headers_mut()
                .insert(LAGGING, HeaderValue::from_static("1"));
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mac_covers_every_part() {
        let key = [7u8; 32];
        let base = mac(&key, "POST", "/v1/resolve?x=1", b"{}", 1000, "192.0.2.1");
        assert_eq!(
            base,
            mac(&key, "POST", "/v1/resolve?x=1", b"{}", 1000, "192.0.2.1")
        );
        for other in [
            mac(
                &[8u8; 32],
                "POST",
                "/v1/resolve?x=1",
                b"{}",
                1000,
                "192.0.2.1",
            ),
            mac(&key, "PUT", "/v1/resolve?x=1", b"{}", 1000, "192.0.2.1"),
            mac(&key, "POST", "/v1/resolve?x=2", b"{}", 1000, "192.0.2.1"),
            mac(&key, "POST", "/v1/resolve?x=1", b"{ }", 1000, "192.0.2.1"),
            mac(&key, "POST", "/v1/resolve?x=1", b"{}", 1001, "192.0.2.1"),
            mac(&key, "POST", "/v1/resolve?x=1", b"{}", 1000, "192.0.2.2"),
        ] {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn only_a_fresh_valid_mac_is_believed() {
        let key = [7u8; 32];
        let at = now_ms();
        let mut h = HeaderMap::new();
        h.insert(FOR, HeaderValue::from_static("203.0.113.5"));
        h.insert(AT, HeaderValue::from(at));
        let good = mac(&key, "POST", "/v1/x", b"b", at, "203.0.113.5");
        h.insert(MAC, HeaderValue::from_str(&good.to_hex()).unwrap());
        assert_eq!(
            verify(&key, "POST", "/v1/x", &h, b"b"),
            Some("203.0.113.5".parse().unwrap())
        );
        assert_eq!(verify(&key, "POST", "/v1/x", &h, b"c"), None);
        assert_eq!(verify(&[1u8; 32], "POST", "/v1/x", &h, b"b"), None);
        let old = at - 60_000;
        let stale = mac(&key, "POST", "/v1/x", b"b", old, "203.0.113.5");
        h.insert(AT, HeaderValue::from(old));
        h.insert(MAC, HeaderValue::from_str(&stale.to_hex()).unwrap());
        assert_eq!(verify(&key, "POST", "/v1/x", &h, b"b"), None);
        h.remove(MAC);
        assert_eq!(verify(&key, "POST", "/v1/x", &h, b"b"), None);
    }
}
