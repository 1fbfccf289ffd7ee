//! Shared helpers for the API tests: a real ledger in a temp dir behind the real router,
//! a request helper, and a process-wide log capture to check that no secret is logged.

#![allow(dead_code)]

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use credledger::http::{app as router, AppState};
use credledger::ledger::{Config, Ledger};
use serde_json::Value;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use tower::ServiceExt;

static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs (once) a subscriber that records every log line at TRACE level (sled's below
/// warn excepted: see `src/cli/logging.rs` for the thread-local teardown abort they cause).
pub fn capture_logs() {
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = Capture(buf.clone());
        let _ = tracing_subscriber::fmt()
            .with_env_filter("trace,sled=warn")
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .try_init();
        buf
    });
}

/// Everything logged so far by any test in this binary.
pub fn logs() -> String {
    LOGS.get()
        .map(|b| String::from_utf8_lossy(&b.lock().unwrap()).to_string())
        .unwrap_or_default()
}

/// The ledger-core helpers (the whole-store dump among them), shared with these tests.
#[path = "../util/mod.rs"]
pub mod util;
pub use util::{open_ledger, StoreDump};

pub struct TestApp {
    pub dir: tempfile::TempDir,
    pub ledger: Arc<Ledger>,
    pub app: Router,
    pub admin: String,
    /// Every response body seen that is not a resolve answer.
    pub seen: Mutex<Vec<String>>,
}

impl TestApp {
    pub async fn new() -> TestApp {
        Self::with_config(|_| {}).await
    }

    pub async fn with_config(f: impl FnOnce(&mut Config) + Send + 'static) -> TestApp {
        capture_logs();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        let (ledger, boot) = tokio::task::spawn_blocking(move || {
            let mut config = Config::new(path);
            f(&mut config);
            open_ledger(config).unwrap()
        })
        .await
        .unwrap();
        let ledger = Arc::new(ledger);
        let admin = boot.unwrap().token.expose().to_string();
        let app = router(AppState {
            ledger: ledger.clone(),
        });
        TestApp {
            dir,
            ledger,
            app,
            admin,
            seen: Mutex::new(Vec::new()),
        }
    }

    /// Sends a request; returns the status and the JSON body (Null when empty or not JSON).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let (status, text) = self
            .call_raw(
                method,
                path,
                token,
                body.map(|b| b.to_string()),
                "application/json",
            )
            .await;
        let v = serde_json::from_str(&text).unwrap_or(Value::Null);
        if !path.ends_with("/resolve") {
            self.seen.lock().unwrap().push(text);
        }
        (status, v)
    }

    pub async fn call_raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<String>,
        content_type: &str,
    ) -> (StatusCode, String) {
        let mut req = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req
                .header("content-type", content_type)
                .body(Body::from(b))
                .unwrap(),
            None => req.body(Body::empty()).unwrap(),
        };
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&bytes).to_string())
    }

    /// Sends a request as if from `remote` (the connection's address); returns the
    /// status, the response headers and the body text.
    pub async fn call_from(
        &self,
        remote: Option<std::net::SocketAddr>,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, axum::http::HeaderMap, String) {
        let mut req = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let mut req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(Body::from(b.to_string()))
                .unwrap(),
            None => req.body(Body::empty()).unwrap(),
        };
        if let Some(addr) = remote {
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(addr));
        }
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&bytes).to_string();
        if !path.ends_with("/resolve") && !path.contains("/data/") {
            self.seen.lock().unwrap().push(text.clone());
        }
        (status, headers, text)
    }

    /// Number of events in the log.
    pub fn events(&self) -> u64 {
        self.ledger.store().next_seq().unwrap()
    }

    /// The whole store: log, key ring, projections, checkpoints and metadata ("writes
    /// nothing" means this is unchanged).
    pub fn store_dump(&self) -> StoreDump {
        util::store_dump(self.ledger.store())
    }

    /// Creates a principal with a role and returns (id, token).
    pub async fn principal(&self, name: &str, kind: &str, role: &str) -> (String, String) {
        let (s, v) = self
            .call(
                "POST",
                "/v1/principals",
                Some(&self.admin),
                Some(serde_json::json!({"name": name, "kind": kind, "role": role})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let id = v["id"].as_str().unwrap().to_string();
        let (s, t) = self
            .call(
                "POST",
                &format!("/v1/principals/{id}/tokens"),
                Some(&self.admin),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{t}");
        (id, t["token"].as_str().unwrap().to_string())
    }

    /// Asserts that no response body seen so far and no log line contains `secret`.
    pub fn assert_never_leaked(&self, secret: &str) {
        for body in self.seen.lock().unwrap().iter() {
            assert!(
                !body.contains(secret),
                "a non-resolve response contained a secret: {body}"
            );
        }
        assert!(!logs().contains(secret), "the logs contain a secret");
    }
}
