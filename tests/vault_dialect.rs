//! The Vault dialect beyond the data path, through the in-process server on a loopback
//! port: typed KV values byte for byte (write, read, patch, versions, the native
//! resolve), the read-only `sys/` and `auth/token` endpoints, Vault's value parsing,
//! refused wrapping, namespaces, Vault-shaped 404s, and KV listing and metadata by the
//! resolve rule with every refusal recorded.

use credledger::api;
use credledger::ledger::{Config, Ledger};
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;

struct Server {
    _dir: tempfile::TempDir,
    ledger: Arc<Ledger>,
    url: String,
    admin: String,
    http: reqwest::Client,
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
        admin: boot.unwrap().token.expose().to_string(),
        http: reqwest::Client::new(),
    }
}

struct Answer {
    status: u16,
    text: String,
    headers: reqwest::header::HeaderMap,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
}

impl Server {
    async fn raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> Answer {
        let mut req = self.http.request(
            Method::from_bytes(method.as_bytes()).unwrap(),
            format!("{}/v1/{path}", self.url),
        );
        if let Some(t) = token {
            req = req.header("X-Vault-Token", t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        let r = req.send().await.unwrap();
        Answer {
            status: r.status().as_u16(),
            headers: r.headers().clone(),
            text: r.text().await.unwrap(),
        }
    }
    async fn vault(&self, method: &str, path: &str, body: Option<&str>) -> Answer {
        self.raw(
            method,
            path,
            Some(&self.admin),
            &[],
            body.map(str::to_string),
        )
        .await
    }
    async fn native(&self, method: &str, path: &str, token: &str, body: Value) -> Value {
        let r = self
            .http
            .request(
                Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{}/v1/{path}", self.url),
            )
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        r.json().await.unwrap_or(Value::Null)
    }
    async fn audit(&self) -> Vec<Value> {
        let r = self
            .http
            .get(format!("{}/v1/audit?limit=1000", self.url))
            .bearer_auth(&self.admin)
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        v["events"].as_array().unwrap().clone()
    }
}

/// The JSON text of `data.data` in a raw read answer, exactly as sent.
fn data_text(answer: &str) -> String {
    let v: Box<serde_json::value::RawValue> = serde_json::from_str::<
        std::collections::BTreeMap<String, Box<serde_json::value::RawValue>>,
    >(answer)
    .unwrap()
    .remove("data")
    .unwrap();
    let inner: std::collections::BTreeMap<String, Box<serde_json::value::RawValue>> =
        serde_json::from_str(v.get()).unwrap();
    inner["data"].get().to_string()
}

/// Typed data as a client writes it (whitespace, unsorted keys, exact number literals),
/// and the canonical text it must read back as.
const TYPED_IN: &str = r#"{"data": {"port": 5432, "ratio": 1.50, "big": 123456789012345678901234567890,
  "on": true, "none": null, "list": [1, "a", {"b": 2, "a": 1}],
  "obj": {"z": {"y": -0.5e-3}, "a": []}, ".dockerconfigjson": "{\"auths\":{}}", "pw": "pw-Typed-1"}}"#;
const TYPED_OUT: &str = r#"{".dockerconfigjson":"{\"auths\":{}}","big":123456789012345678901234567890,"list":[1,"a",{"a":1,"b":2}],"none":null,"obj":{"a":[],"z":{"y":-0.5e-3}},"on":true,"port":5432,"pw":"pw-Typed-1","ratio":1.50}"#;

#[tokio::test]
async fn typed_values_round_trip_byte_exact_through_write_read_patch_versions_and_native() {
    let s = server().await;
    let r = s.vault("POST", "secret/data/typed", Some(TYPED_IN)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = s.vault("GET", "secret/data/typed", None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(data_text(&r.text), TYPED_OUT);
    assert_eq!(
        r.headers.get("cache-control").and_then(|v| v.to_str().ok()),
        Some("no-store")
    );

    // Empty data is a version too.
    let r = s
        .vault("POST", "secret/data/typed", Some(r#"{"data":{}}"#))
        .await;
    assert_eq!((r.status, &r.json()["data"]["version"]), (200, &json!(2)));
    assert_eq!(
        data_text(&s.vault("GET", "secret/data/typed", None).await.text),
        "{}"
    );

    // Version 3 typed again, then a recursive merge patch (RFC 7396).
    s.vault("POST", "secret/data/typed", Some(TYPED_IN)).await;
    let patch = r#"{"data":{"obj":{"z":null,"n":1.0},"port":5433,"list":null,"pw":"pw-Typed-2"},"options":{}}"#;
    let r = s
        .raw(
            "PATCH",
            "secret/data/typed",
            Some(&s.admin),
            &[("content-type", "application/merge-patch+json")],
            Some(patch.into()),
        )
        .await;
    assert_eq!(
        (r.status, &r.json()["data"]["version"]),
        (200, &json!(4)),
        "{}",
        r.text
    );
    let r = s.vault("GET", "secret/data/typed", None).await;
    assert_eq!(
        data_text(&r.text),
        r#"{".dockerconfigjson":"{\"auths\":{}}","big":123456789012345678901234567890,"none":null,"obj":{"a":[],"n":1.0},"on":true,"port":5433,"pw":"pw-Typed-2","ratio":1.50}"#
    );
    // Older versions keep their bytes.
    let r = s.vault("GET", "secret/data/typed?version=3", None).await;
    assert_eq!(data_text(&r.text), TYPED_OUT);
    let r = s.vault("GET", "secret/data/typed?version=1", None).await;
    assert_eq!(data_text(&r.text), TYPED_OUT);

    // The native resolve shows the same fields with their JSON types, byte for byte.
    let list = s
        .native("GET", "credentials?name=typed", &s.admin, json!({}))
        .await;
    let id = list["credentials"][0]["id"].as_str().unwrap().to_string();
    let r = s
        .http
        .post(format!("{}/v1/credentials/{id}/resolve", s.url))
        .bearer_auth(&s.admin)
        .json(&json!({"version": 3}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let top: std::collections::BTreeMap<String, Box<serde_json::value::RawValue>> =
        serde_json::from_str(&r).unwrap();
    let fields: std::collections::BTreeMap<String, Box<serde_json::value::RawValue>> =
        serde_json::from_str(top["fields"].get()).unwrap();
    assert_eq!(fields["port"].get(), "5432");
    assert_eq!(fields["ratio"].get(), "1.50");
    assert_eq!(fields["big"].get(), "123456789012345678901234567890");
    assert_eq!(fields["on"].get(), "true");
    assert_eq!(fields["obj"].get(), r#"{"a":[],"z":{"y":-0.5e-3}}"#);
    assert_eq!(fields["pw"].get(), r#""pw-Typed-1""#);

    // Limits: an empty key, a key over 1024 bytes, a body over 256 KiB, a path over 128
    // bytes: Vault-shaped 4xx, nothing written.
    let before = s.ledger.store().len().unwrap();
    let long_key = format!(r#"{{"data":{{"{}":"x"}}}}"#, "k".repeat(1025));
    let huge = format!(r#"{{"data":{{"k":"{}"}}}}"#, "x".repeat(300 * 1024));
    for (path, body, status) in [
        ("secret/data/typed", r#"{"data":{"":"x"}}"#.to_string(), 400),
        ("secret/data/typed", long_key, 400),
        ("secret/data/typed", huge, 413),
        (
            &*format!("secret/data/{}", "p".repeat(129)),
            r#"{"data":{"a":"b"}}"#.to_string(),
            400,
        ),
    ] {
        let r = s.vault("POST", path, Some(&body)).await;
        assert_eq!(r.status, status, "{}", r.text);
        assert!(r.json()["errors"][0].is_string(), "{}", r.text);
    }
    assert_eq!(s.ledger.store().len().unwrap(), before);
}

#[tokio::test]
async fn system_endpoints_answer_in_vaults_shapes() {
    let s = server().await;
    // sys/health: no token needed; HEAD too; activecode is honoured; bad flags are 400.
    let r = s.raw("GET", "sys/health", None, &[], None).await;
    let v = r.json();
    assert_eq!(r.status, 200);
    for k in [
        "initialized",
        "sealed",
        "standby",
        "performance_standby",
        "replication_performance_mode",
        "replication_dr_mode",
        "server_time_utc",
        "version",
        "cluster_name",
        "cluster_id",
    ] {
        assert!(v.get(k).is_some(), "{k}: {v}");
    }
    assert_eq!(
        (&v["initialized"], &v["sealed"], &v["standby"]),
        (&json!(true), &json!(false), &json!(false))
    );
    let r = s.raw("HEAD", "sys/health", None, &[], None).await;
    assert_eq!((r.status, r.text.as_str()), (200, ""));
    let r = s
        .raw(
            "GET",
            "sys/health?standbyok=true&activecode=299",
            None,
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 299);
    let r = s
        .raw("GET", "sys/health?sealedcode=abc", None, &[], None)
        .await;
    assert_eq!(r.status, 400);
    let v = s
        .raw("GET", "sys/seal-status", None, &[], None)
        .await
        .json();
    assert_eq!(
        (&v["sealed"], &v["initialized"], &v["type"]),
        (&json!(false), &json!(true), &json!("shamir"))
    );
    assert_eq!(
        s.raw("GET", "sys/init", None, &[], None).await.json(),
        json!({"initialized": true})
    );

    // sys/mounts and tune: the KV mount as kv, version 2 (a token is needed).
    assert_eq!(
        s.raw("GET", "sys/mounts", None, &[], None).await.status,
        403
    );
    let v = s.vault("GET", "sys/mounts", None).await.json();
    assert_eq!(v["data"]["secret/"]["type"], "kv", "{v}");
    assert_eq!(v["data"]["secret/"]["options"]["version"], "2", "{v}");
    assert_eq!(v["secret/"]["type"], "kv", "{v}");
    let v = s.vault("GET", "sys/mounts/secret/tune", None).await.json();
    assert_eq!(v["data"]["options"]["version"], "2", "{v}");
    let v = s.vault("GET", "sys/internal/ui/mounts", None).await.json();
    assert_eq!(v["data"]["secret"]["secret/"]["type"], "kv", "{v}");

    // lookup-self (GET and POST) and renew-self.
    for m in ["GET", "POST"] {
        let r = s.vault(m, "auth/token/lookup-self", None).await;
        let v = r.json();
        assert_eq!(r.status, 200, "{v}");
        assert_eq!(v["data"]["id"], s.admin.as_str());
        assert_eq!(v["data"]["policies"], json!(["admin"]));
        assert_eq!(
            (&v["data"]["ttl"], &v["data"]["expire_time"]),
            (&json!(0), &Value::Null)
        );
        assert_eq!(v["data"]["renewable"], false);
        assert!(v["data"]["accessor"]
            .as_str()
            .is_some_and(|a| !a.is_empty()));
        assert_eq!(r.headers.get("cache-control").unwrap(), "no-store");
    }
    let r = s.vault("POST", "auth/token/renew-self", Some("{}")).await;
    assert_eq!(r.status, 400);
    assert!(r.text.contains("not renewable"), "{}", r.text);
    let r = s
        .raw(
            "GET",
            "auth/token/lookup-self",
            Some("clt_00000000000000000000000000000000_x"),
            &[],
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.json()),
        (403, json!({"errors": ["permission denied"]}))
    );

    // Everything else under sys/, auth/ and the mount: Vault-shaped 404/405 saying so.
    for (m, p, status) in [
        ("GET", "sys/leader", 404),
        ("POST", "sys/policies/acl/x", 404),
        ("POST", "auth/approle/login", 404),
        ("GET", "auth/token/lookup", 404),
        ("POST", "sys/mounts/kvv2", 405),
        ("GET", "secret/nothing-here", 404),
        ("DELETE", "sys/health", 405),
    ] {
        let r = s.vault(m, p, None).await;
        assert_eq!(r.status, status, "{m} {p}: {}", r.text);
        let v = r.json();
        assert!(v["errors"][0].is_string(), "{m} {p}: {v}");
        if status == 404 {
            assert!(r.text.contains("credledger does not offer"), "{}", r.text);
        }
    }
}

#[tokio::test]
async fn vault_parsing_wrapping_and_namespaces() {
    let s = server().await;
    s.vault(
        "POST",
        "secret/data/app/one",
        Some(r#"{"data":{"pw":"pw-Ns-1"}}"#),
    )
    .await;
    // ?list= takes what Go's ParseBool takes.
    for q in ["true", "True", "1", "t", "TRUE"] {
        let r = s
            .vault("GET", &format!("secret/metadata/app?list={q}"), None)
            .await;
        assert_eq!(
            (r.status, &r.json()["data"]["keys"]),
            (200, &json!(["one"])),
            "{q}"
        );
    }
    assert_eq!(
        s.vault("GET", "secret/metadata/app?list=maybe", None)
            .await
            .status,
        400
    );
    // Numbers as strings, booleans as ParseBool strings, cas as a string, versions lists.
    let r = s
        .vault(
            "POST",
            "secret/metadata/app/one",
            Some(r#"{"max_versions":"4","cas_required":"T","delete_version_after":"30m"}"#),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let v = s.vault("GET", "secret/metadata/app/one", None).await.json();
    assert_eq!(
        (
            &v["data"]["max_versions"],
            &v["data"]["cas_required"],
            &v["data"]["delete_version_after"]
        ),
        (&json!(4), &json!(true), &json!("30m0s"))
    );
    let r = s
        .vault(
            "POST",
            "secret/data/app/one",
            Some(r#"{"data":{"pw":"pw-Ns-2"}}"#),
        )
        .await;
    assert_eq!(r.status, 400, "cas required: {}", r.text);
    assert!(
        r.text.contains("check-and-set parameter required"),
        "{}",
        r.text
    );
    let r = s
        .vault(
            "POST",
            "secret/data/app/one",
            Some(r#"{"data":{"pw":"pw-Ns-2"},"options":{"cas":"1"}}"#),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = s
        .vault(
            "POST",
            "secret/data/app/one",
            Some(r#"{"data":{"pw":"pw-Ns-3"},"options":{"cas":-1}}"#),
        )
        .await;
    assert_eq!(
        r.json(),
        json!({"errors": ["check-and-set parameter did not match the current version"]})
    );
    let r = s
        .vault(
            "POST",
            "secret/delete/app/one",
            Some(r#"{"versions":"1,2"}"#),
        )
        .await;
    assert_eq!(r.status, 204);
    let v = s.vault("GET", "secret/metadata/app/one", None).await.json();
    assert_ne!(v["data"]["versions"]["2"]["deletion_time"], "");
    s.vault(
        "POST",
        "secret/undelete/app/one",
        Some(r#"{"versions":[2]}"#),
    )
    .await;

    // Wrapping is refused before anything is read: 400, and no `used` event.
    let used = |events: &[Value]| events.iter().filter(|e| e["action"] == "used").count();
    let before = used(&s.audit().await);
    let r = s
        .raw(
            "GET",
            "secret/data/app/one",
            Some(&s.admin),
            &[("X-Vault-Wrap-TTL", "60s")],
            None,
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(!r.text.contains("pw-Ns"), "{}", r.text);
    assert!(r.json()["errors"][0].as_str().unwrap().contains("wrapping"));
    assert_eq!(used(&s.audit().await), before);

    // Namespaces: none, empty or the tenant's own name work; another is a recorded 403.
    for ns in ["", "default", "Default/"] {
        let r = s
            .raw(
                "GET",
                "secret/data/app/one",
                Some(&s.admin),
                &[("X-Vault-Namespace", ns)],
                None,
            )
            .await;
        assert_eq!(r.status, 200, "{ns:?}: {}", r.text);
    }
    let r = s
        .raw(
            "GET",
            "secret/data/app/one",
            Some(&s.admin),
            &[("X-Vault-Namespace", "other-team")],
            None,
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let events = s.audit().await;
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "access_denied"
                && e["details"]["attempted"] == "vault_namespace"),
        "{events:?}"
    );
    assert_eq!(used(&events), before + 3);
}

#[tokio::test]
async fn listing_and_metadata_follow_the_resolve_rule() {
    let s = server().await;
    for p in ["team/granted", "team/hidden", "team/default"] {
        let r = s
            .vault(
                "POST",
                &format!("secret/data/{p}"),
                Some(r#"{"data":{"pw":"pw-Vis-1"}}"#),
            )
            .await;
        assert_eq!(r.status, 200);
    }
    let id_of = |list: &Value, name: &str| {
        list["credentials"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let list = s.native("GET", "credentials", &s.admin, json!({})).await;
    let (granted, default) = (id_of(&list, "team/granted"), id_of(&list, "team/default"));
    let svc = s
        .native(
            "POST",
            "principals",
            &s.admin,
            json!({"name": "svc-vis", "kind": "service", "role": "resolver"}),
        )
        .await;
    let svc = svc["id"].as_str().unwrap().to_string();
    let token = s
        .native(
            "POST",
            &format!("principals/{svc}/tokens"),
            &s.admin,
            json!({}),
        )
        .await;
    let token = token["token"].as_str().unwrap().to_string();
    s.native(
        "POST",
        &format!("credentials/{granted}/grants"),
        &s.admin,
        json!({"principal": svc}),
    )
    .await;
    s.native(
        "PATCH",
        &format!("credentials/{default}"),
        &s.admin,
        json!({"default": true}),
    )
    .await;
    let auditor = s
        .native(
            "POST",
            "principals",
            &s.admin,
            json!({"name": "aud-vis", "kind": "user", "role": "auditor"}),
        )
        .await;
    let auditor = auditor["id"].as_str().unwrap().to_string();
    let aud_token = s
        .native(
            "POST",
            &format!("principals/{auditor}/tokens"),
            &s.admin,
            json!({}),
        )
        .await;
    let aud_token = aud_token["token"].as_str().unwrap().to_string();

    // The resolver lists and sees the metadata of what it could resolve only.
    let r = s
        .raw("LIST", "secret/metadata/team", Some(&token), &[], None)
        .await;
    assert_eq!(
        r.json()["data"]["keys"],
        json!(["default", "granted"]),
        "{}",
        r.text
    );
    let r = s
        .raw(
            "GET",
            "secret/metadata/team/granted",
            Some(&token),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = s
        .raw(
            "GET",
            "secret/metadata/team/hidden",
            Some(&token),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    let r = s
        .raw("GET", "secret/data/team/hidden", Some(&token), &[], None)
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    // Auditors and admins see every path, and auditors never a value.
    let r = s
        .raw("LIST", "secret/metadata/team", Some(&aud_token), &[], None)
        .await;
    assert_eq!(
        r.json()["data"]["keys"],
        json!(["default", "granted", "hidden"])
    );
    let r = s
        .raw(
            "GET",
            "secret/metadata/team/hidden",
            Some(&aud_token),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    let r = s
        .raw(
            "GET",
            "secret/data/team/hidden",
            Some(&aud_token),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 403);
    // Every refusal is in the log: the metadata read as access_denied, the reads as
    // use_denied.
    let events = s.audit().await;
    let count = |a: &str, op: Option<&str>| {
        events
            .iter()
            .filter(|e| e["action"] == a && op.is_none_or(|o| e["details"]["attempted"] == o))
            .count()
    };
    assert_eq!(
        count("access_denied", Some("kv_metadata_read")),
        1,
        "{events:?}"
    );
    assert_eq!(count("use_denied", None), 2, "{events:?}");
    assert!(!serde_json::to_string(&events).unwrap().contains("pw-Vis"));
}
