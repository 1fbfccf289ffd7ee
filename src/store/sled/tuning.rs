//! sled's page-cache size: chosen by measurement (docs/PERFORMANCE.md, fourth pass) and
//! adjustable by the operator with `CREDLEDGER_SLED_CACHE_MB` (MiB, at least 1).
//!
//! sled's default is 1 GiB. The ledger reads its hot keys (the head of the log, the
//! projection tiles and buckets a batch grows) far more often than the rest, and a miss
//! is served from the operating system's page cache. Measured at 100k credentials and
//! 1.2M events, resolves ran at the same rate with 64 MiB, 256 MiB and 1 GiB; 64 MiB
//! made start-up slower (the state snapshot alone is ~47 MB there) and the p99 right
//! after start worse, and 1 GiB kept ~650 MB more resident after the background check
//! of the log below the state snapshot (which reads every record once per start).

/// What [`super::open_db`] configures sled with.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Tuning {
    pub(super) cache_bytes: u64,
}

impl Tuning {
    pub(super) const DEFAULT_CACHE_MB: u64 = 256;

    /// From the process environment.
    pub(super) fn from_env() -> Tuning {
        Tuning::from_lookup(|name| std::env::var(name).ok())
    }

    /// From `lookup` (an environment); a value that is not a whole number is ignored with
    /// a warning, and 0 counts as 1.
    pub(super) fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Tuning {
        const NAME: &str = "CREDLEDGER_SLED_CACHE_MB";
        let cache_mb = match lookup(NAME) {
            None => Self::DEFAULT_CACHE_MB,
            Some(v) => v.trim().parse::<u64>().unwrap_or_else(|_| {
                tracing::warn!(
                    variable = NAME,
                    "not a whole number of MiB; using the default"
                );
                Self::DEFAULT_CACHE_MB
            }),
        };
        Tuning {
            cache_bytes: cache_mb.clamp(1, 1 << 20) << 20,
        }
    }
}
