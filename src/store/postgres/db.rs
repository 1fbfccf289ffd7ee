//! The bridge between the synchronous store traits and the asynchronous PostgreSQL
//! client: a small dedicated tokio runtime owned by the backend, a `deadpool-postgres`
//! pool on it, and [`Db::run`], which runs one future there and waits for it.
//!
//! **Invariants:** [`Db::run`] never calls `block_on` of the backend's runtime on the
//! caller's thread, so it is safe from a plain thread (the committer), from the
//! blocking pool and even from an async worker thread of another runtime (it blocks
//! that thread, as any synchronous store call does; the HTTP layer keeps store calls on
//! the blocking pool). Every operation has a deadline ([`OP_TIMEOUT`]): a server that
//! stops answering is an error, never a hang. The URL's password never appears in an
//! error or a log line.

use super::super::StoreError;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use std::future::Future;
use std::time::Duration;
use tokio_postgres::config::Host;
use tokio_postgres::{Config, NoTls};

/// The longest any single store operation may take before it fails.
pub(super) const OP_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a statement of this backend waits for a lock before PostgreSQL aborts it:
/// less than [`OP_TIMEOUT`], so the server gives up first and the connection goes back to
/// the pool with nothing left running on it.
const LOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// How long opening a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections in the pool: the committer, the lease, the follower's tail and a few
/// concurrent reads.
const POOL_SIZE: usize = 8;

/// A PostgreSQL error, or the backend gave up waiting.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// The server or the connection failed (the server's message, which names no value
    /// we bind, and its SQLSTATE).
    #[error("PostgreSQL: {0}")]
    Db(#[from] tokio_postgres::Error),
    /// No connection could be had from the pool.
    #[error("PostgreSQL connection pool: {0}")]
    Pool(String),
    /// The operation did not finish in time.
    #[error("PostgreSQL did not answer within {0:?}")]
    Timeout(Duration),
}

impl From<PgError> for StoreError {
    fn from(e: PgError) -> Self {
        StoreError::backend(e)
    }
}

impl From<deadpool_postgres::PoolError> for PgError {
    #[allow(
        clippy::wildcard_enum_match_arm,
        reason = "deadpool's other pool errors (timeouts, closed pool, hooks) are reported by their text"
    )]
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => PgError::Db(e),
            other => PgError::Pool(other.to_string()),
        }
    }
}

/// Parses a libpq-style URL (`postgres://user:pass@host:port/db?sslmode=disable`, a Unix
/// socket as `postgres://user@%2Frun%2Fpostgresql/db` or `?host=/run/postgresql`, or
/// `key=value` pairs) without echoing it in the error.
pub fn parse_url(url: &str) -> Result<Config, StoreError> {
    let mut config: Config = url.parse().map_err(|_| StoreError::Corrupt {
        what: "the PostgreSQL URL",
        detail:
            "not a valid libpq connection string (postgres://user:password@host:port/database?…, \
                 a socket directory as the host, or key=value pairs)"
                .into(),
    })?;
    if config.get_hosts().is_empty() {
        // libpq's default: the local socket directory.
        config.host_path("/var/run/postgresql");
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("credledger");
    }
    Ok(config)
}

/// Sets this backend's server-side limits as startup options of every session
/// (`-c name=value`): [`LOCK_TIMEOUT`] and `idle_in_transaction_session_timeout`. Options
/// the URL carries (`?options=-c …`) come after them, so an operator's own values win.
fn limit_sessions(config: &mut Config, idle_in_transaction: Duration) {
    let ms = |d: Duration| d.as_millis().max(1);
    let mut options = format!(
        "-c lock_timeout={} -c idle_in_transaction_session_timeout={}",
        ms(LOCK_TIMEOUT),
        ms(idle_in_transaction)
    );
    if let Some(own) = config.get_options().filter(|o| !o.trim().is_empty()) {
        options = format!("{options} {own}");
    }
    config.options(&options);
}

/// Where a configuration connects, for messages: hosts (or socket directories), port and
/// database, never the user's password.
pub fn describe(config: &Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            Host::Tcp(name) => name.clone(),
            Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "{}:{port}/{}",
        hosts.join(","),
        config.get_dbname().unwrap_or("")
    )
}

/// The runtime and the pool.
pub(super) struct Db {
    rt: Option<tokio::runtime::Runtime>,
    pub(super) pool: Pool,
}

impl Db {
    /// Builds the runtime and the pool (no connection is opened yet); every session the
    /// pool opens carries the limits of [`limit_sessions`].
    pub(super) fn new(mut config: Config, idle_in_transaction: Duration) -> Result<Db, StoreError> {
        limit_sessions(&mut config, idle_in_transaction);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("credledger-pg")
            .enable_all()
            .build()
            .map_err(|source| StoreError::Io {
                path: "tokio runtime".into(),
                source,
            })?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = {
            let _enter = rt.enter();
            Pool::builder(manager)
                .max_size(POOL_SIZE)
                .runtime(deadpool_postgres::Runtime::Tokio1)
                .wait_timeout(Some(OP_TIMEOUT))
                .create_timeout(Some(CONNECT_TIMEOUT))
                .recycle_timeout(Some(CONNECT_TIMEOUT))
                .build()
                .map_err(|e| StoreError::backend(PgError::Pool(e.to_string())))?
        };
        Ok(Db { rt: Some(rt), pool })
    }

    /// Runs `f` on the backend's runtime with a deadline and waits for its result.
    pub(super) fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, PgError>> + Send + 'static,
    {
        let rt = self
            .rt
            .as_ref()
            .expect("the runtime lives as long as the backend");
        let (tx, rx) = futures::channel::oneshot::channel();
        rt.spawn(async move {
            let out = match tokio::time::timeout(OP_TIMEOUT, f).await {
                Ok(r) => r,
                Err(_) => Err(PgError::Timeout(OP_TIMEOUT)),
            };
            let _ = tx.send(out);
        });
        match futures::executor::block_on(rx) {
            Ok(r) => r.map_err(StoreError::from),
            Err(_) => Err(StoreError::backend(PgError::Pool(
                "the backend's runtime stopped".into(),
            ))),
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        // Dropping a runtime inside another runtime's worker panics; this never waits.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_with_sockets_and_without_passwords_in_messages() {
        let c = parse_url("postgres://u:s3cret@%2Ftmp%2Fpg-sock:5433/ledger").unwrap();
        assert_eq!(c.get_hosts(), &[Host::Unix("/tmp/pg-sock".into())]);
        assert_eq!(describe(&c), "/tmp/pg-sock:5433/ledger");
        let c = parse_url("postgresql:///ledger?host=/run/postgresql&user=credledger").unwrap();
        assert_eq!(c.get_hosts(), &[Host::Unix("/run/postgresql".into())]);
        let c = parse_url("postgres://u:s3cret@127.0.0.1:5432/db?sslmode=disable").unwrap();
        assert!(!describe(&c).contains("s3cret"));
        let c = parse_url("postgres:///db").unwrap();
        assert_eq!(c.get_hosts(), &[Host::Unix("/var/run/postgresql".into())]);
        let e = parse_url("postgres://u:s3cret@[bad")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("s3cret"), "{e}");
    }

    #[test]
    fn session_limits_come_first_so_the_url_s_own_options_win() {
        let mut c = parse_url("postgres://u@h/db").unwrap();
        limit_sessions(&mut c, Duration::from_millis(1500));
        assert_eq!(
            c.get_options(),
            Some("-c lock_timeout=5000 -c idle_in_transaction_session_timeout=1500")
        );
        let mut c = parse_url("postgres://u@h/db?options=-c%20lock_timeout%3D200").unwrap();
        limit_sessions(&mut c, Duration::from_millis(1500));
        assert_eq!(
            c.get_options(),
            Some("-c lock_timeout=5000 -c idle_in_transaction_session_timeout=1500 -c lock_timeout=200")
        );
    }
}
