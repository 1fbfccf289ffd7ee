//! The witness's durable state: for each origin, the latest checkpoint it
//! cosigned, and the evidence it keeps of refused checkpoints.
//!
//! Layout under the witness's data directory:
//!
//! - `logs/<64 hex digits of SHA-256(origin)>`: the file
//!   `credledger-witness-state v1\n` followed by the signed checkpoint note
//!   exactly as received (the log's signatures, no cosignatures). The size
//!   and root are read back from the note's text.
//! - `evidence/<16 hex of SHA-256(origin)>-<size>-<unix seconds>-<16 hex of
//!   SHA-256(body)>`: the body of an
//!   `add-checkpoint` request whose log signature verified but which was
//!   refused as not extending the cosigned head (a proof that does not
//!   verify, the same size with another root, a bad empty root). Kept for
//!   whoever investigates the log; never read by the witness.
//!
//! **Invariant:** [`StateStore::save`] returns only once the new state is
//! durable: it writes a temporary file, fsyncs it, renames it over the old
//! one and fsyncs the directory (`fsutil::write_private_atomic`), so a crash
//! leaves the old state or the new one, never a mix. The witness answers a
//! request only after that.
//! **Invariant:** a state file that cannot be read back is an error, never
//! "no state": treating a lost head as absent would let the witness cosign a
//! rollback or a fork.

use super::check::TreeHead;
use crate::fsutil::write_private_atomic;
use crate::note::{parse_note, Checkpoint};
use sha2::{Digest, Sha256};
use std::io;
use std::path::{Path, PathBuf};

/// The first line of a state file.
const HEADER: &str = "credledger-witness-state v1\n";

/// Why the state could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// Reading or creating a file or directory failed. The witness does not
    /// start (or answers 500 and stops serving the origin); fix the disk or
    /// permissions and restart.
    #[error("witness state {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// A state file is not a state file of this origin. The witness refuses
    /// to start: restore the file from a backup. Deleting it would make the
    /// witness trust the next checkpoint it sees, rollback or fork included.
    #[error("witness state {path} is corrupt: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// The latest cosigned checkpoint of one origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Latest {
    /// Its size and root.
    pub head: TreeHead,
    /// The signed note as received.
    pub note: String,
}

/// The witness's state directory.
#[derive(Debug)]
pub struct StateStore {
    logs: PathBuf,
    evidence: PathBuf,
}

impl StateStore {
    /// Opens (creating them if needed) `logs/` and `evidence/` under `dir`.
    pub fn open(dir: &Path) -> Result<StateStore, StateError> {
        let logs = dir.join("logs");
        let evidence = dir.join("evidence");
        for d in [&logs, &evidence] {
            create_dir_durably(d).map_err(|source| StateError::Io {
                path: d.clone(),
                source,
            })?;
        }
        Ok(StateStore { logs, evidence })
    }

    fn path(&self, origin: &str) -> PathBuf {
        self.logs
            .join(hex::encode(Sha256::digest(origin.as_bytes())))
    }

    /// Reads the latest cosigned checkpoint of `origin`, if there is one.
    pub fn load(&self, origin: &str) -> Result<Option<Latest>, StateError> {
        let path = self.path(origin);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StateError::Io { path, source }),
        };
        let corrupt = |reason: String| StateError::Corrupt {
            path: path.clone(),
            reason,
        };
        let text = String::from_utf8(bytes).map_err(|_| corrupt("not UTF-8".into()))?;
        let note = text
            .strip_prefix(HEADER)
            .ok_or_else(|| corrupt("no state header".into()))?;
        let parsed = parse_note(note).map_err(|e| corrupt(e.to_string()))?;
        let cp = Checkpoint::parse_body(&parsed.text).map_err(|e| corrupt(e.to_string()))?;
        if cp.origin != origin {
            return Err(corrupt(format!("it holds origin {:?}", cp.origin)));
        }
        Ok(Some(Latest {
            head: TreeHead {
                size: cp.size,
                root: cp.root,
            },
            note: note.to_owned(),
        }))
    }

    /// Makes `latest` the durable state of `origin` (see the invariant).
    pub fn save(&self, origin: &str, latest: &Latest) -> io::Result<()> {
        let mut bytes = String::with_capacity(HEADER.len() + latest.note.len());
        bytes.push_str(HEADER);
        bytes.push_str(&latest.note);
        write_private_atomic(&self.path(origin), bytes.as_bytes())
    }

    /// Keeps the body of a refused, log-signed request as evidence and
    /// returns the file's path.
    pub fn save_evidence(
        &self,
        origin: &str,
        size: u64,
        now: u64,
        body: &str,
    ) -> io::Result<PathBuf> {
        let origin_hash = hex::encode(Sha256::digest(origin.as_bytes()));
        let body_hash = hex::encode(Sha256::digest(body.as_bytes()));
        let path = self.evidence.join(format!(
            "{}-{size}-{now}-{}",
            &origin_hash[..16],
            &body_hash[..16]
        ));
        write_private_atomic(&path, body.as_bytes())?;
        Ok(path)
    }
}

/// Creates a directory (mode 0700) if it is missing, and syncs its parent so
/// the new entry survives a crash.
fn create_dir_durably(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {
            let parent = dir.parent().unwrap_or(Path::new("."));
            std::fs::File::open(parent)?.sync_all()
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note::sign_checkpoint;
    use ed25519_dalek::SigningKey;

    fn note(origin: &str, size: u64) -> String {
        let cp = Checkpoint {
            origin: origin.into(),
            size,
            root: [size as u8; 32],
            extensions: vec![],
        };
        sign_checkpoint(&cp, origin, &SigningKey::from_bytes(&[1; 32])).unwrap()
    }

    #[test]
    fn saves_and_loads_per_origin() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path()).unwrap();
        assert_eq!(store.load("a/log").unwrap(), None);
        let latest = Latest {
            head: TreeHead {
                size: 5,
                root: [5; 32],
            },
            note: note("a/log", 5),
        };
        store.save("a/log", &latest).unwrap();
        assert_eq!(store.load("a/log").unwrap(), Some(latest.clone()));
        assert_eq!(store.load("b/log").unwrap(), None);
        // Reopening reads the same state.
        let again = StateStore::open(dir.path()).unwrap();
        assert_eq!(again.load("a/log").unwrap(), Some(latest));
    }

    #[test]
    fn a_corrupt_or_misplaced_file_is_an_error_not_an_absence() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path()).unwrap();
        for bad in [
            b"".to_vec(),
            b"credledger-witness-state v1\n".to_vec(),
            b"garbage".to_vec(),
            vec![0xff, 0xfe],
            format!("{HEADER}{}", note("a/log", 3)).as_bytes()[..40].to_vec(),
        ] {
            std::fs::write(store.path("a/log"), bad).unwrap();
            assert!(matches!(
                store.load("a/log"),
                Err(StateError::Corrupt { .. })
            ));
        }
        // Another origin's state under this origin's name.
        std::fs::write(store.path("a/log"), format!("{HEADER}{}", note("b/log", 3))).unwrap();
        assert!(matches!(
            store.load("a/log"),
            Err(StateError::Corrupt { .. })
        ));
    }

    #[test]
    fn evidence_files_do_not_overwrite_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path()).unwrap();
        let a = store.save_evidence("o", 3, 10, "one").unwrap();
        let b = store.save_evidence("o", 3, 10, "two").unwrap();
        assert_ne!(a, b);
        assert_eq!(std::fs::read_to_string(a).unwrap(), "one");
    }
}
