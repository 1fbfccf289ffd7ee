//! The chunked audit index: what batches write, what a read from any point returns, and
//! that damage is refused.

use super::*;
use crate::store::sled::SledBackend;

const PREFIX: &[u8] = b"a-test";

/// Adds `seqs` (each tagged with its low bytes) in batches of `batch`, returning the store.
fn build(dir: &std::path::Path, seqs: &[u64], batch: usize) -> SledBackend {
    let store = SledBackend::open(dir).unwrap();
    for chunk in seqs.chunks(batch) {
        let mut ov = Overlay::new(&store);
        for s in chunk {
            add(&mut ov, PREFIX, *s, [*s as u8, (*s >> 8) as u8]).unwrap();
        }
        store
            .apply(&ov.into_changes(), chunk[chunk.len() - 1] + 1)
            .unwrap();
    }
    store
}

fn read(store: &SledBackend, from: u64) -> Vec<(u64, [u8; 2])> {
    audit_seqs(store, PREFIX.to_vec(), from)
        .collect::<Result<_, _>>()
        .unwrap()
}

fn dump(store: &SledBackend) -> Vec<(Vec<u8>, Vec<u8>)> {
    store.scan(PREFIX, PREFIX, usize::MAX).unwrap()
}

#[test]
fn entries_read_back_from_any_point_and_batching_does_not_change_the_bytes() {
    // Dense runs, long gaps (deltas of several varint bytes) and more than two chunks.
    let mut seqs: Vec<u64> = (0..300).collect();
    seqs.extend((0..300).map(|i| 1_000 + i * 7_919));
    seqs.extend([u64::from(u32::MAX) * 9, u64::from(u32::MAX) * 9 + 1]);
    let one = tempfile::tempdir().unwrap();
    let by_one = build(one.path(), &seqs, 1);
    let many = tempfile::tempdir().unwrap();
    let by_many = build(many.path(), &seqs, 97);
    assert_eq!(
        dump(&by_one),
        dump(&by_many),
        "the same bytes whatever the batches"
    );
    let keys = dump(&by_one);
    assert_eq!(keys.len(), 3, "two closed chunks and the open one");
    assert_eq!(&keys[0].0[PREFIX.len()..], &seqs[255].to_be_bytes());
    assert_eq!(&keys[1].0[PREFIX.len()..], &seqs[511].to_be_bytes());
    assert_eq!(&keys[2].0[PREFIX.len()..], &OPEN);
    let want: Vec<(u64, [u8; 2])> = seqs
        .iter()
        .map(|s| (*s, [*s as u8, (*s >> 8) as u8]))
        .collect();
    for from in [
        0,
        1,
        255,
        256,
        299,
        300,
        1_000,
        1_001,
        seqs[511],
        seqs[512],
        seqs[601],
        seqs[601] + 1,
    ] {
        let expect: Vec<_> = want.iter().copied().filter(|e| e.0 >= from).collect();
        assert_eq!(read(&by_one, from), expect, "from {from}");
    }
}

#[test]
fn an_out_of_order_add_and_every_kind_of_damage_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let seqs: Vec<u64> = (0..260).map(|i| i * 3).collect();
    let store = build(dir.path(), &seqs, 50);
    let mut ov = Overlay::new(&store);
    assert!(add(&mut ov, PREFIX, seqs[259], [0, 0]).is_err(), "a repeat");
    let keys = dump(&store);
    let (closed, open) = (&keys[0], &keys[1]);
    let damaged = |key: &[u8], value: Vec<u8>| {
        let d = tempfile::tempdir().unwrap();
        let s = build(d.path(), &seqs, 260);
        s.apply(&[(key.to_vec(), Some(value))], 780).unwrap();
        let r: Result<Vec<_>, _> = audit_seqs(&s, PREFIX.to_vec(), 0).collect();
        assert!(matches!(r, Err(StoreError::Corrupt { .. })), "{r:?}");
    };
    let mut v = open.1.clone();
    v.truncate(v.len() - 1);
    damaged(&open.0, v);
    let mut v = open.1.clone();
    v[1] += 1;
    damaged(&open.0, v);
    let mut v = open.1.clone();
    v[9] ^= 1;
    damaged(&open.0, v);
    let mut v = closed.1.clone();
    v.push(0);
    damaged(&closed.0, v);
    // A closed chunk named by another sequence number, or not full.
    let mut k = closed.0.clone();
    let n = k.len();
    k[n - 1] ^= 1;
    damaged(&k, closed.1.clone());
    damaged(&closed.0, open.1.clone());
    // The open chunk's entries before the closed one's.
    let mut v = open.1.clone();
    v[HEADER] = 0;
    damaged(&open.0, v);
}
