//! The Vault KV v2 operations of the ledger: writes with check-and-set (create or
//! rotate), merge patches, and the version-level delete, undelete and destroy.
//!
//! They take the one write path of the parent module: everything that depends on state
//! (the check-and-set, the current version, the merge of a patch) is decided under the
//! writer lock, so two racing writes with the same `cas` cannot both succeed.

use super::pipeline::KeyOp;
use super::{Ledger, LedgerError, RequestCtx, Staged};
use crate::domain::decide::{self, kv, NewCredential};
use crate::domain::{Caller, DomainError, Rejection};
use crate::event::{Body, Owner};
use crate::id::Id;
use crate::secret::{json, Binding, SecretFields};
use crate::template::TemplateError;
use std::collections::BTreeMap;

/// The template of credentials created through the KV API (free-form, all secret).
pub use crate::domain::decide::kv::KV_TEMPLATE;

/// A KV write: the new data (or a merge patch of it; typed values, see
/// [`crate::secret::json`]) and the optional check-and-set.
pub struct KvWrite {
    pub data: SecretFields,
    /// Any integer, as Vault parses it: a negative one never matches.
    pub cas: Option<i64>,
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
        self.execute(ctx, caller, |w, now| {
            let existing = kv::lookup(&w.state, caller.tenant, path);
            let req = kv::WriteRequest {
                path,
                cas: write.cas,
                patch: write.patch,
            };
            match kv::plan_write(&w.state, caller, existing, req, retain)? {
                kv::WritePlan::Create => {
                    crate::template::check_kv_data(&write.data).map_err(invalid)?;
                    let id = Id::random();
                    let binding = Binding {
                        tenant: caller.tenant,
                        credential: id,
                        version: 1,
                    };
                    let (sealed, key) = Self::seal(w, &write.data, binding)?;
                    let new = NewCredential {
                        id,
                        name: path.to_string(),
                        template: KV_TEMPLATE.into(),
                        service: KV_TEMPLATE.into(),
                        owner: Owner::Tenant,
                        description: String::new(),
                        public: BTreeMap::new(),
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
                    let data = if write.patch {
                        let current =
                            Self::open_version(w, cred, id, cred.current).map_err(|_| {
                                Rejection::from(DomainError::Gone(
                                    "the current version's secret is unavailable".into(),
                                ))
                            })?;
                        json::merge_patch(&current, &write.data)
                    } else {
                        write.data
                    };
                    crate::template::check_kv_data(&data).map_err(invalid)?;
                    let staged = Self::stage_rotation(
                        w,
                        caller,
                        id,
                        version,
                        BTreeMap::new(),
                        &data,
                        retain,
                    )?;
                    Ok((staged, (id, version)))
                }
            }
        })
        .await
    }

    /// Checks an `X-Vault-Namespace` header against the caller's tenant; a refusal is
    /// recorded before it is returned.
    pub async fn kv_check_namespace(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        namespace: Option<&str>,
    ) -> Result<(), LedgerError> {
        if namespace.is_none_or(|n| n.trim().trim_matches('/').is_empty()) {
            return Ok(());
        }
        self.check(ctx, caller, |s| kv::check_namespace(s, caller, namespace))
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

/// What Vault's `auth/token/lookup-self` shows of the caller's token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VaultTokenInfo {
    pub principal_name: String,
    pub tenant_name: String,
    pub expires_at_ms: Option<i64>,
}

impl Ledger {
    /// The caller's token as `auth/token/lookup-self` shows it.
    pub fn kv_token_info(&self, caller: &Caller) -> VaultTokenInfo {
        self.with_state(|s| VaultTokenInfo {
            principal_name: s
                .principals
                .get(&caller.principal)
                .map(|p| p.name.clone())
                .unwrap_or_default(),
            tenant_name: s
                .tenants
                .get(&caller.tenant)
                .map(|t| t.name.clone())
                .unwrap_or_default(),
            expires_at_ms: s.tokens.get(&caller.token).and_then(|t| t.expires_at_ms),
        })
    }

    /// The ledger's origin (the checkpoint key name), which names the "cluster" in
    /// Vault's `sys/health`.
    pub fn kv_origin(&self) -> String {
        self.with_state(|s| s.origin.clone().unwrap_or_default())
    }
}
