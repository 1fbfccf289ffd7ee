//! The sled backend's own layout decisions: where the state snapshot lives and the cache
//! setting.

use super::snapshot_file::FILE_NAME;
use super::tuning::Tuning;
use super::{SledBackend, OLD_SNAPSHOT, SNAPSHOT};
use crate::store::LogStore;

#[test]
fn the_snapshot_is_a_private_file_and_older_places_are_read_or_ignored_then_removed() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("ledger").join(FILE_NAME);
    let store = SledBackend::open(dir.path()).expect("open");
    // What stores before the file held: the `snapshot` tree (read when there is no
    // file), and before that `meta` (never read).
    store
        .meta
        .insert(OLD_SNAPSHOT, &b"meta snapshot"[..])
        .expect("insert");
    store
        .meta
        .insert(&b"name"[..], &b"value"[..])
        .expect("insert");
    assert_eq!(store.snapshot().expect("read"), None, "meta is not read");
    store
        .snapshots
        .insert(SNAPSHOT, &b"tree snapshot"[..])
        .expect("insert");
    assert_eq!(
        store.snapshot().expect("read").as_deref(),
        Some(&b"tree snapshot"[..])
    );

    store.put_snapshot_durable(b"new snapshot").expect("write");
    assert_eq!(std::fs::read(&file).expect("file"), b"new snapshot");
    let mode = std::fs::metadata(&file).expect("stat").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(
        store.snapshot().expect("read").as_deref(),
        Some(&b"new snapshot"[..])
    );
    assert!(store.meta.get(OLD_SNAPSHOT).expect("get").is_none());
    assert!(store.snapshots.is_empty(), "the tree's copy is gone");
    assert_eq!(
        store.meta("name").expect("meta").as_deref(),
        Some(&b"value"[..])
    );
    store.put_snapshot_durable(b"newer").expect("write");
    let names: Vec<_> = std::fs::read_dir(dir.path().join("ledger"))
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| !n.to_string_lossy().starts_with(".credledger-")),
        "no temporary file is left: {names:?}"
    );

    drop(store);
    let store = SledBackend::open(dir.path()).expect("reopen");
    assert_eq!(
        store.snapshot().expect("read").as_deref(),
        Some(&b"newer"[..])
    );

    // Something other than a snapshot file in its place is an error, not an absence
    // (which would hide it), and is refused before it is read: a directory, a device
    // that never ends.
    drop(store);
    std::fs::remove_file(&file).expect("remove");
    std::fs::create_dir(&file).expect("a directory in its place");
    let store = SledBackend::open(dir.path()).expect("reopen");
    let err = store.snapshot().expect_err("a directory");
    assert!(
        matches!(err, crate::store::StoreError::Corrupt { .. }),
        "{err}"
    );
    std::fs::remove_dir(&file).expect("remove");
    std::os::unix::fs::symlink("/dev/zero", &file).expect("symlink");
    let err = store.snapshot().expect_err("a device");
    assert!(
        err.to_string().contains("not a regular file") && err.to_string().contains("remove it"),
        "{err}"
    );
    std::fs::remove_file(&file).expect("remove");
    let huge = std::fs::File::create(&file).expect("create");
    huge.set_len(crate::store::MAX_SNAPSHOT + 1)
        .expect("a sparse file over the bound");
    let err = store.snapshot().expect_err("too large");
    assert!(err.to_string().contains("at most"), "{err}");
    std::fs::remove_file(&file).expect("remove");
    std::os::unix::fs::symlink("/dev/zero", &file).expect("symlink");
    // Writing replaces the planted link itself, not what it points at.
    store.put_snapshot_durable(b"after").expect("write");
    assert!(!std::fs::symlink_metadata(&file)
        .expect("stat")
        .file_type()
        .is_symlink());
    assert_eq!(
        store.snapshot().expect("read").as_deref(),
        Some(&b"after"[..])
    );
}

#[test]
fn the_cache_setting_is_read_in_mib_and_a_bad_value_falls_back_to_the_default() {
    let with = |v: Option<&str>| {
        Tuning::from_lookup(|name| {
            assert_eq!(name, "CREDLEDGER_SLED_CACHE_MB");
            v.map(str::to_owned)
        })
    };
    let default = Tuning::DEFAULT_CACHE_MB << 20;
    assert_eq!(with(None).cache_bytes, default);
    assert_eq!(with(Some(" 256 ")).cache_bytes, 256 << 20);
    assert_eq!(with(Some("0")).cache_bytes, 1 << 20, "0 counts as 1 MiB");
    assert_eq!(with(Some("lots")).cache_bytes, default);
    assert_eq!(with(Some("-5")).cache_bytes, default);
}

#[test]
fn new_keys_are_written_before_the_records_and_deleted_keys_after() {
    use crate::store::{KeyOp, KeyRef};
    let key = |v| KeyRef {
        credential: crate::id::Id([7; 16]),
        version: v,
    };
    let put = |v| KeyOp::Put {
        key: key(v),
        wrapped: vec![v as u8],
    };
    let del = |v| KeyOp::Delete { key: key(v) };
    let ops = [put(3), del(1), put(4), del(2)];
    let (before, after) = super::keyring::steps(&ops);
    assert_eq!(before, [&ops[0], &ops[2]]);
    assert_eq!(after, [&ops[1], &ops[3]]);
    // One key both put and deleted: the order of the append decides, so all before.
    let ops = [del(5), put(5)];
    let (before, after) = super::keyring::steps(&ops);
    assert_eq!(before, [&ops[0], &ops[1]]);
    assert!(after.is_empty());
}
