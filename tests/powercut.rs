//! Power-cut test: no acknowledged event depends on a write that was never synced.
//!
//! A process kill (tests/crash.rs) keeps everything the kernel has accepted; a power cut
//! keeps only what `fsync`/`fdatasync` made durable. `tests/powercut/shim.c`, loaded
//! with `LD_PRELOAD` into `credledger debug append-load`, journals what each sync under
//! the data directory makes durable (changed blocks of a file, the listing of a synced
//! directory). From that journal the test rebuilds the data directory as a power cut at
//! the moment of each acknowledgement would leave it — per POSIX, a file's name survives
//! only once its directory was synced and its contents only once the file was — opens
//! it, and requires every append acknowledged before that moment to be there, the chain
//! to verify and the log to be no shorter than the ledger's own durable records say.

mod util;

use credledger::integrity::Incomplete;
use credledger::ledger::LedgerError;
use credledger::store::StoreError;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const APPENDERS: usize = 8;
const PER_APPENDER: usize = 40;
const CUTS: usize = 24;

/// Compiles the shim with the system C compiler.
fn build_shim(out: &Path) -> PathBuf {
    let so = out.join("libpowercut.so");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/powercut/shim.c");
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-o"])
        .arg(&so)
        .arg(&src)
        .args(["-ldl", "-lpthread"])
        .status()
        .expect("a C compiler (cc) is needed to build the power-cut shim");
    assert!(status.success(), "building {}", src.display());
    so
}

/// One durable step read back from the journal.
enum Record {
    File {
        inode: u64,
        size: u64,
        blocks: Vec<(u64, Vec<u8>)>,
    },
    Dir {
        path: String,
        entries: Vec<(u64, bool, String)>,
    },
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let s = self.buf.get(self.at..self.at + n)?;
        self.at += n;
        Some(s)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn string(&mut self, n: usize) -> Option<String> {
        Some(String::from_utf8(self.take(n)?.to_vec()).expect("utf-8 name"))
    }
    /// The next complete record and the offset where it ends.
    fn record(&mut self) -> Option<(Record, usize)> {
        let rec = match self.take(1)?[0] {
            b'F' => {
                let (inode, size, n) = (self.u64()?, self.u64()?, self.u32()?);
                let mut blocks = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    let off = self.u64()?;
                    blocks.push((off, self.take(4096)?.to_vec()));
                }
                Record::File {
                    inode,
                    size,
                    blocks,
                }
            }
            b'D' => {
                let len = self.u16()? as usize;
                let path = self.string(len)?;
                let n = self.u32()?;
                let mut entries = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    let (inode, is_dir) = (self.u64()?, self.take(1)?[0] == 1);
                    let len = self.u16()? as usize;
                    entries.push((inode, is_dir, self.string(len)?));
                }
                Record::Dir { path, entries }
            }
            other => panic!("bad journal record type {other}"),
        };
        Some((rec, self.at))
    }
}

/// What a power cut leaves: the synced contents of each file (by inode) and the synced
/// listing of each directory.
#[derive(Default)]
struct Durable {
    files: HashMap<u64, Vec<u8>>,
    dirs: HashMap<String, Vec<(u64, bool, String)>>,
}

impl Durable {
    fn apply(&mut self, rec: Record) {
        match rec {
            Record::File {
                inode,
                size,
                blocks,
            } => {
                let f = self.files.entry(inode).or_default();
                for (off, data) in blocks {
                    let end = off as usize + data.len();
                    if f.len() < end {
                        f.resize(end, 0);
                    }
                    f[off as usize..end].copy_from_slice(&data);
                }
                f.resize(size as usize, 0);
            }
            Record::Dir { path, entries } => {
                self.dirs.insert(path, entries);
            }
        }
    }

    /// Writes the surviving tree under `out`. The root always exists (it was created
    /// before the process started); a file whose name survived but whose contents were
    /// never synced is empty.
    fn materialize(&self, rel: &str, out: &Path) {
        std::fs::create_dir_all(out).unwrap();
        for (inode, is_dir, name) in self.dirs.get(rel).into_iter().flatten() {
            let child = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            if *is_dir {
                self.materialize(&child, &out.join(name));
            } else {
                let contents = self.files.get(inode).map(Vec::as_slice).unwrap_or(&[]);
                std::fs::write(out.join(name), contents).unwrap();
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(
                        out.join(name),
                        std::fs::Permissions::from_mode(0o600),
                    )
                    .unwrap();
                }
            }
        }
    }
}

/// Every 13th append carries ~100 KB of secret values (under the 128 KiB record limit):
/// a sled leaf of such records is far larger than a 512 KiB-segment store's blob
/// threshold (128 KiB), so on such a store sled writes blob files.
const LARGE: [&str; 4] = ["--large-bytes", "100000", "--large-every", "13"];

#[test]
fn a_power_cut_loses_no_acknowledged_append() {
    let (blobs, holes) = power_cut(&[], false);
    assert_eq!(holes, 0);
    assert_eq!(
        blobs, 0,
        "a store with 16 MiB segments never writes a page as a blob file"
    );
}

/// Found by this test with `--large-bytes 200000`: sled wrote large pages as blob files
/// and never synced them or their directory, so after a power cut sled panicked at open.
/// New stores use segments large enough that no page becomes a blob; stores made with
/// sled's default 512 KiB segments keep them, and the durable step syncs their blobs.
///
/// Such a store can still meet sled 0.34 recovery defects (each seen once under heavy
/// load, not reproduced in six quiet local runs): a power cut leaves a page-table hole
/// that sled refuses to serialise at open ("tried to serialize Uninitialized"), or sled
/// recovers less than it had synced: with the log in sled, a log shorter than the
/// ledger's head record; with the log in the record file, a key ring without data keys
/// of events the log holds (seen once in a full debug run). The ledger then refuses to
/// open (the contained store panic, the head record's "events N..=M are lost", or "the
/// key ring lacks the data key of …"), never with a shorter log or lost secrets; such cuts are counted, every other cut must hold every acknowledged
/// append (docs/SECURITY.md).
#[test]
fn regression_a_power_cut_lost_unsynced_blob_files_of_a_store_with_small_segments() {
    let (blobs, holes) = power_cut(&["--segment-size", "524288"], true);
    assert!(
        holes < CUTS / 2,
        "{holes} of {CUTS} cuts met a refused sled recovery: more than the rare defect seen"
    );
    assert!(
        blobs > 0,
        "the small-segment store wrote no blob file: the test proved nothing"
    );
}

/// Runs the load under the shim, then checks every cut; returns the most blob files the
/// store's synced blob directory ever listed and the number of cuts at which sled refused
/// to open with its page-table hole (tolerated only when `tolerate_sled_hole`).
fn power_cut(extra: &[&str], tolerate_sled_hole: bool) -> (usize, usize) {
    let tmp = tempfile::tempdir().unwrap();
    let shim = build_shim(tmp.path());
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let journal = tmp.path().join("journal");

    let mut child = Command::new(env!("CARGO_BIN_EXE_credledger"))
        .args(["debug", "append-load", "--prefix", "pc"])
        .args(["--concurrency", &APPENDERS.to_string()])
        .args(["--count", &PER_APPENDER.to_string()])
        .args(LARGE)
        .args(extra)
        .arg("--data")
        .arg(&data)
        .env("LD_PRELOAD", &shim)
        .env("POWERCUT_DIR", &data)
        .env("POWERCUT_JOURNAL", &journal)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn credledger");
    // Each acknowledgement with the journal length at the moment it was read: every sync
    // the acknowledgement depends on was journaled before it.
    let mut acks: Vec<(String, u64)> = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let name = line.strip_prefix("ack ").expect("an ack line").to_string();
        let at = std::fs::metadata(&journal).map(|m| m.len()).unwrap_or(0);
        acks.push((name, at));
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "append-load failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        acks.len(),
        APPENDERS * PER_APPENDER,
        "every append acknowledged"
    );

    let bytes = std::fs::read(&journal).unwrap();
    let mut reader = Reader { buf: &bytes, at: 0 };
    let mut records = Vec::new();
    while let Some(r) = reader.record() {
        records.push(r);
    }
    assert_eq!(
        reader.at,
        bytes.len(),
        "the journal ends with a whole record"
    );
    // The most blob files the synced listing of sled's blob directory ever held.
    let blobs_seen = records
        .iter()
        .filter_map(|(r, _)| match r {
            Record::Dir { path, entries } if path == "ledger/blobs" => Some(entries.len()),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    let files_synced = records
        .iter()
        .filter(|(r, _)| matches!(r, Record::File { .. }))
        .count();
    assert!(files_synced > 10, "the shim saw the syncs ({files_synced})");

    // Cut points: spread over the acknowledgements, plus the very last.
    let mut cuts: Vec<usize> = (0..CUTS)
        .map(|i| i * (acks.len() - 1) / (CUTS - 1))
        .collect();
    cuts.dedup();
    let mut durable = Durable::default();
    let mut next = 0;
    let mut tally = Vec::new();
    let mut lossy_cut_seen = false;
    let mut holes = 0;
    for &cut in &cuts {
        let at = acks[cut].1 as usize;
        while next < records.len() && records[next].1 <= at {
            let (rec, _) = std::mem::replace(
                &mut records[next],
                (
                    Record::Dir {
                        path: String::new(),
                        entries: vec![],
                    },
                    0,
                ),
            );
            durable.apply(rec);
            next += 1;
        }
        let dir = tmp.path().join(format!("cut-{cut}"));
        durable.materialize("", &dir);
        let open = match util::try_open(&dir) {
            Ok(open) => open,
            Err(e) if tolerate_sled_hole && is_refused_sled_recovery(&e) => {
                holes += 1;
                tally.push(format!("cut after ack {cut}: sled refused to open ({e})"));
                continue;
            }
            Err(e) => panic!("cut after ack #{cut}: the store does not open: {e:?}"),
        };
        let ledger = &open.ledger;
        let tenant = open.admin.tenant;
        let present =
            |n: &str| ledger.with_state(|s| s.names.contains_key(&(tenant, n.to_string())));
        let missing: Vec<&str> = acks[..=cut]
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| !present(n))
            .collect();
        assert!(
            missing.is_empty(),
            "a power cut after ack #{cut} loses {} acknowledged appends, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(5)]
        );
        let report = util::verify_store(ledger.store());
        assert_eq!(
            report.verified,
            util::log_len(ledger),
            "cut after ack #{cut}: the whole log verifies"
        );
        assert!(report.ok(), "cut after ack #{cut}: {:?}", report.failure);
        let later_lost = acks[cut + 1..].iter().filter(|(n, _)| !present(n)).count();
        lossy_cut_seen |= later_lost > 0;
        tally.push(format!(
            "cut after ack {cut}: {} events verified, {later_lost} later appends not yet durable",
            report.verified
        ));
        ledger.shutdown();
    }
    assert!(
        lossy_cut_seen,
        "no cut lost any later append: the simulation dropped nothing and proved nothing"
    );
    eprintln!("{}", tally.join("\n"));
    (blobs_seen, holes)
}

/// The two refusals a small-segment store's sled recovery can end in: its contained
/// panic on a page-table hole, or the head record finding the recovered log short.
fn is_refused_sled_recovery(e: &LedgerError) -> bool {
    matches!(
        e,
        LedgerError::Store(StoreError::Panicked { message, .. })
            if message.contains("tried to serialize Uninitialized")
    ) || matches!(
        e,
        LedgerError::Incomplete(Incomplete::EndsBeforeHead { .. })
    ) || matches!(
        e,
        LedgerError::Store(StoreError::Corrupt { what: "keyring", detail })
            if detail.contains("the key ring lacks the data key of")
    )
}
