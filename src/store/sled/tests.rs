//! The sled backend's own layout decisions: where the state snapshot lives and the cache
//! setting.

use super::tuning::Tuning;
use super::{SledBackend, OLD_SNAPSHOT, SNAPSHOT};
use crate::store::LogStore;

#[test]
fn a_snapshot_in_the_old_meta_place_is_ignored_and_removed_by_the_next_write() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SledBackend::open(dir.path()).expect("open");
    // What a store before the `snapshot` tree held.
    store
        .meta
        .insert(OLD_SNAPSHOT, &b"old snapshot"[..])
        .expect("insert");
    store
        .meta
        .insert(&b"name"[..], &b"value"[..])
        .expect("insert");
    assert_eq!(
        store.snapshot().expect("read"),
        None,
        "the old place is not read"
    );

    store.put_snapshot_durable(b"new snapshot").expect("write");
    assert_eq!(
        store.snapshot().expect("read").as_deref(),
        Some(&b"new snapshot"[..])
    );
    assert_eq!(
        store.meta.get(OLD_SNAPSHOT).expect("get"),
        None,
        "the old copy is gone"
    );
    assert_eq!(
        store.meta("name").expect("meta").as_deref(),
        Some(&b"value"[..])
    );
    assert_eq!(
        store.snapshots.get(SNAPSHOT).expect("get").as_deref(),
        Some(&b"new snapshot"[..])
    );
    assert_eq!(
        store.snapshots.len(),
        1,
        "the snapshot tree holds the snapshot only"
    );

    drop(store);
    let store = SledBackend::open(dir.path()).expect("reopen");
    assert_eq!(
        store.snapshot().expect("read").as_deref(),
        Some(&b"new snapshot"[..])
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
