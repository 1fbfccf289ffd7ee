//! Ledger-side witnessing end to end: a real `credledger serve` configured with two real
//! `credledger witness serve` processes (`--witness URL=KEY`), all on loopback ports.
//!
//! Checkpoints gather two cosignatures, then one once a witness is stopped, and resolves
//! never fail meanwhile; a rollback is refused by the witness; a fork (a copy of the
//! ledger directory, so the same key and origin, that writes another history) is refused
//! by the witness and its checkpoints carry no cosignature. Cosignatures are checked by
//! the `indep` module from c2sp.org/tlog-cosignature alone, and by the quorum check.

mod served;

use credledger::note::parse_verifier_key;
use credledger::witness::{verify_cosigned, CosignerKey, WitnessClient, WitnessError};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The tlog-cosignature check, by hand from the spec (sha2, ed25519-dalek, base64 only).
mod indep {
    use base64::engine::general_purpose::STANDARD as B64;
    use base64::Engine;
    use ed25519_dalek::{Signature, VerifyingKey};
    use sha2::{Digest, Sha256};

    /// Counts the lines of `note` that are valid cosignatures by the witness whose
    /// verifier key is `vkey` (`name+hexid+base64(0x04 || key)`).
    pub fn count(note: &str, vkey: &str) -> usize {
        let mut parts = vkey.splitn(3, '+');
        let name = parts.next().unwrap();
        let id = hex::decode(parts.next().unwrap()).unwrap();
        let raw = B64.decode(parts.next().unwrap()).unwrap();
        assert_eq!(raw[0], 0x04);
        let key = VerifyingKey::from_bytes(&raw[1..].try_into().unwrap()).unwrap();
        let digest = Sha256::new()
            .chain_update(name.as_bytes())
            .chain_update([0x0a, 0x04])
            .chain_update(key.as_bytes())
            .finalize();
        assert_eq!(digest[..4], id[..]);
        let split = note.find("\n\n").unwrap();
        let text = &note[..=split];
        note[split + 2..]
            .lines()
            .filter_map(|l| l.strip_prefix("\u{2014} "))
            .filter_map(|l| l.split_once(' '))
            .filter(|(n, _)| *n == name)
            .filter(|(_, b)| {
                let blob = B64.decode(b).unwrap();
                if blob.len() != 76 || blob[..4] != id[..] {
                    return false;
                }
                let ts = u64::from_be_bytes(blob[4..12].try_into().unwrap());
                let msg = format!("cosignature/v1\ntime {ts}\n{text}");
                let sig = Signature::from_bytes(&blob[12..].try_into().unwrap());
                key.verify_strict(msg.as_bytes(), &sig).is_ok()
            })
            .count()
    }
}

/// A running `credledger witness serve`; killed on drop.
struct Witness {
    child: Option<Child>,
    url: String,
    vkey: String,
}

impl Witness {
    fn start(data: &Path, name: &str, log_key: &str) -> Witness {
        let mut child = Command::new(served::BIN)
            .args(["witness", "serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .args(["--name", name, "--log-key", log_key])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn credledger witness serve");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut vkey = String::new();
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(k) = line.strip_prefix("credledger: witness key ") {
                    vkey = k.trim().to_owned();
                }
                if let Some(a) = line.strip_prefix("credledger: witness listening on ") {
                    let _ = tx.send((a.trim().to_owned(), vkey.clone()));
                }
            }
        });
        let (url, vkey) = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the witness starts");
        Witness {
            child: Some(child),
            url,
            vkey,
        }
    }

    fn flag(&self) -> String {
        format!("{}={}", self.url, self.vkey)
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Witness {
    fn drop(&mut self) {
        self.stop();
    }
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::new()
}

fn get_text(s: &served::Served, token: &str, path: &str) -> String {
    let r = http()
        .get(format!("{}{path}", s.addr))
        .bearer_auth(token)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.text().unwrap()
}

/// Creates a credential and resolves it; both must succeed.
fn use_a_credential(s: &served::Served, token: &str, name: &str) {
    let r = http()
        .post(format!("{}/v1/credentials", s.addr))
        .bearer_auth(token)
        .json(
            &json!({"name": name, "template": "api_key", "fields": {"api_key": "k-witnessed-3f"}}),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = http()
        .post(format!("{}/v1/credentials/{id}/resolve", s.addr))
        .bearer_auth(token)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "a resolve never waits for a witness");
}

/// Issues a checkpoint of the current tree; returns its size.
fn new_checkpoint(s: &served::Served, token: &str) -> u64 {
    let note = get_text(s, token, "/v1/ledger/checkpoint");
    note.lines().nth(1).unwrap().parse().unwrap()
}

/// The served checkpoint of `size` (from the list): its cosignature count and note.
fn served_checkpoint(s: &served::Served, token: &str, size: u64) -> (usize, String) {
    let list: Value = serde_json::from_str(&get_text(s, token, "/v1/ledger/checkpoints")).unwrap();
    let cp = list["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["tree_size"] == size)
        .cloned()
        .expect("the checkpoint is listed");
    let n = cp["cosignatures"].as_u64().unwrap() as usize;
    (n, cp["note"].as_str().unwrap().to_owned())
}

/// [`served_checkpoint`] once it carries `want` cosignatures (bounded wait: after 30 s,
/// what it carries then).
fn cosigned(s: &served::Served, token: &str, size: u64, want: usize) -> (usize, String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = served_checkpoint(s, token, size);
        if got.0 >= want || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

#[test]
fn two_witnesses_cosign_one_stops_and_forks_and_rollbacks_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let a_dir = tmp.path().join("a");
    // A first start creates the ledger and its key; the witnesses are configured with it.
    let mut a = served::Served::start(&a_dir, &[], &[]);
    let admin = a.admin.clone();
    let log_vkey = get_text(&a, &admin, "/v1/ledger/publickey?which=genesis")
        .trim()
        .to_owned();
    a.terminate(Duration::from_secs(30)).expect("stops");
    let mut w1 = Witness::start(&tmp.path().join("w1"), "witness.test/one", &log_vkey);
    let mut w2 = Witness::start(&tmp.path().join("w2"), "witness.test/two", &log_vkey);
    let both = [
        "--witness",
        &w1.flag(),
        "--witness",
        &w2.flag(),
        "--witness-interval-ms",
        "100",
    ];
    let mut a = served::Served::start(&a_dir, &both, &[]);
    let (origin, _, log_key) = parse_verifier_key(&log_vkey).unwrap();
    let log_keys = [(origin, log_key)];
    let witnesses = [
        CosignerKey::parse(&w1.vkey).unwrap(),
        CosignerKey::parse(&w2.vkey).unwrap(),
    ];

    // Both witnesses cosign.
    use_a_credential(&a, &admin, "first");
    let s1 = new_checkpoint(&a, &admin);
    let (n, note1) = cosigned(&a, &admin, s1, 2);
    assert_eq!(n, 2, "{}", a.log());
    assert_eq!(indep::count(&note1, &w1.vkey), 1);
    assert_eq!(indep::count(&note1, &w2.vkey), 1);
    let checked = verify_cosigned(&note1, &log_keys, &witnesses, 2).unwrap();
    assert_eq!(checked.checkpoint.size, s1);
    // The current checkpoint endpoint serves the cosigned note too.
    let current = get_text(&a, &admin, "/v1/ledger/checkpoint");
    assert_eq!(current, note1);

    // One witness stops: writes and resolves go on, new checkpoints carry one line.
    w2.stop();
    use_a_credential(&a, &admin, "second");
    let s2 = new_checkpoint(&a, &admin);
    assert!(s2 > s1);
    let (n, note2) = cosigned(&a, &admin, s2, 1);
    assert_eq!(n, 1, "{}", a.log());
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        served_checkpoint(&a, &admin, s2).0,
        1,
        "the stopped witness adds nothing"
    );
    assert_eq!(indep::count(&note2, &w1.vkey), 1);
    assert_eq!(indep::count(&note2, &w2.vkey), 0);
    verify_cosigned(&note2, &log_keys, &witnesses, 1).unwrap();
    assert!(verify_cosigned(&note2, &log_keys, &witnesses, 2).is_err());

    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = WitnessClient::new(&w1.url, witnesses[0].clone()).unwrap();
    // A rollback: the older checkpoint, offered again from scratch.
    let (body, sigs) = note1.split_once("\n\n").unwrap();
    let older = format!("{body}\n\n{}\n", sigs.lines().next().unwrap());
    let got = rt.block_on(client.cosign(&older, 0, |_| Err::<Vec<_>, _>("no proof")));
    assert!(
        matches!(got, Err(WitnessError::Conflict { witness_size }) if witness_size == s2),
        "{got:?}"
    );

    // A fork: a copy of the ledger taken now (size s2), while the original goes on.
    a.terminate(Duration::from_secs(30)).expect("stops");
    let b_dir = tmp.path().join("b");
    copy_dir(&a_dir, &b_dir);
    let a = served::Served::start(&a_dir, &both, &[]);
    use_a_credential(&a, &admin, "third");
    let s3 = new_checkpoint(&a, &admin);
    assert_eq!(cosigned(&a, &admin, s3, 1).0, 1, "{}", a.log());
    let b = served::Served::start(&b_dir, &both, &[]);
    for name in ["other-1", "other-2", "other-3"] {
        use_a_credential(&b, &admin, name);
    }
    let fork_size = new_checkpoint(&b, &admin);
    assert!(fork_size > s3);
    let fork_note = get_text(&b, &admin, "/v1/ledger/checkpoint");
    let deadline = Instant::now() + Duration::from_secs(30);
    // The fork's own submission is refused for its proof (tenant logs, which these
    // witnesses are not configured for, are refused as unknown: not this line).
    let fork_refused = |log: &str| {
        log.lines()
            .any(|l| l.contains("REFUSED") && l.contains("rejected the consistency proof"))
    };
    while !fork_refused(&b.log()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        served_checkpoint(&b, &admin, fork_size).0,
        0,
        "the witness cosigns no fork"
    );
    assert!(fork_refused(&b.log()), "{}", b.log());
    // The fork's own consistency proof from the size the witness holds.
    let v: Value = serde_json::from_str(&get_text(
        &b,
        &admin,
        &format!("/v1/ledger/proof/consistency?old={s3}&new={fork_size}"),
    ))
    .unwrap();
    let fork_proof: Vec<[u8; 32]> = v["consistency"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD
                .decode(h.as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap()
        })
        .collect();
    let proof = |_old: u64| Ok::<_, String>(fork_proof.clone());
    let got = rt.block_on(client.cosign(&fork_note, s3, proof));
    assert!(matches!(got, Err(WitnessError::BadProof(_))), "{got:?}");
    // The original is still cosigned by the witness afterwards.
    use_a_credential(&a, &admin, "fourth");
    let s4 = new_checkpoint(&a, &admin);
    assert_eq!(cosigned(&a, &admin, s4, 1).0, 1, "{}", a.log());
    a.assert_no_secret_logged(&["k-witnessed-3f", &admin]);
    w1.stop();
}
