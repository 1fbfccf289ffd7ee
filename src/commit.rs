//! Group commit: many concurrent appends share one sled flush and one `fdatasync`.
//!
//! Appenders (holding the ledger's writer lock, so batches keep sequence order) push their
//! sealed events and key-ring changes into the open batch and get a receiver. One
//! committer thread repeatedly takes the whole open batch, writes it, makes it durable
//! (`Store::write_durable`), brings the projections up to date, and only then answers
//! every waiter of that batch. While it syncs, the next batch fills up: the busier the
//! ledger, the more events one sync covers.
//!
//! **Invariant:** a waiter is answered `Ok` only after the sync that covers its events.
//! **Invariant:** after a failed write or sync the committer is poisoned: the in-memory
//! state may be ahead of the disk, so every later append fails until restart (which
//! rebuilds state from the log).

use crate::event::SignedEvent;
use crate::projection;
use crate::store::{KeyOp, Store};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use tokio::sync::oneshot;

/// Why a commit did not happen.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommitError {
    /// Writing or syncing failed (now or earlier): answer 503, do not retry in-process.
    #[error("the ledger cannot be written: {0}")]
    Unavailable(String),
    /// The ledger is shutting down: answer 503; the client may retry elsewhere.
    #[error("the ledger is shutting down")]
    ShuttingDown,
}

type Waiter = oneshot::Sender<Result<(), CommitError>>;

#[derive(Default)]
struct Open {
    records: Vec<SignedEvent>,
    keyring: Vec<KeyOp>,
    waiters: Vec<Waiter>,
    shutdown: bool,
    poisoned: Option<String>,
}

struct Shared {
    open: Mutex<Open>,
    wake: Condvar,
    syncs: AtomicU64,
    events: AtomicU64,
}

/// Counters for benchmarks and `/v1/ready`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommitStats {
    pub syncs: u64,
    pub events: u64,
}

/// Handle to the committer thread.
pub struct Committer {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Committer {
    /// Starts the committer thread over `store`.
    pub fn start(store: Arc<Store>) -> Committer {
        let shared = Arc::new(Shared {
            open: Mutex::new(Open::default()),
            wake: Condvar::new(),
            syncs: AtomicU64::new(0),
            events: AtomicU64::new(0),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("credledger-commit".into())
            .spawn(move || run(&s, &store))
            .expect("spawning the committer thread");
        Committer {
            shared,
            thread: Mutex::new(Some(thread)),
        }
    }

    /// Queues events (in sequence order, after every earlier submission) and key-ring
    /// changes; the receiver resolves after they are durable.
    pub fn submit(
        &self,
        records: Vec<SignedEvent>,
        keyring: Vec<KeyOp>,
    ) -> oneshot::Receiver<Result<(), CommitError>> {
        let (tx, rx) = oneshot::channel();
        let mut open = self.shared.open.lock().expect("commit lock");
        if let Some(why) = &open.poisoned {
            let _ = tx.send(Err(CommitError::Unavailable(why.clone())));
        } else if open.shutdown {
            let _ = tx.send(Err(CommitError::ShuttingDown));
        } else {
            open.records.extend(records);
            open.keyring.extend(keyring);
            open.waiters.push(tx);
            self.shared.wake.notify_one();
        }
        rx
    }

    /// Whether a write or sync has failed.
    pub fn poisoned(&self) -> Option<String> {
        self.shared
            .open
            .lock()
            .expect("commit lock")
            .poisoned
            .clone()
    }

    /// Sync and event counters.
    pub fn stats(&self) -> CommitStats {
        CommitStats {
            syncs: self.shared.syncs.load(Ordering::Relaxed),
            events: self.shared.events.load(Ordering::Relaxed),
        }
    }

    /// Commits what is queued, then stops the thread. Later submissions fail.
    pub fn shutdown(&self) {
        self.shared.open.lock().expect("commit lock").shutdown = true;
        self.shared.wake.notify_one();
        if let Some(t) = self.thread.lock().expect("thread lock").take() {
            let _ = t.join();
        }
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn run(shared: &Shared, store: &Store) {
    loop {
        let (records, keyring, waiters) = {
            let mut open = shared.open.lock().expect("commit lock");
            while open.waiters.is_empty() && !open.shutdown {
                open = shared.wake.wait(open).expect("commit lock");
            }
            if open.waiters.is_empty() {
                return;
            }
            (
                std::mem::take(&mut open.records),
                std::mem::take(&mut open.keyring),
                std::mem::take(&mut open.waiters),
            )
        };
        let result = commit(store, &records, &keyring);
        if result.is_ok() {
            shared.syncs.fetch_add(1, Ordering::Relaxed);
            shared
                .events
                .fetch_add(records.len() as u64, Ordering::Relaxed);
        }
        let answer = result.map_err(|why| {
            tracing::error!(error = %why, "ledger write failed; refusing further writes until restart");
            let mut open = shared.open.lock().expect("commit lock");
            open.poisoned = Some(why.clone());
            for w in open.waiters.drain(..) {
                let _ = w.send(Err(CommitError::Unavailable(why.clone())));
            }
            CommitError::Unavailable(why)
        });
        for w in waiters {
            let _ = w.send(answer.clone());
        }
    }
}

fn commit(store: &Store, records: &[SignedEvent], keyring: &[KeyOp]) -> Result<(), String> {
    let raw: Vec<(u64, Vec<u8>)> = records.iter().map(|e| (e.seq(), e.to_record())).collect();
    store
        .write_durable(keyring, &raw)
        .map_err(|e| e.to_string())?;
    // Projections are caches: if this fails, the events are durable and the next open
    // catches the projections up from the log.
    let items = records
        .iter()
        .map(SignedEvent::event)
        .zip(raw.iter().map(|(_, r)| r.as_slice()));
    projection::apply_records(store.proj(), items).map_err(|e| e.to_string())
}
