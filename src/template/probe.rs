//! Connection tests: the [`VerifySpec`] of a template and its [`Probe`]s, and the
//! `{{field}}` placeholder syntax their strings use. This is what [`crate::verify`]
//! consumes. The probe kinds live by family in `net` (HTTP, TCP), `cloud` (AWS STS,
//! Google service-account token) and `login` (SQL, SSH).
//!
//! **Invariant:** errors from [`segments`] describe the template, never a value.

mod cloud;
mod login;
mod net;

pub use cloud::{AwsStsProbe, GcpTokenProbe, GCP_DEFAULT_SCOPE};
pub use login::{SqlEngine, SqlProbe, SshProbe};
pub use net::{AuthPlacement, HttpMethod, HttpProbe, TcpProbe};

use super::check::is_field_name;
use super::Condition;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One connection test, tagged by `kind` in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Probe {
    /// `http`: a request that passes on an expected status.
    Http(HttpProbe),
    /// `tcp`: a connect that passes when accepted.
    Tcp(TcpProbe),
    /// `aws_sts`: a SigV4-signed STS `GetCallerIdentity`.
    AwsSts(AwsStsProbe),
    /// `gcp_token`: a service-account JWT exchanged for an access token.
    GcpToken(GcpTokenProbe),
    /// `sql`: a database login and `SELECT 1`.
    Sql(SqlProbe),
    /// `ssh`: an SSH login.
    Ssh(SshProbe),
}

impl Probe {
    /// The probe's condition.
    pub fn when(&self) -> Option<&Condition> {
        match self {
            Probe::Http(p) => p.when.as_ref(),
            Probe::Tcp(p) => p.when.as_ref(),
            Probe::AwsSts(p) => p.when.as_ref(),
            Probe::GcpToken(p) => p.when.as_ref(),
            Probe::Sql(p) => p.when.as_ref(),
            Probe::Ssh(p) => p.when.as_ref(),
        }
    }

    /// The timeout the probe names, if any (see `crate::verify::effective_timeout_ms`).
    pub fn timeout_ms(&self) -> Option<u64> {
        match self {
            Probe::Http(p) => p.timeout_ms,
            Probe::Tcp(p) => p.timeout_ms,
            Probe::AwsSts(p) => p.timeout_ms,
            Probe::GcpToken(p) => p.timeout_ms,
            Probe::Sql(p) => p.timeout_ms,
            Probe::Ssh(p) => p.timeout_ms,
        }
    }

    /// The `kind` tag, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Probe::Http(_) => "http",
            Probe::Tcp(_) => "tcp",
            Probe::AwsSts(_) => "aws_sts",
            Probe::GcpToken(_) => "gcp_token",
            Probe::Sql(_) => "sql",
            Probe::Ssh(_) => "ssh",
        }
    }

    /// Every placeholder-bearing string of the probe, with how it may be filled.
    pub(super) fn params(&self) -> Vec<Param<'_>> {
        match self {
            Probe::Http(p) => p.params(),
            Probe::Tcp(p) => p.params(),
            Probe::AwsSts(p) => p.params(),
            Probe::GcpToken(p) => p.params(),
            Probe::Sql(p) => p.params(),
            Probe::Ssh(p) => p.params(),
        }
    }
}

/// One placeholder-bearing string of a probe, as the load-time checks see it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Param<'a> {
    /// The probe's parameter, for error messages.
    pub name: &'static str,
    pub value: &'a str,
    /// Carries a secret: every placeholder must name a secret field, and there must be
    /// at least one.
    pub secret: bool,
}

impl<'a> Param<'a> {
    /// A parameter the probe needs.
    pub(super) fn required(name: &'static str, value: &'a str) -> Param<'a> {
        Param {
            name,
            value,
            secret: false,
        }
    }

    /// A parameter left out at run time when one of its fields is empty (a session
    /// token, a port). Checked at load exactly like a required one.
    pub(super) fn optional(name: &'static str, value: &'a str) -> Param<'a> {
        Param::required(name, value)
    }

    pub(super) fn secret(self) -> Param<'a> {
        Param {
            secret: true,
            ..self
        }
    }
}

/// A template's connection tests: the first probe whose `when` holds (or that has none)
/// runs. In JSON it is an array of probes, each tagged by `kind` (`http`, `tcp`,
/// `aws_sts`, `gcp_token`, `sql` or `ssh`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VerifySpec {
    pub probes: Vec<Probe>,
}

impl VerifySpec {
    /// The probe that applies to a credential with these public values, if any.
    pub fn select(&self, public: &BTreeMap<String, String>) -> Option<&Probe> {
        self.probes
            .iter()
            .find(|p| p.when().is_none_or(|c| c.holds(public)))
    }
}

/// A piece of a string with placeholders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Segment<'a> {
    Literal(&'a str),
    Field(&'a str),
}

/// Splits `s` at `{{field}}` placeholders. Errors describe the template, never a value.
pub(crate) fn segments(s: &str) -> Result<Vec<Segment<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            out.push(Segment::Literal(&rest[..start]));
        }
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("unclosed placeholder in {s:?}"))?;
        let name = &after[..end];
        if !is_field_name(name) {
            return Err(format!("invalid placeholder {{{{{name}}}}}"));
        }
        out.push(Segment::Field(name));
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        out.push(Segment::Literal(rest));
    }
    Ok(out)
}
