//! The state snapshot in the ledger's life: read and checked against the log at open (so
//! only the log's tail is folded), and written in the background by its own thread,
//! never by the append path.
//!
//! At open, a stored snapshot is used only if its MAC verifies under the key derived from
//! this ledger's token-hash key (itself first checked against its recorded check value),
//! its format version is this build's, and the log's event `covers - 1` exists and has
//! the hash the snapshot names; the tail from `covers` on is then folded with the usual
//! sequence and link checks, the first tail event linking to that hash. A snapshot that
//! fails any of this is **discarded with an error-level log line and the log is folded
//! in full**: the log is the truth and the snapshot only a shortcut, so a forged or
//! damaged snapshot can cost time but never change what the ledger believes, and a stale
//! one (a store restored from an older backup) is simply older. The full fold then runs
//! every check it always ran, and the writer thread replaces the discarded snapshot.
//!
//! The writer thread folds the *durable* log (never the in-memory state, so it takes no
//! lock and covers nothing that could still be lost) from the last stored snapshot on,
//! each time `Config::snapshot_every` more events became durable, or, when the last
//! snapshot was larger than `snapshot_every × SNAPSHOT_BYTES_PER_EVENT`, each time its size
//! over [`SNAPSHOT_BYTES_PER_EVENT`] did (writing a snapshot re-reads, decodes, folds and
//! re-encodes the whole state: with 100k credentials that is ~47 MB, and doing it every
//! 20k events cost more CPU than the resolves themselves; a larger state is folded from
//! a longer tail at open instead), and once more at shutdown when a tenth of that did.
//!
//! **Invariant:** nothing here changes the log, the key ring or the state of a running
//! ledger; a snapshot that is used folds to exactly the state a full fold gives
//! (`tests/snapshot.rs`).

use super::keycheck::TOKEN_CHECK;
use super::recovery::{self, Folded, PendingShred};
use super::{Ledger, LedgerError};
use crate::commit::DurableWatch;
use crate::event::SignedEvent;
use crate::keys;
use crate::snapshot::{self, MacKey, Refused};
use crate::store::{Backend, StoreError};
use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the writer thread looks at the durable count.
const POLL: Duration = Duration::from_millis(500);

/// The state bytes encoded per durable event at most, on average: a snapshot whose
/// body is `n` bytes before compression is next replaced after `max(snapshot_every, n /
/// SNAPSHOT_BYTES_PER_EVENT)` events (docs/PERFORMANCE.md, fourth pass), so the work of
/// encoding stays bounded per event and the bytes written are fewer still.
pub const SNAPSHOT_BYTES_PER_EVENT: u64 = 512;

/// Why a stored snapshot is not used (the log is then folded in full).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Unusable {
    /// The bytes themselves are refused (not a snapshot, another version, bad MAC, …).
    #[error(transparent)]
    Refused(#[from] Refused),
    /// The snapshot covers more events than the log holds.
    #[error("it covers {covers} events but the log holds {len}")]
    BeyondLog { covers: u64, len: u64 },
    /// The snapshot's last event does not decode.
    #[error("event {seq}, the last it covers, does not decode ({detail})")]
    Undecodable { seq: u64, detail: String },
    /// The log's event at the snapshot's position is another event.
    #[error("event {seq} in the log has hash {found}, the snapshot names {expected}: the log is not the one the snapshot was taken of")]
    HashMismatch {
        seq: u64,
        found: String,
        expected: String,
    },
    /// This ledger has no usable token-hash key yet (its key check decides at open).
    #[error("the token-hash key is missing or does not match its check value")]
    NoKey,
}

/// The snapshot key of the ledger in `dir` over `store`: derived from the token-hash key
/// file, if it exists and matches its recorded check value.
/// A key file that cannot be read gives no key here: the key check at open reports it.
pub(super) fn mac_key(dir: &Path, store: &dyn Backend) -> Result<Option<MacKey>, LedgerError> {
    let Ok(Some(token)) = keys::read_token_key(dir) else {
        return Ok(None);
    };
    let recorded = store.meta(TOKEN_CHECK)?;
    Ok(
        (recorded.as_deref() == Some(&keys::check_value(&token)[..]))
            .then(|| MacKey::derive(&token)),
    )
}

/// The log folded for open: from the stored snapshot when it can be used (see the module
/// documentation), else in full; with the number of events the used snapshot covers (0
/// without one).
pub(super) fn fold_for_open(
    store: &dyn Backend,
    key: Option<&MacKey>,
) -> Result<(Folded, u64), LedgerError> {
    let Some(bytes) = store.snapshot()? else {
        return Ok((recovery::fold_log(store)?, 0));
    };
    let checked = match key {
        Some(key) => from_snapshot(store, &bytes, key)?,
        None => Err(Unusable::NoKey),
    };
    match checked {
        Ok(base) => {
            let covers = base.next_seq;
            let folded = recovery::fold_tail(store, base, u64::MAX)?;
            tracing::info!(
                snapshot = covers,
                tail = folded.next_seq - covers,
                "opened from the state snapshot, folded the log's tail"
            );
            Ok((folded, covers))
        }
        Err(why) => {
            let (covers, _) = snapshot::peek(&bytes).unwrap_or_default();
            tracing::error!(
                covers,
                "the stored state snapshot is not used ({why}); folding the whole log instead"
            );
            Ok((recovery::fold_log(store)?, 0))
        }
    }
}

/// Starts the check of the log's first `covers` events, which an open from a snapshot
/// did not fold: their links are checked on a thread of their own (start-up does not
/// wait), and a broken one refuses every write from then on, as a failed write does
/// (reads go on; `credledger replay verify` names the damage), with an error line.
pub(super) fn check_below_in_background(store: Arc<dyn Backend>, covers: u64, watch: DurableWatch) {
    let spawned = std::thread::Builder::new()
        .name("credledger-snapshot-check".into())
        .spawn(move || {
            let started = std::time::Instant::now();
            match recovery::check_links(&*store, covers) {
            Ok(()) => tracing::info!(
                covers,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "the log below the state snapshot checks out"
            ),
            Err(why) => {
                tracing::error!(
                    covers,
                    error = %why,
                    "the log below the state snapshot is damaged: refusing writes; run `credledger replay verify`"
                );
                watch.poison(StoreError::Corrupt {
                    what: "log",
                    detail: why.to_string(),
                });
            }
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the check of the log below the state snapshot");
    }
}

/// A stored snapshot checked against the log: the fold of events `0..covers`.
pub(super) fn from_snapshot(
    store: &dyn Backend,
    bytes: &[u8],
    key: &MacKey,
) -> Result<Result<Folded, Unusable>, StoreError> {
    let snap = match snapshot::decode(bytes, key) {
        Ok(s) => s,
        Err(e) => return Ok(Err(e.into())),
    };
    let seq = snap.covers - 1;
    let Some(rec) = store.read(seq)? else {
        let len = store.next_seq()?;
        return Ok(Err(Unusable::BeyondLog {
            covers: snap.covers,
            len,
        }));
    };
    let signed = match SignedEvent::from_record(&rec) {
        Ok(s) => s,
        Err(e) => {
            return Ok(Err(Unusable::Undecodable {
                seq,
                detail: e.to_string(),
            }))
        }
    };
    if signed.seq() != seq || *signed.hash() != snap.hash {
        return Ok(Err(Unusable::HashMismatch {
            seq,
            found: hex::encode(signed.hash()),
            expected: hex::encode(snap.hash),
        }));
    }
    Ok(Ok(Folded {
        state: snap.state,
        next_seq: snap.covers,
        last_hash: snap.hash,
        last_at: signed.event().at_ms,
        pending_shred: snap
            .pending_shred
            .map(|(seq, credential)| PendingShred { seq, credential }),
    }))
}

/// Writes a snapshot of the log's events `0..until` (all durable), folded from the
/// stored snapshot when it can be used. Returns how many events the stored snapshot
/// covers afterwards and the size of the one written before compression (0 when none was
/// written).
pub(super) fn write(
    store: &dyn Backend,
    key: &MacKey,
    until: u64,
) -> Result<(u64, u64), LedgerError> {
    let base = match store.snapshot()? {
        Some(bytes) => from_snapshot(store, &bytes, key)?
            .ok()
            .filter(|b| b.next_seq <= until)
            .unwrap_or_else(Folded::empty),
        None => Folded::empty(),
    };
    if base.next_seq == until {
        return Ok((until, 0));
    }
    let folded = recovery::fold_tail(store, base, until)?;
    let pending = folded.pending_shred.map(|p| (p.seq, p.credential));
    let Some(bytes) = snapshot::encode(&folded.state, &folded.last_hash, pending, key) else {
        return Ok((0, 0));
    };
    store.put_snapshot_durable(&bytes)?;
    tracing::debug!(
        covers = folded.next_seq,
        bytes = bytes.len(),
        "wrote the state snapshot"
    );
    let size = snapshot::body_size(&bytes).unwrap_or(bytes.len() as u64);
    Ok((folded.next_seq, size))
}

/// The snapshot writer thread of a writing ledger (none on a follower).
pub(super) struct Snapshotter {
    stop: Mutex<Option<mpsc::Sender<()>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Events the snapshot used at open covered (0: none was used).
    covered_at_open: u64,
}

/// What the writer thread works with.
pub(super) struct Writes {
    pub(super) store: Arc<dyn Backend>,
    pub(super) key: MacKey,
    pub(super) watch: DurableWatch,
    pub(super) every: u64,
    /// Events the stored snapshot covered at open (0 without one).
    pub(super) covered: u64,
    /// The body size before compression of the last snapshot written (0: none written
    /// yet by this process).
    pub(super) size: u64,
}

impl Snapshotter {
    /// No thread.
    pub(super) fn off() -> Snapshotter {
        Snapshotter {
            stop: Mutex::new(None),
            thread: Mutex::new(None),
            covered_at_open: 0,
        }
    }

    /// Starts the writer thread (none when `w.every` is 0).
    pub(super) fn start(w: Writes) -> Snapshotter {
        let covered_at_open = w.covered;
        if w.every == 0 {
            return Snapshotter {
                stop: Mutex::new(None),
                thread: Mutex::new(None),
                covered_at_open,
            };
        }
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("credledger-snapshot".into())
            .spawn(move || run(w, &rx))
            .expect("spawning the snapshot thread");
        Snapshotter {
            stop: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            covered_at_open,
        }
    }

    /// Stops the thread, after its shutdown snapshot (call after the committer stopped).
    pub(super) fn stop(&self) {
        drop(self.stop.lock().unwrap_or_else(|p| p.into_inner()).take());
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

impl Drop for Snapshotter {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(mut w: Writes, stop: &mpsc::Receiver<()>) {
    loop {
        let stopping = !matches!(stop.recv_timeout(POLL), Err(RecvTimeoutError::Timeout));
        if w.watch.poisoned() {
            return;
        }
        let durable = w.watch.durable();
        let every = w.every.max(w.size / SNAPSHOT_BYTES_PER_EVENT);
        let due = match stopping {
            false => every,
            true => (every / 10).max(1),
        };
        if durable >= w.covered.saturating_add(due) {
            match write(&*w.store, &w.key, durable) {
                Ok((covered, size)) => {
                    w.covered = covered;
                    if size > 0 {
                        w.size = size;
                    }
                }
                Err(e) => tracing::warn!("could not write the state snapshot: {e}"),
            }
        }
        if stopping {
            return;
        }
    }
}

impl Ledger {
    /// How many events the state snapshot this ledger was opened from covers (0: it
    /// folded the whole log).
    pub fn opened_from_snapshot(&self) -> u64 {
        self.snapshots.covered_at_open
    }

    /// Writes a state snapshot of the durable log now (what the background thread does
    /// every `Config::snapshot_every` events) and returns how many events it covers.
    pub fn write_snapshot(&self) -> Result<u64, LedgerError> {
        let key = mac_key(&self.config.data_dir, &*self.store)?.ok_or_else(|| {
            LedgerError::Startup("the token-hash key does not match its check value".into())
        })?;
        Ok(write(&*self.store, &key, self.committer.stats().durable)?.0)
    }
}
