//! Ledger configuration and the clock, resolved by the binary and passed down.

use crate::secret::SecretFields;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use zeroize::Zeroizing;

/// A source of "now" in Unix milliseconds. The shell passes the system clock; tests may
/// pass a fixed one.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 / 1_000_000)
}

/// The default of [`Config::snapshot_every`]: open folds at most this many events
/// after a crash (about half a second on the 2-core reference machine).
pub const DEFAULT_SNAPSHOT_EVERY: u64 = 20_000;

/// Ledger configuration, resolved by the binary and passed down.
#[derive(Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    /// Master keys in the key-file format, when they come from the environment instead of
    /// `DIR/keys/master.keys`. The ledger cannot rotate environment keys itself.
    pub master_keys_text: Option<Zeroizing<String>>,
    /// Environment fallbacks by service (any service name): the fields a resolve returns
    /// when nothing else is configured, in the tenants of `fallback_tenants` only.
    pub fallbacks: HashMap<String, SecretFields>,
    /// The names of the tenants the environment fallbacks apply to (default: `default`).
    pub fallback_tenants: Vec<String>,
    /// Limits for failed authentications (per source address and per token id).
    pub auth_failures: crate::domain::auth_failures::Policy,
    /// How many versions of a credential keep their data keys (at least 2).
    pub retain_versions: u32,
    /// The checkpoint origin (key name) for a new ledger.
    pub origin: Option<String>,
    pub clock: Clock,
    /// The Vault KV v2 mount served under `/v1/{mount}/` (default `secret`).
    pub vault_mount: String,
    /// Web console sessions (read by `console`; the ledger itself does not use them).
    pub console: ConsoleConfig,
    /// Webhook URLs may point at loopback, private and link-local addresses.
    pub webhook_allow_private: bool,
    /// Write a state snapshot in the background each time this many events became
    /// durable since the last one (and at shutdown when a tenth of it did); 0 never
    /// writes one. An existing snapshot is read at open either way.
    pub snapshot_every: u64,
}

/// Web console session limits, resolved by the binary (`serve --console-*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConsoleConfig {
    /// A session ends when no request came for this long (milliseconds; default 30 min).
    pub idle_timeout_ms: i64,
    /// A session ends this long after sign-in, whatever its use (default 12 h).
    pub absolute_timeout_ms: i64,
    /// Mark the session cookie `Secure` even on a plain-HTTP connection (behind a TLS
    /// proxy). Requests that arrive over TLS always get a `Secure` cookie.
    pub secure_cookie: bool,
    /// The most sessions held at once; past it the oldest session is ended.
    pub max_sessions: usize,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            idle_timeout_ms: 30 * 60_000,
            absolute_timeout_ms: 12 * 3_600_000,
            secure_cookie: false,
            max_sessions: 10_000,
        }
    }
}

impl Config {
    /// Defaults for a data directory.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Config {
            data_dir: data_dir.into(),
            master_keys_text: None,
            fallbacks: HashMap::new(),
            fallback_tenants: vec!["default".into()],
            auth_failures: crate::domain::auth_failures::Policy::default(),
            retain_versions: 10,
            origin: None,
            clock: system_clock(),
            vault_mount: "secret".into(),
            console: ConsoleConfig::default(),
            webhook_allow_private: false,
            snapshot_every: DEFAULT_SNAPSHOT_EVERY,
        }
    }
}
