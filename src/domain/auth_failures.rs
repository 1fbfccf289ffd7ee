//! The rule for failed authentications: how they are counted per source address and per
//! token id, when a source or a token id is throttled, and the aggregated event.
//!
//! The shell keeps one [`Window`] per source and one per token id, calls
//! [`Window::note`] for each failure with the time from the configured clock, and answers
//! per [`Policy::verdict`]. Valid tokens never reach this module: only failures are
//! counted, so the fast path of a valid token pays nothing.
//!
//! **Invariant:** an `auth_failures` event carries counts, times, the source address and
//! token *ids* (parsed from the token's public prefix) only: never a token's secret part.

use crate::event::Body;
use crate::id::Id;
use std::collections::BTreeSet;

/// At most this many distinct token ids are listed per aggregated event.
pub const MAX_TOKENS_LISTED: usize = 16;

/// Limits for failed authentications.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Length of a counting window.
    pub window_ms: i64,
    /// Failures from one source within a window before its failures are answered 429.
    pub source_limit: u64,
    /// Failures for one token id within a window before they are answered 429.
    pub token_limit: u64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            window_ms: 60_000,
            source_limit: 10,
            token_limit: 5,
        }
    }
}

/// What kind of token failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Not a token of ours at all (no id could be parsed).
    Malformed,
    /// A token with this id: unknown, wrong secret, expired, revoked or disabled.
    Token(Id),
}

/// Failures counted for one source (or one token id) in one window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    pub start_ms: i64,
    pub first_ms: i64,
    pub last_ms: i64,
    pub count: u64,
    pub malformed: u64,
    pub tokens: BTreeSet<Id>,
}

impl Window {
    /// An empty window starting at `now_ms`.
    pub fn new(now_ms: i64) -> Self {
        Window {
            start_ms: now_ms,
            first_ms: now_ms,
            last_ms: now_ms,
            count: 0,
            malformed: 0,
            tokens: BTreeSet::new(),
        }
    }

    /// Whether the window is over at `now_ms` (its failures no longer count).
    pub fn closed(&self, now_ms: i64, policy: &Policy) -> bool {
        now_ms >= self.start_ms + policy.window_ms
    }

    /// Counts one failure.
    pub fn note(&mut self, failure: Failure, now_ms: i64) {
        if self.count == 0 {
            self.first_ms = now_ms;
        }
        self.count += 1;
        self.last_ms = self.last_ms.max(now_ms);
        match failure {
            Failure::Malformed => self.malformed += 1,
            Failure::Token(id) if self.tokens.len() < MAX_TOKENS_LISTED => {
                self.tokens.insert(id);
            }
            Failure::Token(_) => {}
        }
    }

    /// Whole seconds until the window is over (at least 1), for `Retry-After`.
    pub fn retry_after_s(&self, now_ms: i64, policy: &Policy) -> u64 {
        let left = (self.start_ms + policy.window_ms - now_ms).max(1);
        u64::try_from((left + 999) / 1000).unwrap_or(1).max(1)
    }

    /// The aggregated event of this window for `source`.
    pub fn record(&self, source: Option<&str>) -> Body {
        Body::AuthFailures {
            source: source.map(str::to_string),
            first_ms: self.first_ms,
            last_ms: self.last_ms,
            count: self.count,
            malformed: self.malformed,
            tokens: self.tokens.iter().copied().collect(),
        }
    }
}

/// How a failed authentication is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// 401.
    Unauthenticated,
    /// 429 with `Retry-After`.
    Throttled { retry_after_s: u64 },
}

impl Policy {
    /// The answer to a failure, given the windows it was just counted in.
    pub fn verdict(&self, source: &Window, token: Option<&Window>, now_ms: i64) -> Verdict {
        let by_token = token.filter(|t| t.count > self.token_limit);
        if source.count > self.source_limit {
            let mut retry = source.retry_after_s(now_ms, self);
            if let Some(t) = by_token {
                retry = retry.max(t.retry_after_s(now_ms, self));
            }
            return Verdict::Throttled {
                retry_after_s: retry,
            };
        }
        match by_token {
            Some(t) => Verdict::Throttled {
                retry_after_s: t.retry_after_s(now_ms, self),
            },
            None => Verdict::Unauthenticated,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_failures_from_one_source_when_over_the_limit_then_throttled_until_the_window_ends() {
        let p = Policy::default();
        let mut w = Window::new(1_000);
        for i in 0..p.source_limit {
            w.note(Failure::Malformed, 1_000 + i as i64);
            assert_eq!(p.verdict(&w, None, 1_000), Verdict::Unauthenticated);
        }
        w.note(Failure::Token(Id([1; 16])), 2_000);
        assert_eq!(
            p.verdict(&w, None, 2_000),
            Verdict::Throttled { retry_after_s: 59 }
        );
        assert!(!w.closed(60_999, &p));
        assert!(w.closed(61_000, &p));
        assert_eq!(w.retry_after_s(60_999, &p), 1);
    }

    #[test]
    fn given_failures_for_one_token_id_when_over_its_limit_then_throttled() {
        let p = Policy::default();
        let id = Id([2; 16]);
        let source = Window::new(0);
        let mut token = Window::new(0);
        for _ in 0..=p.token_limit {
            token.note(Failure::Token(id), 10);
        }
        assert!(matches!(
            p.verdict(&source, Some(&token), 10),
            Verdict::Throttled { .. }
        ));
    }

    #[test]
    fn given_a_window_then_its_record_holds_counts_and_ids_only() {
        let mut w = Window::new(5);
        w.note(Failure::Malformed, 5);
        w.note(Failure::Token(Id([3; 16])), 9);
        w.note(Failure::Token(Id([3; 16])), 12);
        assert_eq!(
            w.record(Some("192.0.2.1")),
            Body::AuthFailures {
                source: Some("192.0.2.1".into()),
                first_ms: 5,
                last_ms: 12,
                count: 3,
                malformed: 1,
                tokens: vec![Id([3; 16])],
            }
        );
    }
}
