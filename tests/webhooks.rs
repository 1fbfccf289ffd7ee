//! Webhooks on the real server against a local receiver (an axum server on a loopback
//! port in this test): a failing scheduled connection test arrives signed (the HMAC is
//! recomputed here), a receiver that answers 503 at first gets retries until it takes
//! the payload, each outcome is a `webhook_delivered` event, no payload and no log line
//! holds a secret, bad input is refused with nothing written, a delete stops the
//! deliveries, and only admins configure webhooks.

mod served;

use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use served::api::Api;
use served::Served;
use sha2::Sha256;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CRED_SECRET: &str = "tok-webhook-cred-Xq4v";
const HOOK_SECRET: &str = "hook-secret-5c1f7e2a9b";

/// What a receiver got: (path, headers, raw body).
type Seen = Arc<Mutex<Vec<(String, HeaderMap, Vec<u8>)>>>;

struct Receiver {
    url: String,
    seen: Seen,
    /// Requests answered 503 before the receiver "comes up".
    fail_first: Arc<AtomicUsize>,
    _rt: tokio::runtime::Runtime,
}

fn receiver(fail_first: usize) -> Receiver {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let seen: Seen = Arc::default();
    let fail = Arc::new(AtomicUsize::new(fail_first));
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (s, f) = (seen.clone(), fail.clone());
    let app = axum::Router::new().fallback(
        move |uri: axum::http::Uri, headers: HeaderMap, body: axum::body::Bytes| {
            let (s, f) = (s.clone(), f.clone());
            async move {
                s.lock()
                    .unwrap()
                    .push((uri.path().to_string(), headers, body.to_vec()));
                if f.load(Ordering::SeqCst) > 0 {
                    f.fetch_sub(1, Ordering::SeqCst);
                    return StatusCode::SERVICE_UNAVAILABLE;
                }
                StatusCode::OK
            }
        },
    );
    rt.spawn(async move { axum::serve(listener, app).await });
    Receiver {
        url: format!("http://{addr}/hook/path-token-Qz7"),
        seen,
        fail_first: fail,
        _rt: rt,
    }
}

impl Api<'_> {
    fn hooks(&self) -> Vec<Value> {
        let (st, v) = self.call("GET", "/v1/webhooks", &self.s.admin, None);
        assert_eq!(st, 200, "{v}");
        v["webhooks"].as_array().cloned().unwrap()
    }

    fn log_len(&self) -> usize {
        self.audit("").len()
    }
}

fn wait_until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn hmac_hex(key: &[u8], body: &[u8]) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
    m.update(body);
    hex::encode(m.finalize().into_bytes())
}

#[test]
fn webhooks_deliver_signed_retry_record_and_stop() {
    let good = receiver(0);
    let flaky = receiver(2);
    let dir = tempfile::tempdir().unwrap();
    let s = Served::start(
        &dir.path().join("data"),
        &["--verify-every", "2s", "--webhook-allow-private"],
        &[],
    );
    let api = Api {
        s: &s,
        c: reqwest::blocking::Client::new(),
    };

    // A non-admin is refused every webhook endpoint.
    let (_, p) = api.call(
        "POST",
        "/v1/principals",
        &s.admin,
        Some(json!({"name": "ed", "kind": "user", "role": "editor"})),
    );
    let pid = p["id"].as_str().unwrap();
    let (_, t) = api.call(
        "POST",
        &format!("/v1/principals/{pid}/tokens"),
        &s.admin,
        None,
    );
    let editor = t["token"].as_str().unwrap().to_string();
    let (st, _) = api.call(
        "POST",
        "/v1/webhooks",
        &editor,
        Some(json!({"url": good.url, "events": ["verify_failed"]})),
    );
    assert_eq!(st, 403);
    assert_eq!(api.call("GET", "/v1/webhooks", &editor, None).0, 403);
    assert!(api.hooks().is_empty());

    // Bad input: 4xx and nothing written.
    let before = api.log_len();
    for (body, field) in [
        (
            json!({"url": "ftp://127.0.0.1/x", "events": ["verify_failed"]}),
            "url",
        ),
        (
            json!({"url": "not a url", "events": ["verify_failed"]}),
            "url",
        ),
        (
            json!({"url": good.url, "events": ["verify_exploded"]}),
            "events",
        ),
        (json!({"url": good.url, "events": []}), "events"),
        (
            json!({"url": good.url, "events": ["destroyed"], "secret": "short"}),
            "secret",
        ),
        (
            json!({"url": good.url, "events": ["destroyed"], "format": "xml"}),
            "format",
        ),
        (
            json!({"url": good.url, "events": ["expiring"], "expiring_within_days": 0}),
            "expiring_within_days",
        ),
        (
            json!({"url": good.url, "events": ["destroyed"], "colour": "red"}),
            "colour",
        ),
    ] {
        let (st, v) = api.call("POST", "/v1/webhooks", &s.admin, Some(body.clone()));
        assert!((400..500).contains(&st), "{body}: {st} {v}");
        assert!(v.to_string().contains(field), "{body}: {v}");
    }
    let huge = "a".repeat(3 << 20);
    // Its own client: the server answers 413 and closes the connection, which must not
    // be reused by the calls below.
    let resp = reqwest::blocking::Client::new()
        .post(format!("{}/v1/webhooks", s.addr))
        .bearer_auth(&s.admin)
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"url":"http://127.0.0.1/{huge}","events":["destroyed"]}}"#
        ))
        .send()
        .unwrap();
    assert!(resp.status().is_client_error(), "{}", resp.status());
    assert_eq!(api.log_len(), before, "refused input wrote nothing");
    assert!(api.hooks().is_empty());

    // Two webhooks: one with a given secret, one generated (shown once).
    let (st, v) = api.call(
        "POST",
        "/v1/webhooks",
        &s.admin,
        Some(json!({"url": good.url, "events": ["verify_failed", "destroyed"], "secret": HOOK_SECRET})),
    );
    assert_eq!(st, 201, "{v}");
    assert!(
        v.get("secret").is_none(),
        "a given secret is not echoed: {v}"
    );
    let good_id = v["id"].as_str().unwrap().to_string();
    let (st, v) = api.call(
        "POST",
        "/v1/webhooks",
        &s.admin,
        Some(json!({"url": flaky.url, "events": ["verify_failed"], "format": "slack"})),
    );
    assert_eq!(st, 201, "{v}");
    let flaky_secret = v["secret"].as_str().expect("generated secret").to_string();
    assert!(flaky_secret.len() >= 32);
    let flaky_id = v["id"].as_str().unwrap().to_string();
    let listed = api.hooks();
    assert_eq!(listed.len(), 2);
    let listed_text = serde_json::to_string(&listed).unwrap();
    for hidden in [HOOK_SECRET, flaky_secret.as_str(), "path-token-Qz7"] {
        assert!(
            !listed_text.contains(hidden),
            "the list shows {hidden}: {listed_text}"
        );
    }
    let audit_text = serde_json::to_string(&api.audit("action=webhook_created")).unwrap();
    for hidden in [HOOK_SECRET, flaky_secret.as_str(), "path-token-Qz7"] {
        assert!(!audit_text.contains(hidden), "the audit shows {hidden}");
    }

    // A credential whose connection test fails (a closed port), tested every 2 s.
    let (st, cred) = api.call(
        "POST",
        "/v1/credentials",
        &s.admin,
        Some(json!({"name": "hooked", "template": "bearer_token",
            "fields": {"url": "http://127.0.0.1:1/", "token": CRED_SECRET}})),
    );
    assert_eq!(st, 201, "{cred}");
    let cred_id = cred["id"].as_str().unwrap().to_string();

    // A signed `verify_failed` payload arrives; the HMAC checks out.
    let (path, headers, body) = wait_until("a signed payload", || {
        good.seen.lock().unwrap().first().cloned()
    });
    assert_eq!(path, "/hook/path-token-Qz7");
    let sig = headers["x-credledger-signature"].to_str().unwrap();
    assert_eq!(
        sig,
        format!("sha256={}", hmac_hex(HOOK_SECRET.as_bytes(), &body))
    );
    assert!(headers.contains_key("x-credledger-timestamp"));
    let payload: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(payload["event"], "verify_failed", "{payload}");
    assert_eq!(payload["credential"]["id"], cred_id.as_str());
    assert_eq!(
        payload["id"],
        headers["x-credledger-event-id"].to_str().unwrap()
    );
    let wrong = format!("sha256={}", hmac_hex(b"another key", &body));
    assert_ne!(sig, wrong, "the check can fail");

    // The receiver that was down (503 twice) got retries, then the payload; the
    // outcome is recorded once, with the attempts.
    let delivered = wait_until("the retried delivery recorded", || {
        api.audit("action=webhook_delivered")
            .into_iter()
            .find(|e| e["details"]["webhook"] == flaky_id.as_str() && e["details"]["ok"] == true)
    });
    assert!(
        delivered["details"]["attempts"].as_u64().unwrap() >= 3,
        "{delivered}"
    );
    assert_eq!(delivered["request_id"], "credledger-webhooks");
    assert!(delivered["actor"].is_null());
    assert_eq!(flaky.fail_first.load(Ordering::SeqCst), 0);
    let (_, fh, fb) = flaky.seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(
        fh["x-credledger-signature"].to_str().unwrap(),
        format!("sha256={}", hmac_hex(flaky_secret.as_bytes(), &fb))
    );
    let slack: Value = serde_json::from_slice(&fb).unwrap();
    assert!(
        slack["text"]
            .as_str()
            .unwrap()
            .contains("connection test failed"),
        "{slack}"
    );
    let ids: Vec<String> = flaky
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|(_, h, _)| h["x-credledger-event-id"].to_str().unwrap().to_string())
        .collect();
    assert_eq!(ids[0], ids[1], "a retry carries the same event id");

    // Delete stops deliveries: after the delete, more failing tests happen and the
    // receiver hears of none of them.
    let (st, _) = api.call("DELETE", &format!("/v1/webhooks/{good_id}"), &editor, None);
    assert_eq!(st, 403, "a non-admin may not delete");
    let (st, _) = api.call("DELETE", &format!("/v1/webhooks/{good_id}"), &s.admin, None);
    assert_eq!(st, 204);
    let deleted_at = api.audit("action=webhook_deleted")[0]["seq"]
        .as_u64()
        .unwrap();
    wait_until("two more scheduled tests", || {
        let later = api
            .audit(&format!("credential={cred_id}&action=verified"))
            .into_iter()
            .filter(|e| e["seq"].as_u64().unwrap() > deleted_at)
            .count();
        (later >= 2).then_some(())
    });
    std::thread::sleep(Duration::from_secs(2));
    let after: Vec<u64> = good
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(_, _, b)| serde_json::from_slice::<Value>(b).ok()?["seq"].as_u64())
        .filter(|seq| *seq > deleted_at)
        .collect();
    assert!(after.is_empty(), "delivered after the delete: {after:?}");
    let (st, _) = api.call("DELETE", &format!("/v1/webhooks/{good_id}"), &s.admin, None);
    assert_eq!(st, 404);

    // No secret in any payload or log line.
    for r in [&good, &flaky] {
        for (_, h, b) in r.seen.lock().unwrap().iter() {
            let text = format!("{h:?} {}", String::from_utf8_lossy(b));
            for secret in [CRED_SECRET, HOOK_SECRET, flaky_secret.as_str()] {
                assert!(!text.contains(secret), "a payload holds a secret: {text}");
            }
        }
    }
    s.assert_no_secret_logged(&[CRED_SECRET, HOOK_SECRET, &flaky_secret, "path-token-Qz7"]);
}

#[test]
fn private_addresses_are_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let s = Served::start(&dir.path().join("data"), &[], &[]);
    let api = Api {
        s: &s,
        c: reqwest::blocking::Client::new(),
    };
    let before = api.log_len();
    for url in [
        "http://127.0.0.1:9/x",
        "http://localhost/x",
        "http://10.1.2.3/",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/",
    ] {
        let (st, v) = api.call(
            "POST",
            "/v1/webhooks",
            &s.admin,
            Some(json!({"url": url, "events": ["destroyed"]})),
        );
        assert_eq!(st, 422, "{url}: {v}");
        assert!(v.to_string().contains("webhook-allow-private"), "{v}");
    }
    assert_eq!(api.log_len(), before);
    let (st, v) = api.call(
        "POST",
        "/v1/webhooks",
        &s.admin,
        Some(json!({"url": "https://hooks.example.com/x", "events": ["destroyed"]})),
    );
    assert_eq!(st, 201, "{v}");
}

/// A webhook's sealed URL and secret live in the key ring like a credential's data key:
/// a master-key rotation rewraps it and a restart keeps it (it is not an orphan), so
/// deliveries go on, still signed with the same secret.
#[test]
fn a_webhook_survives_master_key_rotation_and_restart() {
    let rx = receiver(0);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let args = ["--verify-every", "1s", "--webhook-allow-private"];
    let mut s = Served::start(&data, &args, &[]);
    let admin = s.admin.clone();
    let c = reqwest::blocking::Client::new();
    let post = |addr: &str, path: &str, body: Value| {
        let r = c
            .post(format!("{addr}{path}"))
            .bearer_auth(&admin)
            .json(&body)
            .send()
            .unwrap();
        (
            r.status().as_u16(),
            r.json::<Value>().unwrap_or(Value::Null),
        )
    };
    let (st, v) = post(
        &s.addr,
        "/v1/webhooks",
        json!({"url": rx.url, "events": ["verify_failed"], "secret": HOOK_SECRET}),
    );
    assert_eq!(st, 201, "{v}");
    let (st, v) = post(&s.addr, "/v1/admin/keys/rotate-master", json!({}));
    assert!(st == 200 || st == 201, "{st} {v}");
    s.terminate(Duration::from_secs(20));
    let s = Served::start(&data, &args, &[]);
    let before = rx.seen.lock().unwrap().len();
    let (st, v) = post(
        &s.addr,
        "/v1/credentials",
        json!({"name": "after-restart", "template": "bearer_token",
            "fields": {"url": "http://127.0.0.1:1/", "token": CRED_SECRET}}),
    );
    assert_eq!(st, 201, "{v}");
    let (_, h, b) = wait_until("a delivery after the restart", || {
        let seen = rx.seen.lock().unwrap();
        seen.get(before).cloned()
    });
    assert_eq!(
        h["x-credledger-signature"].to_str().unwrap(),
        format!("sha256={}", hmac_hex(HOOK_SECRET.as_bytes(), &b))
    );
    s.assert_no_secret_logged(&[CRED_SECRET, HOOK_SECRET]);
}
