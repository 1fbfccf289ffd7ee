//! Golden vectors: the frozen bytes of every event type, of the codec's primitives and of
//! the sealed-secret format (`schemas/vectors/`, specified by `docs/FORMAT.md`).
//!
//! This file is both the generator and the test. By default it only compares: every
//! `Body` variant's fixed sample event must encode, hash and sign to exactly the bytes in
//! its vector file, and the vector's bytes must decode back to the sample. With
//! `CREDLEDGER_REGENERATE_VECTORS=1` it rewrites the files instead (then review the diff:
//! a changed byte in an existing vector is a format break, see `docs/FORMAT.md`).
//!
//! **Invariant:** a `Body` variant cannot be added or changed without its vector:
//! [`describe`] destructures every variant with every field and no wildcard (so the test
//! stops compiling), and [`every_variant_has_exactly_one_vector`] compares the vector
//! files with `Body::ACTIONS`.
//!
//! The sample events (one per variant) form one valid ledger (sequence number = variant index, each
//! `prev` is the hash of the vector before), so the vectors also pin the genesis, link and
//! key-rotation rules. [`hand`] parses bytes following `docs/FORMAT.md` alone, without the
//! codec, to show the document is enough for a third party.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use credledger::codec::{self, CodecError};
use credledger::event::{
    event_hash, rotation_message, signing_message, Actor, Body, DenyReason, Event, GrantLevel,
    Grantee, Hash32, MetadataChange, Owner, PrincipalKind, Purpose, RefusalReason, RequestContext,
    Role, Sealed, SessionEnd, SignedEvent, Source, Target, WebhookFormat, EVENT_FORMAT,
    HASH_DOMAIN, KEY_ROTATION_DOMAIN, SIG_DOMAIN,
};
use credledger::id::Id;
use credledger::secret::{self, Binding, MasterKey, MasterKeys, SecretFields, WrappedKey};
use credledger::store::keyring_key;
use ed25519_dalek::{Signer, SigningKey, Verifier};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::sync::Once;

// ---- fixed test material (TEST ONLY: these keys are public) ------------------------

/// Seed of the ledger's first signing key in the vectors.
const TEST_SEED: [u8; 32] = [0x07; 32];
/// Seed of the key introduced by the `signing_key_rotated` vector.
const NEXT_SEED: [u8; 32] = [0x08; 32];
/// The master key (id 1) that wraps the data keys of the sealed-secret vectors.
const MASTER_KEY: [u8; 32] = [0x09; 32];
const MASTER_KEY_ID: u32 = 1;
/// The key of the keyed BLAKE3 token hash in the `token_issued` vector.
const TOKEN_KEY: [u8; 32] = [0x0b; 32];

const T0_MS: i64 = 1_700_000_000_000;
const TENANT: Id = Id([0x11; 16]);
const PRINCIPAL: Id = Id([0x22; 16]);
const TOKEN: Id = Id([0x33; 16]);
const CREDENTIAL: Id = Id([0x44; 16]);
const GRANTEE: Id = Id([0x55; 16]);
const GROUP: Id = Id([0x66; 16]);
const ORIGIN: &str = "credledger.example/test-ledger";

const REGENERATE_VAR: &str = "CREDLEDGER_REGENERATE_VECTORS";

fn regenerate() -> bool {
    std::env::var(REGENERATE_VAR).is_ok_and(|v| v == "1")
}

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/vectors")
}

fn test_key() -> SigningKey {
    SigningKey::from_bytes(&TEST_SEED)
}

fn next_key() -> SigningKey {
    SigningKey::from_bytes(&NEXT_SEED)
}

fn h(bytes: impl AsRef<[u8]>) -> String {
    hex::encode(bytes)
}

fn unhex(v: &Value, field: &str) -> Vec<u8> {
    let s = v[field]
        .as_str()
        .unwrap_or_else(|| panic!("vector has no string field {field}"));
    hex::decode(s).unwrap_or_else(|e| panic!("{field} is not hex: {e}"))
}

/// Every vector file with its expected contents.
fn expected_vectors() -> Vec<(PathBuf, Value)> {
    let mut out: Vec<(PathBuf, Value)> = samples()
        .iter()
        .map(|s| (event_path(describe(&s.event.body).0), event_vector(s)))
        .collect();
    out.push((vectors_dir().join("codec.json"), codec_vector()));
    out.push((vectors_dir().join("secret.json"), secret_vector()));
    out
}

/// With `CREDLEDGER_REGENERATE_VECTORS=1`, writes every vector file (once per test run,
/// before any test reads one).
fn write_all_if_regenerating() {
    static WRITE: Once = Once::new();
    if !regenerate() {
        return;
    }
    WRITE.call_once(|| {
        for (path, value) in expected_vectors() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, serde_json::to_string_pretty(&value).unwrap() + "\n").unwrap();
        }
    });
}

/// Compares `expected` with the file at `path` (after writing it when regenerating).
fn check(path: &Path, expected: &Value) {
    write_all_if_regenerating();
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "missing vector {} ({e}); run with {REGENERATE_VAR}=1 and commit it",
            path.display()
        )
    });
    let found: Value = serde_json::from_str(&text).unwrap();
    if &found != expected {
        let (Value::Object(f), Value::Object(e)) = (&found, expected) else {
            panic!("not objects")
        };
        let keys: BTreeSet<&String> = f.keys().chain(e.keys()).collect();
        let diff: Vec<String> = keys
            .into_iter()
            .filter(|k| f.get(*k) != e.get(*k))
            .map(|k| {
                format!(
                    "  {k}:\n    file: {}\n    code: {}",
                    short(f.get(k)),
                    short(e.get(k))
                )
            })
            .collect();
        panic!(
            "{} does not match the code (an event type or the codec changed without its vector):\n{}\n\
             If the change is intended and backward compatible (a NEW variant), run with {REGENERATE_VAR}=1.",
            path.display(),
            diff.join("\n")
        );
    }
}

fn short(v: Option<&Value>) -> String {
    let s = v.map(Value::to_string).unwrap_or_else(|| "(absent)".into());
    if s.len() > 200 {
        format!("{}…", &s[..200])
    } else {
        s
    }
}

// ---- sealed secrets, built by hand from the documented layout ------------------------

const SECRET_AD_DOMAIN: &[u8] = b"credledger/secret/v1\n";
const WRAP_AD_DOMAIN: &[u8] = b"credledger/data-key/v1\n";

/// One sealed credential version of the fixtures.
struct SecretFixture {
    version: u32,
    data_key: [u8; 32],
    nonce: [u8; 24],
    wrap_nonce: [u8; 24],
    fields: &'static [(&'static str, &'static str)],
}

const SECRETS: [SecretFixture; 2] = [
    SecretFixture {
        version: 1,
        data_key: [0xd1; 32],
        nonce: [0x4e; 24],
        wrap_nonce: [0x57; 24],
        fields: &[("api_key", "sk-test-0001")],
    },
    SecretFixture {
        version: 2,
        data_key: [0xd2; 32],
        nonce: [0x4f; 24],
        wrap_nonce: [0x58; 24],
        fields: &[("api_key", "sk-test-0002")],
    },
];

fn secret_ad(version: u32) -> Vec<u8> {
    [
        SECRET_AD_DOMAIN,
        &TENANT.0,
        &CREDENTIAL.0,
        &version.to_le_bytes(),
    ]
    .concat()
}

fn wrap_ad(version: u32) -> Vec<u8> {
    [
        WRAP_AD_DOMAIN,
        &TENANT.0,
        &CREDENTIAL.0,
        &version.to_le_bytes(),
        &MASTER_KEY_ID.to_le_bytes(),
    ]
    .concat()
}

/// The plaintext of a sealed version: the canonical map of secret field names to values,
/// written by hand (u64 count, then sorted `u64 len || utf8` key and value pairs).
fn secret_plaintext(fields: &[(&str, &str)]) -> Vec<u8> {
    let sorted: BTreeMap<&str, &str> = fields.iter().copied().collect();
    let mut out = (sorted.len() as u64).to_le_bytes().to_vec();
    for (k, v) in sorted {
        for s in [k, v] {
            out.extend_from_slice(&(s.len() as u64).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
    }
    out
}

fn seal_fixture(f: &SecretFixture) -> Sealed {
    let cipher = XChaCha20Poly1305::new((&f.data_key).into());
    let ciphertext = cipher
        .encrypt(
            XNonce::from_slice(&f.nonce),
            Payload {
                msg: &secret_plaintext(f.fields),
                aad: &secret_ad(f.version),
            },
        )
        .unwrap();
    Sealed {
        nonce: f.nonce,
        ciphertext,
    }
}

fn wrap_fixture(f: &SecretFixture) -> WrappedKey {
    let cipher = XChaCha20Poly1305::new((&MASTER_KEY).into());
    let ciphertext = cipher
        .encrypt(
            XNonce::from_slice(&f.wrap_nonce),
            Payload {
                msg: &f.data_key,
                aad: &wrap_ad(f.version),
            },
        )
        .unwrap();
    WrappedKey {
        master_key_id: MASTER_KEY_ID,
        nonce: f.wrap_nonce,
        ciphertext,
    }
}

// ---- the sample events -------------------------------------------------------------

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// One sample body per variant, in variant order. `rotation_seq` is the sequence number
/// the `SigningKeyRotated` sample will have (its proof of possession covers it).
fn sample_bodies() -> Vec<Body> {
    let rotation_seq = Body::ACTIONS
        .iter()
        .position(|a| *a == "signing_key_rotated")
        .unwrap() as u64;
    let old_key = test_key().verifying_key().to_bytes();
    let new_key = next_key().verifying_key().to_bytes();
    vec![
        Body::LedgerInitialized {
            origin: ORIGIN.into(),
            signing_key: old_key,
        },
        Body::TenantCreated {
            tenant: TENANT,
            name: "default".into(),
        },
        Body::PrincipalCreated {
            tenant: TENANT,
            principal: PRINCIPAL,
            name: "alice".into(),
            kind: PrincipalKind::User,
            role: Role::Admin,
            system_admin: true,
        },
        Body::PrincipalDisabled {
            tenant: TENANT,
            principal: GRANTEE,
        },
        Body::TokenIssued {
            tenant: TENANT,
            principal: PRINCIPAL,
            token: TOKEN,
            hash: *blake3::keyed_hash(&TOKEN_KEY, b"clt_test-token").as_bytes(),
            expires_at_ms: Some(T0_MS + 90 * 86_400_000),
        },
        Body::TokenRevoked {
            tenant: TENANT,
            token: TOKEN,
        },
        Body::CredentialCreated {
            tenant: TENANT,
            credential: CREDENTIAL,
            name: "openai-prod".into(),
            template: "openai".into(),
            service: "openai".into(),
            owner: Owner::Tenant,
            description: "Production OpenAI key".into(),
            public: map(&[
                ("organization", "org-test"),
                ("base_url", "https://api.openai.com/v1"),
            ]),
            sealed: seal_fixture(&SECRETS[0]),
            rotate_every_days: Some(90),
            expires_at_ms: None,
            is_default: true,
        },
        Body::CredentialUpdated {
            tenant: TENANT,
            credential: CREDENTIAL,
            change: MetadataChange {
                name: Some("openai-production".into()),
                rotate_every_days: Some(Some(30)),
                expires_at_ms: Some(None),
                is_default: None,
                description: None,
            },
        },
        Body::CredentialRotated {
            tenant: TENANT,
            credential: CREDENTIAL,
            version: 2,
            public: map(&[("organization", "org-test")]),
            sealed: seal_fixture(&SECRETS[1]),
            retired: vec![],
        },
        Body::CredentialUsed {
            tenant: TENANT,
            credential: Some(CREDENTIAL),
            version: Some(2),
            service: Some("openai".into()),
            subject: Some(PRINCIPAL),
            source: Source::Granted,
            purpose: Purpose::Resolve,
        },
        Body::UseDenied {
            tenant: TENANT,
            credential: None,
            service: Some("anthropic".into()),
            subject: Some(PRINCIPAL),
            reason: DenyReason::NotConfigured,
        },
        Body::CredentialVerified {
            tenant: TENANT,
            credential: CREDENTIAL,
            version: 2,
            ok: false,
            reason: "HTTP 401 from https://api.openai.com/v1/models".into(),
            latency_ms: 215,
        },
        Body::GrantAdded {
            tenant: TENANT,
            credential: CREDENTIAL,
            principal: GRANTEE,
        },
        Body::GrantRevoked {
            tenant: TENANT,
            credential: CREDENTIAL,
            principal: GRANTEE,
        },
        Body::CredentialDeleted {
            tenant: TENANT,
            credential: CREDENTIAL,
        },
        Body::CredentialRestored {
            tenant: TENANT,
            credential: CREDENTIAL,
        },
        Body::CredentialDestroyed {
            tenant: TENANT,
            credential: CREDENTIAL,
            versions: vec![1, 2],
        },
        Body::AccessDenied {
            tenant: TENANT,
            credential: CREDENTIAL,
            attempted: "rotate".into(),
            reason: DenyReason::Role,
        },
        Body::MasterKeyRotated {
            old_key_id: 1,
            new_key_id: 2,
            rewrapped: 2,
        },
        Body::SigningKeyRotated {
            old_key,
            new_key,
            possession: next_key()
                .sign(&rotation_message(&old_key, &new_key, rotation_seq))
                .to_bytes()
                .to_vec(),
        },
        Body::VersionsDeleted {
            tenant: TENANT,
            credential: CREDENTIAL,
            versions: vec![1],
        },
        Body::VersionsUndeleted {
            tenant: TENANT,
            credential: CREDENTIAL,
            versions: vec![1],
        },
        Body::VersionsDestroyed {
            tenant: TENANT,
            credential: CREDENTIAL,
            versions: vec![1, 2],
        },
        Body::KvMetadataSet {
            tenant: TENANT,
            credential: CREDENTIAL,
            max_versions: 5,
            cas_required: true,
            delete_version_after: "768h".into(),
            custom_metadata: map(&[("owner", "team-red")]),
        },
        Body::KvConfigSet {
            tenant: TENANT,
            mount: "secret".into(),
            max_versions: 10,
            cas_required: false,
            delete_version_after: "0s".into(),
        },
        Body::AccessDeniedV2 {
            tenant: TENANT,
            operation: "token_issued".into(),
            target: Some(Target::Principal(GRANTEE)),
            reason: RefusalReason::SystemOnly,
        },
        Body::DelegationGranted {
            tenant: TENANT,
            principal: GRANTEE,
            all_users: false,
            users: vec![PRINCIPAL],
        },
        Body::DelegationRevoked {
            tenant: TENANT,
            principal: GRANTEE,
        },
        Body::AuthFailures {
            source: Some("192.0.2.99".into()),
            first_ms: T0_MS + 27_000,
            last_ms: T0_MS + 27_900,
            count: 12,
            malformed: 4,
            tokens: vec![TOKEN],
        },
        Body::GroupCreated {
            tenant: TENANT,
            group: GROUP,
            name: "team-red".into(),
        },
        Body::GroupMemberAdded {
            tenant: TENANT,
            group: GROUP,
            principal: GRANTEE,
        },
        Body::GroupMemberRemoved {
            tenant: TENANT,
            group: GROUP,
            principal: GRANTEE,
        },
        Body::GrantAddedV2 {
            tenant: TENANT,
            credential: CREDENTIAL,
            grantee: Grantee::Group(GROUP),
            level: GrantLevel::Manage,
        },
        Body::GrantRevokedV2 {
            tenant: TENANT,
            credential: CREDENTIAL,
            grantee: Grantee::Group(GROUP),
        },
        Body::TemplateDefined {
            tenant: TENANT,
            name: "benchmarker".into(),
            definition: TEMPLATE_DEFINITION.into(),
        },
        Body::TemplateDeleted {
            tenant: TENANT,
            name: "benchmarker".into(),
        },
        Body::CredentialVerifiedV2 {
            tenant: TENANT,
            credential: None,
            version: None,
            template: "bearer_token".into(),
            ok: false,
            reason: "HTTP 401 (expected 200)".into(),
            latency_ms: 12,
        },
        Body::ConsoleSignedIn {
            tenant: TENANT,
            principal: PRINCIPAL,
            session: GRANTEE,
        },
        Body::ConsoleSignedOut {
            tenant: TENANT,
            principal: PRINCIPAL,
            session: GRANTEE,
            reason: SessionEnd::IdleTimeout,
        },
        Body::ScheduledVerifySet {
            tenant: TENANT,
            credential: CREDENTIAL,
            enabled: false,
        },
        Body::WebhookCreated {
            tenant: TENANT,
            webhook: GROUP,
            origin: "https://hooks.example.com".into(),
            events: vec!["verify_failed".into(), "expiring".into()],
            format: WebhookFormat::Slack,
            expiring_within_days: 14,
            ledger_wide: false,
            // Bytes of the layout only (not an opening ciphertext; see the sealed-secret
            // vectors for the envelope itself).
            sealed: Sealed {
                nonce: [0x5a; 24],
                ciphertext: vec![0xc3; 40],
            },
        },
        Body::WebhookDeleted {
            tenant: TENANT,
            webhook: GROUP,
        },
        Body::WebhookDelivered {
            tenant: TENANT,
            webhook: GROUP,
            notification: GRANTEE,
            event: "verify_failed".into(),
            credential: Some(CREDENTIAL),
            version: Some(2),
            trigger_seq: Some(11),
            ok: false,
            attempts: 6,
            status: Some(503),
            error: "HTTP 503".into(),
        },
    ]
}

/// The definition in the `template_defined` vector (a template's JSON).
const TEMPLATE_DEFINITION: &str = r#"{"name":"benchmarker","title":"Benchmarker IoT Platform","description":"API URL and key of a Benchmarker instance.","fields":[{"name":"api_url","type":"text","required":true,"env":"BENCHMARKER_API_URL"},{"name":"api_key","type":"secret","required":true,"env":"BENCHMARKER_API_KEY"}]}"#;

/// A sample with everything needed to check its vector.
struct Sample {
    event: Event,
    signed: SignedEvent,
    /// The seed of the key that signed it.
    seed: [u8; 32],
}

/// The samples as one valid ledger: sequence number = variant index, linked by hash,
/// signed by the key in force (which changes after `SigningKeyRotated`).
fn samples() -> Vec<Sample> {
    let mut prev: Hash32 = [0; 32];
    let mut seed = TEST_SEED;
    let mut out = Vec::new();
    for (seq, body) in sample_bodies().into_iter().enumerate() {
        let seq = seq as u64;
        let system = matches!(
            body,
            Body::LedgerInitialized { .. } | Body::TenantCreated { .. } | Body::AuthFailures { .. }
        );
        let (actor, context) = if system {
            (Actor::default(), RequestContext::default())
        } else {
            (
                Actor {
                    tenant: Some(TENANT),
                    principal: Some(PRINCIPAL),
                    token: Some(TOKEN),
                },
                RequestContext {
                    request_id: Some(format!("req-{seq:04}")),
                    remote_addr: Some("192.0.2.10:51000".into()),
                },
            )
        };
        let rotates_to = match &body {
            Body::SigningKeyRotated { .. } => Some(NEXT_SEED),
            _ => None,
        };
        let event = Event {
            format: EVENT_FORMAT,
            seq,
            at_ms: T0_MS + seq as i64 * 1000,
            prev,
            actor,
            context,
            body,
        };
        let signed = SignedEvent::seal(event.clone(), &SigningKey::from_bytes(&seed)).unwrap();
        prev = *signed.hash();
        out.push(Sample {
            event,
            signed,
            seed,
        });
        if let Some(next) = rotates_to {
            seed = next;
        }
    }
    out
}

// ---- the readable rendering of an event (also the exhaustiveness guard) ------------

fn opt<T>(v: &Option<T>, f: impl Fn(&T) -> Value) -> Value {
    v.as_ref().map_or(Value::Null, f)
}

fn id(i: &Id) -> Value {
    Value::String(h(i.0))
}

fn opt_id(i: &Option<Id>) -> Value {
    opt(i, id)
}

fn sealed_json(s: &Sealed) -> Value {
    json!({"nonce": h(s.nonce), "ciphertext": h(&s.ciphertext)})
}

/// `None` = unchanged (null); `Some(x)` = set to x, which may itself be null.
fn change<T: Serialize>(v: &Option<Option<T>>) -> Value {
    opt(v, |inner| json!({ "set": inner }))
}

fn variant_name<T: Debug>(v: &T) -> Value {
    Value::String(format!("{v:?}"))
}

/// Maps every variant to its vector file stem, a description and a readable rendering of
/// all its fields. Every variant and field is named: adding either stops this compiling.
fn describe(body: &Body) -> (&'static str, &'static str, Value) {
    match body {
        Body::LedgerInitialized { origin, signing_key } => (
            "ledger_initialized",
            "Sequence 0, the genesis event: the ledger's origin and its first signing key (the test key).",
            json!({"origin": origin, "signing_key": h(signing_key)}),
        ),
        Body::TenantCreated { tenant, name } => (
            "tenant_created",
            "A tenant was created (bootstrap: no actor, no request context).",
            json!({"tenant": id(tenant), "name": name}),
        ),
        Body::PrincipalCreated { tenant, principal, name, kind, role, system_admin } => (
            "principal_created",
            "A principal (user or service) with a role was created in a tenant.",
            json!({"tenant": id(tenant), "principal": id(principal), "name": name,
                   "kind": variant_name(kind), "role": variant_name(role), "system_admin": system_admin}),
        ),
        Body::PrincipalDisabled { tenant, principal } => (
            "principal_disabled",
            "A principal was disabled.",
            json!({"tenant": id(tenant), "principal": id(principal)}),
        ),
        Body::TokenIssued { tenant, principal, token, hash, expires_at_ms } => (
            "token_issued",
            "An API token was issued; hash is the keyed BLAKE3 hash of the token text.",
            json!({"tenant": id(tenant), "principal": id(principal), "token": id(token), "hash": h(hash),
                   "expires_at_ms": expires_at_ms}),
        ),
        Body::TokenRevoked { tenant, token } => (
            "token_revoked",
            "An API token was revoked.",
            json!({"tenant": id(tenant), "token": id(token)}),
        ),
        Body::CredentialCreated {
            tenant,
            credential,
            name,
            template,
            service,
            owner,
            description,
            public,
            sealed,
            rotate_every_days,
            expires_at_ms,
            is_default,
        } => (
            "created",
            "A shared credential was created (version 1); its secret fields are sealed under a data key \
             (see secret.json: it opens with the test master key).",
            json!({"tenant": id(tenant), "credential": id(credential), "name": name, "template": template,
                   "service": service,
                   "owner": match owner { Owner::Tenant => json!("Tenant"), Owner::Principal(p) => json!({"Principal": id(p)}) },
                   "description": description, "public": public, "sealed": sealed_json(sealed),
                   "rotate_every_days": rotate_every_days, "expires_at_ms": expires_at_ms, "is_default": is_default}),
        ),
        Body::CredentialUpdated { tenant, credential, change: c } => {
            let MetadataChange { name, rotate_every_days, expires_at_ms, is_default, description } = c;
            (
                "updated",
                "Credential metadata changed: null = unchanged, {\"set\": x} = set to x (x may be null: cleared).",
                json!({"tenant": id(tenant), "credential": id(credential), "change": {
                    "name": opt(name, |n| json!({"set": n})), "rotate_every_days": change(rotate_every_days),
                    "expires_at_ms": change(expires_at_ms), "is_default": opt(is_default, |d| json!({"set": d})),
                    "description": opt(description, |d| json!({"set": d}))}}),
            )
        }
        Body::CredentialRotated { tenant, credential, version, public, sealed, retired } => (
            "rotated",
            "A new version (2) of the credential; nothing fell out of retention (retired is empty).",
            json!({"tenant": id(tenant), "credential": id(credential), "version": version, "public": public,
                   "sealed": sealed_json(sealed), "retired": retired}),
        ),
        Body::CredentialUsed { tenant, credential, version, service, subject, source, purpose } => (
            "used",
            "A secret value was released to a principal through a grant (the audit-first event).",
            json!({"tenant": id(tenant), "credential": opt_id(credential), "version": version,
                   "service": service, "subject": opt_id(subject), "source": variant_name(source),
                   "purpose": variant_name(purpose)}),
        ),
        Body::UseDenied { tenant, credential, service, subject, reason } => (
            "use_denied",
            "A resolve by service was refused because nothing is configured (credential is None).",
            json!({"tenant": id(tenant), "credential": opt_id(credential), "service": service,
                   "subject": opt_id(subject), "reason": variant_name(reason)}),
        ),
        Body::CredentialVerified { tenant, credential, version, ok, reason, latency_ms } => (
            "verified",
            "A connection test of version 2 failed (outcome failed).",
            json!({"tenant": id(tenant), "credential": id(credential), "version": version, "ok": ok,
                   "reason": reason, "latency_ms": latency_ms}),
        ),
        Body::GrantAdded { tenant, credential, principal } => (
            "granted",
            "A shared credential was granted to a principal.",
            json!({"tenant": id(tenant), "credential": id(credential), "principal": id(principal)}),
        ),
        Body::GrantRevoked { tenant, credential, principal } => (
            "grant_revoked",
            "A grant was revoked.",
            json!({"tenant": id(tenant), "credential": id(credential), "principal": id(principal)}),
        ),
        Body::CredentialDeleted { tenant, credential } => (
            "deleted",
            "A credential was soft-deleted.",
            json!({"tenant": id(tenant), "credential": id(credential)}),
        ),
        Body::CredentialRestored { tenant, credential } => (
            "restored",
            "A soft-deleted credential was restored.",
            json!({"tenant": id(tenant), "credential": id(credential)}),
        ),
        Body::CredentialDestroyed { tenant, credential, versions } => (
            "destroyed",
            "A credential was crypto-shredded: the data keys of versions 1 and 2 were deleted.",
            json!({"tenant": id(tenant), "credential": id(credential), "versions": versions}),
        ),
        Body::AccessDenied { tenant, credential, attempted, reason } => (
            "access_denied",
            "A non-resolve action (rotate) was refused because of the caller's role.",
            json!({"tenant": id(tenant), "credential": id(credential), "attempted": attempted,
                   "reason": variant_name(reason)}),
        ),
        Body::MasterKeyRotated { old_key_id, new_key_id, rewrapped } => (
            "master_key_rotated",
            "Every live data key was rewrapped from master key 1 to master key 2.",
            json!({"old_key_id": old_key_id, "new_key_id": new_key_id, "rewrapped": rewrapped}),
        ),
        Body::SigningKeyRotated { old_key, new_key, possession } => (
            "signing_key_rotated",
            "The signing key changes from the test key (seed 07..) to the next test key (seed 08..): \
             signed by the old key, with the new key's proof of possession over \
             KEY_ROTATION_DOMAIN || old_key || new_key || seq (u64 LE).",
            json!({"old_key": h(old_key), "new_key": h(new_key), "possession": h(possession)}),
        ),
        Body::VersionsDeleted { tenant, credential, versions } => (
            "versions_deleted",
            "Vault KV: version 1 of the credential was soft-deleted (reversible).",
            json!({"tenant": id(tenant), "credential": id(credential), "versions": versions}),
        ),
        Body::VersionsUndeleted { tenant, credential, versions } => (
            "versions_undeleted",
            "Vault KV: the soft-deleted version 1 was undeleted.",
            json!({"tenant": id(tenant), "credential": id(credential), "versions": versions}),
        ),
        Body::VersionsDestroyed { tenant, credential, versions } => (
            "versions_destroyed",
            "Vault KV: the data keys of versions 1 and 2 were deleted (those versions are crypto-shredded).",
            json!({"tenant": id(tenant), "credential": id(credential), "versions": versions}),
        ),
        Body::KvMetadataSet { tenant, credential, max_versions, cas_required, delete_version_after, custom_metadata } => (
            "kv_metadata_set",
            "Vault KV: the credential's KV metadata was set (all values replace the previous ones).",
            json!({"tenant": id(tenant), "credential": id(credential), "max_versions": max_versions,
                   "cas_required": cas_required, "delete_version_after": delete_version_after,
                   "custom_metadata": custom_metadata}),
        ),
        Body::KvConfigSet { tenant, mount, max_versions, cas_required, delete_version_after } => (
            "kv_config_set",
            "Vault KV: the tenant's configuration of the mount `secret` was set.",
            json!({"tenant": id(tenant), "mount": mount, "max_versions": max_versions,
                   "cas_required": cas_required, "delete_version_after": delete_version_after}),
        ),
        Body::AccessDeniedV2 { tenant, operation, target, reason } => (
            "access_denied_v2",
            "Action access_denied (successor of AccessDenied): a tenant admin tried to mint a token \
             for a system principal (reason SystemOnly); the target names the principal.",
            json!({"tenant": id(tenant), "operation": operation,
                   "target": opt(target, |t| match t {
                       Target::Credential(i) => json!({"Credential": id(i)}),
                       Target::Principal(i) => json!({"Principal": id(i)}),
                       Target::Token(i) => json!({"Token": id(i)}),
                       Target::Tenant(i) => json!({"Tenant": id(i)}),
                       Target::Event(seq) => json!({"Event": seq}),
                       Target::Group(i) => json!({"Group": id(i)}),
                   }),
                   "reason": variant_name(reason)}),
        ),
        Body::DelegationGranted { tenant, principal, all_users, users } => (
            "delegation_granted",
            "A service principal may resolve for_user for the listed user (not all users).",
            json!({"tenant": id(tenant), "principal": id(principal), "all_users": all_users,
                   "users": users.iter().map(id).collect::<Vec<_>>()}),
        ),
        Body::DelegationRevoked { tenant, principal } => (
            "delegation_revoked",
            "The delegation of a service principal was withdrawn.",
            json!({"tenant": id(tenant), "principal": id(principal)}),
        ),
        Body::AuthFailures { source, first_ms, last_ms, count, malformed, tokens } => (
            "auth_failures",
            "Failed authentications from one source in one window, aggregated (system stream: no \
             tenant, no actor): 12 failures, 4 of them malformed, one parseable token id.",
            json!({"source": source, "first_ms": first_ms, "last_ms": last_ms, "count": count,
                   "malformed": malformed, "tokens": tokens.iter().map(id).collect::<Vec<_>>()}),
        ),
        Body::GroupCreated { tenant, group, name } => (
            "group_created",
            "A group (team) of principals, to grant credentials to.",
            json!({"tenant": id(tenant), "group": id(group), "name": name}),
        ),
        Body::GroupMemberAdded { tenant, group, principal } => (
            "group_member_added",
            "A principal joined the group: from the next resolve on it gets the group's grants.",
            json!({"tenant": id(tenant), "group": id(group), "principal": id(principal)}),
        ),
        Body::GroupMemberRemoved { tenant, group, principal } => (
            "group_member_removed",
            "The principal left the group: from the next resolve on it no longer gets them.",
            json!({"tenant": id(tenant), "group": id(group), "principal": id(principal)}),
        ),
        Body::GrantAddedV2 { tenant, credential, grantee, level } => (
            "granted_v2",
            "Action granted (successor of GrantAdded): the shared credential was granted to a              group at level Manage (resolve, rotate, update, verify).",
            json!({"tenant": id(tenant), "credential": id(credential),
                   "grantee": grantee_json(grantee), "level": variant_name(level)}),
        ),
        Body::GrantRevokedV2 { tenant, credential, grantee } => (
            "grant_revoked_v2",
            "Action grant_revoked (successor of GrantRevoked): the group's grant was withdrawn.",
            json!({"tenant": id(tenant), "credential": id(credential), "grantee": grantee_json(grantee)}),
        ),
        Body::TemplateDefined { tenant, name, definition } => (
            "template_defined",
            "A tenant template, its definition in the JSON format of schemas/templates/.",
            json!({"tenant": id(tenant), "name": name, "definition": definition}),
        ),
        Body::TemplateDeleted { tenant, name } => (
            "template_deleted",
            "The tenant template was removed.",
            json!({"tenant": id(tenant), "name": name}),
        ),
        Body::CredentialVerifiedV2 { tenant, credential, version, template, ok, reason, latency_ms } => (
            "verified_v2",
            "Action verified (successor of CredentialVerified, naming the template): a connection \
             test of unsaved input (test before save), so no credential and no version; it failed.",
            json!({"tenant": id(tenant), "credential": opt_id(credential), "version": version,
                   "template": template, "ok": ok, "reason": reason, "latency_ms": latency_ms}),
        ),
        Body::ConsoleSignedIn { tenant, principal, session } => (
            "console_signed_in",
            "A person signed in to the web console with an API token of the actor principal; the \
             session is its public id (never the cookie's value).",
            json!({"tenant": id(tenant), "principal": id(principal), "session": id(session)}),
        ),
        Body::ConsoleSignedOut { tenant, principal, session, reason } => (
            "console_signed_out",
            "A web console session ended: here by its idle timeout (reason IdleTimeout).",
            json!({"tenant": id(tenant), "principal": id(principal), "session": id(session),
                   "reason": variant_name(reason)}),
        ),
        Body::ScheduledVerifySet { tenant, credential, enabled } => (
            "scheduled_verify_set",
            "The credential was left out of scheduled connection tests (serve --verify-every) by \
             its owner or an admin (enabled false; true switches them back on).",
            json!({"tenant": id(tenant), "credential": id(credential), "enabled": enabled}),
        ),
        Body::WebhookCreated { tenant, webhook, origin, events, format, expiring_within_days, ledger_wide, sealed } => (
            "webhook_created",
            "A webhook of the tenant (Slack format, two events); its URL and HMAC secret are sealed \
             like a credential version (binding credential = webhook id, version 1); only the \
             origin is in the clear.",
            json!({"tenant": id(tenant), "webhook": id(webhook), "origin": origin, "events": events,
                   "format": variant_name(format), "expiring_within_days": expiring_within_days,
                   "ledger_wide": ledger_wide, "sealed": sealed_json(sealed)}),
        ),
        Body::WebhookDeleted { tenant, webhook } => (
            "webhook_deleted",
            "The webhook was deleted and its data key shredded.",
            json!({"tenant": id(tenant), "webhook": id(webhook)}),
        ),
        Body::WebhookDelivered { tenant, webhook, notification, event, credential, version, trigger_seq, ok, attempts, status, error } => (
            "webhook_delivered",
            "A notification (verify_failed of version 2, triggered by event 11) was given up after \
             six attempts, the last answered 503.",
            json!({"tenant": id(tenant), "webhook": id(webhook), "notification": id(notification),
                   "event": event, "credential": opt_id(credential), "version": version,
                   "trigger_seq": trigger_seq, "ok": ok, "attempts": attempts, "status": status,
                   "error": error}),
        ),
    }
}

fn grantee_json(g: &Grantee) -> Value {
    match g {
        Grantee::Principal(i) => json!({"Principal": id(i)}),
        Grantee::Group(i) => json!({"Group": id(i)}),
    }
}

fn render_event(e: &Event) -> Value {
    let (_, _, fields) = describe(&e.body);
    json!({
        "format": e.format,
        "seq": e.seq,
        "at_ms": e.at_ms,
        "prev": h(e.prev),
        "actor": {"tenant": opt_id(&e.actor.tenant), "principal": opt_id(&e.actor.principal),
                  "token": opt_id(&e.actor.token)},
        "context": {"request_id": e.context.request_id, "remote_addr": e.context.remote_addr},
        "body": {"variant": variant_name(&e.body).as_str().unwrap().split([' ', '{']).next().unwrap(),
                 "fields": fields},
    })
}

fn variant_index(body: &Body) -> u32 {
    let bytes = codec::encode(body).unwrap();
    u32::from_le_bytes(bytes[..4].try_into().unwrap())
}

fn event_vector(s: &Sample) -> Value {
    let (stem, description, _) = describe(&s.event.body);
    let key = SigningKey::from_bytes(&s.seed);
    let record = s.signed.to_record();
    json!({
        "description": description,
        "action": stem,
        "variant_index": variant_index(&s.event.body),
        "signing_key": {
            "warning": "TEST ONLY. This key is public; never use it for a real ledger.",
            "seed_hex": h(s.seed),
            "public_key_hex": h(key.verifying_key().to_bytes()),
        },
        "event": render_event(&s.event),
        "event_hex": h(s.signed.bytes()),
        "hash_hex": h(s.signed.hash()),
        "signed_message_hex": h(signing_message(s.signed.hash())),
        "signature_hex": h(s.signed.signature()),
        "record_hex": h(&record),
        "merkle_leaf_hash_hex": h(credledger::merkle::leaf_hash(&record)),
    })
}

fn event_path(stem: &str) -> PathBuf {
    vectors_dir().join("events").join(format!("{stem}.json"))
}

fn load(path: &Path) -> Value {
    write_all_if_regenerating();
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

// ---- (a)–(d): every variant against its vector -------------------------------------

#[test]
fn samples_cover_every_variant_in_order() {
    let bodies = sample_bodies();
    assert_eq!(
        bodies.len(),
        Body::ACTIONS.len(),
        "add a sample body for the new variant"
    );
    for (i, b) in bodies.iter().enumerate() {
        let (stem, _, _) = describe(b);
        assert!(
            stem == b.action() || stem == format!("{}_v2", b.action()),
            "vector file name must be the action name (with _v2 for a successor variant)"
        );
        assert_eq!(
            b.action(),
            Body::ACTIONS[i],
            "samples must follow variant order"
        );
        assert_eq!(
            variant_index(b),
            i as u32,
            "ACTIONS[i] must be variant index i"
        );
    }
}

#[test]
fn every_variant_matches_its_vector() {
    for s in samples() {
        let (stem, _, _) = describe(&s.event.body);
        check(&event_path(stem), &event_vector(&s));
    }
}

#[test]
fn every_variant_has_exactly_one_vector() {
    if regenerate() {
        return;
    }
    let dir = vectors_dir().join("events");
    let files: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let expected: BTreeSet<String> = sample_bodies()
        .iter()
        .map(|b| format!("{}.json", describe(b).0))
        .collect();
    assert_eq!(
        files, expected,
        "schemas/vectors/events/ must hold exactly one file per Body variant"
    );
    assert_eq!(files.len(), Body::ACTIONS.len());
}

#[test]
fn vector_bytes_decode_to_the_samples_and_hash_and_signature_recompute() {
    for s in samples() {
        let (stem, _, _) = describe(&s.event.body);
        let v = load(&event_path(stem));
        let event_bytes = unhex(&v, "event_hex");
        // (b) expected decode.
        let decoded: Event = codec::decode(&event_bytes).unwrap();
        assert_eq!(decoded, s.event, "{stem}: decode");
        assert_eq!(
            render_event(&decoded),
            v["event"],
            "{stem}: readable rendering"
        );
        assert_eq!(
            codec::encode(&decoded).unwrap(),
            event_bytes,
            "{stem}: re-encode"
        );
        // (c) hash and signature, from the bytes alone.
        let hash = event_hash(&event_bytes);
        assert_eq!(h(hash), v["hash_hex"], "{stem}: hash");
        let key = SigningKey::from_bytes(&unhex(&v["signing_key"], "seed_hex").try_into().unwrap());
        assert_eq!(
            h(key.verifying_key().to_bytes()),
            v["signing_key"]["public_key_hex"]
        );
        let sig = key.sign(&signing_message(&hash));
        assert_eq!(h(sig.to_bytes()), v["signature_hex"], "{stem}: signature");
        // The record decodes to the same event and signature.
        let record = unhex(&v, "record_hex");
        let back = SignedEvent::from_record(&record).unwrap();
        assert_eq!(back.event(), &s.event);
        assert_eq!(back.bytes(), event_bytes.as_slice());
        assert!(
            back.verify_signature(&key.verifying_key()),
            "{stem}: record signature"
        );
        assert_eq!(back.to_record(), record);
    }
}

#[test]
fn the_vectors_form_a_ledger_that_replay_verifies() {
    let records: Vec<Result<(u64, Vec<u8>), String>> = sample_bodies()
        .iter()
        .enumerate()
        .map(|(i, b)| {
            Ok((
                i as u64,
                unhex(&load(&event_path(describe(b).0)), "record_hex"),
            ))
        })
        .collect();
    let report = credledger::replay::verify(
        records.into_iter(),
        Some(test_key().verifying_key()),
        |_| {},
    );
    assert!(report.ok(), "{:?}", report.failure);
    assert_eq!(report.verified, Body::ACTIONS.len() as u64);
    let rotation = Body::ACTIONS
        .iter()
        .position(|a| *a == "signing_key_rotated")
        .unwrap() as u64;
    assert_eq!(
        report.keys,
        vec![
            (0, h(test_key().verifying_key().to_bytes())),
            (rotation + 1, h(next_key().verifying_key().to_bytes()))
        ]
    );
}

// ---- (e): what the codec must reject -----------------------------------------------

#[test]
fn trailing_bytes_and_bad_variant_indices_are_rejected() {
    for s in samples() {
        let stem = s.event.body.action();
        let variant = variant_index(&s.event.body) as usize;
        let mut bytes = s.signed.bytes().to_vec();
        bytes.push(0);
        assert_eq!(
            codec::decode::<Event>(&bytes),
            Err(CodecError::TrailingBytes(1)),
            "{stem}"
        );
        let mut record = s.signed.to_record();
        record.push(0);
        assert!(
            SignedEvent::from_record(&record).is_err(),
            "{stem}: record with a trailing byte"
        );

        // The body's variant index starts where the envelope ends.
        let bytes = s.signed.bytes();
        let at = bytes.len() - codec::encode(&s.event.body).unwrap().len();
        let index = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        assert_eq!(index as usize, variant);
        assert_eq!(Body::ACTIONS[variant], stem);
        for bad in [Body::ACTIONS.len() as u32, u32::MAX] {
            let mut b = bytes.to_vec();
            b[at..at + 4].copy_from_slice(&bad.to_le_bytes());
            assert!(
                matches!(codec::decode::<Event>(&b), Err(CodecError::Decode(_))),
                "{stem}: index {bad}"
            );
        }
        // Another valid index either fails to decode or decodes to another event, whose
        // hash differs, so the signature no longer verifies.
        let mut b = bytes.to_vec();
        b[at] ^= 1;
        if let Ok(e) = codec::decode::<Event>(&b) {
            assert_ne!(e, s.event);
            let key = SigningKey::from_bytes(&s.seed).verifying_key();
            let sig = ed25519_dalek::Signature::from_bytes(s.signed.signature());
            assert!(key.verify(&signing_message(&event_hash(&b)), &sig).is_err());
        }
    }
}

// ---- codec-level vectors -----------------------------------------------------------

struct CodecCase {
    name: &'static str,
    rust_type: &'static str,
    value: Value,
    bytes: Vec<u8>,
    /// Decodes the bytes and re-encodes them with the codec.
    round_trip: fn(&[u8]) -> Result<Vec<u8>, CodecError>,
}

fn rt<T: Serialize + DeserializeOwned>(b: &[u8]) -> Result<Vec<u8>, CodecError> {
    codec::encode(&codec::decode::<T>(b)?)
}

fn case<T: Serialize + DeserializeOwned>(
    name: &'static str,
    rust_type: &'static str,
    v: &T,
    value: Value,
) -> CodecCase {
    CodecCase {
        name,
        rust_type,
        value,
        bytes: codec::encode(v).unwrap(),
        round_trip: rt::<T>,
    }
}

fn codec_cases() -> Vec<CodecCase> {
    let unordered = map(&[("b", "2"), ("a", "1"), ("aa", "3"), ("B", "4")]);
    vec![
        case("u8", "u8", &0xabu8, json!(0xab)),
        case("u16", "u16", &0x0102u16, json!(0x0102)),
        case("u32", "u32", &0x01020304u32, json!(0x01020304)),
        case(
            "u64",
            "u64",
            &0x0102030405060708u64,
            json!(0x0102030405060708u64),
        ),
        case("i64 negative", "i64", &-2i64, json!(-2)),
        case("bool false", "bool", &false, json!(false)),
        case("bool true", "bool", &true, json!(true)),
        case("Option none", "Option<u32>", &None::<u32>, json!(null)),
        case("Option some", "Option<u32>", &Some(7u32), json!(7)),
        case(
            "Option<Option> some(none)",
            "Option<Option<u32>>",
            &Some(None::<u32>),
            json!({"set": null}),
        ),
        case(
            "Option<Id> some",
            "Option<Id>",
            &Some(Id([0xab; 16])),
            json!(h([0xab; 16])),
        ),
        case("String empty", "String", &String::new(), json!("")),
        case(
            "String utf8",
            "String",
            &"héllo".to_string(),
            json!("héllo"),
        ),
        case("Vec<u32> empty", "Vec<u32>", &Vec::<u32>::new(), json!([])),
        case("Vec<u32>", "Vec<u32>", &vec![1u32, 2], json!([1, 2])),
        case("Vec<u8>", "Vec<u8>", &vec![0xdeu8, 0xad], json!("dead")),
        case(
            "[u8; 4] fixed array",
            "[u8; 4]",
            &[1u8, 2, 3, 4],
            json!("01020304"),
        ),
        case("Id", "Id", &Id([0x11; 16]), json!(h([0x11; 16]))),
        case(
            "BTreeMap empty",
            "BTreeMap<String, String>",
            &BTreeMap::<String, String>::new(),
            json!({}),
        ),
        case(
            "BTreeMap sorted by key bytes (inserted b, a, aa, B)",
            "BTreeMap<String, String>",
            &unordered,
            json!({"B": "4", "a": "1", "aa": "3", "b": "2"}),
        ),
        case(
            "unit variant",
            "DenyReason",
            &DenyReason::Unavailable,
            json!("Unavailable"),
        ),
        case(
            "unit variant index 0",
            "Owner",
            &Owner::Tenant,
            json!("Tenant"),
        ),
        case(
            "newtype variant",
            "Owner",
            &Owner::Principal(Id([0x22; 16])),
            json!({"Principal": h([0x22; 16])}),
        ),
        case(
            "struct = fields in order, no names",
            "Sealed",
            &Sealed {
                nonce: [0x4e; 24],
                ciphertext: vec![1, 2, 3],
            },
            json!({"nonce": h([0x4e; 24]), "ciphertext": "010203"}),
        ),
    ]
}

/// A byte string the codec must refuse.
struct Reject {
    name: &'static str,
    rust_type: &'static str,
    bytes: Vec<u8>,
    why: &'static str,
    /// Decodes the bytes as `rust_type`.
    decode: fn(&[u8]) -> Result<(), CodecError>,
}

fn dec<T: DeserializeOwned>(b: &[u8]) -> Result<(), CodecError> {
    codec::decode::<T>(b).map(|_| ())
}

fn codec_rejects() -> Vec<Reject> {
    let reject = |name, rust_type, bytes: &[u8], why, decode| Reject {
        name,
        rust_type,
        bytes: bytes.to_vec(),
        why,
        decode,
    };
    let over_limit = ((codec::MAX_LEN as u64) + 1).to_le_bytes();
    vec![
        reject(
            "trailing byte",
            "u32",
            &[1, 0, 0, 0, 0],
            "trailing bytes",
            dec::<u32>,
        ),
        reject(
            "truncated",
            "u64",
            &[1, 0, 0, 0],
            "input ends early",
            dec::<u64>,
        ),
        reject("bool 2", "bool", &[2], "bool must be 0 or 1", dec::<bool>),
        reject(
            "Option tag 2",
            "Option<u8>",
            &[2, 0],
            "Option tag must be 0 or 1",
            dec::<Option<u8>>,
        ),
        reject(
            "invalid UTF-8",
            "String",
            &[1, 0, 0, 0, 0, 0, 0, 0, 0xff],
            "strings must be UTF-8",
            dec::<String>,
        ),
        reject(
            "unknown variant",
            "DenyReason",
            &[8, 0, 0, 0],
            "variant index out of range",
            dec::<DenyReason>,
        ),
        reject(
            "length over the limit",
            "Vec<u8>",
            &over_limit,
            "length prefix above the 1 MiB limit",
            dec::<Vec<u8>>,
        ),
    ]
}

fn codec_vector() -> Value {
    let cases: Vec<Value> = codec_cases()
        .iter()
        .map(|c| json!({"name": c.name, "type": c.rust_type, "value": c.value, "hex": h(&c.bytes)}))
        .collect();
    let rejects: Vec<Value> = codec_rejects()
        .iter()
        .map(|r| json!({"name": r.name, "type": r.rust_type, "hex": h(&r.bytes), "why": r.why}))
        .collect();
    json!({
        "description": "Codec primitives (docs/FORMAT.md, 'Primitive encodings'). `cases` encode to `hex` \
                        and decode back; `must_reject` are byte strings the decoder refuses.",
        "cases": cases,
        "must_reject": rejects,
    })
}

#[test]
fn codec_vectors_match() {
    check(&vectors_dir().join("codec.json"), &codec_vector());
    for c in codec_cases() {
        assert_eq!(
            (c.round_trip)(&c.bytes).as_deref(),
            Ok(c.bytes.as_slice()),
            "{}",
            c.name
        );
    }
    for r in codec_rejects() {
        assert!((r.decode)(&r.bytes).is_err(), "{} must be rejected", r.name);
    }
}

#[test]
fn codec_map_and_option_bytes_by_hand() {
    // Sorted by key bytes: "B" (0x42) < "a" < "aa" < "b".
    let bytes = codec::encode(&map(&[("b", "2"), ("a", "1"), ("aa", "3"), ("B", "4")])).unwrap();
    let mut r = hand::Reader::new(&bytes);
    assert_eq!(r.u64(), 4);
    let pairs: Vec<(String, String)> = (0..4).map(|_| (r.string(), r.string())).collect();
    r.end();
    let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["B", "a", "aa", "b"]);
    assert_eq!(codec::encode(&None::<Id>).unwrap(), [0]);
    assert_eq!(
        codec::encode(&Some(Id([3; 16]))).unwrap(),
        [&[1u8][..], &[3; 16]].concat()
    );
}

// ---- sealed secrets and the key ring -----------------------------------------------

fn secret_vector() -> Value {
    let versions: Vec<Value> = SECRETS
        .iter()
        .map(|f| {
            let sealed = seal_fixture(f);
            let wrapped = wrap_fixture(f);
            json!({
                "tenant": h(TENANT.0),
                "credential": h(CREDENTIAL.0),
                "version": f.version,
                "fields": f.fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
                "plaintext_hex": h(secret_plaintext(f.fields)),
                "data_key_hex": h(f.data_key),
                "secret_ad_hex": h(secret_ad(f.version)),
                "sealed_nonce_hex": h(f.nonce),
                "sealed_ciphertext_hex": h(&sealed.ciphertext),
                "sealed_hex": h(codec::encode(&sealed).unwrap()),
                "wrap_ad_hex": h(wrap_ad(f.version)),
                "wrapped_key_nonce_hex": h(f.wrap_nonce),
                "wrapped_key_ciphertext_hex": h(&wrapped.ciphertext),
                "keyring_key_hex": h(keyring_key(CREDENTIAL, f.version)),
                "keyring_value_hex": h(codec::encode(&wrapped).unwrap()),
            })
        })
        .collect();
    json!({
        "description": "Envelope encryption (docs/FORMAT.md, 'Sealed secrets' and 'Key ring'). The sealed \
                        payloads of the created (version 1) and rotated (version 2) event vectors, with their \
                        data keys and the wrapped keys stored in the key ring. Nonces and data keys are fixed \
                        here; the ledger draws them at random.",
        "master_key": {
            "warning": "TEST ONLY. This key is public; never use it for a real ledger.",
            "id": MASTER_KEY_ID,
            "key_hex": h(MASTER_KEY),
        },
        "versions": versions,
    })
}

#[test]
fn secret_vectors_match_and_open_with_the_library() {
    check(&vectors_dir().join("secret.json"), &secret_vector());
    let masters = MasterKeys::new([MasterKey::new(MASTER_KEY_ID, MASTER_KEY)]);
    for (f, v) in SECRETS.iter().zip(
        load(&vectors_dir().join("secret.json"))["versions"]
            .as_array()
            .unwrap(),
    ) {
        // The library opens what was built by hand from the documented layout.
        let sealed: Sealed = codec::decode(&unhex(v, "sealed_hex")).unwrap();
        let wrapped: WrappedKey = codec::decode(&unhex(v, "keyring_value_hex")).unwrap();
        let binding = Binding {
            tenant: TENANT,
            credential: CREDENTIAL,
            version: f.version,
        };
        let opened = secret::open(&sealed, &wrapped, binding, &masters).unwrap();
        let expected = SecretFields(
            f.fields
                .iter()
                .map(|(k, v)| (k.to_string(), (*v).into()))
                .collect(),
        );
        assert_eq!(opened, expected);
        assert_eq!(
            codec::encode(&expected).unwrap(),
            secret_plaintext(f.fields)
        );
        // A ciphertext does not open as another version or credential.
        let other = Binding {
            version: f.version + 1,
            ..binding
        };
        assert!(secret::open(&sealed, &wrapped, other, &masters).is_err());
        let other = Binding {
            credential: GRANTEE,
            ..binding
        };
        assert!(secret::open(&sealed, &wrapped, other, &masters).is_err());
    }
    // The sealed payloads inside the created and rotated vectors are these.
    let samples = samples();
    let Body::CredentialCreated { sealed, .. } = &samples[6].event.body else {
        panic!("created")
    };
    assert_eq!(sealed, &seal_fixture(&SECRETS[0]));
    let Body::CredentialRotated { sealed, .. } = &samples[8].event.body else {
        panic!("rotated")
    };
    assert_eq!(sealed, &seal_fixture(&SECRETS[1]));
}

// ---- an independent decoder, written from docs/FORMAT.md alone ---------------------

/// A reader of the documented primitives; it does not use the codec.
mod hand {
    pub struct Reader<'a> {
        b: &'a [u8],
        at: usize,
    }

    impl<'a> Reader<'a> {
        pub fn new(b: &'a [u8]) -> Self {
            Reader { b, at: 0 }
        }
        pub fn take(&mut self, n: usize) -> &'a [u8] {
            let s = &self.b[self.at..self.at + n];
            self.at += n;
            s
        }
        pub fn array<const N: usize>(&mut self) -> [u8; N] {
            self.take(N).try_into().unwrap()
        }
        pub fn u8(&mut self) -> u8 {
            self.take(1)[0]
        }
        pub fn u16(&mut self) -> u16 {
            u16::from_le_bytes(self.array())
        }
        pub fn u32(&mut self) -> u32 {
            u32::from_le_bytes(self.array())
        }
        pub fn u64(&mut self) -> u64 {
            u64::from_le_bytes(self.array())
        }
        pub fn i64(&mut self) -> i64 {
            i64::from_le_bytes(self.array())
        }
        pub fn bool(&mut self) -> bool {
            match self.u8() {
                0 => false,
                1 => true,
                b => panic!("bad bool {b}"),
            }
        }
        pub fn option<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> Option<T> {
            match self.u8() {
                0 => None,
                1 => Some(f(self)),
                t => panic!("bad option tag {t}"),
            }
        }
        pub fn bytes(&mut self) -> Vec<u8> {
            let n = self.u64() as usize;
            self.take(n).to_vec()
        }
        pub fn string(&mut self) -> String {
            String::from_utf8(self.bytes()).unwrap()
        }
        pub fn id(&mut self) -> [u8; 16] {
            self.array()
        }
        pub fn map(&mut self) -> Vec<(String, String)> {
            let n = self.u64();
            (0..n).map(|_| (self.string(), self.string())).collect()
        }
        pub fn position(&self) -> usize {
            self.at
        }
        pub fn end(&self) {
            assert_eq!(self.at, self.b.len(), "trailing bytes");
        }
    }

    /// The envelope fields, in order.
    #[derive(Debug, PartialEq)]
    pub struct Envelope {
        pub format: u16,
        pub seq: u64,
        pub at_ms: i64,
        pub prev: [u8; 32],
        pub actor: [Option<[u8; 16]>; 3],
        pub request_id: Option<String>,
        pub remote_addr: Option<String>,
        pub variant: u32,
    }

    pub fn envelope(r: &mut Reader<'_>) -> Envelope {
        Envelope {
            format: r.u16(),
            seq: r.u64(),
            at_ms: r.i64(),
            prev: r.array(),
            actor: [
                r.option(Reader::id),
                r.option(Reader::id),
                r.option(Reader::id),
            ],
            request_id: r.option(Reader::string),
            remote_addr: r.option(Reader::string),
            variant: r.u32(),
        }
    }
}

#[test]
fn a_third_party_decodes_created_and_used_from_the_document_alone() {
    let hash_domain = b"credledger/event-hash/v1\n";
    let sig_domain = b"credledger/event-sig/v1\n";
    assert_eq!(hash_domain, HASH_DOMAIN);
    assert_eq!(sig_domain, SIG_DOMAIN);
    assert_eq!(b"credledger/signing-key-rotation/v1\n", KEY_ROTATION_DOMAIN);
    let samples = samples();
    let genesis = load(&event_path("ledger_initialized"));
    // The genesis body ends with its signing_key: the public key a verifier starts from.
    let genesis_bytes = unhex(&genesis, "event_hex");
    let public_key: [u8; 32] = genesis_bytes[genesis_bytes.len() - 32..]
        .try_into()
        .unwrap();

    for (stem, index) in [("created", 6u32), ("used", 9)] {
        let v = load(&event_path(stem));
        let sample = &samples[index as usize].event;

        // Record framing: u64 LE length, event bytes, u64 LE 64, signature.
        let record = unhex(&v, "record_hex");
        let mut r = hand::Reader::new(&record);
        let event_bytes = r.bytes();
        assert_eq!(r.u64(), 64);
        let signature: [u8; 64] = r.array();
        r.end();
        assert_eq!(event_bytes, unhex(&v, "event_hex"));

        // Hash and signature with plain blake3 and ed25519.
        let hash = blake3::hash(&[&hash_domain[..], &event_bytes].concat());
        assert_eq!(h(hash.as_bytes()), v["hash_hex"]);
        let vk = ed25519_dalek::VerifyingKey::from_bytes(&public_key).unwrap();
        vk.verify_strict(
            &[&sig_domain[..], hash.as_bytes()].concat(),
            &ed25519_dalek::Signature::from_bytes(&signature),
        )
        .unwrap();

        // The envelope.
        let mut r = hand::Reader::new(&event_bytes);
        let env = hand::envelope(&mut r);
        assert_eq!(
            env,
            hand::Envelope {
                format: 1,
                seq: sample.seq,
                at_ms: sample.at_ms,
                prev: sample.prev,
                actor: [Some(TENANT.0), Some(PRINCIPAL.0), Some(TOKEN.0)],
                request_id: sample.context.request_id.clone(),
                remote_addr: Some("192.0.2.10:51000".into()),
                variant: index,
            }
        );

        // The body.
        match &sample.body {
            Body::CredentialCreated {
                tenant,
                credential,
                name,
                template,
                service,
                owner,
                description,
                public,
                sealed,
                rotate_every_days,
                expires_at_ms,
                is_default,
            } => {
                assert_eq!(r.id(), tenant.0);
                assert_eq!(r.id(), credential.0);
                assert_eq!(&r.string(), name);
                assert_eq!(&r.string(), template);
                assert_eq!(&r.string(), service);
                assert_eq!(owner, &Owner::Tenant);
                assert_eq!(r.u32(), 0, "Owner::Tenant is variant 0, no fields");
                assert_eq!(&r.string(), description);
                let pairs = r.map();
                assert_eq!(
                    pairs,
                    public
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect::<Vec<_>>()
                );
                assert_eq!(pairs[0].0, "base_url", "map keys are sorted");
                assert_eq!(r.array::<24>(), sealed.nonce);
                assert_eq!(&r.bytes(), &sealed.ciphertext);
                assert_eq!(&r.option(hand::Reader::u32), rotate_every_days);
                assert_eq!(&r.option(hand::Reader::i64), expires_at_ms);
                assert_eq!(&r.bool(), is_default);
            }
            Body::CredentialUsed {
                tenant,
                credential,
                version,
                service,
                subject,
                source,
                purpose,
            } => {
                assert_eq!(r.id(), tenant.0);
                assert_eq!(r.option(hand::Reader::id), credential.map(|c| c.0));
                assert_eq!(&r.option(hand::Reader::u32), version);
                assert_eq!(&r.option(hand::Reader::string), service);
                assert_eq!(r.option(hand::Reader::id), subject.map(|c| c.0));
                assert_eq!(
                    (r.u32(), *source),
                    (2, Source::Granted),
                    "Source::Granted is variant 2"
                );
                assert_eq!(
                    (r.u32(), *purpose),
                    (0, Purpose::Resolve),
                    "Purpose::Resolve is variant 0"
                );
            }
            other => panic!("unexpected sample {other:?}"),
        }
        r.end();
    }
}

#[test]
fn every_envelope_parses_by_hand() {
    for s in samples() {
        let bytes = s.signed.bytes();
        let mut r = hand::Reader::new(bytes);
        let env = hand::envelope(&mut r);
        assert_eq!(env.format, EVENT_FORMAT);
        assert_eq!(env.seq, s.event.seq);
        assert_eq!(env.at_ms, s.event.at_ms);
        assert_eq!(env.prev, s.event.prev);
        assert_eq!(env.request_id, s.event.context.request_id);
        assert_eq!(env.variant, variant_index(&s.event.body));
        // Everything after the envelope is the body's fields.
        assert_eq!(
            &bytes[r.position()..],
            &codec::encode(&s.event.body).unwrap()[4..]
        );
    }
}

// ---- docs/FORMAT.md stays in step with the vectors ---------------------------------

fn format_md() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/FORMAT.md")).unwrap()
}

#[test]
fn format_md_documents_every_variant() {
    let doc = format_md();
    for s in samples() {
        let index = variant_index(&s.event.body);
        let name = render_event(&s.event)["body"]["variant"]
            .as_str()
            .unwrap()
            .to_string();
        let heading = format!("### {index} `{name}` — `{}`", s.event.body.action());
        assert!(
            doc.contains(&heading),
            "docs/FORMAT.md has no section `{heading}`"
        );
    }
}

#[test]
fn format_md_worked_example_is_the_used_vector() {
    let doc = format_md();
    let begin = doc
        .find("<!-- worked-example:used:begin -->")
        .expect("begin marker");
    let end = doc
        .find("<!-- worked-example:used:end -->")
        .expect("end marker");
    let mut hex_text = String::new();
    for line in doc[begin..end].lines() {
        // Each line starts with hex byte pairs; the annotation follows.
        for token in line.split_whitespace() {
            if token.len() == 2 && token.bytes().all(|b| b.is_ascii_hexdigit()) {
                hex_text.push_str(token);
            } else {
                break;
            }
        }
    }
    assert_eq!(
        hex_text,
        load(&event_path("used"))["event_hex"].as_str().unwrap()
    );
}
