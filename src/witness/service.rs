//! The witness service: the configured logs, their latest cosigned heads, and
//! `add-checkpoint` from a parsed request to cosignature lines. The HTTP
//! layer (`server`) only parses, calls [`Witness::add_checkpoint`] and maps
//! the error to a status.
//!
//! **Invariant:** requests for one origin are serialised by that origin's
//! lock, held from reading the current head to the durable write of the new
//! one and the cosignature, so two racing requests cannot roll the state
//! back (the race c2sp.org/tlog-witness warns about). Requests for
//! different origins run in parallel.
//! **Invariant:** nothing is cosigned unless the log's signature verified
//! with a configured key, `check::check` accepted it, and the new head is
//! durable. If writing the state fails, the origin is *poisoned*: it answers
//! 503 until the witness restarts and reads the state back from disk.
//! **Invariant:** cosignature timestamps are read under the origin's lock
//! and never go backwards for an origin while the process runs.

use super::check::{self, Refusal, TreeHead};
use super::key::WitnessKey;
use super::protocol::AddCheckpoint;
use super::state::{Latest, StateError, StateStore};
use crate::note::cosignature::{CosignatureLine, CosignerKey};
use crate::note::{open_note, parse_verifier_key, Checkpoint, NoteError};
use ed25519_dalek::VerifyingKey;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

/// One log the witness accepts checkpoints from: its origin and the keys
/// whose signature it trusts for that origin (several during a rotation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// The checkpoint origin line.
    pub origin: String,
    /// The trusted keys: note key name and Ed25519 key.
    pub keys: Vec<(String, VerifyingKey)>,
}

impl LogConfig {
    /// A log whose origin is the name of its verifier key (credledger's rule,
    /// and the usual one), from the key string `<name>+<id>+<base64>`.
    pub fn from_verifier_key(vkey: &str) -> Result<LogConfig, NoteError> {
        let (name, _, key) = parse_verifier_key(vkey)?;
        Ok(LogConfig {
            origin: name.clone(),
            keys: vec![(name, key)],
        })
    }
}

/// Why the witness could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The state could not be read (see [`StateError`]).
    #[error(transparent)]
    State(#[from] StateError),
    /// The configuration is unusable: no log, an empty origin, a log
    /// without keys, or a log key equal to the witness's own key (which
    /// would let the log's signatures pass for cosignatures).
    #[error("witness configuration: {0}")]
    Config(String),
}

/// Why a checkpoint was not cosigned. [`AddCheckpointError::status`] gives
/// the HTTP status c2sp.org/tlog-witness prescribes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AddCheckpointError {
    /// The request or the note is malformed (400). Not retryable as is.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// The origin is not a configured log (404).
    #[error("unknown log origin {0:?}")]
    UnknownOrigin(String),
    /// No configured key of the origin signed the note validly, or one of
    /// them signed it badly (403).
    #[error("the checkpoint is not signed by a trusted key of its log: {0}")]
    Unauthenticated(NoteError),
    /// The checkpoint may not be cosigned (400, 409 or 422; see [`Refusal`]).
    #[error(transparent)]
    Refused(Refusal),
    /// An earlier state write for this origin failed, so it is not served
    /// until restart (503). Retry later.
    #[error("this log's state could not be written earlier; the witness must be restarted")]
    Poisoned,
    /// Writing the new state failed (500); the origin is now poisoned.
    #[error("writing the witness state failed: {0}")]
    Storage(#[source] std::io::Error),
    /// Two configured keys of the log share a name and key ID (500). Fix
    /// the witness's configuration.
    #[error("witness configuration: {0}")]
    Config(NoteError),
}

impl AddCheckpointError {
    /// The HTTP status of this error.
    pub fn status(&self) -> u16 {
        match self {
            AddCheckpointError::Malformed(_) => 400,
            AddCheckpointError::UnknownOrigin(_) => 404,
            AddCheckpointError::Unauthenticated(_) => 403,
            AddCheckpointError::Refused(r) => match r {
                Refusal::OldAfterNew { .. } | Refusal::ProofFromEmpty => 400,
                Refusal::SizeMismatch { .. } | Refusal::RootMismatch { .. } => 409,
                Refusal::BadProof(_) | Refusal::BadEmptyRoot => 422,
            },
            AddCheckpointError::Poisoned => 503,
            AddCheckpointError::Storage(_) | AddCheckpointError::Config(_) => 500,
        }
    }

    /// For a 409, the witness's latest size for the origin: the body of the
    /// answer (`<size>\n`, `text/x.tlog.size`).
    #[allow(
        clippy::wildcard_enum_match_arm,
        reason = "only the two conflicts carry a size"
    )]
    pub fn conflict_size(&self) -> Option<u64> {
        match self {
            AddCheckpointError::Refused(Refusal::SizeMismatch { current }) => Some(*current),
            AddCheckpointError::Refused(Refusal::RootMismatch { size }) => Some(*size),
            _ => None,
        }
    }
}

/// What the witness holds for one origin.
enum Slot {
    /// The latest cosigned checkpoint (none yet), and the last timestamp used.
    Ready {
        latest: Option<Latest>,
        last_timestamp: u64,
    },
    /// A state write failed; the disk may be ahead of memory.
    Poisoned,
}

struct Log {
    keys: Vec<(String, VerifyingKey)>,
    slot: Mutex<Slot>,
}

/// A witness: its key, its logs and their durable state.
pub struct Witness {
    key: WitnessKey,
    store: StateStore,
    logs: HashMap<String, Log>,
}

impl std::fmt::Debug for Witness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Witness")
            .field("key", &self.key)
            .field("logs", &self.logs.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Witness {
    /// Opens the witness state in `dir` for the configured `logs` (several
    /// entries with the same origin are merged) and reads each log's latest
    /// cosigned checkpoint.
    pub fn open(dir: &Path, key: WitnessKey, logs: Vec<LogConfig>) -> Result<Witness, OpenError> {
        if logs.is_empty() {
            return Err(OpenError::Config(
                "no log is configured (give --log-key or a config file)".into(),
            ));
        }
        let store = StateStore::open(dir)?;
        let mut merged: HashMap<String, Vec<(String, VerifyingKey)>> = HashMap::new();
        for log in logs {
            if log.origin.is_empty() || log.origin.contains('\n') {
                return Err(OpenError::Config(format!(
                    "invalid origin {:?}",
                    log.origin
                )));
            }
            if log.keys.is_empty() {
                return Err(OpenError::Config(format!(
                    "log {:?} has no key",
                    log.origin
                )));
            }
            if log.keys.iter().any(|(_, k)| k == key.cosigner().key()) {
                return Err(OpenError::Config(format!(
                    "log {:?} is configured with the witness's own public key",
                    log.origin
                )));
            }
            let keys = merged.entry(log.origin).or_default();
            for k in log.keys {
                if !keys.contains(&k) {
                    keys.push(k);
                }
            }
        }
        let mut out = HashMap::with_capacity(merged.len());
        for (origin, keys) in merged {
            let latest = store.load(&origin)?;
            out.insert(
                origin,
                Log {
                    keys,
                    slot: Mutex::new(Slot::Ready {
                        latest,
                        last_timestamp: 0,
                    }),
                },
            );
        }
        Ok(Witness {
            key,
            store,
            logs: out,
        })
    }

    /// The witness's public identity.
    pub fn cosigner(&self) -> &CosignerKey {
        self.key.cosigner()
    }

    /// The configured origins, sorted.
    pub fn origins(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.logs.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    /// The latest cosigned head of `origin` (None if unknown, never
    /// cosigned, or poisoned).
    pub fn latest(&self, origin: &str) -> Option<TreeHead> {
        let slot = lock(&self.logs.get(origin)?.slot);
        match &*slot {
            Slot::Ready { latest, .. } => latest.as_ref().map(|l| l.head),
            Slot::Poisoned => None,
        }
    }

    /// Handles one `add-checkpoint` request. `clock` returns the current
    /// POSIX time in seconds; it is read under the origin's lock, just
    /// before cosigning. `raw_body` is what is kept as evidence when a
    /// log-signed checkpoint is refused as a fork.
    pub fn add_checkpoint(
        &self,
        req: &AddCheckpoint,
        raw_body: &str,
        clock: &dyn Fn() -> u64,
    ) -> Result<Vec<CosignatureLine>, AddCheckpointError> {
        let origin = req.origin();
        let log = self
            .logs
            .get(origin)
            .ok_or_else(|| AddCheckpointError::UnknownOrigin(origin.to_owned()))?;
        let (text, _) = open_note(&req.note, &log.keys).map_err(note_error)?;
        let cp = Checkpoint::parse_body(&text)
            .map_err(|e| AddCheckpointError::Malformed(e.to_string()))?;
        let new = TreeHead {
            size: cp.size,
            root: cp.root,
        };
        let mut slot = lock(&log.slot);
        let Slot::Ready {
            latest,
            last_timestamp,
        } = &mut *slot
        else {
            return Err(AddCheckpointError::Poisoned);
        };
        let current = latest.as_ref().map(|l| l.head);
        if let Err(refusal) = check::check(current.as_ref(), req.old_size, &req.proof, &new) {
            if matches!(
                refusal,
                Refusal::BadProof(_) | Refusal::RootMismatch { .. } | Refusal::BadEmptyRoot
            ) {
                self.keep_evidence(origin, new.size, clock(), raw_body, &refusal);
            }
            return Err(AddCheckpointError::Refused(refusal));
        }
        if current != Some(new) {
            let next = Latest {
                head: new,
                note: req.note.clone(),
            };
            if let Err(e) = self.store.save(origin, &next) {
                *slot = Slot::Poisoned;
                tracing::error!(origin, error = %e, "witness state write failed; log poisoned until restart");
                return Err(AddCheckpointError::Storage(e));
            }
            *latest = Some(next);
        }
        let timestamp = clock().max(*last_timestamp);
        *last_timestamp = timestamp;
        let line = self
            .key
            .cosign(&text, timestamp)
            .map_err(|e| AddCheckpointError::Malformed(e.to_string()))?;
        Ok(vec![line])
    }

    fn keep_evidence(&self, origin: &str, size: u64, now: u64, body: &str, why: &Refusal) {
        match self.store.save_evidence(origin, size, now, body) {
            Ok(path) => tracing::warn!(
                origin,
                size,
                reason = %why,
                evidence = %path.display(),
                "refused a log-signed checkpoint that does not extend the cosigned one (possible fork)"
            ),
            Err(e) => tracing::warn!(
                origin,
                size,
                reason = %why,
                error = %e,
                "refused a possible fork; keeping the evidence failed"
            ),
        }
    }
}

/// Maps a note error to 400 (format), 403 (signatures) or 500 (config).
#[allow(
    clippy::wildcard_enum_match_arm,
    reason = "every note error not about signatures or configuration is a malformed request (400)"
)]
fn note_error(e: NoteError) -> AddCheckpointError {
    match e {
        NoteError::InvalidSignature { .. } | NoteError::NoVerifiedSignature => {
            AddCheckpointError::Unauthenticated(e)
        }
        NoteError::AmbiguousKey { .. } => AddCheckpointError::Config(e),
        other => AddCheckpointError::Malformed(other.to_string()),
    }
}

/// Locks a slot. A panic while holding it cannot leave a half-written head
/// (the head is replaced only after the durable write), so a poisoned mutex
/// is taken over.
fn lock(m: &Mutex<Slot>) -> std::sync::MutexGuard<'_, Slot> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
