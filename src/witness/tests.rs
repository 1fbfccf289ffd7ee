//! The witness service and router on a temporary directory, with a log built
//! from `merkle::MemoryTree` and signed with `note`. The real binary over a
//! socket is tested in `tests/witness.rs`.

use super::*;
use crate::merkle::{consistency_proof, root, MemoryTree};
use crate::note::{parse_note, sign_checkpoint, verifier_key, Checkpoint};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use ed25519_dalek::SigningKey;
use std::sync::Arc;
use tower::ServiceExt;

const ORIGIN: &str = "log.example/test";

struct TestLog {
    tree: MemoryTree,
    sk: SigningKey,
}

impl TestLog {
    fn new(n: u64, salt: u8) -> TestLog {
        let mut tree = MemoryTree::new();
        for i in 0..n {
            tree.push(format!("leaf {salt} {i}").as_bytes());
        }
        TestLog {
            tree,
            sk: SigningKey::from_bytes(&[1; 32]),
        }
    }

    fn note(&self, size: u64) -> String {
        let cp = Checkpoint {
            origin: ORIGIN.into(),
            size,
            root: root(size, &self.tree).unwrap(),
            extensions: vec![],
        };
        sign_checkpoint(&cp, ORIGIN, &self.sk).unwrap()
    }

    fn request(&self, old: u64, size: u64) -> AddCheckpoint {
        let proof = if old == 0 || old >= size {
            vec![]
        } else {
            consistency_proof(old, size, &self.tree).unwrap()
        };
        AddCheckpoint {
            old_size: old,
            proof,
            note: self.note(size),
        }
    }

    fn config(&self) -> LogConfig {
        LogConfig::from_verifier_key(&verifier_key(ORIGIN, &self.sk.verifying_key()).unwrap())
            .unwrap()
    }
}

fn witness(dir: &std::path::Path, log: &TestLog) -> Witness {
    let key = WitnessKey::new("w.example/1", SigningKey::from_bytes(&[9; 32])).unwrap();
    Witness::open(dir, key, vec![log.config()]).unwrap()
}

fn add(w: &Witness, req: &AddCheckpoint) -> Result<Vec<CosignatureLine>, AddCheckpointError> {
    w.add_checkpoint(req, &req.encode(), &|| 1_700_000_000)
}

fn status(r: Result<Vec<CosignatureLine>, AddCheckpointError>) -> u16 {
    match r {
        Ok(_) => 200,
        Err(e) => e.status(),
    }
}

#[test]
fn growth_is_cosigned_and_the_cosignature_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let log = TestLog::new(30, 0);
    let w = witness(dir.path(), &log);
    let first = add(&w, &log.request(0, 10)).unwrap();
    assert_eq!(first.len(), 1);
    let text = parse_note(&log.note(10)).unwrap().text;
    first[0].verify(&text, w.cosigner()).unwrap();
    add(&w, &log.request(10, 25)).unwrap();
    assert_eq!(w.latest(ORIGIN).unwrap().size, 25);
    // The cosigned note passes the quorum check.
    let note = log.note(25);
    let lines = add(&w, &log.request(25, 25)).unwrap();
    let cosigned = add_cosignatures(&note, &lines).unwrap();
    let log_keys = log.config().keys;
    let checked = verify_cosigned(&cosigned, &log_keys, &[w.cosigner().clone()], 1).unwrap();
    assert_eq!(checked.cosigners[0].timestamp, 1_700_000_000);
}

#[test]
fn refusals_map_to_the_spec_statuses_and_leave_the_state() {
    let dir = tempfile::tempdir().unwrap();
    let log = TestLog::new(30, 0);
    let fork = TestLog::new(30, 1);
    let w = witness(dir.path(), &log);
    add(&w, &log.request(0, 10)).unwrap();
    let head = w.latest(ORIGIN);

    let mut bad_proof = log.request(10, 20);
    bad_proof.proof[0][0] ^= 1;
    assert_eq!(status(add(&w, &bad_proof)), 422);
    assert_eq!(
        status(add(&w, &fork.request(10, 20))),
        422,
        "fork with its own proof"
    );
    assert_eq!(
        status(add(&w, &fork.request(10, 10))),
        409,
        "same size, other root"
    );
    assert_eq!(
        status(add(&w, &log.request(10, 5))),
        400,
        "rollback with old = current"
    );
    assert_eq!(
        status(add(&w, &log.request(3, 5))),
        409,
        "rollback with a stale old"
    );
    let stale = add(&w, &log.request(4, 20)).unwrap_err();
    assert_eq!((stale.status(), stale.conflict_size()), (409, Some(10)));

    let mut unsigned = log.request(10, 20);
    unsigned.note = TestLog {
        sk: SigningKey::from_bytes(&[2; 32]),
        ..TestLog::new(30, 0)
    }
    .note(20);
    assert_eq!(status(add(&w, &unsigned)), 403);
    let mut unknown = log.request(10, 20);
    unknown.note = unknown.note.replacen(ORIGIN, "other.example/log", 1);
    assert_eq!(status(add(&w, &unknown)), 404);
    let mut tampered = log.request(10, 20);
    tampered.note = tampered.note.replacen("\n20\n", "\n21\n", 1);
    assert_eq!(status(add(&w, &tampered)), 403);
    let mut garbage = log.request(10, 20);
    garbage.note = format!("{ORIGIN}\nnot a note");
    assert_eq!(status(add(&w, &garbage)), 400);

    assert_eq!(w.latest(ORIGIN), head);
    // The log-signed refusals (bad proof, fork, same size other root) were kept.
    assert_eq!(
        std::fs::read_dir(dir.path().join("evidence"))
            .unwrap()
            .count(),
        3
    );
}

#[test]
fn state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let log = TestLog::new(30, 0);
    {
        let w = witness(dir.path(), &log);
        add(&w, &log.request(0, 12)).unwrap();
    }
    let w = witness(dir.path(), &log);
    assert_eq!(w.latest(ORIGIN).unwrap().size, 12);
    assert_eq!(status(add(&w, &log.request(0, 5))), 409);
    add(&w, &log.request(12, 13)).unwrap();
}

#[test]
fn a_failed_state_write_poisons_the_origin() {
    let dir = tempfile::tempdir().unwrap();
    let log = TestLog::new(30, 0);
    let w = witness(dir.path(), &log);
    add(&w, &log.request(0, 3)).unwrap();
    // Make the state directory unusable (root ignores permission bits).
    let logs = dir.path().join("logs");
    std::fs::remove_dir_all(&logs).unwrap();
    std::fs::write(&logs, b"not a directory").unwrap();
    assert_eq!(status(add(&w, &log.request(3, 6))), 500);
    assert_eq!(status(add(&w, &log.request(3, 6))), 503);
    assert_eq!(w.latest(ORIGIN), None);
    // Re-cosigning an unchanged head needs no write, but the origin is poisoned.
    assert_eq!(status(add(&w, &log.request(3, 3))), 503);
}

#[test]
fn concurrent_requests_never_roll_back() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(TestLog::new(64, 0));
    let w = Arc::new(witness(dir.path(), &log));
    add(&w, &log.request(0, 1)).unwrap();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (w, log) = (w.clone(), log.clone());
            std::thread::spawn(move || {
                let mut cosigned = Vec::new();
                for step in 0..40u64 {
                    let target = 2 + (t * 7 + step * 3) % 62;
                    let Some(cur) = w.latest(ORIGIN) else {
                        continue;
                    };
                    if target <= cur.size {
                        continue;
                    }
                    if add(&w, &log.request(cur.size, target)).is_ok() {
                        cosigned.push(target);
                    }
                }
                cosigned
            })
        })
        .collect();
    let mut all: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    all.sort_unstable();
    let last = w.latest(ORIGIN).unwrap().size;
    assert_eq!(all.last().copied().unwrap_or(1), last);
    // Every cosigned size is distinct: each one extended the one before.
    let mut dedup = all.clone();
    dedup.dedup();
    assert_eq!(dedup, all);
}

#[test]
fn configuration_errors() {
    let dir = tempfile::tempdir().unwrap();
    let log = TestLog::new(1, 0);
    let key = || WitnessKey::new("w", SigningKey::from_bytes(&[9; 32])).unwrap();
    assert!(matches!(
        Witness::open(dir.path(), key(), vec![]),
        Err(OpenError::Config(_))
    ));
    let own = LogConfig {
        origin: "o".into(),
        keys: vec![("o".into(), SigningKey::from_bytes(&[9; 32]).verifying_key())],
    };
    assert!(matches!(
        Witness::open(dir.path(), key(), vec![own]),
        Err(OpenError::Config(_))
    ));
    // Two entries of one origin merge their keys.
    let mut second = log.config();
    second.keys = vec![(
        ORIGIN.into(),
        SigningKey::from_bytes(&[3; 32]).verifying_key(),
    )];
    let w = Witness::open(dir.path(), key(), vec![log.config(), second]).unwrap();
    assert_eq!(w.origins(), [ORIGIN]);
    // A corrupt state file keeps the witness from starting.
    drop(w);
    let logs = dir.path().join("logs");
    let w = witness(dir.path(), &log);
    add(&w, &log.request(0, 1)).unwrap();
    drop(w);
    for f in std::fs::read_dir(&logs).unwrap() {
        std::fs::write(f.unwrap().path(), b"garbage").unwrap();
    }
    assert!(matches!(
        Witness::open(dir.path(), key(), vec![log.config()]),
        Err(OpenError::State(StateError::Corrupt { .. }))
    ));
}

async fn post(app: &axum::Router, body: String) -> (StatusCode, String, String) {
    let resp = app
        .clone()
        .oneshot(
            Request::post(ADD_CHECKPOINT_PATH)
                .body(Body::from(body))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = resp.status();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, ct, String::from_utf8(bytes.to_vec()).unwrap())
}

#[tokio::test]
async fn the_router_speaks_the_spec() {
    let dir = tempfile::tempdir().unwrap();
    let log = TestLog::new(30, 0);
    let w = Arc::new(witness(dir.path(), &log));
    let app = router(w.clone());
    let (s, _, body) = post(&app, log.request(0, 8).encode()).await;
    assert_eq!(s, StatusCode::OK);
    let line = CosignatureLine::parse(body.trim_end()).unwrap();
    assert!(line.is_by(w.cosigner()));
    let (s, ct, body) = post(&app, log.request(0, 9).encode()).await;
    assert_eq!(
        (s, ct.as_str(), body.as_str()),
        (StatusCode::CONFLICT, SIZE_CONTENT_TYPE, "8\n")
    );
    let (s, _, _) = post(&app, "old x\n\nnote".into()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _, _) = post(&app, "x".repeat(MAX_REQUEST_BYTES + 1)).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    let resp = app
        .clone()
        .oneshot(
            Request::get(ADD_CHECKPOINT_PATH)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
}

/// The worked example of `docs/WITNESS.md`, byte for byte: the log
/// `example.com/log` (key seed `07` × 32) of the leaves `entry 0` …
/// `entry 6`, the witness `witness.example/w1` (seed `0c` × 32) holding size
/// 3, cosigning size 7 at 1700000000.
#[test]
fn the_documented_worked_example_is_reproduced() {
    const LOG_VKEY: &str = "example.com/log+702f3c70+AepKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs";
    const WITNESS_VKEY: &str =
        "witness.example/w1+151555cc+BAtROtm0kkAVygkC7QeQRNOsXb7CMG8GlIwQ2o62458t";
    const REQUEST: &str = "old 3
V8efTzGuApxdS9MLBzwnyU35NDiytGl+Hh7vW8A5SkE=
YcoROfaBWEHVuvLQ0tm9nf7pfImN1ve6DAqpQe5sAes=
WkdmL9ijF9lgSaP59HxV3GfKZgUbqjaD27GbL+CaB7A=
lK+4osoFHAVFjqOdzRmxvWjn4zUp8QtDnSphWlH2NuI=

example.com/log
7
mMl/C6MXXNCLAx3QhLncTmSbZNGijm6mlGRlAxc6tYc=

\u{2014} example.com/log cC88cEqi/xn7XGntXOdUPJHox2cMGyg1CevhKo02qKDz7bGWYN/tI35yqL1Or6ckBnMeKPCrfxLF6AyLUFekHVYhAQI=
";
    const RESPONSE: &str = "\u{2014} witness.example/w1 FRVVzAAAAABlU/EAb4rKgEzHSyiib5IUAoc84QiPEmQWpPGkDofeX4zO7vw3yxKs0eqWaoWppFoTc8mu6FUjD6oPRXZvPhWJDaN9AQ==\n";

    let origin = "example.com/log";
    let sk = SigningKey::from_bytes(&[7; 32]);
    let mut tree = MemoryTree::new();
    for i in 0..7 {
        tree.push(format!("entry {i}").as_bytes());
    }
    let note = |n: u64| {
        let cp = Checkpoint {
            origin: origin.into(),
            size: n,
            root: root(n, &tree).unwrap(),
            extensions: vec![],
        };
        sign_checkpoint(&cp, origin, &sk).unwrap()
    };
    assert_eq!(verifier_key(origin, &sk.verifying_key()).unwrap(), LOG_VKEY);
    let req = AddCheckpoint {
        old_size: 3,
        proof: consistency_proof(3, 7, &tree).unwrap(),
        note: note(7),
    };
    assert_eq!(req.encode(), REQUEST);
    assert_eq!(AddCheckpoint::parse(REQUEST.as_bytes()).unwrap(), req);

    let dir = tempfile::tempdir().unwrap();
    let key = WitnessKey::new("witness.example/w1", SigningKey::from_bytes(&[0x0c; 32])).unwrap();
    assert_eq!(key.cosigner().verifier_key(), WITNESS_VKEY);
    let w = Witness::open(
        dir.path(),
        key,
        vec![LogConfig::from_verifier_key(LOG_VKEY).unwrap()],
    )
    .unwrap();
    let first = AddCheckpoint {
        old_size: 0,
        proof: vec![],
        note: note(3),
    };
    w.add_checkpoint(&first, &first.encode(), &|| 1_699_999_000)
        .unwrap();
    let lines = w.add_checkpoint(&req, REQUEST, &|| 1_700_000_000).unwrap();
    assert_eq!(
        lines
            .iter()
            .map(CosignatureLine::to_line)
            .collect::<String>(),
        RESPONSE
    );
}
