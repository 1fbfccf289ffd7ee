//! Failed authentications: counted per source address and per token id (rules in
//! `domain::auth_failures`), throttled, and recorded as aggregated `auth_failures`
//! events in the system stream.
//!
//! **Invariant:** a valid token never touches this module (only failures are counted),
//! so its fast path gains no lock. The tracker's memory is bounded: past
//! [`MAX_SOURCES`] sources, failures are counted under one overflow source `*`.

use super::Ledger;
use crate::domain::auth_failures::{Failure, Verdict, Window};
use crate::event::Body;
use crate::id::Id;
use std::collections::HashMap;

/// Sources tracked at once before failures share the overflow bucket.
pub const MAX_SOURCES: usize = 10_000;
const OVERFLOW: &str = "*";
const UNKNOWN: &str = "-";

/// Open counting windows.
#[derive(Default)]
pub(super) struct FailureTracker {
    sources: HashMap<String, Window>,
    tokens: HashMap<Id, Window>,
}

impl FailureTracker {
    /// Takes the windows that are over at `now_ms` (all of them when `all`), as events.
    fn drain(
        &mut self,
        now_ms: i64,
        all: bool,
        policy: &crate::domain::auth_failures::Policy,
    ) -> Vec<Body> {
        let mut out: Vec<(String, Body)> = Vec::new();
        self.sources.retain(|source, w| {
            let close = all || w.closed(now_ms, policy);
            if close && w.count > 0 {
                let s = (source != UNKNOWN).then_some(source.as_str());
                out.push((source.clone(), w.record(s)));
            }
            !close
        });
        self.tokens
            .retain(|_, w| !(all || w.closed(now_ms, policy)));
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out.into_iter().map(|(_, b)| b).collect()
    }
}

impl Ledger {
    /// Counts a failed authentication from `source` and answers it: 401, or 429 while the
    /// source or the token id is over its limit. Windows that are over are recorded.
    pub(super) fn auth_failed(&self, source: Option<&str>, failure: Failure) -> Verdict {
        let now = self.now();
        let policy = self.config.auth_failures;
        let (verdict, closed) = {
            let mut t = self.failures.lock().unwrap_or_else(|p| p.into_inner());
            let closed = t.drain(now, false, &policy);
            let mut key = source.unwrap_or(UNKNOWN).to_string();
            if !t.sources.contains_key(&key) && t.sources.len() >= MAX_SOURCES {
                key = OVERFLOW.to_string();
            }
            let w = t.sources.entry(key).or_insert_with(|| Window::new(now));
            w.note(failure, now);
            let source_window = w.clone();
            let token_window = match failure {
                Failure::Token(id)
                    if t.tokens.len() < MAX_SOURCES || t.tokens.contains_key(&id) =>
                {
                    let tw = t.tokens.entry(id).or_insert_with(|| Window::new(now));
                    tw.note(failure, now);
                    Some(tw.clone())
                }
                Failure::Token(_) | Failure::Malformed => None,
            };
            (
                policy.verdict(&source_window, token_window.as_ref(), now),
                closed,
            )
        };
        let _ = self.stage_detached(closed);
        verdict
    }

    /// Records the counted failed authentications whose window is over (or every one,
    /// with `all`: at shutdown). Nobody waits for the records; they join the next commit.
    pub fn flush_auth_failures(&self, all: bool) {
        let _ = self.flush_auth_failures_rx(all);
    }

    /// [`Ledger::flush_auth_failures`], returning the receiver of the commit. With `all`
    /// (before a read of the system stream), open windows are closed early: their counts
    /// are recorded and start again from zero.
    pub(super) fn flush_auth_failures_rx(
        &self,
        all: bool,
    ) -> Option<super::pipeline::CommitReceiver> {
        let now = self.now();
        let policy = self.config.auth_failures;
        let closed = self
            .failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(now, all, &policy);
        self.stage_detached(closed)
    }
}
