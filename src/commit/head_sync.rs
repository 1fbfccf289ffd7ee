//! The head record's own thread: the head sync of batch *N* overlaps the projections of
//! batch *N* and the log write of batch *N+1*.
//!
//! The committer hands over each batch twice: [`HeadSync::advance`] as soon as the
//! batch's records are durable in the log (so the head may now say so), and
//! [`HeadSync::answer_after`] with the batch's waiters once its projections are applied.
//! This thread writes the newest head it was given (one `pwrite` and one `fdatasync` of
//! `DIR/head`, covering every batch advanced since the last write) and then answers
//! every waiter whose batch that head covers. Before this thread, the committer wrote the
//! head itself between the log's sync and the next batch, so two syncs ran in sequence
//! per batch and the next batch waited for both.
//!
//! **Invariants** (the same as before, see `commit.rs`):
//! - a head is written only after [`HeadSync::advance`], which the committer calls only
//!   after the records it covers are durable: the head never claims more than the log;
//! - a waiter is answered `Ok` only by a head write that covers its batch (or, when it
//!   is queued, one that already did): every acknowledged event is durable in the log
//!   and at or below a durable head;
//! - after a failed head write nothing more is acknowledged: every queued and later
//!   waiter gets the error and the committer is poisoned.

use super::{CommitError, Shared, Waiter};
use crate::store::head::{Head, HeadFile};
use crate::store::StoreError;
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

#[derive(Default)]
struct State {
    /// The newest head the log is durable for, not yet written.
    target: Option<Head>,
    /// The size of the last head written durably.
    written: u64,
    /// Batches waiting for a head write: (batch end, waiters), in increasing order.
    pending: VecDeque<(u64, Vec<Waiter>)>,
    failed: Option<Arc<StoreError>>,
    shutdown: bool,
}

struct Inner {
    state: Mutex<State>,
    wake: Condvar,
}

/// Handle to the head thread (owned by the committer thread).
pub(super) struct HeadSync {
    inner: Arc<Inner>,
    thread: Option<JoinHandle<()>>,
}

impl HeadSync {
    /// Starts the thread; `written` is the log's (and the head's) length at start. With
    /// no head file (a backend that advances its own head row in the append's
    /// transaction) a "write" only marks the head durable.
    pub(super) fn start(shared: Arc<Shared>, head: Option<HeadFile>, written: u64) -> HeadSync {
        let inner = Arc::new(Inner {
            state: Mutex::new(State {
                written,
                ..State::default()
            }),
            wake: Condvar::new(),
        });
        let i = inner.clone();
        let thread = std::thread::Builder::new()
            .name("credledger-head".into())
            .spawn(move || run(&i, &shared, head))
            .expect("spawning the head thread");
        HeadSync {
            inner,
            thread: Some(thread),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The log is durable up to `head`: the next head write may say so.
    pub(super) fn advance(&self, head: Head) {
        let mut s = self.lock();
        s.target = Some(head);
        self.inner.wake.notify_one();
    }

    /// Answers `waiters` once a durable head covers `size` events (now, if one does).
    pub(super) fn answer_after(&self, size: u64, waiters: Vec<Waiter>) {
        let mut s = self.lock();
        if let Some(why) = &s.failed {
            let why = why.clone();
            drop(s);
            for w in waiters {
                let _ = w.send(Err(CommitError::Unavailable(why.clone())));
            }
        } else if s.written >= size {
            drop(s);
            for w in waiters {
                let _ = w.send(Ok(()));
            }
        } else {
            s.pending.push_back((size, waiters));
        }
    }

    /// Writes the last head advanced to, answers its waiters, and stops the thread.
    pub(super) fn shutdown(&mut self) {
        self.lock().shutdown = true;
        self.inner.wake.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for HeadSync {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn run(inner: &Inner, shared: &Shared, mut file: Option<HeadFile>) {
    loop {
        let head = {
            let mut s = inner.state.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                if let Some(h) = s.target.take() {
                    break h;
                }
                if s.shutdown {
                    return;
                }
                s = inner.wake.wait(s).unwrap_or_else(|p| p.into_inner());
            }
        };
        let result = file.as_mut().map_or(Ok(()), |f| f.write(head));
        let mut s = inner.state.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok(()) => {
                s.written = head.size;
                shared.durable.store(head.size, Ordering::Release);
                let mut done = Vec::new();
                while s
                    .pending
                    .front()
                    .is_some_and(|(size, _)| *size <= head.size)
                {
                    done.extend(s.pending.pop_front().map(|(_, w)| w).unwrap_or_default());
                }
                drop(s);
                for w in done {
                    let _ = w.send(Ok(()));
                }
            }
            Err(e) => {
                let why = Arc::new(StoreError::from(e));
                s.failed = Some(why.clone());
                let pending: Vec<Waiter> = s.pending.drain(..).flat_map(|(_, w)| w).collect();
                drop(s);
                super::poison(shared, &why);
                for w in pending {
                    let _ = w.send(Err(CommitError::Unavailable(why.clone())));
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicU64};
    use std::time::Duration;
    use tokio::sync::oneshot;

    fn shared() -> Arc<Shared> {
        Arc::new(Shared {
            open: Mutex::new(super::super::Open::default()),
            wake: Condvar::new(),
            syncs: AtomicU64::new(0),
            events: AtomicU64::new(0),
            durable: AtomicU64::new(0),
            poisoned: AtomicBool::new(false),
        })
    }

    #[test]
    fn a_waiter_is_answered_only_after_a_head_that_covers_its_batch_is_durable() {
        let dir = tempfile::tempdir().unwrap();
        let zero = Head {
            size: 0,
            hash: [0; 32],
        };
        let file = HeadFile::open(dir.path(), zero).unwrap();
        let s = shared();
        let mut hs = HeadSync::start(s.clone(), Some(file), 0);
        let (tx1, mut rx1) = oneshot::channel();
        let (tx2, mut rx2) = oneshot::channel();
        hs.answer_after(1, vec![tx1]);
        hs.answer_after(2, vec![tx2]);
        std::thread::sleep(Duration::from_millis(50));
        assert!(rx1.try_recv().is_err(), "nothing advanced: no answer");
        let one = Head {
            size: 1,
            hash: [1; 32],
        };
        hs.advance(one);
        let answered = futures::executor::block_on(rx1);
        assert!(matches!(answered, Ok(Ok(()))));
        assert_eq!(crate::store::head::read(dir.path()).unwrap(), Some(one));
        assert!(s.durable.load(Ordering::Acquire) >= 1);
        std::thread::sleep(Duration::from_millis(50));
        assert!(rx2.try_recv().is_err(), "the head covers 1 event, not 2");
        let two = Head {
            size: 2,
            hash: [2; 32],
        };
        hs.advance(two);
        hs.shutdown();
        assert!(
            matches!(rx2.try_recv(), Ok(Ok(()))),
            "shutdown writes the last head first"
        );
        assert_eq!(crate::store::head::read(dir.path()).unwrap(), Some(two));
    }
}
