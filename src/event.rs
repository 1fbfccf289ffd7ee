//! Events: the canonical, versioned facts the ledger records, and their sealing.
//!
//! An [`Event`] is what happened; a [`SignedEvent`] is an event bound into the chain: its
//! canonical bytes, their BLAKE3 hash (which covers the previous event's hash, never a
//! signature) and an ed25519 signature over that hash. `docs/FORMAT.md` gives the bytes.
//!
//! **Invariant:** a [`SignedEvent`] only comes from [`SignedEvent::seal`] (which signs) or
//! [`SignedEvent::from_record`] (which decodes and recomputes the hash); its fields are
//! private, so its bytes, hash and event always agree. Signature *validity* is checked by
//! [`SignedEvent::verify_signature`] (replay does it in parallel), because hashing links
//! must not depend on signatures.
//!
//! **Invariant:** variants of [`Body`] are append-only. Never reorder, remove or change a
//! variant: add a new one (with a `V2` suffix) and keep reading the old. The golden vectors
//! in `schemas/vectors/` fail when a variant changes.

use crate::codec::{self, CodecError};
use crate::id::Id;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The version of the event envelope layout.
pub const EVENT_FORMAT: u16 = 1;
/// Prefix of the bytes hashed to get an event hash.
pub const HASH_DOMAIN: &[u8] = b"credledger/event-hash/v1\n";
/// Prefix of the message signed for an event.
pub const SIG_DOMAIN: &[u8] = b"credledger/event-sig/v1\n";
/// Prefix of the proof-of-possession a new signing key gives when it is introduced.
pub const KEY_ROTATION_DOMAIN: &[u8] = b"credledger/signing-key-rotation/v1\n";

/// A 32-byte hash.
pub type Hash32 = [u8; 32];

/// One recorded fact with its chain position, time, actor and request context.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Always [`EVENT_FORMAT`].
    pub format: u16,
    /// Position in the log, starting at 0 and gap-free. Also the Merkle leaf index.
    pub seq: u64,
    /// Milliseconds since the Unix epoch; never smaller than the previous event's.
    pub at_ms: i64,
    /// Hash of the previous event (all zero for sequence 0).
    pub prev: Hash32,
    /// Who caused it.
    pub actor: Actor,
    /// The request it came from.
    pub context: RequestContext,
    /// What happened.
    pub body: Body,
}

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

/// What happened. Variant order is part of the format: append only.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// Sequence 0: the ledger's origin (checkpoint key name) and first signing key.
    LedgerInitialized {
        origin: String,
        signing_key: [u8; 32],
    },
    TenantCreated {
        tenant: Id,
        name: String,
    },
    PrincipalCreated {
        tenant: Id,
        principal: Id,
        name: String,
        kind: PrincipalKind,
        role: Role,
        system_admin: bool,
    },
    PrincipalDisabled {
        tenant: Id,
        principal: Id,
    },
    /// An API token; `hash` is the keyed BLAKE3 hash of its secret part.
    TokenIssued {
        tenant: Id,
        principal: Id,
        token: Id,
        hash: Hash32,
        expires_at_ms: Option<i64>,
    },
    TokenRevoked {
        tenant: Id,
        token: Id,
    },
    CredentialCreated {
        tenant: Id,
        credential: Id,
        name: String,
        template: String,
        service: String,
        owner: Owner,
        description: String,
        public: BTreeMap<String, String>,
        sealed: Sealed,
        rotate_every_days: Option<u32>,
        expires_at_ms: Option<i64>,
        is_default: bool,
    },
    CredentialUpdated {
        tenant: Id,
        credential: Id,
        change: MetadataChange,
    },
    /// A new version; `retired` versions fell out of retention and lost their data keys.
    CredentialRotated {
        tenant: Id,
        credential: Id,
        version: u32,
        public: BTreeMap<String, String>,
        sealed: Sealed,
        retired: Vec<u32>,
    },
    /// A secret value was released (or is about to be sent, for `Verify`).
    CredentialUsed {
        tenant: Id,
        credential: Option<Id>,
        version: Option<u32>,
        service: Option<String>,
        subject: Option<Id>,
        source: Source,
        purpose: Purpose,
    },
    UseDenied {
        tenant: Id,
        credential: Option<Id>,
        service: Option<String>,
        subject: Option<Id>,
        reason: DenyReason,
    },
    CredentialVerified {
        tenant: Id,
        credential: Id,
        version: u32,
        ok: bool,
        reason: String,
        latency_ms: u64,
    },
    GrantAdded {
        tenant: Id,
        credential: Id,
        principal: Id,
    },
    GrantRevoked {
        tenant: Id,
        credential: Id,
        principal: Id,
    },
    CredentialDeleted {
        tenant: Id,
        credential: Id,
    },
    CredentialRestored {
        tenant: Id,
        credential: Id,
    },
    /// Every data key of the credential was deleted: its ciphertexts are unrecoverable.
    CredentialDestroyed {
        tenant: Id,
        credential: Id,
        versions: Vec<u32>,
    },
    /// A non-resolve action on a credential was refused; `attempted` is its action name.
    AccessDenied {
        tenant: Id,
        credential: Id,
        attempted: String,
        reason: DenyReason,
    },
    /// Every live data key was rewrapped under master key `new_key_id`.
    MasterKeyRotated {
        old_key_id: u32,
        new_key_id: u32,
        rewrapped: u64,
    },
    /// From the next event on, events are signed by `new_key`. This event is signed by the
    /// old key; `possession` is the new key's signature over
    /// `KEY_ROTATION_DOMAIN || old_key || new_key || seq (u64 LE)`.
    SigningKeyRotated {
        old_key: [u8; 32],
        new_key: [u8; 32],
        possession: Vec<u8>,
    },
    /// Vault KV: `versions` were soft-deleted (reads refuse them until undeleted).
    VersionsDeleted {
        tenant: Id,
        credential: Id,
        versions: Vec<u32>,
    },
    /// Vault KV: soft-deleted `versions` are readable again.
    VersionsUndeleted {
        tenant: Id,
        credential: Id,
        versions: Vec<u32>,
    },
    /// Vault KV: the data keys of `versions` were deleted (crypto-shred of those versions
    /// only; the credential stays).
    VersionsDestroyed {
        tenant: Id,
        credential: Id,
        versions: Vec<u32>,
    },
    /// Vault KV per-secret metadata; replaces the previous values.
    KvMetadataSet {
        tenant: Id,
        credential: Id,
        max_versions: u32,
        cas_required: bool,
        delete_version_after: String,
        custom_metadata: BTreeMap<String, String>,
    },
    /// Vault KV mount configuration of a tenant; replaces the previous values.
    KvConfigSet {
        tenant: Id,
        mount: String,
        max_versions: u32,
        cas_required: bool,
        delete_version_after: String,
    },
    /// Any refused operation of an authenticated caller (the successor of
    /// [`Body::AccessDenied`], same action name): `operation` is the action it would have
    /// recorded (or a read's name such as `credential_read`), `target` what it was aimed at.
    AccessDeniedV2 {
        tenant: Id,
        operation: String,
        target: Option<Target>,
        reason: RefusalReason,
    },
    /// Service principal `principal` may resolve `for_user` for every user of the tenant
    /// (`all_users`, system principals excepted) and for `users`. Replaces an earlier grant.
    DelegationGranted {
        tenant: Id,
        principal: Id,
        all_users: bool,
        users: Vec<Id>,
    },
    /// The delegation of `principal` was withdrawn.
    DelegationRevoked {
        tenant: Id,
        principal: Id,
    },
    /// Failed authentications from one source in one window, aggregated (system stream:
    /// no tenant). `tokens` are the ids of parseable tokens that failed (never a secret);
    /// `malformed` counts tokens that did not parse.
    AuthFailures {
        source: Option<String>,
        first_ms: i64,
        last_ms: i64,
        count: u64,
        malformed: u64,
        tokens: Vec<Id>,
    },
    /// A group of principals of the tenant, to grant credentials to.
    GroupCreated {
        tenant: Id,
        group: Id,
        name: String,
    },
    /// `principal` joined `group`: from the next resolve on it gets the group's grants.
    GroupMemberAdded {
        tenant: Id,
        group: Id,
        principal: Id,
    },
    /// `principal` left `group`: from the next resolve on it no longer gets its grants.
    GroupMemberRemoved {
        tenant: Id,
        group: Id,
        principal: Id,
    },
    /// A grant of a shared credential to a principal or a group at `level` (the
    /// successor of [`Body::GrantAdded`], which is a grant at level `Use`). Replaces an
    /// earlier grant to the same grantee.
    GrantAddedV2 {
        tenant: Id,
        credential: Id,
        grantee: Grantee,
        level: GrantLevel,
    },
    /// The grant to `grantee` was withdrawn (the successor of [`Body::GrantRevoked`]).
    GrantRevokedV2 {
        tenant: Id,
        credential: Id,
        grantee: Grantee,
    },
    /// A tenant template: `definition` is its JSON (the format of
    /// `schemas/templates/`), checked like the builtin templates. Replaces an earlier
    /// definition of the same name.
    TemplateDefined {
        tenant: Id,
        name: String,
        definition: String,
    },
    /// The tenant template `name` was removed.
    TemplateDeleted {
        tenant: Id,
        name: String,
    },
    /// A connection test's outcome (the successor of [`Body::CredentialVerified`], same
    /// action name), naming the template; `credential` and `version` are `None` for a
    /// test of unsaved input ("test before save"). Never a value.
    CredentialVerifiedV2 {
        tenant: Id,
        credential: Option<Id>,
        version: Option<u32>,
        template: String,
        ok: bool,
        reason: String,
        latency_ms: u64,
    },
    /// A person signed in to the web console with an API token of `principal` (the
    /// actor). `session` is the session's public id, never the cookie's secret value.
    ConsoleSignedIn {
        tenant: Id,
        principal: Id,
        session: Id,
    },
    /// A web console session ended (`reason`).
    ConsoleSignedOut {
        tenant: Id,
        principal: Id,
        session: Id,
        reason: SessionEnd,
    },
    /// Scheduled connection tests (`serve --verify-every`) of `credential` were switched
    /// on (`enabled`) or off by its owner or an admin. A credential starts switched on.
    ScheduledVerifySet {
        tenant: Id,
        credential: Id,
        enabled: bool,
    },
    /// A webhook of `tenant`: `sealed` holds its URL and HMAC secret (fields `url` and
    /// `secret`, sealed like a credential version: binding credential = `webhook`,
    /// version 1); `origin` is the URL's scheme, host and port only (a URL's path may
    /// carry a token, as Slack's do). `ledger_wide`: created by a system admin, it also
    /// hears ledger-wide events.
    WebhookCreated {
        tenant: Id,
        webhook: Id,
        origin: String,
        events: Vec<String>,
        format: WebhookFormat,
        expiring_within_days: u32,
        ledger_wide: bool,
        sealed: Sealed,
    },
    /// The webhook was deleted; its data key with it (its URL and secret are shredded).
    WebhookDeleted {
        tenant: Id,
        webhook: Id,
    },
    /// The outcome of one notification after every attempt: delivered (`ok`, a 2xx
    /// answer) or given up. `notification` is the id the receiver saw
    /// (`X-Credledger-Event-Id`); `trigger_seq` the log event that caused it (`None` for a
    /// state found by the clock: rotation due or overdue, expiring). Never a value.
    WebhookDelivered {
        tenant: Id,
        webhook: Id,
        notification: Id,
        event: String,
        credential: Option<Id>,
        version: Option<u32>,
        trigger_seq: Option<u64>,
        ok: bool,
        attempts: u32,
        status: Option<u16>,
        error: String,
    },
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

impl Body {
    /// The snake_case action name shown in the audit view.
    pub fn action(&self) -> &'static str {
        match self {
            Body::LedgerInitialized { .. } => "ledger_initialized",
            Body::TenantCreated { .. } => "tenant_created",
            Body::PrincipalCreated { .. } => "principal_created",
            Body::PrincipalDisabled { .. } => "principal_disabled",
            Body::TokenIssued { .. } => "token_issued",
            Body::TokenRevoked { .. } => "token_revoked",
            Body::CredentialCreated { .. } => "created",
            Body::CredentialUpdated { .. } => "updated",
            Body::CredentialRotated { .. } => "rotated",
            Body::CredentialUsed { .. } => "used",
            Body::UseDenied { .. } => "use_denied",
            Body::CredentialVerified { .. } => "verified",
            Body::GrantAdded { .. } => "granted",
            Body::GrantRevoked { .. } => "grant_revoked",
            Body::CredentialDeleted { .. } => "deleted",
            Body::CredentialRestored { .. } => "restored",
            Body::CredentialDestroyed { .. } => "destroyed",
            Body::AccessDenied { .. } => "access_denied",
            Body::MasterKeyRotated { .. } => "master_key_rotated",
            Body::SigningKeyRotated { .. } => "signing_key_rotated",
            Body::VersionsDeleted { .. } => "versions_deleted",
            Body::VersionsUndeleted { .. } => "versions_undeleted",
            Body::VersionsDestroyed { .. } => "versions_destroyed",
            Body::KvMetadataSet { .. } => "kv_metadata_set",
            Body::KvConfigSet { .. } => "kv_config_set",
            Body::AccessDeniedV2 { .. } => "access_denied",
            Body::DelegationGranted { .. } => "delegation_granted",
            Body::DelegationRevoked { .. } => "delegation_revoked",
            Body::AuthFailures { .. } => "auth_failures",
            Body::GroupCreated { .. } => "group_created",
            Body::GroupMemberAdded { .. } => "group_member_added",
            Body::GroupMemberRemoved { .. } => "group_member_removed",
            Body::GrantAddedV2 { .. } => "granted",
            Body::GrantRevokedV2 { .. } => "grant_revoked",
            Body::TemplateDefined { .. } => "template_defined",
            Body::TemplateDeleted { .. } => "template_deleted",
            Body::CredentialVerifiedV2 { .. } => "verified",
            Body::ConsoleSignedIn { .. } => "console_signed_in",
            Body::ConsoleSignedOut { .. } => "console_signed_out",
            Body::ScheduledVerifySet { .. } => "scheduled_verify_set",
            Body::WebhookCreated { .. } => "webhook_created",
            Body::WebhookDeleted { .. } => "webhook_deleted",
            Body::WebhookDelivered { .. } => "webhook_delivered",
        }
    }

    /// The action name of every variant, in variant order (`ACTIONS[i]` is variant `i`'s).
    /// A `V2` variant repeats its predecessor's name, so filters and audit tags treat both
    /// as one action.
    pub const ACTIONS: &'static [&'static str] = &[
        "ledger_initialized",
        "tenant_created",
        "principal_created",
        "principal_disabled",
        "token_issued",
        "token_revoked",
        "created",
        "updated",
        "rotated",
        "used",
        "use_denied",
        "verified",
        "granted",
        "grant_revoked",
        "deleted",
        "restored",
        "destroyed",
        "access_denied",
        "master_key_rotated",
        "signing_key_rotated",
        "versions_deleted",
        "versions_undeleted",
        "versions_destroyed",
        "kv_metadata_set",
        "kv_config_set",
        "access_denied",
        "delegation_granted",
        "delegation_revoked",
        "auth_failures",
        "group_created",
        "group_member_added",
        "group_member_removed",
        "granted",
        "grant_revoked",
        "template_defined",
        "template_deleted",
        "verified",
        "console_signed_in",
        "console_signed_out",
        "scheduled_verify_set",
        "webhook_created",
        "webhook_deleted",
        "webhook_delivered",
    ];

    /// The audit outcome: `ok`, `denied` or `failed`.
    pub fn outcome(&self) -> Outcome {
        match self {
            Body::UseDenied { .. }
            | Body::AccessDenied { .. }
            | Body::AccessDeniedV2 { .. }
            | Body::AuthFailures { .. } => Outcome::Denied,
            Body::CredentialVerified { ok: false, .. }
            | Body::CredentialVerifiedV2 { ok: false, .. }
            | Body::WebhookDelivered { ok: false, .. } => Outcome::Failed,
            Body::LedgerInitialized { .. }
            | Body::TenantCreated { .. }
            | Body::PrincipalCreated { .. }
            | Body::PrincipalDisabled { .. }
            | Body::TokenIssued { .. }
            | Body::TokenRevoked { .. }
            | Body::CredentialCreated { .. }
            | Body::CredentialUpdated { .. }
            | Body::CredentialRotated { .. }
            | Body::CredentialUsed { .. }
            | Body::CredentialVerified { ok: true, .. }
            | Body::GrantAdded { .. }
            | Body::GrantRevoked { .. }
            | Body::CredentialDeleted { .. }
            | Body::CredentialRestored { .. }
            | Body::CredentialDestroyed { .. }
            | Body::MasterKeyRotated { .. }
            | Body::SigningKeyRotated { .. }
            | Body::VersionsDeleted { .. }
            | Body::VersionsUndeleted { .. }
            | Body::VersionsDestroyed { .. }
            | Body::KvMetadataSet { .. }
            | Body::KvConfigSet { .. }
            | Body::DelegationGranted { .. }
            | Body::DelegationRevoked { .. }
            | Body::GroupCreated { .. }
            | Body::GroupMemberAdded { .. }
            | Body::GroupMemberRemoved { .. }
            | Body::GrantAddedV2 { .. }
            | Body::GrantRevokedV2 { .. }
            | Body::TemplateDefined { .. }
            | Body::TemplateDeleted { .. }
            | Body::CredentialVerifiedV2 { ok: true, .. }
            | Body::ConsoleSignedIn { .. }
            | Body::ConsoleSignedOut { .. }
            | Body::ScheduledVerifySet { .. }
            | Body::WebhookCreated { .. }
            | Body::WebhookDeleted { .. }
            | Body::WebhookDelivered { ok: true, .. } => Outcome::Ok,
        }
    }

    /// The tenant whose audit log shows this event (`None` for ledger-wide events).
    pub fn tenant(&self) -> Option<Id> {
        match self {
            Body::LedgerInitialized { .. }
            | Body::MasterKeyRotated { .. }
            | Body::SigningKeyRotated { .. }
            | Body::AuthFailures { .. } => None,
            Body::TenantCreated { tenant, .. }
            | Body::PrincipalCreated { tenant, .. }
            | Body::PrincipalDisabled { tenant, .. }
            | Body::TokenIssued { tenant, .. }
            | Body::TokenRevoked { tenant, .. }
            | Body::CredentialCreated { tenant, .. }
            | Body::CredentialUpdated { tenant, .. }
            | Body::CredentialRotated { tenant, .. }
            | Body::CredentialUsed { tenant, .. }
            | Body::UseDenied { tenant, .. }
            | Body::CredentialVerified { tenant, .. }
            | Body::GrantAdded { tenant, .. }
            | Body::GrantRevoked { tenant, .. }
            | Body::CredentialDeleted { tenant, .. }
            | Body::CredentialRestored { tenant, .. }
            | Body::CredentialDestroyed { tenant, .. }
            | Body::AccessDenied { tenant, .. }
            | Body::VersionsDeleted { tenant, .. }
            | Body::VersionsUndeleted { tenant, .. }
            | Body::VersionsDestroyed { tenant, .. }
            | Body::KvMetadataSet { tenant, .. }
            | Body::KvConfigSet { tenant, .. }
            | Body::AccessDeniedV2 { tenant, .. }
            | Body::DelegationGranted { tenant, .. }
            | Body::DelegationRevoked { tenant, .. }
            | Body::GroupCreated { tenant, .. }
            | Body::GroupMemberAdded { tenant, .. }
            | Body::GroupMemberRemoved { tenant, .. }
            | Body::GrantAddedV2 { tenant, .. }
            | Body::GrantRevokedV2 { tenant, .. }
            | Body::TemplateDefined { tenant, .. }
            | Body::TemplateDeleted { tenant, .. }
            | Body::CredentialVerifiedV2 { tenant, .. }
            | Body::ConsoleSignedIn { tenant, .. }
            | Body::ConsoleSignedOut { tenant, .. }
            | Body::ScheduledVerifySet { tenant, .. }
            | Body::WebhookCreated { tenant, .. }
            | Body::WebhookDeleted { tenant, .. }
            | Body::WebhookDelivered { tenant, .. } => Some(*tenant),
        }
    }

    /// The credential this event is about, if any.
    pub fn credential(&self) -> Option<Id> {
        match self {
            Body::CredentialCreated { credential, .. }
            | Body::CredentialUpdated { credential, .. }
            | Body::CredentialRotated { credential, .. }
            | Body::CredentialVerified { credential, .. }
            | Body::GrantAdded { credential, .. }
            | Body::GrantRevoked { credential, .. }
            | Body::CredentialDeleted { credential, .. }
            | Body::CredentialRestored { credential, .. }
            | Body::CredentialDestroyed { credential, .. }
            | Body::AccessDenied { credential, .. }
            | Body::VersionsDeleted { credential, .. }
            | Body::VersionsUndeleted { credential, .. }
            | Body::VersionsDestroyed { credential, .. }
            | Body::KvMetadataSet { credential, .. }
            | Body::GrantAddedV2 { credential, .. }
            | Body::GrantRevokedV2 { credential, .. }
            | Body::ScheduledVerifySet { credential, .. } => Some(*credential),
            Body::CredentialUsed { credential, .. }
            | Body::UseDenied { credential, .. }
            | Body::CredentialVerifiedV2 { credential, .. }
            | Body::WebhookDelivered { credential, .. } => *credential,
            Body::AccessDeniedV2 {
                target: Some(Target::Credential(c)),
                ..
            } => Some(*c),
            Body::LedgerInitialized { .. }
            | Body::TenantCreated { .. }
            | Body::PrincipalCreated { .. }
            | Body::PrincipalDisabled { .. }
            | Body::TokenIssued { .. }
            | Body::TokenRevoked { .. }
            | Body::MasterKeyRotated { .. }
            | Body::SigningKeyRotated { .. }
            | Body::KvConfigSet { .. }
            | Body::AccessDeniedV2 { .. }
            | Body::DelegationGranted { .. }
            | Body::DelegationRevoked { .. }
            | Body::AuthFailures { .. }
            | Body::GroupCreated { .. }
            | Body::GroupMemberAdded { .. }
            | Body::GroupMemberRemoved { .. }
            | Body::TemplateDefined { .. }
            | Body::TemplateDeleted { .. }
            | Body::ConsoleSignedIn { .. }
            | Body::ConsoleSignedOut { .. }
            | Body::WebhookCreated { .. }
            | Body::WebhookDeleted { .. } => None,
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

/// The stored form of a signed event: its canonical bytes and its signature.
///
/// Encoded with the codec: `u64 LE length || event bytes || u64 LE 64 || signature`.
/// These exact bytes are the event's Merkle leaf.
#[derive(Serialize, Deserialize)]
struct Record {
    event: Vec<u8>,
    signature: Vec<u8>,
}

/// Why a stored record is not a valid signed event.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordError {
    /// The record or the event inside is not canonical bytes: corrupt or tampered data.
    #[error("undecodable record: {0}")]
    Undecodable(#[from] CodecError),
    /// The signature field is not 64 bytes.
    #[error("signature is {0} bytes, not 64")]
    SignatureLength(usize),
    /// The envelope format is not one this build reads.
    #[error("unknown event format {0}")]
    UnknownFormat(u16),
}

/// An event bound into the chain: bytes, hash and signature that agree.
#[derive(Clone, Debug)]
pub struct SignedEvent {
    event: Event,
    bytes: Vec<u8>,
    hash: Hash32,
    signature: [u8; 64],
}

/// The BLAKE3 hash of an event's canonical bytes, with domain separation.
pub fn event_hash(bytes: &[u8]) -> Hash32 {
    let mut h = blake3::Hasher::new();
    h.update(HASH_DOMAIN);
    h.update(bytes);
    *h.finalize().as_bytes()
}

/// The message signed for an event with the given hash.
pub fn signing_message(hash: &Hash32) -> Vec<u8> {
    let mut m = Vec::with_capacity(SIG_DOMAIN.len() + 32);
    m.extend_from_slice(SIG_DOMAIN);
    m.extend_from_slice(hash);
    m
}

/// The message a new signing key signs to prove possession during a rotation.
pub fn rotation_message(old_key: &[u8; 32], new_key: &[u8; 32], seq: u64) -> Vec<u8> {
    let mut m = Vec::with_capacity(KEY_ROTATION_DOMAIN.len() + 72);
    m.extend_from_slice(KEY_ROTATION_DOMAIN);
    m.extend_from_slice(old_key);
    m.extend_from_slice(new_key);
    m.extend_from_slice(&seq.to_le_bytes());
    m
}

impl SignedEvent {
    /// Encodes, hashes and signs `event`.
    pub fn seal(event: Event, key: &SigningKey) -> Result<Self, CodecError> {
        let bytes = codec::encode(&event)?;
        // The stored record adds 80 bytes of framing and signature; keep it readable.
        if bytes.len() > codec::MAX_LEN - 128 {
            return Err(CodecError::Encode(format!(
                "an event of {} bytes is too large",
                bytes.len()
            )));
        }
        let hash = event_hash(&bytes);
        let signature = key.sign(&signing_message(&hash)).to_bytes();
        Ok(SignedEvent {
            event,
            bytes,
            hash,
            signature,
        })
    }

    /// Decodes a stored record and recomputes its hash. Does not check the signature.
    pub fn from_record(record: &[u8]) -> Result<Self, RecordError> {
        let r: Record = codec::decode(record)?;
        let signature: [u8; 64] = r
            .signature
            .as_slice()
            .try_into()
            .map_err(|_| RecordError::SignatureLength(r.signature.len()))?;
        let event: Event = codec::decode_canonical(&r.event)?;
        if event.format != EVENT_FORMAT {
            return Err(RecordError::UnknownFormat(event.format));
        }
        let hash = event_hash(&r.event);
        Ok(SignedEvent {
            event,
            bytes: r.event,
            hash,
            signature,
        })
    }

    /// The stored record bytes (also the Merkle leaf).
    pub fn to_record(&self) -> Vec<u8> {
        codec::encode(&Record {
            event: self.bytes.clone(),
            signature: self.signature.to_vec(),
        })
        .expect("a record of a sealed event always encodes")
    }

    /// Checks the signature against `key`.
    pub fn verify_signature(&self, key: &VerifyingKey) -> bool {
        key.verify(
            &signing_message(&self.hash),
            &Signature::from_bytes(&self.signature),
        )
        .is_ok()
    }

    pub fn event(&self) -> &Event {
        &self.event
    }
    pub fn into_event(self) -> Event {
        self.event
    }
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
    pub fn hash(&self) -> &Hash32 {
        &self.hash
    }
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }
    pub fn seq(&self) -> u64 {
        self.event.seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7; 32])
    }

    fn sample(seq: u64) -> Event {
        Event {
            format: EVENT_FORMAT,
            seq,
            at_ms: 1_700_000_000_000,
            prev: [0; 32],
            actor: Actor::default(),
            context: RequestContext::default(),
            body: Body::TenantCreated {
                tenant: Id([1; 16]),
                name: "default".into(),
            },
        }
    }

    #[test]
    fn seal_then_read_back_agrees() {
        let s = SignedEvent::seal(sample(3), &key()).unwrap();
        let back = SignedEvent::from_record(&s.to_record()).unwrap();
        assert_eq!(back.event(), s.event());
        assert_eq!(back.hash(), s.hash());
        assert!(back.verify_signature(&key().verifying_key()));
        assert!(!back.verify_signature(&SigningKey::from_bytes(&[8; 32]).verifying_key()));
    }

    #[test]
    fn action_names_follow_variant_order() {
        assert_eq!(Body::ACTIONS.len(), 43);
        assert_eq!(Body::ACTIONS[42], "webhook_delivered");
        assert_eq!(Body::ACTIONS[9], "used");
    }

    #[test]
    fn flipped_byte_changes_hash_and_breaks_signature() {
        let s = SignedEvent::seal(sample(1), &key()).unwrap();
        let mut rec = s.to_record();
        let n = rec.len();
        rec[n - 80] ^= 1; // inside the event bytes
        match SignedEvent::from_record(&rec) {
            Ok(t) => {
                assert_ne!(t.hash(), s.hash());
                assert!(!t.verify_signature(&key().verifying_key()));
            }
            Err(e) => assert!(matches!(e, RecordError::Undecodable(_))),
        }
    }
}
