//! Webhook delivery: the payload (JSON or Slack-compatible), its HMAC-SHA256 signature,
//! and the HTTP attempts with a timeout each and exponential backoff between them.
//!
//! Headers of every attempt: `X-Credledger-Signature: sha256=<hex HMAC-SHA256 of the raw
//! body under the webhook's secret>`, `X-Credledger-Timestamp` (Unix seconds, also in
//! the body as `at`), `X-Credledger-Event-Id` (the notification's id, the same on every
//! retry: receivers de-duplicate on it). A payload names credentials by id and name and
//! carries connection-test reasons (status codes and fixed error kinds); never a value.
//!
//! **Invariant:** the secret and the URL (which may carry a token) never reach a log
//! line, an error or a Debug output: [`Target`] redacts both.

use crate::event::WebhookFormat;
use crate::secret::SecretString;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::time::Duration;

/// Attempts per notification (the first and the retries).
pub const MAX_ATTEMPTS: u32 = 6;
/// The wait before the first retry; doubled after each.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The time one attempt may take (connect, send, answer).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a notification goes: the URL and the HMAC key, both secret.
pub struct Target {
    pub url: SecretString,
    pub secret: SecretString,
    pub format: WebhookFormat,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Target({}, url and secret redacted)",
            self.format.as_str()
        )
    }
}

/// What a notification says (ids, names and fixed texts only).
#[derive(Clone, Debug)]
pub struct Message {
    /// The notification id (`X-Credledger-Event-Id`).
    pub id: String,
    pub event: &'static str,
    pub at_ms: i64,
    pub tenant: String,
    pub webhook: String,
    /// `{"id","name","service","template","version"}` or null.
    pub credential: Value,
    pub trigger_seq: Option<u64>,
    pub due_at_ms: Option<i64>,
    pub reason: Option<String>,
}

fn rfc3339(ms: i64) -> String {
    crate::time::rfc3339(ms)
}

/// The raw body for `format`.
pub fn body(m: &Message, format: WebhookFormat) -> Vec<u8> {
    let v = match format {
        WebhookFormat::Json => json!({
            "id": m.id,
            "event": m.event,
            "at": rfc3339(m.at_ms),
            "tenant": m.tenant,
            "webhook": m.webhook,
            "credential": m.credential,
            "seq": m.trigger_seq,
            "due_at": m.due_at_ms.map(rfc3339),
            "reason": m.reason,
        }),
        WebhookFormat::Slack => json!({ "text": slack_text(m) }),
    };
    serde_json::to_vec(&v).expect("a JSON value always encodes")
}

fn slack_text(m: &Message) -> String {
    let name = m.credential["name"].as_str().unwrap_or("?");
    let id = m.credential["id"].as_str().unwrap_or("?");
    let what = match m.event {
        "verify_failed" => format!(
            "connection test failed for credential {name} ({id}): {}",
            m.reason.as_deref().unwrap_or("failed")
        ),
        "rotation_due" => format!("rotation of credential {name} ({id}) is due"),
        "rotation_overdue" => format!("rotation of credential {name} ({id}) is overdue"),
        "expiring" => format!(
            "credential {name} ({id}) expires at {}",
            m.due_at_ms.map(rfc3339).unwrap_or_default()
        ),
        "destroyed" => format!("credential {name} ({id}) was destroyed"),
        "access_denied_burst" => "a burst of failed authentications was recorded".to_string(),
        other => other.to_string(),
    };
    format!("credledger: {what} (tenant {}, event {})", m.tenant, m.id)
}

/// `sha256=<hex>` of `body` under `secret`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The outcome of every attempt at one notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub ok: bool,
    pub attempts: u32,
    /// The last HTTP status received.
    pub status: Option<u16>,
    /// Why the last attempt failed (a status or a fixed error kind; never the URL).
    pub error: String,
}

/// One attempt; `Ok(status)` when an answer came.
async fn attempt(
    http: &reqwest::Client,
    target: &Target,
    body: &[u8],
    m: &Message,
) -> Result<u16, String> {
    let resp = http
        .post(target.url.expose())
        .timeout(ATTEMPT_TIMEOUT)
        .header("content-type", "application/json")
        .header(
            "x-credledger-signature",
            signature(target.secret.expose().as_bytes(), body),
        )
        .header("x-credledger-timestamp", (m.at_ms / 1000).to_string())
        .header("x-credledger-event-id", &m.id)
        .body(body.to_vec())
        .send()
        .await
        // The error's text would name the URL: keep its kind only.
        .map_err(|e| {
            if e.is_timeout() {
                "timeout".to_string()
            } else if e.is_connect() {
                "connection failed".to_string()
            } else {
                "request failed".to_string()
            }
        })?;
    Ok(resp.status().as_u16())
}

/// Delivers `m` to `target`: up to [`MAX_ATTEMPTS`] attempts, [`FIRST_BACKOFF`] doubling
/// between them (at most [`MAX_BACKOFF`]), until a 2xx answer. A 4xx other than 408 and
/// 429 is final (the receiver refused this payload).
pub async fn deliver(http: &reqwest::Client, target: &Target, m: &Message) -> Outcome {
    let body = body(m, target.format);
    let mut wait = FIRST_BACKOFF;
    let mut last = Outcome {
        ok: false,
        attempts: 0,
        status: None,
        error: String::new(),
    };
    for n in 1..=MAX_ATTEMPTS {
        last.attempts = n;
        match attempt(http, target, &body, m).await {
            Ok(s) if (200..300).contains(&s) => {
                last.ok = true;
                last.status = Some(s);
                last.error.clear();
                return last;
            }
            Ok(s) => {
                last.status = Some(s);
                last.error = format!("HTTP {s}");
                if (400..500).contains(&s) && s != 408 && s != 429 {
                    return last;
                }
            }
            Err(e) => last.error = e,
        }
        if n < MAX_ATTEMPTS {
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(MAX_BACKOFF);
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_rfc4231_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn the_target_redacts_url_and_secret() {
        let t = Target {
            url: SecretString::new("https://hooks.example/T/B/tok-url".into()),
            secret: SecretString::new("whsec-xyz".into()),
            format: WebhookFormat::Slack,
        };
        let d = format!("{t:?}");
        assert!(!d.contains("tok-url") && !d.contains("whsec"), "{d}");
    }
}
