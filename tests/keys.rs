//! Key checks and shred completion at open, on real data directories: a wrong,
//! corrupted or missing key refuses to start, naming the key and where it came from,
//! and writes nothing; a ledger made before check values records them at first open; a
//! destroy interrupted before its master-key rotation is finished at the next open.

mod util;

use credledger::keys;
use credledger::ledger::{Config, Ledger, LedgerError, RequestCtx};
use credledger::store::sled::SledBackend;
use credledger::store::LogStore;
use std::path::Path;
use std::process::Command;
use util::{api_key_input, dir_fingerprint, dir_store_dump, open_with, Open};

fn ctx() -> RequestCtx {
    RequestCtx::default()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Master keys in the key-file text format (what `CREDLEDGER_MASTER_KEYS` holds).
fn env_keys(pairs: &[(u32, u8)]) -> String {
    let keys = credledger::secret::MasterKeys::new(
        pairs
            .iter()
            .map(|(id, b)| credledger::secret::MasterKey::new(*id, [*b; 32])),
    );
    keys::render_master_keys(&keys).to_string()
}

/// Writes a key file as the ledger would (mode 0600).
fn write600(path: &Path, contents: impl AsRef<[u8]>) {
    keys::write_private(path, contents.as_ref()).unwrap();
}

fn config(dir: &Path, env: Option<&str>) -> Config {
    let mut c = Config::new(dir);
    c.master_keys_text = env.map(|t| zeroize::Zeroizing::new(t.to_string()));
    c
}

/// A closed ledger with a credential (and so a wrapped data key).
fn build(dir: &Path, env: Option<&str>) {
    let Open { ledger, admin } = open_with(config(dir, env));
    rt().block_on(async {
        ledger
            .create_credential(&ctx(), &admin, api_key_input("c1", "sk-one"))
            .await
            .unwrap();
    });
    ledger.shutdown();
}

/// Opening `dir` with `config` is refused with a message containing every needle, and
/// neither the store nor any file of the directory changed.
fn assert_refused(dir: &Path, config: Config, needles: &[&str]) -> LedgerError {
    let files = dir_fingerprint(dir);
    let store = dir_store_dump(dir);
    let err = match Ledger::open(config) {
        Ok(_) => panic!("the ledger opened"),
        Err(e) => e,
    };
    let msg = err.to_string();
    for n in needles {
        assert!(msg.contains(n), "{msg} (expected {n:?})");
    }
    assert_eq!(
        dir_store_dump(dir),
        store,
        "a refused open changed the store"
    );
    // sled's own files may be touched by opening the store; the keys, the head record
    // and the logical store contents may not.
    let outside_sled = |f: &Vec<(std::path::PathBuf, String, u32)>| {
        f.iter()
            .filter(|(p, _, _)| !p.starts_with("ledger"))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(outside_sled(&dir_fingerprint(dir)), outside_sled(&files));
    err
}

#[test]
fn a_wrong_master_key_in_the_environment_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), Some(&env_keys(&[(1, 7)])));
    let err = assert_refused(
        dir.path(),
        config(dir.path(), Some(&env_keys(&[(1, 8)]))),
        &[
            "master key 1",
            "CREDLEDGER_MASTER_KEYS",
            "not this ledger's key",
        ],
    );
    assert!(matches!(
        err,
        LedgerError::Keys(keys::KeyError::Mismatch { .. })
    ));
    // The right key still opens it.
    let Open { ledger, .. } = open_with(config(dir.path(), Some(&env_keys(&[(1, 7)]))));
    ledger.shutdown();
}

#[test]
fn a_master_key_dropped_from_the_environment_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), Some(&env_keys(&[(1, 7)])));
    assert_refused(
        dir.path(),
        config(dir.path(), Some(&env_keys(&[(2, 9)]))),
        &[
            "master key 1 is missing from CREDLEDGER_MASTER_KEYS",
            "1 data keys",
        ],
    );
}

/// Restarting without `CREDLEDGER_MASTER_KEYS` said "key file … is malformed" about a
/// file that does not exist.
#[test]
fn regression_restarting_without_the_environment_keys_named_a_missing_file_malformed() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), Some(&env_keys(&[(1, 7)])));
    let path = keys::master_path(dir.path()).display().to_string();
    let err = assert_refused(
        dir.path(),
        config(dir.path(), None),
        &[&format!("key file {path} is missing")],
    );
    assert!(!err.to_string().contains("malformed"), "{err}");
}

#[test]
fn a_missing_wrong_or_corrupted_key_file_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), None);
    let master = keys::master_path(dir.path());
    let token = keys::token_path(dir.path());
    let master_path = master.display().to_string();
    let token_path = token.display().to_string();
    let original_master = std::fs::read(&master).unwrap();
    let original_token = std::fs::read(&token).unwrap();

    // A master key file of another ledger (same id, another key).
    let other = credledger::secret::MasterKeys::new([keys::generate_master_key(1)]);
    write600(&master, keys::render_master_keys(&other).as_bytes());
    assert_refused(
        dir.path(),
        config(dir.path(), None),
        &["master key 1", &master_path, "not this ledger's key"],
    );
    write600(&master, &original_master);

    // A missing master key file.
    std::fs::remove_file(&master).unwrap();
    assert_refused(
        dir.path(),
        config(dir.path(), None),
        &[&format!("key file {master_path} is missing")],
    );
    write600(&master, &original_master);

    // A corrupted token key: one base64 character changed (still 32 bytes).
    let mut text = String::from_utf8(original_token.clone()).unwrap();
    let at = text.find('\n').unwrap() + 3;
    let c = text.as_bytes()[at];
    let swapped = if c == b'A' { "B" } else { "A" };
    text.replace_range(at..at + 1, swapped);
    write600(&token, text);
    assert_refused(
        dir.path(),
        config(dir.path(), None),
        &["the token-hash key", &token_path, "not this ledger's key"],
    );
    // Not base64 at all.
    write600(&token, "credledger-token-key v1\n!!!\n");
    assert_refused(
        dir.path(),
        config(dir.path(), None),
        &[&format!("key file {token_path} is malformed")],
    );
    // Missing: it used to be created afresh, silently invalidating every token.
    std::fs::remove_file(&token).unwrap();
    assert_refused(
        dir.path(),
        config(dir.path(), None),
        &[&format!("key file {token_path} is missing")],
    );
    write600(&token, &original_token);

    let Open { ledger, .. } = open_with(config(dir.path(), None));
    ledger.shutdown();
}

#[test]
fn serve_refuses_a_wrong_key_with_a_clear_error_and_no_panic() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), Some(&env_keys(&[(1, 7)])));
    let out = Command::new(env!("CARGO_BIN_EXE_credledger"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path())
        .env("CREDLEDGER_MASTER_KEYS", env_keys(&[(1, 8)]))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("master key 1 from CREDLEDGER_MASTER_KEYS is not this ledger's key"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Removes what this version records (check values, the head record and its marker),
/// turning `dir` into a ledger as an earlier version left it.
fn make_legacy(dir: &Path) {
    let store = SledBackend::open(dir).unwrap();
    for name in ["key-check/token", "head-record"]
        .into_iter()
        .map(String::from)
        .chain((1..=4).map(|i| format!("key-check/master/{i}")))
    {
        store.put_meta_durable(&name, None).unwrap();
    }
    drop(store);
    std::fs::remove_file(dir.join("head")).unwrap();
}

#[test]
fn a_ledger_made_before_check_values_records_them_at_first_open() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), None);
    make_legacy(dir.path());
    let store = SledBackend::open(dir.path()).unwrap();
    assert!(store.meta("key-check/token").unwrap().is_none());
    drop(store);
    {
        let Open { ledger, .. } = open_with(config(dir.path(), None));
        assert!(ledger.store().meta("key-check/token").unwrap().is_some());
        assert!(ledger.store().meta("key-check/master/1").unwrap().is_some());
        assert!(ledger.store().meta("head-record").unwrap().is_some());
        ledger.shutdown();
    }
    assert!(dir.path().join("head").exists());
    // From now on a wrong key is refused by its check value.
    let other = credledger::secret::MasterKeys::new([keys::generate_master_key(1)]);
    write600(
        &keys::master_path(dir.path()),
        keys::render_master_keys(&other).as_bytes(),
    );
    assert_refused(
        dir.path(),
        config(dir.path(), None),
        &["master key 1", "check value differs"],
    );
}

#[test]
fn a_wrong_key_of_a_ledger_made_before_check_values_opens_no_data_key_and_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), Some(&env_keys(&[(1, 7)])));
    make_legacy(dir.path());
    assert_refused(
        dir.path(),
        config(dir.path(), Some(&env_keys(&[(1, 8)]))),
        &["master key 1 from CREDLEDGER_MASTER_KEYS opens none of the 1 data keys"],
    );
}

/// The state a crash between `destroyed` and the master-key rotation leaves: the log ends
/// with the destroy, and the key file still holds the key that wrapped the shredded data
/// keys. (Made with environment keys, with which `destroy` does not rotate, then handed
/// over to a key file.)
#[test]
fn a_destroy_interrupted_before_its_rotation_is_finished_at_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let env = env_keys(&[(1, 7)]);
    let id = {
        let Open { ledger, admin } = open_with(config(dir.path(), Some(&env)));
        let id = rt().block_on(async {
            let id = doomed_and_kept(&ledger, &admin).await;
            assert!(!ledger.destroy(&ctx(), &admin, id).await.unwrap());
            id
        });
        ledger.shutdown();
        id
    };
    // `replay verify` names the pending shred.
    let bin = env!("CARGO_BIN_EXE_credledger");
    let out = Command::new(bin)
        .args(["replay", "verify", "--data"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "a shred is pending: credential {id} was destroyed"
        )),
        "{stdout}"
    );
    let out = Command::new(bin)
        .args(["replay", "verify", "--json", "--data"])
        .arg(dir.path())
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["pending_shred"]["credential"], id.to_string());

    // Hand the keys over to a key file: the next open finishes the shred.
    keys::write_master_keys(
        dir.path(),
        &keys::parse_master_keys(Path::new("env"), &env).unwrap(),
    )
    .unwrap();
    let before = SledBackend::open(dir.path()).unwrap().next_seq().unwrap();
    {
        let Open { ledger, .. } = open_with(config(dir.path(), None));
        let after = ledger.store().next_seq().unwrap();
        assert_eq!(after, before + 1, "one master_key_rotated event");
        let rec = ledger.store().read(before).unwrap().unwrap();
        let e = credledger::event::SignedEvent::from_record(&rec).unwrap();
        assert_eq!(e.event().body.action(), "master_key_rotated");
        ledger.shutdown();
    }
    let ids = keys::read_master_keys(dir.path()).unwrap().unwrap().ids();
    assert_eq!(
        ids,
        vec![2],
        "the key that wrapped the shredded data keys is gone"
    );
    let out = Command::new(bin)
        .args(["replay", "verify", "--data"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("shred is pending"), "{stdout}");
    // The survivor is still readable under the new key.
    let Open { ledger, admin } = open_with(config(dir.path(), None));
    assert_kept_resolves(&ledger, &admin);
    ledger.shutdown();
}

/// A crash after the rotation's event but before the key file was rewritten leaves the
/// old key in the file; the next open discards it.
#[test]
fn an_old_master_key_left_in_the_file_after_a_rotation_is_discarded_at_open() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), None);
    let old = keys::read_master_keys(dir.path()).unwrap().unwrap();
    {
        let Open { ledger, admin } = open_with(config(dir.path(), None));
        rt().block_on(ledger.rotate_master_key(&ctx(), &admin))
            .unwrap();
        ledger.shutdown();
    }
    let new = keys::read_master_keys(dir.path()).unwrap().unwrap();
    assert_eq!(new.ids(), vec![2]);
    let both = credledger::secret::MasterKeys::new(old.iter().chain(new.iter()).cloned());
    keys::write_master_keys(dir.path(), &both).unwrap();
    let Open { ledger, .. } = open_with(config(dir.path(), None));
    ledger.shutdown();
    assert_eq!(
        keys::read_master_keys(dir.path()).unwrap().unwrap().ids(),
        vec![2]
    );
}

/// With the embedded store the log is in `ledger/records` and the key ring in sled's
/// files: losing sled's files (deleted, or replaced by an empty store) while the record
/// file stays must not open a ledger whose secrets can never be read again.
#[test]
fn a_lost_key_ring_beside_an_intact_log_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), None);
    let sled_dir = dir.path().join("ledger");
    for entry in std::fs::read_dir(&sled_dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name == "db" || name == "conf" || name.starts_with("snap.") {
            std::fs::remove_file(&path).unwrap();
        }
    }
    // What the next start makes of it: an empty sled store beside the record file.
    drop(SledBackend::open(dir.path()).unwrap());
    assert_refused(
        dir.path(),
        config(dir.path(), None),
        &[
            "the key ring lacks the data key of",
            "restore the data directory",
        ],
    );
}

/// A power cut after a destroy's record but before its key deletion was durable leaves
/// the destroyed version's key in the key ring: the next open deletes it as an orphan
/// (the append order never leaves the reverse, a logged version without its key).
#[test]
fn a_destroy_cut_between_its_record_and_its_key_deletion_opens_and_deletes_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let (id, left) = {
        let Open { ledger, admin } = open_with(config(dir.path(), None));
        let (id, left) = rt().block_on(async {
            let id = doomed_and_kept(&ledger, &admin).await;
            let left: Vec<_> = ledger
                .store()
                .keyring()
                .unwrap()
                .into_iter()
                .filter(|(k, _)| k.credential == id)
                .collect();
            ledger.destroy(&ctx(), &admin, id).await.unwrap();
            (id, left)
        });
        assert!(ledger
            .store()
            .keyring()
            .unwrap()
            .iter()
            .all(|(k, _)| k.credential != id));
        ledger.shutdown();
        (id, left)
    };
    assert_eq!(left.len(), 1, "the doomed credential's one data key");
    // What the cut leaves: the key back in the key ring beside the destroy's record.
    {
        let store = SledBackend::open(dir.path()).unwrap();
        let ops: Vec<_> = left
            .iter()
            .map(|(key, wrapped)| credledger::store::KeyOp::Put {
                key: *key,
                wrapped: wrapped.clone(),
            })
            .collect();
        store
            .append_durable(credledger::store::Append {
                keyring: &ops,
                records: &[],
            })
            .unwrap();
        assert!(store
            .keyring()
            .unwrap()
            .iter()
            .any(|(k, _)| k.credential == id));
    }
    let Open { ledger, admin } = open_with(config(dir.path(), None));
    assert!(
        ledger
            .store()
            .keyring()
            .unwrap()
            .iter()
            .all(|(k, _)| k.credential != id),
        "the orphan key was deleted at open"
    );
    assert_kept_resolves(&ledger, &admin);
    ledger.shutdown();
}

/// The credential named "kept" still resolves to its secret.
fn assert_kept_resolves(ledger: &Ledger, admin: &credledger::domain::Caller) {
    let kept = ledger.with_state(|s| s.names[&(admin.tenant, "kept".to_string())]);
    let r = rt()
        .block_on(ledger.resolve(
            &ctx(),
            admin,
            credledger::ledger::ResolveTarget::Id {
                id: kept,
                version: None,
            },
        ))
        .unwrap();
    assert_eq!(r.fields.0["api_key"].expose(), "sk-kept");
}

/// Creates the credentials "doomed" (whose id it returns) and "kept".
async fn doomed_and_kept(
    ledger: &Ledger,
    admin: &credledger::domain::Caller,
) -> credledger::id::Id {
    let id = ledger
        .create_credential(&ctx(), admin, api_key_input("doomed", "sk-doomed"))
        .await
        .unwrap();
    ledger
        .create_credential(&ctx(), admin, api_key_input("kept", "sk-kept"))
        .await
        .unwrap();
    id
}
