//! Group commit: many concurrent appends share one durable step.
//!
//! Appenders (holding the ledger's writer lock, so batches keep sequence order) push their
//! sealed events and key-ring changes into the open batch and get a receiver. One
//! committer thread repeatedly takes the whole open batch and runs the durable step:
//! [`LogStore::append_durable`] (key ring, then records, flushed and `fdatasync`'d), hands
//! the new head to the head thread ([`head_sync`]: the ledger's own head record, one small
//! `pwrite` and an `fdatasync` of [`HeadFile`]; no write for a backend that advances its
//! own head row in the append's transaction, see `LogStore::stored_head`), applies the
//! projections, and hands the
//! waiters to the head thread, which answers them once the head that covers their batch
//! is durable. So the head sync of one batch overlaps its projections and the next
//! batch's log write, instead of running in sequence with them. While it syncs, the next
//! batch fills up: the busier the ledger, the more events one sync covers.
//!
//! **Invariant:** a waiter is answered `Ok` only after the records of its batch and the
//! head record that covers them are durable.
//! **Invariant:** after a failed write or sync the committer is poisoned: the in-memory
//! state may be ahead of the disk, so every later append fails until restart (which
//! rebuilds state from the log). [`CommitStats::durable`] always says how far the log is
//! durable.

use crate::event::SignedEvent;
use crate::projection;
use crate::store::head::{Head, HeadFile};
use crate::store::{Append, Backend, KeyOp, LogStore, StoreError};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use tokio::sync::oneshot;

mod head_sync;
use head_sync::HeadSync;

/// Why a commit did not happen.
#[derive(Debug, thiserror::Error, Clone)]
#[non_exhaustive]
pub enum CommitError {
    /// Writing or syncing failed (now or earlier; the error is the first failure): answer
    /// 503, do not retry in-process, restart.
    #[error("the ledger cannot be written: {0}")]
    Unavailable(#[source] Arc<StoreError>),
    /// The ledger is shutting down: answer 503; the client may retry elsewhere.
    #[error("the ledger is shutting down")]
    ShuttingDown,
    /// This node follows another node's writes ([`Committer::refusing`]): hand the
    /// request to the writer, or answer 503 (retryable).
    /// The string names the writer's address when the node knows it.
    #[error("this node does not write the ledger (another node holds the writer lease); the writer is at {0}: retry there")]
    NotWriter(String),
}

type Waiter = oneshot::Sender<Result<(), CommitError>>;

#[derive(Default)]
struct Open {
    records: Vec<SignedEvent>,
    keyring: Vec<KeyOp>,
    waiters: Vec<Waiter>,
    shutdown: bool,
    poisoned: Option<Arc<StoreError>>,
    /// The committer is blocked on [`Shared::wake`]: only then does a submission pay for
    /// a wake-up (a futex call); while it syncs, submissions just join the open batch.
    idle: bool,
}

struct Shared {
    open: Mutex<Open>,
    wake: Condvar,
    syncs: AtomicU64,
    events: AtomicU64,
    durable: AtomicU64,
    poisoned: AtomicBool,
}

/// Counters for benchmarks, `/v1/ready` and the shutdown report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Durable steps that wrote events.
    pub syncs: u64,
    /// Events made durable by this committer.
    pub events: u64,
    /// The log is durable up to here: events `0..durable` (covered by the head record).
    pub durable: u64,
    /// Whether a write failed (nothing after `durable` was acknowledged).
    pub poisoned: bool,
}

/// Handle to the committer thread.
pub struct Committer {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
    refusing: bool,
}

impl Committer {
    /// Starts the committer thread over `store`, writing `head` after every durable
    /// batch (`None` when the backend keeps its head with the log). `durable` is the
    /// log's length at start.
    pub fn start(store: Arc<dyn Backend>, head: Option<HeadFile>, durable: u64) -> Committer {
        let shared = Arc::new(Shared {
            open: Mutex::new(Open::default()),
            wake: Condvar::new(),
            syncs: AtomicU64::new(0),
            events: AtomicU64::new(0),
            durable: AtomicU64::new(durable),
            poisoned: AtomicBool::new(false),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("credledger-commit".into())
            .spawn(move || {
                let mut head = HeadSync::start(s.clone(), head, durable);
                run(&s, &*store, &head);
                head.shutdown();
            })
            .expect("spawning the committer thread");
        Committer {
            shared,
            thread: Mutex::new(Some(thread)),
            refusing: false,
        }
    }

    /// A committer for a node that does not write (a follower): no thread; every
    /// submission is answered [`CommitError::NotWriter`]. `durable` is the log's length.
    pub fn refusing(durable: u64) -> Committer {
        let shared = Arc::new(Shared {
            open: Mutex::new(Open {
                shutdown: true,
                ..Open::default()
            }),
            wake: Condvar::new(),
            syncs: AtomicU64::new(0),
            events: AtomicU64::new(0),
            durable: AtomicU64::new(durable),
            poisoned: AtomicBool::new(false),
        });
        Committer {
            shared,
            thread: Mutex::new(None),
            refusing: true,
        }
    }

    /// Whether this committer refuses every submission ([`Committer::refusing`]).
    pub fn is_refusing(&self) -> bool {
        self.refusing
    }

    /// Queues events (in sequence order, after every earlier submission) and key-ring
    /// changes; the receiver resolves after they are durable.
    pub fn submit(
        &self,
        records: Vec<SignedEvent>,
        keyring: Vec<KeyOp>,
    ) -> oneshot::Receiver<Result<(), CommitError>> {
        let (tx, rx) = oneshot::channel();
        let mut open = self.lock();
        if self.refusing {
            let _ = tx.send(Err(CommitError::NotWriter("(unknown)".into())));
        } else if let Some(why) = &open.poisoned {
            let _ = tx.send(Err(CommitError::Unavailable(why.clone())));
        } else if open.shutdown {
            let _ = tx.send(Err(CommitError::ShuttingDown));
        } else {
            open.records.extend(records);
            open.keyring.extend(keyring);
            open.waiters.push(tx);
            crate::metrics::queue_depth(open.records.len());
            if open.idle {
                open.idle = false;
                self.shared.wake.notify_one();
            }
        }
        rx
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        self.shared.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The first write failure, if one happened.
    pub fn poisoned(&self) -> Option<Arc<StoreError>> {
        self.lock().poisoned.clone()
    }

    /// Sync and event counters, and how far the log is durable.
    pub fn stats(&self) -> CommitStats {
        CommitStats {
            syncs: self.shared.syncs.load(Ordering::Relaxed),
            events: self.shared.events.load(Ordering::Relaxed),
            durable: self.shared.durable.load(Ordering::Acquire),
            poisoned: self.shared.poisoned.load(Ordering::Acquire),
        }
    }

    /// Commits what is queued, then stops the thread. Later submissions fail.
    pub fn shutdown(&self) {
        self.lock().shutdown = true;
        self.shared.wake.notify_one();
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

/// How far the log is durable, for threads beside the committer (the state snapshot
/// writer): a read-only view of [`CommitStats::durable`] and [`CommitStats::poisoned`].
#[derive(Clone)]
pub struct DurableWatch(Arc<Shared>);

impl DurableWatch {
    /// Events `0..durable()` are durable (covered by the head record).
    pub fn durable(&self) -> u64 {
        self.0.durable.load(Ordering::Acquire)
    }

    /// Whether a write failed (the in-memory state may be ahead of the log).
    pub fn poisoned(&self) -> bool {
        self.0.poisoned.load(Ordering::Acquire)
    }
}

impl DurableWatch {
    /// Refuses every queued and later submission because of `why`, found beside the
    /// committer (the background check of the log below a state snapshot): handled like
    /// a failed write.
    pub fn poison(&self, why: StoreError) {
        poison(&self.0, &Arc::new(why));
    }
}

impl Committer {
    /// A view of how far the log is durable.
    pub fn watch(&self) -> DurableWatch {
        DurableWatch(self.shared.clone())
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn run(shared: &Shared, store: &dyn Backend, head: &HeadSync) {
    // The end of the last batch handed to the head thread: a batch without records (key
    // ring changes only) is answered in order after it.
    let mut last_size = shared.durable.load(Ordering::Acquire);
    loop {
        let (records, keyring, waiters) = {
            let mut open = shared.open.lock().unwrap_or_else(|p| p.into_inner());
            while open.waiters.is_empty() && !open.shutdown {
                open.idle = true;
                open = shared.wake.wait(open).unwrap_or_else(|p| p.into_inner());
            }
            open.idle = false;
            if open.waiters.is_empty() {
                return;
            }
            (
                std::mem::take(&mut open.records),
                std::mem::take(&mut open.keyring),
                std::mem::take(&mut open.waiters),
            )
        };
        crate::metrics::queue_depth(0);
        match commit(store, head, &records, &keyring) {
            Ok(size) => {
                if !records.is_empty() {
                    crate::metrics::committed(records.len());
                    shared.syncs.fetch_add(1, Ordering::Relaxed);
                    shared
                        .events
                        .fetch_add(records.len() as u64, Ordering::Relaxed);
                }
                last_size = size.unwrap_or(last_size);
                head.answer_after(last_size, waiters);
            }
            Err(why) => {
                crate::metrics::audit_write_failure();
                let why = Arc::new(why);
                poison(shared, &why);
                for w in waiters {
                    let _ = w.send(Err(CommitError::Unavailable(why.clone())));
                }
            }
        }
    }
}

/// After a failed write or sync: log it, refuse every queued and later submission.
fn poison(shared: &Shared, why: &Arc<StoreError>) {
    tracing::error!(
        error = %why,
        durable = shared.durable.load(Ordering::Acquire),
        "ledger write failed; refusing further writes until restart"
    );
    shared.poisoned.store(true, Ordering::Release);
    let mut open = shared.open.lock().unwrap_or_else(|p| p.into_inner());
    if open.poisoned.is_none() {
        open.poisoned = Some(why.clone());
    }
    for w in open.waiters.drain(..) {
        let _ = w.send(Err(CommitError::Unavailable(why.clone())));
    }
}

/// The durable step of one batch: log (and key ring), the head handed over, projections.
/// Returns the log's new length (`None` for a batch without records).
fn commit(
    store: &dyn Backend,
    head: &HeadSync,
    records: &[SignedEvent],
    keyring: &[KeyOp],
) -> Result<Option<u64>, StoreError> {
    let raw: Vec<(u64, Vec<u8>)> = records.iter().map(|e| (e.seq(), e.to_record())).collect();
    let borrowed: Vec<(u64, &[u8])> = raw.iter().map(|(s, r)| (*s, r.as_slice())).collect();
    let started = std::time::Instant::now();
    LogStore::append_durable(
        store,
        Append {
            keyring,
            records: &borrowed,
        },
    )?;
    crate::metrics::synced(started.elapsed());
    let Some(last) = records.last() else {
        return Ok(None);
    };
    let size = last.seq() + 1;
    head.advance(Head {
        size,
        hash: *last.hash(),
    });
    // Projections are caches: if this fails, the events are durable and the next open
    // catches the projections up from the log (the committer is poisoned meanwhile, so
    // no read is served from projections that miss an acknowledged event).
    let items = records
        .iter()
        .map(SignedEvent::event)
        .zip(raw.iter().map(|(_, r)| r.as_slice()));
    projection::apply_records(store.proj(), items)?;
    Ok(Some(size))
}
