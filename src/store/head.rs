//! The ledger's own durable head record, `DIR/head`: how far the log went, kept outside
//! every backend's files, because the store is not trusted to know the log's length (sled
//! drops a corrupt segment as if it were a torn tail).
//!
//! The file is 128 bytes: two 64-byte slots, written alternately, so a torn write only
//! ever damages the slot being written and the other still holds the previous head.
//! A slot (docs/FORMAT.md, "The head record", has the bytes):
//!
//! ```text
//! 0..8    magic "credhead"
//! 8..16   generation (u64 LE): 0, 1, 2, …; it is written to slot generation % 2
//! 16..24  size (u64 LE): events 0..size-1 are durable
//! 24..56  the BLAKE3 event hash of event size-1 (zeros when size = 0)
//! 56..64  the first 8 bytes of BLAKE3("credledger/head/v1\n" ‖ bytes 0..56)
//! ```
//!
//! **Invariant:** the committer writes the head of a batch (one `pwrite` of one slot and
//! an `fdatasync`) strictly after the batch's records are durable and before any waiter
//! of the batch is answered, so the head never claims more than the log holds, and every
//! acknowledged event is at or below it.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// The head record's file name in the data directory.
pub const FILE_NAME: &str = "head";

const MAGIC: &[u8; 8] = b"credhead";
const DOMAIN: &[u8] = b"credledger/head/v1\n";
const SLOT: usize = 64;

/// How far the log went: events `0..size` were durable, the last with hash `hash`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    pub size: u64,
    pub hash: [u8; 32],
}

/// Why the head record cannot be read or written. Each variant names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HeadError {
    /// The file could not be read, created or synced: refuse to start (or poison the
    /// committer when writing); check the disk and permissions.
    #[error("head record {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Neither slot holds a valid record (wrong size, magic or checksum): refuse to
    /// start; the log's true length is unknown (run `credledger replay verify`).
    #[error("head record {path} is corrupt ({detail}); the log's true length is unknown")]
    Corrupt { path: PathBuf, detail: String },
}

impl From<HeadError> for super::StoreError {
    fn from(e: HeadError) -> Self {
        match e {
            HeadError::Io { path, source } => super::StoreError::Io { path, source },
            HeadError::Corrupt { path, detail } => super::StoreError::Corrupt {
                what: "head record",
                detail: format!("{}: {detail}", path.display()),
            },
        }
    }
}

fn checksum(bytes: &[u8]) -> [u8; 8] {
    let mut h = blake3::Hasher::new();
    h.update(DOMAIN);
    h.update(bytes);
    let mut out = [0u8; 8];
    out.copy_from_slice(&h.finalize().as_bytes()[..8]);
    out
}

fn encode(generation: u64, head: &Head) -> [u8; SLOT] {
    let mut s = [0u8; SLOT];
    s[..8].copy_from_slice(MAGIC);
    s[8..16].copy_from_slice(&generation.to_le_bytes());
    s[16..24].copy_from_slice(&head.size.to_le_bytes());
    s[24..56].copy_from_slice(&head.hash);
    let c = checksum(&s[..56]);
    s[56..].copy_from_slice(&c);
    s
}

fn decode(s: &[u8]) -> Option<(u64, Head)> {
    if s.len() != SLOT || &s[..8] != MAGIC || s[56..] != checksum(&s[..56]) {
        return None;
    }
    let generation = u64::from_le_bytes(s[8..16].try_into().ok()?);
    let size = u64::from_le_bytes(s[16..24].try_into().ok()?);
    let mut hash = [0u8; 32];
    hash.copy_from_slice(&s[24..56]);
    Some((generation, Head { size, hash }))
}

/// The path of the head record of data directory `dir`.
pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// Reads the head record of `dir` without changing anything: `None` when the file does
/// not exist. A slot that fails its checksum is ignored (a torn write); both failing is
/// [`HeadError::Corrupt`].
pub fn read(dir: &Path) -> Result<Option<Head>, HeadError> {
    Ok(read_slots(&path(dir))?.map(|(_, h)| h))
}

fn read_slots(path: &Path) -> Result<Option<(u64, Head)>, HeadError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(HeadError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    if bytes.len() != 2 * SLOT {
        return Err(HeadError::Corrupt {
            path: path.to_path_buf(),
            detail: format!("{} bytes instead of {}", bytes.len(), 2 * SLOT),
        });
    }
    let best = [decode(&bytes[..SLOT]), decode(&bytes[SLOT..])]
        .into_iter()
        .flatten()
        .max_by_key(|(g, _)| *g);
    match best {
        Some(b) => Ok(Some(b)),
        None => Err(HeadError::Corrupt {
            path: path.to_path_buf(),
            detail: "neither slot passes its checksum".into(),
        }),
    }
}

/// The open head record, for the one writer.
pub struct HeadFile {
    file: File,
    path: PathBuf,
    generation: u64,
    last: Option<Head>,
}

impl HeadFile {
    /// Opens the head record of `dir` for writing and makes it say `current` (the log's
    /// verified length and last hash), creating the file (and syncing its name) when it
    /// does not exist. The caller has checked that `current` is not behind the record.
    pub fn open(dir: &Path, current: Head) -> Result<HeadFile, HeadError> {
        let path = path(dir);
        let io = |source| HeadError::Io {
            path: dir.join(FILE_NAME),
            source,
        };
        let existing = read_slots(&path)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        let mut head = HeadFile {
            file,
            path,
            generation: existing.map_or(0, |(g, _)| g),
            last: existing.map(|(_, h)| h),
        };
        if existing.is_none() {
            // Both slots valid from the start: a crash at any point leaves a readable file.
            head.file
                .write_all_at(&[encode(0, &current), encode(1, &current)].concat(), 0)
                .map_err(io)?;
            head.file.sync_all().map_err(io)?;
            File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
            head.generation = 1;
            head.last = Some(current);
        } else if head.last != Some(current) {
            head.write(current)?;
        }
        Ok(head)
    }

    /// The head last written (or read at open).
    pub fn last(&self) -> Option<Head> {
        self.last
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `head` durably: one 64-byte `pwrite` of the older slot and an `fdatasync`.
    pub fn write(&mut self, head: Head) -> Result<(), HeadError> {
        let generation = self.generation + 1;
        let offset = (generation % 2) * SLOT as u64;
        let io = |source| HeadError::Io {
            path: self.path.clone(),
            source,
        };
        self.file
            .write_all_at(&encode(generation, &head), offset)
            .map_err(io)?;
        self.file.sync_data().map_err(io)?;
        self.generation = generation;
        self.last = Some(head);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(size: u64) -> Head {
        Head {
            size,
            hash: [size as u8; 32],
        }
    }

    #[test]
    fn slots_alternate_and_the_newest_valid_one_wins() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), None);
        let mut f = HeadFile::open(dir.path(), head(0)).unwrap();
        assert_eq!(f.last(), Some(head(0)));
        assert_eq!(read(dir.path()).unwrap(), Some(head(0)));
        f.write(head(4)).unwrap();
        f.write(head(9)).unwrap();
        assert_eq!(read(dir.path()).unwrap(), Some(head(9)));
        // A torn write of the newer slot (generation 3, slot 1) falls back to the older.
        let p = path(dir.path());
        let mut bytes = std::fs::read(&p).unwrap();
        bytes[SLOT + 20] ^= 1;
        std::fs::write(&p, &bytes).unwrap();
        assert_eq!(read(dir.path()).unwrap(), Some(head(4)));
        bytes[30] ^= 1;
        std::fs::write(&p, &bytes).unwrap();
        assert!(matches!(read(dir.path()), Err(HeadError::Corrupt { .. })));
        std::fs::write(&p, [0u8; 7]).unwrap();
        assert!(matches!(read(dir.path()), Err(HeadError::Corrupt { .. })));
    }

    #[test]
    fn reopening_continues_the_generation() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = HeadFile::open(dir.path(), head(0)).unwrap();
        f.write(head(1)).unwrap();
        drop(f);
        let mut f = HeadFile::open(dir.path(), head(1)).unwrap();
        assert_eq!(f.last(), Some(head(1)));
        f.write(head(2)).unwrap();
        f.write(head(3)).unwrap();
        assert_eq!(read(dir.path()).unwrap(), Some(head(3)));
    }
}
