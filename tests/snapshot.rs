//! State snapshots on a real sled directory: a ledger opened from a snapshot has exactly
//! the state and projections of a full replay (the state compared as the snapshot's
//! canonical bytes, the projections as a dump next to a rebuild); every kind of snapshot
//! inconsistent with the log, or not written by this ledger, is refused and the log
//! folded in full; the background writer snapshots the durable log on its own; and the
//! snapshot encoding of a fixed state is pinned (a change needs a `snapshot::VERSION`
//! bump).

mod util;

use credledger::event::{PrincipalKind, Role, SignedEvent};
use credledger::id::Id;
use credledger::keys;
use credledger::ledger::{Config, Ledger, RequestCtx, ResolveTarget};
use credledger::projection;
use credledger::snapshot::{self, MacKey};
use credledger::store::sled::SledBackend;
use credledger::store::LogStore;
use std::path::Path;
use std::time::{Duration, Instant};
use util::{api_key, api_key_input, log_len, open_with, system_caller, Open};

fn ctx() -> RequestCtx {
    RequestCtx {
        request_id: Some("req-snapshot".into()),
        remote_addr: Some("192.0.2.8".into()),
    }
}

/// A configuration whose background writer never runs (the tests write snapshots).
fn manual(dir: &Path) -> Config {
    let mut c = Config::new(dir);
    c.snapshot_every = 0;
    c
}

/// The state's canonical bytes (a snapshot under a fixed key: equal states, equal bytes).
fn state_bytes(ledger: &Ledger) -> Vec<u8> {
    ledger.with_state(|s| {
        snapshot::encode(s, &[0; 32], None, &MacKey::derive(&[0; 32])).expect("a state")
    })
}

/// Commands touching most of the state: tenants, principals, tokens, groups, grants,
/// credentials (created, rotated, resolved, deleted, destroyed), tenant templates.
async fn workload(ledger: &Ledger, round: u32) {
    let admin = system_caller(ledger);
    let user = ledger
        .create_principal(
            &ctx(),
            &admin,
            &format!("user-{round}"),
            PrincipalKind::User,
            Role::Member,
        )
        .await
        .unwrap();
    ledger
        .issue_token(&ctx(), &admin, user, None)
        .await
        .unwrap();
    let group = ledger
        .create_group(&ctx(), &admin, &format!("group-{round}"))
        .await
        .unwrap();
    ledger
        .add_group_member(&ctx(), &admin, group, user)
        .await
        .unwrap();
    let definition = format!(
        r#"{{"name": "custom_{round}", "title": "Custom", "description": "d", "fields": [{{"name": "key", "type": "secret", "required": true}}]}}"#
    );
    ledger
        .define_template(&ctx(), &admin, None, &definition, false)
        .await
        .unwrap();
    let mut ids = Vec::new();
    for i in 0..4 {
        let id = ledger
            .create_credential(
                &ctx(),
                &admin,
                api_key_input(&format!("svc/{round}/{i}"), &format!("sk-{round}-{i}")),
            )
            .await
            .unwrap();
        ids.push(id);
    }
    ledger
        .rotate(&ctx(), &admin, ids[0], api_key(&format!("sk-{round}-0b")))
        .await
        .unwrap();
    ledger.grant(&ctx(), &admin, ids[1], user).await.unwrap();
    for id in &ids {
        ledger
            .resolve(
                &ctx(),
                &admin,
                ResolveTarget::Id {
                    id: *id,
                    version: None,
                },
            )
            .await
            .unwrap();
    }
    ledger.delete(&ctx(), &admin, ids[2]).await.unwrap();
    ledger.destroy(&ctx(), &admin, ids[3]).await.unwrap();
}

/// A closed ledger in `dir` with a snapshot covering its first events and a tail after
/// it. Returns (events the snapshot covers, events in the log).
async fn ledger_with_snapshot(dir: &Path) -> (u64, u64) {
    let Open { ledger, .. } = open_with(manual(dir));
    workload(&ledger, 1).await;
    let covers = ledger.write_snapshot().unwrap();
    assert_eq!(
        covers,
        log_len(&ledger),
        "a snapshot covers the durable log"
    );
    workload(&ledger, 2).await;
    let len = log_len(&ledger);
    ledger.shutdown();
    (covers, len)
}

/// Replaces the stored snapshot of the closed ledger in `dir`.
fn put_snapshot(dir: &Path, bytes: &[u8]) {
    let store = SledBackend::open(dir).unwrap();
    store.put_snapshot_durable(bytes).unwrap();
}

fn stored_snapshot(dir: &Path) -> Option<Vec<u8>> {
    SledBackend::open(dir).unwrap().snapshot().unwrap()
}

fn ledger_key(dir: &Path) -> MacKey {
    MacKey::derive(&keys::read_token_key(dir).unwrap().expect("a token key"))
}

/// Opens `dir`; returns (events the used snapshot covered, state bytes, projection dump).
fn open_and_read(dir: &Path) -> (u64, Vec<u8>, Vec<projection::KeyValue>) {
    let (ledger, boot) = Ledger::open(manual(dir)).unwrap();
    assert!(boot.is_none());
    let out = (
        ledger.opened_from_snapshot(),
        state_bytes(&ledger),
        projection::dump(ledger.store().proj()).unwrap(),
    );
    ledger.shutdown();
    out
}

/// A copy of a closed ledger's directory.
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

/// The state and projections of a full replay of `dir` (a copy whose snapshot is junk,
/// projections rebuilt from the log).
fn full_replay(dir: &Path) -> (Vec<u8>, Vec<projection::KeyValue>) {
    let copy = copy_dir(dir);
    put_snapshot(copy.path(), b"not a snapshot");
    {
        let store = SledBackend::open(copy.path()).unwrap();
        projection::rebuild(&store, |_| {}).unwrap();
    }
    let (covered, state, proj) = open_and_read(copy.path());
    assert_eq!(covered, 0, "a junk snapshot is not used");
    (state, proj)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_opened_from_a_snapshot_has_the_state_and_projections_of_a_full_replay() {
    let dir = tempfile::tempdir().unwrap();
    let (covers, len) = ledger_with_snapshot(dir.path()).await;
    assert!(covers > 10 && len > covers + 10, "{covers} of {len}");
    let (replay_state, replay_proj) = full_replay(dir.path());

    let (covered, state, proj) = open_and_read(dir.path());
    assert_eq!(covered, covers, "the open used the snapshot");
    assert_eq!(state, replay_state, "state from the snapshot and the tail");
    assert_eq!(proj, replay_proj, "projections");

    // The ledger opened from a snapshot goes on working: resolves, writes, verifies.
    let Open { ledger, admin } = open_with(manual(dir.path()));
    let id = ledger
        .create_credential(&ctx(), &admin, api_key_input("after/open", "sk-after"))
        .await
        .unwrap();
    let r = ledger
        .resolve(&ctx(), &admin, ResolveTarget::Id { id, version: None })
        .await
        .unwrap();
    assert_eq!(r.fields.0["api_key"].expose(), "sk-after");
    let report = util::verify_store(ledger.store());
    assert!(report.ok(), "{:?}", report.failure);
    ledger.shutdown();
    drop(ledger);
    // A stale snapshot (one covering fewer events than the log) is used as it is.
    let (covered, state, _) = open_and_read(dir.path());
    assert_eq!(covered, covers);
    assert_eq!(state, full_replay(dir.path()).0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_snapshot_inconsistent_with_the_log_or_not_this_ledgers_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (covers, len) = ledger_with_snapshot(dir.path()).await;
    let good = stored_snapshot(dir.path()).expect("a snapshot");
    let (replay_state, replay_proj) = full_replay(dir.path());
    let key = ledger_key(dir.path());
    let (_, hash) = snapshot::peek(&good).unwrap();
    let real = snapshot::decode(&good, &key).unwrap();

    // A snapshot under the right key that lies (an extra tenant): to show what a forged
    // one would do if it were used, the same bytes under another key must not be.
    let mut lying = real.state.clone();
    lying.tenants.insert(
        Id([0xee; 16]),
        credledger::domain::state::Tenant {
            name: "forged".into(),
        },
    );
    let forged = snapshot::encode(&lying, &hash, None, &MacKey::derive(&[7; 32])).unwrap();

    // A valid MAC over a state that claims more events than the log holds.
    let mut longer = real.state.clone();
    longer.len = len + 5;
    let beyond = snapshot::encode(&longer, &hash, None, &key).unwrap();

    // A valid MAC, the right length, the hash of another event.
    let mut other_hash = hash;
    other_hash[0] ^= 1;
    let wrong_hash = snapshot::encode(&real.state, &other_hash, None, &key).unwrap();

    // Another event position (covers one fewer) with this event's hash.
    let mut shorter = real.state.clone();
    shorter.len = covers - 1;
    let wrong_seq = snapshot::encode(&shorter, &hash, None, &key).unwrap();

    let mut flipped = good.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x40;
    let mut version = good.clone();
    version[9] ^= 1;

    // A snapshot of another ledger (its own key and log).
    let other = tempfile::tempdir().unwrap();
    ledger_with_snapshot(other.path()).await;
    let foreign = stored_snapshot(other.path()).unwrap();

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("junk", b"junk".to_vec()),
        ("empty", Vec::new()),
        ("truncated", good[..good.len() / 2].to_vec()),
        ("a flipped body byte", flipped),
        ("another format version", version),
        ("forged under another key", forged),
        ("another ledger's", foreign),
        ("beyond the log's end", beyond),
        ("the wrong hash", wrong_hash),
        ("the wrong position", wrong_seq),
    ];
    for (what, bytes) in cases {
        put_snapshot(dir.path(), &bytes);
        let (covered, state, proj) = open_and_read(dir.path());
        assert_eq!(covered, 0, "{what}: refused, the log folded in full");
        assert_eq!(state, replay_state, "{what}: the state of a full replay");
        assert_eq!(proj, replay_proj, "{what}: projections");
        assert_eq!(
            stored_snapshot(dir.path()).unwrap(),
            bytes,
            "{what}: a refused snapshot is left for the writer thread to replace"
        );
    }
    // The good one is used again.
    put_snapshot(dir.path(), &good);
    assert_eq!(open_and_read(dir.path()).0, covers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_writer_snapshots_the_durable_log_and_replaces_a_refused_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(dir.path());
    config.snapshot_every = 10;
    let Open { ledger, .. } = open_with(config.clone());
    workload(&ledger, 1).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let covered = loop {
        let covered = ledger
            .store()
            .snapshot()
            .unwrap()
            .and_then(|b| snapshot::peek(&b))
            .map_or(0, |(c, _)| c);
        if covered >= 10 || Instant::now() > deadline {
            break covered;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        covered >= 10,
        "the writer thread wrote a snapshot ({covered})"
    );
    workload(&ledger, 2).await;
    let len = log_len(&ledger);
    ledger.shutdown();
    drop(ledger);
    // At shutdown, more than a tenth of `snapshot_every` was not covered: written.
    let (at_close, _) = snapshot::peek(&stored_snapshot(dir.path()).unwrap()).unwrap();
    assert_eq!(
        at_close, len,
        "the shutdown snapshot covers the whole durable log"
    );
    let (opened, state, _) = open_and_read(dir.path());
    assert_eq!(opened, len);
    assert_eq!(state, full_replay(dir.path()).0);

    // A refused snapshot is replaced by the writer thread.
    put_snapshot(dir.path(), b"junk");
    let Open { ledger, .. } = open_with(config);
    assert_eq!(ledger.opened_from_snapshot(), 0);
    workload(&ledger, 3).await;
    let len = log_len(&ledger);
    ledger.shutdown();
    drop(ledger);
    let bytes = stored_snapshot(dir.path()).unwrap();
    assert_eq!(
        snapshot::decode(&bytes, &ledger_key(dir.path()))
            .unwrap()
            .covers,
        len
    );
}

/// The snapshot bytes of the state folded from the golden event vectors (one event of
/// every kind), its body decompressed. If this changes, the encoding of `State` changed:
/// bump `snapshot::VERSION` (old snapshots are then refused and the log replayed once)
/// and update the hash here.
#[test]
fn the_snapshot_encoding_of_a_fixed_state_is_pinned() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/vectors/events");
    let mut events: Vec<SignedEvent> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            let v: serde_json::Value =
                serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap();
            let rec = hex::decode(v["record_hex"].as_str().unwrap()).unwrap();
            SignedEvent::from_record(&rec).unwrap()
        })
        .collect();
    events.sort_by_key(|e| e.seq());
    let mut state = credledger::domain::State::default();
    for e in &events {
        state.apply(e.event());
    }
    let last = *events.last().unwrap().hash();
    let bytes = snapshot::encode(
        &state,
        &last,
        Some((3, Id([5; 16]))),
        &MacKey::derive(&[1; 32]),
    )
    .unwrap();
    let back = snapshot::decode(&bytes, &MacKey::derive(&[1; 32])).unwrap();
    let again = snapshot::encode(
        &back.state,
        &last,
        back.pending_shred,
        &MacKey::derive(&[1; 32]),
    )
    .unwrap();
    assert_eq!(again, bytes, "a decoded snapshot encodes to the same bytes");
    // The header (magic, version, covers, hash) and the body the zstd frame after the MAC
    // holds; the frame's own bytes depend on the zstd library and are not pinned.
    let (head, rest) = bytes.split_at(50);
    let body = zstd::stream::decode_all(&rest[32..]).unwrap();
    assert_eq!(&head[..10], b"clsnap\n\0\0\x02", "magic and version 2");
    assert_eq!(
        blake3::hash(&[head, &body].concat()).to_hex().as_str(),
        "ab47c3706ceb68ed7c81b1768f22afe45e0af692e1d7955c4e3cdf95826c7a4c",
        "the snapshot encoding changed: bump snapshot::VERSION and update this hash"
    );
}

/// An event below the snapshot altered after the snapshot was taken: the open from the
/// snapshot does not read that far back (start-up stays short), but its background check
/// of the links below the snapshot finds the damage and refuses every write from then on,
/// as a failed write does; nothing more is appended and reads go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_damaged_below_the_snapshot_stops_every_write_after_open() {
    let dir = tempfile::tempdir().unwrap();
    let (covers, len) = ledger_with_snapshot(dir.path()).await;
    SledBackend::tamper_log(dir.path(), |log| {
        let record = log.get_mut(&3).expect("event 3");
        let mid = record.len() / 2;
        record[mid] ^= 0x01;
    })
    .unwrap();
    let (ledger, _) = Ledger::open(manual(dir.path())).unwrap();
    assert_eq!(
        ledger.opened_from_snapshot(),
        covers,
        "the snapshot is used"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ledger.commit_stats().poisoned {
        assert!(
            Instant::now() < deadline,
            "the background check never refused the damaged log"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let admin = system_caller(&ledger);
    let refused = ledger
        .create_principal(
            &ctx(),
            &admin,
            "after-damage",
            PrincipalKind::User,
            Role::Member,
        )
        .await;
    assert!(refused.is_err(), "a write after the damage was found");
    assert_eq!(log_len(&ledger), len, "nothing was appended");
    assert!(
        ledger.with_state(|s| s.principals.len()) > 0,
        "reads go on from the state"
    );
    ledger.shutdown();
}
