//! The credential lifecycle: create, rotate, update, delete, restore, grant, destroy.

use super::pipeline::KeyOp;
use super::{CreateInput, Ledger, LedgerError, RequestCtx, Staged, Writer};
use crate::domain::decide::{self, NewCredential};
use crate::domain::{Caller, DomainError, Rejection};
use crate::event::{Body, MetadataChange, Owner, Sealed};
use crate::id::Id;
use crate::secret::{self, Binding, SecretFields, SecretString, WrappedKey};
use rand::rngs::OsRng;
use std::collections::BTreeMap;
use zeroize::Zeroizing;

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
        self.check(ctx, caller, |state| {
            decide::check_rotate(state, caller, id).map(|_| ())
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
            let version = decide::check_rotate(&w.state, caller, id)?.version;
            let validated = validated.expect("a credential the caller may rotate exists");
            let staged = Self::stage_rotation(w, caller, id, version, validated, retain)?;
            Ok((staged, version))
        })
        .await
    }

    /// Seals `validated` as `version` of credential `id` and stages the rotation with the
    /// key-ring changes it implies: the new data key, and deleting the data keys of the
    /// versions that fall out of retention. Shared by the native and the KV write paths.
    pub(super) fn stage_rotation(
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
        self.rotate_master_key_after_shred(ctx, caller).await?;
        Ok(true)
    }
}

pub(super) fn into_secret_fields(m: BTreeMap<String, Zeroizing<String>>) -> SecretFields {
    SecretFields(
        m.into_iter()
            .map(|(k, v)| (k, SecretString::from(v)))
            .collect(),
    )
}
