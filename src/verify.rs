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
mod tests;
