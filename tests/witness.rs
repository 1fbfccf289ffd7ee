//! `credledger witness serve` as a real process on 127.0.0.1:0, fed with
//! checkpoints and consistency proofs of a log built here with the crate's
//! own `merkle` and `note` code.
//!
//! The `indep` module checks every cosignature the way an outsider would,
//! from c2sp.org/tlog-cosignature and c2sp.org/signed-note alone, with sha2,
//! ed25519-dalek and base64: it never calls credledger's note code.

use credledger::merkle::{consistency_proof, root, Hash, MemoryTree};
use credledger::note::{sign_checkpoint, verifier_key, Checkpoint};
use credledger::witness::{
    add_cosignatures, verify_cosigned, CosignatureError, CosignerKey, WitnessClient, WitnessError,
};
use ed25519_dalek::SigningKey;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_credledger");
const ORIGIN: &str = "credledger.test/witnessed";

/// The tlog-cosignature checks, by hand from the specs.
mod indep {
    use base64::engine::general_purpose::STANDARD as B64;
    use base64::Engine;
    use ed25519_dalek::{Signature, VerifyingKey};
    use sha2::{Digest, Sha256};

    /// A witness verifier key `<name>+<hex id>+<base64(0x04 || key)>`.
    pub struct Witness {
        pub name: String,
        pub id: [u8; 4],
        pub key: VerifyingKey,
    }

    pub fn parse_vkey(s: &str) -> Witness {
        let mut parts = s.splitn(3, '+');
        let name = parts.next().unwrap().to_owned();
        let id: [u8; 4] = hex::decode(parts.next().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        let raw = B64.decode(parts.next().unwrap()).unwrap();
        assert_eq!(raw[0], 0x04, "a cosigner key has signature type 0x04");
        let key = VerifyingKey::from_bytes(&raw[1..].try_into().unwrap()).unwrap();
        let digest = Sha256::new()
            .chain_update(name.as_bytes())
            .chain_update([0x0a, 0x04])
            .chain_update(key.as_bytes())
            .finalize();
        assert_eq!(
            &digest[..4],
            &id,
            "key id = SHA-256(name || 0x0A || 0x04 || key)[:4]"
        );
        Witness { name, id, key }
    }

    /// The note text: everything up to the last blank line, with its newline.
    pub fn text(note: &str) -> &str {
        let i = note.rfind("\n\n").unwrap();
        &note[..=i]
    }

    /// Verifies one cosignature line over a note text; returns its timestamp.
    pub fn verify(line: &str, text: &str, w: &Witness) -> Result<u64, String> {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let rest = line
            .strip_prefix("\u{2014} ")
            .ok_or("no em dash and space")?;
        let (name, b64) = rest.split_once(' ').ok_or("no signature")?;
        if name != w.name {
            return Err(format!("name {name}"));
        }
        let blob = B64.decode(b64).map_err(|e| e.to_string())?;
        if blob.len() != 4 + 8 + 64 {
            return Err(format!("{} bytes, not 76", blob.len()));
        }
        if blob[..4] != w.id {
            return Err("key id".into());
        }
        let ts = u64::from_be_bytes(blob[4..12].try_into().unwrap());
        if ts > i64::MAX as u64 {
            return Err("timestamp above 2^63 - 1".into());
        }
        let msg = format!("cosignature/v1\ntime {ts}\n{text}");
        let sig = Signature::from_bytes(&blob[12..].try_into().unwrap());
        w.key
            .verify_strict(msg.as_bytes(), &sig)
            .map_err(|_| "bad signature".to_string())?;
        Ok(ts)
    }
}

/// A log of `n` leaves, signed with a fixed test key.
struct TestLog {
    tree: MemoryTree,
    sk: SigningKey,
}

impl TestLog {
    fn new(n: u64, history: &str) -> TestLog {
        Self::with_key(n, history, 7)
    }

    fn with_key(n: u64, history: &str, seed: u8) -> TestLog {
        let mut tree = MemoryTree::new();
        for i in 0..n {
            tree.push(format!("{history} event {i}").as_bytes());
        }
        TestLog {
            tree,
            sk: SigningKey::from_bytes(&[seed; 32]),
        }
    }

    fn vkey(&self) -> String {
        verifier_key(ORIGIN, &self.sk.verifying_key()).unwrap()
    }

    fn note(&self, size: u64) -> String {
        self.note_for(ORIGIN, size)
    }

    fn note_for(&self, origin: &str, size: u64) -> String {
        let cp = Checkpoint {
            origin: origin.into(),
            size,
            root: root(size, &self.tree).unwrap(),
            extensions: vec![],
        };
        sign_checkpoint(&cp, origin, &self.sk).unwrap()
    }

    fn proof(&self, old: u64, new: u64) -> Vec<Hash> {
        if old == 0 || old >= new {
            return vec![];
        }
        consistency_proof(old, new, &self.tree).unwrap()
    }

    /// An add-checkpoint body from `old` to `size`, with this log's proof.
    fn body(&self, old: u64, size: u64) -> String {
        body(old, &self.proof(old, size), &self.note(size))
    }
}

fn body(old: u64, proof: &[Hash], note: &str) -> String {
    use base64::Engine;
    let mut b = format!("old {old}\n");
    for h in proof {
        b.push_str(&base64::engine::general_purpose::STANDARD.encode(h));
        b.push('\n');
    }
    b.push('\n');
    b.push_str(note);
    b
}

/// A running `credledger witness serve`; killed on drop.
struct Served {
    child: Option<Child>,
    addr: String,
    /// The verifier key the server printed.
    vkey: String,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Served {
    fn start(data: &Path, name: &str, log_keys: &[String]) -> Served {
        let mut cmd = Command::new(BIN);
        cmd.args(["witness", "serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .args(["--name", name])
            .env("CREDLEDGER_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for k in log_keys {
            cmd.args(["--log-key", k]);
        }
        let mut child = cmd.spawn().expect("spawn credledger witness serve");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let sink = lines.clone();
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
                sink.lock().unwrap().push(line);
            }
        });
        let Ok((addr, vkey)) = rx.recv_timeout(Duration::from_secs(60)) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the witness did not start:\n{}",
                lines.lock().unwrap().join("\n")
            );
        };
        Served {
            child: Some(child),
            addr,
            vkey,
            lines,
        }
    }

    /// SIGKILL: no shutdown path runs, only what was durable survives.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn post(&self, body: &str) -> (u16, String, String) {
        let resp = reqwest::blocking::Client::new()
            .post(format!("{}/add-checkpoint", self.addr))
            .body(body.to_owned())
            .send()
            .unwrap();
        let status = resp.status().as_u16();
        let ct = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, ct, resp.text().unwrap())
    }

    fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Posts and expects 200; checks the one cosignature independently and
/// returns its timestamp.
fn cosigned(w: &Served, log: &TestLog, old: u64, size: u64) -> u64 {
    let (status, _, resp) = w.post(&log.body(old, size));
    assert_eq!(status, 200, "old {old} size {size}: {resp}\n{}", w.log());
    assert_eq!(resp.lines().count(), 1);
    let note = log.note(size);
    indep::verify(&resp, indep::text(&note), &indep::parse_vkey(&w.vkey)).unwrap()
}

#[test]
fn growth_is_cosigned_and_verifies_independently() {
    let dir = tempfile::tempdir().unwrap();
    let log = TestLog::new(40, "main");
    let w = Served::start(&dir.path().join("w"), "w.test/one", &[log.vkey()]);
    let t1 = cosigned(&w, &log, 0, 5);
    let t2 = cosigned(&w, &log, 5, 13);
    let t3 = cosigned(&w, &log, 13, 32);
    assert!(t1 <= t2 && t2 <= t3);
    // The same checkpoint again is cosigned again (a fresh timestamp).
    let t4 = cosigned(&w, &log, 32, 32);
    assert!(t4 >= t3);
    // A checkpoint with an extension line: the extension is signed too.
    let cp = Checkpoint {
        origin: ORIGIN.into(),
        size: 33,
        root: root(33, &log.tree).unwrap(),
        extensions: vec!["ext line".into()],
    };
    let note = sign_checkpoint(&cp, ORIGIN, &log.sk).unwrap();
    let (status, _, resp) = w.post(&body(32, &log.proof(32, 33), &note));
    assert_eq!(status, 200, "{resp}");
    let wk = indep::parse_vkey(&w.vkey);
    indep::verify(&resp, indep::text(&note), &wk).unwrap();
    assert!(indep::verify(&resp, &cp.body().replace("ext line\n", ""), &wk).is_err());
}

#[test]
fn refusals_follow_the_spec_and_leave_the_state_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let log = TestLog::new(40, "main");
    let fork = TestLog::new(40, "fork");
    let w = Served::start(&dir.path().join("w"), "w.test/one", &[log.vkey()]);
    cosigned(&w, &log, 0, 10);

    // A bad proof: 422.
    let mut proof = log.proof(10, 20);
    proof[1][5] ^= 0x40;
    let (s, _, _) = w.post(&body(10, &proof, &log.note(20)));
    assert_eq!(s, 422);
    let (s, _, _) = w.post(&body(10, &log.proof(10, 20)[1..], &log.note(20)));
    assert_eq!(s, 422, "a proof with a missing hash");

    // A fork signed by the same key: same size, another root → 409 (the spec),
    // or a bigger tree from another history with that history's own proof → 422.
    let (s, ct, b) = w.post(&fork.body(10, 10));
    assert_eq!(
        (s, ct.as_str(), b.as_str()),
        (409, "text/x.tlog.size", "10\n")
    );
    let (s, _, _) = w.post(&body(10, &fork.proof(10, 25), &fork.note(25)));
    assert_eq!(s, 422);

    // A rollback: with old = the witness's size the request contradicts itself
    // (400); with a smaller old it is stale (409 with the current size).
    let (s, _, _) = w.post(&log.body(10, 6));
    assert_eq!(s, 400);
    let (s, ct, b) = w.post(&log.body(6, 6));
    assert_eq!(
        (s, ct.as_str(), b.as_str()),
        (409, "text/x.tlog.size", "10\n")
    );
    let (s, _, b) = w.post(&log.body(0, 4));
    assert_eq!((s, b.as_str()), (409, "10\n"));

    // A stale old with a valid proof for it: 409 with the current size.
    let (s, ct, b) = w.post(&log.body(7, 20));
    assert_eq!(
        (s, ct.as_str(), b.as_str()),
        (409, "text/x.tlog.size", "10\n")
    );

    // A wrong log signature: 403.
    let other_key = TestLog::with_key(40, "main", 8);
    let (s, _, _) = w.post(&body(10, &log.proof(10, 20), &other_key.note(20)));
    assert_eq!(s, 403);
    let tampered = log.note(20).replacen("\n20\n", "\n21\n", 1);
    let (s, _, _) = w.post(&body(10, &log.proof(10, 21), &tampered));
    assert_eq!(s, 403);

    // An unknown origin: 404.
    let (s, _, _) = w.post(&body(
        10,
        &log.proof(10, 20),
        &log.note_for("other.test/log", 20),
    ));
    assert_eq!(s, 404);

    // Malformed requests: 400.
    for bad in [
        String::new(),
        "old 10\n".into(),
        format!("old 010\n\n{}", log.note(20)),
        format!("old 10\nnot base64\n\n{}", log.note(20)),
        format!("old 10\n\n{ORIGIN}\nnot a size\nAAAA\n\n\u{2014} {ORIGIN} AAAA\n"),
        format!("old 10\n\n{ORIGIN}\n20\n"),
    ] {
        let (s, _, b) = w.post(&bad);
        assert_eq!(s, 400, "{bad:?}: {b}");
    }
    let (s, _, _) = w.post(&format!(
        "old 0\n{}\n\n{}",
        "A".repeat(43) + "=",
        log.note(20)
    ));
    assert_eq!(s, 409, "old 0 against a witness at 10 is stale first");

    // After all of that the witness still holds 10.
    cosigned(&w, &log, 10, 20);
    assert!(w.log().contains("possible fork"), "{}", w.log());
    let evidence = std::fs::read_dir(dir.path().join("w/evidence"))
        .unwrap()
        .count();
    assert!(evidence >= 4, "{evidence} evidence files");
}

#[test]
fn a_restarted_witness_remembers_and_still_refuses_the_rollback() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("w");
    let log = TestLog::new(40, "main");
    let fork = TestLog::new(40, "fork");
    let mut w = Served::start(&data, "w.test/one", &[log.vkey()]);
    cosigned(&w, &log, 0, 9);
    cosigned(&w, &log, 9, 17);
    let vkey = w.vkey.clone();
    w.kill();

    let w = Served::start(&data, "w.test/one", &[log.vkey()]);
    assert_eq!(w.vkey, vkey, "the same identity after a restart");
    let (s, ct, b) = w.post(&log.body(0, 17));
    assert_eq!(
        (s, ct.as_str(), b.as_str()),
        (409, "text/x.tlog.size", "17\n")
    );
    let (s, _, _) = w.post(&log.body(17, 9));
    assert_eq!(s, 400);
    let (s, _, b) = w.post(&log.body(9, 9));
    assert_eq!((s, b.as_str()), (409, "17\n"));
    let (s, _, _) = w.post(&fork.body(17, 17));
    assert_eq!(s, 409);
    cosigned(&w, &log, 17, 30);
    drop(w);

    // Another name for the same directory is refused.
    let out = Command::new(BIN)
        .args(["witness", "serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data)
        .args(["--name", "w.test/renamed", "--log-key", &log.vkey()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("w.test/one"));
}

#[test]
fn the_key_command_prints_the_served_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("w");
    let log = TestLog::new(1, "main");
    let out = Command::new(BIN)
        .args(["witness", "key", "--name", "w.test/k", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(printed.starts_with("w.test/k+"));
    CosignerKey::parse(&printed).unwrap();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(data.join("witness.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let w = Served::start(&data, "w.test/k", &[log.vkey()]);
    assert_eq!(w.vkey, printed);
    // No log configured: a usage error, exit 2.
    let out = Command::new(BIN)
        .args(["witness", "serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn two_witnesses_and_a_quorum() {
    let dir = tempfile::tempdir().unwrap();
    let log = TestLog::new(50, "main");
    let a = Served::start(&dir.path().join("a"), "w.test/a", &[log.vkey()]);
    let b = Served::start(&dir.path().join("b"), "w.test/b", &[log.vkey()]);
    let key_a = CosignerKey::parse(&a.vkey).unwrap();
    let key_b = CosignerKey::parse(&b.vkey).unwrap();
    // A third witness that is configured but never asked.
    let key_c = CosignerKey::new(
        "w.test/c",
        SigningKey::from_bytes(&[0x33; 32]).verifying_key(),
    )
    .unwrap();
    let client_a = WitnessClient::new(&a.addr, key_a.clone()).unwrap();
    let client_b = WitnessClient::new(&b.addr, key_b.clone()).unwrap();
    let proof = |old: u64| -> Result<Vec<Hash>, String> { Ok(log.proof(old, 20)) };

    // Witness a has already seen size 8; the client starts from 0, gets the
    // 409 and retries with a proof from 8.
    let first = client_a
        .cosign(&log.note(8), 0, |_| Ok::<_, String>(vec![]))
        .await
        .unwrap();
    assert_eq!(first.witness_size, 8);
    let note = log.note(20);
    let ca = client_a.cosign(&note, 0, proof).await.unwrap();
    let cb = client_b.cosign(&note, 0, proof).await.unwrap();
    assert_eq!((ca.witness_size, cb.witness_size), (20, 20));

    let cosigned = add_cosignatures(&note, &[ca.line.clone(), cb.line.clone()]).unwrap();
    let log_keys = vec![(ORIGIN.to_owned(), log.sk.verifying_key())];
    // 2 of 2.
    let ok = verify_cosigned(&cosigned, &log_keys, &[key_a.clone(), key_b.clone()], 2).unwrap();
    let names: Vec<&str> = ok.cosigners.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["w.test/a", "w.test/b"]);
    // 2 of 3, one missing.
    let three = [key_a.clone(), key_b.clone(), key_c.clone()];
    assert_eq!(
        verify_cosigned(&cosigned, &log_keys, &three, 2)
            .unwrap()
            .cosigners
            .len(),
        2
    );
    // Below quorum: 3 required, or only one cosignature present.
    assert!(matches!(
        verify_cosigned(&cosigned, &log_keys, &three, 3),
        Err(CosignatureError::QuorumNotMet {
            need: 3,
            got: 2,
            ..
        })
    ));
    let only_a = add_cosignatures(&note, std::slice::from_ref(&ca.line)).unwrap();
    assert!(matches!(
        verify_cosigned(&only_a, &log_keys, &three, 2),
        Err(CosignatureError::QuorumNotMet {
            need: 2,
            got: 1,
            ..
        })
    ));
    // The independent verifier agrees on both lines.
    let text = indep::text(&cosigned);
    indep::verify(&ca.line.to_line(), text, &indep::parse_vkey(&a.vkey)).unwrap();
    indep::verify(&cb.line.to_line(), text, &indep::parse_vkey(&b.vkey)).unwrap();
    // A client pinned to the wrong key does not accept a's answer.
    let wrong = WitnessClient::new(&a.addr, key_b.clone()).unwrap();
    assert!(matches!(
        wrong
            .cosign(&log.note(21), 20, |o| Ok::<_, String>(log.proof(o, 21)))
            .await,
        Err(WitnessError::NoValidCosignature(_))
    ));

    // The client's view of the refusals.
    let fork = TestLog::new(50, "fork");
    assert!(matches!(
        client_b.add_checkpoint(20, &[], &fork.note(20)).await,
        Err(WitnessError::RootConflict { size: 20 })
    ));
    assert!(matches!(
        client_b
            .add_checkpoint(20, &fork.proof(20, 30), &fork.note(30))
            .await,
        Err(WitnessError::BadProof(_))
    ));
    assert!(matches!(
        client_b
            .add_checkpoint(3, &log.proof(3, 30), &log.note(30))
            .await,
        Err(WitnessError::Conflict { witness_size: 20 })
    ));
    let stranger = TestLog::with_key(50, "main", 9);
    assert!(matches!(
        client_b
            .add_checkpoint(20, &log.proof(20, 30), &stranger.note(30))
            .await,
        Err(WitnessError::Forbidden(_))
    ));
    assert!(matches!(
        client_b
            .add_checkpoint(20, &log.proof(20, 30), &log.note_for("nobody.test/x", 30))
            .await,
        Err(WitnessError::UnknownLog(_))
    ));
    // A witness that is down: a transport error, retryable.
    let dead = {
        let mut c = Served::start(&dir.path().join("c"), "w.test/c2", &[log.vkey()]);
        let addr = c.addr.clone();
        c.kill();
        addr
    };
    let err = credledger::witness::add_checkpoint(&dead, 0, &[], &log.note(1))
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
}
