//! The connection-test executor: runs a template's [`VerifySpec`] against a credential's
//! values and reports a [`VerifyOutcome`].
//!
//! The first probe whose condition holds runs: an HTTP request (credential placed as a
//! bearer token, a header, Basic authentication, a query parameter or a form body) that
//! passes when the status is expected, or a TCP connect that passes when the connection
//! is accepted. `{{field}}` placeholders are filled from the public and secret values.
//!
//! **Invariants:**
//! - An outcome's `reason` is built only from status codes, error kinds, timeouts and
//!   field names. It never contains a value, a URL or a header, so a secret cannot reach
//!   it, whichever placeholder carried it. Library errors are classified, never printed.
//! - Strings that may hold substituted secrets live in [`Zeroizing`] buffers, and headers
//!   built from them are marked sensitive. Copies made inside the HTTP client (request
//!   buffers) are outside this module's control.
//! - A probe never runs longer than its timeout: 10 s by default, capped at 30 s.
//! - Redirects are not followed by [`client`] (a 3xx is reported as an unexpected
//!   status), so credentials placed in custom headers never reach a redirect target.
//!   A probe whose `skip_tls_verify_when` holds uses its own client built the same way.

use crate::template::{
    segments, AuthPlacement, HttpMethod, HttpProbe, Probe, Segment, TcpProbe, VerifySpec,
};
use reqwest::header::{HeaderName, HeaderValue, AUTHORIZATION};
use serde::Serialize;
use std::collections::BTreeMap;
use std::error::Error as _;
use std::io;
use std::time::{Duration, Instant};
use thiserror::Error;
use zeroize::Zeroizing;

/// The timeout of a probe that names none.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;

/// The longest timeout a probe may have; larger values are capped.
pub const MAX_TIMEOUT_MS: u64 = 30_000;

/// The result of a connection test, as recorded in the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyOutcome {
    /// Whether the probe passed.
    pub ok: bool,
    /// A short reason such as `HTTP 200`, `HTTP 401 (expected 200)` or
    /// `connection refused`. Never contains a value.
    pub reason: String,
    /// Time spent on the network, in milliseconds (0 when nothing was sent).
    pub latency_ms: u64,
}

/// Why a probe did not pass. Each variant becomes an outcome with `ok = false` and the
/// variant's text as `reason`; nothing is retried and the credential is not changed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
enum Failure {
    /// No probe's condition holds (for example a kubeconfig credential). Reported as is.
    #[error("no connection test for this configuration")]
    NotApplicable,
    /// A placeholder's field has no value (an optional field left empty). Reported with
    /// the field name only.
    #[error("cannot verify: {0} is not set")]
    MissingValue(String),
    /// A placeholder could not be parsed; templates are checked at load, so this is a bug.
    #[error("invalid connection test definition")]
    BadDefinition,
    /// The substituted URL does not parse or is not http(s).
    #[error("invalid url")]
    InvalidUrl,
    /// A substituted header name is not a valid header name.
    #[error("invalid header name")]
    InvalidHeaderName,
    /// A substituted header value holds characters a header cannot carry.
    #[error("invalid header value")]
    InvalidHeaderValue,
    /// The substituted TCP port is not a number in 0..=65535.
    #[error("invalid port")]
    InvalidPort,
    /// An HTTP client without certificate checks could not be built.
    #[error("http client setup failed")]
    ClientSetup,
    /// The probe did not finish within its timeout (in milliseconds).
    #[error("timeout after {0} ms")]
    Timeout(u64),
    /// The host name did not resolve.
    #[error("dns failure")]
    Dns,
    /// The peer refused the connection.
    #[error("connection refused")]
    Refused,
    /// The TLS handshake failed (bad certificate, not TLS, protocol error).
    #[error("tls error")]
    Tls,
    /// The connection failed otherwise (unreachable network, reset).
    #[error("connection failed")]
    ConnectFailed,
    /// The request failed after connecting (connection closed, malformed response).
    #[error("request failed")]
    RequestFailed,
}

impl VerifyOutcome {
    fn failed(failure: Failure, latency_ms: u64) -> VerifyOutcome {
        VerifyOutcome {
            ok: false,
            reason: failure.to_string(),
            latency_ms,
        }
    }
}

/// The timeout of a probe: its own, or the default, capped at [`MAX_TIMEOUT_MS`].
pub fn effective_timeout_ms(timeout_ms: Option<u64>) -> u64 {
    timeout_ms
        .unwrap_or(DEFAULT_TIMEOUT_MS)
        .clamp(1, MAX_TIMEOUT_MS)
}

/// The client settings for connection tests: no redirects, a fixed user agent.
fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("credledger-verify")
}

/// The HTTP client to pass to [`run`]: it does not follow redirects.
pub fn client() -> reqwest::Result<reqwest::Client> {
    client_builder().build()
}

/// Runs the probe of `spec` that applies to these values. Never fails: every problem is
/// an outcome with `ok = false`. Pass a client from [`client`] (or one that likewise
/// does not follow redirects); the client's own timeout, if any, also applies.
pub async fn run(
    spec: &VerifySpec,
    public: &BTreeMap<String, String>,
    secret: &BTreeMap<String, Zeroizing<String>>,
    client: &reqwest::Client,
) -> VerifyOutcome {
    let values = Values { public, secret };
    match spec.select(public) {
        None => VerifyOutcome::failed(Failure::NotApplicable, 0),
        Some(Probe::Http(p)) => http(p, &values, client).await,
        Some(Probe::Tcp(p)) => tcp(p, &values).await,
    }
}

fn millis_since(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The values placeholders are filled from.
struct Values<'a> {
    public: &'a BTreeMap<String, String>,
    secret: &'a BTreeMap<String, Zeroizing<String>>,
}

impl Values<'_> {
    /// Fills the placeholders of `template`. An absent or empty value is an error naming
    /// the field.
    fn render(&self, template: &str) -> Result<Zeroizing<String>, Failure> {
        let mut out = Zeroizing::new(String::with_capacity(template.len()));
        for seg in segments(template).map_err(|_| Failure::BadDefinition)? {
            match seg {
                Segment::Literal(s) => out.push_str(s),
                Segment::Field(name) => {
                    let value = self
                        .public
                        .get(name)
                        .map(String::as_str)
                        .or_else(|| self.secret.get(name).map(|s| s.as_str()))
                        .filter(|v| !v.is_empty())
                        .ok_or_else(|| Failure::MissingValue(name.to_string()))?;
                    out.push_str(value);
                }
            }
        }
        Ok(out)
    }

    /// A rendered header name and sensitive header value.
    fn header(&self, name: &str, value: &str) -> Result<(HeaderName, HeaderValue), Failure> {
        let name = HeaderName::from_bytes(self.render(name)?.as_bytes())
            .map_err(|_| Failure::InvalidHeaderName)?;
        Ok((name, sensitive_value(&self.render(value)?)?))
    }
}

fn sensitive_value(value: &str) -> Result<HeaderValue, Failure> {
    let mut v = HeaderValue::from_str(value).map_err(|_| Failure::InvalidHeaderValue)?;
    v.set_sensitive(true);
    Ok(v)
}

async fn http(p: &HttpProbe, values: &Values<'_>, client: &reqwest::Client) -> VerifyOutcome {
    let timeout_ms = effective_timeout_ms(p.timeout_ms);
    let own_client;
    let client = if p
        .skip_tls_verify_when
        .as_ref()
        .is_some_and(|c| c.holds(values.public))
    {
        own_client = match client_builder().danger_accept_invalid_certs(true).build() {
            Ok(c) => c,
            Err(_) => return VerifyOutcome::failed(Failure::ClientSetup, 0),
        };
        &own_client
    } else {
        client
    };
    let (request, https) = match build_request(p, values, client, timeout_ms) {
        Ok(r) => r,
        Err(f) => return VerifyOutcome::failed(f, 0),
    };
    let start = Instant::now();
    let result = tokio::time::timeout(Duration::from_millis(timeout_ms), request.send()).await;
    let latency_ms = millis_since(start);
    match result {
        Err(_) => VerifyOutcome::failed(Failure::Timeout(timeout_ms), latency_ms),
        Ok(Err(e)) => VerifyOutcome::failed(classify(&e, https, timeout_ms), latency_ms),
        Ok(Ok(response)) => {
            let status = response.status().as_u16();
            let ok = p.expect_status.contains(&status);
            let reason = if ok {
                format!("HTTP {status}")
            } else {
                let expected: Vec<String> = p.expect_status.iter().map(u16::to_string).collect();
                match expected.as_slice() {
                    [one] => format!("HTTP {status} (expected {one})"),
                    _ => format!("HTTP {status} (expected one of {})", expected.join(", ")),
                }
            };
            VerifyOutcome {
                ok,
                reason,
                latency_ms,
            }
        }
    }
}

/// The request of an HTTP probe, and whether it goes over TLS.
fn build_request(
    p: &HttpProbe,
    values: &Values<'_>,
    client: &reqwest::Client,
    timeout_ms: u64,
) -> Result<(reqwest::RequestBuilder, bool), Failure> {
    let url = reqwest::Url::parse(&values.render(&p.url)?).map_err(|_| Failure::InvalidUrl)?;
    let https = match url.scheme() {
        "https" => true,
        "http" => false,
        _ => return Err(Failure::InvalidUrl),
    };
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Failure::InvalidUrl);
    }
    let method = match p.method {
        HttpMethod::Get => reqwest::Method::GET,
        HttpMethod::Head => reqwest::Method::HEAD,
        HttpMethod::Post => reqwest::Method::POST,
    };
    let mut request = client
        .request(method, url)
        .timeout(Duration::from_millis(timeout_ms));
    for (name, value) in &p.headers {
        let (name, value) = values.header(name, value)?;
        request = request.header(name, value);
    }
    match &p.auth {
        None => {}
        Some(AuthPlacement::Bearer(token)) => {
            let token = values.render(token)?;
            let mut value = Zeroizing::new(String::with_capacity(token.len() + 7));
            value.push_str("Bearer ");
            value.push_str(&token);
            request = request.header(AUTHORIZATION, sensitive_value(&value)?);
        }
        Some(AuthPlacement::Header { name, value }) => {
            let (name, value) = values.header(name, value)?;
            request = request.header(name, value);
        }
        Some(AuthPlacement::Basic { username, password }) => {
            let (username, password) = (values.render(username)?, values.render(password)?);
            request = request.basic_auth(username.as_str(), Some(password.as_str()));
        }
        Some(AuthPlacement::Query { name, value }) => {
            let (name, value) = (values.render(name)?, values.render(value)?);
            request = request.query(&[(name.as_str(), value.as_str())]);
        }
    }
    if !p.form.is_empty() {
        let mut form = Vec::with_capacity(p.form.len());
        for (name, value) in &p.form {
            form.push((values.render(name)?, values.render(value)?));
        }
        let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        request = request.form(&pairs);
    }
    Ok((request, https))
}

/// Maps a client error to a failure kind by inspecting its source chain. The error's
/// text is never used as a reason: it may contain the URL.
fn classify(e: &reqwest::Error, https: bool, timeout_ms: u64) -> Failure {
    if e.is_timeout() {
        return Failure::Timeout(timeout_ms);
    }
    if e.is_builder() {
        return Failure::InvalidUrl;
    }
    let mut dns = false;
    let mut tcp = false;
    let mut refused = false;
    let mut source = e.source();
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            refused |= io.kind() == io::ErrorKind::ConnectionRefused;
        }
        // The HTTP connector's own error kinds; only compared, never shown.
        match err.to_string().as_str() {
            "dns error" => dns = true,
            "tcp connect error" => tcp = true,
            _ => {}
        }
        source = err.source();
    }
    if dns {
        Failure::Dns
    } else if refused {
        Failure::Refused
    } else if e.is_connect() {
        if https && !tcp {
            Failure::Tls
        } else {
            Failure::ConnectFailed
        }
    } else {
        Failure::RequestFailed
    }
}

async fn tcp(p: &TcpProbe, values: &Values<'_>) -> VerifyOutcome {
    let timeout_ms = effective_timeout_ms(p.timeout_ms);
    let target = values.render(&p.host).and_then(|host| {
        let port = values.render(&p.port)?;
        let port: u16 = port.trim().parse().map_err(|_| Failure::InvalidPort)?;
        Ok((host, port))
    });
    let (host, port) = match target {
        Ok(t) => t,
        Err(f) => return VerifyOutcome::failed(f, 0),
    };
    let start = Instant::now();
    let attempt = async {
        let addrs: Vec<_> = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|_| Failure::Dns)?
            .collect();
        let mut failure = Failure::Dns;
        for addr in addrs {
            match tokio::net::TcpStream::connect(addr).await {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    failure = Failure::Refused
                }
                Err(_) => failure = Failure::ConnectFailed,
            }
        }
        Err(failure)
    };
    let result = tokio::time::timeout(Duration::from_millis(timeout_ms), attempt).await;
    let latency_ms = millis_since(start);
    match result {
        Ok(Ok(())) => VerifyOutcome {
            ok: true,
            reason: "TCP connect ok".into(),
            latency_ms,
        },
        Ok(Err(f)) => VerifyOutcome::failed(f, latency_ms),
        Err(_) => VerifyOutcome::failed(Failure::Timeout(timeout_ms), latency_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::{Catalog, Template};
    use base64::Engine as _;
    use serde_json::{json, Value};
    use std::net::SocketAddr;
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
            let response = format!(
                "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n{extra}\r\n"
            );
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
        assert!((250..5_000).contains(&out.latency_ms), "{out:?}");
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
            builtin("ssh"),
            json!({"host": "127.0.0.1", "port": port, "username": "root", "private_key": SECRET}),
        )
        .await;
        assert_eq!((out.ok, out.reason.as_str()), (true, "TCP connect ok"));
        drop(listener);
        let out = verify(
            builtin("postgres"),
            json!({"host": "127.0.0.1", "port": port.to_string(), "database": "d", "username": "u", "password": SECRET}),
        )
        .await;
        assert_eq!((out.ok, out.reason.as_str()), (false, "connection refused"));
        let out = verify(
            builtin("ssh"),
            json!({"host": "127.0.0.1", "port": "99999", "username": "root", "auth_method": "password", "password": SECRET}),
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
            builtin("ssh"),
            json!({"host": "credledger-test.invalid", "username": "root", "private_key": SECRET}),
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
}
