//! The `gcp_token` probe: Google's service-account flow (RFC 7523). A JWT assertion
//! (`iss` = the key's `client_email`, `scope`, `aud` = the token endpoint it is sent to,
//! `iat`/`exp` one hour apart), RS256-signed by `jsonwebtoken` with the key's
//! `private_key`, is POSTed with the JWT-bearer grant. It passes on HTTP 200 with an
//! `access_token`, which is dropped unread.
//!
//! **Invariants:** the key is parsed into zeroized strings and never shown (a parse
//! error names the field only); the audience is the URL the assertion goes to, so an
//! assertion sent to an overridden endpoint is not valid at Google's; an OAuth error
//! code enters the reason only if it is one of [`OAUTH_ERROR_CODES`].

use super::http::{parse_url, send_and_read};
use super::outcome::{known_code, Failure};
use super::values::{field_name, Values};
use super::{timed, VerifyOutcome};
use crate::template::{GcpTokenProbe, GCP_DEFAULT_SCOPE};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use zeroize::Zeroizing;

/// Google's token endpoint, when neither the probe nor the key names one.
pub(super) const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// The grant type of a JWT assertion.
pub(super) const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// The OAuth 2.0 error codes (RFC 6749 §5.2) a reason may name.
pub(super) const OAUTH_ERROR_CODES: &[&str] = &[
    "access_denied",
    "invalid_client",
    "invalid_grant",
    "invalid_request",
    "invalid_scope",
    "unauthorized_client",
    "unsupported_grant_type",
];

/// How long the assertion is valid (Google's maximum).
const LIFETIME_SECS: u64 = 3600;

const MAX_BODY: usize = 64 * 1024;

/// The parts of a service-account key file the flow needs.
#[derive(Deserialize)]
struct Key {
    #[serde(rename = "type")]
    kind: Option<Zeroizing<String>>,
    client_email: Option<Zeroizing<String>>,
    private_key: Option<Zeroizing<String>>,
    private_key_id: Option<Zeroizing<String>>,
    token_uri: Option<Zeroizing<String>>,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<Zeroizing<String>>,
    error: Option<String>,
}

pub(super) async fn run(
    p: &GcpTokenProbe,
    values: &Values<'_>,
    client: &reqwest::Client,
    timeout_ms: u64,
) -> VerifyOutcome {
    let (request, https) = match token_request(p, values, client, SystemTime::now()) {
        Ok(r) => r,
        Err(f) => return VerifyOutcome::failed(f, 0),
    };
    let request = request.timeout(Duration::from_millis(timeout_ms));
    timed(timeout_ms, async {
        let (status, body) = send_and_read(request, https, timeout_ms, MAX_BODY).await?;
        let answer: Option<TokenAnswer> = serde_json::from_slice(&body).ok();
        if status != 200 {
            let code = answer
                .as_ref()
                .and_then(|a| a.error.as_deref())
                .and_then(|c| known_code(c, OAUTH_ERROR_CODES));
            return Err(Failure::Status {
                status,
                expected: 200,
                code,
            });
        }
        match answer.and_then(|a| a.access_token) {
            Some(t) if !t.is_empty() => Ok("HTTP 200 (access token issued)".to_string()),
            _ => Err(Failure::UnexpectedBody(status)),
        }
    })
    .await
}

/// The token request, signed as of `now`, and whether it goes over TLS.
pub(super) fn token_request(
    p: &GcpTokenProbe,
    values: &Values<'_>,
    client: &reqwest::Client,
    now: SystemTime,
) -> Result<(reqwest::RequestBuilder, bool), Failure> {
    let text = values.render(&p.key)?;
    let invalid = |expected| Failure::InvalidValue {
        field: field_name(&p.key, "key"),
        expected,
    };
    let key: Key =
        serde_json::from_str(&text).map_err(|_| invalid("a service account key (JSON)"))?;
    if key.kind.as_deref().map(String::as_str) != Some("service_account") {
        return Err(invalid("a service account key (type service_account)"));
    }
    let email = key
        .client_email
        .filter(|e| !e.is_empty())
        .ok_or_else(|| invalid("a service account key (client_email missing)"))?;
    let pem = key
        .private_key
        .filter(|k| !k.is_empty())
        .ok_or_else(|| invalid("a service account key (private_key missing)"))?;
    let signing_key = EncodingKey::from_rsa_pem(pem.as_bytes())
        .map_err(|_| invalid("a service account key (private_key is not an RSA key)"))?;

    let token_uri = match values.render_optional(p.token_uri.as_deref())? {
        Some(u) => u.trim().to_string(),
        None => key
            .token_uri
            .as_deref()
            .map(|u| u.trim().to_string())
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| DEFAULT_TOKEN_URI.to_string()),
    };
    let (url, https) = parse_url(&token_uri)?;
    let scope = values
        .render_optional(p.scope.as_deref())?
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| GCP_DEFAULT_SCOPE.to_string());

    let iat = now
        .duration_since(UNIX_EPOCH)
        .map_err(|_| Failure::Signing)?
        .as_secs();
    let claims = Claims {
        iss: &email,
        scope: &scope,
        aud: url.as_str(),
        iat,
        exp: iat + LIFETIME_SECS,
    };
    let mut header = Header::new(Algorithm::RS256);
    header.kid = key.private_key_id.as_ref().map(|k| k.to_string());
    let assertion = Zeroizing::new(
        jsonwebtoken::encode(&header, &claims, &signing_key).map_err(|_| Failure::Signing)?,
    );
    let request = client.post(url.clone()).form(&[
        ("grant_type", JWT_BEARER),
        ("assertion", assertion.as_str()),
    ]);
    Ok((request, https))
}
