//! `/metrics` on the real server: the families move after load (requests by route
//! template, resolves and refusals, appends, batch sizes and fdatasync latency, the queue
//! gauge, connection tests, credential gauges, console sessions), the main address needs a system
//! reviewer's token, `--metrics-listen` serves it without one, and no label names a
//! credential or a raw path.

mod served;

use serde_json::{json, Value};
use served::Served;
use std::time::{Duration, Instant};

const SECRET: &str = "tok-metrics-Zq81";

/// The value of the sample whose line starts with `prefix` (name and labels), summed over
/// every line that matches.
fn sample(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn families_move_after_load() {
    let dir = tempfile::tempdir().unwrap();
    let s = Served::start(
        &dir.path().join("data"),
        &["--metrics-listen", "127.0.0.1:0"],
        &[],
    );
    let c = reqwest::blocking::Client::new();
    let call = |method: &str, path: &str, token: &str, body: Option<Value>| {
        let mut r = c
            .request(method.parse().unwrap(), format!("{}{path}", s.addr))
            .bearer_auth(token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().unwrap();
        let status = resp.status().as_u16();
        (status, resp.json::<Value>().unwrap_or(Value::Null))
    };
    let (st, cred) = call(
        "POST",
        "/v1/credentials",
        &s.admin,
        Some(
            json!({"name": "b", "template": "bearer_token", "rotate_every_days": 1,
            "fields": {"url": "http://127.0.0.1:1/", "token": SECRET}}),
        ),
    );
    assert_eq!(st, 201, "{cred}");
    let id = cred["id"].as_str().unwrap().to_string();
    for _ in 0..5 {
        let (st, _) = call(
            "POST",
            &format!("/v1/credentials/{id}/resolve"),
            &s.admin,
            None,
        );
        assert_eq!(st, 200);
    }
    let (st, _) = call(
        "POST",
        "/v1/resolve",
        &s.admin,
        Some(json!({"service": "nothing_here"})),
    );
    assert_eq!(st, 404);
    // An auditor is refused a resolve (recorded), and refused the metrics: not a system
    // reviewer.
    let (_, p) = call(
        "POST",
        "/v1/principals",
        &s.admin,
        Some(json!({"name": "aud", "kind": "user", "role": "auditor"})),
    );
    let pid = p["id"].as_str().unwrap().to_string();
    let (_, t) = call(
        "POST",
        &format!("/v1/principals/{pid}/tokens"),
        &s.admin,
        Some(json!({})),
    );
    let auditor = t["token"].as_str().unwrap().to_string();
    let (st, _) = call(
        "POST",
        &format!("/v1/credentials/{id}/resolve"),
        &auditor,
        None,
    );
    assert_eq!(st, 403);
    let (st, v) = call(
        "POST",
        &format!("/v1/credentials/{id}/verify"),
        &s.admin,
        None,
    );
    assert_eq!(st, 200, "{v}");

    // The main address: a system admin's token, not an auditor's, not none.
    let metrics = |token: Option<&str>| {
        let mut r = c.get(format!("{}/metrics", s.addr));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let resp = r.send().unwrap();
        (resp.status().as_u16(), resp.text().unwrap())
    };
    assert_eq!(metrics(None).0, 401);
    assert_eq!(metrics(Some(&auditor)).0, 403);
    let (st, text) = metrics(Some(&s.admin));
    assert_eq!(st, 200);

    assert!(
        sample(&text, "credledger_http_requests_total{route=\"/v1/credentials/{id}/resolve\",method=\"POST\",status=\"200\"}") >= 5.0,
        "{text}"
    );
    assert!(sample(&text, "credledger_http_requests_total{route=\"/v1/credentials/{id}/resolve\",method=\"POST\",status=\"403\"}") >= 1.0);
    assert!(
        sample(&text, "credledger_resolves_total{outcome=\"ok\"}") >= 5.0,
        "{text}"
    );
    assert!(
        sample(&text, "credledger_resolves_total{outcome=\"denied\"}") >= 1.0,
        "{text}"
    );
    assert!(
        sample(&text, "credledger_resolves_total{outcome=\"not_found\"}") >= 1.0,
        "{text}"
    );
    assert!(
        sample(&text, "credledger_events_appended_total") >= 8.0,
        "{text}"
    );
    assert!(
        sample(&text, "credledger_commit_batch_events_count") >= 1.0,
        "{text}"
    );
    assert!(
        text.contains("credledger_commit_batch_events_bucket{le=\"1\"}"),
        "{text}"
    );
    assert!(
        sample(&text, "credledger_fdatasync_duration_seconds_count") >= 1.0,
        "{text}"
    );
    assert!(
        text.contains("credledger_fdatasync_duration_seconds_bucket"),
        "{text}"
    );
    assert!(text.contains("credledger_commit_queue_depth"), "{text}");
    assert!(
        text.contains("credledger_audit_write_failures_total 0"),
        "{text}"
    );
    assert!(
        sample(
            &text,
            "credledger_connection_tests_total{outcome=\"failed\",trigger=\"manual\"}"
        ) >= 1.0,
        "{text}"
    );
    assert_eq!(
        sample(&text, "credledger_credentials_active"),
        1.0,
        "{text}"
    );
    assert_eq!(
        sample(&text, "credledger_credentials_rotation_due"),
        1.0,
        "{text}"
    );
    assert!(
        text.contains("credledger_credentials_rotation_overdue 0"),
        "{text}"
    );
    assert!(text.contains("credledger_credentials_expiring 0"), "{text}");
    // Bounded labels: no id, no raw path, no secret.
    assert!(!text.contains(&id) && !text.contains(&pid), "{text}");
    assert!(!text.contains(SECRET));
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        assert!(
            line.starts_with("credledger_"),
            "outside the namespace: {line}"
        );
    }

    // The separate address, without a token.
    let deadline = Instant::now() + Duration::from_secs(10);
    let url = loop {
        if let Some(l) = s.log().lines().find_map(|l| {
            l.strip_prefix("credledger: metrics on ")
                .map(str::to_string)
        }) {
            break l;
        }
        assert!(Instant::now() < deadline, "{}", s.log());
        std::thread::sleep(Duration::from_millis(50));
    };
    let open = c.get(url).send().unwrap();
    assert_eq!(open.status(), 200);
    let body = open.text().unwrap();
    assert!(body.contains("credledger_resolves_total"), "{body}");
    s.assert_no_secret_logged(&[SECRET]);
}

/// `credledger_console_sessions` is set by the console: 1 after a sign-in.
#[test]
fn the_console_sessions_gauge_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let s = Served::start(
        &dir.path().join("data"),
        &["--metrics-listen", "127.0.0.1:0"],
        &[],
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let metrics_url = loop {
        if let Some(l) = s.log().lines().find_map(|l| {
            l.strip_prefix("credledger: metrics on ")
                .map(str::to_string)
        }) {
            break l;
        }
        assert!(Instant::now() < deadline, "{}", s.log());
        std::thread::sleep(Duration::from_millis(50));
    };
    let gauge = || {
        let text = reqwest::blocking::get(&metrics_url)
            .unwrap()
            .text()
            .unwrap();
        sample(&text, "credledger_console_sessions ")
    };
    let c = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let cookie_of = |r: &reqwest::blocking::Response, name: &str| {
        r.headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(name))
            .map(|v| v.split(';').next().unwrap().to_string())
    };
    let login = c.get(format!("{}/ui/login", s.addr)).send().unwrap();
    let login_cookie = cookie_of(&login, "").expect("a login cookie");
    let page = login.text().unwrap();
    let marker = "name=\"login_csrf\" value=\"";
    let start = page.find(marker).expect("login_csrf") + marker.len();
    let csrf = page[start..].split('"').next().unwrap().to_string();
    let body = format!(
        "login_csrf={}&token={}&next=%2Fui%2F",
        csrf,
        s.admin.replace('_', "%5F")
    );
    let r = c
        .post(format!("{}/ui/login", s.addr))
        .header("cookie", &login_cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert!(cookie_of(&r, "credledger_session=").is_some());
    assert_eq!(gauge(), 1.0);
}
