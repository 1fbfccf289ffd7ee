//! The PostgreSQL store against a real server (tests/pg): a ledger runs on it behind the
//! same traits; the same events give the same bytes and the same Merkle root on both
//! stores (`credledger migrate` sled → PostgreSQL → sled, byte for byte, verified, and
//! resumable); `replay verify --store` passes; the writer lease fences an old writer;
//! a store without `synchronous_commit` is refused; a destroy vacuums the key ring.

mod pg;
mod util;

use credledger::ledger::{Config, Ledger, RequestCtx, ResolveTarget};
use credledger::store::lease::WriterLease;
use credledger::store::postgres::{PgBackend, PgOptions};
use credledger::store::{Append, Backend, LogStore, StoreError};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use util::{api_key_input, open, system_caller, verify_store};

const BIN: &str = env!("CARGO_BIN_EXE_credledger");

fn ctx() -> RequestCtx {
    RequestCtx {
        request_id: Some("req-pg".into()),
        remote_addr: Some("192.0.2.9".into()),
    }
}

/// A fresh database on `pg` for one test, by URL.
fn database(pg: &pg::Pg, name: &str) -> String {
    pg.superuser_sql(&format!("CREATE DATABASE {name} OWNER {}", pg::ROLE));
    pg.url(pg::PASSWORD).replace(pg::DATABASE, name)
}

fn credledger(args: &[&str]) -> (bool, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The merkle root `migrate` printed.
fn root_of(text: &str) -> String {
    let after = text.rsplit("Merkle root ").next().unwrap();
    after.split_whitespace().next().unwrap().to_string()
}

/// The harness runs PostgreSQL with `fsync = off` (speed): accepted here, refused by
/// default (`synchronous_commit_off_is_refused_unless_accepted`).
fn accept() -> PgOptions {
    PgOptions {
        accept_lost_commits: true,
        ..PgOptions::default()
    }
}

fn writer(url: &str, cache: Option<&Path>) -> Arc<PgBackend> {
    let pg = PgBackend::connect(url, cache, &accept()).unwrap();
    assert!(pg
        .try_take("test", "", Duration::from_secs(60))
        .unwrap()
        .is_some());
    Arc::new(pg)
}

/// The tenant checkpoints and cosignatures a store holds; at least one of each.
fn side_data(store: &dyn Backend) -> credledger::proof::side::SideData {
    let side = credledger::proof::side::stored_side_data(store).unwrap();
    assert!(!side.log_checkpoints.is_empty(), "a tenant checkpoint");
    assert!(!side.cosignatures.is_empty(), "a cosignature");
    side
}

/// Stores witness cosignature lines beside the global checkpoint of `size` and beside
/// every tenant checkpoint (a store keeps what the ledger verified; the copies must carry
/// them byte for byte).
fn add_cosignatures(store: &dyn Backend, size: u64) {
    let (origin, _) = credledger::proof::genesis(store).unwrap();
    let line = |n: u8| {
        format!(
            "\u{2014} witness.test/{n} {}\n",
            "A".repeat(100 + n as usize)
        )
    };
    store
        .put_cosignatures_durable(&origin, size, line(1).as_bytes())
        .unwrap();
    let side = credledger::proof::side::stored_side_data(store).unwrap();
    assert!(
        !side.log_checkpoints.is_empty(),
        "a tenant checkpoint was made"
    );
    for (i, (o, s, _)) in side.log_checkpoints.iter().enumerate() {
        store
            .put_cosignatures_durable(o, *s, line(2 + i as u8).as_bytes())
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_log_on_both_stores_byte_for_byte_with_the_same_root() {
    let pg = pg::Pg::start();
    let url = database(&pg, "roots");
    let a = tempfile::tempdir().unwrap();
    let (rec_sled, ids, root_sled) = {
        let o = open(a.path());
        let mut ids = vec![];
        for i in 0..5 {
            let id = o
                .ledger
                .create_credential(
                    &ctx(),
                    &o.admin,
                    api_key_input(&format!("k{i}"), &format!("v-{i}")),
                )
                .await
                .unwrap();
            ids.push(id);
        }
        let cp = credledger::proof::checkpoint(&o.ledger).unwrap();
        add_cosignatures(o.ledger.store(), cp.tree_size);
        o.ledger.shutdown();
        let len = util::log_len(&o.ledger);
        let root = credledger::proof::root(o.ledger.store().proj(), len).unwrap();
        (len, ids, hex::encode(root))
    };
    let dir = a.path().to_str().unwrap();
    let (ok, text) = credledger(&[
        "migrate",
        "--from",
        dir,
        "--to",
        &url,
        "--accept-lost-commits",
    ]);
    assert!(ok, "{text}");
    let side_sled = side_data(&credledger::store::sled::SledBackend::open(a.path()).unwrap());
    assert_eq!(
        side_data(&PgBackend::open_read_only(&url).unwrap()),
        side_sled,
        "the tenant checkpoints and cosignatures reach PostgreSQL byte for byte"
    );
    let root_pg = root_of(&text);
    assert_eq!(
        root_pg, root_sled,
        "the same log has the same Merkle root on both stores"
    );
    // Rerun: it resumes (nothing to copy) and verifies again.
    let (ok, again) = credledger(&[
        "migrate",
        "--from",
        dir,
        "--to",
        &url,
        "--accept-lost-commits",
    ]);
    assert!(ok, "{again}");
    assert!(
        again.contains(&format!("({rec_sled} already there)")),
        "{again}"
    );
    let (ok, verified) = credledger(&["replay", "verify", "--data", dir, "--store", &url]);
    assert!(ok, "{verified}");

    // The ledger runs on PostgreSQL: same keys (from the directory), the log goes on.
    let len_pg = {
        let store: Arc<dyn Backend> = writer(&url, Some(&a.path().join("pg-cache")));
        let (ledger, boot) = Ledger::open_with_backend(Config::new(a.path()), store).unwrap();
        assert!(boot.is_none());
        // The node's own tree (its projection cache, rebuilt from PostgreSQL's log).
        let root = credledger::proof::root(ledger.store().proj(), rec_sled).unwrap();
        assert_eq!(hex::encode(root), root_sled);
        let admin = system_caller(&ledger);
        let r = ledger
            .resolve(
                &ctx(),
                &admin,
                ResolveTarget::Id {
                    id: ids[3],
                    version: None,
                },
            )
            .await
            .unwrap();
        assert_eq!(r.fields.0["api_key"].expose(), "v-3");
        ledger
            .create_credential(&ctx(), &admin, api_key_input("on-pg", "v-pg"))
            .await
            .unwrap();
        assert!(verify_store(ledger.store()).ok());
        ledger.shutdown();
        util::log_len(&ledger)
    };
    assert!(len_pg > rec_sled);

    // And back to a new directory: byte for byte what PostgreSQL holds.
    let b = tempfile::tempdir().unwrap();
    let back = b.path().join("d");
    let (ok, text) = credledger(&[
        "migrate",
        "--from",
        &url,
        "--to",
        back.to_str().unwrap(),
        "--keys",
        dir,
    ]);
    assert!(ok, "{text}");
    let root_back = root_of(&text);
    assert_ne!(root_pg, root_back, "the log grew on PostgreSQL");
    let src = PgBackend::open_read_only(&url).unwrap();
    let dst = credledger::store::sled::SledBackend::open(&back).unwrap();
    let all =
        |s: &dyn Backend| -> Vec<(u64, Vec<u8>)> { s.records(0).map(|r| r.unwrap()).collect() };
    assert_eq!(all(&src), all(&dst));
    assert_eq!(src.keyring().unwrap(), dst.keyring().unwrap());
    assert_eq!(side_data(&src), side_data(&dst));
    let back_side = side_data(&dst);
    for item in &side_sled.log_checkpoints {
        assert!(
            back_side.log_checkpoints.contains(item),
            "{item:?} came back"
        );
    }
    for item in &side_sled.cosignatures {
        assert!(back_side.cosignatures.contains(item), "{item:?} came back");
    }
    drop(dst);
    // The sled copy opens as a ledger, and the original sled prefix is unchanged.
    let o = open(&back);
    assert_eq!(util::log_len(&o.ledger), len_pg);
    drop(o);
    let (ok, verified) = credledger(&["replay", "verify", "--data", back.to_str().unwrap()]);
    assert!(ok, "{verified}");
}

#[test]
fn the_writer_lease_fences_an_old_writer() {
    let pg = pg::Pg::start();
    let url = database(&pg, "fence");
    let a = PgBackend::connect(&url, None, &accept()).unwrap();
    let b = PgBackend::connect(&url, None, &accept()).unwrap();
    // Nobody holds it: an append is refused without a lease.
    let rec: &[u8] = b"not an event, the store does not care";
    let one = [(0u64, rec)];
    let append = || Append {
        records: &one,
        keyring: &[],
    };
    assert!(matches!(
        a.append_durable(append()),
        Err(StoreError::Fenced(_))
    ));
    let ta = a
        .try_take("a", "http://a", Duration::from_millis(400))
        .unwrap()
        .unwrap();
    assert!(b
        .try_take("b", "http://b", Duration::from_secs(5))
        .unwrap()
        .is_none());
    a.append_durable(append()).unwrap();
    std::thread::sleep(Duration::from_millis(600));
    let tb = b
        .try_take("b", "http://b", Duration::from_secs(5))
        .unwrap()
        .unwrap();
    assert!(tb.epoch > ta.epoch);
    assert_eq!(tb.head, 1);
    // A believes it still writes (it was paused past its lease): fenced, nothing written.
    let two = [(1u64, rec)];
    let late = Append {
        records: &two,
        keyring: &[],
    };
    assert!(
        matches!(a.append_durable(late), Err(StoreError::Fenced(_))),
        "the old writer committed"
    );
    assert_eq!(a.next_seq().unwrap(), 1);
    assert!(!a.renew(Duration::from_secs(1)).unwrap());
    b.append_durable(Append {
        records: &two,
        keyring: &[],
    })
    .unwrap();
    assert_eq!(b.stored_head().unwrap().unwrap().size, 2);
    // The log is append-only in the database itself.
    let lease = b.lease().unwrap();
    assert_eq!(
        (lease.epoch, lease.address.as_str()),
        (tb.epoch, "http://b")
    );
}

#[test]
fn synchronous_commit_off_is_refused_unless_accepted() {
    let pg = pg::Pg::start();
    let url = database(&pg, "durability");
    pg.superuser_sql("ALTER DATABASE durability SET synchronous_commit = off");
    let e = PgBackend::connect(&url, None, &PgOptions::default())
        .err()
        .expect("refused");
    assert!(e.to_string().contains("synchronous_commit = off"), "{e}");
    let accepted = PgOptions {
        accept_lost_commits: true,
        ..PgOptions::default()
    };
    assert!(PgBackend::connect(&url, None, &accepted).is_ok());
}

/// The relation file of the key-ring table (a `VACUUM FULL` gives it a new one).
async fn keyring_filenode(url: &str) -> u32 {
    let (c, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let r = c
        .query_one(
            "SELECT pg_relation_filenode('credledger.keyring')::oid",
            &[],
        )
        .await
        .unwrap();
    r.get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destroy_deletes_the_key_ring_rows_and_rewrites_the_table() {
    let pg = pg::Pg::start();
    let url = database(&pg, "erasure");
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Backend> = writer(&url, None);
    let (ledger, boot) = Ledger::open_with_backend(Config::new(dir.path()), store).unwrap();
    let admin = ledger.authenticate(boot.unwrap().token.expose()).unwrap();
    let id = ledger
        .create_credential(&ctx(), &admin, api_key_input("doomed", "v-doomed-9"))
        .await
        .unwrap();
    let keys_of = |l: &Ledger| {
        l.store()
            .keyring()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.credential == id)
            .count()
    };
    assert_eq!(keys_of(&ledger), 1);
    let before = keyring_filenode(&url).await;
    ledger.delete(&ctx(), &admin, id).await.unwrap();
    ledger.destroy(&ctx(), &admin, id).await.unwrap();
    assert_eq!(keys_of(&ledger), 0);
    let after = keyring_filenode(&url).await;
    assert_ne!(before, after, "VACUUM FULL rewrote the key-ring table");
    assert!(verify_store(ledger.store()).ok());
    ledger.shutdown();
}

/// The measurement behind the projections' place (docs/adr/0002): a one-row read from
/// PostgreSQL through the store's bridge against one from the local cache.
#[test]
fn round_trip_of_a_store_read_against_the_local_cache() {
    let pg = pg::Pg::start();
    let url = database(&pg, "roundtrip");
    let b = PgBackend::connect(&url, None, &accept()).unwrap();
    let n = 2000;
    let t = std::time::Instant::now();
    for _ in 0..n {
        b.meta("store-id").unwrap().unwrap();
    }
    let remote = t.elapsed() / n;
    let t = std::time::Instant::now();
    for _ in 0..n {
        let _ = credledger::store::ProjectionStore::get(&b, b"no-such-key").unwrap();
    }
    let local = t.elapsed() / n;
    eprintln!("store read: PostgreSQL {remote:?} per round trip, local cache {local:?}");
    assert!(remote > local);
}

/// `admin recover --store`: refused while a node holds the writer lease, then a new
/// system admin whose token authenticates (on a server with `fsync` on, the default
/// the offline command insists on).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_recover_on_postgresql_takes_the_lease_or_refuses() {
    let pg = pg::Pg::start_durable();
    let url = database(&pg, "recover");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let node = writer(&url, None);
    let store: Arc<dyn Backend> = node.clone();
    let (ledger, boot) = Ledger::open_with_backend(Config::new(dir.path()), store).unwrap();
    assert!(boot.is_some());
    let recover = [
        "admin", "recover", "--data", data, "--store", &url, "--name", "rescue",
    ];
    let (ok, text) = credledger(&recover);
    assert!(!ok && text.contains("writer lease"), "{text}");
    ledger.shutdown();
    drop(ledger);
    node.release().unwrap();
    let (ok, text) = credledger(&recover);
    assert!(ok, "{text}");
    let token = text.lines().next().unwrap().trim().to_string(); // stdout comes first
    let store: Arc<dyn Backend> = writer(&url, None);
    let (ledger, _) = Ledger::open_with_backend(Config::new(dir.path()), store).unwrap();
    assert!(ledger.authenticate(&token).is_ok(), "{text}");
    ledger.shutdown();
}

/// The witness cosignatures and tenant-log checkpoints behave alike on both stores:
/// replace for cosignatures, insert-if-absent for notes, origins kept apart (one a
/// prefix of another), ascending sizes and the latest one.
fn check_checkpoint_store(cps: &dyn credledger::store::CheckpointStore) {
    assert_eq!(cps.cosignatures("o", 3).unwrap(), None);
    cps.put_cosignatures_durable("o", 3, b"a\n").unwrap();
    cps.put_cosignatures_durable("o", 3, b"a\nb\n").unwrap();
    assert_eq!(cps.cosignatures("o", 3).unwrap(), Some(b"a\nb\n".to_vec()));
    assert_eq!(cps.cosignatures("o", 4).unwrap(), None);
    assert_eq!(cps.cosignatures("o/x", 3).unwrap(), None);
    assert_eq!(cps.log_checkpoint("t1", 5).unwrap(), None);
    assert_eq!(cps.latest_log_checkpoint("t1").unwrap(), None);
    assert_eq!(
        cps.insert_log_checkpoint_durable("t1", 5, b"n5").unwrap(),
        b"n5"
    );
    assert_eq!(
        cps.insert_log_checkpoint_durable("t1", 5, b"x").unwrap(),
        b"n5"
    );
    assert_eq!(
        cps.insert_log_checkpoint_durable("t1", 2, b"n2").unwrap(),
        b"n2"
    );
    cps.insert_log_checkpoint_durable("t", 9, b"other").unwrap();
    cps.insert_log_checkpoint_durable("t10", 1, b"other")
        .unwrap();
    assert_eq!(
        cps.log_checkpoints("t1").unwrap(),
        vec![(2, b"n2".to_vec()), (5, b"n5".to_vec())]
    );
    assert_eq!(
        cps.latest_log_checkpoint("t1").unwrap(),
        Some((5, b"n5".to_vec()))
    );
    assert_eq!(cps.log_checkpoint("t1", 5).unwrap(), Some(b"n5".to_vec()));
    assert!(
        cps.checkpoints().unwrap().is_empty(),
        "the global log's are apart"
    );
}

#[test]
fn cosignatures_and_tenant_checkpoints_on_both_stores() {
    let dir = tempfile::tempdir().unwrap();
    check_checkpoint_store(&credledger::store::sled::SledBackend::open(dir.path()).unwrap());
    let pg = pg::Pg::start();
    let url = database(&pg, "logcheckpoints");
    check_checkpoint_store(&*writer(&url, None));
}
