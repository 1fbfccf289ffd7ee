//! The `sql` probe for MySQL and MariaDB (`mysql_async`): log in and run `SELECT 1`.
//! The target is a `mysql://`/`mariadb://` URL (user, password, host, port, database;
//! the query's `ssl-mode` and `socket`, other parameters ignored) or the probe's parts.
//!
//! TLS follows MySQL's `ssl-mode` (libpq's names are accepted too): `DISABLED` and
//! `PREFERRED` (the default) are plain (the client has no fallback from TLS; MySQL's
//! password methods do not send the password in clear), `REQUIRED` encrypts without
//! checking the certificate, `VERIFY_CA` checks the chain, `VERIFY_IDENTITY` the chain
//! and the host name.
//!
//! **Invariants:** the URL is parsed here, not by the driver, and its errors name the
//! field only; server errors enter the reason as a fixed description and the SQLSTATE.

use super::super::outcome::Failure;
use super::super::values::{field_name, Values};
use super::super::{timed, VerifyOutcome};
use super::sqlstate;
use crate::template::SqlProbe;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, DriverError, Error, IoError, OptsBuilder, SslOpts};
use percent_encoding::percent_decode_str;
use std::io;
use zeroize::Zeroizing;

/// The settings of one login.
struct Target {
    host: String,
    port: u16,
    socket: Option<String>,
    user: String,
    password: Zeroizing<String>,
    database: Option<String>,
    tls: Option<SslOpts>,
}

/// MySQL's `ssl-mode` (or libpq's `sslmode`): the TLS settings, `None` for plain.
fn ssl_mode(value: &str) -> Result<Option<SslOpts>, ()> {
    let v = value.trim().to_ascii_lowercase().replace('_', "-");
    Ok(match v.as_str() {
        "disabled" | "disable" | "preferred" | "prefer" | "allow" => None,
        "required" | "require" => Some(SslOpts::default().with_danger_accept_invalid_certs(true)),
        "verify-ca" => Some(SslOpts::default().with_danger_skip_domain_validation(true)),
        "verify-identity" | "verify-full" => Some(SslOpts::default()),
        _ => return Err(()),
    })
}

fn decode(s: &str) -> Result<Zeroizing<String>, ()> {
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| Zeroizing::new(c.into_owned()))
        .map_err(|_| ())
}

/// The target of a URL.
fn from_url(dsn: &str, field: String) -> Result<Target, Failure> {
    let invalid = |expected| Failure::InvalidValue {
        field: field.clone(),
        expected,
    };
    let url = reqwest::Url::parse(dsn.trim()).map_err(|_| invalid("a valid MySQL URL"))?;
    let mut target = Target {
        host: url.host_str().unwrap_or("localhost").to_string(),
        port: url.port().unwrap_or(3306),
        socket: None,
        user: decode(url.username())
            .map_err(|_| invalid("a valid MySQL URL"))?
            .to_string(),
        password: decode(url.password().unwrap_or_default())
            .map_err(|_| invalid("a valid MySQL URL"))?,
        database: Some(url.path().trim_start_matches('/'))
            .filter(|d| !d.is_empty())
            .map(|d| decode(d).map(|d| d.to_string()))
            .transpose()
            .map_err(|_| invalid("a valid MySQL URL"))?,
        tls: None,
    };
    for (key, value) in url.query_pairs() {
        match key.as_ref() {
            "ssl-mode" | "ssl_mode" | "sslmode" => {
                target.tls =
                    ssl_mode(&value).map_err(|_| invalid("a MySQL URL with a known ssl-mode"))?;
            }
            "socket" => target.socket = Some(value.into_owned()),
            _ => {}
        }
    }
    if target.user.is_empty() {
        return Err(invalid("a MySQL URL with a user"));
    }
    Ok(target)
}

fn target(p: &SqlProbe, values: &Values<'_>) -> Result<Target, Failure> {
    if let Some(template) = &p.dsn {
        return from_url(&values.render(template)?, field_name(template, "dsn"));
    }
    let host = values
        .render(p.host.as_deref().unwrap_or_default())?
        .trim()
        .to_string();
    let tls = match values.render_optional(p.sslmode.as_deref())? {
        None => None,
        Some(m) => ssl_mode(&m).map_err(|_| Failure::InvalidValue {
            field: field_name(p.sslmode.as_deref().unwrap_or_default(), "sslmode"),
            expected: "a MySQL ssl-mode",
        })?,
    };
    let (host, socket) = if host.starts_with('/') {
        ("localhost".to_string(), Some(host))
    } else {
        (host, None)
    };
    Ok(Target {
        host,
        port: values.port(p.port.as_deref(), 3306)?,
        socket,
        user: values
            .render(p.username.as_deref().unwrap_or_default())?
            .trim()
            .to_string(),
        password: values.render(p.password.as_deref().unwrap_or_default())?,
        database: values
            .render_optional(p.database.as_deref())?
            .map(|d| d.trim().to_string()),
        tls,
    })
}

pub(super) async fn run(p: &SqlProbe, values: &Values<'_>, timeout_ms: u64) -> VerifyOutcome {
    let t = match target(p, values) {
        Ok(t) => t,
        Err(f) => return VerifyOutcome::failed(f, 0),
    };
    timed(timeout_ms, async move {
        if t.socket.is_none() {
            // Resolve first: the driver reports a failed lookup as a plain I/O error.
            tokio::net::lookup_host((t.host.as_str(), t.port))
                .await
                .map_err(|_| Failure::Dns)?
                .next()
                .ok_or(Failure::Dns)?;
        }
        let opts = OptsBuilder::default()
            .ip_or_hostname(t.host.as_str())
            .tcp_port(t.port)
            .socket(t.socket.clone())
            .prefer_socket(t.socket.is_some())
            .user(Some(t.user.as_str()))
            .pass(Some(t.password.as_str()))
            .db_name(t.database.clone())
            .ssl_opts(t.tls.clone())
            .stmt_cache_size(0);
        let mut conn = Conn::new(opts).await.map_err(classify)?;
        let one: Option<u8> = conn.query_first("SELECT 1").await.map_err(classify)?;
        let _ = conn.disconnect().await;
        match one {
            Some(1) => Ok("MySQL login ok (SELECT 1)".to_string()),
            _ => Err(Failure::RequestFailed),
        }
    })
    .await
}

/// What a MySQL error number means, in fixed words.
fn describe(code: u16) -> &'static str {
    match code {
        1045 => "access denied",
        1044 => "access to the database denied",
        1049 => "database does not exist",
        1040 => "too many connections",
        1130 => "this host may not connect",
        _ => "server error",
    }
}

/// Maps a driver error to a failure kind; the server's message is never used.
fn classify(e: Error) -> Failure {
    match e {
        Error::Server(s) => Failure::Database {
            what: describe(s.code),
            code: sqlstate(&s.state),
        },
        // The TLS layer reports a failed handshake as an I/O error around rustls's.
        Error::Io(IoError::Io(io))
            if io
                .get_ref()
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some()) =>
        {
            Failure::Tls
        }
        Error::Io(IoError::Io(io)) if io.kind() == io::ErrorKind::ConnectionRefused => {
            Failure::Refused
        }
        Error::Io(IoError::Io(io)) if io.kind() == io::ErrorKind::NotFound => Failure::Refused,
        Error::Io(IoError::Io(_)) => Failure::ConnectFailed,
        Error::Io(IoError::Tls(_)) => Failure::Tls,
        Error::Driver(DriverError::NoClientSslFlagFromServer) => Failure::TlsUnsupported,
        Error::Driver(DriverError::UnknownAuthPlugin { .. }) => Failure::AuthMethod,
        Error::Url(_) => Failure::InvalidValue {
            field: "dsn".into(),
            expected: "a valid MySQL URL",
        },
        _ => Failure::RequestFailed,
    }
}
