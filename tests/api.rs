//! The HTTP API through the real router, on a real ledger in a temp dir.

mod support;

use axum::http::StatusCode;
use serde_json::{json, Value};
use support::TestApp;

const SECRET: &str = "sk-live-Zq8uT4mN2pX9vB6c";
const SECRET2: &str = "sk-live-rotated-Hh3kLw7Yp";
/// An id that names nothing.
const UNKNOWN_ID: &str = "00000000-0000-0000-0000-0000000000ff";

async fn create(app: &TestApp, token: &str, body: Value) -> (StatusCode, Value) {
    app.call("POST", "/v1/credentials", Some(token), Some(body))
        .await
}

async fn audit(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let (s, v) = app
        .call("GET", &format!("/v1/audit?{query}"), Some(token), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["events"].as_array().unwrap().clone()
}

#[tokio::test]
async fn full_credential_lifecycle() {
    let app = TestApp::new().await;
    let admin = app.admin.clone();
    let (s, c) = create(&app, &admin, json!({"name": "openai-prod", "template": "openai", "fields": {"api_key": SECRET}, "rotate_every_days": 90, "default": true})).await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let id = c["id"].as_str().unwrap().to_string();
    assert_eq!(c["version"], 1);
    assert_eq!(c["secret_fields"], json!(["api_key"]));
    assert_eq!(c["rotation_status"], "ok");

    // Resolve by service (tenant default) and by id.
    let (s, r) = app
        .call(
            "POST",
            "/v1/resolve",
            Some(&admin),
            Some(json!({"service": "openai"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(
        (
            r["source"].as_str(),
            r["version"].as_u64(),
            r["fields"]["api_key"].as_str()
        ),
        (Some("tenant_default"), Some(1), Some(SECRET))
    );

    // Rotate: the very next resolve sees version 2.
    let (s, v) = app
        .call(
            "POST",
            &format!("/v1/credentials/{id}/rotate"),
            Some(&admin),
            Some(json!({"fields": {"api_key": SECRET2}})),
        )
        .await;
    assert_eq!((s, v["version"].as_u64()), (StatusCode::OK, Some(2)), "{v}");
    let (_, r) = app
        .call(
            "POST",
            &format!("/v1/credentials/{id}/resolve"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(
        (
            r["version"].as_u64(),
            r["fields"]["api_key"].as_str(),
            r["source"].as_str()
        ),
        (Some(2), Some(SECRET2), Some("direct"))
    );
    // An older retained version can still be resolved explicitly.
    let (_, r) = app
        .call(
            "POST",
            &format!("/v1/credentials/{id}/resolve"),
            Some(&admin),
            Some(json!({"version": 1})),
        )
        .await;
    assert_eq!(r["fields"]["api_key"].as_str(), Some(SECRET));

    let (_, vs) = app
        .call(
            "GET",
            &format!("/v1/credentials/{id}/versions"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(vs["versions"].as_array().unwrap().len(), 2);

    // Metadata update.
    let (s, u) = app
        .call(
            "PATCH",
            &format!("/v1/credentials/{id}"),
            Some(&admin),
            Some(json!({"description": "prod key", "rotate_every_days": null})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{u}");
    assert_eq!(
        (u["description"].as_str(), u["rotation_status"].as_str()),
        (Some("prod key"), Some("none"))
    );

    // Soft delete blocks resolves (recorded), restore brings it back.
    let (s, _) = app
        .call(
            "DELETE",
            &format!("/v1/credentials/{id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, e) = app
        .call(
            "POST",
            &format!("/v1/credentials/{id}/resolve"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    let (s, _) = app
        .call(
            "POST",
            &format!("/v1/credentials/{id}/restore"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);

    // Usage and audit.
    let (_, usage) = app
        .call(
            "GET",
            &format!("/v1/credentials/{id}/usage"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(
        (usage["uses"].as_u64(), usage["denied"].as_u64()),
        (Some(3), Some(1)),
        "{usage}"
    );
    let actions: Vec<String> = audit(&app, &admin, &format!("credential={id}"))
        .await
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        actions,
        [
            "created",
            "used",
            "rotated",
            "used",
            "used",
            "updated",
            "deleted",
            "use_denied",
            "restored"
        ]
    );

    // Destroy: crypto-shred, later resolves are gone (and recorded).
    let (s, d) = app
        .call(
            "POST",
            &format!("/v1/credentials/{id}/destroy"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(
        (s, d["shred"].as_str()),
        (StatusCode::OK, Some("complete")),
        "{d}"
    );
    let (s, _) = app
        .call(
            "POST",
            &format!("/v1/credentials/{id}/resolve"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::GONE);
    let (_, c) = app
        .call("GET", &format!("/v1/credentials/{id}"), Some(&admin), None)
        .await;
    assert_eq!(c["status"], "destroyed");
    let denied = audit(&app, &admin, &format!("credential={id}&outcome=denied")).await;
    assert_eq!(denied.len(), 2);
    assert!(denied.iter().all(|e| e["action"] == "use_denied"));

    app.assert_never_leaked(SECRET);
    app.assert_never_leaked(SECRET2);
}

#[tokio::test]
async fn resolution_order_and_env_fallback() {
    let app = TestApp::with_config(|c| {
        let mut f = credledger::secret::SecretFields::default();
        f.0.insert("api_key".into(), "env-anthropic-key".into());
        c.fallbacks.insert("anthropic".into(), f);
    })
    .await;
    let admin = app.admin.clone();
    let (alice, alice_tok) = app.principal("alice", "user", "editor").await;
    let (svc, svc_tok) = app.principal("portal", "service", "resolver").await;

    // Nothing configured: a clear 404, and the miss is recorded.
    let (s, e) = app
        .call(
            "POST",
            "/v1/resolve",
            Some(&alice_tok),
            Some(json!({"service": "openai"})),
        )
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_configured"))
    );

    let (_, d) = create(&app, &admin, json!({"name": "team-default", "template": "openai", "fields": {"api_key": "k-default"}, "default": true})).await;
    let (_, shared) = create(
        &app,
        &admin,
        json!({"name": "team-shared", "template": "openai", "fields": {"api_key": "k-shared"}}),
    )
    .await;
    let resolve_for = |tok: String, user: Option<String>| {
        let app = &app;
        async move {
            let body = match user {
                Some(u) => json!({"service": "openai", "for_user": u}),
                None => json!({"service": "openai"}),
            };
            app.call("POST", "/v1/resolve", Some(&tok), Some(body))
                .await
                .1
        }
    };
    let r = resolve_for(alice_tok.clone(), None).await;
    assert_eq!(
        (r["source"].as_str(), r["credential_id"].as_str()),
        (Some("tenant_default"), d["id"].as_str())
    );
    let sid = shared["id"].as_str().unwrap();
    let (s, _) = app
        .call(
            "POST",
            &format!("/v1/credentials/{sid}/grants"),
            Some(&admin),
            Some(json!({"principal": alice})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let r = resolve_for(alice_tok.clone(), None).await;
    assert_eq!(
        (r["source"].as_str(), r["fields"]["api_key"].as_str()),
        (Some("granted"), Some("k-shared"))
    );
    let (s, own) = create(&app, &alice_tok, json!({"name": "alice-own", "template": "openai", "fields": {"api_key": "k-alice"}, "owner": "me"})).await;
    assert_eq!(s, StatusCode::CREATED, "{own}");
    let r = resolve_for(alice_tok.clone(), None).await;
    assert_eq!(
        (r["source"].as_str(), r["fields"]["api_key"].as_str()),
        (Some("own"), Some("k-alice"))
    );
    // A resolver service resolves on behalf of alice only with a delegation.
    let r = resolve_for(svc_tok.clone(), Some(alice.clone())).await;
    assert_eq!(r["error"]["code"], "forbidden", "{r}");
    let (s, _) = app
        .call(
            "POST",
            &format!("/v1/principals/{svc}/delegation"),
            Some(&admin),
            Some(json!({"users": [alice]})),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let r = resolve_for(svc_tok.clone(), Some(alice.clone())).await;
    assert_eq!(
        (r["source"].as_str(), r["fields"]["api_key"].as_str()),
        (Some("own"), Some("k-alice"))
    );
    // Env fallback.
    let (s, r) = app
        .call(
            "POST",
            "/v1/resolve",
            Some(&alice_tok),
            Some(json!({"service": "anthropic"})),
        )
        .await;
    assert_eq!(
        (s, r["source"].as_str(), r["fields"]["api_key"].as_str()),
        (StatusCode::OK, Some("env"), Some("env-anthropic-key"))
    );
    let used = audit(&app, &admin, "action=used").await;
    assert!(used
        .iter()
        .any(|e| e["details"]["source"] == "env" && e["details"]["service"] == "anthropic"));
    let missed = audit(&app, &admin, "action=use_denied").await;
    assert!(missed
        .iter()
        .any(|e| e["details"]["reason"] == "not_configured"));
    app.assert_never_leaked("env-anthropic-key");
    app.assert_never_leaked("k-alice");
}

/// Every role against every endpoint. Every 403/404 leaves exactly one event: a denial
/// in the caller's tenant naming the caller; a permitted call is arranged so that it does
/// not change what later calls see (or runs last). The README's roles matrix is this
/// table.
#[tokio::test]
async fn authorization_matrix() {
    let app = TestApp::new().await;
    let admin = app.admin.clone();
    let (_, editor) = app.principal("ed", "user", "editor").await;
    let (_, member) = app.principal("mem", "user", "member").await;
    let (_, resolver) = app.principal("svc", "service", "resolver").await;
    let (_, auditor) = app.principal("aud", "user", "auditor").await;
    let (victim, victim_token) = app.principal("victim", "user", "editor").await;
    let victim_token_id = app.ledger.authenticate(&victim_token).unwrap().token;
    let (victim2, _) = app.principal("victim2", "user", "editor").await;
    let (delegate, _) = app.principal("delegate", "service", "resolver").await;
    let (_, c) = create(
        &app,
        &admin,
        json!({"name": "shared", "template": "api_key", "fields": {"api_key": SECRET}}),
    )
    .await;
    let id = c["id"].as_str().unwrap().to_string();
    let (mut grantees, mut groups) = (Vec::new(), Vec::new());
    for r in 0..5 {
        grantees.push(app.principal(&format!("g{r}"), "user", "resolver").await.0);
        let (s, g) = app
            .call(
                "POST",
                "/v1/groups",
                Some(&admin),
                Some(json!({"name": format!("team{r}")})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{g}");
        groups.push(g["id"].as_str().unwrap().to_string());
    }
    let team = groups[0].clone();
    let bench = |name: &str| {
        json!({"name": name, "title": "Benchmarker", "description": "API URL and key.",
               "fields": [{"name": "api_url", "type": "text", "required": true},
                          {"name": "api_key", "type": "secret", "required": true}]})
    };
    let ev = |s: &str| s.to_string();
    // (method, path, body, [admin, editor, member, resolver, auditor]) expected statuses.
    let cases: Vec<(&str, String, Option<Value>, [u16; 5])> = vec![
        ("GET", ev("/v1/whoami"), None, [200, 200, 200, 200, 200]),
        (
            "GET",
            ev("/v1/credentials"),
            None,
            [200, 200, 200, 200, 200],
        ),
        (
            "GET",
            format!("/v1/credentials/{id}"),
            None,
            [200, 200, 200, 200, 200],
        ),
        (
            "GET",
            format!("/v1/credentials/{id}/versions"),
            None,
            [200, 200, 200, 200, 200],
        ),
        (
            "GET",
            format!("/v1/credentials/{id}/usage"),
            None,
            [200, 200, 200, 200, 200],
        ),
        (
            "GET",
            format!("/v1/credentials/{id}/access"),
            None,
            [200, 403, 403, 403, 200],
        ),
        // Editors manage shared credentials but resolve only what they own or were granted.
        (
            "POST",
            format!("/v1/credentials/{id}/resolve"),
            None,
            [200, 403, 403, 403, 403],
        ),
        (
            "POST",
            ev("/v1/resolve"),
            Some(json!({"service": "api_key"})),
            [404, 404, 404, 404, 403],
        ),
        (
            "POST",
            format!("/v1/credentials/{id}/verify"),
            None,
            [200, 200, 403, 403, 403],
        ),
        (
            "POST",
            ev("/v1/verify"),
            Some(
                json!({"template": "bearer_token", "fields": {"token": "t", "url": "http://127.0.0.1:1/"}}),
            ),
            [200, 200, 200, 403, 403],
        ),
        ("GET", ev("/v1/audit"), None, [200, 403, 403, 403, 200]),
        (
            "GET",
            ev("/v1/audit/export"),
            None,
            [200, 403, 403, 403, 200],
        ),
        (
            "GET",
            ev("/v1/audit?scope=system"),
            None,
            [200, 403, 403, 403, 403],
        ),
        (
            "GET",
            ev("/v1/compliance/rotation"),
            None,
            [200, 403, 403, 403, 200],
        ),
        ("GET", ev("/v1/usage"), None, [200, 200, 200, 200, 200]),
        (
            "GET",
            ev("/v1/usage/summary?by=service"),
            None,
            [200, 200, 200, 200, 200],
        ),
        (
            "GET",
            format!("/v1/usage/principals/{victim}"),
            None,
            [200, 403, 403, 403, 200],
        ),
        ("GET", ev("/v1/principals"), None, [200, 200, 403, 403, 200]),
        (
            "GET",
            ev("/v1/ledger/events"),
            None,
            [200, 403, 403, 403, 200],
        ),
        // The tenant's reviewers get their tenant's tree size and tenant-tree proofs from
        // these two (checked in `proofs_over_http_check_out_against_the_signed_checkpoint`).
        (
            "GET",
            ev("/v1/audit/1/proof"),
            None,
            [200, 403, 403, 403, 200],
        ),
        (
            "GET",
            ev("/v1/ledger/checkpoint"),
            None,
            [200, 403, 403, 403, 403],
        ),
        (
            "GET",
            ev("/v1/ledger/proof/inclusion?index=0"),
            None,
            [200, 403, 403, 403, 403],
        ),
        (
            "GET",
            ev("/v1/ledger/proof/consistency?old=1"),
            None,
            [200, 403, 403, 403, 403],
        ),
        (
            "GET",
            ev("/v1/ledger/tenant/checkpoint"),
            None,
            [200, 403, 403, 403, 200],
        ),
        (
            "GET",
            ev("/v1/ledger/tenant/checkpoints"),
            None,
            [200, 403, 403, 403, 200],
        ),
        (
            "GET",
            ev("/v1/ledger/tenant/publickey"),
            None,
            [200, 403, 403, 403, 200],
        ),
        (
            "GET",
            ev("/v1/ledger/tenant/leaves"),
            None,
            [200, 403, 403, 403, 200],
        ),
        (
            "GET",
            ev("/v1/ledger/tenant/proof/inclusion?index=0"),
            None,
            [200, 403, 403, 403, 200],
        ),
        (
            "GET",
            ev("/v1/ledger/tenant/proof/consistency?old=1"),
            None,
            [200, 403, 403, 403, 200],
        ),
        (
            "GET",
            format!("/v1/credentials/{id}/usage-report?from=2001-01-01T00:00:00Z&to=2001-01-02T00:00:00Z"),
            None,
            [200, 403, 403, 403, 200],
        ),
        ("GET", ev("/v1/templates"), None, [200, 200, 200, 200, 200]),
        (
            "GET",
            ev("/v1/templates/openai"),
            None,
            [200, 200, 200, 200, 200],
        ),
        (
            "POST",
            ev("/v1/templates"),
            Some(bench("bench_{role}")),
            [201, 403, 403, 403, 403],
        ),
        (
            "PUT",
            ev("/v1/templates/bench_put"),
            Some(bench("bench_put")),
            [200, 403, 403, 403, 403],
        ),
        (
            "DELETE",
            ev("/v1/templates/bench_admin"),
            None,
            [204, 403, 403, 403, 403],
        ),
        ("GET", ev("/v1/groups"), None, [200, 200, 200, 200, 200]),
        (
            "POST",
            ev("/v1/groups"),
            Some(json!({"name": "grp-{role}"})),
            [201, 403, 403, 403, 403],
        ),
        (
            "POST",
            format!("/v1/groups/{team}/members"),
            Some(json!({"principal": "{grantee}"})),
            [204, 403, 403, 403, 403],
        ),
        (
            "DELETE",
            format!("/v1/groups/{team}/members/{}", grantees[0]),
            None,
            [204, 403, 403, 403, 403],
        ),
        (
            "POST",
            ev("/v1/principals"),
            Some(json!({"name": "n-{role}", "kind": "user", "role": "auditor"})),
            [201, 403, 403, 403, 403],
        ),
        (
            "POST",
            format!("/v1/principals/{victim}/tokens"),
            None,
            [201, 403, 403, 403, 403],
        ),
        (
            "DELETE",
            format!("/v1/tokens/{victim_token_id}"),
            None,
            [204, 403, 403, 403, 403],
        ),
        (
            "POST",
            format!("/v1/principals/{delegate}/delegation"),
            Some(json!({"all_users": true})),
            [204, 403, 403, 403, 403],
        ),
        (
            "DELETE",
            format!("/v1/principals/{delegate}/delegation"),
            None,
            [204, 403, 403, 403, 403],
        ),
        (
            "POST",
            ev("/v1/tenants"),
            Some(json!({"name": "t-{role}"})),
            [201, 403, 403, 403, 403],
        ),
        (
            "POST",
            ev("/v1/credentials"),
            Some(json!({"name": "c-{role}", "template": "api_key", "fields": {"api_key": "x"}})),
            [201, 201, 403, 403, 403],
        ),
        (
            "POST",
            ev("/v1/credentials"),
            Some(
                json!({"name": "mine", "template": "api_key", "fields": {"api_key": "x"}, "owner": "me"}),
            ),
            [201, 201, 201, 403, 403],
        ),
        (
            "PATCH",
            format!("/v1/credentials/{id}"),
            Some(json!({"description": "d-{role}"})),
            [200, 200, 403, 403, 403],
        ),
        (
            "PATCH",
            format!("/v1/credentials/{id}"),
            Some(json!({"fields": {"header_name": "X-Key-{role}"}})),
            [200, 403, 403, 403, 403],
        ),
        (
            "POST",
            format!("/v1/credentials/{id}/grants"),
            Some(json!({"principal": "{grantee}"})),
            [201, 201, 403, 403, 403],
        ),
        (
            "POST",
            format!("/v1/credentials/{id}/grants"),
            Some(json!({"group": "{group}", "level": "manage"})),
            [201, 201, 403, 403, 403],
        ),
        (
            "DELETE",
            format!("/v1/credentials/{id}/grants/{}", grantees[0]),
            None,
            [204, 404, 403, 403, 403],
        ),
        (
            "POST",
            format!("/v1/credentials/{id}/rotate"),
            Some(json!({"fields": {"api_key": "rot"}})),
            [200, 200, 403, 403, 403],
        ),
        (
            "GET",
            ev("/v1/secret/data/shared"),
            None,
            [200, 403, 403, 403, 403],
        ),
        (
            "GET",
            ev("/v1/secret/metadata/shared"),
            None,
            // KV metadata follows the resolve rule: only those who may resolve it see it.
            [200, 404, 404, 404, 200],
        ),
        (
            "POST",
            ev("/v1/secret/data/kv-{role}"),
            Some(json!({"data": {"k": "v"}})),
            [200, 200, 403, 403, 403],
        ),
        (
            "POST",
            ev("/v1/secret/config"),
            Some(json!({"max_versions": 5})),
            [204, 403, 403, 403, 403],
        ),
        (
            "DELETE",
            format!("/v1/principals/{victim2}"),
            None,
            [204, 403, 403, 403, 403],
        ),
        // Webhooks: admins of the tenant only (a missing one is a recorded 404).
        (
            "POST",
            ev("/v1/webhooks"),
            Some(json!({"url": "https://hooks.example.com/{role}", "events": ["destroyed"]})),
            [201, 403, 403, 403, 403],
        ),
        ("GET", ev("/v1/webhooks"), None, [200, 403, 403, 403, 403]),
        (
            "DELETE",
            format!("/v1/webhooks/{}", credledger::id::Id::random()),
            None,
            [404, 403, 403, 403, 403],
        ),
        // The scheduled-test switch, unchanged (no event): who may verify may set it.
        (
            "PATCH",
            format!("/v1/credentials/{id}"),
            Some(json!({"scheduled_verify": true})),
            [200, 200, 403, 403, 403],
        ),
        // The default switch: after the admin's, the editor's is a no-op (200).
        (
            "POST",
            format!("/v1/credentials/{id}/default"),
            None,
            [200, 200, 403, 403, 403],
        ),
        (
            "DELETE",
            format!("/v1/credentials/{id}"),
            None,
            [200, 409, 403, 403, 403],
        ),
        (
            "POST",
            format!("/v1/credentials/{id}/restore"),
            None,
            [200, 409, 403, 403, 403],
        ),
        // Destroy is last: it ends the credential's life.
        (
            "POST",
            format!("/v1/credentials/{id}/destroy"),
            None,
            [200, 403, 403, 403, 403],
        ),
    ];
    let roles = [
        ("admin", admin.clone()),
        ("editor", editor),
        ("member", member),
        ("resolver", resolver),
        ("auditor", auditor),
    ];
    for (method, path, body, expected) in &cases {
        for (i, (role, token)) in roles.iter().enumerate() {
            let me = app
                .ledger
                .authenticate(token)
                .unwrap()
                .principal
                .to_string();
            let body = body.as_ref().map(|b| {
                serde_json::from_str(
                    &b.to_string()
                        .replace("{role}", role)
                        .replace("{grantee}", &grantees[i])
                        .replace("{group}", &groups[i]),
                )
                .unwrap()
            });
            let before = app.events();
            let view_before = app
                .call("GET", &format!("/v1/credentials/{id}"), Some(&admin), None)
                .await
                .1;
            let (s, v) = app.call(method, path, Some(token), body).await;
            assert_eq!(s.as_u16(), expected[i], "{role} {method} {path}: {v}");
            if matches!(s, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND) {
                assert_eq!(
                    app.events(),
                    before + 1,
                    "{role} {method} {path} did not leave exactly one event"
                );
                let denied = audit(&app, &admin, "outcome=denied&limit=1000").await;
                let last = denied.last().unwrap();
                assert!(
                    last["action"] == "access_denied" || last["action"] == "use_denied",
                    "{last}"
                );
                assert_eq!(last["actor"], json!(me), "{role} {method} {path}: {last}");
                let after = app
                    .call("GET", &format!("/v1/credentials/{id}"), Some(&admin), None)
                    .await
                    .1;
                assert_eq!(
                    (&after["version"], &after["status"], &after["grants"]),
                    (
                        &view_before["version"],
                        &view_before["status"],
                        &view_before["grants"]
                    ),
                    "{role} {method} {path} changed the credential"
                );
            }
        }
    }
    // Unauthenticated and bad tokens.
    for token in [
        None,
        Some("nope"),
        Some("clt_00000000000000000000000000000000_abc"),
    ] {
        let (s, e) = app.call("GET", "/v1/credentials", token, None).await;
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("unauthenticated"))
        );
    }
    app.assert_never_leaked(SECRET);
}

#[tokio::test]
async fn tenants_are_isolated() {
    let app = TestApp::new().await;
    let admin = app.admin.clone();
    let (_, c) = create(&app, &admin, json!({"name": "a-key", "template": "api_key", "fields": {"api_key": SECRET}, "default": true})).await;
    let id = c["id"].as_str().unwrap().to_string();
    let (s, t) = app
        .call(
            "POST",
            "/v1/tenants",
            Some(&admin),
            Some(json!({"name": "beta"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    let beta = t["admin_token"].as_str().unwrap().to_string();

    let (_, list) = app.call("GET", "/v1/credentials", Some(&beta), None).await;
    assert_eq!(list["credentials"].as_array().unwrap().len(), 0);
    for (m, p) in [
        ("GET", format!("/v1/credentials/{id}")),
        ("POST", format!("/v1/credentials/{id}/resolve")),
        ("POST", format!("/v1/credentials/{id}/destroy")),
        ("DELETE", format!("/v1/credentials/{id}")),
        ("GET", format!("/v1/credentials/{id}/usage")),
    ] {
        let (s, v) = app.call(m, &p, Some(&beta), None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{m} {p}: {v}");
    }
    let (s, r) = app
        .call(
            "POST",
            "/v1/resolve",
            Some(&beta),
            Some(json!({"service": "api_key"})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{r}");
    // Beta's log shows its own attempts (as "not found", like an id that exists
    // nowhere) and nothing of the owning tenant's events.
    let beta_audit = audit(&app, &beta, "").await;
    let beta_admin = app
        .ledger
        .authenticate(&beta)
        .unwrap()
        .principal
        .to_string();
    for e in beta_audit
        .iter()
        .filter(|e| e["credential_id"] == json!(id))
    {
        assert_eq!(e["actor"], json!(beta_admin), "{e}");
        assert_eq!(e["details"]["reason"], "not_found", "{e}");
    }
    assert!(beta_audit.iter().any(|e| e["credential_id"] == json!(id)));
    // The owning tenant sees the attempts.
    let attempts = audit(&app, &admin, &format!("credential={id}&outcome=denied")).await;
    assert_eq!(attempts.len(), 5, "{attempts:?}");
    assert!(attempts
        .iter()
        .all(|e| e["details"]["reason"] == "other_tenant"));
    let (_, c) = app
        .call("GET", &format!("/v1/credentials/{id}"), Some(&admin), None)
        .await;
    assert_eq!(c["status"], "active");
    app.assert_never_leaked(SECRET);
}

#[tokio::test]
async fn bad_input_is_a_clear_4xx_and_writes_nothing() {
    let app = TestApp::new().await;
    let admin = app.admin.clone();
    let (_, c) = create(
        &app,
        &admin,
        json!({"name": "k", "template": "api_key", "fields": {"api_key": SECRET}}),
    )
    .await;
    let id = c["id"].as_str().unwrap().to_string();
    let before = app.events();
    let dump = app.store_dump();
    // (method, path, body, status, error code, error field)
    type Case<'a> = (&'a str, String, String, u16, &'a str, Option<&'a str>);
    let cases: Vec<Case> = vec![
        ("POST", "/v1/credentials".into(), "{not json".into(), 400, "bad_request", None),
        ("POST", "/v1/credentials".into(), json!({"name": 5, "template": "api_key", "fields": {}}).to_string(), 422, "invalid_body", None),
        ("POST", "/v1/credentials".into(), json!({"name": "x", "template": "nope", "fields": {}}).to_string(), 422, "unknown_template", Some("template")),
        ("POST", "/v1/credentials".into(), json!({"name": "x", "template": "api_key", "fields": {}}).to_string(), 422, "missing", Some("api_key")),
        ("POST", "/v1/credentials".into(), json!({"name": "x", "template": "proxmox", "fields": {"host": "https://pve:8006", "auth_method": "api_token", "token_value": "v"}}).to_string(), 422, "missing", Some("token_name")),
        ("POST", "/v1/credentials".into(), json!({"name": "x", "template": "api_key", "fields": {"api_key": "v", "bogus": "1"}}).to_string(), 422, "unknown_field", Some("bogus")),
        ("POST", "/v1/credentials".into(), json!({"name": "x", "template": "api_key", "fields": {"api_key": SECRET}, "extra": 1}).to_string(), 422, "invalid_body", None),
        ("POST", "/v1/credentials".into(), json!({"name": "k", "template": "api_key", "fields": {"api_key": "v"}}).to_string(), 409, "conflict", None),
        ("POST", "/v1/credentials".into(), json!({"name": "x", "template": "api_key", "fields": {"api_key": "v"}, "expires_at": "tomorrow"}).to_string(), 422, "invalid_field", Some("expires_at")),
        ("POST", "/v1/credentials".into(), json!({"name": "x", "template": "api_key", "fields": {"api_key": "v"}, "rotate_every_days": 0}).to_string(), 422, "invalid_field", Some("rotate_every_days")),
        ("POST", "/v1/credentials".into(), json!({"name": "x", "template": "api_key", "fields": {"api_key": "x".repeat(300 * 1024)}}).to_string(), 413, "payload_too_large", None),
        ("POST", format!("/v1/credentials/{id}/rotate"), json!({"fields": {"api_key": 42}}).to_string(), 422, "wrong_type", Some("api_key")),
        ("POST", format!("/v1/credentials/{id}/rotate"), json!({"fields": {}}).to_string(), 422, "invalid_field", Some("fields")),
        ("POST", format!("/v1/credentials/{id}/rotate"), json!({"fields": {"api_key": null}}).to_string(), 422, "missing", Some("api_key")),
        ("PATCH", format!("/v1/credentials/{id}"), json!({"fields": {"api_key": 42}}).to_string(), 422, "wrong_type", Some("api_key")),
        ("PATCH", format!("/v1/credentials/{id}"), json!({"fields": {"placement": "carrier-pigeon"}}).to_string(), 422, "not_an_option", Some("placement")),
        ("POST", format!("/v1/credentials/{id}/grants"), json!({"principal": "erin"}).to_string(), 422, "invalid_field", Some("principal")),
        ("POST", format!("/v1/credentials/{id}/grants"), json!({"principal": id, "group": id}).to_string(), 422, "invalid_field", Some("group")),
        ("POST", format!("/v1/credentials/{id}/grants"), json!({"group": UNKNOWN_ID}).to_string(), 422, "invalid_field", Some("group")),
        ("POST", format!("/v1/credentials/{id}/grants"), json!({"principal": UNKNOWN_ID, "level": "owner"}).to_string(), 422, "invalid_field", Some("level")),
        ("POST", "/v1/groups".into(), json!({"name": "team red!"}).to_string(), 422, "invalid_field", Some("name")),
        ("POST", "/v1/groups".into(), json!({"name": 5}).to_string(), 422, "invalid_body", None),
        ("POST", format!("/v1/groups/{UNKNOWN_ID}/members"), json!({"principal": "erin"}).to_string(), 422, "invalid_field", Some("principal")),
        ("POST", "/v1/groups/not-an-id/members".into(), json!({"principal": UNKNOWN_ID}).to_string(), 400, "bad_request", None),
        ("POST", "/v1/templates".into(), json!({"name": "openai", "title": "O", "description": "d", "fields": [{"name": "k", "type": "secret"}]}).to_string(), 409, "conflict", None),
        ("POST", "/v1/templates".into(), json!({"name": "bench", "title": "B", "description": "d", "fields": [{"name": "api_url", "type": "select"}]}).to_string(), 422, "invalid_field", Some("fields.api_url")),
        ("POST", "/v1/templates".into(), json!({"name": "bench", "description": "d", "fields": [{"name": "k", "type": "secret"}]}).to_string(), 422, "invalid_field", Some("title")),
        ("POST", "/v1/templates".into(), json!({"name": "bench", "title": "B", "description": "d", "fields": [{"name": "k", "type": "secret"}], "colour": "red"}).to_string(), 422, "invalid_field", Some("colour")),
        ("PUT", "/v1/templates/other".into(), json!({"name": "bench", "title": "B", "description": "d", "fields": [{"name": "k", "type": "secret"}]}).to_string(), 422, "invalid_field", Some("name")),
        ("DELETE", "/v1/templates/no_such_template".into(), String::new(), 404, "not_found", None),
        ("POST", "/v1/verify".into(), json!({"template": "nope", "fields": {}}).to_string(), 422, "unknown_template", Some("template")),
        ("POST", "/v1/verify".into(), json!({"template": "bearer_token", "fields": {"url": "http://127.0.0.1:1/"}}).to_string(), 422, "missing", Some("token")),
        ("POST", "/v1/verify".into(), json!({"template": "custom", "fields": {"k": SECRET}}).to_string(), 409, "conflict", None),
        ("POST", "/v1/verify".into(), json!({"template": "bearer_token"}).to_string(), 422, "invalid_body", None),
        ("GET", "/v1/usage/summary?by=provider".into(), String::new(), 422, "invalid_field", Some("by")),
        ("POST", "/v1/credentials/not-an-id/resolve".into(), String::new(), 400, "bad_request", None),
        ("POST", "/v1/principals".into(), json!({"name": "p", "kind": "robot", "role": "admin"}).to_string(), 422, "invalid_field", Some("kind")),
        ("POST", "/v1/resolve".into(), json!({"service": "Bad Service!"}).to_string(), 422, "invalid_field", Some("service")),
        ("GET", "/v1/audit?limit=0".into(), String::new(), 422, "invalid_field", Some("limit")),
        ("GET", "/v1/audit?action=explode".into(), String::new(), 422, "invalid_field", Some("action")),
        ("GET", "/v1/nope".into(), String::new(), 404, "not_found", None),
        ("PUT", "/v1/credentials".into(), String::new(), 405, "method_not_allowed", None),
    ];
    for (m, p, body, status, code, field) in cases {
        let body = if body.is_empty() { None } else { Some(body) };
        let (s, text) = app
            .call_raw(m, &p, Some(&admin), body, "application/json")
            .await;
        let v: Value =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{m} {p}: not JSON: {text}"));
        assert_eq!(s.as_u16(), status, "{m} {p}: {v}");
        assert_eq!(v["error"]["code"].as_str(), Some(code), "{m} {p}: {v}");
        assert_eq!(v["error"]["field"].as_str(), field, "{m} {p}: {v}");
        assert!(!text.contains(SECRET));
        assert_eq!(app.events(), before, "{m} {p} wrote an event");
        assert!(app.store_dump() == dump, "{m} {p} changed the store");
    }
    let (s, _) = app
        .call_raw(
            "POST",
            "/v1/credentials",
            Some(&admin),
            Some("{}".into()),
            "text/plain",
        )
        .await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(app.events(), before);
    assert!(app.store_dump() == dump, "a 415 changed the store");
    // A 404 for an id is a refusal: it writes exactly its record, nothing else.
    let (s, v) = app
        .call(
            "POST",
            "/v1/credentials/00000000-0000-0000-0000-000000000001/rotate",
            Some(&admin),
            Some(json!({"fields": {"api_key": "v"}})),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    assert_eq!(app.events(), before + 1);
    let last = audit(&app, &admin, "action=access_denied").await;
    let last = last.last().unwrap();
    assert_eq!(
        (
            &last["details"]["attempted"],
            &last["details"]["reason"],
            &last["details"]["target"]
        ),
        (
            &json!("rotated"),
            &json!("not_found"),
            &json!("00000000-0000-0000-0000-000000000001")
        )
    );
    app.assert_never_leaked(SECRET);
}

#[tokio::test]
async fn tokens_can_be_revoked_and_expire() {
    let app = TestApp::new().await;
    let (pid, tok) = app.principal("bob", "user", "editor").await;
    let (s, _) = app.call("GET", "/v1/whoami", Some(&tok), None).await;
    assert_eq!(s, StatusCode::OK);
    let (_, issued) = app
        .call(
            "POST",
            &format!("/v1/principals/{pid}/tokens"),
            Some(&app.admin),
            Some(json!({"expires_at": "2020-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(issued["error"]["field"], "expires_at");
    let tid = app.ledger.authenticate(&tok).unwrap().token;
    let (s, _) = app
        .call(
            "DELETE",
            &format!("/v1/tokens/{tid}"),
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = app.call("GET", "/v1/whoami", Some(&tok), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let revoked = audit(&app, &app.admin, "action=token_revoked").await;
    assert_eq!(revoked.len(), 1);
    // Disabling a principal revokes its other tokens too.
    let (_, tok2) = app
        .call(
            "POST",
            &format!("/v1/principals/{pid}/tokens"),
            Some(&app.admin),
            None,
        )
        .await;
    let tok2 = tok2["token"].as_str().unwrap().to_string();
    let (s, _) = app
        .call(
            "DELETE",
            &format!("/v1/principals/{pid}"),
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = app.call("GET", "/v1/whoami", Some(&tok2), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(!support::logs().contains(&tok2));
}

#[tokio::test]
async fn audit_pagination_filters_and_export() {
    let app = TestApp::new().await;
    let admin = app.admin.clone();
    let (_, c) = create(
        &app,
        &admin,
        json!({"name": "k", "template": "api_key", "fields": {"api_key": SECRET}}),
    )
    .await;
    let id = c["id"].as_str().unwrap().to_string();
    for _ in 0..25 {
        let (s, _) = app
            .call(
                "POST",
                &format!("/v1/credentials/{id}/resolve"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK);
    }
    let mut cursor = String::new();
    let mut seen = Vec::new();
    loop {
        let q = format!(
            "action=used&limit=10{}",
            if cursor.is_empty() {
                String::new()
            } else {
                format!("&cursor={cursor}")
            }
        );
        let (_, page) = app
            .call("GET", &format!("/v1/audit?{q}"), Some(&admin), None)
            .await;
        for e in page["events"].as_array().unwrap() {
            seen.push(e["seq"].as_u64().unwrap());
            assert_eq!(e["action"], "used");
            assert_eq!(e["credential_id"], json!(id));
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 25);
    assert!(seen.windows(2).all(|w| w[0] < w[1]));
    // Time filters: nothing before the epoch of the first event, everything from it on.
    let (_, page) = app
        .call(
            "GET",
            "/v1/audit?to=2000-01-01T00:00:00Z",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(page["events"].as_array().unwrap().len(), 0);
    let (s, jsonl) = app
        .call_raw(
            "GET",
            "/v1/audit/export?format=jsonl&action=used",
            Some(&admin),
            None,
            "",
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(jsonl.lines().count(), 25);
    let (_, csv) = app
        .call_raw("GET", "/v1/audit/export?format=csv", Some(&admin), None, "")
        .await;
    assert!(csv.starts_with("seq,at,action,outcome"));
    // A header plus one line per event of the tenant (all but the ledger-wide genesis).
    assert_eq!(csv.lines().count() as u64, 1 + (app.events() - 1));
    assert!(!csv.contains(SECRET) && !jsonl.contains(SECRET));
}

#[tokio::test]
async fn rotation_schedule_and_expiry_follow_the_clock() {
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::sync::Arc;
    let now = Arc::new(AtomicI64::new(1_800_000_000_000));
    let clock = now.clone();
    let app =
        TestApp::with_config(move |c| c.clock = Arc::new(move || clock.load(Ordering::SeqCst)))
            .await;
    let admin = app.admin.clone();
    let day = 86_400_000;
    let (_, c) = create(&app, &admin, json!({"name": "weekly", "template": "api_key", "fields": {"api_key": SECRET}, "rotate_every_days": 10, "expires_at": "2027-02-01T00:00:00Z"})).await;
    let id = c["id"].as_str().unwrap().to_string();
    assert_eq!(c["rotation_status"], "ok");
    now.fetch_add(4 * day, Ordering::SeqCst);
    let (_, c) = app
        .call("GET", &format!("/v1/credentials/{id}"), Some(&admin), None)
        .await;
    assert_eq!(c["rotation_status"], "due");
    now.fetch_add(7 * day, Ordering::SeqCst);
    let (_, report) = app
        .call("GET", "/v1/compliance/rotation", Some(&admin), None)
        .await;
    assert_eq!(report["overdue"][0]["id"], json!(id), "{report}");
    let (_, due) = app
        .call(
            "GET",
            "/v1/credentials?rotation=overdue",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(due["credentials"].as_array().unwrap().len(), 1);
    // Rotating clears the overdue state.
    app.call(
        "POST",
        &format!("/v1/credentials/{id}/rotate"),
        Some(&admin),
        Some(json!({"fields": {"api_key": SECRET2}})),
    )
    .await;
    let (_, report) = app
        .call("GET", "/v1/compliance/rotation", Some(&admin), None)
        .await;
    assert_eq!(report["overdue"].as_array().unwrap().len(), 0);
    // Past its expiry the credential no longer resolves, and the refusal is recorded.
    now.store(1_900_000_000_000, Ordering::SeqCst);
    let (s, e) = app
        .call(
            "POST",
            &format!("/v1/credentials/{id}/resolve"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::GONE, "{e}");
    let denied = audit(&app, &admin, "action=use_denied").await;
    assert_eq!(denied.last().unwrap()["details"]["reason"], "expired");
    app.assert_never_leaked(SECRET2);
}

/// The load benchmark's ceiling route (src/api/ceiling.rs) exists only with
/// `CREDLEDGER_BENCH_CEILING=1` at start; the test server is started without it.
#[tokio::test]
async fn the_benchmark_ceiling_route_is_off_by_default() {
    assert!(std::env::var_os("CREDLEDGER_BENCH_CEILING").is_none());
    let app = TestApp::new().await;
    let path = format!("/v1/credentials/{UNKNOWN_ID}/resolve-ceiling");
    let (s, _) = app.call("POST", &path, Some(&app.admin), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn openapi_document_lists_every_route() {
    let app = TestApp::new().await;
    let (s, doc) = app.call("GET", "/v1/openapi.json", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/v1/credentials",
        "/v1/credentials/{id}/rotate",
        "/v1/resolve",
        "/v1/audit",
        "/v1/audit/export",
        "/v1/tenants",
        "/v1/principals/{id}/tokens",
        "/v1/groups",
        "/v1/groups/{id}/members",
        "/v1/groups/{id}/members/{principal}",
        "/v1/credentials/{id}/default",
        "/v1/credentials/{id}/access",
        "/v1/verify",
        "/v1/templates",
        "/v1/templates/{name}",
        "/v1/usage/summary",
    ] {
        assert!(paths.contains_key(p), "missing {p}");
    }
    assert!(doc["components"]["schemas"]
        .get("CreateCredential")
        .is_some());
}

#[tokio::test]
async fn proofs_over_http_check_out_against_the_signed_checkpoint() {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let app = TestApp::new().await;
    let admin = app.admin.clone();
    // The global tree is for system reviewers: a system auditor.
    let (s, p) = app
        .call(
            "POST",
            "/v1/principals",
            Some(&admin),
            Some(json!({"name": "aud", "kind": "user", "role": "auditor", "system": true})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let (_, t) = app
        .call(
            "POST",
            &format!("/v1/principals/{}/tokens", p["id"].as_str().unwrap()),
            Some(&admin),
            None,
        )
        .await;
    let auditor = t["token"].as_str().unwrap().to_string();
    let (_, tenant_auditor) = app.principal("taud", "user", "auditor").await;
    let (_, c) = create(
        &app,
        &admin,
        json!({"name": "k", "template": "api_key", "fields": {"api_key": SECRET}}),
    )
    .await;
    let id = c["id"].as_str().unwrap().to_string();
    let (_, key) = app
        .call_raw("GET", "/v1/ledger/publickey", Some(&auditor), None, "")
        .await;
    let (s, note1) = app
        .call_raw("GET", "/v1/ledger/checkpoint", Some(&auditor), None, "")
        .await;
    assert_eq!(s, StatusCode::OK);
    let cp1 = credledger::note::verify_checkpoint(&note1, key.trim()).unwrap();
    app.call(
        "POST",
        &format!("/v1/credentials/{id}/resolve"),
        Some(&admin),
        None,
    )
    .await;
    let (_, note2) = app
        .call_raw("GET", "/v1/ledger/checkpoint", Some(&auditor), None, "")
        .await;
    let cp2 = credledger::note::verify_checkpoint(&note2, key.trim()).unwrap();
    assert!(cp2.size > cp1.size);

    // The auditor proves the `used` event against the checkpoint.
    let used = audit(&app, &auditor, "action=used").await;
    let seq = used[0]["seq"].as_u64().unwrap();
    let (s, p) = app
        .call(
            "GET",
            &format!("/v1/audit/{seq}/proof"),
            Some(&auditor),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    let cp =
        credledger::note::verify_checkpoint(p["checkpoint"].as_str().unwrap(), key.trim()).unwrap();
    let leaf = b64.decode(p["leaf"].as_str().unwrap()).unwrap();
    let path: Vec<[u8; 32]> = p["audit_path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| b64.decode(h.as_str().unwrap()).unwrap().try_into().unwrap())
        .collect();
    credledger::merkle::verify_inclusion(
        &credledger::merkle::leaf_hash(&leaf),
        seq,
        cp.size,
        &path,
        &cp.root,
    )
    .unwrap();
    let event = credledger::event::SignedEvent::from_record(&leaf).unwrap();
    assert_eq!(event.event().body.action(), "used");

    // Consistency between the two checkpoints.
    let (s, c) = app
        .call(
            "GET",
            &format!(
                "/v1/ledger/proof/consistency?old={}&new={}",
                cp1.size, cp2.size
            ),
            Some(&auditor),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{c}");
    let proof: Vec<[u8; 32]> = c["consistency"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| b64.decode(h.as_str().unwrap()).unwrap().try_into().unwrap())
        .collect();
    credledger::merkle::verify_consistency(cp1.size, cp2.size, &cp1.root, &cp2.root, &proof)
        .unwrap();

    // Leaves: the tenant's own events for its reviewers, with exact leaf bytes.
    let (s, ev) = app
        .call(
            "GET",
            "/v1/ledger/events?from=0&limit=1000",
            Some(&tenant_auditor),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{ev}");
    let rows = ev["events"].as_array().unwrap();
    assert!(
        rows.iter().all(|r| r["action"] != "ledger_initialized"),
        "ledger-wide events are for system admins"
    );
    assert!(rows.iter().any(|r| r["seq"].as_u64() == Some(seq)));
    // The tenant's reviewers see their own tree's size, never the global one.
    let (_, tkey) = app
        .call_raw(
            "GET",
            "/v1/ledger/tenant/publickey",
            Some(&tenant_auditor),
            None,
            "",
        )
        .await;
    let tenant_size = ev["tree_size"].as_u64().unwrap();
    assert_eq!(tenant_size as usize, rows.len(), "{ev}");
    let (_, global) = app
        .call("GET", "/v1/ledger/events?limit=1000", Some(&auditor), None)
        .await;
    assert!(global["tree_size"].as_u64().unwrap() > tenant_size);
    // And "prove this audit entry" proves it in the tenant's tree, against a tenant
    // checkpoint (the tenant origin, the tenant's verifier key).
    let (s, tp) = app
        .call(
            "GET",
            &format!("/v1/audit/{seq}/proof"),
            Some(&tenant_auditor),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{tp}");
    let tcp = credledger::note::verify_checkpoint(tp["checkpoint"].as_str().unwrap(), tkey.trim())
        .unwrap();
    assert!(tcp.origin.contains("/tenant/"), "{}", tcp.origin);
    assert!(
        credledger::note::verify_checkpoint(tp["checkpoint"].as_str().unwrap(), key.trim())
            .is_err(),
        "not a global checkpoint"
    );
    assert_eq!(tp["leaf"], p["leaf"], "the same leaf bytes");
    assert_eq!(tp["tree_size"].as_u64(), Some(tcp.size));
    let index = tp["leaf_index"].as_u64().unwrap();
    assert!(index < seq, "the tenant index, not the global one");
    assert_eq!(
        rows.iter().position(|r| r["seq"].as_u64() == Some(seq)),
        Some(index as usize)
    );
    let tpath: Vec<[u8; 32]> = tp["audit_path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| b64.decode(h.as_str().unwrap()).unwrap().try_into().unwrap())
        .collect();
    credledger::merkle::verify_inclusion(
        &credledger::merkle::leaf_hash(&leaf),
        index,
        tcp.size,
        &tpath,
        &tcp.root,
    )
    .unwrap();
    // Both proofs verify offline with the ledger's genesis key (the real binary).
    let (_, gkey) = app
        .call_raw(
            "GET",
            "/v1/ledger/publickey?which=genesis",
            Some(&auditor),
            None,
            "",
        )
        .await;
    let dir = tempfile::tempdir().unwrap();
    for (proof, tree) in [(&p, "the global log"), (&tp, "tenant ")] {
        let file = dir.path().join("proof.json");
        std::fs::write(&file, serde_json::to_vec(proof).unwrap()).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_credledger"))
            .arg("verify-bundle")
            .arg(&file)
            .args(["--key", gkey.trim()])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && text.contains(tree), "{text}");
    }
    // Bad proof requests.
    let (s, _) = app
        .call(
            "GET",
            "/v1/ledger/proof/inclusion?index=999&size=3",
            Some(&auditor),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = app
        .call(
            "GET",
            "/v1/ledger/proof/consistency?old=0&new=3",
            Some(&auditor),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _) = app
        .call(
            "GET",
            "/v1/ledger/proof/inclusion?index=1&size=99999",
            Some(&auditor),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    app.assert_never_leaked(SECRET);
}

#[tokio::test]
async fn regression_a_refused_rotate_with_bad_fields_was_not_recorded() {
    let app = TestApp::new().await;
    let (_, resolver) = app.principal("svc", "service", "resolver").await;
    let (_, c) = create(
        &app,
        &app.admin,
        json!({"name": "k", "template": "api_key", "fields": {"api_key": SECRET}}),
    )
    .await;
    let id = c["id"].as_str().unwrap().to_string();
    let before = app.events();
    let (s, _) = app
        .call(
            "POST",
            &format!("/v1/credentials/{id}/rotate"),
            Some(&resolver),
            Some(json!({"fields": {"nonsense": 1}})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(app.events(), before + 1);
    let denied = audit(&app, &app.admin, "action=access_denied").await;
    assert_eq!(denied.last().unwrap()["details"]["attempted"], "rotated");
    // A permitted caller with bad fields gets the validation error and writes nothing.
    let (s, e) = app
        .call(
            "POST",
            &format!("/v1/credentials/{id}/rotate"),
            Some(&app.admin),
            Some(json!({"fields": {"nonsense": 1}})),
        )
        .await;
    assert_eq!(
        (s, e["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("nonsense"))
    );
    assert_eq!(app.events(), before + 1);
}

#[test]
fn create_input_debug_names_fields_but_never_values() {
    let mut fields = serde_json::Map::new();
    fields.insert("api_key".into(), json!(SECRET));
    let input = credledger::ledger::CreateInput {
        name: "k".into(),
        template: "api_key".into(),
        fields,
        ..Default::default()
    };
    let dbg = format!("{input:?}");
    assert!(dbg.contains("api_key") && !dbg.contains(SECRET), "{dbg}");
}
