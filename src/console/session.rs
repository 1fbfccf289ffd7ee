//! Server-side console sessions: a random 256-bit id in a cookie, the API token held
//! here only, a per-session CSRF token, idle and absolute timeouts.
//!
//! **Invariants:**
//! - The cookie value is 32 random bytes (base64url); the store is keyed by its BLAKE3
//!   hash, so the table never holds a usable cookie and lookups do not compare secrets.
//! - The API token lives only in a [`SecretString`] (redacted, zeroized on drop) inside
//!   the table; it is never sent to the browser after sign-in and never logged.
//! - A session past its idle or absolute timeout is removed at its next use and reported
//!   as [`Lookup::Expired`], so the caller records why it ended; the table holds at most
//!   `max_sessions`, ending the oldest to make room.
//! - The clock is the ledger's (`Config.clock`), so tests move time by hand.

use crate::domain::Caller;
use crate::event::SessionEnd;
use crate::id::Id;
use crate::ledger::ConsoleConfig;
use crate::secret::SecretString;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use std::collections::HashMap;
use std::sync::Mutex;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// The session cookie's name.
pub const COOKIE: &str = "credledger_session";

/// One signed-in session.
pub struct Session {
    /// The public id recorded in `console_signed_in`/`console_signed_out`.
    pub public_id: Id,
    /// The caller as authenticated at sign-in (re-checked with the token on every use).
    pub caller: Caller,
    token: SecretString,
    csrf: String,
    created_ms: i64,
    last_ms: i64,
}

impl Session {
    /// The session's API token, to authenticate each request with.
    pub fn token(&self) -> &str {
        self.token.expose()
    }
}

/// What a request's session is, as of now.
pub enum Lookup {
    /// A live session (touched): its public id, caller, CSRF token and API token.
    Live(Live),
    /// A session that just ended by timeout (removed); record `reason`.
    Expired {
        public_id: Id,
        caller: Caller,
        reason: SessionEnd,
    },
    /// No such session.
    Missing,
}

/// A live session as a request sees it.
pub struct Live {
    pub public_id: Id,
    pub caller: Caller,
    pub csrf: String,
    pub token: SecretString,
}

/// The session table.
pub struct Sessions {
    limits: ConsoleConfig,
    table: Mutex<HashMap<[u8; 32], Session>>,
}

fn key(cookie: &str) -> [u8; 32] {
    *blake3::hash(cookie.as_bytes()).as_bytes()
}

/// 32 random bytes, base64url without padding (43 characters).
pub fn random_token() -> String {
    let mut raw = Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(raw.as_mut());
    B64URL.encode(raw.as_ref())
}

/// Compares two tokens in constant time.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

impl Sessions {
    pub fn new(limits: ConsoleConfig) -> Self {
        Sessions {
            limits,
            table: Mutex::new(HashMap::new()),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> ConsoleConfig {
        self.limits
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Opens a session for `caller` (signed in with `token` at `now_ms`); returns the
    /// cookie value and the sessions ended to make room (record them).
    pub fn open(
        &self,
        public_id: Id,
        caller: Caller,
        token: SecretString,
        now_ms: i64,
    ) -> (String, Vec<(Id, Caller)>) {
        let cookie = random_token();
        let mut table = self.lock();
        let mut evicted = Vec::new();
        while table.len() >= self.limits.max_sessions.max(1) {
            let Some(oldest) = table.iter().min_by_key(|(_, s)| s.last_ms).map(|(k, _)| *k) else {
                break;
            };
            if let Some(s) = table.remove(&oldest) {
                evicted.push((s.public_id, s.caller));
            }
        }
        table.insert(
            key(&cookie),
            Session {
                public_id,
                caller,
                token,
                csrf: random_token(),
                created_ms: now_ms,
                last_ms: now_ms,
            },
        );
        crate::metrics::console_sessions(table.len());
        (cookie, evicted)
    }

    /// The session of `cookie` at `now_ms`: live (and touched), just expired (removed),
    /// or missing.
    pub fn lookup(&self, cookie: &str, now_ms: i64) -> Lookup {
        let k = key(cookie);
        let mut table = self.lock();
        let Some(s) = table.get_mut(&k) else {
            return Lookup::Missing;
        };
        let reason = if now_ms - s.created_ms >= self.limits.absolute_timeout_ms {
            Some(SessionEnd::AbsoluteTimeout)
        } else if now_ms - s.last_ms >= self.limits.idle_timeout_ms {
            Some(SessionEnd::IdleTimeout)
        } else {
            None
        };
        if let Some(reason) = reason {
            let s = table.remove(&k).expect("present");
            crate::metrics::console_sessions(table.len());
            return Lookup::Expired {
                public_id: s.public_id,
                caller: s.caller,
                reason,
            };
        }
        s.last_ms = now_ms.max(s.last_ms);
        Lookup::Live(Live {
            public_id: s.public_id,
            caller: s.caller,
            csrf: s.csrf.clone(),
            token: SecretString::new(s.token().to_string()),
        })
    }

    /// Ends the session of `cookie`; returns what it was.
    pub fn close(&self, cookie: &str) -> Option<(Id, Caller)> {
        let mut table = self.lock();
        let closed = table.remove(&key(cookie)).map(|s| (s.public_id, s.caller));
        crate::metrics::console_sessions(table.len());
        closed
    }

    /// Removes every session past a timeout at `now_ms`; returns them with the reason.
    pub fn sweep(&self, now_ms: i64) -> Vec<(Id, Caller, SessionEnd)> {
        let limits = self.limits;
        let mut out = Vec::new();
        let mut table = self.lock();
        table.retain(|_, s| {
            let reason = if now_ms - s.created_ms >= limits.absolute_timeout_ms {
                SessionEnd::AbsoluteTimeout
            } else if now_ms - s.last_ms >= limits.idle_timeout_ms {
                SessionEnd::IdleTimeout
            } else {
                return true;
            };
            out.push((s.public_id, s.caller, reason));
            false
        });
        crate::metrics::console_sessions(table.len());
        out
    }

    /// Number of open sessions.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no session is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{PrincipalKind, Role};

    fn caller() -> Caller {
        Caller {
            tenant: Id([1; 16]),
            principal: Id([2; 16]),
            token: Id([3; 16]),
            role: Role::Admin,
            kind: PrincipalKind::User,
            system_admin: false,
        }
    }

    fn sessions() -> Sessions {
        Sessions::new(ConsoleConfig {
            idle_timeout_ms: 100,
            absolute_timeout_ms: 1000,
            secure_cookie: false,
            max_sessions: 2,
        })
    }

    #[test]
    fn idle_and_absolute_timeouts_end_sessions_with_their_reason() {
        let s = sessions();
        let (c, _) = s.open(Id([5; 16]), caller(), "tok".into(), 0);
        assert_eq!(c.len(), 43);
        for t in [50, 140, 230, 320, 410, 500, 590, 680, 770, 860, 950] {
            assert!(matches!(s.lookup(&c, t), Lookup::Live(_)), "{t}");
        }
        assert!(matches!(
            s.lookup(&c, 1000),
            Lookup::Expired {
                reason: SessionEnd::AbsoluteTimeout,
                ..
            }
        ));
        assert!(matches!(s.lookup(&c, 1001), Lookup::Missing));
        let (c, _) = s.open(Id([6; 16]), caller(), "tok".into(), 0);
        assert!(matches!(
            s.lookup(&c, 100),
            Lookup::Expired {
                reason: SessionEnd::IdleTimeout,
                ..
            }
        ));
    }

    #[test]
    fn the_table_is_bounded_and_keyed_by_hash() {
        let s = sessions();
        let (a, _) = s.open(Id([1; 16]), caller(), "a".into(), 0);
        let (_b, _) = s.open(Id([2; 16]), caller(), "b".into(), 1);
        let (_c, evicted) = s.open(Id([3; 16]), caller(), "c".into(), 2);
        assert_eq!(evicted.len(), 1);
        assert_eq!(evicted[0].0, Id([1; 16]));
        assert!(matches!(s.lookup(&a, 3), Lookup::Missing));
        assert!(s.lock().keys().all(|k| k.len() == 32));
        assert_eq!(s.sweep(10_000).len(), 2);
        assert!(s.is_empty());
    }

    #[test]
    fn tokens_compare_in_constant_time_by_content() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert!(!same_token("abc", "abcd"));
    }
}
