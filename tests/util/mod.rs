//! Shared helpers of the ledger-core integration tests: open a real ledger in a temp
//! dir, build callers through the real token path, compare projections with a rebuild,
//! and search raw files.

#![allow(dead_code)]

use credledger::domain::Caller;
use credledger::event::{PrincipalKind, Role};
use credledger::id::Id;
use credledger::ledger::{Config, CreateInput, Ledger, LedgerError, RequestCtx};
use credledger::projection;
use credledger::replay;
use credledger::store::sled::SledBackend;
use credledger::store::{Append, Backend, CheckpointStore, LogStore};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// An open ledger with its bootstrap system admin.
pub struct Open {
    pub ledger: Ledger,
    pub admin: Caller,
}

/// The throwaway PostgreSQL of `CREDLEDGER_TEST_STORE=postgres` (see [`open_ledger`]).
#[allow(
    clippy::duplicate_mod,
    reason = "each harness module includes the PostgreSQL helper; a test binary may use several"
)]
#[path = "../pg/mod.rs"]
pub mod pg;

/// Opens a ledger for `config` on the store the suite runs on: its data directory
/// (sled), or with `CREDLEDGER_TEST_STORE=postgres` a fresh PostgreSQL database (keys
/// and the projection cache in the data directory), this process holding the writer
/// lease.
pub fn open_ledger(
    config: Config,
) -> Result<(Ledger, Option<credledger::ledger::Bootstrap>), LedgerError> {
    if !pg::switched() {
        return Ledger::open(config);
    }
    use credledger::store::lease::WriterLease;
    // The same database when the directory is opened again (its URL kept inside it).
    std::fs::create_dir_all(&config.data_dir).unwrap();
    let kept = config.data_dir.join("test-pg-url");
    let url = match std::fs::read_to_string(&kept) {
        Ok(url) => {
            pg::expire_lease(&url);
            url
        }
        Err(_) => {
            let url = pg::fresh_database();
            std::fs::write(&kept, &url).unwrap();
            url
        }
    };
    let cache = config.data_dir.join("pg-cache");
    let store = credledger::store::postgres::PgBackend::connect(
        &url,
        Some(&cache),
        &credledger::store::postgres::PgOptions {
            accept_lost_commits: true,
            ..Default::default()
        },
    )?;
    let taken = store.try_take("tests", "", std::time::Duration::from_secs(24 * 3600))?;
    assert!(taken.is_some(), "a fresh database's lease is free");
    Ledger::open_with_backend(config, Arc::new(store))
}

/// Opens (bootstrapping when empty) the ledger in `dir` and authenticates as the system
/// admin: with the bootstrap token on a fresh dir, from the state otherwise.
pub fn open(dir: &Path) -> Open {
    open_with(Config::new(dir))
}

pub fn open_with(config: Config) -> Open {
    try_open_with(config).expect("open ledger")
}

/// [`open`], returning the ledger's refusal instead of panicking on it.
pub fn try_open(dir: &Path) -> Result<Open, LedgerError> {
    try_open_with(Config::new(dir))
}

pub fn try_open_with(config: Config) -> Result<Open, LedgerError> {
    let (ledger, boot) = open_ledger(config)?;
    let admin = match boot {
        Some(b) => ledger
            .authenticate(b.token.expose())
            .expect("the bootstrap token authenticates"),
        None => system_caller(&ledger),
    };
    Ok(Open { ledger, admin })
}

/// The bootstrap system admin as a caller (what local tools use).
pub fn system_caller(ledger: &Ledger) -> Caller {
    ledger.with_state(|s| {
        s.principals
            .iter()
            .find(|(_, p)| p.system_admin)
            .map(|(id, p)| Caller {
                tenant: p.tenant,
                principal: *id,
                token: Id::NIL,
                role: p.role,
                kind: p.kind,
                system_admin: true,
            })
            .expect("a system admin")
    })
}

/// Creates a principal and authenticates it through a freshly issued token.
pub async fn principal(
    ledger: &Ledger,
    admin: &Caller,
    name: &str,
    kind: PrincipalKind,
    role: Role,
) -> Caller {
    let ctx = RequestCtx::default();
    let id = ledger
        .create_principal(&ctx, admin, name, kind, role)
        .await
        .expect("create principal");
    let token = ledger
        .issue_token(&ctx, admin, id, None)
        .await
        .expect("issue token");
    ledger
        .authenticate(token.token.expose())
        .expect("the new token authenticates")
}

/// Fields of the `api_key` template.
pub fn api_key(value: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("api_key".into(), Value::String(value.into()));
    m
}

/// An `api_key` credential input.
pub fn api_key_input(name: &str, value: &str) -> CreateInput {
    CreateInput {
        name: name.into(),
        template: "api_key".into(),
        fields: api_key(value),
        ..Default::default()
    }
}

/// Every wrapped data key of the key ring, decoded: `(credential, version, key)`.
pub fn keyring_entries(
    store: &dyn Backend,
) -> Result<Vec<(Id, u32, credledger::secret::WrappedKey)>, credledger::store::StoreError> {
    Ok(store
        .keyring()?
        .into_iter()
        .map(|(k, v)| {
            let w = credledger::codec::decode(&v).expect("a wrapped key");
            (k.credential, k.version, w)
        })
        .collect())
}

/// The number of events in the log.
pub fn log_len(ledger: &Ledger) -> u64 {
    ledger.store().next_seq().expect("log length")
}

/// Verifies every link and signature of a store's log.
pub fn verify_store(store: &dyn Backend) -> replay::Report {
    replay::verify(store.records(0), None, |_| {})
}

/// Everything a store holds, for "nothing was written" checks: the log, the key ring,
/// the projections (watermark included), the issued checkpoints and the metadata the
/// ledger keeps (key check values, markers).
#[derive(Debug, PartialEq, Eq)]
pub struct StoreDump {
    pub log: Vec<(u64, Vec<u8>)>,
    pub keyring: Vec<(Vec<u8>, Vec<u8>)>,
    pub projections: Vec<(Vec<u8>, Vec<u8>)>,
    pub checkpoints: Vec<(u64, Vec<u8>)>,
    pub meta: Vec<(String, Option<Vec<u8>>)>,
}

/// The metadata names the ledger uses, for [`StoreDump`].
fn meta_names(store: &dyn Backend) -> Vec<String> {
    let mut names = vec!["head-record".to_string(), "key-check/token".to_string()];
    let ids: std::collections::BTreeSet<u32> = store
        .keyring()
        .expect("key ring")
        .iter()
        .map(|(_, w)| u32::from_le_bytes(w[..4].try_into().unwrap()))
        .chain(1..=16)
        .collect();
    names.extend(ids.into_iter().map(|id| format!("key-check/master/{id}")));
    names
}

/// Dumps the whole store (see [`StoreDump`]).
pub fn store_dump(store: &dyn Backend) -> StoreDump {
    StoreDump {
        log: store.records(0).map(|r| r.expect("read log")).collect(),
        keyring: store
            .keyring()
            .expect("key ring")
            .into_iter()
            .map(|(k, v)| (k.to_bytes().to_vec(), v))
            .collect(),
        projections: projection::dump(store.proj()).expect("dump projections"),
        checkpoints: CheckpointStore::checkpoints(store).expect("checkpoints"),
        meta: meta_names(store)
            .into_iter()
            .map(|n| {
                let v = store.meta(&n).expect("meta");
                (n, v)
            })
            .collect(),
    }
}

/// Asserts that `f` leaves the whole store of `ledger` unchanged (see [`StoreDump`]).
pub fn assert_store_unchanged<T>(ledger: &Ledger, what: &str, f: impl FnOnce() -> T) -> T {
    let before = store_dump(ledger.store());
    let out = f();
    let after = store_dump(ledger.store());
    assert!(
        before == after,
        "{what} changed the store: log {} -> {} records, key ring {} -> {}, projections {} -> {}, checkpoints {} -> {}, metadata equal: {}",
        before.log.len(),
        after.log.len(),
        before.keyring.len(),
        after.keyring.len(),
        before.projections.len(),
        after.projections.len(),
        before.checkpoints.len(),
        after.checkpoints.len(),
        before.meta == after.meta
    );
    out
}

/// The same check over a closed data directory (opened through a private copy, so the
/// directory itself is not touched).
pub fn dir_store_dump(dir: &Path) -> StoreDump {
    let (store, _copy) = SledBackend::open_private_copy(dir).expect("open a copy");
    store_dump(&store)
}

/// A hash of every file under `dir` (path → BLAKE3 of its bytes, and its mode), to show
/// that a command left the directory byte for byte as it was.
pub fn dir_fingerprint(dir: &Path) -> Vec<(PathBuf, String, u32)> {
    use std::os::unix::fs::PermissionsExt;
    files_under(dir)
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).expect("read file");
            let mode = std::fs::metadata(&p)
                .expect("metadata")
                .permissions()
                .mode();
            (
                p.strip_prefix(dir).unwrap().to_path_buf(),
                blake3::hash(&bytes).to_hex().to_string(),
                mode,
            )
        })
        .collect()
}

/// A second store that receives copies of the live log and rebuilds its projections
/// from scratch, so the live (incrementally maintained) projections can be compared
/// with replay(log) without touching them.
pub struct Mirror {
    _dir: tempfile::TempDir,
    store: SledBackend,
    copied: u64,
}

impl Mirror {
    pub fn new() -> Mirror {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SledBackend::open(dir.path()).expect("open mirror store");
        Mirror {
            _dir: dir,
            store,
            copied: 0,
        }
    }

    /// Copies the new records of `live`, rebuilds the mirror's projections from an empty
    /// tree and returns their dump.
    pub fn rebuilt_dump(&mut self, live: &dyn Backend) -> Vec<(Vec<u8>, Vec<u8>)> {
        let new: Vec<(u64, Vec<u8>)> = live
            .records(self.copied)
            .map(|r| r.expect("read log"))
            .collect();
        if let Some((last, _)) = new.last() {
            self.copied = last + 1;
            let borrowed: Vec<(u64, &[u8])> = new.iter().map(|(s, r)| (*s, r.as_slice())).collect();
            self.store
                .append_durable(Append {
                    keyring: &[],
                    records: &borrowed,
                })
                .expect("copy records");
        }
        projection::rebuild(&self.store, |_| {}).expect("rebuild mirror");
        projection::dump(&self.store).expect("dump mirror")
    }
}

/// Asserts that the live projections equal a rebuild from the log (byte for byte).
pub fn assert_projections_equal_replay(live: &dyn Backend, mirror: &mut Mirror, when: &str) {
    let live_dump = projection::dump(live.proj()).expect("dump live");
    let rebuilt = mirror.rebuilt_dump(live);
    if live_dump != rebuilt {
        let live_keys: Vec<_> = live_dump.iter().map(|(k, _)| hex(k)).collect();
        let rebuilt_keys: Vec<_> = rebuilt.iter().map(|(k, _)| hex(k)).collect();
        let differing: Vec<_> = live_dump
            .iter()
            .zip(rebuilt.iter())
            .filter(|(a, b)| a != b)
            .map(|(a, _)| hex(&a.0))
            .take(5)
            .collect();
        panic!(
            "projections differ from replay {when}: {} live keys vs {} rebuilt; first differing live keys {differing:?}; key sets equal: {}",
            live_keys.len(),
            rebuilt_keys.len(),
            live_keys == rebuilt_keys
        );
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Every regular file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let entry = entry.expect("dir entry");
            let ft = entry.file_type().expect("file type");
            if ft.is_dir() {
                stack.push(entry.path());
            } else if ft.is_file() {
                out.push(entry.path());
            }
        }
    }
    out.sort();
    out
}

/// The files under `dir` whose raw bytes contain `needle`.
pub fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    assert!(!needle.is_empty());
    files_under(dir)
        .into_iter()
        .filter(|p| {
            let bytes = std::fs::read(p).expect("read file");
            bytes.windows(needle.len()).any(|w| w == needle)
        })
        .collect()
}
