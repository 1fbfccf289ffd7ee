//! Console benchmark: server time to render the credential manager over 10,000
//! credentials and the audit explorer over 1,000,000 events (both paginated), and the
//! Reviews page (with the access review of its first 25 credentials), through
//! the real router (`http::app` + `oneshot`, a signed-in session), as the median and the
//! worst of repeated renders.
//!
//! Run: `cargo bench --bench console`. Environment: `CONSOLE_BENCH_CREDENTIALS` (default
//! 10000), `CONSOLE_BENCH_EVENTS` (log size, default 1000000), `CONSOLE_BENCH_RUNS`
//! (renders per page, default 30), `CONSOLE_BENCH_DIR` (where the temp dir goes).

use axum::body::Body;
use axum::http::{header, Method, Request};
use axum::Router;
use credledger::domain::Caller;
use credledger::http::{app, AppState};
use credledger::id::Id;
use credledger::ledger::{Config, CreateInput, Ledger, RequestCtx, ResolveTarget};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn send(
    router: &Router,
    method: Method,
    path: &str,
    cookie: &str,
    body: Option<String>,
) -> (u16, Vec<String>, String) {
    let mut req = Request::builder().method(method).uri(path);
    if !cookie.is_empty() {
        req = req.header(header::COOKIE, cookie);
    }
    let req = match body {
        Some(b) => req
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(b))
            .unwrap(),
        None => req.body(Body::empty()).unwrap(),
    };
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let cookies = resp
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .collect();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, cookies, String::from_utf8_lossy(&bytes).to_string())
}

fn hidden(html: &str, name: &str) -> String {
    let m = format!("name=\"{name}\" value=\"");
    let i = html.find(&m).expect("hidden field") + m.len();
    html[i..].split('"').next().unwrap().to_string()
}

async fn sign_in(router: &Router, token: &str) -> String {
    let (_, cookies, page) = send(router, Method::GET, "/ui/login", "", None).await;
    let t = hidden(&page, "login_csrf");
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("login_csrf", &t)
        .append_pair("token", token)
        .finish();
    let (status, cookies, _) =
        send(router, Method::POST, "/ui/login", &cookies[0], Some(body)).await;
    assert_eq!(status, 303);
    cookies
        .into_iter()
        .find(|c| c.starts_with("credledger_session="))
        .expect("session cookie")
}

async fn create_all(ledger: &Arc<Ledger>, caller: &Caller, n: u64) -> Vec<Id> {
    let templates = ["openai", "anthropic", "api_key", "bearer_token"];
    let mut ids = Vec::new();
    let mut start = 0;
    while start < n {
        let end = (start + 256).min(n);
        let batch = (start..end).map(|i| {
            let ledger = ledger.clone();
            let caller = *caller;
            async move {
                let template = templates[i as usize % templates.len()];
                let field = match template {
                    "bearer_token" => "token",
                    _ => "api_key",
                };
                let mut fields = serde_json::Map::new();
                fields.insert(
                    field.into(),
                    format!("sk-bench-{i:08}-0123456789abcdef").into(),
                );
                let input = CreateInput {
                    name: format!("cred-{i:05}"),
                    template: template.into(),
                    service: Some(format!("svc-{i:05}")),
                    fields,
                    rotate_every_days: i.is_multiple_of(3).then_some(90),
                    ..CreateInput::default()
                };
                ledger
                    .create_credential(&RequestCtx::default(), &caller, input)
                    .await
                    .expect("create")
            }
        });
        ids.extend(futures::future::join_all(batch).await);
        start = end;
    }
    ids
}

async fn fill(ledger: &Arc<Ledger>, caller: &Caller, ids: &[Id], events: u64) {
    let t = Instant::now();
    let mut i = 0u64;
    while ledger.store().len().unwrap() < events {
        let batch = (0..256).map(|k| {
            let ledger = ledger.clone();
            let caller = *caller;
            // A few hot credentials take most uses, as in real life.
            let id = if (i + k).is_multiple_of(4) {
                ids[((i + k) as usize) % ids.len()]
            } else {
                ids[((i + k) % 16) as usize]
            };
            async move {
                let ctx = RequestCtx {
                    request_id: Some(format!("bench-{i}-{k}")),
                    remote_addr: Some("192.0.2.7".into()),
                };
                ledger
                    .resolve(&ctx, &caller, ResolveTarget::Id { id, version: None })
                    .await
                    .map(|_| ())
                    .expect("resolve")
            }
        });
        futures::future::join_all(batch).await;
        i += 256;
    }
    println!(
        "filled {} events in {:.1} s",
        ledger.store().len().unwrap(),
        t.elapsed().as_secs_f64()
    );
}

async fn time(router: &Router, cookie: &str, label: &str, path: &str, runs: u64) {
    let (status, _, body) = send(router, Method::GET, path, cookie, None).await;
    assert_eq!(status, 200, "{path}: {body}");
    let mut times: Vec<Duration> = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let (status, _, _) = send(router, Method::GET, path, cookie, None).await;
        times.push(t.elapsed());
        assert_eq!(status, 200);
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{label:<58} median {:>7.2} ms   p90 {:>7.2} ms   max {:>7.2} ms   ({} KiB)",
        ms(times[times.len() / 2]),
        ms(times[times.len() * 9 / 10]),
        ms(*times.last().unwrap()),
        body.len() / 1024
    );
}

fn main() {
    let creds = env_u64("CONSOLE_BENCH_CREDENTIALS", 10_000);
    let events = env_u64("CONSOLE_BENCH_EVENTS", 1_000_000);
    let runs = env_u64("CONSOLE_BENCH_RUNS", 30);
    let dir = match std::env::var_os("CONSOLE_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d),
        None => tempfile::tempdir(),
    }
    .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let (ledger, boot) = Ledger::open(Config::new(dir.path())).unwrap();
        let token = boot.unwrap().token.expose().to_string();
        let ledger = Arc::new(ledger);
        let caller = ledger.authenticate(&token).unwrap();
        let t = Instant::now();
        let ids = create_all(&ledger, &caller, creds).await;
        println!(
            "created {creds} credentials in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        fill(&ledger, &caller, &ids, events).await;
        let router = app(AppState {
            ledger: ledger.clone(),
        });
        let cookie = sign_in(&router, &token).await;
        println!();
        println!(
            "{creds} credentials, {} events, {runs} renders each:",
            ledger.store().len().unwrap()
        );
        time(
            &router,
            &cookie,
            "credentials: first page (50 rows)",
            "/ui/",
            runs,
        )
        .await;
        time(
            &router,
            &cookie,
            "credentials: page 100",
            "/ui/?page=100",
            runs,
        )
        .await;
        time(
            &router,
            &cookie,
            "credentials: search by name",
            "/ui/?q=cred-09",
            runs,
        )
        .await;
        time(
            &router,
            &cookie,
            "credentials: filter template + rotation due",
            "/ui/?template=openai&health=due",
            runs,
        )
        .await;
        time(
            &router,
            &cookie,
            "audit: first page (50 events)",
            "/ui/audit",
            runs,
        )
        .await;
        time(
            &router,
            &cookie,
            "audit: a page at cursor 500000",
            "/ui/audit?cursor=500000",
            runs,
        )
        .await;
        time(
            &router,
            &cookie,
            "audit: one hot credential (by name)",
            "/ui/audit?credential=cred-00003",
            runs,
        )
        .await;
        time(
            &router,
            &cookie,
            "audit: one actor, outcome ok",
            &format!("/ui/audit?actor={}&outcome=ok", caller.principal),
            runs,
        )
        .await;
        time(
            &router,
            &cookie,
            "audit: from a date (binary search)",
            "/ui/audit?from=2020-01-01",
            runs,
        )
        .await;
        time(
            &router,
            &cookie,
            "reviews: all tables, access review of 25 credentials",
            "/ui/reviews",
            runs,
        )
        .await;
        ledger.shutdown();
    });
}
