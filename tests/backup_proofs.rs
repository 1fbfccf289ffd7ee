//! A backup carries the proofs kept beside the log: the tenant logs' checkpoints and the
//! witness cosignatures survive a backup → restore byte for byte (the real binary, real
//! sled directories), and a backup whose tenant checkpoint was altered (with a digest
//! made to match) is refused by the restore's verification, leaving nothing behind.

mod served;

use credledger::proof::side::{stored_side_data, SideData};
use credledger::store::sled::SledBackend;
use credledger::store::CheckpointStore;
use serde_json::{json, Value};
use served::{Served, BIN};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

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

fn side(dir: &Path) -> SideData {
    stored_side_data(&SledBackend::open(dir).unwrap()).unwrap()
}

/// A ledger with a credential used, a checkpoint (global and tenant) and cosignature
/// lines stored beside them, as the witnessing task stores them.
fn ledger_with_proofs(data: &Path) -> SideData {
    let mut s = Served::start(data, &[], &[]);
    let http = reqwest::blocking::Client::new();
    let r = http
        .post(format!("{}/v1/credentials", s.addr))
        .bearer_auth(&s.admin)
        .json(&json!({"name": "b", "template": "api_key", "fields": {"api_key": "k-backed-9d"}}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let note = http
        .get(format!("{}/v1/ledger/checkpoint", s.addr))
        .bearer_auth(&s.admin)
        .send()
        .unwrap()
        .text()
        .unwrap();
    let size: u64 = note.lines().nth(1).unwrap().parse().unwrap();
    s.terminate(Duration::from_secs(30)).expect("stops");
    {
        let store = SledBackend::open(data).unwrap();
        let (origin, _) = credledger::proof::genesis(&store).unwrap();
        let lines = format!("\u{2014} witness.test/one {}\n", "B".repeat(96));
        store
            .put_cosignatures_durable(&origin, size, lines.as_bytes())
            .unwrap();
        let found = stored_side_data(&store).unwrap();
        let (o, s, _) = found.log_checkpoints.first().expect("a tenant checkpoint");
        let lines = format!("\u{2014} witness.test/two {}\n", "C".repeat(96));
        store
            .put_cosignatures_durable(o, *s, lines.as_bytes())
            .unwrap();
    }
    let found = side(data);
    assert!(!found.log_checkpoints.is_empty());
    assert_eq!(found.cosignatures.len(), 2, "{found:?}");
    found
}

#[test]
fn tenant_checkpoints_and_cosignatures_survive_a_backup_and_restore() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let before = ledger_with_proofs(&data);
    let file = tmp.path().join("l.backup");
    let out = ok(&Command::new(BIN)
        .args(["backup", "--json", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&file)
        .output()
        .unwrap());
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        v["log_checkpoints"].as_u64().unwrap() as usize,
        before.log_checkpoints.len(),
        "{v}"
    );
    assert_eq!(v["cosignatures"], 2, "{v}");
    let restored = tmp.path().join("restored");
    let out = ok(&Command::new(BIN)
        .args(["restore", "--json", "--from"])
        .arg(&file)
        .arg("--data")
        .arg(&restored)
        .output()
        .unwrap());
    let r: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(r["cosignatures"], 2, "{r}");
    assert_eq!(side(&restored), before, "byte for byte");

    // An altered tenant checkpoint (its root), with a digest made to match, is refused.
    let text = std::fs::read_to_string(&file).unwrap();
    let mut lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let at = lines
        .iter()
        .position(|l| l["kind"] == "log_checkpoint")
        .expect("a log_checkpoint line");
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let note = String::from_utf8(b64.decode(lines[at]["note"].as_str().unwrap()).unwrap()).unwrap();
    let mut parts: Vec<String> = note.split('\n').map(str::to_owned).collect();
    let root = b64.decode(&parts[2]).unwrap();
    let mut other = root.clone();
    other[0] ^= 1;
    parts[2] = b64.encode(&other);
    lines[at]["note"] = Value::String(b64.encode(parts.join("\n")));
    let end = lines.pop().unwrap();
    let mut body = String::new();
    for l in &lines {
        body.push_str(&serde_json::to_string(l).unwrap());
        body.push('\n');
    }
    let digest = blake3::hash(body.as_bytes()).to_hex().to_string();
    let end = json!({"kind": "end", "records": end["records"], "digest": digest});
    body.push_str(&serde_json::to_string(&end).unwrap());
    body.push('\n');
    let bad = tmp.path().join("bad.backup");
    std::fs::write(&bad, body).unwrap();
    let target = tmp.path().join("bad");
    let out = Command::new(BIN)
        .args(["restore", "--from"])
        .arg(&bad)
        .arg("--data")
        .arg(&target)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/tenant/"), "{err}");
    assert!(err.contains("the tenant tree's is"), "{err}");
    assert!(!target.exists(), "nothing is left behind");
}
