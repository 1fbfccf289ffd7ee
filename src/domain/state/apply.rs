//! [`State::apply`]: folding one event into the state, one flat arm per variant.
//!
//! **Invariant:** total and deterministic (see the parent module); no rule lives here.

use super::{
    CredStatus, Credential, Delegation, Group, KvConfig, Principal, State, Tenant, TenantTemplate,
    Token, Version,
};
use crate::event::{Body, Event, GrantLevel, Grantee, MetadataChange};
use crate::id::Id;
use crate::template::Template;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

impl State {
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
                    public: super::fields_of(public),
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
                        grants: BTreeMap::new(),
                        is_default: *is_default,
                        rotate_every_days: *rotate_every_days,
                        expires_at_ms: *expires_at_ms,
                        created_seq: event.seq,
                        scheduled_verify: true,
                    },
                );
                self.index_name(*tenant, *owner, name, *credential);
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
                            public: super::fields_of(public),
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
                    c.grants
                        .insert(Grantee::Principal(*principal), GrantLevel::Use);
                }
            }
            Body::GrantRevoked {
                credential,
                principal,
                ..
            } => {
                if let Some(c) = self.credentials.get_mut(credential) {
                    c.grants.remove(&Grantee::Principal(*principal));
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
                    let (tenant, owner, name) = (c.tenant, c.owner, c.name.clone());
                    self.unindex_name(tenant, owner, &name, *credential);
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
            Body::GroupCreated {
                tenant,
                group,
                name,
            } => {
                self.groups.insert(
                    *group,
                    Group {
                        tenant: *tenant,
                        name: name.clone(),
                        members: BTreeSet::new(),
                    },
                );
            }
            Body::GroupMemberAdded {
                group, principal, ..
            } => {
                if let Some(g) = self.groups.get_mut(group) {
                    g.members.insert(*principal);
                    self.member_of.entry(*principal).or_default().insert(*group);
                }
            }
            Body::GroupMemberRemoved {
                group, principal, ..
            } => {
                if let Some(g) = self.groups.get_mut(group) {
                    g.members.remove(principal);
                }
                if let Some(of) = self.member_of.get_mut(principal) {
                    of.remove(group);
                    if of.is_empty() {
                        self.member_of.remove(principal);
                    }
                }
            }
            Body::GrantAddedV2 {
                credential,
                grantee,
                level,
                ..
            } => {
                if let Some(c) = self.credentials.get_mut(credential) {
                    c.grants.insert(*grantee, *level);
                }
            }
            Body::GrantRevokedV2 {
                credential,
                grantee,
                ..
            } => {
                if let Some(c) = self.credentials.get_mut(credential) {
                    c.grants.remove(grantee);
                }
            }
            Body::TemplateDefined {
                tenant,
                name,
                definition,
            } => {
                let template = parse_template(name, definition);
                self.templates.entry(*tenant).or_default().insert(
                    name.clone(),
                    TenantTemplate {
                        definition: definition.clone(),
                        template,
                    },
                );
            }
            Body::TemplateDeleted { tenant, name } => {
                if let Some(t) = self.templates.get_mut(tenant) {
                    t.remove(name);
                }
            }
            Body::ScheduledVerifySet {
                credential,
                enabled,
                ..
            } => {
                if let Some(c) = self.credentials.get_mut(credential) {
                    c.scheduled_verify = *enabled;
                }
            }
            Body::WebhookCreated {
                tenant,
                webhook,
                origin,
                events,
                format,
                expiring_within_days,
                ledger_wide,
                sealed,
            } => {
                self.webhooks.insert(
                    *webhook,
                    super::Webhook {
                        tenant: *tenant,
                        origin: origin.clone(),
                        events: events.clone(),
                        format: *format,
                        expiring_within_days: *expiring_within_days,
                        ledger_wide: *ledger_wide,
                        sealed: sealed.clone(),
                        created_seq: event.seq,
                        created_at_ms: event.at_ms,
                        cursor: event.seq,
                        notified: BTreeSet::new(),
                    },
                );
            }
            Body::WebhookDeleted { webhook, .. } => {
                self.webhooks.remove(webhook);
            }
            Body::WebhookDelivered {
                webhook,
                event: kind,
                credential,
                version,
                trigger_seq,
                ..
            } => {
                if let Some(w) = self.webhooks.get_mut(webhook) {
                    match (trigger_seq, credential, version) {
                        (Some(seq), _, _) => w.cursor = w.cursor.max(*seq),
                        (None, Some(c), Some(v)) => {
                            w.notified.insert((kind.clone(), *c, *v));
                        }
                        (None, _, _) => {}
                    }
                }
            }
            Body::CredentialUsed { .. }
            | Body::UseDenied { .. }
            | Body::CredentialVerified { .. }
            | Body::CredentialVerifiedV2 { .. }
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
            let (tenant, owner, old) = (c.tenant, c.owner, c.name.clone());
            c.name = name.clone();
            self.unindex_name(tenant, owner, &old, id);
            self.index_name(tenant, owner, name, id);
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

/// The parsed tenant template `name` recorded as `definition`, if it still passes this
/// build's checks and carries that name.
pub(super) fn parse_template(name: &str, definition: &str) -> Option<Arc<Template>> {
    Template::from_json(definition)
        .ok()
        .filter(|t| t.name == name)
        .map(Arc::new)
}
