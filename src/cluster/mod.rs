//! Several nodes over one shared store (PostgreSQL): who writes, and what the others do.
//!
//! One node at a time holds the writer lease ([`crate::store::lease::WriterLease`]); it
//! renews it from a [`Keeper`] thread. Every other node follows the log (a follower
//! ledger, `Ledger::open_follower`, tailed by [`tail`]) and serves reads from its own
//! projection cache; it forwards writes and resolves to the writer ([`forward`]) and
//! answers them with a retryable 503 naming the writer while there is none. When the lease expires, a follower takes it ([`try_become_writer`]),
//! which fences the old writer in the store, then opens the writer ledger afresh.
//!
//! **Invariants:**
//! - a node appends only as the epoch it took; the store refuses every append of an
//!   older epoch (the head row moved with the take-over), so two writers can never both
//!   commit, whatever the nodes' clocks or pauses;
//! - a keeper that cannot renew within the lease gives the epoch up locally
//!   ([`crate::store::lease::WriterLease::abandon`]) before the lease can expire, and
//!   says so ([`Keeper::lost`]); the node then stops writing and rebuilds its state from
//!   the log before it writes again;
//! - the lease's expiry is the store's clock; [`Keeper`] only decides how often to renew.

pub mod forward;

use crate::ledger::Ledger;
use crate::store::lease::{Taken, WriterLease};
use crate::store::StoreError;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The lease duration by default: a dead writer is replaced within about this long.
pub const DEFAULT_TTL: Duration = Duration::from_secs(3);

/// A random id for this node's lease (hex).
pub fn node_id() -> String {
    hex::encode(crate::id::Id::random().0)
}

/// Takes the lease if it is free: `Ok(Some)` when this node is now the writer.
pub fn try_become_writer(
    lease: &dyn WriterLease,
    holder: &str,
    address: &str,
    ttl: Duration,
) -> Result<Option<Taken>, StoreError> {
    let taken = lease.try_take(holder, address, ttl)?;
    if let Some(t) = taken {
        tracing::info!(
            epoch = t.epoch,
            head = t.head,
            "took the writer lease; the previous writer is fenced"
        );
    }
    Ok(taken)
}

/// Renews the lease of this node every third of its duration, on its own thread.
pub struct Keeper {
    stop: Arc<AtomicBool>,
    lost: Arc<AtomicBool>,
    notify: Arc<tokio::sync::Notify>,
    thread: Option<JoinHandle<()>>,
}

impl Keeper {
    /// Starts renewing `lease` (which this node holds) for `ttl` at a time.
    pub fn start(lease: Arc<dyn WriterLease>, ttl: Duration) -> Keeper {
        let stop = Arc::new(AtomicBool::new(false));
        let lost = Arc::new(AtomicBool::new(false));
        let notify = Arc::new(tokio::sync::Notify::new());
        let (s, l, n) = (stop.clone(), lost.clone(), notify.clone());
        let thread = std::thread::Builder::new()
            .name("credledger-lease".into())
            .spawn(move || keep(&*lease, ttl, &s, &l, &n))
            .expect("spawn the lease keeper");
        Keeper {
            stop,
            lost,
            notify,
            thread: Some(thread),
        }
    }

    /// Resolves when the lease is lost (or the keeper stopped).
    pub async fn lost(&self) {
        loop {
            let notified = self.notify.notified();
            if self.lost.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }

    /// Whether the lease was lost.
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::Acquire)
    }
}

impl Drop for Keeper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn keep(
    lease: &dyn WriterLease,
    ttl: Duration,
    stop: &AtomicBool,
    lost: &AtomicBool,
    notify: &tokio::sync::Notify,
) {
    let every = ttl / 3;
    let mut renewed = Instant::now();
    let give_up = |why: &str| {
        lease.abandon();
        tracing::error!(
            reason = why,
            "lost the writer lease: this node stops writing"
        );
        lost.store(true, Ordering::Release);
        notify.notify_waiters();
    };
    while !stop.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(50));
        if renewed.elapsed() < every {
            continue;
        }
        let asked = Instant::now();
        match lease.renew(ttl) {
            Ok(true) => renewed = asked,
            Ok(false) => return give_up("another node took the lease"),
            Err(e) => tracing::warn!(error = %e, "cannot renew the writer lease"),
        }
        // Give the epoch up before the lease can expire by the store's clock (a renewal
        // counts from when it was asked), keeping a margin for the round trip.
        if renewed.elapsed() + every / 2 >= ttl {
            return give_up("the lease could not be renewed in time");
        }
    }
}

/// Follows the writer's log into `ledger` (a follower) until `stop`: applies what is
/// there, then sleeps until a reader waits or `idle` passes.
pub fn tail(ledger: &Ledger, stop: &AtomicBool, idle: Duration) {
    let mut last = ledger.applied();
    while !stop.load(Ordering::Acquire) {
        match ledger.follow() {
            Ok(n) if n > last => last = n,
            Ok(_) => ledger.wait_for_demand(idle),
            Err(e) => {
                tracing::warn!(error = %e, "cannot follow the log");
                std::thread::sleep(idle);
            }
        }
    }
}
