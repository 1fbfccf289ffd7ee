//! Tamper tests: build a real ledger, close it, alter its log through sled directly, and
//! check that `replay::verify` and `credledger replay verify` name exactly the first bad
//! sequence number and the right problem.

mod util;

use credledger::event::{Body, Event, SignedEvent};
use credledger::ledger::RequestCtx;
use credledger::replay::{self, Failure, Problem};
use credledger::store::sled::SledBackend;
use ed25519_dalek::SigningKey;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use util::{api_key, api_key_input, open, Open};

/// The sequence number of the signing-key rotation in the built ledger: tampering is
/// tested on both sides of it.
const ROTATION: u64 = 7;

/// Builds a ledger of a few dozen events (with a signing-key rotation in the middle),
/// closes it and returns its records.
fn build(dir: &Path) -> Vec<Vec<u8>> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let Open { ledger, admin } = open(dir);
        let ctx = RequestCtx::default();
        let mut ids = Vec::new();
        for i in 0..6 {
            if i == 3 {
                ledger.rotate_signing_key(&ctx, &admin).await.unwrap();
            }
            ids.push(
                ledger
                    .create_credential(
                        &ctx,
                        &admin,
                        api_key_input(&format!("tamper-cred-{i:02}"), &format!("sk-{i}")),
                    )
                    .await
                    .unwrap(),
            );
        }
        for (i, id) in ids.iter().enumerate() {
            ledger
                .rotate(&ctx, &admin, *id, api_key(&format!("sk-{i}-v2")))
                .await
                .unwrap();
            ledger
                .resolve(
                    &ctx,
                    &admin,
                    credledger::ledger::ResolveTarget::Id {
                        id: *id,
                        version: None,
                    },
                )
                .await
                .unwrap();
            ledger.delete(&ctx, &admin, *id).await.unwrap();
        }
        ledger.shutdown();
    });
    let store = SledBackend::open(dir).unwrap();
    let records: Vec<Vec<u8>> = credledger::store::records(&store, 0)
        .map(|r| r.unwrap().1)
        .collect();
    assert!(records.len() >= 25, "{} events", records.len());
    let report = verify_records(&records);
    assert!(report.ok(), "{:?}", report.failure);
    assert!(matches!(
        signed(&records[ROTATION as usize]).event().body,
        Body::SigningKeyRotated { .. }
    ));
    records
}

fn verify_records(records: &[Vec<u8>]) -> replay::Report {
    replay::verify(
        records
            .iter()
            .enumerate()
            .map(|(i, r)| Ok::<_, String>((i as u64, r.clone()))),
        None,
        |_| {},
    )
}

fn verify_dir(dir: &Path) -> replay::Report {
    let store = SledBackend::open(dir).unwrap();
    util::verify_store(&store)
}

fn signed(record: &[u8]) -> SignedEvent {
    SignedEvent::from_record(record).unwrap()
}

/// Alters the log of the closed ledger in `dir`: its records by position, as stored.
fn tamper(dir: &Path, f: impl FnOnce(&mut BTreeMap<u64, Vec<u8>>)) {
    SledBackend::tamper_log(dir, f).unwrap();
}

/// Runs `credledger replay verify` (text and JSON) and checks both name `failure`.
fn assert_cli_reports(dir: &Path, failure: &Failure) {
    let bin = env!("CARGO_BIN_EXE_credledger");
    let out = Command::new(bin)
        .args(["replay", "verify", "--data"])
        .arg(dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout: {stdout} stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("FAILED at event {}:", failure.seq)),
        "{stdout}"
    );
    assert!(stdout.contains(&failure.problem.to_string()), "{stdout}");

    let out = Command::new(bin)
        .args(["replay", "verify", "--json", "--data"])
        .arg(dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["failure"]["seq"], failure.seq);
    assert_eq!(
        report["failure"]["problem"],
        serde_json::to_value(&failure.problem).unwrap()
    );
    assert_eq!(
        report["verified"], failure.seq,
        "every event before the first bad one verified"
    );
}

fn expect_failure(dir: &Path, seq: u64, problem: Problem) {
    let report = verify_dir(dir);
    let expected = Failure { seq, problem };
    assert_eq!(report.failure.as_ref(), Some(&expected));
    assert_eq!(report.verified, seq);
    assert_cli_reports(dir, &expected);
}

#[test]
fn untampered_log_verifies_in_library_and_cli() {
    let dir = tempfile::tempdir().unwrap();
    let records = build(dir.path());
    let report = verify_dir(dir.path());
    assert!(report.ok(), "{:?}", report.failure);
    assert_eq!(report.verified, records.len() as u64);
    assert_eq!(report.keys.len(), 2, "the genesis key and the rotated key");
    let out = Command::new(env!("CARGO_BIN_EXE_credledger"))
        .args(["replay", "verify", "--data"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("ok: {} events", records.len())));
}

#[test]
fn flipped_byte_in_a_stored_event_is_reported_at_its_seq() {
    for k in [4, ROTATION + 2] {
        let dir = tempfile::tempdir().unwrap();
        let records = build(dir.path());
        // Flip a letter of the credential name inside the event bytes: still canonical
        // bytes, so only the hash (and thus the signature) tells.
        let mut rec = records[k as usize].clone();
        let needle = b"tamper-cred-";
        let at = rec
            .windows(needle.len())
            .position(|w| w == needle)
            .unwrap_or_else(|| panic!("event {k} names a credential"));
        rec[at] ^= 0x20;
        tamper(dir.path(), |log| {
            log.insert(k, rec);
        });
        expect_failure(dir.path(), k, Problem::BadSignature);
    }
}

#[test]
fn flipped_signature_byte_is_reported_at_its_seq() {
    let dir = tempfile::tempdir().unwrap();
    let records = build(dir.path());
    let k = ROTATION + 3;
    let mut rec = records[k as usize].clone();
    let n = rec.len();
    rec[n - 1] ^= 0x01;
    tamper(dir.path(), |log| {
        log.insert(k, rec);
    });
    expect_failure(dir.path(), k, Problem::BadSignature);
}

#[test]
fn deleted_event_is_reported_as_a_gap_at_its_seq() {
    for k in [3, ROTATION + 7] {
        let dir = tempfile::tempdir().unwrap();
        build(dir.path());
        tamper(dir.path(), |log| {
            log.remove(&k).expect("the event existed");
        });
        expect_failure(dir.path(), k, Problem::Gap { found: k + 1 });
    }
}

#[test]
fn swapped_events_are_reported_at_the_first_of_them() {
    for k in [5, ROTATION + 10] {
        let dir = tempfile::tempdir().unwrap();
        let records = build(dir.path());
        tamper(dir.path(), |log| {
            log.insert(k, records[k as usize + 1].clone());
            log.insert(k + 1, records[k as usize].clone());
        });
        expect_failure(dir.path(), k, Problem::Reordered { claims: k + 1 });
    }
}

/// Replaces event `k` with `forged` (correctly chained, signed by `attacker`) and re-chains
/// and re-signs every later event with `attacker`, as a thorough forger would.
fn splice(records: &[Vec<u8>], k: usize, forged: Body, attacker: &SigningKey) -> Vec<Vec<u8>> {
    let mut out = records[..k].to_vec();
    let mut prev = *signed(&records[k - 1]).hash();
    let original = signed(&records[k]).into_event();
    let first = Event {
        body: forged,
        prev,
        ..original
    };
    let sealed = SignedEvent::seal(first, attacker).unwrap();
    prev = *sealed.hash();
    out.push(sealed.to_record());
    for r in &records[k + 1..] {
        let e = Event {
            prev,
            ..signed(r).into_event()
        };
        let sealed = SignedEvent::seal(e, attacker).unwrap();
        prev = *sealed.hash();
        out.push(sealed.to_record());
    }
    out
}

fn write_all(dir: &Path, records: &[Vec<u8>]) {
    tamper(dir, |log| {
        for (i, r) in records.iter().enumerate() {
            log.insert(i as u64, r.clone());
        }
    });
}

#[test]
fn spliced_event_signed_by_another_key_is_reported_at_its_seq() {
    let attacker = SigningKey::from_bytes(&[0x42; 32]);
    for k in [6usize, ROTATION as usize + 4] {
        let dir = tempfile::tempdir().unwrap();
        let records = build(dir.path());
        // The forged event grants an existing credential to the admin of the tenant: any
        // plausible body will do; what matters is who signed it.
        let Body::CredentialCreated {
            tenant, credential, ..
        } = records
            .iter()
            .map(|r| signed(r).into_event().body)
            .find(|b| matches!(b, Body::CredentialCreated { .. }))
            .unwrap()
        else {
            unreachable!()
        };
        let forged = Body::GrantAdded {
            tenant,
            credential,
            principal: credledger::id::Id::random(),
        };
        let spliced = splice(&records, k, forged, &attacker);
        // The forged chain is internally consistent: only signatures can tell.
        for w in spliced.windows(2) {
            assert_eq!(signed(&w[1]).event().prev, *signed(&w[0]).hash());
        }
        write_all(dir.path(), &spliced);
        expect_failure(dir.path(), k as u64, Problem::BadSignature);
    }
}

#[test]
fn spliced_signing_key_takeover_is_reported_at_its_seq() {
    // The forger introduces their own key with a valid proof of possession, but cannot
    // sign the rotation with the key in force.
    let attacker = SigningKey::from_bytes(&[0x43; 32]);
    let dir = tempfile::tempdir().unwrap();
    let records = build(dir.path());
    let k = 3usize;
    let old_key = match signed(&records[0]).into_event().body {
        Body::LedgerInitialized { signing_key, .. } => signing_key,
        _ => unreachable!(),
    };
    let new_key = attacker.verifying_key().to_bytes();
    let possession = ed25519_dalek::Signer::sign(
        &attacker,
        &credledger::event::rotation_message(&old_key, &new_key, k as u64),
    )
    .to_bytes()
    .to_vec();
    let spliced = splice(
        &records,
        k,
        Body::SigningKeyRotated {
            old_key,
            new_key,
            possession,
        },
        &attacker,
    );
    write_all(dir.path(), &spliced);
    expect_failure(dir.path(), k as u64, Problem::BadSignature);
}

#[test]
fn pinned_genesis_key_mismatch_is_reported_at_event_zero() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let other = hex::encode(
        SigningKey::from_bytes(&[0x44; 32])
            .verifying_key()
            .to_bytes(),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_credledger"))
        .args(["replay", "verify", "--json", "--key", &other, "--data"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["failure"]["seq"], 0);
    assert_eq!(report["failure"]["problem"]["kind"], "bad_genesis");
}

#[test]
fn every_single_byte_flip_of_an_event_is_reported_at_its_seq() {
    // In memory, over every byte of two records (one per signing key): whatever the byte
    // (length prefix, envelope, body, signature), the failure names exactly that event.
    let dir = tempfile::tempdir().unwrap();
    let records = build(dir.path());
    for k in [2usize, ROTATION as usize + 2] {
        let len = records[k].len();
        for i in 0..len {
            let mut tampered = records.clone();
            tampered[k][i] ^= 0x01;
            let report = verify_records(&tampered);
            let f = report
                .failure
                .unwrap_or_else(|| panic!("flip of byte {i} of event {k} went unnoticed"));
            assert_eq!(f.seq, k as u64, "flip of byte {i}/{len}: {:?}", f.problem);
            if i >= len - 64 {
                assert_eq!(f.problem, Problem::BadSignature, "signature byte {i}");
            }
        }
    }
}

#[test]
fn unreadable_record_is_reported_at_its_position() {
    // A storage read error in the middle of the log stops verification there, after
    // every event before it verified.
    let dir = tempfile::tempdir().unwrap();
    let records = build(dir.path());
    let k = 11u64;
    let items = records.iter().enumerate().map(|(i, r)| {
        if i as u64 == k {
            Err("I/O error reading the log".to_string())
        } else {
            Ok((i as u64, r.clone()))
        }
    });
    let report = replay::verify(items, None, |_| {});
    let f = report.failure.expect("a failure");
    assert_eq!(f.seq, k);
    assert!(
        matches!(f.problem, Problem::Undecodable { .. }),
        "{:?}",
        f.problem
    );
    assert_eq!(report.verified, k);
}

// ---- the log must not be shorter than the ledger's own witnesses ------------------------

/// A copy of a closed ledger's data directory, to damage without touching the original.
fn copy_dir(from: &Path) -> tempfile::TempDir {
    let to = tempfile::tempdir().unwrap();
    for file in util::files_under(from) {
        let target = to.path().join(file.strip_prefix(from).unwrap());
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&file, &target).unwrap();
    }
    std::fs::create_dir_all(to.path().join("ledger/blobs")).unwrap();
    to
}

/// What sled's recovery does to a corrupt segment: the log's last `n` records vanish.
fn drop_tail(dir: &Path, n: u64) -> u64 {
    let len = {
        let store = SledBackend::open(dir).unwrap();
        credledger::store::LogStore::next_seq(&store).unwrap()
    };
    tamper(dir, |log| {
        for seq in len - n..len {
            log.remove(&seq).expect("the event existed");
        }
    });
    len - n
}

/// `Ledger::open`, `replay verify` and `serve` all refuse the directory, each naming
/// `needle` (the last good sequence number and what was expected).
fn assert_refused_everywhere(dir: &Path, seq: u64, needles: &[&str]) {
    let err = match credledger::ledger::Ledger::open(credledger::ledger::Config::new(dir)) {
        Ok(_) => panic!("a shortened log was accepted by open"),
        Err(e) => e.to_string(),
    };
    for n in needles {
        assert!(err.contains(n), "open: {err} (expected {n:?})");
    }
    let bin = env!("CARGO_BIN_EXE_credledger");
    let out = Command::new(bin)
        .args(["replay", "verify", "--data"])
        .arg(dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!("FAILED at event {seq}:")),
        "{stdout}"
    );
    for n in needles {
        assert!(
            stdout.contains(n),
            "replay verify: {stdout} (expected {n:?})"
        );
    }
    let out = Command::new(bin)
        .args(["replay", "verify", "--json", "--data"])
        .arg(dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["failure"]["seq"], seq);
    assert_eq!(report["failure"]["problem"]["kind"], "witness");
    let out = Command::new(bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "serve: {stderr}");
    for n in needles {
        assert!(stderr.contains(n), "serve: {stderr} (expected {n:?})");
    }
    for cmd in [
        &["replay", "state"][..],
        &["replay", "rebuild"],
        &["export", "--out", "/dev/null"],
    ] {
        let out = Command::new(bin)
            .args(cmd)
            .arg("--data")
            .arg(dir)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{cmd:?}: {stderr}");
        assert!(
            stderr.contains("the log is incomplete"),
            "{cmd:?}: {stderr}"
        );
    }
}

/// Found by corrupting `ledger/db` on a copy: sled's recovery dropped the corrupt
/// segment as if it were a torn tail, `replay verify` said `ok` for fewer events, and
/// `serve` went on to sign sequence numbers again. The head record outside sled's files
/// now refuses such a log, naming the last good sequence number.
#[test]
fn regression_a_log_silently_shortened_by_the_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let records = build(dir.path());
    let copy = copy_dir(dir.path());
    let len = drop_tail(copy.path(), 3);
    assert_eq!(len as usize, records.len() - 3);
    assert_refused_everywhere(
        copy.path(),
        len,
        &[
            &format!("the last good sequence number is {}", len - 1),
            &format!("says {} events were durable", records.len()),
        ],
    );
    // The original, untouched, still opens and verifies.
    assert!(verify_dir(dir.path()).ok());
}

#[test]
fn a_log_shorter_than_a_signed_checkpoint_is_refused_without_a_head_record() {
    let dir = tempfile::tempdir().unwrap();
    let records = build(dir.path());
    {
        let Open { ledger, .. } = open(dir.path());
        let cp = credledger::proof::checkpoint(&ledger).unwrap();
        assert_eq!(cp.tree_size as usize, records.len());
        ledger.shutdown();
    }
    let copy = copy_dir(dir.path());
    let len = drop_tail(copy.path(), 2);
    // Without the head record (and its marker) only the checkpoint knows the length.
    std::fs::remove_file(copy.path().join("head")).unwrap();
    let store = SledBackend::open(copy.path()).unwrap();
    credledger::store::LogStore::put_meta_durable(&store, "head-record", None).unwrap();
    drop(store);
    assert_refused_everywhere(
        copy.path(),
        len,
        &[
            &format!("a signed checkpoint covers {} events", records.len()),
            &format!("the last good sequence number is {}", len - 1),
        ],
    );
}

#[test]
fn a_deleted_head_record_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let records = build(dir.path());
    std::fs::remove_file(dir.path().join("head")).unwrap();
    assert_refused_everywhere(
        dir.path(),
        records.len() as u64,
        &["head record", "is missing, but this ledger keeps one"],
    );
}

/// A forger who holds the signing key (it lives in the data directory) rewrites the last
/// event: the chain verifies, but it is not the event the head record names.
#[test]
fn a_rewritten_last_event_is_refused_by_the_head_hash() {
    let dir = tempfile::tempdir().unwrap();
    let records = build(dir.path());
    let last = records.len() - 1;
    let sk = credledger::keys::read_signing_key(dir.path())
        .unwrap()
        .unwrap();
    let mut e = signed(&records[last]).into_event();
    e.at_ms += 1;
    let forged = SignedEvent::seal(e, &sk).unwrap().to_record();
    tamper(dir.path(), |log| {
        log.insert(last as u64, forged.clone());
    });
    let mut tampered = records.clone();
    tampered[last] = forged;
    assert!(verify_records(&tampered).ok(), "the forged chain is valid");
    assert_refused_everywhere(
        dir.path(),
        last as u64,
        &[&format!("event {last} is not the event the head record")],
    );
}
