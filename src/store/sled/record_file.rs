//! The embedded backend's log: the stored records in one append-only file of their own,
//! `DIR/ledger/records`, beside an offset index, `DIR/ledger/records.idx`, that is a cache
//! rebuilt from it. sled keeps the key ring, the projections and the rest.
//!
//! As sled keys (every pass before the seventh) each record cost a resident page-table
//! entry per leaf of at most 16 keys, and sled rewrote its leaves: ~600 MB resident and
//! ~1.1 KB on disk per 267-byte record at 10M events, and a recovery scan at open of
//! everything written since the previous open (docs/PERFORMANCE.md, seventh pass).
//!
//! `records` (docs/FORMAT.md, "The record file", has the bytes): the 8-byte header
//! `credlog` `0x01`, then frames back to back, each
//!
//! ```text
//! 0..4    len (u32 LE): the record's length, at most MAX_RECORD
//! 4..12   seq (u64 LE): its position in the log
//! 12..16  CRC-32 (IEEE, LE) of bytes 0..12 ‖ the record
//! 16..    the record (the stored bytes, exactly as appended)
//! ```
//!
//! `records.idx`: one u64 LE per frame, the byte offset of the i-th frame.
//!
//! **Invariant (durability):** [`RecordFile::append_durable`] writes a batch's frames
//! with one `pwrite` after the last whole frame, then `fdatasync`s the file; only then
//! are they counted (visible to readers). The index is written after the frames and is
//! never synced: on open its entries are checked from the end back (each must point at a
//! whole frame with a good checksum) and the frames after the last good one are read
//! and indexed again.
//!
//! **Invariant (tail):** open stops at the first frame that is not whole with a good
//! checksum and a larger position than the one before; bytes after it are never read
//! as frames, and unless they are all zeros (written ahead by `prealloc`, so that an
//! append's `fdatasync` commits data only) the next append first truncates them. Those frames were never acknowledged, or
//! the ledger refuses the log: its head record ([`crate::store::head`]) says how far the
//! acknowledged log went, so a damaged frame below it cannot shorten the log silently.
//! A damaged frame the index points at is an error when read, never a different record.

use crate::store::{Seq, StoreError, MAX_RECORD};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use super::prealloc::{self, Prealloc};

/// The record file's name in the store directory.
pub(super) const FILE_NAME: &str = "records";
/// The offset index's name in the store directory.
pub(super) const INDEX_NAME: &str = "records.idx";

const MAGIC: &[u8; 8] = b"credlog\x01";
const HEADER: u64 = MAGIC.len() as u64;
const FRAME: usize = 16;
/// A first read of a frame fetches this much, which holds most records whole.
const PEEK: usize = 1024;
/// Open reads the frames after the index in chunks of this size (over a frame's maximum).
const CHUNK: u64 = 4 << 20;

/// How far the valid frames go.
#[derive(Clone, Copy, Debug)]
pub(super) struct Tail {
    /// Whole frames, which is the number of index entries that are valid.
    frames: u64,
    /// The byte offset just after the last whole frame.
    pub(super) end: u64,
    /// The last frame's position + 1 (0 when there is none).
    next_seq: Seq,
    /// Bytes after `end` that are not the zeros written ahead (a torn or damaged tail):
    /// the next append truncates them.
    dirty: bool,
}

/// The record file of one store (see the module documentation).
pub(super) struct RecordFile {
    path: PathBuf,
    file: Arc<File>,
    index_path: PathBuf,
    index: File,
    tail: RwLock<Tail>,
    /// The file's length when it was opened (frames, then the zeros written ahead).
    opened_len: u64,
    append: Mutex<()>,
    /// Started by the first append (open writes nothing).
    prealloc: OnceLock<Prealloc>,
}

/// One frame's bytes for `record` at `seq`.
fn frame(out: &mut Vec<u8>, seq: Seq, record: &[u8]) {
    let start = out.len();
    out.extend_from_slice(&(record.len() as u32).to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    let mut h = crc32fast::Hasher::new();
    h.update(&out[start..start + 12]);
    h.update(record);
    out.extend_from_slice(&h.finalize().to_le_bytes());
    out.extend_from_slice(record);
}

/// A frame header read back: the record's length and position, if the header is sane.
fn header(bytes: &[u8]) -> Option<(usize, Seq)> {
    let len = u32::from_le_bytes(bytes.get(0..4)?.try_into().ok()?) as usize;
    let seq = u64::from_le_bytes(bytes.get(4..12)?.try_into().ok()?);
    (len <= MAX_RECORD).then_some((len, seq))
}

/// The frame at the start of `bytes` if it is whole and its checksum holds: its
/// position and record.
fn parse(bytes: &[u8]) -> Option<(Seq, &[u8])> {
    let (len, seq) = header(bytes)?;
    let record = bytes.get(FRAME..FRAME + len)?;
    let mut h = crc32fast::Hasher::new();
    h.update(&bytes[..12]);
    h.update(record);
    (h.finalize().to_le_bytes() == bytes[12..16]).then_some((seq, record))
}

impl RecordFile {
    /// Opens the file in `dir` (`DIR/ledger`), recovering the index; `None` when there
    /// is no record file yet.
    pub(super) fn open(dir: &Path) -> Result<Option<RecordFile>, StoreError> {
        let path = dir.join(FILE_NAME);
        let file = match OpenOptions::new().read(true).write(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StoreError::Io { path, source }),
        };
        let io = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        let meta = file.metadata().map_err(io)?;
        let mut magic = [0u8; 8];
        if !meta.is_file() || file.read_exact_at(&mut magic, 0).is_err() || &magic != MAGIC {
            return Err(StoreError::Corrupt {
                what: "record file",
                detail: format!(
                    "{} is not a credledger record file (no `credlog` header); the log cannot be read",
                    path.display()
                ),
            });
        }
        let index_path = dir.join(INDEX_NAME);
        let index = private_options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&index_path)
            .map_err(|source| StoreError::Io {
                path: index_path.clone(),
                source,
            })?;
        let rf = RecordFile {
            path,
            file: Arc::new(file),
            index_path,
            index,
            tail: RwLock::new(Tail {
                frames: 0,
                end: HEADER,
                next_seq: 0,
                dirty: false,
            }),
            opened_len: meta.len(),
            append: Mutex::new(()),
            prealloc: OnceLock::new(),
        };
        let tail = rf.recover(rf.opened_len)?;
        *rf.tail.write().unwrap_or_else(|p| p.into_inner()) = tail;
        Ok(Some(rf))
    }

    /// Creates the file in `dir` holding `records` (ascending positions), durably: the
    /// frames go to a temporary file that is synced and renamed into place, and `dir` is
    /// synced, so a crash leaves no record file or the whole one.
    pub(super) fn create(
        dir: &Path,
        records: impl Iterator<Item = Result<(Seq, Vec<u8>), StoreError>>,
    ) -> Result<RecordFile, StoreError> {
        let path = dir.join(FILE_NAME);
        let tmp = dir.join(format!("{FILE_NAME}.new"));
        let io = |source| StoreError::Io {
            path: tmp.clone(),
            source,
        };
        let file = private_options()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(io)?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        w.write_all(MAGIC).map_err(io)?;
        let mut buf = Vec::new();
        for r in records {
            let (seq, record) = r?;
            buf.clear();
            frame(&mut buf, seq, &record);
            w.write_all(&buf).map_err(io)?;
        }
        let file = w.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        drop(file);
        // The old index (of an earlier attempt) is of no use.
        match std::fs::remove_file(dir.join(INDEX_NAME)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(StoreError::Io {
                    path: dir.join(INDEX_NAME),
                    source,
                })
            }
        }
        std::fs::rename(&tmp, &path).map_err(io)?;
        super::sync_path(dir)?;
        RecordFile::open(dir)?.ok_or_else(|| StoreError::Io {
            path,
            source: std::io::Error::other("the record file vanished after it was created"),
        })
    }

    /// Checks the index from its end back, then reads and indexes the frames after the
    /// last good entry (see the module invariants).
    fn recover(&self, file_len: u64) -> Result<Tail, StoreError> {
        let index_len = self.index.metadata().map_err(|e| self.index_io(e))?.len();
        let mut entries = index_len / 8;
        let mut tail = Tail {
            frames: 0,
            end: HEADER,
            next_seq: 0,
            dirty: false,
        };
        while entries > 0 {
            let offset = self.index_entry(entries - 1)?;
            // An entry is trusted only at its own position (a log with a removed record
            // is re-read from there at every open).
            if let Some((seq, len)) = self
                .frame_at(offset, file_len)?
                .filter(|&(seq, _)| seq == entries - 1)
            {
                tail = Tail {
                    frames: entries,
                    end: offset + (FRAME + len) as u64,
                    next_seq: seq + 1,
                    dirty: false,
                };
                break;
            }
            entries -= 1;
        }
        // Read on from there, indexing what is found.
        let valid = tail.frames;
        let mut found = Vec::new();
        let mut offset = tail.end;
        let mut chunk = Vec::new();
        let mut stop = false;
        while !stop && offset < file_len {
            let want = (file_len - offset).min(CHUNK) as usize;
            chunk.resize(want, 0);
            self.file
                .read_exact_at(&mut chunk, offset)
                .map_err(|e| self.io(e))?;
            let at_file_end = offset + want as u64 == file_len;
            let mut at = 0;
            loop {
                let rest = &chunk[at..];
                let fits = header(rest).is_some_and(|(len, _)| FRAME + len <= rest.len());
                if !fits {
                    // A frame cut by the chunk's end is read again from its start.
                    let cut = !at_file_end && (rest.len() < FRAME || header(rest).is_some());
                    stop = !cut || at == 0;
                    break;
                }
                match parse(rest) {
                    Some((seq, record)) if tail.frames == 0 || seq >= tail.next_seq => {
                        found.push(offset + at as u64);
                        at += FRAME + record.len();
                        tail.frames += 1;
                        tail.next_seq = seq + 1;
                        tail.end = offset + at as u64;
                    }
                    _ => {
                        stop = true;
                        break;
                    }
                }
            }
            offset += at as u64;
        }
        tail.dirty = !self.zeros_from(tail.end, file_len)?;
        let mut bytes = Vec::with_capacity(found.len() * 8);
        for e in &found {
            bytes.extend_from_slice(&e.to_le_bytes());
        }
        self.index
            .set_len(valid * 8)
            .and_then(|()| self.index.write_all_at(&bytes, valid * 8))
            .map_err(|e| self.index_io(e))?;
        Ok(tail)
    }

    /// Whether the file holds only zeros from `end` to `file_len` (the zeros written
    /// ahead, `prealloc`); more than a few steps of them is not what this code leaves.
    fn zeros_from(&self, end: u64, file_len: u64) -> Result<bool, StoreError> {
        if file_len <= end {
            return Ok(true);
        }
        if file_len - end > 4 * prealloc::AHEAD {
            return Ok(false);
        }
        let mut buf = vec![0u8; 1 << 20];
        let mut at = end;
        while at < file_len {
            let n = (file_len - at).min(buf.len() as u64) as usize;
            self.file
                .read_exact_at(&mut buf[..n], at)
                .map_err(|e| self.io(e))?;
            if buf[..n].iter().any(|b| *b != 0) {
                return Ok(false);
            }
            at += n as u64;
        }
        Ok(true)
    }

    /// The whole frame at `offset` below `limit`, if its checksum holds: its position
    /// and record length.
    fn frame_at(&self, offset: u64, limit: u64) -> Result<Option<(Seq, usize)>, StoreError> {
        let Some(bytes) = self.read_frame_bytes(offset, limit)? else {
            return Ok(None);
        };
        Ok(parse(&bytes).map(|(seq, r)| (seq, r.len())))
    }

    /// The bytes of the frame at `offset` (header and record), if its header is sane and
    /// it ends at or below `limit`.
    fn read_frame_bytes(&self, offset: u64, limit: u64) -> Result<Option<Vec<u8>>, StoreError> {
        // An offset from a damaged index may be anything.
        if offset < HEADER || offset >= limit || limit - offset < FRAME as u64 {
            return Ok(None);
        }
        let mut buf = vec![0u8; PEEK.min((limit - offset) as usize)];
        self.file
            .read_exact_at(&mut buf, offset)
            .map_err(|e| self.io(e))?;
        let Some((len, _)) = header(&buf) else {
            return Ok(None);
        };
        let whole = FRAME + len;
        if offset + whole as u64 > limit {
            return Ok(None);
        }
        if buf.len() < whole {
            let have = buf.len();
            buf.resize(whole, 0);
            self.file
                .read_exact_at(&mut buf[have..], offset + have as u64)
                .map_err(|e| self.io(e))?;
        }
        buf.truncate(whole);
        Ok(Some(buf))
    }

    pub(super) fn index_entry(&self, i: u64) -> Result<u64, StoreError> {
        let mut b = [0u8; 8];
        self.index
            .read_exact_at(&mut b, i * 8)
            .map_err(|e| self.index_io(e))?;
        Ok(u64::from_le_bytes(b))
    }

    pub(super) fn tail(&self) -> Tail {
        *self.tail.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The last frame's position + 1.
    pub(super) fn next_seq(&self) -> Seq {
        self.tail().next_seq
    }

    /// The index of the first frame whose position is at least `seq`, among `frames`.
    /// Frames are at their own position unless the file was altered (a removed record):
    /// then a binary search over the frames' positions finds it.
    fn position_of(&self, seq: Seq, tail: &Tail) -> Result<u64, StoreError> {
        if seq < tail.frames && self.seq_of_frame(seq, tail)? == seq {
            return Ok(seq);
        }
        let (mut lo, mut hi) = (0u64, tail.frames);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.seq_of_frame(mid, tail)? < seq {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    fn seq_of_frame(&self, i: u64, tail: &Tail) -> Result<Seq, StoreError> {
        let offset = self.index_entry(i)?;
        match self.frame_at(offset, tail.end)? {
            Some((seq, _)) => Ok(seq),
            None => Err(self.damaged(i, offset)),
        }
    }

    fn damaged(&self, i: u64, offset: u64) -> StoreError {
        StoreError::Corrupt {
            what: "record file",
            detail: format!(
                "frame {i} (at byte {offset} of {}) is damaged (bad length or checksum), or its entry in {} is (that index is a cache: remove it and the next open rebuilds it); run `credledger replay verify`",
                self.path.display(),
                self.index_path.display()
            ),
        }
    }

    /// The record at `seq`, or `None`.
    pub(super) fn read(&self, seq: Seq) -> Result<Option<Vec<u8>>, StoreError> {
        let tail = self.tail();
        if seq >= tail.next_seq {
            return Ok(None);
        }
        // The frame at its own position, unless a record was removed or something is
        // damaged: then the search below finds it or says why not.
        if seq < tail.frames {
            let offset = self.index_entry(seq)?;
            if let Some(bytes) = self.read_frame_bytes(offset, tail.end)? {
                if let Some((_, record)) = parse(&bytes).filter(|(s, _)| *s == seq) {
                    return Ok(Some(record.to_vec()));
                }
            }
        }
        let i = self.position_of(seq, &tail)?;
        if i >= tail.frames {
            return Ok(None);
        }
        let offset = self.index_entry(i)?;
        let bytes = self
            .read_frame_bytes(offset, tail.end)?
            .ok_or_else(|| self.damaged(i, offset))?;
        match parse(&bytes) {
            Some((s, record)) if s == seq => Ok(Some(record.to_vec())),
            Some(_) => Err(StoreError::Corrupt {
                what: "record file",
                detail: format!(
                    "{} holds no record at position {seq}, below its last ({}): a record was removed; run `credledger replay verify`",
                    self.path.display(),
                    tail.next_seq - 1
                ),
            }),
            None => Err(self.damaged(i, offset)),
        }
    }

    /// Up to `limit` records from position `from` on, as stored.
    pub(super) fn read_range(
        &self,
        from: Seq,
        limit: usize,
    ) -> Result<Vec<(Seq, Vec<u8>)>, StoreError> {
        let tail = self.tail();
        if limit == 0 || from >= tail.next_seq {
            return Ok(Vec::new());
        }
        let first = self.position_of(from, &tail)?;
        let count = (tail.frames - first).min(limit as u64);
        if count == 0 {
            return Ok(Vec::new());
        }
        let start = self.index_entry(first)?;
        let end = if first + count < tail.frames {
            self.index_entry(first + count)?
        } else {
            tail.end
        };
        if end < start || end > tail.end || start < HEADER {
            return Err(self.damaged(first, start));
        }
        let mut span = vec![0u8; (end - start) as usize];
        self.file
            .read_exact_at(&mut span, start)
            .map_err(|e| self.io(e))?;
        let mut out = Vec::with_capacity(count as usize);
        let mut at = 0;
        while (out.len() as u64) < count {
            let Some((seq, record)) = parse(&span[at..]) else {
                return Err(self.damaged(first + out.len() as u64, start + at as u64));
            };
            out.push((seq, record.to_vec()));
            at += FRAME + record.len();
        }
        Ok(out)
    }

    /// Appends `records` (contiguous from [`RecordFile::next_seq`], checked by the
    /// caller) and makes them durable before they are counted.
    pub(super) fn append_durable(&self, records: &[(Seq, &[u8])]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let _one = self.append.lock().unwrap_or_else(|p| p.into_inner());
        let tail = self.tail();
        let mut buf = Vec::with_capacity(records.iter().map(|r| FRAME + r.1.len()).sum());
        let mut offsets = Vec::with_capacity(records.len() * 8);
        for (seq, record) in records {
            offsets.extend_from_slice(&(tail.end + buf.len() as u64).to_le_bytes());
            frame(&mut buf, *seq, record);
        }
        if tail.dirty {
            self.file.set_len(tail.end).map_err(|e| self.io(e))?;
            if let Some(p) = self.prealloc.get() {
                p.truncated(tail.end);
            }
        }
        // Zeros after the frames exist up to the length at open, unless truncated above.
        let ready = if tail.dirty {
            tail.end
        } else {
            self.opened_len
        };
        self.prealloc
            .get_or_init(|| Prealloc::start(Arc::clone(&self.file), tail.end, ready))
            .claim(tail.end, tail.end + buf.len() as u64);
        self.file
            .write_all_at(&buf, tail.end)
            .map_err(|e| self.io(e))?;
        self.index
            .write_all_at(&offsets, tail.frames * 8)
            .map_err(|e| self.index_io(e))?;
        self.file.sync_data().map_err(|e| self.io(e))?;
        let last = records[records.len() - 1].0;
        *self.tail.write().unwrap_or_else(|p| p.into_inner()) = Tail {
            frames: tail.frames + records.len() as u64,
            end: tail.end + buf.len() as u64,
            next_seq: last + 1,
            dirty: false,
        };
        Ok(())
    }

    /// Every frame as stored, for tamper tests.
    pub(super) fn all(&self) -> Result<Vec<(Seq, Vec<u8>)>, StoreError> {
        self.read_range(0, usize::MAX)
    }

    /// Bytes of the record file and its index.
    pub(super) fn size_on_disk(&self) -> Result<u64, StoreError> {
        let a = self.file.metadata().map_err(|e| self.io(e))?.len();
        let b = self.index.metadata().map_err(|e| self.index_io(e))?.len();
        Ok(a + b)
    }

    /// `fsync` of the index (at a clean close; it is a cache, so only to spare the next
    /// open a re-read).
    pub(super) fn sync_index(&self) -> Result<(), StoreError> {
        self.index.sync_data().map_err(|e| self.index_io(e))
    }

    fn io(&self, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn index_io(&self, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: self.index_path.clone(),
            source,
        }
    }
}

fn private_options() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.mode(0o600);
    o
}
