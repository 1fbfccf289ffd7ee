//! Connection tests against local servers: every probe kind, placement and failure.

use super::http::client_builder;
use super::*;
use crate::template::{Catalog, Template};
use base64::Engine as _;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A distinctive secret; no outcome may ever contain it.
const SECRET: &str = "SeKrEt-verify-51d2e8";

/// What the test server received.
#[derive(Debug)]
struct Seen {
    head: String,
    body: String,
}

impl Seen {
    fn request_line(&self) -> &str {
        self.head.lines().next().unwrap_or_default()
    }

    /// The value of a header, by case-insensitive name.
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Serves one HTTP request with `status` and reports what it received.
async fn serve_once(status: u16) -> (SocketAddr, oneshot::Receiver<Seen>) {
    serve_once_with(status, String::new()).await
}

/// Like [`serve_once`], with extra response header lines (each ending in CRLF).
async fn serve_once_with(status: u16, extra: String) -> (SocketAddr, oneshot::Receiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = sock.read(&mut chunk).await.unwrap();
            assert!(n > 0, "client closed before sending a request head");
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let seen = Seen {
            head,
            body: String::new(),
        };
        let length: usize = seen
            .header("content-length")
            .map(|v| v.parse().unwrap())
            .unwrap_or(0);
        while buf.len() < head_end + length {
            let n = sock.read(&mut chunk).await.unwrap();
            assert!(n > 0);
            buf.extend_from_slice(&chunk[..n]);
        }
        let body = String::from_utf8_lossy(&buf[head_end..head_end + length]).into_owned();
        let response =
            format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n{extra}\r\n");
        sock.write_all(response.as_bytes()).await.unwrap();
        let _ = tx.send(Seen { body, ..seen });
    });
    (addr, rx)
}

/// A server that accepts connections and never answers.
async fn silent_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    addr
}

/// A server that answers plain HTTP at once, to a client that expects TLS.
async fn plain_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        if let Ok((mut sock, _)) = listener.accept().await {
            let _ = sock
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                .await;
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    });
    addr
}

/// A loopback port nobody listens on.
async fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

/// The production settings, without proxies from the environment.
fn test_client() -> reqwest::Client {
    client_builder().no_proxy().build().unwrap()
}

fn builtin(name: &str) -> &'static Template {
    Catalog::builtin().get(name).unwrap()
}

/// Validates `input` and runs the template's connection test; checks that the
/// outcome never contains the secret.
async fn verify(t: &Template, input: Value) -> VerifyOutcome {
    let v = t.validate(input.as_object().unwrap()).unwrap();
    let outcome = run(
        t.verify.as_ref().unwrap(),
        &v.public,
        &v.secret,
        &test_client(),
    )
    .await;
    assert_clean(&outcome);
    outcome
}

fn assert_clean(outcome: &VerifyOutcome) {
    assert!(!outcome.reason.contains(SECRET), "{outcome:?}");
    assert!(!format!("{outcome:?}").contains(SECRET), "{outcome:?}");
    assert!(!outcome.reason.contains("127.0.0.1"), "{outcome:?}");
}

/// A one-field template with this probe.
fn with_probe(probe: Value) -> Template {
    let src = json!({
        "name": "probe",
        "title": "Probe",
        "description": "test",
        "fields": [
            {"name": "url", "type": "text"},
            {"name": "key", "type": "secret", "required": true}
        ],
        "verify": [probe]
    });
    Template::from_json(&src.to_string()).unwrap()
}

#[tokio::test]
async fn bearer_reaches_the_server() {
    let (addr, seen) = serve_once(200).await;
    let out = verify(
        builtin("openai"),
        json!({"api_key": SECRET, "base_url": format!("http://{addr}/v1")}),
    )
    .await;
    assert_eq!((out.ok, out.reason.as_str()), (true, "HTTP 200"));
    let seen = seen.await.unwrap();
    assert_eq!(seen.request_line(), "GET /v1/models HTTP/1.1");
    assert_eq!(
        seen.header("authorization"),
        Some(format!("Bearer {SECRET}").as_str())
    );
}

#[tokio::test]
async fn header_placement_and_extra_headers_reach_the_server() {
    let (addr, seen) = serve_once(200).await;
    let out = verify(
        builtin("anthropic"),
        json!({"api_key": SECRET, "base_url": format!("http://{addr}")}),
    )
    .await;
    assert!(out.ok, "{out:?}");
    let seen = seen.await.unwrap();
    assert_eq!(seen.request_line(), "GET /v1/models HTTP/1.1");
    assert_eq!(seen.header("x-api-key"), Some(SECRET));
    assert_eq!(seen.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(seen.header("authorization"), None);

    let (addr, seen) = serve_once(200).await;
    let out = verify(
        builtin("api_key"),
        json!({"api_key": SECRET, "url": format!("http://{addr}/me")}),
    )
    .await;
    assert!(out.ok, "{out:?}");
    assert_eq!(seen.await.unwrap().header("x-api-key"), Some(SECRET));
}

#[tokio::test]
async fn basic_placement_reaches_the_server() {
    let (addr, seen) = serve_once(200).await;
    let out = verify(
        builtin("http_basic"),
        json!({"url": format!("http://{addr}/private"), "username": "alice", "password": SECRET}),
    )
    .await;
    assert!(out.ok, "{out:?}");
    let expected = base64::engine::general_purpose::STANDARD.encode(format!("alice:{SECRET}"));
    let seen = seen.await.unwrap();
    assert_eq!(seen.request_line(), "GET /private HTTP/1.1");
    assert_eq!(
        seen.header("authorization"),
        Some(format!("Basic {expected}").as_str())
    );
}

#[tokio::test]
async fn query_placement_reaches_the_server() {
    let (addr, seen) = serve_once(200).await;
    let out = verify(
        builtin("api_key"),
        json!({"api_key": SECRET, "placement": "query", "url": format!("http://{addr}/check?v=1")}),
    )
    .await;
    assert!(out.ok, "{out:?}");
    let seen = seen.await.unwrap();
    assert_eq!(
        seen.request_line(),
        format!("GET /check?v=1&api_key={SECRET} HTTP/1.1")
    );
    assert_eq!(seen.header("authorization"), None);
}

#[tokio::test]
async fn proxmox_token_header_and_password_form() {
    let (addr, seen) = serve_once(200).await;
    let out = verify(
        builtin("proxmox"),
        json!({"host": format!("http://{addr}"), "token_name": "root@pam!ci", "token_value": SECRET}),
    )
    .await;
    assert!(out.ok, "{out:?}");
    let seen = seen.await.unwrap();
    assert_eq!(seen.request_line(), "GET /api2/json/version HTTP/1.1");
    assert_eq!(
        seen.header("authorization"),
        Some(format!("PVEAPIToken=root@pam!ci={SECRET}").as_str())
    );

    let (addr, seen) = serve_once(401).await;
    let out = verify(
        builtin("proxmox"),
        json!({"host": format!("http://{addr}"), "auth_method": "password", "username": "root@pam", "password": SECRET}),
    )
    .await;
    assert_eq!(
        (out.ok, out.reason.as_str()),
        (false, "HTTP 401 (expected 200)")
    );
    let seen = seen.await.unwrap();
    assert_eq!(
        seen.request_line(),
        "POST /api2/json/access/ticket HTTP/1.1"
    );
    assert_eq!(
        seen.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(seen.body, format!("password={SECRET}&username=root%40pam"));
}

#[tokio::test]
async fn expected_and_unexpected_statuses() {
    for (status, ok, reason) in [
        (200, true, "HTTP 200"),
        (401, false, "HTTP 401 (expected 200)"),
        (500, false, "HTTP 500 (expected 200)"),
    ] {
        let (addr, _seen) = serve_once(status).await;
        let out = verify(
            builtin("vultr"),
            json!({"api_key": SECRET, "base_url": format!("http://{addr}/v2")}),
        )
        .await;
        assert_eq!((out.ok, out.reason.as_str()), (ok, reason));
    }
    let t = with_probe(json!({
        "kind": "http", "url": "{{url}}", "auth": {"bearer": "{{key}}"}, "expect_status": [200, 204]
    }));
    for (status, ok, reason) in [
        (204, true, "HTTP 204"),
        (403, false, "HTTP 403 (expected one of 200, 204)"),
    ] {
        let (addr, _seen) = serve_once(status).await;
        let out = verify(&t, json!({"url": format!("http://{addr}/"), "key": SECRET})).await;
        assert_eq!((out.ok, out.reason.as_str()), (ok, reason));
    }
}

#[tokio::test]
async fn timeout_when_the_server_never_answers() {
    let addr = silent_server().await;
    let t = with_probe(json!({
        "kind": "http", "url": "{{url}}", "auth": {"query": {"name": "k", "value": "{{key}}"}}, "timeout_ms": 300
    }));
    let out = verify(&t, json!({"url": format!("http://{addr}/"), "key": SECRET})).await;
    assert_eq!(
        (out.ok, out.reason.as_str()),
        (false, "timeout after 300 ms")
    );
    // It waited for the timeout rather than failing early (no upper bound: the machine
    // may be slow, and tests assert no timings).
    assert!(out.latency_ms >= 250, "{out:?}");
}

#[tokio::test]
async fn connection_refused() {
    let port = free_port().await;
    let out = verify(
        builtin("openai"),
        json!({"api_key": SECRET, "base_url": format!("http://127.0.0.1:{port}/v1")}),
    )
    .await;
    assert_eq!((out.ok, out.reason.as_str()), (false, "connection refused"));
    // The secret in the URL stays out of the reason too.
    let out = verify(
        builtin("api_key"),
        json!({"api_key": SECRET, "placement": "query", "url": format!("http://127.0.0.1:{port}/")}),
    )
    .await;
    assert_eq!(out.reason, "connection refused");
}

#[tokio::test]
async fn tcp_probe_ok_and_refused() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let out = verify(
        builtin("hyperv"),
        json!({"host": "127.0.0.1", "port": port, "username": "u", "password": SECRET}),
    )
    .await;
    assert_eq!((out.ok, out.reason.as_str()), (true, "TCP connect ok"));
    drop(listener);
    let out = verify(
        builtin("hyperv"),
        json!({"host": "127.0.0.1", "port": port.to_string(), "username": "u", "password": SECRET}),
    )
    .await;
    assert_eq!((out.ok, out.reason.as_str()), (false, "connection refused"));
    let out = verify(
        builtin("hyperv"),
        json!({"host": "127.0.0.1", "port": "99999", "username": "u", "password": SECRET}),
    )
    .await;
    assert_eq!((out.ok, out.reason.as_str()), (false, "invalid port"));
}

#[tokio::test]
async fn dns_failures() {
    let out = verify(
        builtin("openai"),
        json!({"api_key": SECRET, "base_url": "http://credledger-test.invalid/v1"}),
    )
    .await;
    assert_eq!((out.ok, out.reason.as_str()), (false, "dns failure"));
    let out = verify(
        builtin("hyperv"),
        json!({"host": "credledger-test.invalid", "username": "root", "password": SECRET}),
    )
    .await;
    assert_eq!((out.ok, out.reason.as_str()), (false, "dns failure"));
}

#[tokio::test]
async fn tls_error_against_a_plain_server() {
    let addr = plain_server().await;
    let out = verify(
        builtin("github"),
        json!({"token": SECRET, "base_url": format!("https://{addr}")}),
    )
    .await;
    assert_eq!((out.ok, out.reason.as_str()), (false, "tls error"));
}

#[tokio::test]
async fn failures_before_sending() {
    let cases = [
        (
            builtin("http_basic"),
            json!({"username": "alice", "password": SECRET}),
            "cannot verify: url is not set",
        ),
        (
            builtin("openai"),
            json!({"api_key": SECRET, "base_url": "not a url"}),
            "invalid url",
        ),
        (
            builtin("openai"),
            json!({"api_key": SECRET, "base_url": "ftp://files.example"}),
            "invalid url",
        ),
        (
            builtin("api_key"),
            json!({"api_key": format!("{SECRET}\r\nx-injected: 1"), "url": "http://127.0.0.1:9/"}),
            "invalid header value",
        ),
        (
            builtin("api_key"),
            json!({"api_key": SECRET, "header_name": "bad header", "url": "http://127.0.0.1:9/"}),
            "invalid header name",
        ),
        (
            builtin("bearer_token"),
            json!({"token": format!("{SECRET}\n"), "url": "http://127.0.0.1:9/"}),
            "invalid header value",
        ),
        (
            builtin("kubernetes"),
            json!({"kubeconfig": SECRET}),
            "no connection test for this configuration",
        ),
    ];
    for (t, input, reason) in cases {
        let out = verify(t, input).await;
        assert_eq!(
            (out.ok, out.reason.as_str(), out.latency_ms),
            (false, reason, 0)
        );
    }
}

#[tokio::test]
async fn kubernetes_token_probe_runs() {
    let (addr, seen) = serve_once(200).await;
    let out = verify(
        builtin("kubernetes"),
        json!({"auth_method": "token", "server": format!("http://{addr}"), "token": SECRET, "insecure_skip_tls_verify": true}),
    )
    .await;
    assert!(out.ok, "{out:?}");
    let seen = seen.await.unwrap();
    assert_eq!(seen.request_line(), "GET /api HTTP/1.1");
    assert_eq!(
        seen.header("authorization"),
        Some(format!("Bearer {SECRET}").as_str())
    );
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let port = free_port().await;
    let location = format!("location: http://127.0.0.1:{port}/elsewhere\r\n");
    let (addr, seen) = serve_once_with(302, location).await;
    let out = verify(
        builtin("anthropic"),
        json!({"api_key": SECRET, "base_url": format!("http://{addr}")}),
    )
    .await;
    assert_eq!(
        (out.ok, out.reason.as_str()),
        (false, "HTTP 302 (expected 200)")
    );
    assert_eq!(
        seen.await.unwrap().header("user-agent"),
        Some("credledger-verify")
    );
    client().unwrap();
}

#[tokio::test]
async fn request_failed_when_the_server_hangs_up() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 1024];
        let _ = sock.read(&mut buf).await;
    });
    let out = verify(
        builtin("openai"),
        json!({"api_key": SECRET, "base_url": format!("http://{addr}")}),
    )
    .await;
    assert_eq!((out.ok, out.reason.as_str()), (false, "request failed"));
}

#[test]
fn timeouts_default_and_cap() {
    assert_eq!(effective_timeout_ms(None), 10_000);
    assert_eq!(effective_timeout_ms(Some(250)), 250);
    assert_eq!(effective_timeout_ms(Some(120_000)), 30_000);
}
