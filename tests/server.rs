//! The server on a real loopback socket: connection tests against a local service,
//! graceful shutdown of the library server and of the real binary on SIGTERM.

mod served;
mod support;

use axum::http::StatusCode;
use credledger::api;
use credledger::ledger::Config;
use serde_json::{json, Value};
use std::sync::Arc;
use support::TestApp;

/// A stand-in for the OpenAI API: `GET /models` answers 200 only to the right bearer.
async fn fake_openai(expected: &'static str) -> String {
    let app = axum::Router::new().route(
        "/models",
        axum::routing::get(move |headers: axum::http::HeaderMap| async move {
            let ok = headers.get("authorization").and_then(|v| v.to_str().ok())
                == Some(&format!("Bearer {expected}"));
            if ok {
                (StatusCode::OK, "{}")
            } else {
                (StatusCode::UNAUTHORIZED, "{}")
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test]
async fn verify_runs_the_templates_connection_test_and_records_it() {
    let app = TestApp::new().await;
    let admin = app.admin.clone();
    let base = fake_openai("sk-good-Vf7q2").await;
    let (s, c) = app.call("POST", "/v1/credentials", Some(&admin), Some(json!({"name": "o", "template": "openai", "fields": {"api_key": "sk-good-Vf7q2", "base_url": base}}))).await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let id = c["id"].as_str().unwrap().to_string();
    let (s, v) = app
        .call(
            "POST",
            &format!("/v1/credentials/{id}/verify"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(
        (s, v["ok"].as_bool(), v["reason"].as_str()),
        (StatusCode::OK, Some(true), Some("HTTP 200")),
        "{v}"
    );

    let (_, _) = app
        .call(
            "POST",
            &format!("/v1/credentials/{id}/rotate"),
            Some(&admin),
            Some(json!({"fields": {"api_key": "sk-bad-Qw3e"}})),
        )
        .await;
    let (_, v) = app
        .call(
            "POST",
            &format!("/v1/credentials/{id}/verify"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(v["ok"].as_bool(), Some(false), "{v}");
    assert!(v["reason"].as_str().unwrap().contains("401"), "{v}");

    let (_, meta) = app
        .call("GET", &format!("/v1/credentials/{id}"), Some(&admin), None)
        .await;
    assert_eq!(
        (
            meta["last_verified"]["ok"].as_bool(),
            meta["last_verified"]["version"].as_u64()
        ),
        (Some(false), Some(2))
    );
    let (_, page) = app
        .call(
            "GET",
            &format!("/v1/audit?credential={id}"),
            Some(&admin),
            None,
        )
        .await;
    let rows: Vec<(String, String)> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want = [
        ("created", "ok"),
        ("used", "ok"),
        ("verified", "ok"),
        ("rotated", "ok"),
        ("used", "ok"),
        ("verified", "failed"),
    ];
    assert_eq!(rows, want.map(|(a, b)| (a.to_string(), b.to_string())));
    // The use that precedes a connection test says so.
    assert_eq!(page["events"][1]["details"]["purpose"], "verify");
    app.assert_never_leaked("sk-good-Vf7q2");
    app.assert_never_leaked("sk-bad-Qw3e");
}

#[tokio::test]
async fn library_server_on_a_socket_shuts_down_without_losing_acknowledged_events() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let (ledger, boot) =
        tokio::task::spawn_blocking(move || support::open_ledger(Config::new(path)).unwrap())
            .await
            .unwrap();
    let token = boot.unwrap().token.expose().to_string();
    let ledger = Arc::new(ledger);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(api::serve(listener, ledger.clone(), async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let mut ids = Vec::new();
    for i in 0..20 {
        let r: Value = client
            .post(format!("http://{addr}/v1/credentials"))
            .bearer_auth(&token)
            .json(&json!({"name": format!("k{i}"), "template": "api_key", "fields": {"api_key": format!("v{i}")}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(r["id"].as_str().unwrap().to_string());
    }
    let r = client
        .post(format!("http://{addr}/v1/credentials/{}/resolve", ids[3]))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-request-id"));
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    drop(ledger);
    let path = dir.path().to_path_buf();
    let (reopened, boot) =
        tokio::task::spawn_blocking(move || support::open_ledger(Config::new(path)).unwrap())
            .await
            .unwrap();
    assert!(boot.is_none());
    let names = reopened.with_state(|s| s.credentials.len());
    assert_eq!(names, 20);
    let records = reopened
        .store()
        .records(0)
        .map(|r| r.map(|(s, v)| (s, v.to_vec())));
    assert!(credledger::replay::verify(records, None, |_| {}).ok());
}

#[test]
fn binary_serves_and_exits_cleanly_on_sigterm() {
    use std::process::Command;
    let dir = tempfile::tempdir().unwrap();
    let mut server = served::Served::start(&dir.path().join("data"), &[], &[]);
    let token_file = dir.path().join("data.admin.token");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = reqwest::Client::new();
        let r = client
            .post(format!("{}/v1/credentials", server.addr))
            .bearer_auth(&server.admin)
            .json(&json!({"name": "k", "template": "api_key", "fields": {"api_key": "v-sigterm-Hq7"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
        let r = client
            .post(format!("{}/v1/credentials/{id}/resolve", server.addr))
            .bearer_auth(&server.admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    });
    let status = server
        .terminate(std::time::Duration::from_secs(30))
        .expect("SIGTERM ends the server");
    let log = server.log();
    assert!(status.success(), "{log}");
    assert!(log.contains("shut down cleanly"), "{log}");
    let admin = server.admin.clone();
    server.assert_no_secret_logged(&["v-sigterm-Hq7", &admin]);
    let verify = Command::new(env!("CARGO_BIN_EXE_credledger"))
        .args(["replay", "verify", "--json", "--data"])
        .arg(dir.path().join("data"))
        .args(
            served::store_args(&dir.path().join("data"), &[])
                .into_iter()
                .take(2),
        )
        .output()
        .unwrap();
    assert!(verify.status.success());
    let report: Value = serde_json::from_slice(&verify.stdout).unwrap();
    // Genesis, tenant, admin principal, admin token, the creation and the resolve.
    assert_eq!(report["verified"], 6, "{report}");
}
