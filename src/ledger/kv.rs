//! The Vault KV v2 operations of the ledger: writes with check-and-set (create or
//! rotate), merge patches, and the version-level delete, undelete and destroy.
//!
//! They take the one write path of the parent module: everything that depends on state
//! (the check-and-set, the current version, the merge of a patch) is decided under the
//! writer lock, so two racing writes with the same `cas` cannot both succeed.

use super::pipeline::KeyOp;
use super::{into_secret_fields, Ledger, LedgerError, RequestCtx, Staged};
use crate::domain::decide::{self, kv, NewCredential};
use crate::domain::{Caller, DomainError, Rejection};
use crate::event::{Body, Owner};
use crate::id::Id;
use crate::secret::Binding;
use crate::template::{TemplateError, Validated};
use serde_json::{Map, Value};

/// The template of credentials created through the KV API (free-form, all secret).
pub use crate::domain::decide::kv::KV_TEMPLATE;

/// A KV write: the new data (or a merge patch of it) and the optional check-and-set.
pub struct KvWrite {
    pub data: Map<String, Value>,
    pub cas: Option<u32>,
    /// RFC 7396 merge patch of the current version's data instead of a replacement.
    pub patch: bool,
}

fn invalid(e: TemplateError) -> Rejection {
    DomainError::Invalid {
        field: e.field().map(str::to_string),
        message: e.to_string(),
    }
    .into()
}

impl Ledger {
    /// The credential at a KV path of the caller's tenant, if any.
    pub fn kv_lookup(&self, caller: &Caller, path: &str) -> Option<Id> {
        self.with_state(|s| kv::lookup(s, caller.tenant, path))
    }

    /// Writes a KV secret: creates the credential (template `custom`) or rotates it to
    /// the next version. Returns the credential and the new version.
    pub async fn kv_write(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        path: &str,
        write: KvWrite,
    ) -> Result<(Id, u32), LedgerError> {
        let retain = self.config.retain_versions;
        let catalog = self.catalog;
        self.execute(ctx, caller, |w, now| {
            let existing = kv::lookup(&w.state, caller.tenant, path);
            let req = kv::WriteRequest {
                path,
                data: &write.data,
                cas: write.cas,
                patch: write.patch,
            };
            match kv::plan_write(&w.state, caller, existing, req, retain)? {
                kv::WritePlan::Create => {
                    let template = catalog.get(KV_TEMPLATE).map_err(invalid)?;
                    let validated = template.validate(&write.data).map_err(invalid)?;
                    let id = Id::random();
                    let binding = Binding {
                        tenant: caller.tenant,
                        credential: id,
                        version: 1,
                    };
                    let secret = into_secret_fields(validated.secret);
                    let (sealed, key) = Self::seal(w, &secret, binding)?;
                    let new = NewCredential {
                        id,
                        name: path.to_string(),
                        template: KV_TEMPLATE.into(),
                        service: KV_TEMPLATE.into(),
                        owner: Owner::Tenant,
                        description: String::new(),
                        public: validated.public,
                        sealed,
                        rotate_every_days: None,
                        expires_at_ms: None,
                        is_default: false,
                    };
                    let bodies = decide::create_credential(&w.state, caller, new, now)?;
                    let keyring = vec![KeyOp::Put {
                        credential: id,
                        version: 1,
                        key,
                    }];
                    Ok((Staged { bodies, keyring }, (id, 1)))
                }
                kv::WritePlan::Rotate {
                    cred,
                    version,
                    retain,
                } => {
                    let id = existing.expect("a rotate plan has an existing credential");
                    let previous = cred
                        .versions
                        .get(&cred.current)
                        .map(|v| v.public.clone())
                        .unwrap_or_default();
                    let template = catalog.get(&cred.template).map_err(invalid)?;
                    let input = if write.patch {
                        let opened =
                            Self::open_version(w, cred, id, cred.current).map_err(|_| {
                                Rejection::from(DomainError::Gone(
                                    "the current version's secret is unavailable".into(),
                                ))
                            })?;
                        let current: Map<String, Value> = opened
                            .0
                            .iter()
                            .map(|(k, v)| (k.clone(), Value::String(v.expose().to_string())))
                            .collect();
                        kv::merge(current, &write.data)
                    } else {
                        write.data.clone()
                    };
                    let validated: Validated = template
                        .validate_update(&previous, &input)
                        .map_err(invalid)?;
                    drop(input);
                    let staged = Self::stage_rotation(w, caller, id, version, validated, retain)?;
                    Ok((staged, (id, version)))
                }
            }
        })
        .await
    }

    /// Soft-deletes versions; `None` means the current version.
    pub async fn kv_delete_versions(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        id: Id,
        versions: Option<Vec<u32>>,
    ) -> Result<(), LedgerError> {
        self.execute(ctx, caller, |w, _| {
            let versions = versions
                .unwrap_or_else(|| vec![w.state.credentials.get(&id).map_or(0, |c| c.current)]);
            Self::events_only(kv::delete_versions(&w.state, caller, id, &versions))
        })
        .await
    }

    /// Undeletes soft-deleted versions.
    pub async fn kv_undelete_versions(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        id: Id,
        versions: Vec<u32>,
    ) -> Result<(), LedgerError> {
        self.execute(ctx, caller, |w, _| {
            Self::events_only(kv::undelete_versions(&w.state, caller, id, &versions))
        })
        .await
    }

    /// Destroys versions: their data keys are deleted in the same commit, then the master
    /// key is rotated (when file-based) as in [`Ledger::destroy`]. Returns whether that
    /// rotation happened.
    pub async fn kv_destroy_versions(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        id: Id,
        versions: Vec<u32>,
    ) -> Result<bool, LedgerError> {
        let destroyed = self
            .execute(ctx, caller, |w, _| {
                let bodies = kv::destroy_versions(&w.state, caller, id, &versions)?;
                let mut keyring = Vec::new();
                if let Some(Body::VersionsDestroyed { versions, .. }) = bodies.first() {
                    keyring.extend(
                        versions
                            .iter()
                            .filter(|v| w.keyring.contains_key(&(id, **v)))
                            .map(|v| KeyOp::Delete {
                                credential: id,
                                version: *v,
                            }),
                    );
                }
                let any = !keyring.is_empty();
                Ok((Staged { bodies, keyring }, any))
            })
            .await?;
        if !destroyed || self.config.master_keys_text.is_some() {
            return Ok(false);
        }
        self.rotate_master_key_after_shred(ctx, caller).await?;
        Ok(true)
    }

    /// Sets a secret's KV metadata.
    pub async fn kv_set_metadata(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        id: Id,
        meta: kv::KvMetadata,
    ) -> Result<(), LedgerError> {
        self.execute(ctx, caller, |w, _| {
            Self::events_only(kv::set_metadata(&w.state, caller, id, meta))
        })
        .await
    }

    /// Sets the tenant's KV mount configuration.
    pub async fn kv_set_config(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        max_versions: u32,
        cas_required: bool,
        delete_version_after: &str,
    ) -> Result<(), LedgerError> {
        let mount = self.config.vault_mount.clone();
        self.execute(ctx, caller, |_, _| {
            Self::events_only(kv::set_config(
                caller,
                &mount,
                max_versions,
                cas_required,
                delete_version_after,
            ))
        })
        .await
    }
}
