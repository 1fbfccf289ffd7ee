//! The credential lifecycle: create, rotate (whole or partial), update, delete, restore,
//! grant, destroy, and the default of a service.

use super::pipeline::KeyOp;
use super::{CreateInput, Ledger, LedgerError, RequestCtx, Staged, Writer};
use crate::domain::decide::{self, NewCredential};
use crate::domain::fields::{partial_rotation, Merged};
use crate::domain::{Caller, DomainError, Rejection};
use crate::event::{Body, GrantLevel, Grantee, MetadataChange, Owner, Sealed};
use crate::id::Id;
use crate::secret::{self, Binding, SecretFields, SecretString, WrappedKey};
use rand::rngs::OsRng;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use zeroize::Zeroizing;

/// How many times a rotation without a precondition is merged again after another
/// rotation of the same credential overtook it (each try reads the newer version).
const ROTATE_ATTEMPTS: u32 = 8;

/// What a partial rotation starts from: the current version of a credential.
struct Current {
    template: String,
    version: u32,
    public: BTreeMap<String, String>,
    /// The current secret values (empty when they cannot be opened).
    secret: SecretFields,
}

impl Ledger {
    pub(super) fn seal(
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
        let template = self.template(caller.tenant, &input.template)?;
        let validated = template.validate(&input.fields)?;
        let secret_fields = into_secret_fields(validated.secret);
        let id = Id::random();
        let owner = input.owner.unwrap_or(Owner::Tenant);
        let service = input
            .service
            .clone()
            .unwrap_or_else(|| input.template.clone());
        self.execute(ctx, caller, |w, now| {
            let name = decide::check_create(
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
                name,
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

    /// Rotates a credential to a new version. Only the fields given change: every other
    /// field, public or secret, keeps its current value (re-sealed under a new data key);
    /// a field given as `null` is cleared. Keeping secrets while changing a public field
    /// needs the right to resolve the credential.
    pub async fn rotate(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        id: Id,
        fields: Map<String, Value>,
    ) -> Result<u32, LedgerError> {
        self.update_credential(ctx, caller, id, Some(fields), None)
            .await
            .map(|v| v.unwrap_or_default())
    }

    /// Changes a credential in one batch: a partial rotation of `fields` (see
    /// [`Ledger::rotate`]) and a metadata `change`, each optional. Returns the new version
    /// when there was a rotation.
    pub async fn update_credential(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        id: Id,
        fields: Option<Map<String, Value>>,
        change: Option<MetadataChange>,
    ) -> Result<Option<u32>, LedgerError> {
        let Some(fields) = fields else {
            let change = change.unwrap_or_default();
            return self
                .execute(ctx, caller, |w, now| {
                    Self::events_only(decide::update(&w.state, caller, id, change, now))
                })
                .await
                .map(|()| None);
        };
        // Authorization before validation, so a caller without rights is refused (and
        // the refusal recorded) whatever fields it sends.
        self.check(ctx, caller, |state| {
            decide::check_rotate(state, caller, id).map(|_| ())
        })
        .await?;
        if fields.is_empty() {
            return Err(DomainError::invalid("fields", "give at least one field to change").into());
        }
        // No precondition is given, so a rotation overtaken by another one between
        // reading the current version and staging (its merge was made on the older
        // version) is merged again onto the newer one, up to ROTATE_ATTEMPTS times.
        let mut attempt = 1;
        loop {
            let stale = AtomicBool::new(false);
            let result = self
                .rotate_once(ctx, caller, id, &fields, change.clone(), &stale)
                .await;
            if !stale.load(Ordering::Relaxed) || attempt == ROTATE_ATTEMPTS {
                return result;
            }
            attempt += 1;
        }
    }

    /// One try of a partial rotation (see [`Ledger::update_credential`]): merges
    /// `fields` onto the current version and stages the new one, unless another rotation
    /// came first (then `stale` is set and the error is a conflict).
    async fn rotate_once(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        id: Id,
        fields: &Map<String, Value>,
        change: Option<MetadataChange>,
        stale: &AtomicBool,
    ) -> Result<Option<u32>, LedgerError> {
        let current = self.current_values(caller, id)?;
        let template = self.template(caller.tenant, &current.template)?;
        let strings: BTreeMap<String, Zeroizing<String>> = current
            .secret
            .0
            .iter()
            .map(|(k, v)| (k.clone(), Zeroizing::new(v.expose().to_string())))
            .collect();
        let merged = partial_rotation(&template, &current.public, &strings, fields)?;
        drop(strings);
        let current_secret = current.secret;
        let retain = self.config.retain_versions;
        let expected = current.version + 1;
        self.execute(ctx, caller, |w, now| {
            let Merged {
                validated,
                carried,
                public_changed,
            } = merged;
            decide::check_carry(&w.state, caller, id, !carried.is_empty(), public_changed)?;
            let version = decide::check_rotate(&w.state, caller, id)?.version;
            if version != expected {
                stale.store(true, Ordering::Relaxed);
                return Err(DomainError::Conflict(
                    "the credential was rotated concurrently; retry".into(),
                )
                .into());
            }
            // Carried secret fields keep their stored form (a typed JSON value stays one).
            let mut secret = into_secret_fields(validated.secret);
            for name in &carried {
                if let Some(original) = current_secret.0.get(name) {
                    secret.0.insert(name.clone(), original.clone());
                }
            }
            let mut staged =
                Self::stage_rotation(w, caller, id, version, validated.public, &secret, retain)?;
            if let Some(change) = change.filter(|c| *c != MetadataChange::default()) {
                staged
                    .bodies
                    .extend(decide::update(&w.state, caller, id, change, now)?);
            }
            Ok((staged, Some(version)))
        })
        .await
    }

    /// The current version of a credential the caller may rotate (checked before), with
    /// its secret values opened for a partial rotation.
    fn current_values(&self, caller: &Caller, id: Id) -> Result<Current, LedgerError> {
        let w = self.lock();
        let cred = w
            .state
            .credentials
            .get(&id)
            .filter(|c| c.tenant == caller.tenant)
            .ok_or(DomainError::NotFound("credential"))?;
        let public = cred.public_fields(cred.current);
        let secret = match Self::open_version(&w, cred, id, cred.current) {
            Ok(mut fields) => {
                fields.0.retain(|k, _| !public.contains_key(k));
                fields
            }
            Err(_) => SecretFields::default(),
        };
        Ok(Current {
            template: cred.template.clone(),
            version: cred.current,
            public,
            secret,
        })
    }

    /// Seals `secret` (with `public` in clear) as `version` of credential `id` and stages
    /// the rotation with the key-ring changes it implies: the new data key, and deleting
    /// the data keys of the
    /// versions that fall out of retention. Shared by the native and the KV write paths.
    pub(super) fn stage_rotation(
        w: &Writer,
        caller: &Caller,
        id: Id,
        version: u32,
        public: BTreeMap<String, String>,
        secret: &SecretFields,
        retain: u32,
    ) -> Result<Staged, Rejection> {
        let binding = Binding {
            tenant: caller.tenant,
            credential: id,
            version,
        };
        let (sealed, key) = Self::seal(w, secret, binding)?;
        let bodies = decide::rotate(&w.state, caller, id, version, public, sealed, retain)?;
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
        self.update_credential(ctx, caller, id, None, Some(change))
            .await
            .map(|_| ())
    }

    /// Makes a credential the default of its service for its owner (the tenant default,
    /// or the owner's selected profile), unsetting the previous one in the same batch.
    pub async fn set_default(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        id: Id,
    ) -> Result<(), LedgerError> {
        self.execute(ctx, caller, |w, now| {
            Self::events_only(decide::set_default(&w.state, caller, id, now))
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

    /// Grants a shared credential to a principal at level `use`.
    pub async fn grant(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        id: Id,
        principal: Id,
    ) -> Result<(), LedgerError> {
        self.grant_to(
            ctx,
            caller,
            id,
            Grantee::Principal(principal),
            GrantLevel::Use,
        )
        .await
    }

    /// Grants a shared credential to a principal or a group at `level` (or changes the
    /// level of an existing grant).
    pub async fn grant_to(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        id: Id,
        grantee: Grantee,
        level: GrantLevel,
    ) -> Result<(), LedgerError> {
        self.execute(ctx, caller, |w, _| {
            Self::events_only(decide::grant(&w.state, caller, id, grantee, level))
        })
        .await
    }

    /// Revokes the grant to a principal or a group (`grantee` is either's id).
    pub async fn revoke_grant(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        id: Id,
        grantee: Id,
    ) -> Result<(), LedgerError> {
        self.execute(ctx, caller, |w, _| {
            Self::events_only(decide::revoke_grant(&w.state, caller, id, grantee))
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
        let rotated = self.config.master_keys_text.is_none();
        if rotated {
            self.rotate_master_key_after_shred(ctx, caller).await?;
        }
        self.reclaim_deleted_keys().await;
        Ok(rotated)
    }

    /// After a shred: asks the store to make the deleted data keys unreadable in its own
    /// files where it can (`LogStore::reclaim_deleted_keys`). The destroy stands if this
    /// fails (it is logged): the key-ring rows are deleted either way.
    pub(super) async fn reclaim_deleted_keys(&self) {
        let store = self.store.clone();
        let done = tokio::task::spawn_blocking(move || store.reclaim_deleted_keys()).await;
        if let Ok(Err(e)) = done {
            tracing::warn!(error = %e, "the store could not reclaim the deleted data keys' space");
        }
    }
}

pub(super) fn into_secret_fields(m: BTreeMap<String, Zeroizing<String>>) -> SecretFields {
    SecretFields(
        m.into_iter()
            .map(|(k, v)| (k, SecretString::from(v)))
            .collect(),
    )
}
