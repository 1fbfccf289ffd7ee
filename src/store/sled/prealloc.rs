//! Zeros written ahead of the record file's end, on a thread of their own, so that an
//! append overwrites blocks the file already has and its `fdatasync` commits data only.
//!
//! An append past the file's size must also commit the new size (a journal commit on
//! ext4): on the machine of the seventh pass, one `fdatasync` per 64-byte record ran at
//! ~3,700/s appending to a growing file and ~6,500/s overwriting a preallocated one
//! (`cargo bench --bench ledger`, its first two lines). The zeros are written and synced
//! [`STEP`] bytes at a time, while the committer goes on, as long as fewer than [`AHEAD`]
//! zeroed bytes are left after the last frame.
//!
//! **Invariant:** the thread writes only at or after `reserved`, which the appender moves
//! past every byte it writes before writing it, under the same lock; so zeros never land
//! on a frame. An appender that finds its bytes in a range being zeroed waits for it. The
//! zeros after the last frame end what open reads (a zero header is not a frame: its
//! checksum fails), and count as no torn tail.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

/// Bytes zeroed and synced per step: small, so that an append's `fdatasync` (which
/// flushes every dirty page of the file) never has more than this many zeros to write.
pub(super) const STEP: u64 = 1 << 20;
/// Zero more while fewer than this many zeroed bytes are left after the last frame.
pub(super) const AHEAD: u64 = 8 << 20;

#[derive(Debug)]
struct State {
    /// Bytes `..ready` exist in the file (frames, or zeros made durable).
    ready: u64,
    /// Nothing below this is written by the thread: the end of what appenders claimed.
    reserved: u64,
    /// A range being zeroed now, `[from, to)`.
    zeroing: Option<(u64, u64)>,
    /// The last error of the thread (it then stops; appends go on growing the file).
    failed: bool,
    stop: bool,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

/// The zeroing thread of one record file; stopped and joined when dropped.
pub(super) struct Prealloc {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Prealloc {
    /// Starts the thread for `file`, whose frames end at `end` and whose bytes exist up to
    /// `ready` (zeros after `end`).
    pub(super) fn start(file: Arc<File>, end: u64, ready: u64) -> Prealloc {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                ready: ready.max(end),
                reserved: end,
                zeroing: None,
                failed: false,
                stop: false,
            }),
            changed: Condvar::new(),
        });
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("credledger-prealloc".into())
            .spawn(move || run(&worker, &file))
            .ok();
        Prealloc { shared, thread }
    }

    /// Claims `[from, to)` for an append: waits while any of it is being zeroed, then
    /// keeps the thread off it. Returns once the appender may write there.
    pub(super) fn claim(&self, from: u64, to: u64) {
        let mut s = self.lock();
        while s.zeroing.is_some_and(|(a, b)| from < b && a < to) {
            s = self
                .shared
                .changed
                .wait(s)
                .unwrap_or_else(|p| p.into_inner());
        }
        s.reserved = s.reserved.max(to);
        s.ready = s.ready.max(to);
        // Wake the thread only when it has zeros to write, not once per append.
        let wake = s.zeroing.is_none() && s.ready.saturating_sub(s.reserved) < AHEAD;
        drop(s);
        if wake {
            self.shared.changed.notify_all();
        }
    }

    /// Forgets the zeros after `end` (the file was truncated there).
    pub(super) fn truncated(&self, end: u64) {
        let mut s = self.lock();
        s.ready = end;
        s.reserved = end;
        drop(s);
        self.shared.changed.notify_all();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Prealloc {
    fn drop(&mut self) {
        self.lock().stop = true;
        self.shared.changed.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(shared: &Shared, file: &File) {
    let zeros = vec![0u8; STEP as usize];
    loop {
        let (from, to) = {
            let mut s = shared.state.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                if s.stop || s.failed {
                    return;
                }
                if s.ready.saturating_sub(s.reserved) < AHEAD {
                    break;
                }
                s = shared.changed.wait(s).unwrap_or_else(|p| p.into_inner());
            }
            let from = s.ready.max(s.reserved);
            s.zeroing = Some((from, from + STEP));
            (from, from + STEP)
        };
        let ok = file.write_all_at(&zeros, from).is_ok() && file.sync_data().is_ok();
        let mut s = shared.state.lock().unwrap_or_else(|p| p.into_inner());
        s.zeroing = None;
        if ok {
            s.ready = s.ready.max(to);
        } else {
            tracing::warn!(
                "writing zeros ahead of the record file failed; appends grow the file instead"
            );
            s.failed = true;
        }
        drop(s);
        shared.changed.notify_all();
    }
}
