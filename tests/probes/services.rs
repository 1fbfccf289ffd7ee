//! The new HTTP-verified templates (vmware, docker, prometheus, grafana, langsmith) and
//! hyperv's TCP test, table-driven: each against a local stand-in of its service that
//! answers the success status only to the right credential, once with it and once
//! with a wrong one.

use super::{builtin, check, closed_port, expect};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use base64::Engine as _;
use serde_json::{json, Value};

const SECRET: &str = "SeKrEt-service-c90d";
const WRONG: &str = "SeKrEt-wrong-6b2e";

fn basic(user: &str, password: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {b64}")
}

/// The stand-in: each route wants one header value and answers its success status.
async fn services() -> String {
    let app =
        axum::Router::new().fallback(|method: Method, uri: Uri, headers: HeaderMap| async move {
            let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("");
            let (header, want, success) = match (method.as_str(), path_and_query) {
                ("POST", "/api/session") => (
                    "authorization",
                    basic("administrator@vsphere.local", SECRET),
                    StatusCode::CREATED,
                ),
                ("GET", "/v2/") => ("authorization", basic("ci", SECRET), StatusCode::OK),
                ("GET", "/token?service=registry.docker.io") => {
                    ("authorization", basic("hubuser", SECRET), StatusCode::OK)
                }
                ("GET", "/prom/api/v1/status/buildinfo") => {
                    ("authorization", format!("Bearer {SECRET}"), StatusCode::OK)
                }
                ("GET", "/prom-basic/api/v1/status/buildinfo") => {
                    ("authorization", basic("grafana", SECRET), StatusCode::OK)
                }
                ("GET", "/api/org") => {
                    ("authorization", format!("Bearer {SECRET}"), StatusCode::OK)
                }
                ("GET", "/api/v1/sessions?limit=1") => {
                    ("x-api-key", SECRET.to_string(), StatusCode::OK)
                }
                _ => return StatusCode::NOT_FOUND,
            };
            if headers.get(header).and_then(|v| v.to_str().ok()) == Some(want.as_str()) {
                success
            } else {
                StatusCode::UNAUTHORIZED
            }
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// Replaces every `SECRET` string in `fields` by `WRONG`.
fn with_wrong_secret(fields: &Value) -> Value {
    match fields {
        Value::String(s) if s == SECRET => json!(WRONG),
        Value::Object(o) => o
            .iter()
            .map(|(k, v)| (k.clone(), with_wrong_secret(v)))
            .collect(),
        other => other.clone(),
    }
}

#[tokio::test]
async fn new_templates_pass_with_the_right_credential_and_fail_with_a_wrong_one() {
    let base = services().await;
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "vmware",
            json!({"host": base, "username": "administrator@vsphere.local", "password": SECRET}),
            "HTTP 201",
            "HTTP 401 (expected one of 200, 201)",
        ),
        (
            "docker",
            json!({"url": base, "username": "ci", "password": SECRET}),
            "HTTP 200",
            "HTTP 401 (expected 200)",
        ),
        (
            "docker",
            json!({"registry_type": "docker_hub", "auth_url": format!("{base}/token?service=registry.docker.io"), "username": "hubuser", "password": SECRET}),
            "HTTP 200",
            "HTTP 401 (expected 200)",
        ),
        (
            "prometheus",
            json!({"url": format!("{base}/prom"), "token": SECRET}),
            "HTTP 200",
            "HTTP 401 (expected 200)",
        ),
        (
            "prometheus",
            json!({"url": format!("{base}/prom-basic"), "auth_method": "basic", "username": "grafana", "password": SECRET}),
            "HTTP 200",
            "HTTP 401 (expected 200)",
        ),
        (
            "grafana",
            json!({"url": base, "token": SECRET}),
            "HTTP 200",
            "HTTP 401 (expected 200)",
        ),
        (
            "langsmith",
            json!({"api_key": SECRET, "endpoint": base}),
            "HTTP 200",
            "HTTP 401 (expected 200)",
        ),
    ];
    for (name, fields, pass, fail) in cases {
        let t = builtin(name);
        assert!(
            t.verify.is_some(),
            "{name}: the checker accepted it with a test"
        );
        let out = check(t, fields.clone(), &[SECRET, WRONG]).await;
        assert_eq!(
            (out.ok, out.reason.as_str()),
            (true, pass),
            "{name}: {fields}"
        );
        let out = check(t, with_wrong_secret(&fields), &[SECRET, WRONG]).await;
        assert_eq!(
            (out.ok, out.reason.as_str()),
            (false, fail),
            "{name}: wrong secret"
        );
    }
    // Prometheus without authentication has nothing to verify.
    let out = check(
        builtin("prometheus"),
        json!({"url": base, "auth_method": "none"}),
        &[],
    )
    .await;
    expect(&out, false, "no connection test for this configuration");
}

#[tokio::test]
async fn hyperv_checks_that_winrm_accepts_connections() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let out = check(
        builtin("hyperv"),
        json!({"host": "127.0.0.1", "port": port, "username": "EXAMPLE\\admin", "password": SECRET}),
        &[SECRET],
    )
    .await;
    expect(&out, true, "TCP connect ok");
    let out = check(
        builtin("hyperv"),
        json!({"host": "127.0.0.1", "port": closed_port(), "username": "admin", "password": SECRET}),
        &[SECRET],
    )
    .await;
    expect(&out, false, "connection refused");
    drop(listener);
}
