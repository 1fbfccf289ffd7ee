//! The `vaultrs` crate (a real Vault KV v2 client) against the in-process server on a
//! loopback port: write, read, read a version, list, metadata, CAS conflict; plus the
//! raw HTTP corners clients rely on (merge patch, bad input writes nothing, the native
//! API sees the same credential).

use credledger::api;
use credledger::ledger::{Config, Ledger};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use vaultrs::api::kv2::requests::SetSecretRequestOptions;
use vaultrs::client::{VaultClient, VaultClientSettingsBuilder};
use vaultrs::error::ClientError;
use vaultrs::kv2;

struct Server {
    _dir: tempfile::TempDir,
    ledger: Arc<Ledger>,
    url: String,
    token: String,
}

async fn server() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let (ledger, boot) =
        tokio::task::spawn_blocking(move || Ledger::open(Config::new(path)).unwrap())
            .await
            .unwrap();
    let ledger = Arc::new(ledger);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(api::serve(
        listener,
        ledger.clone(),
        std::future::pending::<()>(),
    ));
    Server {
        _dir: dir,
        ledger,
        url,
        token: boot.unwrap().token.expose().to_string(),
    }
}

fn client(s: &Server, token: &str) -> VaultClient {
    VaultClient::new(
        VaultClientSettingsBuilder::default()
            .address(&s.url)
            .token(token)
            .build()
            .unwrap(),
    )
    .unwrap()
}

fn secret(v: &str) -> HashMap<String, String> {
    HashMap::from([("api_key".to_string(), v.to_string())])
}

#[tokio::test]
async fn vaultrs_writes_reads_lists_and_reads_versions() {
    let s = server().await;
    let c = client(&s, &s.token);
    let m = kv2::set(&c, "secret", "svc/openai", &secret("sk-vr-1"))
        .await
        .unwrap();
    assert_eq!(m.version, 1);
    let m = kv2::set(&c, "secret", "svc/openai", &secret("sk-vr-2"))
        .await
        .unwrap();
    assert_eq!(m.version, 2);
    kv2::set(&c, "secret", "svc/github", &secret("gh-vr-1"))
        .await
        .unwrap();

    let latest: HashMap<String, String> = kv2::read(&c, "secret", "svc/openai").await.unwrap();
    assert_eq!(latest["api_key"], "sk-vr-2");
    let v1: HashMap<String, String> = kv2::read_version(&c, "secret", "svc/openai", 1)
        .await
        .unwrap();
    assert_eq!(v1["api_key"], "sk-vr-1");
    assert_eq!(
        kv2::list(&c, "secret", "svc").await.unwrap(),
        vec!["github".to_string(), "openai".to_string()]
    );
    assert_eq!(
        kv2::list(&c, "secret", "").await.unwrap(),
        vec!["svc/".to_string()]
    );
    let meta = kv2::read_metadata(&c, "secret", "svc/openai")
        .await
        .unwrap();
    assert_eq!((meta.current_version, meta.versions.len()), (2, 2));

    // A stale check-and-set is Vault's 400, and nothing is written.
    let before = s.ledger.store().len().unwrap();
    let err = kv2::set_with_options(
        &c,
        "secret",
        "svc/openai",
        &secret("sk-vr-x"),
        SetSecretRequestOptions { cas: 1 },
    )
    .await
    .unwrap_err();
    match err {
        ClientError::APIError { code, errors } => {
            assert_eq!(code, 400);
            assert_eq!(
                errors,
                vec!["check-and-set parameter did not match the current version"]
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s.ledger.store().len().unwrap(), before);

    // Deleted versions are not readable; a wrong token is 403.
    kv2::delete_versions(&c, "secret", "svc/openai", vec![1])
        .await
        .unwrap();
    let err = kv2::read_version::<HashMap<String, String>>(&c, "secret", "svc/openai", 1)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::APIError { code: 404, .. }),
        "{err:?}"
    );
    let bad = client(&s, "clt_00000000000000000000000000000000_nope");
    let err = kv2::read::<HashMap<String, String>>(&bad, "secret", "svc/openai")
        .await
        .unwrap_err();
    match err {
        ClientError::APIError { code, errors } => {
            assert_eq!((code, errors), (403, vec!["permission denied".to_string()]))
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn merge_patch_bad_input_and_the_native_view() {
    let s = server().await;
    let http = reqwest::Client::new();
    let kv = |method: &str, path: &str| {
        http.request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            format!("{}/v1/secret/{path}", s.url),
        )
        .header("X-Vault-Token", &s.token)
    };
    let r = kv("POST", "data/db")
        .json(&json!({"data": {"user": "u-KvN1", "password": "pw-KvN1"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Bad input: a Vault 400 and no event.
    let before = s.ledger.store().len().unwrap();
    for body in [
        json!({"data": "pw-NotAnObject"}),
        json!({"data": {"": "pw-x"}}),
        json!({"data": ["pw-x"]}),
        json!({"options": {"cas": -1}, "data": {"password": "pw-x"}}),
        json!({"options": {"cas": "pw-x"}, "data": {"password": "pw-x"}}),
        json!({"nodata": true}),
    ] {
        let r = kv("POST", "data/db").json(&body).send().await.unwrap();
        assert_eq!(r.status(), 400, "{body}");
        let v: Value = r.json().await.unwrap();
        assert!(v["errors"][0].is_string(), "{v}");
        assert!(!v.to_string().contains("pw-"), "{v}");
    }
    let r = kv("POST", "delete/db")
        .json(&json!({"versions": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(s.ledger.store().len().unwrap(), before);

    // PATCH merges into the current version (null removes a key).
    let r = kv("PATCH", "data/db")
        .header("content-type", "application/merge-patch+json")
        .body(json!({"data": {"password": "pw-KvN2", "extra": "e-1"}}).to_string())
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["data"]["version"], 2, "{v}");
    let v: Value = kv("GET", "data/db")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["data"]["data"],
        json!({"user": "u-KvN1", "password": "pw-KvN2", "extra": "e-1"})
    );
    let r = kv("PATCH", "data/missing")
        .json(&json!({"data": {"a": "b"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // The native API sees the same credential (template custom, all fields secret).
    let v: Value = http
        .get(format!("{}/v1/credentials?name=db", s.url))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cred = &v["credentials"][0];
    assert_eq!(
        (cred["template"].as_str(), cred["version"].as_u64()),
        (Some("custom"), Some(2)),
        "{v}"
    );
    assert!(!v.to_string().contains("pw-KvN"));

    // Config round trip; other mounts are not served.
    let r = kv("POST", "config")
        .json(&json!({"max_versions": 3, "cas_required": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let v: Value = kv("GET", "config")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["data"],
        json!({"max_versions": 3, "cas_required": false, "delete_version_after": "0s"})
    );
    let r = http
        .get(format!("{}/v1/kv/data/db", s.url))
        .header("X-Vault-Token", &s.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
