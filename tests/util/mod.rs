//! Shared helpers of the ledger-core integration tests: open a real ledger in a temp
//! dir, build callers through the real token path, compare projections with a rebuild,
//! and search raw files.

#![allow(dead_code)]

use credledger::domain::Caller;
use credledger::event::{PrincipalKind, Role};
use credledger::id::Id;
use credledger::ledger::{Config, CreateInput, Ledger, RequestCtx};
use credledger::projection;
use credledger::replay;
use credledger::store::Store;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// An open ledger with its bootstrap system admin.
pub struct Open {
    pub ledger: Ledger,
    pub admin: Caller,
}

/// Opens (bootstrapping when empty) the ledger in `dir` and authenticates as the system
/// admin: with the bootstrap token on a fresh dir, from the state otherwise.
pub fn open(dir: &Path) -> Open {
    open_with(Config::new(dir))
}

pub fn open_with(config: Config) -> Open {
    let (ledger, boot) = Ledger::open(config).expect("open ledger");
    let admin = match boot {
        Some(b) => ledger
            .authenticate(b.token.expose())
            .expect("the bootstrap token authenticates"),
        None => system_caller(&ledger),
    };
    Open { ledger, admin }
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

/// The number of events in the log.
pub fn log_len(ledger: &Ledger) -> u64 {
    ledger.store().len().expect("log length")
}

/// Verifies every link and signature of a store's log.
pub fn verify_store(store: &Store) -> replay::Report {
    let records = store.records(0).map(|r| r.map(|(s, v)| (s, v.to_vec())));
    replay::verify(records, None, |_| {})
}

/// A second store that receives copies of the live log and rebuilds its projections
/// from scratch, so the live (incrementally maintained) projections can be compared
/// with replay(log) without touching them.
pub struct Mirror {
    _dir: tempfile::TempDir,
    store: Store,
    copied: u64,
}

impl Mirror {
    pub fn new() -> Mirror {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open mirror store");
        Mirror {
            _dir: dir,
            store,
            copied: 0,
        }
    }

    /// Copies the new records of `live`, rebuilds the mirror's projections from an empty
    /// tree and returns their dump.
    pub fn rebuilt_dump(&mut self, live: &Store) -> Vec<(Vec<u8>, Vec<u8>)> {
        let new: Vec<(u64, Vec<u8>)> = live
            .records(self.copied)
            .map(|r| r.map(|(s, v)| (s, v.to_vec())).expect("read log"))
            .collect();
        if let Some((last, _)) = new.last() {
            self.copied = last + 1;
            self.store.write_durable(&[], &new).expect("copy records");
        }
        projection::rebuild(&self.store, |_| {}).expect("rebuild mirror");
        projection::dump(self.store.proj()).expect("dump mirror")
    }
}

/// Asserts that the live projections equal a rebuild from the log (byte for byte).
pub fn assert_projections_equal_replay(live: &Store, mirror: &mut Mirror, when: &str) {
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
