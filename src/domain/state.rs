//! [`State`]: what the ledger knows now, folded from the log by [`State::apply`].
//!
//! **Invariant:** `apply` is total (never fails, never panics on any event that `decide`
//! could have produced or that a verified log contains) and deterministic.

use super::names::fold;
use crate::event::{Body, Event, Hash32, MetadataChange, Owner, PrincipalKind, Role, Sealed};
use crate::id::Id;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// A tenant.
#[derive(Clone, Debug)]
pub struct Tenant {
    pub name: String,
}

/// A user or service principal.
#[derive(Clone, Debug)]
pub struct Principal {
    pub tenant: Id,
    pub name: String,
    pub kind: PrincipalKind,
    pub role: Role,
    pub system_admin: bool,
    pub disabled: bool,
}

/// An API token (only its keyed hash is known).
#[derive(Clone, Debug)]
pub struct Token {
    pub tenant: Id,
    pub principal: Id,
    pub hash: Hash32,
    pub expires_at_ms: Option<i64>,
    pub revoked: bool,
}

/// Lifecycle status of a credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredStatus {
    Active,
    Deleted,
    Destroyed,
}

impl CredStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CredStatus::Active => "active",
            CredStatus::Deleted => "deleted",
            CredStatus::Destroyed => "destroyed",
        }
    }
}

/// One retained version of a credential.
#[derive(Clone, Debug)]
pub struct Version {
    pub public: BTreeMap<String, String>,
    pub sealed: Arc<Sealed>,
    pub created_at_ms: i64,
}

/// A credential as decisions need it.
#[derive(Clone, Debug)]
pub struct Credential {
    pub tenant: Id,
    pub name: String,
    pub template: String,
    pub service: String,
    pub owner: Owner,
    pub status: CredStatus,
    pub current: u32,
    /// Versions whose data keys still exist.
    pub versions: BTreeMap<u32, Version>,
    pub grants: BTreeSet<Id>,
    pub is_default: bool,
    pub rotate_every_days: Option<u32>,
    pub expires_at_ms: Option<i64>,
    pub created_seq: u64,
}

impl Credential {
    /// Whether the credential has expired at `now_ms` (then it cannot be resolved).
    pub fn expired(&self, now_ms: i64) -> bool {
        self.expires_at_ms.is_some_and(|e| e <= now_ms)
    }
}

/// Vault KV facts about one credential: soft-deleted and destroyed versions, and its
/// KV metadata.
#[derive(Clone, Debug, Default)]
pub struct KvCredential {
    /// Soft-deleted versions and when.
    pub deleted: BTreeMap<u32, i64>,
    /// Versions whose data keys were destroyed through the KV API.
    pub destroyed: BTreeSet<u32>,
    pub max_versions: u32,
    pub cas_required: bool,
    pub delete_version_after: String,
    pub custom_metadata: BTreeMap<String, String>,
}

/// A tenant's Vault KV mount configuration.
#[derive(Clone, Debug, Default)]
pub struct KvConfig {
    pub max_versions: u32,
    pub cas_required: bool,
    pub delete_version_after: String,
}

/// The right of a service principal to resolve `for_user`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Delegation {
    /// Every user of the tenant except system principals.
    pub all_users: bool,
    /// Users named explicitly (the only way to cover a system principal).
    pub users: BTreeSet<Id>,
}

/// Everything decisions need, folded from the log.
#[derive(Clone, Debug, Default)]
pub struct State {
    pub origin: Option<String>,
    /// The current signing public key.
    pub signing_key: Option<[u8; 32]>,
    pub master_key_id: Option<u32>,
    pub tenants: HashMap<Id, Tenant>,
    pub principals: HashMap<Id, Principal>,
    pub tokens: HashMap<Id, Token>,
    pub credentials: HashMap<Id, Credential>,
    /// (tenant, name) → credential, for every credential not destroyed.
    pub names: HashMap<(Id, String), Id>,
    /// (tenant, case-folded name) → the credentials not destroyed with that folded name
    /// (more than one only in logs written before names were unique without case).
    pub folded_names: HashMap<(Id, String), BTreeSet<Id>>,
    /// Delegations by service principal.
    pub delegations: HashMap<Id, Delegation>,
    /// (tenant, service) → credentials of that service, in creation order.
    pub by_service: HashMap<(Id, String), Vec<Id>>,
    /// Number of events applied.
    pub len: u64,
    /// Vault KV facts by credential (only credentials the KV API touched).
    pub kv: HashMap<Id, KvCredential>,
    /// Vault KV mount configuration by tenant.
    pub kv_config: HashMap<Id, KvConfig>,
}

impl State {
    /// The tenant id with this name (compared without case).
    pub fn tenant_by_name(&self, name: &str) -> Option<Id> {
        let folded = fold(name);
        self.tenants
            .iter()
            .find(|(_, t)| fold(&t.name) == folded)
            .map(|(id, _)| *id)
    }

    /// The principal of `tenant` with this name (compared without case).
    pub fn principal_by_name(&self, tenant: Id, name: &str) -> Option<Id> {
        let folded = fold(name);
        self.principals
            .iter()
            .find(|(_, p)| p.tenant == tenant && fold(&p.name) == folded)
            .map(|(id, _)| *id)
    }

    /// A credential of `tenant` (not destroyed) whose name equals `name` without case,
    /// other than `except`.
    pub fn credential_name_taken(&self, tenant: Id, name: &str, except: Option<Id>) -> bool {
        self.folded_names
            .get(&(tenant, fold(name)))
            .is_some_and(|ids| ids.iter().any(|id| Some(*id) != except))
    }

    /// Whether `principal` is a system principal that is enabled and holds the admin role.
    pub fn is_active_system_admin(&self, principal: Id) -> bool {
        self.principals
            .get(&principal)
            .is_some_and(|p| p.system_admin && p.role == Role::Admin && !p.disabled)
    }

    fn index_name(&mut self, tenant: Id, name: &str, id: Id) {
        self.folded_names
            .entry((tenant, fold(name)))
            .or_default()
            .insert(id);
    }

    fn unindex_name(&mut self, tenant: Id, name: &str, id: Id) {
        let key = (tenant, fold(name));
        if let Some(ids) = self.folded_names.get_mut(&key) {
            ids.remove(&id);
            if ids.is_empty() {
                self.folded_names.remove(&key);
            }
        }
    }

    /// Whether `principal` exists and belongs to `tenant`.
    pub fn is_principal_of(&self, principal: Id, tenant: Id) -> bool {
        self.principals
            .get(&principal)
            .is_some_and(|p| p.tenant == tenant)
    }

    /// The tenant's default credential for `service`, if any.
    pub fn default_for(&self, tenant: Id, service: &str) -> Option<Id> {
        self.by_service
            .get(&(tenant, service.to_string()))?
            .iter()
            .copied()
            .find(|id| {
                self.credentials
                    .get(id)
                    .is_some_and(|c| c.is_default && c.status == CredStatus::Active)
            })
    }

    /// Folds one event into the state.
    #[allow(
        clippy::too_many_lines,
        reason = "one flat arm per event variant: a table, exhaustive on purpose"
    )]
    pub fn apply(&mut self, event: &Event) {
        self.len = event.seq + 1;
        let at = event.at_ms;
        match &event.body {
            Body::LedgerInitialized {
                origin,
                signing_key,
            } => {
                self.origin = Some(origin.clone());
                self.signing_key = Some(*signing_key);
            }
            Body::TenantCreated { tenant, name } => {
                self.tenants.insert(*tenant, Tenant { name: name.clone() });
            }
            Body::PrincipalCreated {
                tenant,
                principal,
                name,
                kind,
                role,
                system_admin,
            } => {
                self.principals.insert(
                    *principal,
                    Principal {
                        tenant: *tenant,
                        name: name.clone(),
                        kind: *kind,
                        role: *role,
                        system_admin: *system_admin,
                        disabled: false,
                    },
                );
            }
            Body::PrincipalDisabled { principal, .. } => {
                if let Some(p) = self.principals.get_mut(principal) {
                    p.disabled = true;
                }
            }
            Body::TokenIssued {
                tenant,
                principal,
                token,
                hash,
                expires_at_ms,
            } => {
                self.tokens.insert(
                    *token,
                    Token {
                        tenant: *tenant,
                        principal: *principal,
                        hash: *hash,
                        expires_at_ms: *expires_at_ms,
                        revoked: false,
                    },
                );
            }
            Body::TokenRevoked { token, .. } => {
                if let Some(t) = self.tokens.get_mut(token) {
                    t.revoked = true;
                }
            }
            Body::CredentialCreated {
                tenant,
                credential,
                name,
                template,
                service,
                owner,
                public,
                sealed,
                rotate_every_days,
                expires_at_ms,
                is_default,
                ..
            } => {
                let version = Version {
                    public: public.clone(),
                    sealed: Arc::new(sealed.clone()),
                    created_at_ms: at,
                };
                self.credentials.insert(
                    *credential,
                    Credential {
                        tenant: *tenant,
                        name: name.clone(),
                        template: template.clone(),
                        service: service.clone(),
                        owner: *owner,
                        status: CredStatus::Active,
                        current: 1,
                        versions: [(1, version)].into(),
                        grants: BTreeSet::new(),
                        is_default: *is_default,
                        rotate_every_days: *rotate_every_days,
                        expires_at_ms: *expires_at_ms,
                        created_seq: event.seq,
                    },
                );
                self.names.insert((*tenant, name.clone()), *credential);
                self.index_name(*tenant, name, *credential);
                self.by_service
                    .entry((*tenant, service.clone()))
                    .or_default()
                    .push(*credential);
            }
            Body::CredentialUpdated {
                credential, change, ..
            } => {
                self.apply_change(*credential, change);
            }
            Body::CredentialRotated {
                credential,
                version,
                public,
                sealed,
                retired,
                ..
            } => {
                if let Some(c) = self.credentials.get_mut(credential) {
                    c.current = *version;
                    c.versions.insert(
                        *version,
                        Version {
                            public: public.clone(),
                            sealed: Arc::new(sealed.clone()),
                            created_at_ms: at,
                        },
                    );
                    for v in retired {
                        c.versions.remove(v);
                    }
                }
            }
            Body::GrantAdded {
                credential,
                principal,
                ..
            } => {
                if let Some(c) = self.credentials.get_mut(credential) {
                    c.grants.insert(*principal);
                }
            }
            Body::GrantRevoked {
                credential,
                principal,
                ..
            } => {
                if let Some(c) = self.credentials.get_mut(credential) {
                    c.grants.remove(principal);
                }
            }
            Body::CredentialDeleted { credential, .. } => {
                self.set_status(*credential, CredStatus::Deleted)
            }
            Body::CredentialRestored { credential, .. } => {
                self.set_status(*credential, CredStatus::Active)
            }
            Body::CredentialDestroyed { credential, .. } => {
                self.set_status(*credential, CredStatus::Destroyed);
                if let Some(c) = self.credentials.get_mut(credential) {
                    c.versions.clear();
                    c.is_default = false;
                    let key = (c.tenant, c.name.clone());
                    if self.names.get(&key) == Some(credential) {
                        self.names.remove(&key);
                    }
                    let (tenant, name) = key;
                    self.unindex_name(tenant, &name, *credential);
                }
            }
            Body::MasterKeyRotated { new_key_id, .. } => self.master_key_id = Some(*new_key_id),
            Body::SigningKeyRotated { new_key, .. } => self.signing_key = Some(*new_key),
            Body::VersionsDeleted {
                credential,
                versions,
                ..
            } => {
                let kv = self.kv.entry(*credential).or_default();
                for v in versions {
                    kv.deleted.insert(*v, at);
                }
            }
            Body::VersionsUndeleted {
                credential,
                versions,
                ..
            } => {
                let kv = self.kv.entry(*credential).or_default();
                for v in versions {
                    kv.deleted.remove(v);
                }
            }
            Body::VersionsDestroyed {
                credential,
                versions,
                ..
            } => {
                let kv = self.kv.entry(*credential).or_default();
                for v in versions {
                    kv.deleted.remove(v);
                    kv.destroyed.insert(*v);
                }
                if let Some(c) = self.credentials.get_mut(credential) {
                    for v in versions {
                        c.versions.remove(v);
                    }
                }
            }
            Body::KvMetadataSet {
                credential,
                max_versions,
                cas_required,
                delete_version_after,
                custom_metadata,
                ..
            } => {
                let kv = self.kv.entry(*credential).or_default();
                kv.max_versions = *max_versions;
                kv.cas_required = *cas_required;
                kv.delete_version_after = delete_version_after.clone();
                kv.custom_metadata = custom_metadata.clone();
            }
            Body::KvConfigSet {
                tenant,
                max_versions,
                cas_required,
                delete_version_after,
                ..
            } => {
                self.kv_config.insert(
                    *tenant,
                    KvConfig {
                        max_versions: *max_versions,
                        cas_required: *cas_required,
                        delete_version_after: delete_version_after.clone(),
                    },
                );
            }
            Body::DelegationGranted {
                principal,
                all_users,
                users,
                ..
            } => {
                self.delegations.insert(
                    *principal,
                    Delegation {
                        all_users: *all_users,
                        users: users.iter().copied().collect(),
                    },
                );
            }
            Body::DelegationRevoked { principal, .. } => {
                self.delegations.remove(principal);
            }
            Body::CredentialUsed { .. }
            | Body::UseDenied { .. }
            | Body::CredentialVerified { .. }
            | Body::AccessDenied { .. }
            | Body::AccessDeniedV2 { .. }
            | Body::AuthFailures { .. }
            | Body::ConsoleSignedIn { .. }
            | Body::ConsoleSignedOut { .. } => {}
        }
    }

    fn set_status(&mut self, id: Id, status: CredStatus) {
        if let Some(c) = self.credentials.get_mut(&id) {
            c.status = status;
        }
    }

    fn apply_change(&mut self, id: Id, change: &MetadataChange) {
        let Some(c) = self.credentials.get_mut(&id) else {
            return;
        };
        if let Some(name) = &change.name {
            let old = (c.tenant, c.name.clone());
            if self.names.get(&old) == Some(&id) {
                self.names.remove(&old);
            }
            c.name = name.clone();
            let tenant = c.tenant;
            self.names.insert((tenant, name.clone()), id);
            self.unindex_name(tenant, &old.1, id);
            self.index_name(tenant, name, id);
            return self.apply_other_changes(id, change);
        }
        self.apply_other_changes(id, change);
    }

    fn apply_other_changes(&mut self, id: Id, change: &MetadataChange) {
        let Some(c) = self.credentials.get_mut(&id) else {
            return;
        };
        if let Some(r) = change.rotate_every_days {
            c.rotate_every_days = r;
        }
        if let Some(e) = change.expires_at_ms {
            c.expires_at_ms = e;
        }
        if let Some(d) = change.is_default {
            c.is_default = d;
        }
    }
}
