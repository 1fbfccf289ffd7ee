//! Connection tests: the [`VerifySpec`] of a template and its [`Probe`]s, and the
//! `{{field}}` placeholder syntax their strings use. This is what [`crate::verify`]
//! consumes.
//!
//! **Invariant:** errors from [`segments`] describe the template, never a value.

use super::check::is_field_name;
use super::Condition;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where a probe puts the credential. Every string may hold `{{field}}` placeholders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum AuthPlacement {
    /// `Authorization: Bearer <value>`.
    Bearer(String),
    /// A header with this name and value.
    Header { name: String, value: String },
    /// HTTP Basic authentication.
    Basic { username: String, password: String },
    /// A query parameter with this name and value.
    Query { name: String, value: String },
}

/// The method of an HTTP probe.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    #[default]
    Get,
    Head,
    Post,
}

/// A connection test by HTTP request: it passes when the status is in `expect_status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpProbe {
    /// The probe runs only when this holds (the first applicable probe runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<Condition>,
    #[serde(default)]
    pub method: HttpMethod,
    /// The URL, usually built from a public `base_url` or `host` field.
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthPlacement>,
    /// Extra request headers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// A form body (`application/x-www-form-urlencoded`); none when empty.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub form: BTreeMap<String, String>,
    /// The statuses that mean success.
    #[serde(default = "default_expect_status")]
    pub expect_status: Vec<u16>,
    /// The timeout; 10 s when absent, capped at 30 s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Certificates are not checked when this holds (self-signed Proxmox, test clusters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_tls_verify_when: Option<Condition>,
}

fn default_expect_status() -> Vec<u16> {
    vec![200]
}

/// A connection test by TCP connect: it passes when the connection is accepted. It says
/// nothing about the credential's validity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpProbe {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<Condition>,
    pub host: String,
    pub port: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

/// One connection test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Probe {
    Http(HttpProbe),
    Tcp(TcpProbe),
}

impl Probe {
    /// The probe's condition.
    pub fn when(&self) -> Option<&Condition> {
        match self {
            Probe::Http(p) => p.when.as_ref(),
            Probe::Tcp(p) => p.when.as_ref(),
        }
    }

    /// Every placeholder-bearing string of the probe.
    pub(super) fn strings(&self) -> Vec<&str> {
        match self {
            Probe::Http(p) => {
                let mut v = vec![p.url.as_str()];
                match &p.auth {
                    Some(AuthPlacement::Bearer(t)) => v.push(t),
                    Some(
                        AuthPlacement::Header { name, value }
                        | AuthPlacement::Query { name, value },
                    ) => {
                        v.push(name);
                        v.push(value);
                    }
                    Some(AuthPlacement::Basic { username, password }) => {
                        v.push(username);
                        v.push(password);
                    }
                    None => {}
                }
                for (k, val) in p.headers.iter().chain(p.form.iter()) {
                    v.push(k);
                    v.push(val);
                }
                v
            }
            Probe::Tcp(p) => vec![p.host.as_str(), p.port.as_str()],
        }
    }
}

/// A template's connection tests: the first probe whose `when` holds (or that has none)
/// runs. In JSON it is an array of probes, each tagged by `kind` (`http` or `tcp`).
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
