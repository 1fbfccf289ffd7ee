//! The console in a real browser: Debian's Chromium over WebDriver (`tests/browser/`)
//! against the real `credledger serve` (`tests/served/`), nothing reaching the network.
//!
//! One journey, as people would take it: an admin signs in, adds a Proxmox credential
//! choosing API token (its fields appear, the password fields go), submits with a field
//! missing and sees the error at that field, tests the connection before saving and again
//! after saving against a local HTTP server this test runs, reveals the values, rotates and sees version 2; an
//! auditor filters the audit log, exports CSV and downloads a proof bundle that
//! `credledger verify-bundle` accepts; a resolver sees no administration. Screenshots of
//! each main page go to `target/screenshots/` (at 1280 px and at phone width).

#[path = "browser/mod.rs"]
mod browser;
mod served;

use browser::Browser;
use served::{Served, BIN};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

const TOKEN_SECRET: &str = "pve-secret-Qm7Zr2Wx9";
const TOKEN_SECRET2: &str = "pve-rotated-Lk4Hs8Nv1";

/// A stand-in Proxmox API: answers 200 to `GET /api2/json/version` carrying a
/// `PVEAPIToken` header, and records the request lines it saw.
fn fake_proxmox() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(64) {
            let Ok(mut s) = stream else { continue };
            let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(5)));
            let mut buf = [0u8; 8192];
            let n = s.read(&mut buf).unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]).to_string();
            let ok = head.starts_with("GET /api2/json/version")
                && head
                    .to_ascii_lowercase()
                    .contains("authorization: pveapitoken=");
            log.lock()
                .unwrap()
                .push(head.lines().next().unwrap_or("").to_string());
            let body = r#"{"data":{"version":"8.2"}}"#;
            let status = if ok { "200 OK" } else { "401 Unauthorized" };
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (addr, seen)
}

fn shots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots")
}

async fn api_principal(http: &reqwest::Client, s: &Served, name: &str, role: &str) -> String {
    let v: serde_json::Value = http
        .post(format!("{}/v1/principals", s.addr))
        .bearer_auth(&s.admin)
        .json(&serde_json::json!({"name": name, "kind": "user", "role": role}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = v["id"].as_str().unwrap().to_string();
    let t: serde_json::Value = http
        .post(format!("{}/v1/principals/{id}/tokens", s.addr))
        .bearer_auth(&s.admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    t["token"].as_str().unwrap().to_string()
}

async fn sign_in(b: &Browser, addr: &str, token: &str) {
    b.goto(&format!("{addr}/ui/login")).await;
    b.fill("#token", token).await;
    b.click("form[action='/ui/login'] button[type=submit]")
        .await;
    b.el("form.whoami").await;
}

async fn sign_out(b: &Browser) {
    b.click("form.whoami button").await;
    b.el("#token").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_a_real_browser() {
    if !browser::available() {
        eprintln!(
            "skipping: {} or {} is not installed",
            browser::CHROMIUM,
            browser::CHROMEDRIVER
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let served = Served::start(&dir.path().join("data"), &[], &[]);
    let addr = served.addr.clone();
    let (proxmox, seen) = fake_proxmox();
    let http = reqwest::Client::new();
    let shots = shots();
    let b = Browser::start(1280, 900).await;

    // Sign in as the bootstrap admin.
    sign_in(&b, &addr, &served.admin).await;
    b.screenshot(&shots, "credentials-empty").await;

    // Add: the picker, then Proxmox.
    b.goto(&format!("{addr}/ui/credentials/new")).await;
    b.el("a[href='/ui/credentials/new/proxmox']").await;
    b.screenshot(&shots, "add-picker").await;
    b.click("a[href='/ui/credentials/new/proxmox']").await;
    b.el("#meta-name").await;
    // API token is the default: its fields are there, the password's are not.
    b.el("#field-token_name").await;
    assert!(!b.has("#field-password").await);
    // Choosing password swaps the fields (htmx re-renders them from the server) ...
    b.click("input[name=f_auth_method][value=password]").await;
    b.el("#field-password").await;
    b.gone("#field-token_name").await;
    // ... and choosing API token brings its fields back.
    b.click("input[name=f_auth_method][value=api_token]").await;
    b.el("#field-token_name").await;
    b.el("#field-token_value").await;
    b.gone("#field-password").await;
    b.fill("#meta-name", "pve-lab").await;
    b.fill("#field-host", &proxmox).await;
    b.fill("#field-token_name", "root@pam!ci").await;
    b.screenshot(&shots, "add-form").await;
    // Save without the token secret: the error is at that field, with a summary.
    b.click("button[name=_action][value=save]").await;
    let err = b
        .text_contains("#field-token_value-group .field-error", "Token secret")
        .await;
    assert!(err.contains("required"), "{err}");
    b.text_contains(".error-summary", "Token secret is required")
        .await;
    b.screenshot(&shots, "add-error").await;
    // The public values were kept; the secret was never written back.
    assert!(!b.html().await.contains(TOKEN_SECRET));
    b.fill("#field-token_value", TOKEN_SECRET).await;
    // Test connection before saving (the ledger's test-before-save call) reaches the
    // local stand-in and answers in place; nothing is saved yet.
    b.click("button[name=_action][value=test]").await;
    b.text_contains("#test-result.test-result", "Connection works")
        .await;
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "the test before save made one request"
    );
    b.screenshot(&shots, "add-tested").await;
    b.click("button[name=_action][value=save]").await;
    b.at("/ui/credentials/").await;
    b.text_contains(".notice", "saved").await;
    let detail_url = b.client.current_url().await.unwrap();
    let id = detail_url
        .path()
        .trim_start_matches("/ui/credentials/")
        .to_string();
    assert!(
        !b.html().await.contains(TOKEN_SECRET),
        "a secret on the detail page"
    );

    // Test the connection against the local server.
    b.click("form[action$='/verify'] button").await;
    b.text_contains("#last-test", "ok").await;
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .all(|l| l.starts_with("GET /api2/json/version"))
            && seen.lock().unwrap().len() == 2,
        "the fake Proxmox saw the test before save and the verify"
    );

    // Reveal: the values, once.
    b.click("#reveal").await;
    b.text_contains(".revealed", TOKEN_SECRET).await;
    b.screenshot(&shots, "detail-revealed").await;

    // Rotate: version 2 in the history.
    b.goto(&format!("{addr}/ui/credentials/{id}/rotate")).await;
    b.fill("#field-token_value", TOKEN_SECRET2).await;
    b.click("button[name=_action][value=save]").await;
    b.text_contains(".notice", "Rotated").await;
    b.text_contains("#versions", "v2").await;
    assert!(!b.html().await.contains(TOKEN_SECRET2));
    b.screenshot(&shots, "detail").await;

    // A few more, so the manager shows its categories.
    for (name, template, fields) in [
        (
            "openai-gpt4",
            "openai",
            serde_json::json!({"api_key": "sk-shot-1"}),
        ),
        (
            "anthropic-claude",
            "anthropic",
            serde_json::json!({"api_key": "sk-ant-shot-2"}),
        ),
        (
            "vultr-prod",
            "vultr",
            serde_json::json!({"api_key": "vultr-shot-3"}),
        ),
        (
            "grafana-ops",
            "grafana",
            serde_json::json!({"url": "https://grafana.example", "token": "glsa-shot-4"}),
        ),
    ] {
        let r = http
            .post(format!("{addr}/v1/credentials"))
            .bearer_auth(&served.admin)
            .json(&serde_json::json!({"name": name, "template": template, "fields": fields, "rotate_every_days": 90}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{name}: {}", r.status());
    }
    b.goto(&format!("{addr}/ui/")).await;
    b.text_contains("main", "pve-lab").await;
    b.text_contains("main", "AI services").await;
    b.screenshot(&shots, "credentials").await;
    b.goto(&format!("{addr}/ui/admin")).await;
    b.el("#principals").await;
    b.screenshot(&shots, "admin").await;
    b.goto(&format!("{addr}/ui/reviews")).await;
    b.el("#review-usage").await;
    b.screenshot(&shots, "reviews").await;
    // The access review: who can resolve pve-lab and why.
    b.goto(&format!("{addr}/ui/reviews#review-access")).await;
    b.text_contains("#review-access", "role admin").await;
    b.screenshot(&shots, "reviews-access").await;
    sign_out(&b).await;

    // An auditor: filter the audit log, export CSV, download the proof bundle.
    let auditor = api_principal(&http, &served, "compliance", "auditor").await;
    sign_in(&b, &addr, &auditor).await;
    assert!(
        !b.has("a[href='/ui/admin']").await,
        "auditors administer nothing"
    );
    b.goto(&format!("{addr}/ui/audit")).await;
    b.fill("#a-credential", "pve-lab").await;
    b.el("#a-action").await;
    b.client
        .find(fantoccini::Locator::Css("#a-action option[value=used]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.click("#audit-filters button[type=submit]").await;
    let rows = b.text_contains("#audit-rows tbody", "used").await;
    assert!(rows.contains("pve-lab"), "names are shown: {rows}");
    assert!(!rows.contains("rotated"), "the filter holds: {rows}");
    b.screenshot(&shots, "audit").await;
    b.click("#export-csv").await;
    let csv = std::fs::read_to_string(b.download("audit.csv").await).unwrap();
    assert!(csv.starts_with("seq,at,action"), "{csv}");
    assert!(
        csv.contains(",used,") && !csv.contains(",rotated,"),
        "{csv}"
    );
    assert!(!csv.contains(TOKEN_SECRET) && !csv.contains(TOKEN_SECRET2));
    b.goto(&format!("{addr}/ui/credentials/{id}")).await;
    assert!(!b.has("#reveal").await, "auditors never reveal");
    b.click("a[href$='/bundle']").await;
    let bundle = b.download(".bundle").await;
    let key = b_key(&http, &served).await;
    let out = std::process::Command::new(BIN)
        .arg("verify-bundle")
        .arg(&bundle)
        .args(["--key", &key])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "verify-bundle: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    sign_out(&b).await;

    // A resolver sees no administration, and the server refuses it too.
    let resolver = api_principal(&http, &served, "ci-runner", "resolver").await;
    sign_in(&b, &addr, &resolver).await;
    assert!(!b.has("a[href='/ui/admin']").await);
    assert!(!b.has("a[href='/ui/audit']").await);
    b.goto(&format!("{addr}/ui/admin")).await;
    b.text_contains("h1", "Not allowed").await;
    b.goto(&format!("{addr}/ui/")).await;
    sign_out(&b).await;

    // Phone width.
    b.client.set_window_size(390, 844).await.unwrap();
    sign_in(&b, &addr, &served.admin).await;
    b.screenshot(&shots, "credentials-phone").await;
    b.goto(&format!("{addr}/ui/credentials/{id}")).await;
    b.screenshot(&shots, "detail-phone").await;
    b.close().await;

    served.assert_no_secret_logged(&[TOKEN_SECRET, TOKEN_SECRET2]);
}

async fn b_key(http: &reqwest::Client, s: &Served) -> String {
    http.get(format!("{}/v1/ledger/publickey?which=genesis", s.addr))
        .bearer_auth(&s.admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .trim()
        .to_string()
}
