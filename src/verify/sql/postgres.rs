//! The `sql` probe for PostgreSQL (`tokio-postgres`): log in and run `SELECT 1`. The
//! target is a connection string (URL or `key=value`) or the probe's parts; the first
//! host is used. TLS follows libpq's `sslmode`: `disable` is plain, `allow`/`prefer` try
//! TLS without checking the certificate and fall back to plain, `require` insists on TLS
//! without checking it, `verify-ca`/`verify-full` check the chain against the public
//! roots and the host name (both as `verify-full`). A Unix socket (a host starting with
//! `/`) is always plain, as with libpq.
//!
//! **Invariants:** a connection string is only parsed by `tokio-postgres` (after its
//! `sslmode` is mapped) and its parse error is not shown; server errors enter the reason
//! as a fixed description and the SQLSTATE code, never the server's message (which may
//! name the user or database).

use super::super::outcome::Failure;
use super::super::tcp::connect;
use super::super::values::field_name;
use super::super::values::Values;
use super::super::{timed, VerifyOutcome};
use super::{sqlstate, tls};
use crate::template::SqlProbe;
use std::error::Error as _;
use std::path::PathBuf;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{Client, Config, Connection, NoTls, SimpleQueryMessage};
use zeroize::Zeroizing;

/// How the connection uses TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TlsMode {
    /// `disable`.
    Off,
    /// `allow`, `prefer` (fall back to plain) and `require` (TLS or fail): encrypted,
    /// certificate not checked.
    Unverified(SslMode),
    /// `verify-ca`, `verify-full`: the chain and the host name are checked.
    Verified,
}

/// libpq's `sslmode` values: the value `tokio-postgres` understands and the TLS mode.
pub(super) fn sslmode(value: &str) -> Option<(&'static str, TlsMode)> {
    Some(match value {
        "disable" => ("disable", TlsMode::Off),
        "allow" | "prefer" => ("prefer", TlsMode::Unverified(SslMode::Prefer)),
        "require" => ("require", TlsMode::Unverified(SslMode::Require)),
        "verify-ca" | "verify-full" => ("require", TlsMode::Verified),
        _ => return None,
    })
}

/// The connection string with each `sslmode=` value mapped for `tokio-postgres`, and
/// the TLS mode of the last one (`prefer` when there is none). `None` for an unknown
/// value.
pub(super) fn map_sslmode(dsn: &str) -> Option<(Zeroizing<String>, TlsMode)> {
    const KEY: &str = "sslmode=";
    let mut out = Zeroizing::new(String::with_capacity(dsn.len()));
    let mut mode = TlsMode::Unverified(SslMode::Prefer);
    let mut rest = dsn;
    while let Some(i) = rest.find(KEY) {
        out.push_str(&rest[..i + KEY.len()]);
        let after = &rest[i + KEY.len()..];
        let end = after
            .find(|c: char| !(c.is_ascii_lowercase() || c == '-'))
            .unwrap_or(after.len());
        let (mapped, m) = sslmode(&after[..end])?;
        out.push_str(mapped);
        mode = m;
        rest = &after[end..];
    }
    out.push_str(rest);
    Some((out, mode))
}

/// The connection settings of a probe and its TLS mode.
fn config(p: &SqlProbe, values: &Values<'_>) -> Result<(Config, TlsMode), Failure> {
    if let Some(template) = &p.dsn {
        let dsn = values.render(template)?;
        let dsn = dsn.trim();
        let invalid = |expected| Failure::InvalidValue {
            field: field_name(template, "dsn"),
            expected,
        };
        let (dsn, mode) =
            map_sslmode(dsn).ok_or_else(|| invalid("a connection string with a known sslmode"))?;
        let config: Config = dsn
            .parse()
            .map_err(|_| invalid("a valid PostgreSQL connection string"))?;
        return Ok((config, mode));
    }
    let mut config = Config::new();
    let host = values.render(p.host.as_deref().unwrap_or_default())?;
    let host = host.trim();
    if host.starts_with('/') {
        config.host_path(host);
    } else {
        config.host(host);
    }
    config.port(values.port(p.port.as_deref(), 5432)?);
    if let Some(db) = values.render_optional(p.database.as_deref())? {
        config.dbname(db.trim());
    }
    config.user(
        values
            .render(p.username.as_deref().unwrap_or_default())?
            .trim(),
    );
    config.password(
        values
            .render(p.password.as_deref().unwrap_or_default())?
            .as_bytes(),
    );
    let mode = match values.render_optional(p.sslmode.as_deref())? {
        None => TlsMode::Unverified(SslMode::Prefer),
        Some(m) => {
            sslmode(m.trim())
                .ok_or(Failure::InvalidValue {
                    field: field_name(p.sslmode.as_deref().unwrap_or_default(), "sslmode"),
                    expected: "a libpq sslmode",
                })?
                .1
        }
    };
    Ok((config, mode))
}

pub(super) async fn run(p: &SqlProbe, values: &Values<'_>, timeout_ms: u64) -> VerifyOutcome {
    let (mut config, mode) = match config(p, values) {
        Ok(c) => c,
        Err(f) => return VerifyOutcome::failed(f, 0),
    };
    config.application_name("credledger-verify");
    let host = config.get_hosts().first().cloned();
    let port = config.get_ports().first().copied().unwrap_or(5432);
    timed(timeout_ms, async move {
        match host {
            Some(Host::Tcp(name)) => {
                let stream = connect(&name, port).await?;
                login(&config, stream, mode, &name).await
            }
            // libpq's default: the local socket directory.
            None => {
                let stream = unix_stream(PathBuf::from("/var/run/postgresql"), port).await?;
                login(&config, stream, TlsMode::Off, "").await
            }
            Some(Host::Unix(dir)) => {
                let stream = unix_stream(dir, port).await?;
                login(&config, stream, TlsMode::Off, "").await
            }
        }
    })
    .await
}

async fn unix_stream(dir: PathBuf, port: u16) -> Result<tokio::net::UnixStream, Failure> {
    let path = dir.join(format!(".s.PGSQL.{port}"));
    tokio::net::UnixStream::connect(path)
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound => {
                Failure::Refused
            }
            _ => Failure::ConnectFailed,
        })
}

/// Logs in over `stream` and runs `SELECT 1`.
async fn login<S>(config: &Config, stream: S, mode: TlsMode, host: &str) -> Result<String, Failure>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut config = config.clone();
    let (ssl, verify) = match mode {
        TlsMode::Off => {
            config.ssl_mode(SslMode::Disable);
            let (client, connection) = config.connect_raw(stream, NoTls).await.map_err(classify)?;
            return select_one(client, connection).await;
        }
        TlsMode::Unverified(ssl) => (ssl, false),
        TlsMode::Verified => (SslMode::Require, true),
    };
    config.ssl_mode(ssl);
    let mut make = tls::connector(verify).map_err(|_| Failure::ClientSetup)?;
    let connect =
        MakeTlsConnect::<S>::make_tls_connect(&mut make, host).map_err(|_| Failure::ClientSetup)?;
    let (client, connection) = config
        .connect_raw(stream, connect)
        .await
        .map_err(classify)?;
    select_one(client, connection).await
}

/// Runs `SELECT 1` while driving the connection; both end with this call.
async fn select_one<S, T>(client: Client, connection: Connection<S, T>) -> Result<String, Failure>
where
    S: AsyncRead + AsyncWrite + Unpin,
    T: AsyncRead + AsyncWrite + Unpin,
{
    let query = async move {
        let messages = client.simple_query("SELECT 1").await.map_err(classify)?;
        let one = messages
            .iter()
            .any(|m| matches!(m, SimpleQueryMessage::Row(row) if row.get(0) == Some("1")));
        if one {
            Ok("PostgreSQL login ok (SELECT 1)".to_string())
        } else {
            Err(Failure::RequestFailed)
        }
    };
    tokio::pin!(connection);
    tokio::select! {
        result = query => result,
        ended = &mut connection => Err(ended.err().map(classify).unwrap_or(Failure::RequestFailed)),
    }
}

/// What a SQLSTATE means, in fixed words.
fn describe(code: &str) -> &'static str {
    match code {
        "28P01" => "password authentication failed",
        "3D000" => "database does not exist",
        "42501" => "permission denied",
        "53300" => "too many connections",
        "57P03" => "the server is not accepting connections now",
        _ if code.starts_with("28") => "authorization rejected",
        _ if code.starts_with("08") => "connection error",
        _ => "server error",
    }
}

/// Maps a client error to a failure kind. The server's message is never used (it may
/// name the user or the database); only the SQLSTATE code, checked to be one.
fn classify(e: tokio_postgres::Error) -> Failure {
    if let Some(db) = e.as_db_error() {
        let code = sqlstate(db.code().code());
        return Failure::Database {
            what: describe(&code),
            code,
        };
    }
    // The error kinds of tokio-postgres's Display; only compared, never shown.
    match e.to_string().as_str() {
        "error performing TLS handshake" => {
            if e.source()
                .is_some_and(|s| s.to_string() == "server does not support TLS")
            {
                Failure::TlsUnsupported
            } else {
                Failure::Tls
            }
        }
        "authentication error" => Failure::AuthMethod,
        "invalid configuration" => Failure::InvalidValue {
            field: "connection settings".into(),
            expected: "complete (a user is required)",
        },
        _ => Failure::RequestFailed,
    }
}
