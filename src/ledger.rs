//! The ledger: the one orchestrating module of the imperative shell.
//!
//! Every write takes the same path: authenticate → (validate against the template) →
//! lock the writer → `decide` on the current state → seal secrets and sign events →
//! apply them to the in-memory state → hand them to the group committer → unlock →
//! wait until they are durable (and projected) → answer. A rejection that must be
//! recorded (a denied resolve, a denied rotate) takes the same path before its error is
//! returned. Reads come from the projections, which the committer updates before it
//! answers, so a client always reads its own writes.
//!
//! **Invariant (audit first):** no secret leaves [`Ledger::resolve`] or
//! [`Ledger::verify`] before the `used` event that records it is durable. If the event
//! cannot be written, the call fails and the opened secret is dropped (zeroized).
//! **Invariant:** the in-memory state equals the fold of every event handed to the
//! committer; if a commit fails the committer is poisoned and no later write succeeds.

use crate::commit::{CommitError, CommitStats, Committer};
use crate::domain::decide::{self, NewCredential, Resolved};
use crate::domain::{Caller, DomainError, Rejection, State};
use crate::event::{
    rotation_message, Actor, Body, Event, Hash32, MetadataChange, Owner, PrincipalKind, Purpose,
    RequestContext, Role, Sealed, SignedEvent, Source, EVENT_FORMAT,
};
use crate::id::Id;
use crate::keys::{self, KeyError};
use crate::projection;
use crate::secret::{
    self, Binding, MasterKeys, SecretError, SecretFields, SecretString, WrappedKey,
};
use crate::store::{KeyOp, Store, StoreError};
use crate::template::{Catalog, TemplateError};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use ed25519_dalek::{Signer, SigningKey};
use rand::rngs::OsRng;
use rand::RngCore;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use subtle::ConstantTimeEq;
use tokio::sync::oneshot;
use zeroize::Zeroizing;

mod kv;
pub use kv::{KvWrite, KV_TEMPLATE};

/// A source of "now" in Unix milliseconds. The shell passes the system clock; tests may
/// pass a fixed one.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 / 1_000_000)
}

/// Ledger configuration, resolved by the binary and passed down.
#[derive(Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    /// Master keys in the key-file format, when they come from the environment instead of
    /// `DIR/keys/master.keys`. The ledger cannot rotate environment keys itself.
    pub master_keys_text: Option<Zeroizing<String>>,
    /// Environment fallbacks by service: the fields a resolve returns when nothing else
    /// is configured.
    pub fallbacks: HashMap<String, SecretFields>,
    /// How many versions of a credential keep their data keys (at least 2).
    pub retain_versions: u32,
    /// The checkpoint origin (key name) for a new ledger.
    pub origin: Option<String>,
    pub clock: Clock,
    /// The Vault KV v2 mount served under `/v1/{mount}/` (default `secret`).
    pub vault_mount: String,
}

impl Config {
    /// Defaults for a data directory.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Config {
            data_dir: data_dir.into(),
            master_keys_text: None,
            fallbacks: HashMap::new(),
            retain_versions: 10,
            origin: None,
            clock: system_clock(),
            vault_mount: "secret".into(),
        }
    }
}

/// Errors of ledger operations. The HTTP layer maps each to a status.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// A business rule refused the command (status per [`DomainError`]).
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The fields do not fit the template: 422 naming the field.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// Missing, malformed, unknown, expired or revoked token: 401.
    #[error("invalid or expired token")]
    Unauthenticated,
    /// The event could not be made durable: 503, nothing was acknowledged.
    #[error(transparent)]
    Commit(#[from] CommitError),
    /// Storage failed: 500.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A secret could not be opened: 500 (or 410 when shredded).
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// A key file problem (at start-up or during a key rotation): 500.
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// The stored log is inconsistent at `seq`: refuse to serve; run `replay verify`.
    #[error("the log is inconsistent at event {seq}: {detail} (run `credledger replay verify`)")]
    Integrity { seq: u64, detail: String },
}

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

struct Writer {
    state: State,
    next_seq: u64,
    last_hash: Hash32,
    last_at: i64,
    signing: SigningKey,
    masters: MasterKeys,
    keyring: HashMap<(Id, u32), WrappedKey>,
}

/// Resolves when a staged batch is durable.
type CommitReceiver = oneshot::Receiver<Result<(), CommitError>>;

/// Events and key-ring changes staged under the writer lock.
struct Staged {
    bodies: Vec<Body>,
    keyring: Vec<KeyOp>,
}

/// The open ledger.
pub struct Ledger {
    store: Arc<Store>,
    committer: Committer,
    writer: Mutex<Writer>,
    catalog: &'static Catalog,
    token_key: Zeroizing<[u8; 32]>,
    config: Config,
    http: reqwest::Client,
}

const TOKEN_PREFIX: &str = "clt";

impl Ledger {
    /// Opens the ledger in `config.data_dir`, bootstrapping an empty one.
    pub fn open(config: Config) -> Result<(Ledger, Option<Bootstrap>), LedgerError> {
        let dir = &config.data_dir;
        std::fs::create_dir_all(dir).map_err(|source| KeyError::Io {
            path: dir.clone(),
            source,
        })?;
        let store = Arc::new(Store::open(dir)?);
        let fresh = store.is_empty()?;
        let masters = match &config.master_keys_text {
            Some(text) => {
                keys::parse_master_keys(std::path::Path::new("CREDLEDGER_MASTER_KEYS"), text)?
            }
            None => match keys::read_master_keys(dir)? {
                Some(m) => m,
                None if fresh => {
                    let m = MasterKeys::new([keys::generate_master_key(1)]);
                    keys::write_master_keys(dir, &m)?;
                    m
                }
                None => return Err(KeyError::Malformed(keys::master_path(dir)).into()),
            },
        };
        let signing = match keys::read_signing_key(dir)? {
            Some(k) => k,
            None if fresh => {
                let k = keys::generate_signing_key();
                keys::write_signing_key(dir, &k)?;
                k
            }
            None => return Err(KeyError::Malformed(keys::signing_path(dir)).into()),
        };
        let token_key = keys::token_key(dir)?;
        let (state, next_seq, last_hash, last_at) = fold_log(&store)?;
        let signing = finish_signing_rotation(dir, &state, signing)?;
        if !fresh && state.signing_key != Some(signing.verifying_key().to_bytes()) {
            return Err(LedgerError::Integrity {
                seq: next_seq.saturating_sub(1),
                detail: "the signing key file does not match the ledger's current signing key"
                    .into(),
            });
        }
        projection::catch_up(&store, |_| {})?;
        let keyring = load_keyring(&store, &state)?;
        let committer = Committer::start(store.clone());
        let http = crate::verify::client().map_err(|e| LedgerError::Integrity {
            seq: 0,
            detail: format!("cannot build the HTTP client: {e}"),
        })?;
        let ledger = Ledger {
            store,
            committer,
            writer: Mutex::new(Writer {
                state,
                next_seq,
                last_hash,
                last_at,
                signing,
                masters,
                keyring,
            }),
            catalog: Catalog::builtin(),
            token_key,
            config,
            http,
        };
        let boot = if fresh {
            Some(ledger.bootstrap()?)
        } else {
            None
        };
        Ok((ledger, boot))
    }

    fn bootstrap(&self) -> Result<Bootstrap, LedgerError> {
        let (tenant, admin, token) = (Id::random(), Id::random(), Id::random());
        let (secret, hash) = self.new_token_secret(token);
        let origin = self
            .config
            .origin
            .clone()
            .unwrap_or_else(|| format!("credledger.local/{}", Id::random()));
        let ctx = RequestCtx::default();
        let rx = {
            let mut w = self.lock();
            let signing_key = w.signing.verifying_key().to_bytes();
            let bodies = vec![
                Body::LedgerInitialized {
                    origin,
                    signing_key,
                },
                Body::TenantCreated {
                    tenant,
                    name: "default".into(),
                },
                Body::PrincipalCreated {
                    tenant,
                    principal: admin,
                    name: "admin".into(),
                    kind: PrincipalKind::User,
                    role: Role::Admin,
                    system_admin: true,
                },
                Body::TokenIssued {
                    tenant,
                    principal: admin,
                    token,
                    hash,
                    expires_at_ms: None,
                },
            ];
            self.stage(
                &mut w,
                &ctx,
                Actor::default(),
                Staged {
                    bodies,
                    keyring: vec![],
                },
            )?
        };
        wait_blocking(rx)?;
        Ok(Bootstrap {
            tenant,
            admin,
            token: secret,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn now(&self) -> i64 {
        (self.config.clock)()
    }

    /// Seals `staged.bodies` as the next events, applies them to the state and queues
    /// them (with the key-ring changes) for the group commit.
    fn stage(
        &self,
        w: &mut Writer,
        ctx: &RequestCtx,
        actor: Actor,
        staged: Staged,
    ) -> Result<oneshot::Receiver<Result<(), CommitError>>, LedgerError> {
        if let Some(why) = self.committer.poisoned() {
            return Err(CommitError::Unavailable(why).into());
        }
        if staged.bodies.is_empty() && staged.keyring.is_empty() {
            // Nothing to make durable (a check that passed): answer at once, no sync.
            let (tx, rx) = oneshot::channel();
            let _ = tx.send(Ok(()));
            return Ok(rx);
        }
        let at = self.now().max(w.last_at);
        let mut sealed = Vec::with_capacity(staged.bodies.len());
        for body in staged.bodies {
            let event = Event {
                format: EVENT_FORMAT,
                seq: w.next_seq,
                at_ms: at,
                prev: w.last_hash,
                actor: actor.clone(),
                context: RequestContext {
                    request_id: ctx.request_id.clone(),
                    remote_addr: ctx.remote_addr.clone(),
                },
                body,
            };
            let signed =
                SignedEvent::seal(event, &w.signing).map_err(|e| LedgerError::Integrity {
                    seq: w.next_seq,
                    detail: e.to_string(),
                })?;
            w.state.apply(signed.event());
            w.next_seq += 1;
            w.last_hash = *signed.hash();
            w.last_at = at;
            sealed.push(signed);
        }
        for op in &staged.keyring {
            match op {
                KeyOp::Put {
                    credential,
                    version,
                    key,
                } => {
                    w.keyring.insert((*credential, *version), key.clone());
                }
                KeyOp::Delete {
                    credential,
                    version,
                } => {
                    w.keyring.remove(&(*credential, *version));
                }
            }
        }
        Ok(self.committer.submit(sealed, staged.keyring))
    }

    /// Runs a decision under the writer lock and stages its events (or the record of its
    /// rejection). Returns the receiver and the decision's value or error.
    fn decide_and_stage<T>(
        &self,
        ctx: &RequestCtx,
        caller: Option<&Caller>,
        decide: impl FnOnce(&mut Writer, i64) -> Result<(Staged, T), Rejection>,
    ) -> Result<(CommitReceiver, Result<T, DomainError>), LedgerError> {
        let mut w = self.lock();
        let now = self.now().max(w.last_at);
        let actor = caller
            .map(|c| Actor {
                tenant: Some(c.tenant),
                principal: Some(c.principal),
                token: Some(c.token),
            })
            .unwrap_or_default();
        match decide(&mut w, now) {
            Ok((staged, value)) => Ok((self.stage(&mut w, ctx, actor, staged)?, Ok(value))),
            Err(Rejection {
                error,
                record: Some(body),
            }) => {
                let rx = self.stage(
                    &mut w,
                    ctx,
                    actor,
                    Staged {
                        bodies: vec![*body],
                        keyring: vec![],
                    },
                )?;
                Ok((rx, Err(error)))
            }
            Err(Rejection {
                error,
                record: None,
            }) => Err(error.into()),
        }
    }

    /// Decides, stages and waits until durable.
    async fn execute<T>(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        decide: impl FnOnce(&mut Writer, i64) -> Result<(Staged, T), Rejection>,
    ) -> Result<T, LedgerError> {
        let (rx, value) = self.decide_and_stage(ctx, Some(caller), decide)?;
        wait(rx).await?;
        Ok(value?)
    }

    fn events_only(d: decide::Decision) -> Result<(Staged, ()), Rejection> {
        d.map(|bodies| {
            (
                Staged {
                    bodies,
                    keyring: vec![],
                },
                (),
            )
        })
    }

    // ---- authentication ------------------------------------------------------------

    fn token_hash(&self, token: &str) -> Hash32 {
        *blake3::keyed_hash(&self.token_key, token.as_bytes()).as_bytes()
    }

    fn new_token_secret(&self, id: Id) -> (SecretString, Hash32) {
        let mut raw = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(raw.as_mut());
        let token = format!(
            "{TOKEN_PREFIX}_{}_{}",
            hex::encode(id.as_bytes()),
            B64URL.encode(raw.as_ref())
        );
        let hash = self.token_hash(&token);
        (SecretString::new(token), hash)
    }

    /// Checks an API token (constant-time hash comparison) and returns its caller.
    pub fn authenticate(&self, token: &str) -> Result<Caller, LedgerError> {
        let mut parts = token.splitn(3, '_');
        let (Some(TOKEN_PREFIX), Some(id_hex), Some(_)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(LedgerError::Unauthenticated);
        };
        let mut id = [0u8; 16];
        hex::decode_to_slice(id_hex, &mut id).map_err(|_| LedgerError::Unauthenticated)?;
        let id = Id(id);
        let hash = self.token_hash(token);
        let now = self.now();
        let w = self.lock();
        let t = w
            .state
            .tokens
            .get(&id)
            .ok_or(LedgerError::Unauthenticated)?;
        if !bool::from(t.hash.ct_eq(&hash))
            || t.revoked
            || t.expires_at_ms.is_some_and(|e| e <= now)
        {
            return Err(LedgerError::Unauthenticated);
        }
        let p = w
            .state
            .principals
            .get(&t.principal)
            .filter(|p| !p.disabled)
            .ok_or(LedgerError::Unauthenticated)?;
        Ok(Caller {
            tenant: t.tenant,
            principal: t.principal,
            token: id,
            role: p.role,
            kind: p.kind,
            system_admin: p.system_admin,
        })
    }

    // ---- tenants, principals, tokens ----------------------------------------------

    /// Creates a tenant with an admin principal; returns (tenant, admin token).
    pub async fn create_tenant(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        name: &str,
    ) -> Result<(Id, Id, IssuedToken), LedgerError> {
        let (tenant, admin, token) = (Id::random(), Id::random(), Id::random());
        let (secret, hash) = self.new_token_secret(token);
        self.execute(ctx, caller, |w, _| {
            Self::events_only(decide::create_tenant(
                &w.state, caller, tenant, name, admin, token, hash,
            ))
        })
        .await?;
        Ok((
            tenant,
            admin,
            IssuedToken {
                id: token,
                token: secret,
            },
        ))
    }

    /// Creates a principal in the caller's tenant.
    pub async fn create_principal(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        name: &str,
        kind: PrincipalKind,
        role: Role,
    ) -> Result<Id, LedgerError> {
        let id = Id::random();
        self.execute(ctx, caller, |w, _| {
            Self::events_only(decide::create_principal(
                &w.state, caller, id, name, kind, role,
            ))
        })
        .await?;
        Ok(id)
    }

    /// Disables a principal and revokes its tokens.
    pub async fn disable_principal(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        principal: Id,
    ) -> Result<(), LedgerError> {
        self.execute(ctx, caller, |w, _| {
            Self::events_only(decide::disable_principal(&w.state, caller, principal))
        })
        .await
    }

    /// Issues a token for a principal; the secret is returned once.
    pub async fn issue_token(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        principal: Id,
        expires_at_ms: Option<i64>,
    ) -> Result<IssuedToken, LedgerError> {
        let id = Id::random();
        let (secret, hash) = self.new_token_secret(id);
        self.execute(ctx, caller, |w, now| {
            Self::events_only(decide::issue_token(
                &w.state,
                caller,
                principal,
                id,
                hash,
                expires_at_ms,
                now,
            ))
        })
        .await?;
        Ok(IssuedToken { id, token: secret })
    }

    /// Revokes a token.
    pub async fn revoke_token(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        token: Id,
    ) -> Result<(), LedgerError> {
        self.execute(ctx, caller, |w, _| {
            Self::events_only(decide::revoke_token(&w.state, caller, token))
        })
        .await
    }

    // ---- credentials ---------------------------------------------------------------

    fn seal(
        w: &Writer,
        fields: &SecretFields,
        binding: Binding,
    ) -> Result<(Sealed, WrappedKey), Rejection> {
        let master = w
            .masters
            .current()
            .expect("at least one master key is loaded");
        secret::seal(fields, binding, master, &mut OsRng).map_err(|_| {
            Rejection::from(DomainError::Invalid {
                field: Some("fields".into()),
                message: "secret fields are too large".into(),
            })
        })
    }

    /// Creates a credential from a template.
    pub async fn create_credential(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        input: CreateInput,
    ) -> Result<Id, LedgerError> {
        let template = self.catalog.get(&input.template)?;
        let validated = template.validate(&input.fields)?;
        let secret_fields = into_secret_fields(validated.secret);
        let id = Id::random();
        let owner = input.owner.unwrap_or(Owner::Tenant);
        let service = input
            .service
            .clone()
            .unwrap_or_else(|| input.template.clone());
        self.execute(ctx, caller, |w, now| {
            decide::check_create(
                &w.state,
                caller,
                &input.name,
                &service,
                owner,
                input.is_default,
            )?;
            let binding = Binding {
                tenant: caller.tenant,
                credential: id,
                version: 1,
            };
            let (sealed, key) = Self::seal(w, &secret_fields, binding)?;
            let new = NewCredential {
                id,
                name: input.name.clone(),
                template: input.template.clone(),
                service: service.clone(),
                owner,
                description: input.description.clone(),
                public: validated.public.clone(),
                sealed,
                rotate_every_days: input.rotate_every_days,
                expires_at_ms: input.expires_at_ms,
                is_default: input.is_default,
            };
            let bodies = decide::create_credential(&w.state, caller, new, now)?;
            Ok((
                Staged {
                    bodies,
                    keyring: vec![KeyOp::Put {
                        credential: id,
                        version: 1,
                        key,
                    }],
                },
                (),
            ))
        })
        .await?;
        Ok(id)
    }

    /// Rotates a credential to a new version. Secret fields must all be given; public
    /// fields not given keep their current values.
    pub async fn rotate(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        id: Id,
        fields: serde_json::Map<String, serde_json::Value>,
    ) -> Result<u32, LedgerError> {
        // Authorization before validation, so a caller without rights is refused (and
        // the refusal recorded) whatever fields it sends.
        self.execute(ctx, caller, |w, _| {
            decide::check_rotate(&w.state, caller, id).map(|_| {
                (
                    Staged {
                        bodies: vec![],
                        keyring: vec![],
                    },
                    (),
                )
            })
        })
        .await?;
        let (template_name, previous) = {
            let w = self.lock();
            match w
                .state
                .credentials
                .get(&id)
                .filter(|c| c.tenant == caller.tenant)
            {
                Some(c) => (
                    c.template.clone(),
                    c.versions
                        .get(&c.current)
                        .map(|v| v.public.clone())
                        .unwrap_or_default(),
                ),
                // Let `decide` produce the right rejection (and its record).
                None => (String::new(), BTreeMap::new()),
            }
        };
        let validated = if template_name.is_empty() {
            None
        } else {
            Some(
                self.catalog
                    .get(&template_name)?
                    .validate_update(&previous, &fields)?,
            )
        };
        let retain = self.config.retain_versions;
        self.execute(ctx, caller, |w, _| {
            let version = decide::check_rotate(&w.state, caller, id)?;
            let validated = validated.expect("a credential the caller may rotate exists");
            let staged = Self::stage_rotation(w, caller, id, version, validated, retain)?;
            Ok((staged, version))
        })
        .await
    }

    /// Seals `validated` as `version` of credential `id` and stages the rotation with the
    /// key-ring changes it implies: the new data key, and deleting the data keys of the
    /// versions that fall out of retention. Shared by the native and the KV write paths.
    fn stage_rotation(
        w: &Writer,
        caller: &Caller,
        id: Id,
        version: u32,
        validated: crate::template::Validated,
        retain: u32,
    ) -> Result<Staged, Rejection> {
        let binding = Binding {
            tenant: caller.tenant,
            credential: id,
            version,
        };
        let (sealed, key) = Self::seal(w, &into_secret_fields(validated.secret), binding)?;
        let bodies = decide::rotate(
            &w.state,
            caller,
            id,
            version,
            validated.public,
            sealed,
            retain,
        )?;
        let mut keyring = vec![KeyOp::Put {
            credential: id,
            version,
            key,
        }];
        if let Some(Body::CredentialRotated { retired, .. }) = bodies.first() {
            keyring.extend(retired.iter().map(|v| KeyOp::Delete {
                credential: id,
                version: *v,
            }));
        }
        Ok(Staged { bodies, keyring })
    }

    /// Changes metadata.
    pub async fn update(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        id: Id,
        change: MetadataChange,
    ) -> Result<(), LedgerError> {
        self.execute(ctx, caller, |w, now| {
            Self::events_only(decide::update(&w.state, caller, id, change, now))
        })
        .await
    }

    /// Soft-deletes a credential.
    pub async fn delete(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        id: Id,
    ) -> Result<(), LedgerError> {
        self.execute(ctx, caller, |w, _| {
            Self::events_only(decide::delete(&w.state, caller, id))
        })
        .await
    }

    /// Restores a soft-deleted credential.
    pub async fn restore(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        id: Id,
    ) -> Result<(), LedgerError> {
        self.execute(ctx, caller, |w, _| {
            Self::events_only(decide::restore(&w.state, caller, id))
        })
        .await
    }

    /// Grants a shared credential to a principal.
    pub async fn grant(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        id: Id,
        principal: Id,
    ) -> Result<(), LedgerError> {
        self.execute(ctx, caller, |w, _| {
            Self::events_only(decide::grant(&w.state, caller, id, principal))
        })
        .await
    }

    /// Revokes a grant.
    pub async fn revoke_grant(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        id: Id,
        principal: Id,
    ) -> Result<(), LedgerError> {
        self.execute(ctx, caller, |w, _| {
            Self::events_only(decide::revoke_grant(&w.state, caller, id, principal))
        })
        .await
    }

    /// Crypto-shreds a credential: deletes every data key, then rotates the master key
    /// (when it is file-based) so stale copies of the deleted keys in sled's segments
    /// become unreadable. Returns whether that rotation happened.
    pub async fn destroy(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        id: Id,
    ) -> Result<bool, LedgerError> {
        self.execute(ctx, caller, |w, _| {
            let bodies = decide::destroy(&w.state, caller, id)?;
            let mut keyring: Vec<KeyOp> = w
                .keyring
                .keys()
                .filter(|(c, _)| *c == id)
                .map(|(c, v)| KeyOp::Delete {
                    credential: *c,
                    version: *v,
                })
                .collect();
            keyring.sort_by_key(|op| match op {
                KeyOp::Delete { version, .. } | KeyOp::Put { version, .. } => *version,
            });
            Ok((Staged { bodies, keyring }, ()))
        })
        .await?;
        if self.config.master_keys_text.is_some() {
            return Ok(false);
        }
        self.rotate_master_key(ctx, Some(caller)).await?;
        Ok(true)
    }

    /// Rotates the master key: a new key is added to the key file, every live data key is
    /// rewrapped under it, the rotation is logged, and the old keys are discarded from the
    /// key file (overwritten in place first).
    pub async fn rotate_master_key(
        &self,
        ctx: &RequestCtx,
        caller: Option<&Caller>,
    ) -> Result<u32, LedgerError> {
        if self.config.master_keys_text.is_some() {
            return Err(DomainError::Conflict(
                "master keys come from the environment; rotate them there".into(),
            )
            .into());
        }
        let dir = self.config.data_dir.clone();
        let (rx, new_id) = {
            let mut w = self.lock();
            let old_id = w.masters.current().expect("a master key").id;
            let new_key = keys::generate_master_key(old_id + 1);
            let both = MasterKeys::new(w.masters.iter().cloned().chain([new_key.clone()]));
            keys::write_master_keys(&dir, &both)?;
            let mut ops = Vec::new();
            let mut entries: Vec<_> = w.keyring.iter().map(|(k, v)| (*k, v.clone())).collect();
            entries.sort_by_key(|(k, _)| *k);
            for ((cred, version), wrapped) in entries {
                let tenant = w
                    .state
                    .credentials
                    .get(&cred)
                    .map(|c| c.tenant)
                    .unwrap_or(Id::NIL);
                let binding = Binding {
                    tenant,
                    credential: cred,
                    version,
                };
                let key = secret::rewrap(&wrapped, binding, &both, &new_key, &mut OsRng)?;
                ops.push(KeyOp::Put {
                    credential: cred,
                    version,
                    key,
                });
            }
            w.masters = both;
            let rewrapped = ops.len() as u64;
            let body = Body::MasterKeyRotated {
                old_key_id: old_id,
                new_key_id: new_key.id,
                rewrapped,
            };
            let actor = caller
                .map(|c| Actor {
                    tenant: Some(c.tenant),
                    principal: Some(c.principal),
                    token: Some(c.token),
                })
                .unwrap_or_default();
            (
                self.stage(
                    &mut w,
                    ctx,
                    actor,
                    Staged {
                        bodies: vec![body],
                        keyring: ops,
                    },
                )?,
                new_key.id,
            )
        };
        wait(rx).await?;
        let mut w = self.lock();
        // Anything sealed since used the new key (it is the highest id), so the old keys
        // can go.
        let only_new = MasterKeys::new(w.masters.iter().filter(|k| k.id >= new_id).cloned());
        if w.keyring.values().all(|k| k.master_key_id >= new_id) {
            keys::write_master_keys(&dir, &only_new)?;
            w.masters = only_new;
        }
        Ok(new_id)
    }

    /// Rotates the ledger's signing key. The rotation event is signed by the old key and
    /// carries the new key's proof of possession; later events are signed by the new key.
    pub async fn rotate_signing_key(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
    ) -> Result<[u8; 32], LedgerError> {
        if !caller.system_admin {
            return Err(DomainError::Forbidden(
                "only a system admin can rotate the signing key".into(),
            )
            .into());
        }
        let dir = self.config.data_dir.clone();
        let new = keys::generate_signing_key();
        keys::write_signing_key_next(&dir, &new)?;
        let rx = {
            let mut w = self.lock();
            let old_key = w.signing.verifying_key().to_bytes();
            let new_key = new.verifying_key().to_bytes();
            let possession = new
                .sign(&rotation_message(&old_key, &new_key, w.next_seq))
                .to_bytes()
                .to_vec();
            let body = Body::SigningKeyRotated {
                old_key,
                new_key,
                possession,
            };
            let actor = Actor {
                tenant: Some(caller.tenant),
                principal: Some(caller.principal),
                token: Some(caller.token),
            };
            let rx = self.stage(
                &mut w,
                ctx,
                actor,
                Staged {
                    bodies: vec![body],
                    keyring: vec![],
                },
            )?;
            w.signing = new.clone();
            rx
        };
        wait(rx).await?;
        keys::promote_signing_key_next(&dir)?;
        Ok(new.verifying_key().to_bytes())
    }

    // ---- resolution ------------------------------------------------------------------

    fn open_version(w: &Writer, id: Id, version: u32) -> Result<SecretFields, LedgerError> {
        let cred = &w.state.credentials[&id];
        let v = cred.versions.get(&version).ok_or(SecretError::Shredded)?;
        let wrapped = w.keyring.get(&(id, version)).ok_or(SecretError::Shredded)?;
        let binding = Binding {
            tenant: cred.tenant,
            credential: id,
            version,
        };
        let mut fields = secret::open(&v.sealed, wrapped, binding, &w.masters)?;
        for (k, val) in &v.public {
            fields.0.insert(k.clone(), SecretString::new(val.clone()));
        }
        Ok(fields)
    }

    /// Resolves a credential. The `used` (or `use_denied`) event is durable before this
    /// returns.
    pub async fn resolve(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        target: ResolveTarget,
    ) -> Result<Resolution, LedgerError> {
        self.resolve_as(ctx, caller, target, Purpose::Resolve).await
    }

    /// Resolves with an explicit purpose (the Vault-compatible API reads use `VaultRead`).
    pub async fn resolve_as(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        target: ResolveTarget,
        purpose: Purpose,
    ) -> Result<Resolution, LedgerError> {
        let env = |service: &str| self.config.fallbacks.contains_key(service);
        let (rx, value) = self.decide_and_stage(ctx, Some(caller), |w, now| {
            let (resolved, body) = match &target {
                ResolveTarget::Id { id, version } => decide::resolve_by_id(&w.state, caller, *id, *version, purpose, now)?,
                ResolveTarget::Service { service, for_user } => {
                    decide::resolve_service(&w.state, caller, service, *for_user, env(service), now)?
                }
            };
            // Opening happens under the lock only to read the key ring consistently; it
            // costs microseconds.
            let opened = match resolved {
                Resolved::Credential { id, version, source } => {
                    let fields = Self::open_version(w, id, version).map_err(|e| {
                        tracing::error!(credential = %id, version, error = %e, "cannot open a resolvable version");
                        // The failed release is recorded like any other refusal.
                        let (tenant, service) = (caller.tenant, w.state.credentials[&id].service.clone());
                        Rejection {
                            error: DomainError::Gone("the secret of this version is unavailable".into()),
                            record: Some(Box::new(Body::UseDenied {
                                tenant,
                                credential: Some(id),
                                service: Some(service),
                                subject: None,
                                reason: crate::event::DenyReason::Unavailable,
                            })),
                        }
                    })?;
                    Resolution {
                        credential_id: Some(id),
                        version: Some(version),
                        source,
                        template: Some(w.state.credentials[&id].template.clone()),
                        fields,
                    }
                }
                Resolved::Env => {
                    let ResolveTarget::Service { service, .. } = &target else { unreachable!("env only for services") };
                    Resolution {
                        credential_id: None,
                        version: None,
                        source: Source::Env,
                        template: None,
                        fields: self.config.fallbacks[service].clone(),
                    }
                }
            };
            Ok((Staged { bodies: vec![body], keyring: vec![] }, opened))
        })?;
        // The secret is held (zeroized on drop) until the event covering it is durable.
        wait(rx).await?;
        Ok(value?)
    }

    /// Runs a connection test: records the use, sends the secret to the template's
    /// verifier, records the outcome.
    pub async fn verify(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        id: Id,
    ) -> Result<VerifyResult, LedgerError> {
        // A template without a connection test sends nothing anywhere: refuse before the
        // `used` event, so the log never records a use that did not happen.
        let template = self.with_state(|s| {
            s.credentials
                .get(&id)
                .filter(|c| c.tenant == caller.tenant)
                .map(|c| c.template.clone())
        });
        if let Some(t) = template {
            if self.catalog.get(&t)?.verify.is_none() {
                return Err(DomainError::Conflict(format!(
                    "the {t} template has no connection test"
                ))
                .into());
            }
        }
        let (rx, value) = self.decide_and_stage(ctx, Some(caller), |w, _| {
            let (version, body) = decide::verify(&w.state, caller, id)?;
            let cred = &w.state.credentials[&id];
            let public = cred
                .versions
                .get(&version)
                .map(|v| v.public.clone())
                .unwrap_or_default();
            let template = cred.template.clone();
            let secrets = Self::open_version(w, id, version).map_err(|_| {
                Rejection::from(DomainError::Gone("the secret is unavailable".into()))
            })?;
            Ok((
                Staged {
                    bodies: vec![body],
                    keyring: vec![],
                },
                (version, template, public, secrets),
            ))
        })?;
        wait(rx).await?;
        let (version, template, public, secrets) = value?;
        let template = self.catalog.get(&template)?;
        let (ok, reason, latency_ms) = match &template.verify {
            None => (false, "this template has no connection test".to_string(), 0),
            Some(spec) => {
                let secret_map: BTreeMap<String, Zeroizing<String>> = secrets
                    .0
                    .iter()
                    .filter(|(k, _)| !public.contains_key(*k))
                    .map(|(k, v)| (k.clone(), Zeroizing::new(v.expose().to_string())))
                    .collect();
                let out = crate::verify::run(spec, &public, &secret_map, &self.http).await;
                (out.ok, out.reason, out.latency_ms)
            }
        };
        drop(secrets);
        self.execute(ctx, caller, |w, _| {
            let tenant = w.state.credentials[&id].tenant;
            let body = Body::CredentialVerified {
                tenant,
                credential: id,
                version,
                ok,
                reason: reason.clone(),
                latency_ms,
            };
            Ok((
                Staged {
                    bodies: vec![body],
                    keyring: vec![],
                },
                (),
            ))
        })
        .await?;
        Ok(VerifyResult {
            version,
            ok,
            reason,
            latency_ms,
        })
    }

    // ---- reads -----------------------------------------------------------------------

    /// The store (for projections, audit queries and proofs).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The template catalog.
    pub fn catalog(&self) -> &'static Catalog {
        self.catalog
    }

    /// Group-commit counters.
    pub fn commit_stats(&self) -> CommitStats {
        self.committer.stats()
    }

    /// Whether writes are possible (not poisoned, not shut down).
    pub fn writable(&self) -> Result<(), LedgerError> {
        match self.committer.poisoned() {
            Some(why) => Err(CommitError::Unavailable(why).into()),
            None => Ok(()),
        }
    }

    /// Reads the in-memory state under the lock.
    pub fn with_state<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.lock().state)
    }

    /// The current signing key's public half.
    pub fn signing_public_key(&self) -> ed25519_dalek::VerifyingKey {
        self.lock().signing.verifying_key()
    }

    /// Signs `message` with the ledger's signing key (for checkpoints).
    pub fn sign_with_ledger_key<T>(&self, f: impl FnOnce(&SigningKey, u64) -> T) -> T {
        let w = self.lock();
        f(&w.signing, w.next_seq)
    }

    /// The current time per the configured clock.
    pub fn now_ms(&self) -> i64 {
        self.now()
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Commits what is queued and stops accepting writes.
    pub fn shutdown(&self) {
        self.committer.shutdown();
    }
}

fn into_secret_fields(m: BTreeMap<String, Zeroizing<String>>) -> SecretFields {
    SecretFields(
        m.into_iter()
            .map(|(k, v)| (k, SecretString::from(v)))
            .collect(),
    )
}

async fn wait(rx: oneshot::Receiver<Result<(), CommitError>>) -> Result<(), LedgerError> {
    rx.await.map_err(|_| CommitError::ShuttingDown)??;
    Ok(())
}

/// Waits for a commit from synchronous code. Unlike `blocking_recv` this also works on a
/// thread that drives an async runtime (`Ledger::open` called from async code), because
/// the committer is a plain thread that needs no runtime to answer.
fn wait_blocking(rx: oneshot::Receiver<Result<(), CommitError>>) -> Result<(), LedgerError> {
    futures::executor::block_on(rx).map_err(|_| CommitError::ShuttingDown)??;
    Ok(())
}

/// Folds the log into state, checking sequence numbers and hash links (not signatures:
/// that is `replay verify`'s job).
fn fold_log(store: &Store) -> Result<(State, u64, Hash32, i64), LedgerError> {
    let mut state = State::default();
    let (mut next, mut last_hash, mut last_at) = (0u64, [0u8; 32], i64::MIN);
    for r in store.records(0) {
        let (seq, rec) = r?;
        let integrity = |detail: String| LedgerError::Integrity { seq, detail };
        let signed = SignedEvent::from_record(&rec).map_err(|e| integrity(e.to_string()))?;
        if seq != next || signed.seq() != seq {
            return Err(integrity(format!("expected event {next}")));
        }
        if signed.event().prev != last_hash {
            return Err(integrity(
                "hash link to the previous event is broken".into(),
            ));
        }
        state.apply(signed.event());
        last_hash = *signed.hash();
        last_at = signed.event().at_ms;
        next += 1;
    }
    Ok((state, next, last_hash, last_at))
}

/// Loads the key ring, deleting data keys that no logged version uses. A commit writes
/// the key ring before the log, so a crash between the two can leave the data key of an
/// event that never became durable; it protects nothing, and rotating the master key
/// could not rewrap it (its binding is unknown).
fn load_keyring(
    store: &Store,
    state: &State,
) -> Result<HashMap<(Id, u32), WrappedKey>, LedgerError> {
    let mut keyring = HashMap::new();
    let mut orphans = Vec::new();
    for (id, version, key) in store.keyring_entries()? {
        if state
            .credentials
            .get(&id)
            .is_some_and(|c| c.versions.contains_key(&version))
        {
            keyring.insert((id, version), key);
        } else {
            orphans.push(KeyOp::Delete {
                credential: id,
                version,
            });
        }
    }
    if !orphans.is_empty() {
        tracing::warn!(
            count = orphans.len(),
            "deleting data keys whose events never reached the log (an interrupted commit)"
        );
        store.write_durable(&orphans, &[])?;
    }
    Ok(keyring)
}

/// Completes a signing-key rotation interrupted between its event and the key file.
fn finish_signing_rotation(
    dir: &std::path::Path,
    state: &State,
    current: SigningKey,
) -> Result<SigningKey, LedgerError> {
    if let Some(next) = keys::read_signing_key_next(dir)? {
        if state.signing_key == Some(next.verifying_key().to_bytes()) {
            keys::promote_signing_key_next(dir)?;
            return Ok(next);
        }
        keys::discard_signing_key_next(dir)?;
    }
    Ok(current)
}
