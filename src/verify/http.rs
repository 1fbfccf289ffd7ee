//! The `http` probe: one request with the credential placed as the template says; it
//! passes when the status is expected. Also the client settings every HTTP-based probe
//! shares and the classification of client errors.
//!
//! **Invariant:** a client error's text is never used as a reason (it may contain the
//! URL); it is classified by its source chain.

use super::outcome::Failure;
use super::values::Values;
use super::{millis_since, VerifyOutcome};
use crate::template::{AuthPlacement, HttpMethod, HttpProbe};
use reqwest::header::{HeaderName, HeaderValue, AUTHORIZATION};
use std::error::Error as _;
use std::io;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// The client settings for connection tests: no redirects, a fixed user agent.
pub(super) fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("credledger-verify")
}

/// A header value marked sensitive (kept out of the client's own debug output).
pub(super) fn sensitive_value(value: &str) -> Result<HeaderValue, Failure> {
    let mut v = HeaderValue::from_str(value).map_err(|_| Failure::InvalidHeaderValue)?;
    v.set_sensitive(true);
    Ok(v)
}

/// A rendered URL that is http(s) with a host, and whether it is https.
pub(super) fn parse_url(url: &str) -> Result<(reqwest::Url, bool), Failure> {
    let url = reqwest::Url::parse(url).map_err(|_| Failure::InvalidUrl)?;
    let https = match url.scheme() {
        "https" => true,
        "http" => false,
        _ => return Err(Failure::InvalidUrl),
    };
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Failure::InvalidUrl);
    }
    Ok((url, https))
}

impl Values<'_> {
    /// A rendered header name and sensitive header value.
    fn header(&self, name: &str, value: &str) -> Result<(HeaderName, HeaderValue), Failure> {
        let name = HeaderName::from_bytes(self.render(name)?.as_bytes())
            .map_err(|_| Failure::InvalidHeaderName)?;
        Ok((name, sensitive_value(&self.render(value)?)?))
    }
}

pub(super) async fn run(
    p: &HttpProbe,
    values: &Values<'_>,
    client: &reqwest::Client,
    timeout_ms: u64,
) -> VerifyOutcome {
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
    let (url, https) = parse_url(&values.render(&p.url)?)?;
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
pub(super) fn classify(e: &reqwest::Error, https: bool, timeout_ms: u64) -> Failure {
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

/// Sends a prepared request of an HTTP-based probe (`aws_sts`, `gcp_token`) and reads at
/// most `max_body` bytes of the answer: the status and the body, or the failure kind.
pub(super) async fn send_and_read(
    request: reqwest::RequestBuilder,
    https: bool,
    timeout_ms: u64,
    max_body: usize,
) -> Result<(u16, Vec<u8>), Failure> {
    let mut response = request
        .send()
        .await
        .map_err(|e| classify(&e, https, timeout_ms))?;
    let status = response.status().as_u16();
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| classify(&e, https, timeout_ms))?
    {
        let room = max_body.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= max_body {
            break;
        }
    }
    Ok((status, body))
}
