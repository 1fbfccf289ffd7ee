//! The login probes: [`SqlProbe`] (connect to a database and run `SELECT 1`) and
//! [`SshProbe`] (connect and authenticate, recording the host key).

use super::super::Condition;
use super::Param;
use serde::{Deserialize, Serialize};

/// The database engine of a [`SqlProbe`] given by parts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SqlEngine {
    /// PostgreSQL (default port 5432).
    #[default]
    Postgres,
    /// MySQL or MariaDB (default port 3306).
    Mysql,
}

/// A connection test by database login: connect, authenticate, run `SELECT 1`. The
/// target is either a whole connection string (`dsn`: a `postgres://`/`postgresql://`
/// URL or a `key=value` string; a `mysql://`/`mariadb://` URL) or its parts (`engine`,
/// `host`, `port`, `database`, `username`, `password`, `sslmode`), never both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlProbe {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<Condition>,
    /// A whole connection string; must name a secret field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dsn: Option<String>,
    /// The engine of a target given by parts; PostgreSQL when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<SqlEngine>,
    /// A host name or an address; a path starting with `/` is a Unix socket (for
    /// PostgreSQL its directory, for MySQL the socket file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The port; the engine's default when absent or empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The password; must name a secret field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// The TLS mode: libpq's `sslmode` (`disable`, `allow`, `prefer`, `require`,
    /// `verify-ca`, `verify-full`) or MySQL's `ssl-mode` (`DISABLED`, `PREFERRED`,
    /// `REQUIRED`, `VERIFY_CA`, `VERIFY_IDENTITY`); `prefer` when absent or empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sslmode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

impl SqlProbe {
    pub(super) fn params(&self) -> Vec<Param<'_>> {
        fn param<'a>(
            v: &mut Vec<Param<'a>>,
            name: &'static str,
            value: &'a Option<String>,
            optional: bool,
            secret: bool,
        ) {
            if let Some(s) = value {
                let p = if optional {
                    Param::optional(name, s)
                } else {
                    Param::required(name, s)
                };
                v.push(if secret { p.secret() } else { p });
            }
        }
        let mut v = Vec::new();
        param(&mut v, "dsn", &self.dsn, false, true);
        param(&mut v, "host", &self.host, false, false);
        param(&mut v, "port", &self.port, true, false);
        param(&mut v, "database", &self.database, true, false);
        param(&mut v, "username", &self.username, false, false);
        param(&mut v, "password", &self.password, false, true);
        param(&mut v, "sslmode", &self.sslmode, true, false);
        v
    }

    /// The shape rules: a DSN alone, or host, username and password (with optional
    /// parts).
    pub(in crate::template) fn check_shape(&self) -> Result<(), String> {
        let parts = [
            &self.host,
            &self.port,
            &self.database,
            &self.username,
            &self.password,
            &self.sslmode,
        ];
        match &self.dsn {
            Some(_) if parts.iter().any(|p| p.is_some()) || self.engine.is_some() => {
                Err("a sql probe has either dsn or host/port/database/username/password/sslmode, not both".into())
            }
            Some(_) => Ok(()),
            None if self.host.is_none() || self.username.is_none() || self.password.is_none() => {
                Err("a sql probe needs dsn, or host, username and password".into())
            }
            None => Ok(()),
        }
    }
}

/// A connection test by SSH login: connect, check the host key against
/// `host_key_fingerprint` when it is set, authenticate by password or private key. The
/// outcome names the host key's SHA-256 fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshProbe {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<Condition>,
    pub host: String,
    /// The port; 22 when absent or empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    pub username: String,
    /// The password (exclusive with `private_key`); must name a secret field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// An OpenSSH, PKCS#8 or PKCS#1 private key (exclusive with `password`); must name
    /// a secret field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key: Option<String>,
    /// The key's passphrase; left out when its field is empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passphrase: Option<String>,
    /// The expected host key, as OpenSSH prints it (`SHA256:` and unpadded base64; the
    /// prefix may be left out). Not checked when absent or empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_key_fingerprint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

impl SshProbe {
    pub(super) fn params(&self) -> Vec<Param<'_>> {
        let mut v = vec![
            Param::required("host", &self.host),
            Param::required("username", &self.username),
        ];
        if let Some(p) = &self.port {
            v.push(Param::optional("port", p));
        }
        if let Some(p) = &self.password {
            v.push(Param::required("password", p).secret());
        }
        if let Some(k) = &self.private_key {
            v.push(Param::required("private_key", k).secret());
        }
        if let Some(p) = &self.passphrase {
            v.push(Param::optional("passphrase", p).secret());
        }
        if let Some(f) = &self.host_key_fingerprint {
            v.push(Param::optional("host_key_fingerprint", f));
        }
        v
    }

    /// Exactly one of password and private key; a passphrase only with a key.
    pub(in crate::template) fn check_shape(&self) -> Result<(), String> {
        match (&self.password, &self.private_key) {
            (Some(_), Some(_)) | (None, None) => {
                Err("an ssh probe has exactly one of password and private_key".into())
            }
            (Some(_), None) if self.passphrase.is_some() => {
                Err("passphrase goes with private_key".into())
            }
            _ => Ok(()),
        }
    }
}
