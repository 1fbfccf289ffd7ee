//! The web console through the real router (`http::app` + `oneshot`) on a real ledger:
//! every page and form, role gating, CSRF refusals that write nothing, session expiry
//! on an injected clock, the security headers, and that no page's HTML contains a secret
//! value except the answer of a Reveal.

mod support;

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use support::TestApp;
use tower::ServiceExt;

const SECRET: &str = "sk-live-Console7Yq2Wn5";
const PVE_SECRET: &str = "pve-token-Console-4Hk9";
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'; connect-src 'self'";
const DAY: i64 = 86_400_000;

/// A response: status, headers, body text.
struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Resp {
    fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
    fn cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    }
}

fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    cookie: Option<&str>,
    body: Option<String>,
    extra: &[(&str, &str)],
) -> Resp {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let mut req = match body {
        Some(b) => req
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(b))
            .unwrap(),
        None => req.body(Body::empty()).unwrap(),
    };
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(SocketAddr::from((
            [127, 0, 0, 9],
            40000,
        ))));
    let resp = app.app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    Resp {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).to_string(),
    }
}

/// The value of hidden input `name` in a page.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

/// A signed-in browser: the session cookie and the session's CSRF token.
struct Ui {
    cookie: String,
    csrf: String,
    /// Every page body seen, to search for secrets.
    seen: std::sync::Mutex<Vec<String>>,
}

impl Ui {
    async fn sign_in(app: &TestApp, token: &str) -> Ui {
        let login = send(app, Method::GET, "/ui/login", None, None, &[]).await;
        assert_eq!(login.status, StatusCode::OK);
        let login_cookie = login.cookies()[0].split(';').next().unwrap().to_string();
        let t = hidden(&login.body, "login_csrf");
        let r = send(
            app,
            Method::POST,
            "/ui/login",
            Some(&login_cookie),
            Some(form(&[
                ("login_csrf", &t),
                ("token", token),
                ("next", "/ui/"),
            ])),
            &[],
        )
        .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let cookie = r
            .cookies()
            .into_iter()
            .find(|c| c.starts_with("credledger_session="))
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let page = send(app, Method::GET, "/ui/", Some(&cookie), None, &[]).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let csrf = hidden(&page.body, "csrf");
        Ui {
            cookie,
            csrf,
            seen: std::sync::Mutex::new(vec![page.body]),
        }
    }

    async fn get(&self, app: &TestApp, path: &str) -> Resp {
        let r = send(app, Method::GET, path, Some(&self.cookie), None, &[]).await;
        self.seen.lock().unwrap().push(r.body.clone());
        r
    }

    /// A POST with the session's CSRF token.
    async fn post(&self, app: &TestApp, path: &str, pairs: &[(&str, &str)]) -> Resp {
        let mut all = vec![("csrf", self.csrf.as_str())];
        all.extend_from_slice(pairs);
        let r = send(
            app,
            Method::POST,
            path,
            Some(&self.cookie),
            Some(form(&all)),
            &[],
        )
        .await;
        self.seen.lock().unwrap().push(r.body.clone());
        r
    }

    fn assert_never_saw(&self, secret: &str) {
        for b in self.seen.lock().unwrap().iter() {
            assert!(
                !b.contains(secret),
                "a console page contained a secret: {b}"
            );
        }
    }
}

/// A test app whose clock the test moves.
async fn app_with_clock() -> (TestApp, Arc<AtomicI64>) {
    let now = Arc::new(AtomicI64::new(1_800_000_000_000));
    let c = now.clone();
    let app = TestApp::with_config(move |cfg| {
        cfg.clock = Arc::new(move || c.load(Ordering::SeqCst));
        cfg.console.idle_timeout_ms = 30 * 60_000;
        cfg.console.absolute_timeout_ms = 12 * 3_600_000;
    })
    .await;
    (app, now)
}

async fn api(app: &TestApp, method: &str, path: &str, token: &str, body: Option<Value>) -> Value {
    let (s, v) = app.call(method, path, Some(token), body).await;
    assert!(s.is_success(), "{method} {path}: {s} {v}");
    v
}

async fn audit(app: &TestApp, query: &str) -> Vec<Value> {
    api(
        app,
        "GET",
        &format!("/v1/audit?{query}&limit=1000"),
        &app.admin.clone(),
        None,
    )
    .await["events"]
        .as_array()
        .unwrap()
        .clone()
}

async fn openai(app: &TestApp, name: &str) -> String {
    api(
        app,
        "POST",
        "/v1/credentials",
        &app.admin.clone(),
        Some(json!({"name": name, "template": "openai", "fields": {"api_key": SECRET}})),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn every_console_response_carries_the_security_headers() {
    let app = TestApp::new().await;
    let ui = Ui::sign_in(&app, &app.admin).await;
    for r in [
        send(&app, Method::GET, "/ui/login", None, None, &[]).await,
        send(&app, Method::GET, "/", None, None, &[]).await,
        send(&app, Method::GET, "/ui/", None, None, &[]).await,
        send(&app, Method::GET, "/ui/nope", None, None, &[]).await,
        ui.get(&app, "/ui/").await,
        ui.get(&app, "/ui/audit").await,
    ] {
        assert_eq!(r.header("content-security-policy"), CSP);
        assert_eq!(r.header("x-frame-options"), "DENY");
        assert_eq!(r.header("referrer-policy"), "no-referrer");
        assert_eq!(r.header("x-content-type-options"), "nosniff");
        assert_eq!(r.header("cache-control"), "no-store");
        assert!(
            !r.body.contains("<script>") && !r.body.contains(" style="),
            "inline script or style"
        );
        assert!(!r.body.contains(" onclick=") && !r.body.contains("javascript:"));
    }
    let root = send(&app, Method::GET, "/", None, None, &[]).await;
    assert_eq!(
        (root.status, root.location()),
        (StatusCode::SEE_OTHER, "/ui/")
    );
    let nope = ui.get(&app, "/ui/no-such-page").await;
    assert_eq!(nope.status, StatusCode::NOT_FOUND);
    assert!(nope.header("content-type").starts_with("text/html"));
}

#[tokio::test]
async fn assets_are_embedded_hashed_and_cached_for_a_year() {
    let app = TestApp::new().await;
    let page = send(&app, Method::GET, "/ui/login", None, None, &[]).await;
    let paths: Vec<String> = page
        .body
        .split('"')
        .filter(|s| s.starts_with("/ui/assets/"))
        .map(str::to_string)
        .collect();
    assert_eq!(paths.len(), 3, "{paths:?}");
    for p in &paths {
        let r = send(&app, Method::GET, p, None, None, &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{p}");
        assert_eq!(
            r.header("cache-control"),
            "public, max-age=31536000, immutable"
        );
        let etag = r.header("etag").to_string();
        let again = send(
            &app,
            Method::GET,
            p,
            None,
            None,
            &[("if-none-match", &etag)],
        )
        .await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    }
    let htmx = paths.iter().find(|p| p.contains("htmx")).unwrap();
    let r = send(&app, Method::GET, htmx, None, None, &[]).await;
    assert!(r.header("content-type").starts_with("text/javascript"));
    // The vendored file is the one assets/README.md records.
    let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/htmx.min.js")).unwrap();
    use sha2::Digest;
    let sha = hex::encode(sha2::Sha256::digest(&bytes));
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/README.md")).unwrap();
    assert!(
        readme.contains(&sha),
        "assets/README.md does not record htmx's SHA-256 {sha}"
    );
    assert!(readme.contains("0BSD"));
    let unknown = send(&app, Method::GET, "/ui/assets/evil.js", None, None, &[]).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn sign_in_opens_a_strict_server_side_session_and_is_recorded() {
    let app = TestApp::new().await;
    let login = send(&app, Method::GET, "/ui/login", None, None, &[]).await;
    let login_cookie = login.cookies()[0].clone();
    assert!(login_cookie.contains("HttpOnly") && login_cookie.contains("SameSite=Strict"));
    let pair = login_cookie.split(';').next().unwrap().to_string();
    let t = hidden(&login.body, "login_csrf");
    let r = send(
        &app,
        Method::POST,
        "/ui/login",
        Some(&pair),
        Some(form(&[
            ("login_csrf", &t),
            ("token", &app.admin),
            ("next", "https://evil.example/"),
        ])),
        &[],
    )
    .await;
    assert_eq!(
        (r.status, r.location()),
        (StatusCode::SEE_OTHER, "/ui/"),
        "no open redirect"
    );
    let session = r
        .cookies()
        .into_iter()
        .find(|c| c.starts_with("credledger_session="))
        .unwrap();
    let attrs: Vec<&str> = session.split("; ").collect();
    let value = attrs[0].trim_start_matches("credledger_session=");
    assert_eq!(value.len(), 43, "256 random bits, base64url");
    assert!(
        attrs.contains(&"HttpOnly")
            && attrs.contains(&"SameSite=Strict")
            && attrs.contains(&"Path=/ui")
    );
    assert!(
        !attrs.contains(&"Secure"),
        "plain HTTP without --console-secure-cookie"
    );
    // The token never reaches the browser again, and the session id is not in the log.
    let page = send(&app, Method::GET, "/ui/", Some(attrs[0]), None, &[]).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains(&app.admin));
    let ins = audit(&app, "action=console_signed_in").await;
    assert_eq!(ins.len(), 1, "{ins:?}");
    assert_eq!(ins[0]["remote_addr"], "127.0.0.9");
    for e in audit(&app, "").await {
        assert!(
            !e.to_string().contains(value),
            "the cookie value is never recorded"
        );
    }
    // Secure under the configured flag.
    let secure = TestApp::with_config(|c| c.console.secure_cookie = true).await;
    let login = send(&secure, Method::GET, "/ui/login", None, None, &[]).await;
    let pair = login.cookies()[0].split(';').next().unwrap().to_string();
    let t = hidden(&login.body, "login_csrf");
    let r = send(
        &secure,
        Method::POST,
        "/ui/login",
        Some(&pair),
        Some(form(&[("login_csrf", &t), ("token", &secure.admin)])),
        &[],
    )
    .await;
    assert!(r
        .cookies()
        .iter()
        .any(|c| c.starts_with("credledger_session=") && c.contains("; Secure")));
}

#[tokio::test]
async fn a_login_without_its_double_submit_token_is_refused() {
    let app = TestApp::new().await;
    let before = app.store_dump();
    for (cookie, field) in [
        (None, None),
        (Some("credledger_login=abc"), Some("abd")),
        (None, Some("abc")),
    ] {
        let mut pairs = vec![("token", app.admin.as_str())];
        if let Some(f) = field {
            pairs.push(("login_csrf", f));
        }
        let r = send(
            &app,
            Method::POST,
            "/ui/login",
            cookie,
            Some(form(&pairs)),
            &[],
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(r
            .cookies()
            .iter()
            .all(|c| !c.starts_with("credledger_session=")));
    }
    assert!(app.store_dump() == before, "a refused login writes nothing");
}

#[tokio::test]
async fn failed_sign_ins_are_counted_throttled_and_aggregated() {
    let app = TestApp::new().await;
    let login = send(&app, Method::GET, "/ui/login", None, None, &[]).await;
    let pair = login.cookies()[0].split(';').next().unwrap().to_string();
    let t = hidden(&login.body, "login_csrf");
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let r = send(
            &app,
            Method::POST,
            "/ui/login",
            Some(&pair),
            Some(form(&[
                ("login_csrf", &t),
                ("token", "clt_00000000000000000000000000000000_wrong"),
            ])),
            &[],
        )
        .await;
        if r.status == StatusCode::UNAUTHORIZED {
            assert!(r.body.contains("error-summary") && r.body.contains("href=\"#token\""));
        }
        statuses.push((r.status, r.header("retry-after").to_string()));
    }
    assert!(
        statuses[..5]
            .iter()
            .all(|(s, _)| *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
    let (last, retry) = statuses.last().unwrap();
    assert_eq!(*last, StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
    assert!(!retry.is_empty());
    // A good token still works from the same place: only failures are counted.
    Ui::sign_in(&app, &app.admin).await;
    // The failures are one aggregated auth_failures event of the system stream.
    let events = audit(&app, "scope=system&action=auth_failures").await;
    let count: u64 = events
        .iter()
        .map(|e| e["details"]["count"].as_u64().unwrap())
        .sum();
    assert_eq!(count, 12, "{events:?}");
    assert!(events.iter().all(|e| e["details"]["source"] == "127.0.0.9"));
}

#[tokio::test]
async fn pages_need_a_session() {
    let app = TestApp::new().await;
    let id = openai(&app, "openai-x").await;
    for path in [
        "/ui/".to_string(),
        "/ui/credentials/new".into(),
        "/ui/credentials/new/proxmox".into(),
        format!("/ui/credentials/{id}"),
        format!("/ui/credentials/{id}/rotate"),
        format!("/ui/credentials/{id}/edit"),
        format!("/ui/credentials/{id}/bundle"),
        "/ui/audit".into(),
        "/ui/audit/export?format=csv".into(),
        "/ui/audit/1/proof".into(),
        "/ui/reviews".into(),
        "/ui/reviews/export?section=usage".into(),
        format!("/ui/reviews/evidence?credential={id}"),
        "/ui/admin".into(),
    ] {
        for cookie in [None, Some("credledger_session=forged-or-expired")] {
            let r = send(&app, Method::GET, &path, cookie, None, &[]).await;
            assert_eq!(
                (r.status, r.location()),
                (StatusCode::SEE_OTHER, "/ui/login"),
                "{path}"
            );
        }
    }
    let r = send(
        &app,
        Method::GET,
        "/ui/",
        None,
        None,
        &[("hx-request", "true")],
    )
    .await;
    assert_eq!(r.header("hx-redirect"), "/ui/login");
}

/// Every state-changing route of the console, with plausible fields.
fn posts(id: &str, principal: &str, token: &str) -> Vec<(String, Vec<(&'static str, String)>)> {
    vec![
        ("/ui/logout".into(), vec![]),
        (
            "/ui/credentials/new/openai".into(),
            vec![("name", "x".into()), ("f_api_key", "sk-new".into())],
        ),
        ("/ui/credentials/new/proxmox/fields".into(), vec![]),
        ("/ui/credentials/new/proxmox/test".into(), vec![]),
        (format!("/ui/credentials/{id}/reveal"), vec![]),
        (
            format!("/ui/credentials/{id}/rotate"),
            vec![("f_api_key", "sk-rot".into())],
        ),
        (
            format!("/ui/credentials/{id}/edit"),
            vec![("name", "renamed".into())],
        ),
        (format!("/ui/credentials/{id}/default"), vec![]),
        (format!("/ui/credentials/{id}/delete"), vec![]),
        (format!("/ui/credentials/{id}/restore"), vec![]),
        (
            format!("/ui/credentials/{id}/destroy"),
            vec![("confirm_name", "openai-x".into())],
        ),
        (format!("/ui/credentials/{id}/verify"), vec![]),
        (
            format!("/ui/credentials/{id}/grants"),
            vec![("principal", principal.into())],
        ),
        (
            format!("/ui/credentials/{id}/grants/{principal}/revoke"),
            vec![],
        ),
        (
            "/ui/admin/principals".into(),
            vec![
                ("name", "new-p".into()),
                ("kind", "user".into()),
                ("role", "resolver".into()),
            ],
        ),
        (format!("/ui/admin/principals/{principal}/tokens"), vec![]),
        (format!("/ui/admin/principals/{principal}/disable"), vec![]),
        (format!("/ui/admin/tokens/{token}/revoke"), vec![]),
        ("/ui/admin/tenants".into(), vec![("name", "beta".into())]),
        ("/ui/admin/groups".into(), vec![("name", "ops".into())]),
        (
            format!("/ui/admin/groups/{principal}/members"),
            vec![("principal", principal.into())],
        ),
        (
            format!("/ui/admin/groups/{principal}/members/{principal}/remove"),
            vec![],
        ),
    ]
}

#[tokio::test]
async fn a_form_without_the_session_csrf_token_is_403_and_writes_nothing() {
    let app = TestApp::new().await;
    let id = openai(&app, "openai-x").await;
    let (principal, _) = app.principal("p", "user", "resolver").await;
    let issued = api(
        &app,
        "POST",
        &format!("/v1/principals/{principal}/tokens"),
        &app.admin.clone(),
        None,
    )
    .await;
    let token = issued["id"].as_str().unwrap().to_string();
    let ui = Ui::sign_in(&app, &app.admin).await;
    let before = app.store_dump();
    for (path, fields) in posts(&id, &principal, &token) {
        for csrf in [
            None,
            Some("wrong".to_string()),
            Some(format!("{}x", ui.csrf)),
        ] {
            let mut pairs: Vec<(&str, &str)> =
                fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            if let Some(c) = &csrf {
                pairs.push(("csrf", c));
            }
            let r = send(
                &app,
                Method::POST,
                &path,
                Some(&ui.cookie),
                Some(form(&pairs)),
                &[],
            )
            .await;
            assert_eq!(
                r.status,
                StatusCode::FORBIDDEN,
                "{path} with {csrf:?}: {}",
                r.body
            );
            assert!(!r.body.contains(SECRET));
        }
        // Another session's token is no better.
    }
    let other = Ui::sign_in(&app, &app.admin).await;
    let before2 = app.store_dump();
    let r = send(
        &app,
        Method::POST,
        &format!("/ui/credentials/{id}/delete"),
        Some(&ui.cookie),
        Some(form(&[("csrf", &other.csrf)])),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(app.store_dump() == before2, "a refused form writes nothing");
    let _ = before;
    // Without a session at all: to the sign-in page, nothing written.
    let r = send(
        &app,
        Method::POST,
        &format!("/ui/credentials/{id}/delete"),
        None,
        Some(form(&[("csrf", &ui.csrf)])),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(app.store_dump() == before2);
}

#[tokio::test]
async fn sessions_end_after_the_idle_and_the_absolute_timeout_and_say_why() {
    let (app, now) = app_with_clock().await;
    let ui = Ui::sign_in(&app, &app.admin).await;
    now.fetch_add(29 * 60_000, Ordering::SeqCst);
    assert_eq!(ui.get(&app, "/ui/").await.status, StatusCode::OK);
    now.fetch_add(30 * 60_000, Ordering::SeqCst);
    let r = ui.get(&app, "/ui/").await;
    assert_eq!(
        (r.status, r.location()),
        (StatusCode::SEE_OTHER, "/ui/login")
    );
    let outs = audit(&app, "action=console_signed_out").await;
    assert_eq!(outs.last().unwrap()["details"]["reason"], "idle_timeout");
    // Used every 20 minutes, a session still ends 12 hours after sign-in.
    let ui = Ui::sign_in(&app, &app.admin).await;
    for _ in 0..35 {
        now.fetch_add(20 * 60_000, Ordering::SeqCst);
        assert_eq!(ui.get(&app, "/ui/").await.status, StatusCode::OK);
    }
    now.fetch_add(20 * 60_000, Ordering::SeqCst);
    let r = ui.get(&app, "/ui/").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let outs = audit(&app, "action=console_signed_out").await;
    assert_eq!(
        outs.last().unwrap()["details"]["reason"],
        "absolute_timeout"
    );
    // The session is gone for good.
    assert_eq!(ui.get(&app, "/ui/").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn signing_out_and_revoking_the_token_end_the_session() {
    let app = TestApp::new().await;
    let ui = Ui::sign_in(&app, &app.admin).await;
    let r = ui.post(&app, "/ui/logout", &[]).await;
    assert_eq!(
        (r.status, r.location()),
        (StatusCode::SEE_OTHER, "/ui/login")
    );
    assert!(r
        .cookies()
        .iter()
        .any(|c| c.starts_with("credledger_session=;") && c.contains("Max-Age=0")));
    assert_eq!(ui.get(&app, "/ui/").await.status, StatusCode::SEE_OTHER);
    let outs = audit(&app, "action=console_signed_out").await;
    assert_eq!(outs[0]["details"]["reason"], "signed_out");
    // A revoked token ends its session at the next request.
    let (pid, tok) = app.principal("erin", "user", "editor").await;
    let ui = Ui::sign_in(&app, &tok).await;
    let who = api(&app, "GET", "/v1/whoami", &tok, None).await;
    api(
        &app,
        "DELETE",
        &format!("/v1/tokens/{}", who["token"].as_str().unwrap()),
        &app.admin.clone(),
        None,
    )
    .await;
    assert_eq!(ui.get(&app, "/ui/").await.status, StatusCode::SEE_OTHER);
    let outs = audit(&app, &format!("action=console_signed_out&actor={pid}")).await;
    assert_eq!(outs.last().unwrap()["details"]["reason"], "token_invalid");
}

#[tokio::test]
async fn roles_see_their_pages_and_hidden_buttons_are_refused_by_the_ledger() {
    let app = TestApp::new().await;
    let shared = openai(&app, "shared-openai").await;
    let (_, resolver) = app.principal("ci", "service", "resolver").await;
    let (_, auditor) = app.principal("compliance", "user", "auditor").await;
    let (_, editor) = app.principal("ed", "user", "editor").await;

    let r = Ui::sign_in(&app, &resolver).await;
    let home = r.get(&app, "/ui/").await;
    assert!(!home.body.contains("/ui/admin") && !home.body.contains("/ui/audit"));
    assert!(
        !home.body.contains("shared-openai"),
        "a resolver lists only what it may resolve"
    );
    for page in [
        "/ui/admin",
        "/ui/audit",
        "/ui/reviews",
        "/ui/audit/export?format=csv",
    ] {
        assert_eq!(
            r.get(&app, page).await.status,
            StatusCode::FORBIDDEN,
            "{page}"
        );
    }
    let reveal = r
        .post(&app, &format!("/ui/credentials/{shared}/reveal"), &[])
        .await;
    assert_eq!(reveal.status, StatusCode::FORBIDDEN);
    assert!(!reveal.body.contains(SECRET));
    assert!(audit(&app, "action=use_denied")
        .await
        .iter()
        .any(|e| e["credential_id"] == shared.as_str()));
    let create = r
        .post(
            &app,
            "/ui/credentials/new/openai",
            &[("name", "mine"), ("f_api_key", "sk-x")],
        )
        .await;
    assert_eq!(create.status, StatusCode::FORBIDDEN, "{}", create.body);

    let a = Ui::sign_in(&app, &auditor).await;
    let home = a.get(&app, "/ui/").await;
    assert!(home.body.contains("shared-openai") && home.body.contains("/ui/audit"));
    assert!(!home.body.contains("/ui/admin") && !home.body.contains("/ui/credentials/new\""));
    let detail = a.get(&app, &format!("/ui/credentials/{shared}")).await;
    assert_eq!(detail.status, StatusCode::OK);
    for button in ["id=\"reveal\"", "/rotate\"", "/delete\"", "/destroy\""] {
        assert!(!detail.body.contains(button), "auditors get no {button}");
    }
    let reveal = a
        .post(&app, &format!("/ui/credentials/{shared}/reveal"), &[])
        .await;
    assert_eq!(reveal.status, StatusCode::FORBIDDEN, "hidden, and refused");
    let del = a
        .post(&app, &format!("/ui/credentials/{shared}/delete"), &[])
        .await;
    assert_eq!(del.status, StatusCode::FORBIDDEN);
    assert!(
        del.body.contains("role"),
        "the ledger's reason is shown: {}",
        del.body
    );
    assert_eq!(a.get(&app, "/ui/admin").await.status, StatusCode::FORBIDDEN);
    assert_eq!(a.get(&app, "/ui/audit").await.status, StatusCode::OK);
    assert_eq!(a.get(&app, "/ui/reviews").await.status, StatusCode::OK);

    let e = Ui::sign_in(&app, &editor).await;
    let detail = e.get(&app, &format!("/ui/credentials/{shared}")).await;
    assert!(detail.body.contains("/rotate\"") && !detail.body.contains("/destroy\""));
    let destroy = e
        .post(
            &app,
            &format!("/ui/credentials/{shared}/destroy"),
            &[("confirm_name", "shared-openai")],
        )
        .await;
    assert_eq!(
        destroy.status,
        StatusCode::FORBIDDEN,
        "editors do not destroy shared credentials"
    );
    assert_eq!(e.get(&app, "/ui/admin").await.status, StatusCode::FORBIDDEN);
    assert!(
        audit(&app, "action=access_denied").await.len() >= 5,
        "every refusal is recorded"
    );
    for ui in [&r, &a, &e] {
        ui.assert_never_saw(SECRET);
    }
}

#[tokio::test]
async fn no_page_shows_a_secret_except_the_reveal_which_is_recorded_and_not_cached() {
    let app = TestApp::new().await;
    let id = openai(&app, "openai-prod").await;
    api(&app, "POST", "/v1/credentials", &app.admin.clone(), Some(json!({"name": "pve", "template": "proxmox",
        "fields": {"host": "https://pve.example:8006", "token_name": "root@pam!ci", "token_value": PVE_SECRET}}))).await;
    let (_, auditor) = app.principal("compliance", "user", "auditor").await;
    for token in [app.admin.clone(), auditor] {
        let ui = Ui::sign_in(&app, &token).await;
        for path in [
            "/ui/".to_string(),
            "/ui/?q=pve".into(),
            "/ui/?health=never".into(),
            "/ui/credentials/new".into(),
            "/ui/credentials/new/openai".into(),
            format!("/ui/credentials/{id}"),
            format!("/ui/credentials/{id}/rotate"),
            format!("/ui/credentials/{id}/edit"),
            format!("/ui/credentials/{id}/bundle"),
            "/ui/audit".into(),
            "/ui/audit/export?format=csv".into(),
            "/ui/audit/export?format=jsonl".into(),
            "/ui/audit/5/proof".into(),
            "/ui/reviews".into(),
            "/ui/reviews/export?section=usage".into(),
            format!("/ui/reviews/evidence?credential={id}"),
            "/ui/admin".into(),
        ] {
            ui.get(&app, &path).await;
        }
        ui.assert_never_saw(SECRET);
        ui.assert_never_saw(PVE_SECRET);
    }
    let ui = Ui::sign_in(&app, &app.admin).await;
    let r = ui
        .post(&app, &format!("/ui/credentials/{id}/reveal"), &[])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains(SECRET), "the reveal shows the value");
    assert_eq!(r.header("cache-control"), "no-store");
    let frag = send(
        &app,
        Method::POST,
        &format!("/ui/credentials/{id}/reveal"),
        Some(&ui.cookie),
        Some(form(&[("csrf", &ui.csrf)])),
        &[("hx-request", "true")],
    )
    .await;
    assert!(
        frag.body.contains(SECRET) && !frag.body.contains("<html"),
        "htmx gets the fragment only"
    );
    let used = audit(&app, &format!("credential={id}&action=used")).await;
    assert_eq!(used.len(), 2);
    assert!(used.iter().all(|e| e["details"]["purpose"] == "console"));
    // The detail page after the reveal is masked again.
    let detail = ui.get(&app, &format!("/ui/credentials/{id}")).await;
    assert!(!detail.body.contains(SECRET) && detail.body.contains("••••"));
    app.assert_never_leaked(SECRET);
}

#[tokio::test]
async fn the_add_flow_follows_the_template_and_shows_errors_at_their_field() {
    let app = TestApp::new().await;
    let ui = Ui::sign_in(&app, &app.admin).await;
    let picker = ui.get(&app, "/ui/credentials/new").await;
    for c in [
        "Virtualization platforms",
        "Cloud providers",
        "AI services",
        "/ui/credentials/new/proxmox",
    ] {
        assert!(picker.body.contains(c), "{c}");
    }
    let form_page = ui.get(&app, "/ui/credentials/new/proxmox").await;
    assert!(
        form_page.body.contains("id=\"field-token_name\"")
            && !form_page.body.contains("id=\"field-password\"")
    );
    assert!(
        form_page.body.contains("type=\"password\""),
        "secret fields are password inputs"
    );
    assert!(
        form_page.body.contains("value=\"api_token\" checked"),
        "the default is chosen"
    );
    assert!(form_page
        .body
        .contains("hx-post=\"/ui/credentials/new/proxmox/fields\""));
    assert!(
        form_page.body.contains("<noscript>"),
        "works without script"
    );
    // The fragment for "password" (htmx) and the full page without script.
    let frag = ui
        .post(
            &app,
            "/ui/credentials/new/proxmox/fields",
            &[("f_auth_method", "password"), ("f_host", "https://h")],
        )
        .await;
    assert!(
        frag.body.contains("id=\"field-password\"")
            && !frag.body.contains("id=\"field-token_name\"")
    );
    assert!(frag.body.contains("value=\"https://h\"") && !frag.body.contains("<html"));
    let refresh = ui
        .post(
            &app,
            "/ui/credentials/new/proxmox",
            &[
                ("_action", "refresh"),
                ("f_auth_method", "password"),
                ("name", "p"),
            ],
        )
        .await;
    assert!(refresh.body.contains("id=\"field-username\"") && refresh.body.contains("<html"));
    // Kubernetes' kubeconfig is a file upload, so its form is multipart.
    let k8s = ui.get(&app, "/ui/credentials/new/kubernetes").await;
    assert!(
        k8s.body.contains("enctype=\"multipart/form-data\"") && k8s.body.contains("type=\"file\"")
    );
    // A missing field: 422, the summary links to it, the message is beside it, nothing written.
    let before = app.store_dump();
    let r = ui
        .post(
            &app,
            "/ui/credentials/new/proxmox",
            &[
                ("name", "pve-lab"),
                ("f_host", "https://pve:8006"),
                ("f_auth_method", "api_token"),
                ("f_token_name", "root@pam!ci"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("error-summary") && r.body.contains("href=\"#field-token_value\""));
    assert!(r.body.contains("Token secret is required"));
    assert!(
        r.body.contains("value=\"root@pam!ci\""),
        "public values are kept"
    );
    assert!(app.store_dump() == before);
    // A secret typed with another error is never written back.
    let r = ui
        .post(
            &app,
            "/ui/credentials/new/proxmox",
            &[
                ("name", ""),
                ("f_host", "https://pve:8006"),
                ("f_token_name", "root@pam!ci"),
                ("f_token_value", PVE_SECRET),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("href=\"#meta-name\"") && !r.body.contains(PVE_SECRET));
    // Test connection with a field missing: the error at that field, nothing tested,
    // nothing written.
    let t = ui
        .post(
            &app,
            "/ui/credentials/new/proxmox/test",
            &[
                ("f_host", "https://pve:8006"),
                ("f_token_value", PVE_SECRET),
            ],
        )
        .await;
    assert_eq!(t.status, StatusCode::OK);
    assert!(
        t.body.contains("href=\"#field-token_name\"") && t.body.contains("Not tested"),
        "{}",
        t.body
    );
    assert!(!t.body.contains(PVE_SECRET));
    assert!(app.store_dump() == before);
    // Test connection before saving: the ledger's test-before-save call against a local
    // API, answered in place and recorded as a `verified` event without a credential.
    let url = bearer_api("sk-local-good").await;
    for (token, answer) in [
        ("sk-local-good", "Connection works"),
        ("sk-local-bad", "Connection failed: HTTP 401"),
    ] {
        let t = ui
            .post(
                &app,
                "/ui/credentials/new/bearer_token/test",
                &[("f_url", url.as_str()), ("f_token", token)],
            )
            .await;
        assert_eq!(t.status, StatusCode::OK);
        assert!(t.body.contains(answer), "{}", t.body);
        assert!(!t.body.contains(token) && !t.body.contains("<html"));
    }
    let tested = api(
        &app,
        "GET",
        "/v1/audit?action=verified",
        &app.admin.clone(),
        None,
    )
    .await;
    let tested = tested["events"].as_array().unwrap();
    assert_eq!(tested.len(), 2, "{tested:?}");
    assert!(tested.iter().all(|e| e["credential_id"].is_null()));
    // Save.
    let r = ui
        .post(
            &app,
            "/ui/credentials/new/proxmox",
            &[
                ("name", "pve-lab"),
                ("f_host", "https://pve:8006"),
                ("f_auth_method", "api_token"),
                ("f_token_name", "root@pam!ci"),
                ("f_token_value", PVE_SECRET),
                ("f_username", "stale value of a hidden field"),
                ("rotate_every_days", "90"),
                ("owner", "tenant"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(
        r.location().starts_with("/ui/credentials/") && r.location().ends_with("?notice=created")
    );
    let list = api(
        &app,
        "GET",
        "/v1/credentials?name=pve-lab",
        &app.admin.clone(),
        None,
    )
    .await;
    let c = &list["credentials"][0];
    assert_eq!(
        (c["template"].as_str(), c["rotate_every_days"].as_u64()),
        (Some("proxmox"), Some(90))
    );
    assert!(
        c["fields"].get("username").is_none(),
        "fields that do not apply are not sent"
    );
    // A duplicate name is shown at the name.
    let r = ui
        .post(
            &app,
            "/ui/credentials/new/openai",
            &[("name", "PVE-LAB"), ("f_api_key", SECRET)],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.body.contains("href=\"#meta-name\"") && r.body.contains("names are unique per owner"),
        "{}",
        r.body
    );
    ui.assert_never_saw(SECRET);
    ui.assert_never_saw(PVE_SECRET);
}

#[tokio::test]
async fn the_detail_page_manages_the_credential_through_the_ledger() {
    let app = TestApp::new().await;
    let id = openai(&app, "openai-x").await;
    let (pid, _) = app.principal("ci", "service", "resolver").await;
    let ui = Ui::sign_in(&app, &app.admin).await;
    let d = ui.get(&app, &format!("/ui/credentials/{id}")).await;
    assert_eq!(d.status, StatusCode::OK);
    for s in [
        "Version history",
        "Audit timeline",
        "Grants",
        "never tested",
        "created #",
    ] {
        assert!(d.body.contains(s), "{s}");
    }
    let see = |r: &Resp, notice: &str| {
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert!(r.location().ends_with(notice), "{}", r.location());
    };
    let rot = ui.get(&app, &format!("/ui/credentials/{id}/rotate")).await;
    assert!(
        rot.body.contains("value=\"https://api.openai.com/v1\"")
            || rot.body.contains("field-api_key")
    );
    see(
        &ui.post(
            &app,
            &format!("/ui/credentials/{id}/rotate"),
            &[("f_api_key", "sk-rotated-2")],
        )
        .await,
        "notice=rotated",
    );
    let d = ui.get(&app, &format!("/ui/credentials/{id}")).await;
    assert!(d.body.contains("v2") && d.body.contains("rotated #"));
    let missing = ui
        .post(&app, &format!("/ui/credentials/{id}/rotate"), &[])
        .await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        missing.body.contains("href=\"#template-fields\"")
            && missing.body.contains("at least one field"),
        "{}",
        missing.body
    );
    see(
        &ui.post(
            &app,
            &format!("/ui/credentials/{id}/edit"),
            &[
                ("name", "openai-y"),
                ("description", "prod"),
                ("rotate_every_days", "30"),
                ("expires_at", "2099-01-31"),
            ],
        )
        .await,
        "notice=updated",
    );
    let bad = ui
        .post(
            &app,
            &format!("/ui/credentials/{id}/edit"),
            &[("name", "openai-y"), ("rotate_every_days", "soon")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    see(
        &ui.post(&app, &format!("/ui/credentials/{id}/default"), &[])
            .await,
        "notice=default",
    );
    let c = api(
        &app,
        "GET",
        &format!("/v1/credentials/{id}"),
        &app.admin.clone(),
        None,
    )
    .await;
    assert_eq!(
        (
            c["name"].as_str(),
            c["default"].as_bool(),
            c["rotate_every_days"].as_u64()
        ),
        (Some("openai-y"), Some(true), Some(30))
    );
    see(
        &ui.post(
            &app,
            &format!("/ui/credentials/{id}/grants"),
            &[("principal", &pid)],
        )
        .await,
        "notice=granted",
    );
    assert!(ui
        .get(&app, &format!("/ui/credentials/{id}"))
        .await
        .body
        .contains("ci"));
    see(
        &ui.post(
            &app,
            &format!("/ui/credentials/{id}/grants/{pid}/revoke"),
            &[],
        )
        .await,
        "notice=revoked",
    );
    let v = ui
        .post(&app, &format!("/ui/credentials/{id}/verify"), &[])
        .await;
    assert!(v.status == StatusCode::SEE_OTHER || v.status.is_client_error());
    see(
        &ui.post(&app, &format!("/ui/credentials/{id}/delete"), &[])
            .await,
        "notice=deleted",
    );
    assert!(ui
        .get(&app, "/ui/?status=deleted")
        .await
        .body
        .contains("openai-y"));
    see(
        &ui.post(&app, &format!("/ui/credentials/{id}/restore"), &[])
            .await,
        "notice=restored",
    );
    let wrong = ui
        .post(
            &app,
            &format!("/ui/credentials/{id}/destroy"),
            &[("confirm_name", "openai-x")],
        )
        .await;
    assert_eq!(
        wrong.status,
        StatusCode::BAD_REQUEST,
        "the name must be typed"
    );
    let r = ui
        .post(
            &app,
            &format!("/ui/credentials/{id}/destroy"),
            &[("confirm_name", "openai-y")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let c = api(
        &app,
        "GET",
        &format!("/v1/credentials/{id}"),
        &app.admin.clone(),
        None,
    )
    .await;
    assert_eq!(c["status"], "destroyed");
    let bundle = ui.get(&app, &format!("/ui/credentials/{id}/bundle")).await;
    assert_eq!(bundle.status, StatusCode::OK);
    assert!(bundle.header("content-disposition").contains("attachment"));
    assert!(bundle
        .body
        .lines()
        .next()
        .unwrap()
        .contains("credledger-bundle/v1"));
    let nope = ui.get(&app, "/ui/credentials/not-an-id").await;
    assert_eq!(nope.status, StatusCode::BAD_REQUEST);
    let unknown = ui
        .get(&app, &format!("/ui/credentials/{}", "0".repeat(32)))
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_audit_explorer_filters_names_exports_and_proves() {
    let app = TestApp::new().await;
    let id = openai(&app, "openai-prod").await;
    api(
        &app,
        "POST",
        &format!("/v1/credentials/{id}/resolve"),
        &app.admin.clone(),
        None,
    )
    .await;
    let (_, auditor) = app.principal("compliance", "user", "auditor").await;
    let ui = Ui::sign_in(&app, &auditor).await;
    let page = ui
        .get(&app, "/ui/audit?credential=openai-prod&action=used")
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("openai-prod") && page.body.contains(">admin<"),
        "names, not only ids"
    );
    assert!(page.body.contains("Remote address") && page.body.contains("Request id"));
    assert!(!page.body.contains("<code>rotated</code>"));
    assert!(page.body.contains("id=\"checkpoint\"") && page.body.contains("verify-bundle"));
    assert!(
        page.body.contains("credledger.local") || page.body.contains("+"),
        "the public key"
    );
    let bad = ui
        .get(&app, "/ui/audit?credential=no-such&from=yesterday")
        .await;
    assert!(bad.body.contains("error-summary"));
    let paged = ui.get(&app, "/ui/audit").await;
    assert!(!paged.body.contains("next-page"), "one page here");
    let csv = ui
        .get(&app, "/ui/audit/export?format=csv&credential=openai-prod")
        .await;
    assert!(csv.header("content-type").starts_with("text/csv"));
    let lines: Vec<&str> = csv.body.lines().collect();
    assert!(lines[0].starts_with("seq,at,action,outcome,actor,actor_name"));
    assert!(
        lines[1..].iter().all(|l| l.contains("openai-prod")),
        "{lines:?}"
    );
    let jsonl = ui
        .get(&app, "/ui/audit/export?format=jsonl&action=used")
        .await;
    assert!(jsonl
        .body
        .lines()
        .all(|l| serde_json::from_str::<Value>(l).unwrap()["action"] == "used"));
    let seq = audit(&app, "action=used").await[0]["seq"].as_u64().unwrap();
    let proof = ui.get(&app, &format!("/ui/audit/{seq}/proof")).await;
    assert_eq!(proof.status, StatusCode::OK);
    let p: Value = serde_json::from_str(&proof.body).unwrap();
    // A tenant's auditor: the proof is in the tenant's own tree, against its checkpoint
    // (the tenant origin, the tenant log's verifier key), never the global tree.
    let (_, tkey) = app
        .call_raw(
            "GET",
            "/v1/ledger/tenant/publickey",
            Some(&auditor),
            None,
            "",
        )
        .await;
    let note = p["checkpoint"].as_str().unwrap();
    let cp = credledger::note::verify_checkpoint(note, tkey.trim()).unwrap();
    assert!(cp.origin.contains("/tenant/"), "{}", cp.origin);
    assert_eq!(p["tree_size"].as_u64(), Some(cp.size));
    assert!(p["leaf_index"].as_u64().unwrap() < seq, "{p}");
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let leaf = b64.decode(p["leaf"].as_str().unwrap()).unwrap();
    let path: Vec<[u8; 32]> = p["audit_path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| b64.decode(h.as_str().unwrap()).unwrap().try_into().unwrap())
        .collect();
    credledger::merkle::verify_inclusion(
        &credledger::merkle::leaf_hash(&leaf),
        p["leaf_index"].as_u64().unwrap(),
        cp.size,
        &path,
        &cp.root,
    )
    .unwrap();
    // The audit page shows that tenant checkpoint too.
    assert!(page.body.contains("/tenant/"), "the tenant's checkpoint");
    // The downloaded proof verifies offline with the ledger's key (the real binary), and
    // a proof for another event's leaf does not.
    let (_, key) = app
        .call_raw(
            "GET",
            "/v1/ledger/publickey?which=genesis",
            Some(&app.admin),
            None,
            "",
        )
        .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("proof.json");
    let verify = |bytes: &[u8]| {
        std::fs::write(&file, bytes).unwrap();
        std::process::Command::new(env!("CARGO_BIN_EXE_credledger"))
            .arg("verify-bundle")
            .arg(&file)
            .args(["--key", key.trim()])
            .output()
            .unwrap()
    };
    let out = verify(proof.body.as_bytes());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("tenant") && text.contains("used"), "{text}");
    let mut bad = p.clone();
    bad["leaf_index"] = json!(p["leaf_index"].as_u64().unwrap() + 1);
    let out = verify(&serde_json::to_vec(&bad).unwrap());
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("FAILED: the leaf is not in"));
    ui.assert_never_saw(SECRET);
}

#[tokio::test]
async fn reviews_and_administration() {
    let (app, now) = app_with_clock().await;
    let id = openai(&app, "old-key").await;
    api(
        &app,
        "PATCH",
        &format!("/v1/credentials/{id}"),
        &app.admin.clone(),
        Some(json!({"rotate_every_days": 10})),
    )
    .await;
    now.fetch_add(40 * DAY, Ordering::SeqCst);
    let ui = Ui::sign_in(&app, &app.admin).await;
    let r = ui.get(&app, "/ui/reviews?days=30").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.body.contains("overdue")
            && r.body.contains("old-key")
            && r.body.contains("Usage by provider")
    );
    let rotation = r.body.split("id=\"review-rotation\"").nth(1).unwrap();
    let rotation = rotation.split("</section>").next().unwrap();
    assert!(
        rotation.contains(&format!("/ui/reviews/evidence?credential={id}&amp;days=30")),
        "the overdue row downloads its evidence: {rotation}"
    );
    let csv = ui.get(&app, "/ui/reviews/export?section=rotation").await;
    assert!(csv.body.starts_with("id,name,Service,Status,Due") && csv.body.contains("old-key"));
    let unused = ui
        .get(&app, "/ui/reviews/export?section=unused&days=30")
        .await;
    assert!(unused.body.contains("old-key"));
    // Administration: principals, a token shown once, revoke, tenants.
    let r = ui
        .post(
            &app,
            "/ui/admin/principals",
            &[("name", "erin"), ("kind", "user"), ("role", "editor")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let admin = ui.get(&app, "/ui/admin").await;
    assert!(admin.body.contains("erin") && admin.body.contains("id=\"tenants\""));
    let pid = api(&app, "GET", "/v1/principals", &app.admin.clone(), None).await["principals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "erin")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let issued = ui
        .post(&app, &format!("/ui/admin/principals/{pid}/tokens"), &[])
        .await;
    assert_eq!(issued.status, StatusCode::OK);
    assert_eq!(issued.header("cache-control"), "no-store");
    let token = issued
        .body
        .split("id=\"new-token\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_string();
    assert!(token.starts_with("clt_"));
    assert!(
        !ui.get(&app, "/ui/admin").await.body.contains(&token),
        "shown once"
    );
    let tid = token.split('_').nth(1).unwrap();
    let tid = format!(
        "{}-{}-{}-{}-{}",
        &tid[..8],
        &tid[8..12],
        &tid[12..16],
        &tid[16..20],
        &tid[20..]
    );
    assert_eq!(
        ui.post(&app, &format!("/ui/admin/tokens/{tid}/revoke"), &[])
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    let (s, _) = app.call("GET", "/v1/whoami", Some(&token), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let t = ui
        .post(&app, "/ui/admin/tenants", &[("name", "beta")])
        .await;
    assert_eq!(t.status, StatusCode::OK);
    assert!(t.body.contains("clt_"));
    assert_eq!(
        ui.post(&app, &format!("/ui/admin/principals/{pid}/disable"), &[])
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    // A tenant admin (not a system admin) sees no tenants and cannot create one.
    let beta_admin = t
        .body
        .split("id=\"new-token\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_string();
    let b = Ui::sign_in(&app, &beta_admin).await;
    assert!(!b
        .get(&app, "/ui/admin")
        .await
        .body
        .contains("id=\"tenants\""));
    assert_eq!(
        b.post(&app, "/ui/admin/tenants", &[("name", "gamma")])
            .await
            .status,
        StatusCode::FORBIDDEN
    );
}

/// The id in the first `action="{prefix}ID{suffix}"` of a page.
fn action_id(html: &str, prefix: &str, suffix: &str) -> String {
    let marker = format!("action=\"{prefix}");
    let at = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {marker} in {html}"))
        + marker.len();
    html[at..].split(suffix).next().unwrap().to_string()
}

#[tokio::test]
async fn groups_grant_levels_and_the_atomic_default_switch() {
    let app = TestApp::new().await;
    let id = openai(&app, "team-openai").await;
    let (ci, ci_tok) = app.principal("ci", "service", "resolver").await;
    let ui = Ui::sign_in(&app, &app.admin).await;
    let see = |r: &Resp, to: &str| {
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert!(r.location().contains(to), "{}", r.location());
    };
    // A group, with ci in it.
    see(
        &ui.post(&app, "/ui/admin/groups", &[("name", "ops")]).await,
        "/ui/admin",
    );
    let admin = ui.get(&app, "/ui/admin").await;
    assert!(admin.body.contains("id=\"groups\"") && admin.body.contains("ops"));
    let gid = action_id(&admin.body, "/ui/admin/groups/", "/members");
    see(
        &ui.post(
            &app,
            &format!("/ui/admin/groups/{gid}/members"),
            &[("principal", &ci)],
        )
        .await,
        "/ui/admin",
    );
    let listed = api(&app, "GET", "/v1/groups", &app.admin.clone(), None).await;
    assert!(listed.to_string().contains(&ci), "{listed}");
    // Granted to the group at level manage: shown with its level.
    let d = ui.get(&app, &format!("/ui/credentials/{id}")).await;
    assert!(
        d.body.contains(&format!("value=\"group:{gid}\"")) && d.body.contains("id=\"grant-level\"")
    );
    see(
        &ui.post(
            &app,
            &format!("/ui/credentials/{id}/grants"),
            &[("grantee", &format!("group:{gid}")), ("level", "manage")],
        )
        .await,
        "notice=granted",
    );
    let d = ui.get(&app, &format!("/ui/credentials/{id}")).await;
    let grants = d.body.split("id=\"grant-rows\"").nth(1).unwrap();
    assert!(grants.contains("ops") && grants.contains(">group<") && grants.contains(">manage<"));
    // ci, a resolver, now resolves and manages it through the group, but does not
    // administer it: no Delete button, and the ledger refuses the POST.
    let c = Ui::sign_in(&app, &ci_tok).await;
    assert!(c.get(&app, "/ui/").await.body.contains("team-openai"));
    let cd = c.get(&app, &format!("/ui/credentials/{id}")).await;
    assert!(cd.body.contains("id=\"rotate\"") && cd.body.contains("id=\"reveal\""));
    assert!(
        !cd.body.contains("/delete\""),
        "no Delete for a manage grant"
    );
    let r = c
        .post(&app, &format!("/ui/credentials/{id}/delete"), &[])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    // A bad level is refused before the ledger.
    let r = ui
        .post(
            &app,
            &format!("/ui/credentials/{id}/grants"),
            &[("grantee", &format!("group:{gid}")), ("level", "owner")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // Revoke the group's grant; remove ci from the group.
    see(
        &ui.post(
            &app,
            &format!("/ui/credentials/{id}/grants/{gid}/revoke"),
            &[],
        )
        .await,
        "notice=revoked",
    );
    assert!(!c.get(&app, "/ui/").await.body.contains("team-openai"));
    see(
        &ui.post(
            &app,
            &format!("/ui/admin/groups/{gid}/members/{ci}/remove"),
            &[],
        )
        .await,
        "/ui/admin",
    );
    let listed = api(&app, "GET", "/v1/groups", &app.admin.clone(), None).await;
    assert!(!listed.to_string().contains(&ci), "{listed}");
    // The default switch: making b the default unsets a in the same step.
    let a = openai(&app, "openai-a").await;
    let b = openai(&app, "openai-b").await;
    for x in [&a, &b] {
        see(
            &ui.post(&app, &format!("/ui/credentials/{x}/default"), &[])
                .await,
            "notice=default",
        );
    }
    let is_default = |v: &Value| v["default"].as_bool();
    let va = api(
        &app,
        "GET",
        &format!("/v1/credentials/{a}"),
        &app.admin.clone(),
        None,
    )
    .await;
    let vb = api(
        &app,
        "GET",
        &format!("/v1/credentials/{b}"),
        &app.admin.clone(),
        None,
    )
    .await;
    assert_eq!(
        (is_default(&va), is_default(&vb)),
        (Some(false), Some(true))
    );
    c.assert_never_saw(SECRET);
    ui.assert_never_saw(SECRET);
}

#[tokio::test]
async fn the_access_review_and_the_usage_summary_by_provider() {
    let (app, now) = app_with_clock().await;
    let id = openai(&app, "team-openai").await;
    let (ci, ci_tok) = app.principal("ci", "service", "resolver").await;
    api(
        &app,
        "POST",
        &format!("/v1/credentials/{id}/grants"),
        &app.admin.clone(),
        Some(json!({"principal": ci})),
    )
    .await;
    let ui = Ui::sign_in(&app, &app.admin).await;
    let r = ui.get(&app, "/ui/reviews").await;
    assert_eq!(r.status, StatusCode::OK);
    let access = r.body.split("id=\"review-access\"").nth(1).unwrap();
    assert!(
        access.contains("team-openai") && access.contains("ci") && access.contains("grant (use)"),
        "{access}"
    );
    assert!(
        access.contains("role admin"),
        "admins resolve shared credentials by role"
    );
    let unused = r.body.split("id=\"review-unused-grants\"").nth(1).unwrap();
    assert!(
        unused.contains("ci"),
        "a grant never used is flagged: {unused}"
    );
    // ci resolves: the grant is used, and the review says when.
    api(
        &app,
        "POST",
        &format!("/v1/credentials/{id}/resolve"),
        &ci_tok,
        None,
    )
    .await;
    let csv = ui
        .get(&app, "/ui/reviews/export?section=unused-grants")
        .await;
    assert!(!csv.body.contains(",ci,"), "{}", csv.body);
    let csv = ui.get(&app, "/ui/reviews/export?section=access").await;
    assert!(
        csv.body
            .starts_with("id,name,Principal,Kind and role,Why,Last use,Uses")
            && csv.body.contains(",ci,")
            && csv.body.contains("just now"),
        "{}",
        csv.body
    );
    // The access review's row downloads as an evidence bundle the real binary verifies
    // offline with the ledger's public key: ci's use is in it. (A report proves up to the
    // tenant log's latest event: an hour later, another event of the tenant.)
    now.fetch_add(3_600_000, Ordering::SeqCst);
    app.principal("later", "user", "auditor").await;
    let ui = Ui::sign_in(&app, &app.admin).await;
    let r = ui.get(&app, "/ui/reviews").await;
    let access = r.body.split("id=\"review-access\"").nth(1).unwrap();
    let link = format!("/ui/reviews/evidence?credential={id}&amp;days=30");
    assert!(access.contains(&link), "{access}");
    let bundle = ui
        .get(
            &app,
            &format!("/ui/reviews/evidence?credential={id}&days=30"),
        )
        .await;
    assert_eq!(bundle.status, StatusCode::OK, "{}", bundle.body);
    assert!(bundle
        .header("content-disposition")
        .starts_with("attachment"));
    let (_, key) = app
        .call_raw(
            "GET",
            "/v1/ledger/publickey?which=genesis",
            Some(&app.admin),
            None,
            "",
        )
        .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("evidence.json");
    std::fs::write(&file, &bundle.body).unwrap();
    let verify = |file: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_credledger"))
            .arg("verify-bundle")
            .arg(file)
            .args(["--key", key.trim()])
            .output()
            .unwrap()
    };
    let out = verify(&file);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains(" used ") && l.contains(ci.as_str())),
        "who used it: {text}"
    );
    // A bundle with the use removed fails.
    let mut v: Value = serde_json::from_str(&bundle.body).unwrap();
    let leaves = v["leaves"].as_array_mut().unwrap();
    assert!(!leaves.is_empty());
    leaves.pop();
    std::fs::write(&file, serde_json::to_vec(&v).unwrap()).unwrap();
    let out = verify(&file);
    assert_eq!(out.status.code(), Some(1));
    // The rotation report's rows carry the same download.
    let rotation = r.body.split("id=\"review-rotation\"").nth(1).unwrap();
    let rotation = rotation.split("</section>").next().unwrap();
    assert!(
        rotation.contains("No rotation is due") || rotation.contains("/ui/reviews/evidence?"),
        "{rotation}"
    );
    // 91 days later the grant is flagged again.
    now.fetch_add(91 * DAY, Ordering::SeqCst);
    let ui = Ui::sign_in(&app, &app.admin).await;
    let csv = ui
        .get(&app, "/ui/reviews/export?section=unused-grants")
        .await;
    assert!(csv.body.contains(",ci,"), "{}", csv.body);
    // The usage summary by provider (service), or by template; the ledger's rule.
    let usage = ui.get(&app, "/ui/reviews/export?section=usage").await;
    assert!(
        usage.body.starts_with("id,provider,Credentials,Uses")
            && usage.body.contains(",openai,1,1,"),
        "{}",
        usage.body
    );
    let by_t = ui.get(&app, "/ui/reviews?by=template").await;
    assert!(by_t.body.contains("OpenAI") && by_t.body.contains("<th scope=\"col\">Template</th>"));
    // Auditors see the review; resolvers do not.
    let (_, auditor) = app.principal("compliance", "user", "auditor").await;
    let a = Ui::sign_in(&app, &auditor).await;
    assert!(a
        .get(&app, "/ui/reviews")
        .await
        .body
        .contains("grant (use)"));
    let c = Ui::sign_in(&app, &ci_tok).await;
    assert_eq!(
        c.get(&app, "/ui/reviews").await.status,
        StatusCode::FORBIDDEN
    );
    ui.assert_never_saw(SECRET);
    a.assert_never_saw(SECRET);
}

#[tokio::test]
async fn members_add_and_see_their_own_credentials_only() {
    let app = TestApp::new().await;
    let shared = openai(&app, "shared-openai").await;
    let (_, mia_tok) = app.principal("mia", "user", "member").await;
    let m = Ui::sign_in(&app, &mia_tok).await;
    let home = m.get(&app, "/ui/").await;
    assert!(
        home.body.contains("/ui/credentials/new"),
        "members add credentials"
    );
    assert!(!home.body.contains("/ui/admin") && !home.body.contains("/ui/audit"));
    assert!(!home.body.contains("shared-openai"), "not granted");
    let f = m.get(&app, "/ui/credentials/new/openai").await;
    assert!(
        !f.body.contains("value=\"tenant\"") && f.body.contains("value=\"me\" checked"),
        "a member is offered a personal credential only"
    );
    let r = m
        .post(
            &app,
            "/ui/credentials/new/openai",
            &[
                ("name", "mia-openai"),
                ("owner", "me"),
                ("f_api_key", SECRET),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let mine = r.location().split('?').next().unwrap().to_string();
    let d = m.get(&app, &mine).await;
    assert!(d.body.contains("mia-openai") && d.body.contains("id=\"reveal\""));
    assert!(d.body.contains("Use as my default"));
    assert!(m.get(&app, "/ui/").await.body.contains("mia-openai"));
    // A shared one (a hand-made form) is the ledger's refusal, shown as its error.
    let r = m
        .post(
            &app,
            "/ui/credentials/new/openai",
            &[("name", "team"), ("owner", "tenant"), ("f_api_key", SECRET)],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(r.body.contains("personal credentials only"), "{}", r.body);
    // A shared credential not granted to her: its page (the ledger's read rule shows
    // metadata) offers nothing, and a Reveal is refused; administration is not allowed.
    let d = m.get(&app, &format!("/ui/credentials/{shared}")).await;
    for button in ["id=\"reveal\"", "/rotate\"", "/delete\"", "/destroy\""] {
        assert!(!d.body.contains(button), "a member gets no {button}");
    }
    let r = m
        .post(&app, &format!("/ui/credentials/{shared}/reveal"), &[])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(m.get(&app, "/ui/admin").await.status, StatusCode::FORBIDDEN);
    m.assert_never_saw(SECRET);
}

#[tokio::test]
async fn a_tenant_template_is_offered_and_its_form_is_generated() {
    let app = TestApp::new().await;
    let def = json!({"name": "benchmarker", "title": "Benchmarker IoT Platform",
        "description": "API URL and key of a Benchmarker instance.",
        "fields": [{"name": "api_url", "label": "API URL", "type": "text", "required": true},
                   {"name": "api_key", "label": "API Key", "type": "secret", "required": true}]});
    api(&app, "POST", "/v1/templates", &app.admin.clone(), Some(def)).await;
    let ui = Ui::sign_in(&app, &app.admin).await;
    let picker = ui.get(&app, "/ui/credentials/new").await;
    assert!(picker
        .body
        .contains("href=\"/ui/credentials/new/benchmarker\""));
    let f = ui.get(&app, "/ui/credentials/new/benchmarker").await;
    assert_eq!(f.status, StatusCode::OK);
    assert!(f.body.contains("Benchmarker IoT Platform") && f.body.contains("type=\"password\""));
    let r = ui
        .post(
            &app,
            "/ui/credentials/new/benchmarker",
            &[("name", "bench"), ("f_api_url", "https://bench.example")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("href=\"#field-api_key\""), "{}", r.body);
    let r = ui
        .post(
            &app,
            "/ui/credentials/new/benchmarker",
            &[
                ("name", "bench"),
                ("f_api_url", "https://bench.example"),
                ("f_api_key", SECRET),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let home = ui.get(&app, "/ui/").await;
    assert!(home.body.contains("bench") && home.body.contains("Benchmarker IoT Platform"));
    // Another tenant does not see it.
    let t = ui
        .post(&app, "/ui/admin/tenants", &[("name", "beta")])
        .await;
    let beta_admin = t
        .body
        .split("id=\"new-token\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_string();
    let b = Ui::sign_in(&app, &beta_admin).await;
    assert!(!b
        .get(&app, "/ui/credentials/new")
        .await
        .body
        .contains("benchmarker"));
    assert_eq!(
        b.get(&app, "/ui/credentials/new/benchmarker").await.status,
        StatusCode::NOT_FOUND
    );
    ui.assert_never_saw(SECRET);
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
    let api = axum::Router::new().route("/v1/me", axum::routing::get(check));
    tokio::spawn(async move { axum::serve(listener, api).await.unwrap() });
    format!("http://{addr}/v1/me")
}
