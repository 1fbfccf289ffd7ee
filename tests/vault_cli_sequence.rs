//! The exact HTTP requests of the real `vault` CLI's `kv` commands, replayed against the
//! in-process server on a loopback port, and the shape of each answer checked as the CLI
//! reads it. (The `vault` binary is not available to the tests; the sequences come from
//! Vault's source, cited at each step.)
//!
//! Every `vault kv …` command first runs `kvPreflightVersionRequest`
//! (hashicorp/vault `command/kv_helpers.go`): `GET /v1/sys/mounts-all/<mount>/<path>`
//! (older CLIs: `GET /v1/sys/internal/ui/mounts/<mount>/<path>`), and reads `data.path`
//! (the mount with its trailing `/`) and `data.options.version` (`"2"`; anything else,
//! or a 404, makes the CLI fall back to KV v1). Then it calls the data path that
//! `addPrefixToKVPath(path, mountPath, "data"|"metadata"|"delete"|…)` builds, with the
//! bodies below. `Logical().Write` is a `PUT`; `Logical().List` is a `GET` with
//! `?list=true` (`api/logical.go`); `JSONMergePatch` is a `PATCH` with
//! `Content-Type: application/merge-patch+json`; flags such as `-versions=1` are
//! `StringSliceVar`s, sent as JSON strings (`{"versions":["1"]}`,
//! `kvParseVersionsFlags`).

use credledger::api;
use credledger::ledger::{Config, Ledger};
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;

struct Cli {
    _dir: tempfile::TempDir,
    url: String,
    token: String,
    http: reqwest::Client,
}

async fn server() -> Cli {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let (ledger, boot) =
        tokio::task::spawn_blocking(move || Ledger::open(Config::new(path)).unwrap())
            .await
            .unwrap();
    let ledger = Arc::new(ledger);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(api::serve(listener, ledger, std::future::pending::<()>()));
    Cli {
        _dir: dir,
        url,
        token: boot.unwrap().token.expose().to_string(),
        http: reqwest::Client::new(),
    }
}

impl Cli {
    /// One request as the CLI's API client sends it (`X-Vault-Token`, JSON body).
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(
                Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{}/v1/{path}", self.url),
            )
            .header("X-Vault-Token", &self.token)
            .header("X-Vault-Request", "true");
        if method == "PATCH" {
            req = req.header("Content-Type", "application/merge-patch+json");
        }
        if let Some(b) = body {
            req = req.body(b.to_string());
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: not JSON: {text}"))
        };
        (status, v)
    }

    /// `kvPreflightVersionRequest`: both variants must say "secret/, version 2".
    async fn preflight(&self, path: &str) {
        for prefix in ["sys/mounts-all", "sys/internal/ui/mounts"] {
            let (status, v) = self.call("GET", &format!("{prefix}/{path}"), None).await;
            assert_eq!(status, 200, "{prefix}: {v}");
            assert_eq!(v["data"]["path"], "secret/", "{v}");
            assert_eq!(v["data"]["type"], "kv", "{v}");
            assert_eq!(v["data"]["options"]["version"], "2", "{v}");
        }
    }
}

fn assert_version_metadata(v: &Value, version: u64) {
    let m = &v["data"];
    assert_eq!(m["version"], version, "{v}");
    assert!(
        m["created_time"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{v}"
    );
    assert_eq!(m["deletion_time"], "", "{v}");
    assert_eq!(m["destroyed"], false, "{v}");
}

#[tokio::test]
async fn the_vault_cli_kv_commands_in_order() {
    let c = server().await;

    // `vault kv put secret/app/db password=pw-1 port=5432` (command/kv_put.go): K=V
    // arguments are strings; the body is {"data":{...},"options":{}} (plus "cas" with
    // -cas), written with PUT to the data path.
    c.preflight("secret/app/db").await;
    let (s, v) = c
        .call(
            "PUT",
            "secret/data/app/db",
            Some(json!({"data": {"password": "pw-cli-1", "port": "5432"}, "options": {}})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_version_metadata(&v, 1);
    // `vault kv put -cas=1 …`: the CLI sends the flag as a number.
    let (s, v) = c
        .call(
            "PUT",
            "secret/data/app/db",
            Some(json!({"data": {"password": "pw-cli-2", "port": "5432"}, "options": {"cas": 1}})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_version_metadata(&v, 2);

    // `vault kv get secret/app/db` and `-version=1` (command/kv_get.go, kvReadRequest):
    // GET on the data path with the version as a query parameter.
    c.preflight("secret/app/db").await;
    let (s, v) = c.call("GET", "secret/data/app/db", None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["data"]["data"],
        json!({"password": "pw-cli-2", "port": "5432"})
    );
    assert_eq!(v["data"]["metadata"]["version"], 2);
    let (s, v) = c.call("GET", "secret/data/app/db?version=1", None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["data"]["password"], "pw-cli-1");

    // `vault kv patch secret/app/db port=5433` (command/kv_patch.go, mergePatch): PATCH
    // with {"data":{...},"options":{}}; `-remove-data=k` sends k: null.
    c.preflight("secret/app/db").await;
    let (s, v) = c
        .call(
            "PATCH",
            "secret/data/app/db",
            Some(json!({"data": {"port": "5433", "extra": null}, "options": {}})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_version_metadata(&v, 3);
    // `vault kv patch -method=rw` (readThenWrite): a read, then a PUT with the whole data
    // and "cas" set to the version read (a JSON number from the metadata).
    let (_, read) = c.call("GET", "secret/data/app/db", None).await;
    let mut data = read["data"]["data"].clone();
    data["user"] = json!("svc");
    let (s, v) = c
        .call(
            "PUT",
            "secret/data/app/db",
            Some(json!({"data": data, "options": {"cas": read["data"]["metadata"]["version"]}})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_version_metadata(&v, 4);

    // `vault kv metadata get secret/app/db` (command/kv_metadata_get.go).
    c.preflight("secret/app/db").await;
    let (s, v) = c.call("GET", "secret/metadata/app/db", None).await;
    assert_eq!(s, 200, "{v}");
    let m = &v["data"];
    assert_eq!(m["current_version"], 4, "{v}");
    assert_eq!(m["oldest_version"], 1, "{v}");
    assert_eq!(m["max_versions"], 0, "{v}");
    assert_eq!(m["cas_required"], false, "{v}");
    assert_eq!(m["delete_version_after"], "0s", "{v}");
    assert_eq!(
        m["versions"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["1", "2", "3", "4"]
    );

    // `vault kv metadata put -max-versions=5 -cas-required=false -delete-version-after=30m`
    // (command/kv_metadata_put.go): PUT on the metadata path, the duration as its
    // `time.Duration.String()`.
    let (s, v) = c
        .call(
            "PUT",
            "secret/metadata/app/db",
            Some(
                json!({"max_versions": 5, "cas_required": false, "delete_version_after": "30m0s"}),
            ),
        )
        .await;
    assert_eq!(s, 204, "{v}");
    let (_, v) = c.call("GET", "secret/metadata/app/db", None).await;
    assert_eq!(
        (
            &v["data"]["max_versions"],
            &v["data"]["delete_version_after"]
        ),
        (&json!(5), &json!("30m0s"))
    );

    // `vault kv list secret/app` (command/kv_list.go, Logical().List): GET ?list=true on
    // the metadata path.
    c.preflight("secret/app").await;
    let (s, v) = c.call("GET", "secret/metadata/app?list=true", None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["keys"], json!(["db"]));
    let (s, v) = c.call("GET", "secret/metadata/?list=true", None).await;
    assert_eq!((s, &v["data"]["keys"]), (200, &json!(["app/"])));

    // `vault kv delete -versions=1 secret/app/db` (command/kv_delete.go, deleteVersions):
    // PUT on the delete path with the versions as strings.
    c.preflight("secret/app/db").await;
    let (s, v) = c
        .call(
            "PUT",
            "secret/delete/app/db",
            Some(json!({"versions": ["1"]})),
        )
        .await;
    assert_eq!(s, 204, "{v}");
    // `vault kv delete secret/app/db` (deleteLatest): DELETE on the data path.
    let (s, _) = c.call("DELETE", "secret/data/app/db", None).await;
    assert_eq!(s, 204);
    // A read of the deleted latest version: 404 with the version's metadata and no data
    // (kvReadRequest keeps the secret when the 404 has data).
    let (s, v) = c.call("GET", "secret/data/app/db", None).await;
    assert_eq!(s, 404, "{v}");
    assert_eq!(v["data"]["data"], Value::Null, "{v}");
    assert_eq!(v["data"]["metadata"]["version"], 4, "{v}");
    assert_ne!(v["data"]["metadata"]["deletion_time"], "", "{v}");

    // `vault kv undelete -versions=4 secret/app/db` (command/kv_undelete.go).
    c.preflight("secret/app/db").await;
    let (s, _) = c
        .call(
            "PUT",
            "secret/undelete/app/db",
            Some(json!({"versions": ["4"]})),
        )
        .await;
    assert_eq!(s, 204);
    let (s, v) = c.call("GET", "secret/data/app/db", None).await;
    assert_eq!((s, &v["data"]["data"]["user"]), (200, &json!("svc")));

    // `vault kv destroy -versions=2 secret/app/db` (command/kv_destroy.go).
    c.preflight("secret/app/db").await;
    let (s, _) = c
        .call(
            "PUT",
            "secret/destroy/app/db",
            Some(json!({"versions": ["2"]})),
        )
        .await;
    assert_eq!(s, 204);
    let (_, v) = c.call("GET", "secret/metadata/app/db", None).await;
    assert_eq!(v["data"]["versions"]["2"]["destroyed"], true, "{v}");
    assert_ne!(v["data"]["versions"]["1"]["deletion_time"], "", "{v}");

    // `vault kv rollback -version=3 secret/app/db` (command/kv_rollback.go): the
    // metadata (current version, the target's state), the target version's data, then a
    // PUT of that data with "cas" = the current version.
    c.preflight("secret/app/db").await;
    let (_, meta) = c.call("GET", "secret/metadata/app/db", None).await;
    let current = meta["data"]["current_version"].clone();
    assert_eq!(meta["data"]["versions"]["3"]["destroyed"], false);
    let (s, v3) = c.call("GET", "secret/data/app/db?version=3", None).await;
    assert_eq!(s, 200, "{v3}");
    let (s, v) = c
        .call(
            "PUT",
            "secret/data/app/db",
            Some(json!({"data": v3["data"]["data"], "options": {"cas": current}})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_version_metadata(&v, 5);
    let (_, v) = c.call("GET", "secret/data/app/db", None).await;
    assert_eq!(v["data"]["data"], v3["data"]["data"]);

    // `vault kv metadata delete secret/app/db` (command/kv_metadata_delete.go): DELETE
    // on the metadata path; the path is gone.
    let (s, _) = c.call("DELETE", "secret/metadata/app/db", None).await;
    assert_eq!(s, 204);
    let (s, _) = c.call("GET", "secret/data/app/db", None).await;
    assert_eq!(s, 404);
    let (s, v) = c.call("GET", "secret/metadata/?list=true", None).await;
    assert_eq!(s, 404, "{v}");

    // `vault token lookup` and `vault login` (command/token_lookup.go, login.go):
    // auth/token/lookup-self.
    let (s, v) = c.call("GET", "auth/token/lookup-self", None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["policies"], json!(["admin"]), "{v}");
    assert_eq!(v["data"]["renewable"], false, "{v}");

    // A preflight for a path outside the mount is an error, not a KV v1 fallback.
    let (s, v) = c.call("GET", "sys/mounts-all/kv/app/db", None).await;
    assert_eq!(s, 400, "{v}");
    assert!(v["errors"][0].as_str().is_some(), "{v}");
}
