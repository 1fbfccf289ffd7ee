//! Self-service and sharing through the real router, on a real ledger in a temp dir:
//! members and their personal credentials, names per owner, groups, grant levels, the
//! atomic default switch under concurrent resolves, partial rotations, tenant templates
//! across a restart and a rebuild, test before save against a local HTTP server, the
//! usage summary and the access review.

mod support;
use support::util;

use axum::body::Body as HttpBody;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use credledger::http::{app as router, AppState};
use credledger::ledger::{Config, Ledger};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use support::TestApp;
use tower::ServiceExt;

const SECRET: &str = "sk-self-Pq7wE3rT9y";

async fn ok(app: &TestApp, method: &str, path: &str, token: &str, body: Option<Value>) -> Value {
    let (s, v) = app.call(method, path, Some(token), body).await;
    assert!(s.is_success(), "{method} {path}: {s} {v}");
    v
}

/// Resolves credential `id` as `token` (a `used` event).
async fn resolve(app: &TestApp, token: &str, id: &str) -> Value {
    let path = format!("/v1/credentials/{id}/resolve");
    ok(app, "POST", &path, token, None).await
}

async fn audit(app: &TestApp, query: &str) -> Vec<Value> {
    let v = ok(
        app,
        "GET",
        &format!("/v1/audit?{query}"),
        &app.admin.clone(),
        None,
    )
    .await;
    v["events"].as_array().unwrap().clone()
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

/// Sends one request to a router (for concurrent tasks).
async fn send(
    app: Router,
    method: &str,
    path: &str,
    token: &str,
    body: Value,
) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap())
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(HttpBody::from(body.to_string()))
        .unwrap();
    let resp = app.oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Stops the ledger, reopens it on the same directory and serves it again.
async fn restart(app: TestApp) -> TestApp {
    let TestApp {
        dir,
        ledger,
        admin,
        app: served,
        seen,
    } = app;
    ledger.shutdown();
    drop((served, seen));
    assert_eq!(Arc::strong_count(&ledger), 1, "the ledger is still in use");
    drop(ledger);
    let path = dir.path().to_path_buf();
    let (ledger, boot) =
        tokio::task::spawn_blocking(move || Ledger::open(Config::new(path)).unwrap())
            .await
            .unwrap();
    assert!(boot.is_none());
    let ledger = Arc::new(ledger);
    TestApp {
        dir,
        app: router(AppState {
            ledger: ledger.clone(),
        }),
        ledger,
        admin,
        seen: Mutex::new(Vec::new()),
    }
}

#[tokio::test]
async fn members_keep_their_own_credentials_with_names_per_owner() {
    let app = TestApp::new().await;
    let (mia, mia_tok) = app.principal("mia", "user", "member").await;
    let (_, max_tok) = app.principal("max", "user", "member").await;
    // Both members save a "my-openai": names are unique per owner.
    let mine = |key: &str| json!({"name": "my-openai", "template": "openai", "fields": {"api_key": key}, "owner": "me"});
    let c = ok(
        &app,
        "POST",
        "/v1/credentials",
        &mia_tok,
        Some(mine(SECRET)),
    )
    .await;
    assert_eq!(c["owner"], json!(mia));
    ok(
        &app,
        "POST",
        "/v1/credentials",
        &max_tok,
        Some(mine("sk-max-2")),
    )
    .await;
    // The same member twice (without case): 409 naming only its own credential, nothing written.
    let before = app.store_dump();
    let (s, v) = app
        .call("POST", "/v1/credentials", Some(&mia_tok), Some(json!({"name": "MY-OPENAI", "template": "openai", "fields": {"api_key": "x"}, "owner": "me"})))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("you already have"),
        "{v}"
    );
    assert!(app.store_dump() == before, "a conflict writes nothing");
    // A member cannot create a shared credential.
    let (s, _) = app
        .call(
            "POST",
            "/v1/credentials",
            Some(&mia_tok),
            Some(json!({"name": "team", "template": "openai", "fields": {"api_key": "x"}})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Each sees (and resolves) its own: max cannot read mia's.
    let (s, _) = app
        .call(
            "GET",
            &format!("/v1/credentials/{}", id_of(&c)),
            Some(&max_tok),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let r = ok(
        &app,
        "POST",
        "/v1/resolve",
        &mia_tok,
        Some(json!({"service": "openai"})),
    )
    .await;
    assert_eq!(
        (r["source"].as_str(), r["fields"]["api_key"].as_str()),
        (Some("own"), Some(SECRET))
    );
    // Mia updates and deletes her own.
    let path = format!("/v1/credentials/{}", id_of(&c));
    let v = ok(
        &app,
        "PATCH",
        &path,
        &mia_tok,
        Some(json!({"description": "mine", "name": "openai-personal"})),
    )
    .await;
    assert_eq!(v["name"], "openai-personal");
    ok(&app, "DELETE", &path, &mia_tok, None).await;
    // Two personal profiles: the selected one answers, and switching takes one call.
    let a = ok(&app, "POST", "/v1/credentials", &mia_tok, Some(json!({"name": "claude-work", "template": "anthropic", "fields": {"api_key": "k-work"}, "owner": "me"}))).await;
    let b = ok(&app, "POST", "/v1/credentials", &mia_tok, Some(json!({"name": "claude-home", "template": "anthropic", "fields": {"api_key": "k-home"}, "owner": "me"}))).await;
    for (pick, key) in [(&a, "k-work"), (&b, "k-home"), (&a, "k-work")] {
        let v = ok(
            &app,
            "POST",
            &format!("/v1/credentials/{}/default", id_of(pick)),
            &mia_tok,
            None,
        )
        .await;
        assert_eq!(v["default"], true);
        let r = ok(
            &app,
            "POST",
            "/v1/resolve",
            &mia_tok,
            Some(json!({"service": "anthropic"})),
        )
        .await;
        assert_eq!(r["fields"]["api_key"], key);
    }
    let listed = ok(
        &app,
        "GET",
        "/v1/credentials?service=anthropic",
        &mia_tok,
        None,
    )
    .await;
    let defaults: Vec<&Value> = listed["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["default"] == true)
        .collect();
    assert_eq!(defaults.len(), 1);
    app.assert_never_leaked(SECRET);
}

#[tokio::test]
async fn groups_and_grant_levels() {
    let app = TestApp::new().await;
    let admin = app.admin.clone();
    let (mia, mia_tok) = app.principal("mia", "user", "member").await;
    let (_, max_tok) = app.principal("max", "user", "member").await;
    let (_, ed_tok) = app.principal("ed", "user", "editor").await;
    let shared = ok(&app, "POST", "/v1/credentials", &admin, Some(json!({"name": "team-proxmox", "template": "proxmox", "fields": {"host": "https://pve:8006", "token_name": "root@pam!ci", "token_value": SECRET}}))).await;
    let cred = id_of(&shared);
    let red = id_of(
        &ok(
            &app,
            "POST",
            "/v1/groups",
            &admin,
            Some(json!({"name": "team-red"})),
        )
        .await,
    );
    ok(
        &app,
        "POST",
        &format!("/v1/groups/{red}/members"),
        &admin,
        Some(json!({"principal": mia})),
    )
    .await;
    // The editor grants the shared credential to the group (level use by default).
    let v = ok(
        &app,
        "POST",
        &format!("/v1/credentials/{cred}/grants"),
        &ed_tok,
        Some(json!({"group": red})),
    )
    .await;
    assert_eq!(
        v["grantees"],
        json!([{"principal": null, "group": red, "level": "use"}])
    );
    let resolve = |tok: String| {
        let app = &app;
        async move {
            app.call(
                "POST",
                "/v1/resolve",
                Some(&tok),
                Some(json!({"service": "proxmox"})),
            )
            .await
        }
    };
    let (s, r) = resolve(mia_tok.clone()).await;
    assert_eq!(
        (s, r["source"].as_str(), r["fields"]["token_value"].as_str()),
        (StatusCode::OK, Some("granted"), Some(SECRET))
    );
    let (s, r) = resolve(max_tok.clone()).await;
    assert_eq!(
        (s, r["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_configured"))
    );
    // Groups a member may list: its own only; admins, editors and auditors see all.
    let mine = ok(&app, "GET", "/v1/groups", &mia_tok, None).await;
    assert_eq!(mine["groups"].as_array().unwrap().len(), 1);
    assert_eq!(
        ok(&app, "GET", "/v1/groups", &max_tok, None).await["groups"],
        json!([])
    );
    assert_eq!(
        ok(&app, "GET", "/v1/groups", &ed_tok, None).await["groups"][0]["members"],
        json!([mia])
    );
    // Use: resolve only. Rotating needs manage.
    let rotate = json!({"fields": {"host": "https://pve2:8006"}});
    let (s, v) = app
        .call(
            "POST",
            &format!("/v1/credentials/{cred}/rotate"),
            Some(&mia_tok),
            Some(rotate.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("needs manage"),
        "{v}"
    );
    ok(
        &app,
        "POST",
        &format!("/v1/credentials/{cred}/grants"),
        &admin,
        Some(json!({"group": red, "level": "manage"})),
    )
    .await;
    let v = ok(
        &app,
        "POST",
        &format!("/v1/credentials/{cred}/rotate"),
        &mia_tok,
        Some(rotate),
    )
    .await;
    assert_eq!(v["version"], 2);
    // Manage does not grant, delete or destroy.
    for (m, p, body) in [
        (
            "POST",
            format!("/v1/credentials/{cred}/grants"),
            Some(json!({"principal": mia})),
        ),
        ("DELETE", format!("/v1/credentials/{cred}"), None),
        ("POST", format!("/v1/credentials/{cred}/destroy"), None),
    ] {
        let (s, _) = app.call(m, &p, Some(&mia_tok), body).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{m} {p}");
    }
    // When mia leaves the group, the next resolve no longer finds it.
    let (s, _) = app
        .call(
            "DELETE",
            &format!("/v1/groups/{red}/members/{mia}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = resolve(mia_tok.clone()).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // The group's grant is revoked by the group's id.
    let (s, _) = app
        .call(
            "DELETE",
            &format!("/v1/credentials/{cred}/grants/{red}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let events = audit(&app, "action=granted").await;
    assert_eq!(
        events.last().unwrap()["details"],
        json!({"group": red, "level": "manage"})
    );
    let events = audit(&app, "action=group_member_removed").await;
    assert_eq!(events.len(), 1);
    app.assert_never_leaked(SECRET);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_default_switches_atomically_under_concurrent_resolves() {
    let app = TestApp::new().await;
    let admin = app.admin.clone();
    let (_, svc) = app.principal("portal", "service", "resolver").await;
    let a = id_of(&ok(&app, "POST", "/v1/credentials", &admin, Some(json!({"name": "a", "template": "openai", "fields": {"api_key": "k-a"}, "default": true}))).await);
    let b = id_of(
        &ok(
            &app,
            "POST",
            "/v1/credentials",
            &admin,
            Some(json!({"name": "b", "template": "openai", "fields": {"api_key": "k-b"}})),
        )
        .await,
    );
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::new();
    for _ in 0..4 {
        let (router, svc, stop, seen) = (app.app.clone(), svc.clone(), stop.clone(), seen.clone());
        let (a, b) = (a.clone(), b.clone());
        readers.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let (s, v) = send(
                    router.clone(),
                    "POST",
                    "/v1/resolve",
                    &svc,
                    json!({"service": "openai"}),
                )
                .await;
                assert_eq!(
                    s,
                    StatusCode::OK,
                    "a resolve during a switch found no default: {v}"
                );
                assert_eq!(v["source"], "tenant_default");
                let id = v["credential_id"].as_str().unwrap();
                assert!(id == a || id == b);
                seen.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    for i in 0..40 {
        let to = if i % 2 == 0 { &b } else { &a };
        let (s, v) = send(
            app.app.clone(),
            "POST",
            &format!("/v1/credentials/{to}/default"),
            &admin,
            json!({}),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    stop.store(true, Ordering::SeqCst);
    for r in readers {
        r.await.unwrap();
    }
    assert!(seen.load(Ordering::SeqCst) > 0);
    // Each switch is one batch of two `updated` events; there is one default at the end.
    let updates = audit(&app, "action=updated&limit=1000").await;
    assert_eq!(updates.len(), 80);
    let pairs: Vec<_> = updates
        .chunks(2)
        .map(|p| {
            (
                p[0]["details"]["changed"].clone(),
                p[1]["seq"].as_u64().unwrap() - p[0]["seq"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(pairs
        .iter()
        .all(|(c, gap)| *c == json!(["default"]) && *gap == 1));
    let list = ok(&app, "GET", "/v1/credentials?service=openai", &admin, None).await;
    let defaults: Vec<_> = list["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["default"] == true)
        .map(|c| c["id"].clone())
        .collect();
    assert_eq!(defaults, vec![json!(a)]);
}

/// Partial rotations of one credential from many tasks at once, half changing the secret
/// and half the host: none is refused (a rotation without a precondition that another one
/// overtook is merged again onto the newer version), each gets its own version, and the
/// last version carries the newest value of both fields (no change is lost).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_partial_rotations_all_land_and_lose_nothing() {
    let app = Arc::new(TestApp::new().await);
    let admin = app.admin.clone();
    let c = ok(&app, "POST", "/v1/credentials", &admin, Some(json!({"name": "pve", "template": "proxmox", "fields": {"host": "https://pve:8006", "token_name": "root@pam!ci", "token_value": SECRET}}))).await;
    let id = id_of(&c);
    let before = app.events();
    let (tasks, each) = (8u64, 60u64);
    let mut handles = Vec::new();
    for t in 0..tasks {
        let (app, admin, id) = (app.clone(), admin.clone(), id.clone());
        handles.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for i in 0..each {
                let (field, value) = if t % 2 == 0 {
                    ("token_value", format!("tv-{t}-{i}"))
                } else {
                    ("host", format!("https://h{t}-{i}:8006"))
                };
                let (s, v) = app
                    .call(
                        "POST",
                        &format!("/v1/credentials/{id}/rotate"),
                        Some(&admin),
                        Some(json!({"fields": {field: value}})),
                    )
                    .await;
                assert_eq!(s, StatusCode::OK, "{v}");
                got.push((v["version"].as_u64().unwrap(), field, value));
            }
            got
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.unwrap());
    }
    all.sort();
    let n = tasks * each;
    let versions: Vec<u64> = all.iter().map(|(v, _, _)| *v).collect();
    assert_eq!(versions, (2..n + 2).collect::<Vec<_>>(), "one version each");
    assert_eq!(
        app.events(),
        before + n,
        "one event per rotation, nothing else"
    );
    let newest = |f: &str| {
        all.iter()
            .rev()
            .find(|(_, field, _)| *field == f)
            .map(|(_, _, value)| value.clone())
    };
    let r = resolve(&app, &admin, &id).await;
    assert_eq!(
        (
            r["version"].as_u64(),
            r["fields"]["token_value"].as_str().map(String::from),
            r["fields"]["host"].as_str().map(String::from),
            r["fields"]["token_name"].as_str()
        ),
        (
            Some(n + 1),
            newest("token_value"),
            newest("host"),
            Some("root@pam!ci")
        )
    );
}

#[tokio::test]
async fn a_partial_rotation_keeps_the_other_fields() {
    let app = TestApp::new().await;
    let admin = app.admin.clone();
    let (_, ed_tok) = app.principal("ed", "user", "editor").await;
    let c = ok(&app, "POST", "/v1/credentials", &admin, Some(json!({"name": "pve", "template": "proxmox", "fields": {"host": "https://pve:8006", "token_name": "root@pam!ci", "token_value": SECRET}}))).await;
    let id = id_of(&c);
    // Only the host changes: the token secret is carried over into version 2.
    let v = ok(
        &app,
        "PATCH",
        &format!("/v1/credentials/{id}"),
        &admin,
        Some(json!({"fields": {"host": "https://pve2:8006"}, "description": "moved"})),
    )
    .await;
    assert_eq!(
        (
            v["version"].as_u64(),
            v["fields"]["host"].as_str(),
            v["description"].as_str()
        ),
        (Some(2), Some("https://pve2:8006"), Some("moved"))
    );
    let r = resolve(&app, &admin, &id).await;
    assert_eq!(
        (
            r["version"].as_u64(),
            r["fields"]["token_value"].as_str(),
            r["fields"]["token_name"].as_str()
        ),
        (Some(2), Some(SECRET), Some("root@pam!ci"))
    );
    // Both changes are one batch: rotated then updated.
    let events = audit(&app, &format!("credential={id}")).await;
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        &actions[actions.len() - 3..],
        &["rotated", "updated", "used"]
    );
    // An editor, who may not resolve it, cannot move it elsewhere while keeping the secret
    // (recorded)...
    let before = app.events();
    let (s, v) = app
        .call(
            "POST",
            &format!("/v1/credentials/{id}/rotate"),
            Some(&ed_tok),
            Some(json!({"fields": {"host": "https://evil.example"}})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(app.events(), before + 1);
    // ...but may give new secrets with it, or change secrets only.
    ok(
        &app,
        "POST",
        &format!("/v1/credentials/{id}/rotate"),
        &ed_tok,
        Some(json!({"fields": {"token_value": "pve-new"}})),
    )
    .await;
    let v = ok(
        &app,
        "POST",
        &format!("/v1/credentials/{id}/rotate"),
        &ed_tok,
        Some(json!({"fields": {"host": "https://pve3:8006", "token_value": "pve-3"}})),
    )
    .await;
    assert_eq!(v["version"], 4);
    // Switching the authentication method drops the fields of the old one.
    let v = ok(&app, "POST", &format!("/v1/credentials/{id}/rotate"), &admin, Some(json!({"fields": {"auth_method": "password", "username": "root@pam", "password": "pw-5"}}))).await;
    assert_eq!(v["version"], 5);
    let r = resolve(&app, &admin, &id).await;
    assert!(
        r["fields"].get("token_value").is_none() && r["fields"].get("token_name").is_none(),
        "{r}"
    );
    assert_eq!(r["fields"]["host"], "https://pve3:8006");
    app.assert_never_leaked(SECRET);
}

const BENCHMARKER: &str = r#"{"name": "benchmarker", "title": "Benchmarker IoT Platform", "description": "API URL and key of a Benchmarker instance.", "fields": [{"name": "api_url", "label": "API URL", "type": "text", "required": true, "env": "BENCHMARKER_API_URL"}, {"name": "api_key", "label": "API Key", "type": "secret", "required": true, "env": "BENCHMARKER_API_KEY"}]}"#;

#[tokio::test]
async fn tenant_templates_survive_a_restart_and_a_rebuild_and_stay_in_their_tenant() {
    let app = TestApp::new().await;
    let admin = app.admin.clone();
    let (_, mia_tok) = app.principal("mia", "user", "member").await;
    let def: Value = serde_json::from_str(BENCHMARKER).unwrap();
    let (s, v) = app
        .call("POST", "/v1/templates", Some(&mia_tok), Some(def.clone()))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    let v = ok(&app, "POST", "/v1/templates", &admin, Some(def.clone())).await;
    assert_eq!(
        (v["name"].as_str(), v["builtin"].as_bool()),
        (Some("benchmarker"), Some(false))
    );
    let list = ok(&app, "GET", "/v1/templates", &mia_tok, None).await;
    let names: Vec<&str> = list["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"benchmarker") && names.contains(&"openai"));
    let c = ok(&app, "POST", "/v1/credentials", &mia_tok, Some(json!({"name": "bench", "template": "benchmarker", "fields": {"api_url": "https://bench.example", "api_key": SECRET}, "owner": "me"}))).await;
    assert_eq!(c["secret_fields"], json!(["api_key"]));
    // The template validates input like a builtin one.
    let (s, v) = app.call("POST", "/v1/credentials", Some(&mia_tok), Some(json!({"name": "b2", "template": "benchmarker", "fields": {"api_url": "u"}, "owner": "me"}))).await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("api_key"))
    );
    // Another tenant does not see it.
    let t = ok(
        &app,
        "POST",
        "/v1/tenants",
        &admin,
        Some(json!({"name": "beta"})),
    )
    .await;
    let beta = t["admin_token"].as_str().unwrap().to_string();
    let (s, _) = app
        .call("GET", "/v1/templates/benchmarker", Some(&beta), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = app.call("POST", "/v1/credentials", Some(&beta), Some(json!({"name": "b", "template": "benchmarker", "fields": {"api_url": "u", "api_key": "k"}}))).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("unknown_template"))
    );
    // Redefined with PUT (a new optional field), then the projections equal a rebuild.
    let mut def2 = def.clone();
    def2["fields"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "org", "type": "text"}));
    ok(&app, "PUT", "/v1/templates/benchmarker", &admin, Some(def2)).await;
    let mut mirror = util::Mirror::new();
    util::assert_projections_equal_replay(
        app.ledger.store(),
        &mut mirror,
        "after tenant templates",
    );
    // After a restart the catalog is replayed from the log.
    let app = restart(app).await;
    let v = ok(&app, "GET", "/v1/templates/benchmarker", &mia_tok, None).await;
    assert_eq!(v["fields"].as_array().unwrap().len(), 3);
    let cid = id_of(&c);
    let v = ok(
        &app,
        "POST",
        &format!("/v1/credentials/{cid}/rotate"),
        &mia_tok,
        Some(json!({"fields": {"org": "acme"}})),
    )
    .await;
    assert_eq!(v["version"], 2);
    let r = ok(
        &app,
        "POST",
        "/v1/resolve",
        &mia_tok,
        Some(json!({"service": "benchmarker"})),
    )
    .await;
    assert_eq!(
        (r["fields"]["api_key"].as_str(), r["fields"]["org"].as_str()),
        (Some(SECRET), Some("acme"))
    );
    // In use, it cannot be deleted; once the credential is destroyed, it can.
    let (s, _) = app
        .call(
            "DELETE",
            "/v1/templates/benchmarker",
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    ok(
        &app,
        "POST",
        &format!("/v1/credentials/{cid}/destroy"),
        &mia_tok,
        None,
    )
    .await;
    let (s, _) = app
        .call(
            "DELETE",
            "/v1/templates/benchmarker",
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = app
        .call("GET", "/v1/templates/benchmarker", Some(&mia_tok), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    util::assert_projections_equal_replay(app.ledger.store(), &mut mirror, "after the restart");
    app.assert_never_leaked(SECRET);
}

/// A local HTTP API that answers 200 to `Authorization: Bearer <token>` and 401 otherwise.
async fn bearer_api(token: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let check = move |headers: HeaderMap| async move {
        let want = format!("Bearer {token}");
        if headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(want.as_str()) {
            StatusCode::OK
        } else {
            StatusCode::UNAUTHORIZED
        }
    };
    let api = Router::new().route("/v1/me", axum::routing::get(check));
    tokio::spawn(async move { axum::serve(listener, api).await.unwrap() });
    format!("http://{addr}/v1/me")
}

#[tokio::test]
async fn test_before_save_records_the_outcome_and_stores_no_secret() {
    let app = TestApp::new().await;
    let (_, mia_tok) = app.principal("mia", "user", "member").await;
    let (_, svc_tok) = app.principal("portal", "service", "resolver").await;
    let url = bearer_api(SECRET).await;
    let before_creds = ok(
        &app,
        "GET",
        "/v1/credentials?status=all",
        &app.admin.clone(),
        None,
    )
    .await;
    let keyring_before = app.store_dump().keyring;
    let events = app.events();
    let v = ok(
        &app,
        "POST",
        "/v1/verify",
        &mia_tok,
        Some(json!({"template": "bearer_token", "fields": {"token": SECRET, "url": url}})),
    )
    .await;
    assert_eq!(v["ok"], true, "{v}");
    let v = ok(
        &app,
        "POST",
        "/v1/verify",
        &mia_tok,
        Some(
            json!({"template": "bearer_token", "fields": {"token": "sk-wrong-guess", "url": url}}),
        ),
    )
    .await;
    assert_eq!(
        (
            v["ok"].as_bool(),
            v["reason"].as_str().map(|r| r.contains("401"))
        ),
        (Some(false), Some(true)),
        "{v}"
    );
    // Two `verified` events without a credential, and nothing else written.
    assert_eq!(app.events(), events + 2);
    let verified = audit(&app, "action=verified").await;
    assert_eq!(verified.len(), 2);
    for (e, outcome) in verified.iter().zip(["ok", "failed"]) {
        assert_eq!(
            (e["credential_id"].clone(), e["outcome"].as_str()),
            (Value::Null, Some(outcome))
        );
        assert_eq!(
            (
                e["details"]["template"].as_str(),
                e["details"]["saved"].as_bool()
            ),
            (Some("bearer_token"), Some(false))
        );
    }
    assert_eq!(
        ok(
            &app,
            "GET",
            "/v1/credentials?status=all",
            &app.admin.clone(),
            None
        )
        .await,
        before_creds
    );
    assert!(
        app.store_dump().keyring == keyring_before,
        "no data key was made"
    );
    // Services may not test input; the refusal is recorded.
    let (s, _) = app
        .call(
            "POST",
            "/v1/verify",
            Some(&svc_tok),
            Some(json!({"template": "bearer_token", "fields": {"token": "t", "url": url}})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // The secret is nowhere in the data directory, the answers or the logs.
    app.ledger.shutdown();
    assert!(util::files_containing(app.dir.path(), SECRET.as_bytes()).is_empty());
    assert!(util::files_containing(app.dir.path(), b"sk-wrong-guess").is_empty());
    app.assert_never_leaked(SECRET);
}

#[tokio::test]
async fn usage_summary_groups_by_template_and_service() {
    let now = Arc::new(AtomicI64::new(1_800_000_000_000));
    let clock = now.clone();
    let app =
        TestApp::with_config(move |c| c.clock = Arc::new(move || clock.load(Ordering::SeqCst)))
            .await;
    let admin = app.admin.clone();
    let (_, mia_tok) = app.principal("mia", "user", "member").await;
    let o1 = id_of(&ok(&app, "POST", "/v1/credentials", &admin, Some(json!({"name": "o1", "template": "openai", "fields": {"api_key": "k1"}, "rotate_every_days": 1, "default": true}))).await);
    ok(&app, "POST", "/v1/credentials", &admin, Some(json!({"name": "o2", "template": "openai", "fields": {"api_key": "k2"}, "service": "openai-batch"}))).await;
    let bench = id_of(&ok(&app, "POST", "/v1/credentials", &admin, Some(json!({"name": "bench", "template": "bearer_token", "fields": {"token": "t", "url": "http://127.0.0.1:1/"}, "service": "benchmarker"}))).await);
    for _ in 0..3 {
        ok(
            &app,
            "POST",
            "/v1/resolve",
            &mia_tok,
            Some(json!({"service": "openai"})),
        )
        .await;
    }
    let v = ok(
        &app,
        "POST",
        &format!("/v1/credentials/{bench}/verify"),
        &admin,
        None,
    )
    .await;
    assert_eq!(v["ok"], false);
    now.fetch_add(2 * 86_400_000, Ordering::SeqCst);
    let by_template = ok(&app, "GET", "/v1/usage/summary?by=template", &admin, None).await;
    assert_eq!(by_template["by"], "template");
    let groups = by_template["groups"].as_array().unwrap();
    let g = |key: &str| groups.iter().find(|g| g["key"] == key).cloned().unwrap();
    assert_eq!(
        (
            g("openai")["count"].as_u64(),
            g("openai")["uses"].as_u64(),
            g("openai")["overdue_rotations"].as_u64()
        ),
        (Some(2), Some(3), Some(1))
    );
    assert!(g("openai")["last_used_at"].is_string());
    assert_eq!(
        (
            g("bearer_token")["failed_verifies"].as_u64(),
            g("bearer_token")["uses"].as_u64()
        ),
        (Some(1), Some(0))
    );
    let by_service = ok(&app, "GET", "/v1/usage/summary?by=service", &admin, None).await;
    let keys: Vec<&str> = by_service["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, vec!["benchmarker", "openai", "openai-batch"]);
    // A member's summary covers what it may see (shared and its own).
    let _ = o1;
    let mine = ok(&app, "GET", "/v1/usage/summary", &mia_tok, None).await;
    assert_eq!(mine["by"], "template");
}

#[tokio::test]
async fn the_access_review_says_who_can_resolve_and_why_with_last_use() {
    let app = TestApp::new().await;
    let admin = app.admin.clone();
    let (mia, mia_tok) = app.principal("mia", "user", "member").await;
    let (max, _) = app.principal("max", "user", "member").await;
    let (svc, svc_tok) = app.principal("portal", "service", "resolver").await;
    let (_, aud_tok) = app.principal("aud", "user", "auditor").await;
    let cred = id_of(&ok(&app, "POST", "/v1/credentials", &admin, Some(json!({"name": "aws-prod", "template": "api_key", "fields": {"api_key": SECRET}, "service": "aws"}))).await);
    let red = id_of(
        &ok(
            &app,
            "POST",
            "/v1/groups",
            &admin,
            Some(json!({"name": "red"})),
        )
        .await,
    );
    ok(
        &app,
        "POST",
        &format!("/v1/groups/{red}/members"),
        &admin,
        Some(json!({"principal": mia})),
    )
    .await;
    ok(
        &app,
        "POST",
        &format!("/v1/credentials/{cred}/grants"),
        &admin,
        Some(json!({"group": red})),
    )
    .await;
    ok(
        &app,
        "POST",
        &format!("/v1/credentials/{cred}/grants"),
        &admin,
        Some(json!({"principal": max, "level": "manage"})),
    )
    .await;
    ok(
        &app,
        "POST",
        &format!("/v1/principals/{svc}/delegation"),
        &admin,
        Some(json!({"users": [mia]})),
    )
    .await;
    ok(
        &app,
        "POST",
        "/v1/resolve",
        &mia_tok,
        Some(json!({"service": "aws"})),
    )
    .await;
    ok(
        &app,
        "POST",
        "/v1/resolve",
        &svc_tok,
        Some(json!({"service": "aws", "for_user": mia})),
    )
    .await;
    let r = ok(
        &app,
        "GET",
        &format!("/v1/credentials/{cred}/access"),
        &aud_tok,
        None,
    )
    .await;
    assert_eq!(r["name"], "aws-prod");
    let of = |name: &str| {
        r["principals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
    };
    let m = of("mia").unwrap();
    assert_eq!(
        m["via"],
        json!([{"kind": "group_grant", "level": "use", "group": red, "group_name": "red", "role": null, "for_users": null}])
    );
    assert_eq!(m["uses"], 1);
    assert!(m["last_used_at"].is_string());
    assert_eq!(of("max").unwrap()["via"][0]["kind"], "grant");
    assert_eq!(of("max").unwrap()["uses"], 0);
    let p = of("portal").unwrap();
    assert_eq!(
        (
            p["via"][0]["kind"].clone(),
            p["via"][0]["for_users"].clone(),
            p["uses"].clone()
        ),
        (json!("delegation"), json!([mia]), json!(1))
    );
    assert_eq!(
        of("admin").unwrap()["via"][0],
        json!({"kind": "role", "level": null, "group": null, "group_name": null, "role": "admin", "for_users": null})
    );
    assert!(of("aud").is_none(), "auditors never resolve");
    // Members may not review; the refusal is recorded.
    let before = app.events();
    let (s, _) = app
        .call(
            "GET",
            &format!("/v1/credentials/{cred}/access"),
            Some(&mia_tok),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(app.events(), before + 1);
    app.assert_never_leaked(SECRET);
}
