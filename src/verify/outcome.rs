//! [`VerifyOutcome`], what a connection test reports, and [`Failure`], the closed set of
//! reasons a probe did not pass.
//!
//! **Invariant:** a failure's text is fixed wording plus numbers, field names, codes
//! from fixed lists and the server's host-key fingerprint; never a supplied value.

use serde::Serialize;
use thiserror::Error;

/// The result of a connection test, as recorded in the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyOutcome {
    /// Whether the probe passed.
    pub ok: bool,
    /// A short reason such as `HTTP 200`, `HTTP 401 (expected 200)`,
    /// `connection refused` or `SSH login ok (host key SHA256:…)`. Never contains a
    /// supplied value.
    pub reason: String,
    /// Time spent on the network, in milliseconds (0 when nothing was sent).
    pub latency_ms: u64,
}

impl VerifyOutcome {
    pub(super) fn failed(failure: Failure, latency_ms: u64) -> VerifyOutcome {
        VerifyOutcome {
            ok: false,
            reason: failure.to_string(),
            latency_ms,
        }
    }
}

/// Why a probe did not pass. Each variant becomes an outcome with `ok = false` and the
/// variant's text as `reason`; nothing is retried and the credential is not changed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub(super) enum Failure {
    /// No probe's condition holds (for example a kubeconfig credential). Reported as is.
    #[error("no connection test for this configuration")]
    NotApplicable,
    /// A placeholder's field has no value (an optional field left empty). Reported with
    /// the field name only.
    #[error("cannot verify: {0} is not set")]
    MissingValue(String),
    /// A placeholder could not be parsed; templates are checked at load, so this is a bug.
    #[error("invalid connection test definition")]
    BadDefinition,
    /// The substituted URL does not parse or is not http(s).
    #[error("invalid url")]
    InvalidUrl,
    /// A substituted header name is not a valid header name.
    #[error("invalid header name")]
    InvalidHeaderName,
    /// A substituted header value holds characters a header cannot carry.
    #[error("invalid header value")]
    InvalidHeaderValue,
    /// The substituted TCP port is not a number in 0..=65535.
    #[error("invalid port")]
    InvalidPort,
    /// An HTTP client without certificate checks could not be built.
    #[error("http client setup failed")]
    ClientSetup,
    /// The probe did not finish within its timeout (in milliseconds).
    #[error("timeout after {0} ms")]
    Timeout(u64),
    /// The host name did not resolve.
    #[error("dns failure")]
    Dns,
    /// The peer refused the connection.
    #[error("connection refused")]
    Refused,
    /// The TLS handshake failed (bad certificate, not TLS, protocol error).
    #[error("tls error")]
    Tls,
    /// The connection failed otherwise (unreachable network, reset).
    #[error("connection failed")]
    ConnectFailed,
    /// The request failed after connecting (connection closed, malformed response).
    #[error("request failed")]
    RequestFailed,
    /// An HTTP status that is not the expected one, with a code from the service's
    /// fixed list of error codes when the body names one (`InvalidClientTokenId`,
    /// `invalid_grant`).
    #[error("HTTP {status} (expected {expected}){}", code_suffix(*.code))]
    Status {
        status: u16,
        expected: u16,
        code: Option<&'static str>,
    },
    /// The expected status came with a body that is not the service's answer (a portal
    /// or a proxy page).
    #[error("HTTP {0} with an unexpected body")]
    UnexpectedBody(u16),
    /// A value has the wrong form for the probe (the field name and what it must be).
    #[error("{field} is not {expected}")]
    InvalidValue {
        field: String,
        expected: &'static str,
    },
    /// The request could not be signed (AWS); the signer's error is not shown.
    #[error("request signing failed")]
    Signing,
    /// A connection string's engine is not supported by the `sql` probe.
    #[error("cannot verify: {0} connection strings are not supported (PostgreSQL and MySQL only)")]
    UnsupportedEngine(&'static str),
    /// The database server rejected the login or the query, by SQLSTATE class.
    #[error("{what} (SQLSTATE {code})")]
    Database { what: &'static str, code: String },
    /// The server does not offer TLS although the connection requires it.
    #[error("the server does not support TLS")]
    TlsUnsupported,
    /// The database or SSH server asked for an authentication method the probe cannot
    /// answer.
    #[error("authentication method not supported")]
    AuthMethod,
    /// The SSH host key differs from the pinned fingerprint; the server's key is named.
    #[error("host key mismatch: the server offered {0}")]
    HostKeyMismatch(String),
    /// The SSH server rejected the credentials; the host key is named.
    #[error("SSH authentication rejected (host key {0})")]
    SshRejected(String),
    /// The SSH handshake failed (not SSH, no common algorithm, protocol error).
    #[error("SSH handshake failed")]
    SshHandshake,
}

fn code_suffix(code: Option<&'static str>) -> String {
    code.map(|c| format!(": {c}")).unwrap_or_default()
}

/// The entry of `allowed` equal to `candidate`, as a static string: how a code taken
/// from a server's answer enters a reason.
pub(super) fn known_code(candidate: &str, allowed: &[&'static str]) -> Option<&'static str> {
    allowed.iter().copied().find(|c| *c == candidate)
}
