//! The values event bodies carry: who acted and from where, roles and kinds, grant
//! levels, refusal reasons, targets, sealed values, webhook formats, and the audit
//! view's outcome. Serialized variant order is part of the format: append only.

use crate::id::Id;
use serde::{Deserialize, Serialize};

/// Who caused an event. System events (bootstrap, key rotation) have no principal.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct Actor {
    pub tenant: Option<Id>,
    pub principal: Option<Id>,
    pub token: Option<Id>,
}

/// Where a request came from.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct RequestContext {
    pub request_id: Option<String>,
    pub remote_addr: Option<String>,
}

/// A principal's role within its tenant. Variant order is part of the format: append
/// only.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Admin,
    Editor,
    Resolver,
    Auditor,
    /// A person who keeps personal credentials and uses what was granted to them.
    Member,
}

impl Role {
    /// The snake_case name used by the API and the audit view.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Editor => "editor",
            Role::Resolver => "resolver",
            Role::Auditor => "auditor",
            Role::Member => "member",
        }
    }

    /// Every role, in the order the API lists them.
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Editor,
        Role::Member,
        Role::Resolver,
        Role::Auditor,
    ];

    /// Parses the snake_case name.
    pub fn parse(s: &str) -> Option<Self> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// What kind of principal.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PrincipalKind {
    User,
    Service,
}

impl PrincipalKind {
    /// The snake_case name used by the API and the audit view.
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::User => "user",
            PrincipalKind::Service => "service",
        }
    }
    /// Parses the snake_case name.
    pub fn parse(s: &str) -> Option<Self> {
        [PrincipalKind::User, PrincipalKind::Service]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// Who owns a credential: one principal (personal) or the tenant (shared, with grants).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Owner {
    Tenant,
    Principal(Id),
}

/// What a grant allows, cumulatively: `Admin` includes `Manage`, which includes `Use`.
/// Variant order is part of the format (and the order of the levels): append only.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GrantLevel {
    /// Resolve the credential.
    Use,
    /// Also rotate, update and verify it.
    Manage,
    /// Also grant it, delete, restore and destroy it.
    Admin,
}

impl GrantLevel {
    /// The snake_case name used by the API and the audit view.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantLevel::Use => "use",
            GrantLevel::Manage => "manage",
            GrantLevel::Admin => "admin",
        }
    }

    /// Parses the snake_case name.
    pub fn parse(s: &str) -> Option<Self> {
        [GrantLevel::Use, GrantLevel::Manage, GrantLevel::Admin]
            .into_iter()
            .find(|l| l.as_str() == s)
    }
}

/// Who a grant is to: one principal, or every member of a group.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Grantee {
    Principal(Id),
    Group(Id),
}

/// Where a resolved value came from.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// Resolved by credential id.
    Direct,
    /// The subject's own credential for the service.
    Own,
    /// A shared credential granted to the subject.
    Granted,
    /// The tenant's default credential for the service.
    TenantDefault,
    /// The environment-variable fallback configured at start-up.
    Env,
}

/// Why a secret was read.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// A resolve through the API or CLI.
    Resolve,
    /// A connection test: the secret is sent to the credential's service.
    Verify,
    /// A read through the Vault-compatible API.
    VaultRead,
    /// A "Reveal" in the web console: the value is shown once, in that response only.
    Console,
}

/// Why a web console session ended ([`Body::ConsoleSignedOut`]).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SessionEnd {
    /// The person signed out.
    SignedOut,
    /// No request within the idle timeout.
    IdleTimeout,
    /// The session reached its absolute lifetime.
    AbsoluteTimeout,
    /// The session's API token stopped working (revoked, expired, principal disabled).
    TokenInvalid,
}

impl SessionEnd {
    /// The snake_case name used by the audit view.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionEnd::SignedOut => "signed_out",
            SessionEnd::IdleTimeout => "idle_timeout",
            SessionEnd::AbsoluteTimeout => "absolute_timeout",
            SessionEnd::TokenInvalid => "token_invalid",
        }
    }
}

/// Why an action on a credential was refused.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DenyReason {
    /// The caller's role does not allow the action.
    Role,
    /// The caller is neither owner nor grantee.
    NotGranted,
    /// The credential belongs to another tenant.
    OtherTenant,
    /// The credential is soft-deleted.
    Deleted,
    /// The credential was destroyed.
    Destroyed,
    /// The credential has expired.
    Expired,
    /// Nothing is configured for the requested service.
    NotConfigured,
    /// The credential's secret could not be opened (e.g. a version past retention).
    Unavailable,
}

/// Why an operation was refused ([`Body::AccessDeniedV2`]).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RefusalReason {
    /// The caller's role does not allow the operation.
    Role,
    /// The caller is neither owner nor grantee of the credential.
    NotGranted,
    /// The target belongs to another tenant (the owning tenant's record).
    OtherTenant,
    /// No such target in the caller's tenant (the caller's record; also when it exists in
    /// another tenant, so the record reveals nothing about other tenants).
    NotFound,
    /// The operation is system administration (tenants, system principals, keys).
    SystemOnly,
    /// The target principal has a higher privilege than the caller.
    Privilege,
}

impl RefusalReason {
    /// The snake_case name used by the audit view.
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalReason::Role => "role",
            RefusalReason::NotGranted => "not_granted",
            RefusalReason::OtherTenant => "other_tenant",
            RefusalReason::NotFound => "not_found",
            RefusalReason::SystemOnly => "system_only",
            RefusalReason::Privilege => "privilege",
        }
    }
}

/// What a refused operation was aimed at (ids only, never a value). Variant order is part
/// of the format: append only.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    Credential(Id),
    Principal(Id),
    Token(Id),
    Tenant(Id),
    /// A log entry, by sequence number.
    Event(u64),
    /// A group of principals.
    Group(Id),
}

/// A sealed secret payload: XChaCha20-Poly1305 ciphertext under the version's data key.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub nonce: [u8; 24],
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealed({} bytes)", self.ciphertext.len())
    }
}

/// Metadata changes of a credential; `None` leaves a field unchanged.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct MetadataChange {
    pub name: Option<String>,
    pub rotate_every_days: Option<Option<u32>>,
    pub expires_at_ms: Option<Option<i64>>,
    pub is_default: Option<bool>,
    pub description: Option<String>,
}

/// The body a webhook receives. Variant order is part of the format: append only.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WebhookFormat {
    /// `{"id","event","at",...}` (docs: README, Webhooks).
    Json,
    /// Slack-compatible `{"text": "..."}`.
    Slack,
}

impl WebhookFormat {
    /// `json` or `slack`.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookFormat::Json => "json",
            WebhookFormat::Slack => "slack",
        }
    }
}

/// The outcome column of the audit view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    Ok,
    Denied,
    Failed,
}

impl Outcome {
    /// `ok`, `denied` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
        }
    }
    /// Parses the audit name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ok" => Some(Outcome::Ok),
            "denied" => Some(Outcome::Denied),
            "failed" => Some(Outcome::Failed),
            _ => None,
        }
    }
}
