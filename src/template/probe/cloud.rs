//! The cloud identity probes: [`AwsStsProbe`] (a SigV4-signed STS `GetCallerIdentity`)
//! and [`GcpTokenProbe`] (a service-account JWT exchanged for an access token).

use super::super::Condition;
use super::Param;
use serde::{Deserialize, Serialize};

/// A connection test by AWS STS `GetCallerIdentity`: a `POST` signed with SigV4 for the
/// service `sts` in `region`. It passes on HTTP 200 with a `GetCallerIdentityResult`;
/// every access key may call it, whatever its policies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsStsProbe {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<Condition>,
    /// The access key ID (public).
    pub access_key_id: String,
    /// The secret access key; must name a secret field.
    pub secret_access_key: String,
    /// The session token of temporary credentials; left out when its field is empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_token: Option<String>,
    /// The region code, also the signing region (`us-east-1`).
    pub region: String,
    /// The STS endpoint URL; when absent or empty, the region's public endpoint
    /// (`https://sts.<region>.amazonaws.com/`, `.amazonaws.com.cn` for `cn-*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

impl AwsStsProbe {
    pub(super) fn params(&self) -> Vec<Param<'_>> {
        let mut v = vec![
            Param::required("access_key_id", &self.access_key_id),
            Param::required("secret_access_key", &self.secret_access_key).secret(),
            Param::required("region", &self.region),
        ];
        if let Some(t) = &self.session_token {
            v.push(Param::optional("session_token", t).secret());
        }
        if let Some(e) = &self.endpoint {
            v.push(Param::optional("endpoint", e));
        }
        v
    }
}

/// The OAuth scope a [`GcpTokenProbe`] asks for when it names none.
pub const GCP_DEFAULT_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// A connection test by Google's service-account flow: an RS256-signed JWT assertion
/// (`iss` = the key's `client_email`, `aud` = the token endpoint it is sent to, one hour
/// of validity) is POSTed with the JWT-bearer grant to the token endpoint. It passes on
/// HTTP 200 with an `access_token`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GcpTokenProbe {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<Condition>,
    /// The service-account key JSON (`client_email`, `private_key`, `token_uri`); must
    /// name a secret field.
    pub key: String,
    /// The token endpoint; when absent or empty, the key's `token_uri`, else
    /// `https://oauth2.googleapis.com/token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_uri: Option<String>,
    /// The scope requested; [`GCP_DEFAULT_SCOPE`] when absent or empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

impl GcpTokenProbe {
    pub(super) fn params(&self) -> Vec<Param<'_>> {
        let mut v = vec![Param::required("key", &self.key).secret()];
        if let Some(u) = &self.token_uri {
            v.push(Param::optional("token_uri", u));
        }
        if let Some(s) = &self.scope {
            v.push(Param::optional("scope", s));
        }
        v
    }
}
