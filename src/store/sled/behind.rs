//! Projections written behind: [`ProjectionStore::apply`](crate::store::ProjectionStore)
//! changes a map in memory, and a thread of its own writes what gathered to sled's `proj`
//! tree as one `apply_batch` (with the watermark) every [`AGE`], or sooner when
//! [`FLUSH_KEYS`] keys or [`FLUSH_BYTES`] bytes are waiting.
//!
//! Why: sled 0.34 rolls its I/O buffer twice in every `apply_batch` (`pin_log`), and each
//! roll hands a write to its thread pool, whose every job wakes all its idle threads
//! (`notify_all`). One batch per group commit cost ~14 % of the server's CPU in context
//! switches of sled's I/O threads alone (docs/PERFORMANCE.md, eighth pass); a key changed by
//! every event (a credential's usage, its open audit chunk, the Merkle tiles) was written
//! to sled's log once per commit instead of once per flush.
//!
//! **Invariants:**
//! - Reads see every applied change: a key is looked up in the waiting map, then in the
//!   map being written, then in sled; a scan merges the same three, the waiting map
//!   winning. A key leaves the map being written only after sled holds its value. The
//!   watermark key (`w`) reads as the last apply's, so a scan of the whole tree is the
//!   same whether or not sled has been written.
//! - sled holds, after any crash, exactly the projections of some watermark: each write
//!   is one `apply_batch` of everything applied up to the watermark it carries. What was
//!   waiting is lost in a crash and caught up from the log on open, as projections are.
//! - One writer at a time (`write`): the thread, a caller over the hard cap
//!   ([`HARD_KEYS`], [`HARD_BYTES`]), a clear, or the final write when the store closes.

use super::{guard, WATERMARK};
use crate::store::{Entry, Seq, StoreError};
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The longest a change waits in memory before the thread writes it.
pub(super) const AGE: Duration = Duration::from_millis(100);
/// Keys waiting that make the thread write at once.
pub(super) const FLUSH_KEYS: usize = 4096;
/// Bytes (keys and values) waiting that make the thread write at once.
pub(super) const FLUSH_BYTES: usize = 4 << 20;
/// Over this many keys waiting, the applier writes them itself (bounds the memory).
pub(super) const HARD_KEYS: usize = 4 * FLUSH_KEYS;
/// Over this many bytes waiting, the applier writes them itself.
pub(super) const HARD_BYTES: usize = 4 * FLUSH_BYTES;

type Changes = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

#[derive(Default)]
struct Pending {
    /// Changes not yet handed to a write; `None` deletes.
    waiting: Changes,
    bytes: usize,
    /// When the oldest waiting change was applied (`None`: nothing waits).
    since: Option<Instant>,
    /// The changes of the write in progress (empty outside one).
    writing: Arc<Changes>,
    /// The watermark of the last apply, when sled's is behind it.
    watermark: Option<Seq>,
    /// The first failed write: every later apply fails with it (the committer poisons).
    failed: Option<String>,
    stop: bool,
}

struct Shared {
    tree: ::sled::Tree,
    pending: Mutex<Pending>,
    wake: Condvar,
    write: Mutex<()>,
}

/// The write-behind layer over one `proj` tree; its thread is stopped, and everything
/// waiting written, when it is dropped.
pub(super) struct Behind {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Behind {
    pub(super) fn start(tree: ::sled::Tree) -> Behind {
        let shared = Arc::new(Shared {
            tree,
            pending: Mutex::new(Pending::default()),
            wake: Condvar::new(),
            write: Mutex::new(()),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("credledger-proj".into())
            .spawn(move || run(&s))
            .expect("spawning the projection writer");
        Behind {
            shared,
            thread: Some(thread),
        }
    }

    /// The value of `key`: `Some` when it is waiting or being written (`Some(None)`:
    /// deleted), `None` when sled has the latest.
    pub(super) fn get(&self, key: &[u8]) -> Option<Option<Vec<u8>>> {
        let p = self.shared.lock();
        if key == WATERMARK {
            return p.watermark.map(|w| Some(w.to_be_bytes().to_vec()));
        }
        p.waiting.get(key).or_else(|| p.writing.get(key)).cloned()
    }

    /// The watermark of the last apply, when sled has not been written up to it.
    pub(super) fn watermark(&self) -> Option<Seq> {
        self.shared.lock().watermark
    }

    /// Up to `limit` entries with `prefix`, from `start`: the changes in memory merged
    /// over `sled` (an ascending iterator of sled's entries from `start`).
    pub(super) fn scan(
        &self,
        prefix: &[u8],
        start: &[u8],
        limit: usize,
        sled: impl Iterator<Item = Result<Entry, StoreError>>,
    ) -> Result<Vec<Entry>, StoreError> {
        let mine: Vec<(Vec<u8>, Option<Vec<u8>>)> = {
            let p = self.shared.lock();
            let range = |m: &Changes| {
                m.range::<[u8], _>((Bound::Included(start), Bound::Unbounded))
                    .take_while(|(k, _)| k.starts_with(prefix))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<Changes>()
            };
            let mut merged = range(&p.writing);
            merged.extend(range(&p.waiting));
            // The watermark key reads as the last apply's, as if sled had it already.
            if let Some(w) = p.watermark {
                if WATERMARK >= start && WATERMARK.starts_with(prefix) {
                    merged.insert(WATERMARK.to_vec(), Some(w.to_be_bytes().to_vec()));
                }
            }
            merged.into_iter().collect()
        };
        merge(mine, sled, prefix, limit)
    }

    /// Takes `changes` and the new `watermark`; the thread writes them to sled later.
    pub(super) fn apply(
        &self,
        changes: &[(Vec<u8>, Option<Vec<u8>>)],
        watermark: Seq,
    ) -> Result<(), StoreError> {
        let over = {
            let mut p = self.shared.lock();
            if let Some(why) = &p.failed {
                return Err(failed(why));
            }
            let was_idle = p.since.is_none();
            for (k, v) in changes {
                p.bytes += k.len() + v.as_ref().map_or(0, Vec::len);
                p.waiting.insert(k.clone(), v.clone());
            }
            p.watermark = Some(watermark);
            p.since.get_or_insert_with(Instant::now);
            let full = p.waiting.len() >= FLUSH_KEYS || p.bytes >= FLUSH_BYTES;
            if was_idle || full {
                self.shared.wake.notify_one();
            }
            p.waiting.len() >= HARD_KEYS || p.bytes >= HARD_BYTES
        };
        if over {
            self.shared.write_waiting()?;
        }
        Ok(())
    }

    /// Writes everything waiting to sled now.
    pub(super) fn flush(&self) -> Result<(), StoreError> {
        self.shared.write_waiting()
    }

    /// Forgets everything waiting and empties the tree (before a rebuild). A failed
    /// write stays failed: the store is reopened after one.
    pub(super) fn clear(&self) -> Result<(), StoreError> {
        let _w = self.shared.lock_write();
        {
            let mut p = self.shared.lock();
            p.waiting.clear();
            p.bytes = 0;
            p.since = None;
            p.watermark = None;
        }
        guard("clearing the projections", || self.shared.tree.clear())
    }
}

impl Drop for Behind {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Err(e) = self.shared.write_waiting() {
            tracing::warn!(error = %e, "projections not written at close; they are caught up from the log at the next open");
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_write(&self) -> MutexGuard<'_, ()> {
        self.write.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes what is waiting (and the watermark) as one sled batch.
    fn write_waiting(&self) -> Result<(), StoreError> {
        let _w = self.lock_write();
        let (writing, watermark) = {
            let mut p = self.lock();
            if let Some(why) = &p.failed {
                return Err(failed(why));
            }
            let Some(watermark) = p.watermark else {
                return Ok(());
            };
            p.writing = Arc::new(std::mem::take(&mut p.waiting));
            (p.bytes, p.since) = (0, None);
            (p.writing.clone(), watermark)
        };
        let mut batch = ::sled::Batch::default();
        for (k, v) in writing.iter() {
            match v {
                Some(v) => batch.insert(k.as_slice(), v.as_slice()),
                None => batch.remove(k.as_slice()),
            }
        }
        batch.insert(WATERMARK, &watermark.to_be_bytes()[..]);
        let result = guard("writing the projections", || self.tree.apply_batch(batch));
        let mut p = self.lock();
        let writing = std::mem::take(&mut p.writing);
        match &result {
            Ok(()) if p.waiting.is_empty() && p.watermark == Some(watermark) => {
                p.watermark = None;
            }
            Ok(()) => {}
            Err(e) => {
                // Back under what was applied since, so reads still see every change.
                for (k, v) in writing.iter() {
                    if !p.waiting.contains_key(k) {
                        p.waiting.insert(k.clone(), v.clone());
                    }
                }
                p.failed = Some(e.to_string());
            }
        }
        result
    }
}

fn failed(why: &str) -> StoreError {
    StoreError::backend(std::io::Error::other(format!(
        "an earlier write of the projections failed: {why}"
    )))
}

/// The thread: writes when something has waited [`AGE`] or the map is full.
fn run(shared: &Shared) {
    let mut p = shared.lock();
    loop {
        let full = p.waiting.len() >= FLUSH_KEYS || p.bytes >= FLUSH_BYTES;
        let since = p.since;
        match since {
            _ if p.stop || p.failed.is_some() => return,
            Some(since) if full || since.elapsed() >= AGE => {
                drop(p);
                // A failure is kept in `failed` and returned by the next apply.
                let _ = shared.write_waiting();
                p = shared.lock();
            }
            Some(since) => {
                let left = AGE.saturating_sub(since.elapsed());
                p = shared
                    .wake
                    .wait_timeout(p, left)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            None => p = shared.wake.wait(p).unwrap_or_else(|e| e.into_inner()),
        }
    }
}

/// Merges `mine` (ascending, `None` deletes) over `sled` (ascending from the same start),
/// keeping keys with `prefix`, up to `limit` entries.
fn merge(
    mine: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    sled: impl Iterator<Item = Result<Entry, StoreError>>,
    prefix: &[u8],
    limit: usize,
) -> Result<Vec<Entry>, StoreError> {
    let mut out = Vec::new();
    let mut mine = mine.into_iter().peekable();
    let mut sled = sled.peekable();
    while out.len() < limit {
        // (take mine, mine equals theirs), decided before either iterator moves.
        let (take_mine, same) = {
            let theirs = match sled.peek() {
                Some(Ok((k, _))) if k.starts_with(prefix) => Some(k.as_slice()),
                Some(Ok(_)) | None => None,
                Some(Err(_)) => return Err(sled.next().expect("peeked").expect_err("peeked")),
            };
            match (mine.peek(), theirs) {
                (None, None) => break,
                (Some(_), None) => (true, false),
                (None, Some(_)) => (false, false),
                (Some((m, _)), Some(t)) => (m.as_slice() <= t, m.as_slice() == t),
            }
        };
        if !take_mine {
            if let Some(Ok(e)) = sled.next() {
                out.push(e);
            }
            continue;
        }
        let (k, v) = mine.next().expect("peeked");
        if same {
            sled.next();
        }
        if let Some(v) = v {
            out.push((k, v));
        }
    }
    Ok(out)
}

#[cfg(test)]
#[path = "behind_tests.rs"]
mod tests;
