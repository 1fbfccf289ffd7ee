//! The plain data the ledger's operations take and return.

use crate::event::{Owner, Source};
use crate::id::Id;
use crate::secret::{SecretFields, SecretString};

/// Where a request came from, for the event's context.
#[derive(Clone, Debug, Default)]
pub struct RequestCtx {
    pub request_id: Option<String>,
    pub remote_addr: Option<String>,
}

/// What a fresh ledger printed once: the bootstrap admin's token.
pub struct Bootstrap {
    pub tenant: Id,
    pub admin: Id,
    pub token: SecretString,
}

/// The answer of a resolve. `fields` holds public and secret fields together.
pub struct Resolution {
    pub credential_id: Option<Id>,
    pub version: Option<u32>,
    pub source: Source,
    pub template: Option<String>,
    pub fields: SecretFields,
}

/// How to find what to resolve.
#[derive(Clone, Debug)]
pub enum ResolveTarget {
    Id {
        id: Id,
        version: Option<u32>,
    },
    Service {
        service: String,
        for_user: Option<Id>,
    },
}

/// Input of a credential creation. `fields` holds secret values, so `Debug` shows field
/// names only.
#[derive(Clone, Default)]
pub struct CreateInput {
    pub name: String,
    pub template: String,
    pub service: Option<String>,
    pub owner: Option<Owner>,
    pub description: String,
    pub fields: serde_json::Map<String, serde_json::Value>,
    pub rotate_every_days: Option<u32>,
    pub expires_at_ms: Option<i64>,
    pub is_default: bool,
}

impl std::fmt::Debug for CreateInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateInput")
            .field("name", &self.name)
            .field("template", &self.template)
            .field("service", &self.service)
            .field("owner", &self.owner)
            .field("fields", &self.fields.keys().collect::<Vec<_>>())
            .field("rotate_every_days", &self.rotate_every_days)
            .field("expires_at_ms", &self.expires_at_ms)
            .field("is_default", &self.is_default)
            .finish_non_exhaustive()
    }
}

/// The outcome of a connection test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyResult {
    pub version: u32,
    pub ok: bool,
    pub reason: String,
    pub latency_ms: u64,
}

/// A token issued to a principal; `token` is shown once.
pub struct IssuedToken {
    pub id: Id,
    pub token: SecretString,
}
