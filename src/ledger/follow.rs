//! Following another node's writes: a ledger over a shared store that does not write
//! (a follower). It folds the log like any ledger, then applies what the writer commits
//! ([`Ledger::follow`], called by the cluster's tail loop) to its state and its local
//! projections, serves reads from them, and becomes the writer ([`Ledger::promote`])
//! when it takes the lease, without folding the log again.
//!
//! **Invariants:**
//! - a follower writes nothing to the store: its committer refuses every submission
//!   (`Committer::refusing`), and the pipeline refuses to stage before anything is
//!   sealed or applied, so its state is always the fold of committed events only;
//! - it applies events in order, each checked against the previous one's hash (as
//!   `fold_log` does), state first, then projections; [`Ledger::applied`] says how far
//!   both reach, and only grows.

use super::recovery::{self, Folded, PendingShred};
use super::{keycheck, Bootstrap, Config, Ledger, LedgerError, Writer};
use crate::commit::Committer;
use crate::event::Body;
use crate::integrity;
use crate::projection;
use crate::store::Backend;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// Records applied per [`Ledger::follow`] step at most.
const STEP: usize = 1024;

/// A follower's progress.
pub(super) struct Follow {
    applied: watch::Sender<u64>,
    pending_shred: Mutex<Option<PendingShred>>,
    /// A key rotation was applied since the last [`Ledger::take_key_change`].
    keys_changed: AtomicBool,
    /// Someone waits for events the tail has not applied yet.
    wanted: Mutex<bool>,
    wake: Condvar,
    /// Where the writer takes requests (from the lease), for this node's 503s.
    writer: Mutex<String>,
}

impl Ledger {
    /// Opens a follower over `store` (shared with a writer on another node): the log is
    /// folded and checked, the keys loaded and checked, the projections caught up, and
    /// nothing is written to the store. The log must not be empty (the writer
    /// bootstraps it).
    pub fn open_follower(config: Config, store: Arc<dyn Backend>) -> Result<Ledger, LedgerError> {
        let key = super::snapshot::mac_key(&config.data_dir, &*store)?;
        let (folded, _) = super::snapshot::fold_for_open(&*store, key.as_ref())?;
        if folded.next_seq == 0 {
            return Err(LedgerError::Startup(
                "the ledger is empty: its writer has not bootstrapped it yet".into(),
            ));
        }
        integrity::check_log(&*store, folded.next_seq, &config.data_dir)?;
        let (logged, _orphans) = recovery::read_keyring(&*store, &folded.state)?;
        recovery::check_keys_present(&folded.state, &logged)?;
        let keys = keycheck::load(&config, &*store, &folded.state, &logged, false)?;
        projection::catch_up(&*store, |_| {})?;
        let Folded {
            state,
            next_seq,
            last_hash,
            last_at,
            pending_shred,
        } = folded;
        let follow = Follow {
            applied: watch::Sender::new(next_seq),
            pending_shred: Mutex::new(pending_shred),
            keys_changed: AtomicBool::new(false),
            wanted: Mutex::new(false),
            wake: Condvar::new(),
            writer: Mutex::new("(unknown)".into()),
        };
        let writer = Writer {
            state,
            next_seq,
            last_hash,
            last_at,
            signing: keys.signing,
            masters: keys.masters,
            keyring: logged,
        };
        Self::assemble(
            config,
            store,
            Committer::refusing(next_seq),
            writer,
            keys.token_key,
            Some(follow),
        )
    }

    /// Sets the writer's address a follower names in its refusals.
    pub fn set_writer_address(&self, address: &str) {
        if let Some(f) = &self.follow {
            *f.writer.lock().unwrap_or_else(|p| p.into_inner()) = address.to_string();
        }
    }

    /// The writer's address as this follower knows it.
    pub fn writer_address(&self) -> String {
        match &self.follow {
            Some(f) => f.writer.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            None => "(this node)".into(),
        }
    }

    /// The key nodes authenticate forwarded requests with (`cluster::forward`): derived
    /// from the token-hash key every node shares (and checks against the store).
    pub fn cluster_key(&self) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(blake3::derive_key(
            crate::cluster::forward::KEY_CONTEXT,
            &self.token_key[..],
        ))
    }

    /// Whether this ledger follows another node's writes.
    pub fn is_follower(&self) -> bool {
        self.follow.is_some()
    }

    /// How many log records the state and the projections reflect: a follower's applied
    /// length, a writer's durable length.
    pub fn applied(&self) -> u64 {
        match &self.follow {
            Some(f) => *f.applied.borrow(),
            None => self.committer.stats().durable,
        }
    }

    /// Applies the next records the writer committed (at most a step's worth); returns
    /// the applied length. A writer returns its durable length.
    pub fn follow(&self) -> Result<u64, LedgerError> {
        let Some(f) = &self.follow else {
            return Ok(self.applied());
        };
        let from = self.lock().next_seq;
        let chunk = self.store.read_range(from, STEP)?;
        if chunk.is_empty() {
            return Ok(from);
        }
        let mut events = Vec::with_capacity(chunk.len());
        {
            let mut w = self.lock();
            if w.next_seq != from {
                return Ok(w.next_seq);
            }
            let mut pending = f.pending_shred.lock().unwrap_or_else(|p| p.into_inner());
            for (seq, rec) in &chunk {
                let signed = recovery::next_event(*seq, rec, w.next_seq, &w.last_hash)?;
                recovery::note_shred(&signed, &mut pending);
                if matches!(
                    signed.event().body,
                    Body::MasterKeyRotated { .. } | Body::SigningKeyRotated { .. }
                ) {
                    f.keys_changed.store(true, Ordering::Release);
                }
                w.state.apply(signed.event());
                w.last_hash = *signed.hash();
                w.last_at = signed.event().at_ms;
                w.next_seq += 1;
                events.push(signed.into_event());
            }
        }
        projection::apply_records(
            self.store.proj(),
            events.iter().zip(chunk.iter().map(|(_, r)| r.as_slice())),
        )?;
        let applied = from + chunk.len() as u64;
        f.applied.send_replace(applied);
        Ok(applied)
    }

    /// Waits (at most `timeout`) until this node has applied `seq` records; asks the
    /// tail loop to look now. Returns whether it got there.
    pub async fn wait_applied(&self, seq: u64, timeout: Duration) -> bool {
        let Some(f) = &self.follow else {
            let deadline = tokio::time::Instant::now() + timeout;
            while self.applied() < seq {
                if tokio::time::Instant::now() >= deadline {
                    return false;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            return true;
        };
        let mut rx = f.applied.subscribe();
        if *rx.borrow() >= seq {
            return true;
        }
        *f.wanted.lock().unwrap_or_else(|p| p.into_inner()) = true;
        f.wake.notify_all();
        tokio::time::timeout(timeout, rx.wait_for(|a| *a >= seq))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// For the tail loop: sleeps until someone waits for new events or `timeout` passes.
    pub fn wait_for_demand(&self, timeout: Duration) {
        let Some(f) = &self.follow else {
            std::thread::sleep(timeout);
            return;
        };
        let wanted = f.wanted.lock().unwrap_or_else(|p| p.into_inner());
        let (mut wanted, _) = f
            .wake
            .wait_timeout_while(wanted, timeout, |w| !*w)
            .unwrap_or_else(|p| p.into_inner());
        *wanted = false;
    }

    /// Whether a key rotation was applied since the last call (the node then fetches the
    /// writer's new key files).
    pub fn take_key_change(&self) -> bool {
        self.follow
            .as_ref()
            .is_some_and(|f| f.keys_changed.swap(false, Ordering::AcqRel))
    }

    /// Turns this follower, caught up with the log, into the writer: a new ledger over
    /// the same store with the same state, keys loaded and checked afresh, the committer
    /// started. The store must already append as this node (it took the lease).
    pub fn promote(&self, config: Config) -> Result<(Ledger, Option<Bootstrap>), LedgerError> {
        let Some(f) = &self.follow else {
            return Err(LedgerError::Startup(
                "only a follower can be promoted".into(),
            ));
        };
        let folded = {
            let w = self.lock();
            Folded {
                state: w.state.clone(),
                next_seq: w.next_seq,
                last_hash: w.last_hash,
                last_at: w.last_at,
                pending_shred: *f.pending_shred.lock().unwrap_or_else(|p| p.into_inner()),
            }
        };
        Ledger::open_folded(config, self.store.clone(), folded, 0)
    }
}
