//! The record file: what survives a torn tail, a lost or damaged index, damaged frames,
//! and the move of an older store's log out of sled.

use super::record_file::{FILE_NAME, INDEX_NAME};
use super::SledBackend;
use crate::store::{Append, LogStore, StoreError};
use std::fs::OpenOptions;
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::{Path, PathBuf};

fn record(seq: u64, len: usize) -> Vec<u8> {
    (0..len).map(|i| (seq as usize * 31 + i) as u8).collect()
}

/// Appends `records` to the store in `dir` in batches of `batch`.
fn append(dir: &Path, records: &[Vec<u8>], batch: usize) {
    let store = SledBackend::open(dir).expect("open");
    let first = store.next_seq().expect("next_seq");
    for (b, chunk) in records.chunks(batch).enumerate() {
        let at = first + (b * batch) as u64;
        let recs: Vec<(u64, &[u8])> = chunk
            .iter()
            .enumerate()
            .map(|(i, r)| (at + i as u64, r.as_slice()))
            .collect();
        store
            .append_durable(Append {
                keyring: &[],
                records: &recs,
            })
            .expect("append");
    }
}

fn file(dir: &Path) -> PathBuf {
    dir.join("ledger").join(FILE_NAME)
}

fn index(dir: &Path) -> PathBuf {
    dir.join("ledger").join(INDEX_NAME)
}

/// Every record of the store in `dir`, read one by one and as a range, which must agree.
fn read_all(dir: &Path) -> Result<Vec<Vec<u8>>, StoreError> {
    let store = SledBackend::open(dir)?;
    let n = store.next_seq()?;
    let range = store.read_range(0, usize::MAX)?;
    let mut out = Vec::new();
    for seq in 0..n {
        let one = store.read(seq)?.expect("a record below next_seq");
        assert_eq!(range[seq as usize], (seq, one.clone()));
        out.push(one);
    }
    assert_eq!(range.len() as u64, n);
    Ok(out)
}

/// Where the frames of the store in `dir` end.
fn frames_end(dir: &Path) -> u64 {
    let store = SledBackend::open(dir).expect("open");
    store.records.tail().end
}

fn sample(n: u64) -> Vec<Vec<u8>> {
    (0..n)
        .map(|s| record(s, 200 + (s as usize % 7) * 50))
        .collect()
}

#[test]
fn records_read_back_exactly_across_reopens_and_the_files_are_private() {
    let dir = tempfile::tempdir().expect("tmp");
    let recs = sample(50);
    append(dir.path(), &recs[..20], 3);
    append(dir.path(), &recs[20..], 7);
    assert_eq!(read_all(dir.path()).expect("read"), recs);
    let store = SledBackend::open(dir.path()).expect("open");
    assert_eq!(store.read(50).expect("read"), None);
    assert_eq!(store.read_range(45, 100).expect("range").len(), 5);
    assert!(store.read_range(50, 10).expect("range").is_empty());
    for f in [file(dir.path()), index(dir.path())] {
        let mode = std::fs::metadata(&f).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", f.display());
    }
}

#[test]
fn a_torn_tail_is_not_counted_and_the_next_append_replaces_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let recs = sample(10);
    append(dir.path(), &recs, 4);
    let len = frames_end(dir.path());
    // A frame whose header promises more than was written, as a crash mid-write leaves.
    let mut torn = Vec::new();
    torn.extend_from_slice(&300u32.to_le_bytes());
    torn.extend_from_slice(&10u64.to_le_bytes());
    torn.extend_from_slice(&[0xAB; 40]);
    OpenOptions::new()
        .write(true)
        .open(file(dir.path()))
        .expect("open")
        .write_all_at(&torn, len)
        .expect("write");
    assert_eq!(read_all(dir.path()).expect("read"), recs);
    let more = sample(12);
    append(dir.path(), &more[10..], 2);
    assert_eq!(read_all(dir.path()).expect("read"), more);
    let end = len + more[10..].iter().map(|r| 16 + r.len() as u64).sum::<u64>();
    let bytes = std::fs::read(file(dir.path())).expect("read");
    assert!(
        bytes[end as usize..].iter().all(|b| *b == 0),
        "the torn bytes were truncated (only the zeros written ahead follow the frames)"
    );
}

#[test]
fn zeros_are_written_ahead_and_anything_else_after_the_frames_is_truncated() {
    let dir = tempfile::tempdir().expect("tmp");
    let recs = sample(30);
    {
        let store = SledBackend::open(dir.path()).expect("open");
        for (i, r) in recs[..10].iter().enumerate() {
            let one = [(i as u64, r.as_slice())];
            store
                .append_durable(Append {
                    keyring: &[],
                    records: &one,
                })
                .expect("append");
        }
        // The thread zeros ahead while the store is open.
        let end = store.records.tail().end;
        let want = end + super::prealloc::AHEAD;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let len = || std::fs::metadata(file(dir.path())).expect("stat").len();
        while len() < want && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(len() >= want, "zeros ahead: {} after {end}", len());
    }
    append(dir.path(), &recs[10..20], 3);
    assert_eq!(read_all(dir.path()).expect("read"), recs[..20].to_vec());
    // A non-zero byte far into the zeros: not a frame, but not zeros either.
    let end = frames_end(dir.path());
    let f = OpenOptions::new()
        .write(true)
        .open(file(dir.path()))
        .expect("open");
    f.write_all_at(&[7], end + 4096).expect("write");
    assert_eq!(read_all(dir.path()).expect("read"), recs[..20].to_vec());
    append(dir.path(), &recs[20..], 4);
    assert_eq!(read_all(dir.path()).expect("read"), recs);
    let bytes = std::fs::read(file(dir.path())).expect("read");
    assert!(bytes[frames_end(dir.path()) as usize..]
        .iter()
        .all(|b| *b == 0));
}

#[test]
fn a_lost_short_or_damaged_index_is_rebuilt_from_the_records() {
    let dir = tempfile::tempdir().expect("tmp");
    let recs = sample(40);
    append(dir.path(), &recs, 5);
    std::fs::remove_file(index(dir.path())).expect("rm");
    assert_eq!(read_all(dir.path()).expect("read"), recs, "no index");
    let idx = OpenOptions::new()
        .write(true)
        .open(index(dir.path()))
        .expect("idx");
    idx.set_len(17 * 8 + 3).expect("truncate");
    assert_eq!(read_all(dir.path()).expect("read"), recs, "a short index");
    // The last entries point nowhere (pages written back out of order, then a crash).
    let idx = OpenOptions::new()
        .write(true)
        .open(index(dir.path()))
        .expect("idx");
    idx.write_all_at(&[0xFF; 24], 37 * 8).expect("write");
    assert_eq!(
        read_all(dir.path()).expect("read"),
        recs,
        "garbage at the end"
    );
    idx.write_all_at(&[0; 16], 38 * 8).expect("write");
    assert_eq!(
        read_all(dir.path()).expect("read"),
        recs,
        "zeros at the end"
    );
}

#[test]
fn frames_longer_than_a_read_chunk_are_recovered_whole() {
    let dir = tempfile::tempdir().expect("tmp");
    let recs: Vec<Vec<u8>> = (0..100).map(|s| record(s, 100_000 + s as usize)).collect();
    append(dir.path(), &recs, 9);
    std::fs::remove_file(index(dir.path())).expect("rm");
    assert_eq!(read_all(dir.path()).expect("read"), recs);
}

#[test]
fn a_damaged_frame_is_an_error_never_a_shorter_or_different_log() {
    let dir = tempfile::tempdir().expect("tmp");
    let recs = sample(20);
    append(dir.path(), &recs, 20);
    let offset = {
        let store = SledBackend::open(dir.path()).expect("open");
        store.records.index_entry(6).expect("entry")
    };
    let f = OpenOptions::new()
        .write(true)
        .open(file(dir.path()))
        .expect("open");
    f.write_all_at(&[0x5A], offset + 16 + 9).expect("flip");
    let store = SledBackend::open(dir.path()).expect("open");
    assert_eq!(store.next_seq().expect("next"), 20, "not shortened");
    for err in [
        store.read(6).map(|_| ()).expect_err("read"),
        store.read_range(0, 20).map(|_| ()).expect_err("range"),
        store.read_range(6, 1).map(|_| ()).expect_err("range at"),
    ] {
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    }
    assert_eq!(store.read(5).expect("read"), Some(recs[5].clone()));
    assert_eq!(store.read(7).expect("read"), Some(recs[7].clone()));
    drop(store);
    // Without the index, open reads the frames again and stops at the damaged one: the
    // store reports a shorter log, which the ledger refuses against its head record.
    std::fs::remove_file(index(dir.path())).expect("rm");
    let store = SledBackend::open(dir.path()).expect("open");
    assert_eq!(store.next_seq().expect("next"), 6);
    drop(store);
    // A damaged file header is refused, never read as an empty log.
    f.write_all_at(b"X", 0).expect("flip");
    match SledBackend::open(dir.path()) {
        Err(StoreError::Corrupt { what, .. }) => assert_eq!(what, "record file"),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("a record file without its header was opened"),
    }
}

#[test]
fn a_removed_record_is_a_gap_in_ranges_and_an_error_by_position() {
    let dir = tempfile::tempdir().expect("tmp");
    let recs = sample(10);
    append(dir.path(), &recs, 10);
    SledBackend::tamper_log(dir.path(), |log| {
        log.remove(&4);
    })
    .expect("tamper");
    let store = SledBackend::open(dir.path()).expect("open");
    assert_eq!(store.next_seq().expect("next"), 10);
    let range = store.read_range(3, 3).expect("range");
    let seqs: Vec<u64> = range.iter().map(|r| r.0).collect();
    assert_eq!(seqs, [3, 5, 6], "positions as stored");
    assert_eq!(store.read_range(4, 1).expect("range")[0].0, 5);
    assert!(matches!(store.read(4), Err(StoreError::Corrupt { .. })));
    assert_eq!(store.read(9).expect("read"), Some(recs[9].clone()));
}

#[test]
fn an_older_stores_log_moves_out_of_sled_once_and_a_half_done_move_is_redone() {
    let dir = tempfile::tempdir().expect("tmp");
    let recs = sample(5000);
    {
        // A store as versions before the record file left it: the log in sled's tree.
        let db = sled::open(dir.path().join("ledger")).expect("sled");
        let log = db.open_tree("log").expect("tree");
        for (i, r) in recs.iter().enumerate() {
            log.insert((i as u64).to_be_bytes(), r.as_slice())
                .expect("insert");
        }
        db.flush().expect("flush");
    }
    // A move that crashed before its rename left a partial new file: ignored.
    std::fs::write(dir.path().join("ledger/records.new"), b"credlog\x01junk").expect("w");
    assert_eq!(read_all(dir.path()).expect("read"), recs);
    assert!(!dir.path().join("ledger/records.new").exists());
    {
        let store = SledBackend::open(dir.path()).expect("open");
        let log = store.db.open_tree("log").expect("tree");
        assert!(log.is_empty(), "the tree was emptied");
        // A crash before the tree was emptied: the file is what counts.
        log.insert(0u64.to_be_bytes(), &b"stale"[..])
            .expect("insert");
        store.sync().expect("sync");
    }
    assert_eq!(read_all(dir.path()).expect("read"), recs);
    let store = SledBackend::open(dir.path()).expect("open");
    assert!(store.db.open_tree("log").expect("tree").is_empty());
}
