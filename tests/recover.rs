//! `credledger admin recover`: the break-glass path when every system-admin token is
//! lost. Against the real binary: the admin's only token is revoked, the server stopped,
//! `admin recover` issues a new system-admin token that works on the restarted server,
//! and the log shows the recovery as signed events with no actor principal. Refusals (no
//! ledger, a running server, a taken name, an unwritable token file) write nothing.

mod served;
mod util;

use serde_json::{json, Value};
use served::{Served, BIN};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

fn recover(data: &Path, extra: &[&str]) -> Output {
    Command::new(BIN)
        .args(["admin", "recover", "--data"])
        .arg(data)
        .args(extra)
        .env_remove("CREDLEDGER_DATA")
        .output()
        .expect("run credledger admin recover")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The id part of a token (`clt_<hex id>_<secret>`), as the API prints ids.
fn token_id(token: &str) -> String {
    let hex = token.split('_').nth(1).expect("clt_<id>_<secret>");
    let bytes: [u8; 16] = hex::decode(hex)
        .expect("hex id")
        .try_into()
        .expect("16 bytes");
    credledger::id::Id(bytes).to_string()
}

/// `GET /v1/whoami` with `token`: the status and, when 200, the body.
async fn whoami(client: &reqwest::Client, addr: &str, token: &str) -> (u16, Value) {
    let r = client
        .get(format!("{addr}/v1/whoami"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[test]
fn admin_recover_issues_a_working_system_admin_token_and_records_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = reqwest::Client::new();

    // The bootstrap admin revokes its own (only) token: system administration is lost.
    let mut server = Served::start(&data, &[], &[]);
    let lost = server.admin.clone();
    rt.block_on(async {
        let (status, who) = whoami(&client, &server.addr, &lost).await;
        assert_eq!(status, 200);
        assert_eq!(who["token"], token_id(&lost), "{who}");
        let r = client
            .delete(format!("{}/v1/tokens/{}", server.addr, token_id(&lost)))
            .bearer_auth(&lost)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        assert_eq!(whoami(&client, &server.addr, &lost).await.0, 401);
    });

    // While the server holds the directory, recovery is refused and writes nothing.
    let before = util::dir_fingerprint(&data);
    let busy = recover(&data, &[]);
    assert!(!busy.status.success());
    assert!(
        stderr(&busy).contains("a server is using this directory"),
        "{}",
        stderr(&busy)
    );
    assert!(busy.stdout.is_empty(), "no token printed");
    assert_eq!(
        server
            .terminate(Duration::from_secs(30))
            .map(|s| s.success()),
        Some(true)
    );
    let stopped = util::dir_store_dump(&data);
    assert!(util::dir_fingerprint(&data).len() >= before.len());

    // An unwritable token file is refused before anything is written.
    let refused = recover(&data, &["--token-file", "/nonexistent-dir/admin.token"]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("--token-file"),
        "{}",
        stderr(&refused)
    );
    assert!(
        util::dir_store_dump(&data) == stopped,
        "the refusal wrote nothing"
    );

    // Recovery: a token file (0600) with a new system admin's token.
    let token_file = tmp.path().join("recovered.token");
    let ok = recover(
        &data,
        &["--name", "break-glass", "--token-file"]
            .iter()
            .copied()
            .chain([token_file.to_str().unwrap()])
            .collect::<Vec<_>>(),
    );
    assert!(ok.status.success(), "{}", stderr(&ok));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let token = std::fs::read_to_string(&token_file)
        .unwrap()
        .trim()
        .to_string();
    assert!(token.starts_with("clt_"));
    assert!(!stderr(&ok).contains(&token), "the token is not on stderr");

    // The same name again: refused, nothing written.
    let after_recovery = util::dir_store_dump(&data);
    assert_eq!(after_recovery.log.len(), stopped.log.len() + 2);
    let taken = recover(&data, &["--name", "break-glass"]);
    assert!(!taken.status.success());
    assert!(
        stderr(&taken).contains("already exists"),
        "{}",
        stderr(&taken)
    );
    assert!(taken.stdout.is_empty());
    assert!(
        util::dir_store_dump(&data) == after_recovery,
        "the refusal wrote nothing"
    );

    // The new token is a system admin's on the restarted server; the old one stays dead.
    let server = Served::start(&data, &[], &[]);
    assert!(server.admin.is_empty(), "no second bootstrap");
    rt.block_on(async {
        let (status, who) = whoami(&client, &server.addr, &token).await;
        assert_eq!(status, 200);
        assert_eq!(who["name"], "break-glass", "{who}");
        assert_eq!(who["system_admin"], true, "{who}");
        let r = client
            .post(format!("{}/v1/tenants", server.addr))
            .bearer_auth(&token)
            .json(&json!({"name": "after-recovery"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "a system admin's power");
        assert_eq!(whoami(&client, &server.addr, &lost).await.0, 401);

        // The audit shows the recovery: no actor principal, the recovery's request id.
        let audit: Value = client
            .get(format!("{}/v1/audit?limit=100", server.addr))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let rows = audit["events"].as_array().expect("events");
        let recovery: Vec<&Value> = rows
            .iter()
            .filter(|r| r["request_id"] == credledger::ledger::RECOVERY_REQUEST_ID)
            .collect();
        let actions: Vec<&str> = recovery
            .iter()
            .map(|r| r["action"].as_str().unwrap())
            .collect();
        assert_eq!(actions, ["principal_created", "token_issued"], "{audit}");
        assert!(recovery.iter().all(|r| r["actor"].is_null()), "{audit}");
    });
    server.assert_no_secret_logged(&[&token]);

    // The whole log, recovery included, verifies.
    let mut server = server;
    assert_eq!(
        server
            .terminate(Duration::from_secs(30))
            .map(|s| s.success()),
        Some(true)
    );
    let verify = Command::new(BIN)
        .args(["replay", "verify", "--json", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(verify.status.success(), "{}", stderr(&verify));
}

#[test]
fn admin_recover_never_creates_a_ledger() {
    let tmp = tempfile::tempdir().unwrap();
    for data in [tmp.path().join("missing"), tmp.path().to_path_buf()] {
        let o = recover(&data, &[]);
        assert!(!o.status.success());
        assert!(stderr(&o).contains("holds no ledger"), "{}", stderr(&o));
        assert!(o.stdout.is_empty());
    }
    assert!(!tmp.path().join("missing").exists());
    assert!(util::files_under(tmp.path()).is_empty(), "nothing written");
}
