//! The network probes: [`HttpProbe`] (a request that passes on an expected status, with
//! the credential placed by [`AuthPlacement`]) and [`TcpProbe`] (a connect).

use super::super::Condition;
use super::Param;
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

impl HttpProbe {
    pub(super) fn params(&self) -> Vec<Param<'_>> {
        let mut v = vec![Param::required("url", &self.url)];
        match &self.auth {
            Some(AuthPlacement::Bearer(t)) => v.push(Param::required("auth", t)),
            Some(AuthPlacement::Header { name, value } | AuthPlacement::Query { name, value }) => {
                v.push(Param::required("auth.name", name));
                v.push(Param::required("auth.value", value));
            }
            Some(AuthPlacement::Basic { username, password }) => {
                v.push(Param::required("auth.username", username));
                v.push(Param::required("auth.password", password));
            }
            None => {}
        }
        for (k, val) in self.headers.iter().chain(self.form.iter()) {
            v.push(Param::required("headers/form", k));
            v.push(Param::required("headers/form", val));
        }
        v
    }
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

impl TcpProbe {
    pub(super) fn params(&self) -> Vec<Param<'_>> {
        vec![
            Param::required("host", &self.host),
            Param::required("port", &self.port),
        ]
    }
}
