//! Scheduled connection tests on the real server (`serve --verify-every`): a credential
//! whose connection test points at a closed port is tested by the scheduler and the
//! failure recorded like a manual test (actor without principal, request id
//! `credledger-scheduler`); an opted-out credential is left alone; the opt-out is an
//! audited event that only who may verify may set; bad input writes nothing; the
//! connection-test counter moves with `trigger="scheduled"`; no secret is logged.

mod served;

use serde_json::{json, Value};
use served::api::Api;
use served::Served;
use std::time::{Duration, Instant};

const SECRET_A: &str = "tok-sched-A-7Hq2";
const SECRET_B: &str = "tok-sched-B-Pw9x";

impl Api<'_> {
    fn log_len(&self) -> usize {
        self.audit("").len()
    }

    fn create(&self, name: &str, secret: &str) -> String {
        let (st, cred) = self.call(
            "POST",
            "/v1/credentials",
            &self.s.admin,
            Some(json!({"name": name, "template": "bearer_token",
                "fields": {"url": "http://127.0.0.1:1/", "token": secret}})),
        );
        assert_eq!(st, 201, "{cred}");
        cred["id"].as_str().unwrap().to_string()
    }
}

/// The scheduler's `verified` rows of credential `id`.
fn scheduled_outcomes(api: &Api<'_>, id: &str) -> Vec<Value> {
    api.audit(&format!("credential={id}&action=verified"))
        .into_iter()
        .filter(|e| e["request_id"] == "credledger-scheduler")
        .collect()
}

#[test]
fn scheduled_tests_run_are_recorded_and_respect_the_opt_out() {
    let dir = tempfile::tempdir().unwrap();
    let s = Served::start(
        &dir.path().join("data"),
        &["--verify-every", "1s", "--metrics-listen", "127.0.0.1:0"],
        &[],
    );
    let api = Api {
        s: &s,
        c: reqwest::blocking::Client::new(),
    };
    let a = api.create("sched-a", SECRET_A);
    let b = api.create("sched-b", SECRET_B);

    // The opt-out: bad input is refused and writes nothing.
    let before = api.log_len();
    let (st, v) = api.call(
        "PATCH",
        &format!("/v1/credentials/{b}"),
        &s.admin,
        Some(json!({"scheduled_verify": "no"})),
    );
    assert!((400..500).contains(&st), "{st} {v}");
    assert!(v.to_string().contains("scheduled_verify"), "{v}");
    assert_eq!(api.log_len(), before, "a refused input writes nothing");
    // A resolver may not change it (refused and recorded, the setting unchanged).
    let (_, p) = api.call(
        "POST",
        "/v1/principals",
        &s.admin,
        Some(json!({"name": "svc", "kind": "service", "role": "resolver"})),
    );
    let pid = p["id"].as_str().unwrap();
    let (_, t) = api.call(
        "POST",
        &format!("/v1/principals/{pid}/tokens"),
        &s.admin,
        None,
    );
    let resolver = t["token"].as_str().unwrap();
    let (st, v) = api.call(
        "PATCH",
        &format!("/v1/credentials/{b}"),
        resolver,
        Some(json!({"scheduled_verify": false})),
    );
    assert_eq!(st, 403, "{v}");
    assert!(api
        .audit(&format!("credential={b}&action=scheduled_verify_set"))
        .is_empty());

    // The admin switches `b` off: one event, shown in the view.
    let (st, v) = api.call(
        "PATCH",
        &format!("/v1/credentials/{b}"),
        &s.admin,
        Some(json!({"scheduled_verify": false})),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["scheduled_verify"], false, "{v}");
    let set = api.audit(&format!("credential={b}&action=scheduled_verify_set"));
    assert_eq!(set.len(), 1, "{set:?}");
    assert_eq!(set[0]["details"]["enabled"], false);
    // Unchanged: nothing more written.
    let len = api.log_len();
    let (st, _) = api.call(
        "PATCH",
        &format!("/v1/credentials/{b}"),
        &s.admin,
        Some(json!({"scheduled_verify": false})),
    );
    assert_eq!(st, 200);
    assert_eq!(api.log_len(), len);

    // `a` is tested by the scheduler (twice, so rounds after the opt-out happened).
    let deadline = Instant::now() + Duration::from_secs(60);
    let rows = loop {
        let rows = scheduled_outcomes(&api, &a);
        if rows.len() >= 3 || Instant::now() > deadline {
            break rows;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(rows.len() >= 3, "no scheduled test of a:\n{}", s.log());
    for r in &rows {
        assert_eq!(r["outcome"], "failed", "{r}");
        assert!(r["actor"].is_null(), "the scheduler has no principal: {r}");
        assert_eq!(r["tenant"], r["actor_tenant"], "{r}");
    }
    let used: Vec<Value> = api
        .audit(&format!("credential={a}&action=used"))
        .into_iter()
        .filter(|e| e["request_id"] == "credledger-scheduler")
        .collect();
    assert!(
        used.len() >= rows.len(),
        "each test records its use first: {used:?}"
    );
    assert_eq!(used[0]["details"]["purpose"], "verify");
    // `b` was switched off before the first round that could reach it ended: the rounds
    // after that left it alone. (It may have been tested once before the switch.)
    let b_rows = scheduled_outcomes(&api, &b);
    let switched_at = set[0]["seq"].as_u64().unwrap();
    assert!(
        b_rows
            .iter()
            .all(|r| r["seq"].as_u64().unwrap() < switched_at),
        "tested after the opt-out: {b_rows:?}"
    );

    // Back on: tested again.
    let (st, v) = api.call(
        "PATCH",
        &format!("/v1/credentials/{b}"),
        &s.admin,
        Some(json!({"scheduled_verify": true})),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["scheduled_verify"], true);
    let deadline = Instant::now() + Duration::from_secs(60);
    while scheduled_outcomes(&api, &b)
        .iter()
        .all(|r| r["seq"].as_u64().unwrap() < switched_at)
    {
        assert!(
            Instant::now() < deadline,
            "b not tested after opting back in"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // The counter moved with the scheduled trigger.
    let metrics_addr = s
        .log()
        .lines()
        .find_map(|l| {
            l.strip_prefix("credledger: metrics on ")
                .map(str::to_string)
        })
        .expect("metrics address");
    let text = reqwest::blocking::get(metrics_addr)
        .unwrap()
        .text()
        .unwrap();
    assert!(
        text.lines().any(|l| l.starts_with(
            "credledger_connection_tests_total{outcome=\"failed\",trigger=\"scheduled\"}"
        ) && !l.ends_with(" 0")),
        "{text}"
    );
    assert!(text.contains("credledger_credentials_active 2"), "{text}");
    s.assert_no_secret_logged(&[SECRET_A, SECRET_B]);
}

#[test]
fn a_bad_interval_is_refused_before_anything_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = std::process::Command::new(served::BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--verify-every",
            "500ms",
            "--data",
        ])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("at least 1s"), "{err}");
    assert!(!data.exists(), "nothing is created");
}
