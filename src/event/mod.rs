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
//! The files: this one holds the envelope ([`Event`]) and the append-only [`Body`];
//! `types` the values bodies carry (actors, roles, targets, sealed values, outcomes);
//! `names` what the audit view reads off a body (action, tenant, credential);
//! `signed` the stored record, hashing, signing and [`SignedEvent`].
//!
//! **Invariant:** variants of [`Body`] are append-only. Never reorder, remove or change a
//! variant: add a new one (with a `V2` suffix) and keep reading the old. The golden vectors
//! in `schemas/vectors/` fail when a variant changes.

mod names;
mod signed;
mod types;

pub use signed::*;
pub use types::*;

use crate::id::Id;
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

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

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
