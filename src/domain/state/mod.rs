//! [`State`]: what the ledger knows now, folded from the log by [`State::apply`].
//!
//! **Invariant:** `apply` is total (never fails, never panics on any event that `decide`
//! could have produced or that a verified log contains) and deterministic. A tenant
//! template whose stored definition no longer parses is kept, marked unusable, rather
//! than dropped or made to fail the fold.
//!
//! **Invariant:** credential names are indexed per owner (a principal's personal names,
//! the tenant's shared names), compared case-folded; `names` indexes shared credentials
//! only (it is what a Vault KV path names).

use super::names::fold;
use crate::event::{
    GrantLevel, Grantee, Hash32, Owner, PrincipalKind, Role, Sealed, WebhookFormat,
};
use crate::id::Id;
use crate::template::Template;
use serde::{Deserialize, Serialize};
use snapshot::{arc, sorted};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// A tenant.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Tenant {
    pub name: String,
}

/// A user or service principal.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Principal {
    pub tenant: Id,
    pub name: String,
    pub kind: PrincipalKind,
    pub role: Role,
    pub system_admin: bool,
    pub disabled: bool,
}

/// An API token (only its keyed hash is known).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Token {
    pub tenant: Id,
    pub principal: Id,
    pub hash: Hash32,
    pub expires_at_ms: Option<i64>,
    pub revoked: bool,
}

/// Lifecycle status of a credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Version {
    pub public: Fields,
    #[serde(with = "arc")]
    pub sealed: Arc<Sealed>,
    pub created_at_ms: i64,
}

/// A credential as decisions need it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Credential {
    pub tenant: Id,
    pub name: String,
    pub template: String,
    pub service: String,
    pub owner: Owner,
    pub status: CredStatus,
    pub current: u32,
    /// Versions whose data keys still exist.
    pub versions: Versions,
    /// Grants of a shared credential, by grantee.
    pub grants: BTreeMap<Grantee, GrantLevel>,
    /// For a shared credential: the tenant default of its service. For a personal one:
    /// the owner's selected profile for its service.
    pub is_default: bool,
    pub rotate_every_days: Option<u32>,
    pub expires_at_ms: Option<i64>,
    pub created_seq: u64,
    /// Whether scheduled connection tests (`serve --verify-every`) include it (its
    /// `scheduled_verify_set` events; on from creation).
    pub scheduled_verify: bool,
}

impl Credential {
    /// Whether the credential has expired at `now_ms` (then it cannot be resolved).
    pub fn expired(&self, now_ms: i64) -> bool {
        self.expires_at_ms.is_some_and(|e| e <= now_ms)
    }

    /// The public fields of `version` (empty when it is not retained).
    pub fn public_fields(&self, version: u32) -> BTreeMap<String, String> {
        self.versions
            .get(&version)
            .map(|v| map_of(&v.public))
            .unwrap_or_default()
    }
}

/// Vault KV facts about one credential: soft-deleted and destroyed versions, and its
/// KV metadata.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
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
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct KvConfig {
    pub max_versions: u32,
    pub cas_required: bool,
    pub delete_version_after: String,
}

/// The right of a service principal to resolve `for_user`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delegation {
    /// Every user of the tenant except system principals.
    pub all_users: bool,
    /// Users named explicitly (the only way to cover a system principal).
    pub users: BTreeSet<Id>,
}

/// A group of principals, to grant credentials to.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Group {
    pub tenant: Id,
    pub name: String,
    pub members: BTreeSet<Id>,
}

/// A template a tenant defined at run time.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TenantTemplate {
    /// The definition as recorded (JSON).
    pub definition: String,
    /// The parsed and checked template; `None` when the recorded definition no longer
    /// passes this build's checks (then no credential can be created or rotated with it).
    /// Not in a snapshot: parsed again from `definition` when one is read.
    #[serde(skip)]
    pub template: Option<Arc<Template>>,
}

/// Everything decisions need, folded from the log.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct State {
    pub origin: Option<String>,
    /// The current signing public key.
    pub signing_key: Option<[u8; 32]>,
    pub master_key_id: Option<u32>,
    #[serde(serialize_with = "sorted")]
    pub tenants: HashMap<Id, Tenant>,
    #[serde(serialize_with = "sorted")]
    pub principals: HashMap<Id, Principal>,
    #[serde(serialize_with = "sorted")]
    pub tokens: HashMap<Id, Token>,
    #[serde(serialize_with = "sorted")]
    pub credentials: HashMap<Id, Credential>,
    /// (tenant, name) → shared credential, for every shared credential not destroyed.
    #[serde(serialize_with = "sorted")]
    pub names: HashMap<(Id, String), Id>,
    /// (tenant, owner, case-folded name) → the credentials not destroyed with that owner
    /// and folded name (more than one only in logs written before names were unique
    /// without case).
    #[serde(serialize_with = "sorted")]
    pub folded_names: HashMap<(Id, Owner, String), IdSet>,
    /// Groups by id.
    #[serde(serialize_with = "sorted")]
    pub groups: HashMap<Id, Group>,
    /// Principal → the groups it is a member of.
    #[serde(serialize_with = "sorted")]
    pub member_of: HashMap<Id, BTreeSet<Id>>,
    /// Tenant → its templates by name.
    #[serde(serialize_with = "sorted")]
    pub templates: HashMap<Id, BTreeMap<String, TenantTemplate>>,
    /// Delegations by service principal.
    #[serde(serialize_with = "sorted")]
    pub delegations: HashMap<Id, Delegation>,
    /// (tenant, service) → credentials of that service, in creation order.
    #[serde(serialize_with = "sorted")]
    pub by_service: HashMap<(Id, String), Vec<Id>>,
    /// Number of events applied.
    pub len: u64,
    /// Vault KV facts by credential (only credentials the KV API touched).
    #[serde(serialize_with = "sorted")]
    pub kv: HashMap<Id, KvCredential>,
    /// Vault KV mount configuration by tenant.
    #[serde(serialize_with = "sorted")]
    pub kv_config: HashMap<Id, KvConfig>,
    /// Webhooks by id (deleted ones removed).
    #[serde(serialize_with = "sorted")]
    pub webhooks: HashMap<Id, Webhook>,
}

/// A webhook: its URL and secret sealed (the data key in the key ring under
/// `(id, WEBHOOK_KEY_VERSION)`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Webhook {
    pub tenant: Id,
    /// The URL's scheme, host and port.
    pub origin: String,
    pub events: Vec<String>,
    pub format: WebhookFormat,
    pub expiring_within_days: u32,
    pub ledger_wide: bool,
    pub sealed: Sealed,
    pub created_seq: u64,
    pub created_at_ms: i64,
    /// The latest log event a delivery was recorded for (its creation at first).
    pub cursor: u64,
    /// (event, credential, version) of the state notifications already recorded.
    pub notified: BTreeSet<(String, Id, u32)>,
}

/// The key-ring version of a webhook's data key.
pub const WEBHOOK_KEY_VERSION: u32 = 1;

impl State {
    /// Every key-ring entry the state needs, `(id, version)`: one per retained version of
    /// a credential and one per webhook (unordered). Each MUST exist in the key ring:
    /// a commit writes the data key before the event that needs it.
    pub fn needed_keys(&self) -> impl Iterator<Item = (Id, u32)> + '_ {
        let versions = self
            .credentials
            .iter()
            .flat_map(|(id, c)| c.versions.keys().map(move |v| (*id, *v)));
        let webhooks = self.webhooks.keys().map(|id| (*id, WEBHOOK_KEY_VERSION));
        versions.chain(webhooks)
    }

    /// The tenant bound into key-ring entry `(id, version)`'s data key, when the entry
    /// belongs to a logged credential version or a webhook.
    pub fn key_tenant(&self, id: Id, version: u32) -> Option<Id> {
        if let Some(c) = self.credentials.get(&id) {
            return c.versions.contains_key(&version).then_some(c.tenant);
        }
        self.webhooks
            .get(&id)
            .filter(|_| version == WEBHOOK_KEY_VERSION)
            .map(|w| w.tenant)
    }
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

    /// Whether `owner` already has a credential of `tenant` (not destroyed) whose name
    /// equals `name` without case, other than `except`. Names are unique per owner: a
    /// principal's personal credentials, and the tenant's shared ones.
    pub fn credential_name_taken(
        &self,
        tenant: Id,
        owner: Owner,
        name: &str,
        except: Option<Id>,
    ) -> bool {
        self.folded_names
            .get(&(tenant, owner, fold(name)))
            .is_some_and(|ids| ids.iter().any(|id| Some(*id) != except))
    }

    /// The group of `tenant` with this name (compared without case).
    pub fn group_by_name(&self, tenant: Id, name: &str) -> Option<Id> {
        let folded = fold(name);
        self.groups
            .iter()
            .find(|(_, g)| g.tenant == tenant && fold(&g.name) == folded)
            .map(|(id, _)| *id)
    }

    /// The groups `principal` is a member of.
    pub fn groups_of(&self, principal: Id) -> impl Iterator<Item = Id> + '_ {
        self.member_of
            .get(&principal)
            .into_iter()
            .flatten()
            .copied()
    }

    /// The tenant template `name` of `tenant`, if defined.
    pub fn tenant_template(&self, tenant: Id, name: &str) -> Option<&TenantTemplate> {
        self.templates.get(&tenant)?.get(name)
    }

    /// Whether `principal` is a system principal that is enabled and holds the admin role.
    pub fn is_active_system_admin(&self, principal: Id) -> bool {
        self.principals
            .get(&principal)
            .is_some_and(|p| p.system_admin && p.role == Role::Admin && !p.disabled)
    }

    fn index_name(&mut self, tenant: Id, owner: Owner, name: &str, id: Id) {
        self.folded_names
            .entry((tenant, owner, fold(name)))
            .or_default()
            .insert(id);
        if owner == Owner::Tenant {
            self.names.insert((tenant, name.to_string()), id);
        }
    }

    fn unindex_name(&mut self, tenant: Id, owner: Owner, name: &str, id: Id) {
        if owner == Owner::Tenant && self.names.get(&(tenant, name.to_string())) == Some(&id) {
            self.names.remove(&(tenant, name.to_string()));
        }
        let key = (tenant, owner, fold(name));
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

    /// The tenant's default credential for `service` (a shared one), if any.
    pub fn default_for(&self, tenant: Id, service: &str) -> Option<Id> {
        self.marked_for(tenant, Owner::Tenant, service)
    }

    /// The selected profile of `principal` for `service` (a personal credential marked
    /// default), if any.
    pub fn selected_for(&self, tenant: Id, principal: Id, service: &str) -> Option<Id> {
        self.marked_for(tenant, Owner::Principal(principal), service)
    }

    /// The active credential of `owner` for `service` marked default.
    pub fn marked_for(&self, tenant: Id, owner: Owner, service: &str) -> Option<Id> {
        self.by_service
            .get(&(tenant, service.to_string()))?
            .iter()
            .copied()
            .find(|id| {
                self.credentials.get(id).is_some_and(|c| {
                    c.owner == owner && c.is_default && c.status == CredStatus::Active
                })
            })
    }
}

mod apply;
mod fields;
mod idset;
mod snapshot;
mod versions;

pub use fields::Fields;
use fields::{fields_of, map_of};
pub use idset::IdSet;
pub use versions::Versions;
