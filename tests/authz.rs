//! Authorization integrity through the real router: system administration is separate,
//! every refusal leaves an event, failed authentications are throttled and recorded,
//! fallbacks are scoped, delegated resolves are explicit, tokens are checked in full.
//! Each test fails if the protection it names is removed.

mod support;

use axum::http::StatusCode;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use support::TestApp;

const SECRET: &str = "sk-live-authz-Qw9eR7tY5u";

async fn audit(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let (s, v) = app
        .call("GET", &format!("/v1/audit?{query}"), Some(token), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["events"].as_array().unwrap().clone()
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

/// The bootstrap admin's principal id.
fn root_id(app: &TestApp) -> String {
    app.ledger
        .authenticate(&app.admin)
        .unwrap()
        .principal
        .to_string()
}

#[tokio::test]
async fn a_tenant_admin_cannot_become_or_lock_out_a_system_admin() {
    let app = TestApp::new().await;
    let root = root_id(&app);
    let (ta, ta_tok) = app.principal("tenant-admin", "user", "admin").await;
    let before = app.events();
    // Minting a token for the system admin: refused and recorded.
    let (s, v) = app
        .call(
            "POST",
            &format!("/v1/principals/{root}/tokens"),
            Some(&ta_tok),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert!(v.get("token").is_none());
    // Disabling it, revoking its token, creating a tenant, creating a system principal.
    let root_token = app.ledger.authenticate(&app.admin).unwrap().token;
    for (m, p, body) in [
        ("DELETE", format!("/v1/principals/{root}"), None),
        ("DELETE", format!("/v1/tokens/{root_token}"), None),
        (
            "POST",
            "/v1/tenants".to_string(),
            Some(json!({"name": "mine"})),
        ),
        (
            "POST",
            "/v1/principals".to_string(),
            Some(json!({"name": "root2", "kind": "user", "role": "admin", "system": true})),
        ),
    ] {
        let (s, v) = app.call(m, &p, Some(&ta_tok), body).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{m} {p}: {v}");
    }
    assert_eq!(app.events(), before + 5, "every refusal leaves one event");
    let denied = audit(
        &app,
        &app.admin,
        &format!("actor={ta}&action=access_denied"),
    )
    .await;
    let got: Vec<(&str, &str, Option<&str>)> = denied
        .iter()
        .map(|e| {
            (
                e["details"]["attempted"].as_str().unwrap(),
                e["details"]["reason"].as_str().unwrap(),
                e["details"]["target"].as_str(),
            )
        })
        .collect();
    let tok = root_token.to_string();
    assert_eq!(
        got,
        vec![
            ("token_issued", "system_only", Some(root.as_str())),
            ("principal_disabled", "system_only", Some(root.as_str())),
            ("token_revoked", "system_only", Some(tok.as_str())),
            ("tenant_created", "system_only", None),
            ("principal_created", "system_only", None),
        ]
    );
    // The system admin still works, and is the last one: it cannot be disabled even by
    // another system admin until a second exists.
    let (s, _) = app.call("GET", "/v1/whoami", Some(&app.admin), None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = app
        .call(
            "POST",
            "/v1/principals",
            Some(&app.admin),
            Some(json!({"name": "root2", "kind": "user", "role": "admin", "system": true})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let root2 = id_of(&v);
    let (_, t) = app
        .call(
            "POST",
            &format!("/v1/principals/{root2}/tokens"),
            Some(&app.admin),
            None,
        )
        .await;
    let root2_tok = t["token"].as_str().unwrap().to_string();
    let (_, who) = app.call("GET", "/v1/whoami", Some(&root2_tok), None).await;
    assert_eq!(who["system_admin"], true);
    let (s, _) = app
        .call(
            "DELETE",
            &format!("/v1/principals/{root}"),
            Some(&root2_tok),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = app
        .call(
            "DELETE",
            &format!("/v1/principals/{root2}"),
            Some(&root2_tok),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    // The tenant admin never got a system token.
    let _ = ta;
}

#[tokio::test]
async fn system_stream_and_system_auditor() {
    let app = TestApp::new().await;
    let (_, tenant_auditor) = app.principal("aud", "user", "auditor").await;
    let (s, v) = app
        .call(
            "POST",
            "/v1/principals",
            Some(&app.admin),
            Some(json!({"name": "sysaud", "kind": "user", "role": "auditor", "system": true})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let sysaud = id_of(&v);
    let (_, t) = app
        .call(
            "POST",
            &format!("/v1/principals/{sysaud}/tokens"),
            Some(&app.admin),
            None,
        )
        .await;
    let sys_tok = t["token"].as_str().unwrap().to_string();
    let (s, _) = app
        .call("GET", "/v1/audit?scope=system", Some(&tenant_auditor), None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let events = audit(&app, &sys_tok, "scope=system").await;
    assert_eq!(events[0]["action"], "ledger_initialized");
    // A system auditor is no system admin.
    let (s, _) = app
        .call(
            "POST",
            "/v1/tenants",
            Some(&sys_tok),
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (_, who) = app.call("GET", "/v1/whoami", Some(&sys_tok), None).await;
    assert_eq!(
        (who["system_admin"].as_bool(), who["system"].as_bool()),
        (Some(false), Some(true))
    );
    // It sees every tenant's event leaves; a tenant auditor only its own.
    let (_, all) = app
        .call("GET", "/v1/ledger/events?limit=1000", Some(&sys_tok), None)
        .await;
    assert!(all["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "ledger_initialized"));
}

#[tokio::test]
async fn wrong_tokens_are_throttled_and_recorded_but_valid_tokens_still_work() {
    let app = TestApp::new().await;
    let attacker: SocketAddr = "192.0.2.66:40000".parse().unwrap();
    let me = app.ledger.authenticate(&app.admin).unwrap();
    // A real token id with a wrong secret, and garbage.
    let wrong = format!(
        "clt_{}_{}",
        hex::encode(me.token.as_bytes()),
        "A".repeat(43)
    );
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for i in 0..30 {
        let token = if i % 2 == 0 {
            wrong.clone()
        } else {
            format!("garbage-{i}")
        };
        let (s, h, body) = app
            .call_from(Some(attacker), "GET", "/v1/whoami", Some(&token), None)
            .await;
        assert!(!body.contains(&token), "the answer echoes the token");
        if s == StatusCode::TOO_MANY_REQUESTS {
            retry_after = h
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
        }
        statuses.push(s);
    }
    assert_eq!(statuses[0], StatusCode::UNAUTHORIZED);
    assert_eq!(*statuses.last().unwrap(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = retry_after.expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // The valid token from the same address still works.
    let (s, _, _) = app
        .call_from(Some(attacker), "GET", "/v1/whoami", Some(&app.admin), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    // Another address is not throttled for garbage (but the attacked token id is).
    let other: SocketAddr = "198.51.100.7:1".parse().unwrap();
    let (s, _, _) = app
        .call_from(Some(other), "GET", "/v1/whoami", Some("garbage"), None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _, _) = app
        .call_from(Some(other), "GET", "/v1/whoami", Some(&wrong), None)
        .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "throttled per token id");
    // The aggregated events, in the system stream, hold counts and ids, never a secret.
    let events = audit(&app, &app.admin, "scope=system&action=auth_failures").await;
    let from_attacker: Vec<&Value> = events
        .iter()
        .filter(|e| e["details"]["source"] == "192.0.2.66")
        .collect();
    assert_eq!(from_attacker.len(), 1, "{events:?}");
    let d = &from_attacker[0]["details"];
    assert_eq!(d["count"], 30);
    assert_eq!(d["malformed"], 15);
    assert_eq!(d["tokens"], json!([me.token.to_string()]));
    let text = serde_json::to_string(&events).unwrap();
    assert!(!text.contains(&"A".repeat(43)) && !text.contains("garbage"));
    assert!(!support::logs().contains(&"A".repeat(43)));
    // Not visible to tenant reviewers.
    assert!(audit(&app, &app.admin, "action=auth_failures")
        .await
        .is_empty());
}

#[tokio::test]
async fn a_token_with_a_valid_id_and_a_wrong_secret_is_refused() {
    let app = TestApp::new().await;
    let good = app.admin.clone();
    // Same id, same length, one character of the secret changed.
    let mut bad: Vec<char> = good.chars().collect();
    let last = bad.len() - 1;
    bad[last] = if bad[last] == 'A' { 'B' } else { 'A' };
    let bad: String = bad.into_iter().collect();
    assert!(app.ledger.authenticate(&good).is_ok());
    assert!(app.ledger.authenticate(&bad).is_err());
    let (s, _) = app.call("GET", "/v1/whoami", Some(&bad), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // A prefix of the right secret is not enough either.
    let (s, _) = app
        .call("GET", "/v1/whoami", Some(&good[..good.len() - 1]), None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_expired_token_stops_working_at_its_expiry() {
    let now = Arc::new(AtomicI64::new(1_800_000_000_000));
    let clock = now.clone();
    let app =
        TestApp::with_config(move |c| c.clock = Arc::new(move || clock.load(Ordering::SeqCst)))
            .await;
    let (pid, _) = app.principal("temp", "user", "editor").await;
    let (s, t) = app
        .call(
            "POST",
            &format!("/v1/principals/{pid}/tokens"),
            Some(&app.admin),
            // 2027-01-15T08:00:00Z = 1_800_000_000_000 + 1 h
            Some(json!({"expires_at": "2027-01-15T09:00:00Z"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    let tok = t["token"].as_str().unwrap().to_string();
    let expiry = credledger::audit::parse_rfc3339("2027-01-15T09:00:00Z").unwrap();
    now.store(expiry - 1, Ordering::SeqCst);
    let (s, _) = app.call("GET", "/v1/whoami", Some(&tok), None).await;
    assert_eq!(s, StatusCode::OK);
    now.store(expiry, Ordering::SeqCst);
    let (s, _) = app.call("GET", "/v1/whoami", Some(&tok), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn fallbacks_apply_to_the_named_tenants_only_and_to_any_service() {
    let app = TestApp::with_config(|c| {
        for (service, value) in [
            ("openai", "env-openai-key"),
            ("benchmarker", "env-bench-key"),
        ] {
            let mut f = credledger::secret::SecretFields::default();
            f.0.insert("api_key".into(), value.into());
            c.fallbacks.insert(service.into(), f);
        }
    })
    .await;
    let (s, t) = app
        .call(
            "POST",
            "/v1/tenants",
            Some(&app.admin),
            Some(json!({"name": "beta"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let beta = t["admin_token"].as_str().unwrap().to_string();
    for service in ["openai", "benchmarker"] {
        let (s, r) = app
            .call(
                "POST",
                "/v1/resolve",
                Some(&app.admin),
                Some(json!({"service": service})),
            )
            .await;
        assert_eq!(
            (s, r["source"].as_str()),
            (StatusCode::OK, Some("env")),
            "{r}"
        );
        let (s, r) = app
            .call(
                "POST",
                "/v1/resolve",
                Some(&beta),
                Some(json!({"service": service})),
            )
            .await;
        assert_eq!(
            (s, r["error"]["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("not_configured")),
            "{service} in beta: {r}"
        );
        assert!(!r.to_string().contains("env-"));
    }
    app.assert_never_leaked("env-openai-key");
    app.assert_never_leaked("env-bench-key");
}

#[tokio::test]
async fn fallback_tenants_are_configurable() {
    let app = TestApp::with_config(|c| {
        let mut f = credledger::secret::SecretFields::default();
        f.0.insert("token".into(), "env-custom".into());
        c.fallbacks.insert("custom-svc".into(), f);
        c.fallback_tenants = vec!["beta".into()];
    })
    .await;
    let (_, t) = app
        .call(
            "POST",
            "/v1/tenants",
            Some(&app.admin),
            Some(json!({"name": "beta"})),
        )
        .await;
    let beta = t["admin_token"].as_str().unwrap().to_string();
    let (s, _) = app
        .call(
            "POST",
            "/v1/resolve",
            Some(&app.admin),
            Some(json!({"service": "custom-svc"})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, r) = app
        .call(
            "POST",
            "/v1/resolve",
            Some(&beta),
            Some(json!({"service": "custom-svc"})),
        )
        .await;
    assert_eq!((s, r["source"].as_str()), (StatusCode::OK, Some("env")));
}

#[tokio::test]
async fn delegated_resolves_are_explicit_and_name_service_and_user() {
    let app = TestApp::new().await;
    let root = root_id(&app);
    let (alice, alice_tok) = app.principal("alice", "user", "editor").await;
    let (svc, svc_tok) = app.principal("portal", "service", "resolver").await;
    for (tok, name, owner_secret) in [
        (&alice_tok, "alice-key", "k-alice"),
        (&app.admin, "root-key", "k-root"),
    ] {
        let (s, v) = app
            .call(
                "POST",
                "/v1/credentials",
                Some(tok),
                Some(json!({"name": name, "template": "openai", "fields": {"api_key": owner_secret}, "owner": "me"})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }
    let resolve = |user: &str| {
        let body = json!({"service": "openai", "for_user": user});
        let app = &app;
        let tok = svc_tok.clone();
        async move {
            app.call("POST", "/v1/resolve", Some(&tok), Some(body))
                .await
        }
    };
    let (s, _) = resolve(&alice).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let denied = audit(&app, &app.admin, "action=use_denied").await;
    assert_eq!(denied.last().unwrap()["details"]["for_user"], json!(alice));
    // An editor cannot grant a delegation; an admin can, for all users.
    let (s, _) = app
        .call(
            "POST",
            &format!("/v1/principals/{svc}/delegation"),
            Some(&alice_tok),
            Some(json!({"all_users": true})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = app
        .call(
            "POST",
            &format!("/v1/principals/{svc}/delegation"),
            Some(&app.admin),
            Some(json!({"all_users": true})),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, r) = resolve(&alice).await;
    assert_eq!(
        (s, r["fields"]["api_key"].as_str()),
        (StatusCode::OK, Some("k-alice"))
    );
    let used = audit(&app, &app.admin, "action=used").await;
    let last = used.last().unwrap();
    assert_eq!(
        (&last["actor"], &last["details"]["for_user"]),
        (&json!(svc), &json!(alice))
    );
    // all_users does not cover the system admin.
    let (s, _) = resolve(&root).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Revoked: refused again.
    let (s, _) = app
        .call(
            "DELETE",
            &format!("/v1/principals/{svc}/delegation"),
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = resolve(&alice).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    app.assert_never_leaked("k-root");
}

#[tokio::test]
async fn cross_tenant_event_leaves_and_proofs() {
    let app = TestApp::new().await;
    let (_, c) = app
        .call(
            "POST",
            "/v1/credentials",
            Some(&app.admin),
            Some(json!({"name": "a", "template": "api_key", "fields": {"api_key": SECRET}})),
        )
        .await;
    let cred = id_of(&c);
    let (_, t) = app
        .call(
            "POST",
            "/v1/tenants",
            Some(&app.admin),
            Some(json!({"name": "beta"})),
        )
        .await;
    let beta = t["admin_token"].as_str().unwrap().to_string();
    let created = audit(
        &app,
        &app.admin,
        &format!("credential={cred}&action=created"),
    )
    .await;
    let seq = created[0]["seq"].as_u64().unwrap();
    // Beta's event leaves hold none of the default tenant's events.
    let (s, ev) = app
        .call("GET", "/v1/ledger/events?limit=1000", Some(&beta), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(ev["events"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["seq"].as_u64() != Some(seq)));
    // Proving the other tenant's event: 404, recorded in both tenants.
    let before = app.events();
    let (s, p) = app
        .call("GET", &format!("/v1/audit/{seq}/proof"), Some(&beta), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{p}");
    assert!(p.get("leaf").is_none());
    assert_eq!(app.events(), before + 2);
    let owner_view = audit(&app, &app.admin, "action=access_denied").await;
    assert_eq!(
        owner_view.last().unwrap()["details"]["reason"],
        "other_tenant"
    );
    let beta_view = audit(&app, &beta, "action=access_denied").await;
    assert_eq!(beta_view.last().unwrap()["details"]["reason"], "not_found");
    assert_eq!(
        beta_view.last().unwrap()["details"]["target"],
        json!(seq.to_string())
    );
    // Cross-tenant GETs of a credential and its versions are recorded too.
    for path in [
        format!("/v1/credentials/{cred}"),
        format!("/v1/credentials/{cred}/versions"),
    ] {
        let before = app.events();
        let (s, _) = app.call("GET", &path, Some(&beta), None).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert_eq!(app.events(), before + 2, "{path}");
    }
    // The global tree's checkpoints and proofs reveal every tenant's activity volume:
    // system reviewers only, each refusal recorded; beta reads its own tenant's log.
    for path in [
        format!("/v1/ledger/proof/inclusion?index={seq}"),
        "/v1/ledger/proof/consistency?old=1".to_string(),
        "/v1/ledger/checkpoint".to_string(),
        "/v1/ledger/checkpoints".to_string(),
    ] {
        let before = app.events();
        let (s, v) = app.call("GET", &path, Some(&beta), None).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}: {v}");
        assert!(v.get("leaf").is_none());
        assert_eq!(app.events(), before + 1, "{path}");
    }
    let (s, _) = app
        .call("GET", "/v1/ledger/tenant/checkpoint", Some(&beta), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    app.assert_never_leaked(SECRET);
}

#[tokio::test]
async fn secret_answers_are_not_cached_and_csv_cells_are_not_formulas() {
    let app = TestApp::new().await;
    let (_, c) = app
        .call(
            "POST",
            "/v1/credentials",
            Some(&app.admin),
            Some(json!({"name": "k", "template": "api_key", "fields": {"api_key": SECRET}})),
        )
        .await;
    let cred = id_of(&c);
    let root = root_id(&app);
    for (m, p, body) in [
        ("POST", format!("/v1/credentials/{cred}/resolve"), None),
        (
            "POST",
            "/v1/resolve".to_string(),
            Some(json!({"service": "api_key", "for_user": null})),
        ),
        ("POST", format!("/v1/principals/{root}/tokens"), None),
        (
            "POST",
            "/v1/tenants".to_string(),
            Some(json!({"name": "nc"})),
        ),
        ("GET", "/v1/secret/data/k".to_string(), None),
    ] {
        let (s, h, _) = app.call_from(None, m, &p, Some(&app.admin), body).await;
        if s.is_success() {
            assert_eq!(
                h.get("cache-control").map(|v| v.to_str().unwrap()),
                Some("no-store"),
                "{m} {p}"
            );
        }
    }
    // A client-chosen request id that a spreadsheet would run.
    let req = axum::http::Request::builder()
        .method("POST")
        .uri(format!("/v1/credentials/{cred}/resolve"))
        .header("authorization", format!("Bearer {}", app.admin))
        .header("x-request-id", "=HYPERLINK(\"http://x\")")
        .body(axum::body::Body::empty())
        .unwrap();
    let resp = tower::ServiceExt::oneshot(app.app.clone(), req)
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let (_, csv) = app
        .call_raw(
            "GET",
            "/v1/audit/export?format=csv",
            Some(&app.admin),
            None,
            "",
        )
        .await;
    assert!(csv.contains("'=HYPERLINK"), "{csv}");
    assert!(!csv.contains(",=HYPERLINK"));
    assert!(!csv.contains(SECRET));
}

#[tokio::test]
async fn names_are_normalised_visible_and_unique_without_case() {
    let app = TestApp::new().await;
    let create = |name: &str| {
        let body = json!({"name": name, "template": "api_key", "fields": {"api_key": "v"}});
        let app = &app;
        async move {
            app.call("POST", "/v1/credentials", Some(&app.admin), Some(body))
                .await
        }
    };
    let before = app.events();
    let dump = app.store_dump();
    for bad in ["invoice\u{202E}fdp.exe", "zero\u{200B}width", "tab\tname"] {
        let (s, v) = create(bad).await;
        assert_eq!(
            (s, v["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("name"))
        );
    }
    assert_eq!(app.events(), before);
    assert!(app.store_dump() == dump, "a refused name changed the store");
    let (s, v) = create("Cafe\u{301}-Key").await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(v["name"], "Caf\u{e9}-Key");
    let (s, v) = create("caf\u{e9}-KEY").await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    let (s, _) = app
        .call(
            "POST",
            "/v1/principals",
            Some(&app.admin),
            Some(json!({"name": "ADMIN", "kind": "user", "role": "editor"})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) = app
        .call(
            "POST",
            "/v1/tenants",
            Some(&app.admin),
            Some(json!({"name": "Default"})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
}
