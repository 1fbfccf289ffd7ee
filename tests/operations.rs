//! Operating a live server: a backup taken under load restores into a ledger that
//! verifies and holds every event acknowledged before the backup began; a damaged backup
//! is refused; a served directory is not copied; master and signing keys rotate under
//! load with no failed request and a chain that verifies across the rotations.

mod served;

use serde_json::{json, Value};
use served::{Served, BIN};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SECRET: &str = "sk-ops-load-7Hq2";

fn cli(args: &[&str], addr: &str, token: &str, home: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        .env("CREDLEDGER_ADDR", addr)
        .env("CREDLEDGER_TOKEN", token)
        .env("CREDLEDGER_CONFIG", home.join("none.json"))
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

fn create_cred(s: &Served) -> String {
    let r: Value = client()
        .post(format!("{}/v1/credentials", s.addr))
        .bearer_auth(&s.admin)
        .json(&json!({"name": "o", "template": "openai", "fields": {"api_key": SECRET}}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    r["id"].as_str().expect("credential id").to_string()
}

/// Load: `threads` loops of resolve + principal creation until `stop`. Returns the
/// names whose creation was acknowledged while `before` was still false, and counts
/// every failed request.
struct Load {
    stop: Arc<AtomicBool>,
    begun: Arc<AtomicBool>,
    failures: Arc<AtomicUsize>,
    done: Arc<AtomicUsize>,
    acked_before: Arc<Mutex<Vec<String>>>,
    handles: Vec<std::thread::JoinHandle<()>>,
}

fn load(s: &Served, cred: &str, threads: usize) -> Load {
    let l = Load {
        stop: Arc::default(),
        begun: Arc::default(),
        failures: Arc::default(),
        done: Arc::default(),
        acked_before: Arc::default(),
        handles: Vec::new(),
    };
    let mut handles = Vec::new();
    for t in 0..threads {
        let (stop, begun, failures, done, acked) = (
            l.stop.clone(),
            l.begun.clone(),
            l.failures.clone(),
            l.done.clone(),
            l.acked_before.clone(),
        );
        let (addr, admin, cred) = (s.addr.clone(), s.admin.clone(), cred.to_string());
        handles.push(std::thread::spawn(move || {
            let c = client();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let r = c
                    .post(format!("{addr}/v1/credentials/{cred}/resolve"))
                    .bearer_auth(&admin)
                    .send();
                match r {
                    Ok(r) if r.status() == 200 => {
                        let v: Value = r.json().unwrap();
                        assert_eq!(v["fields"]["api_key"], SECRET);
                    }
                    _ => {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
                let name = format!("load-{t}-{i}");
                let was_before = !begun.load(Ordering::SeqCst);
                let r = c
                    .post(format!("{addr}/v1/principals"))
                    .bearer_auth(&admin)
                    .json(&json!({"name": name, "kind": "service", "role": "resolver"}))
                    .send();
                match r {
                    Ok(r) if r.status() == 201 => {
                        if was_before {
                            acked.lock().unwrap().push(name);
                        }
                    }
                    _ => {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    Load { handles, ..l }
}

impl Load {
    fn await_progress(&self, n: usize) {
        let start = self.done.load(Ordering::Relaxed);
        while self.done.load(Ordering::Relaxed) < start + n {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    fn finish(self) -> (usize, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        for h in self.handles {
            h.join().unwrap();
        }
        let acked = self.acked_before.lock().unwrap().clone();
        (self.failures.load(Ordering::Relaxed), acked)
    }
}

#[test]
fn a_backup_under_load_restores_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let s = Served::start(&home.join("data"), &[], &[]);
    let cred = create_cred(&s);
    let l = load(&s, &cred, 3);
    l.await_progress(20);

    // A directory a server holds is not copied.
    let refused = Command::new(BIN)
        .args(["backup", "--out"])
        .arg(home.join("x.backup"))
        .arg("--data")
        .arg(home.join("data"))
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("a server is using"), "{err}");
    assert!(err.contains("--addr"), "{err}");

    // Names acknowledged before this point must all be in the backup.
    l.begun.store(true, Ordering::SeqCst);
    let file = home.join("ledger.backup");
    let out = ok(&cli(
        &["backup", "--json", "--out", file.to_str().unwrap()],
        &s.addr,
        &s.admin,
        home,
    ));
    let report: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(report["ok"], true, "{out}");
    l.await_progress(10);
    let (failures, acked) = l.finish();
    assert_eq!(failures, 0, "requests failed during the backup");
    assert!(acked.len() >= 20, "{}", acked.len());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // Restore into a new directory: verified, then served with the same tokens.
    let restored = home.join("restored");
    let out = Command::new(BIN)
        .args(["restore", "--json", "--from"])
        .arg(&file)
        .arg("--data")
        .arg(&restored)
        .output()
        .unwrap();
    let text = ok(&out);
    let r: Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(r["events"], report["events"]);
    assert!(r["verified_events"].as_u64().unwrap() >= report["events"].as_u64().unwrap());
    let mut t = Served::start(&restored, &[], &[]);
    let list: Value = client()
        .get(format!("{}/v1/principals", t.addr))
        .bearer_auth(&s.admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let names: Vec<&str> = list["principals"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for n in &acked {
        assert!(
            names.contains(&n.as_str()),
            "{n} was acknowledged before the backup"
        );
    }
    let v: Value = client()
        .post(format!("{}/v1/credentials/{cred}/resolve", t.addr))
        .bearer_auth(&s.admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        v["fields"]["api_key"], SECRET,
        "the secret opens after restore"
    );
    t.terminate(Duration::from_secs(20));
    let verify = Command::new(BIN)
        .args(["replay", "verify", "--json", "--data"])
        .arg(&restored)
        .output()
        .unwrap();
    ok(&verify);

    // Restoring over a ledger is refused; a damaged file is refused and leaves nothing.
    let again = Command::new(BIN)
        .args(["restore", "--from"])
        .arg(&file)
        .arg("--data")
        .arg(&restored)
        .output()
        .unwrap();
    assert!(!again.status.success());
    let bytes = std::fs::read(&file).unwrap();
    let cut = home.join("cut.backup");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let bad = Command::new(BIN)
        .args(["restore", "--from"])
        .arg(&cut)
        .arg("--data")
        .arg(home.join("bad"))
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(!home.join("bad").exists());
    s.assert_no_secret_logged(&[SECRET]);
}

#[test]
fn keys_rotate_under_load_and_the_chain_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let mut s = Served::start(&home.join("data"), &[], &[]);
    let cred = create_cred(&s);
    let l = load(&s, &cred, 3);
    l.await_progress(10);
    for cmd in [
        "rotate-master",
        "rotate-signing",
        "rotate-master",
        "rotate-signing",
    ] {
        let out = ok(&cli(&["keys", cmd, "--json"], &s.addr, &s.admin, home));
        let v: Value = serde_json::from_str(out.trim()).unwrap();
        assert!(
            v.get("master_key_id").is_some() || v.get("signing_key").is_some(),
            "{v}"
        );
        l.await_progress(5);
    }
    let (failures, _) = l.finish();
    assert_eq!(failures, 0, "requests failed during the rotations");
    // Not for a non-admin.
    let aud: Value = client()
        .post(format!("{}/v1/principals", s.addr))
        .bearer_auth(&s.admin)
        .json(&json!({"name": "aud", "kind": "user", "role": "auditor"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let tok: Value = client()
        .post(format!(
            "{}/v1/principals/{}/tokens",
            s.addr,
            aud["id"].as_str().unwrap()
        ))
        .bearer_auth(&s.admin)
        .json(&json!({}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let refused = cli(
        &["keys", "rotate-master"],
        &s.addr,
        tok["token"].as_str().unwrap(),
        home,
    );
    assert!(!refused.status.success());
    s.terminate(Duration::from_secs(20));
    let verify = Command::new(BIN)
        .args(["replay", "verify", "--json", "--data"])
        .arg(home.join("data"))
        .output()
        .unwrap();
    let report: Value = serde_json::from_str(&ok(&verify)).unwrap();
    assert!(report["failure"].is_null(), "{report}");
    assert_eq!(
        report["keys"].as_array().unwrap().len(),
        3,
        "the genesis key and two rotations: {report}"
    );
    // A stopped server's directory is backed up directly, verified across the rotations.
    let offline = Command::new(BIN)
        .args(["backup", "--out"])
        .arg(home.join("offline.backup"))
        .arg("--data")
        .arg(home.join("data"))
        .output()
        .unwrap();
    assert!(ok(&offline).contains("backup ok"));
}
