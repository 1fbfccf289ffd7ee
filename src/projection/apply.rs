//! Folding events into the projection tree: every audit index entry, the credential,
//! version, KV and usage views, and the event's leaf in the Merkle tiles.
//!
//! **Invariants:**
//! - [`apply_records`] hands the store one atomic change set holding every change of its
//!   events and the new watermark ([`ProjectionStore::apply`]), and accepts events only
//!   in sequence (a gap is an error).
//! - Each `apply_*` matches [`Body`] exhaustively, naming the events it ignores, so a new
//!   variant is a compile error here until its projection is decided.

use super::overlay::Overlay;
use super::read::watermark;
use super::{
    audit_index, audit_prefix, audit_tag, cred_key, index, kv_config_key, kv_key, tiles,
    usage_cred_key, usage_principal_key, version_key, CredentialView, GrantView, KvConfigView,
    KvView, UsageView, VerifyView, VersionView, GLOBAL_TREE, SCHEMA, SCHEMA_KEY,
};
use crate::event::{Body, Event};
use crate::event::{GrantLevel, Grantee};
use crate::id::Id;
use crate::merkle;
use crate::store::{ProjectionStore, StoreError};

/// Applies `(event, record)` pairs; events below the watermark are skipped, a gap is an
/// error.
pub fn apply_records<'e>(
    proj: &dyn ProjectionStore,
    items: impl Iterator<Item = (&'e Event, &'e [u8])>,
) -> Result<(), StoreError> {
    let mut ov = Overlay::new(proj);
    let mut next = watermark(proj)?;
    for (event, record) in items {
        if event.seq < next {
            continue;
        }
        if event.seq != next {
            return Err(StoreError::Corrupt {
                what: "proj",
                detail: format!("expected event {next}, got {}", event.seq),
            });
        }
        apply_one(&mut ov, event, record)?;
        next += 1;
    }
    ov.put(SCHEMA_KEY.to_vec(), SCHEMA.to_be_bytes().to_vec());
    proj.apply(&ov.into_changes(), next)
}

fn apply_one(ov: &mut Overlay<'_>, event: &Event, record: &[u8]) -> Result<(), StoreError> {
    let body = &event.body;
    let tenant = body.tenant().unwrap_or(Id::NIL);
    let tag = audit_tag(body);
    audit_index::add(ov, &audit_prefix(tenant, index::TIME, &[]), event.seq, tag)?;
    if let Some(p) = event.actor.principal {
        let prefix = audit_prefix(tenant, index::ACTOR, p.as_bytes());
        audit_index::add(ov, &prefix, event.seq, tag)?;
    }
    if let Some(c) = body.credential() {
        let prefix = audit_prefix(tenant, index::CREDENTIAL, c.as_bytes());
        audit_index::add(ov, &prefix, event.seq, tag)?;
    }
    apply_credential_view(ov, event)?;
    apply_kv(ov, event)?;
    apply_usage(ov, event)?;
    super::review::apply(ov, event)?;
    let leaf = merkle::leaf_hash(record);
    tiles::append(ov, GLOBAL_TREE, event.seq, leaf)?;
    super::tenant_tree::apply(ov, event, leaf)
}

#[allow(
    clippy::too_many_lines,
    reason = "one arm per event kind that changes a credential view, exhaustive over Body"
)]
fn apply_credential_view(ov: &mut Overlay<'_>, event: &Event) -> Result<(), StoreError> {
    let at = event.at_ms;
    let actor = event.actor.principal;
    if let Body::CredentialCreated {
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
    } = &event.body
    {
        let view = CredentialView {
            id: *credential,
            tenant: *tenant,
            name: name.clone(),
            template: template.clone(),
            service: service.clone(),
            owner: *owner,
            description: description.clone(),
            status: "active".into(),
            current_version: 1,
            public: public.clone(),
            sealed: Some(sealed.clone()),
            created_at_ms: at,
            created_by: actor,
            updated_at_ms: at,
            rotated_at_ms: at,
            rotate_every_days: *rotate_every_days,
            expires_at_ms: *expires_at_ms,
            is_default: *is_default,
            grants: vec![],
            last_verified: None,
            grantees: vec![],
        };
        ov.put_as(cred_key(*tenant, *credential), &view);
        let v1 = VersionView {
            version: 1,
            created_at_ms: at,
            created_by: actor,
            state: "live".into(),
        };
        ov.put_as(version_key(*tenant, *credential, 1), &v1);
        return Ok(());
    }
    // Uses and refusals change usage, not metadata: skip reading the view for them (they
    // are most of the log).
    if matches!(
        event.body,
        Body::CredentialUsed { .. }
            | Body::UseDenied { .. }
            | Body::AccessDenied { .. }
            | Body::AccessDeniedV2 { .. }
    ) {
        return Ok(());
    }
    let (Some(tenant), Some(cred)) = (event.body.tenant(), event.body.credential()) else {
        return Ok(());
    };
    let key = cred_key(tenant, cred);
    let Some(mut view) = ov.get_as::<CredentialView>(&key)? else {
        return Ok(());
    };
    match &event.body {
        Body::CredentialUpdated { change, .. } => {
            if let Some(n) = &change.name {
                view.name = n.clone();
            }
            if let Some(r) = change.rotate_every_days {
                view.rotate_every_days = r;
            }
            if let Some(e) = change.expires_at_ms {
                view.expires_at_ms = e;
            }
            if let Some(d) = change.is_default {
                view.is_default = d;
            }
            if let Some(d) = &change.description {
                view.description = d.clone();
            }
        }
        Body::CredentialRotated {
            version,
            public,
            sealed,
            retired,
            ..
        } => {
            view.current_version = *version;
            view.public = public.clone();
            view.sealed = Some(sealed.clone());
            view.rotated_at_ms = at;
            for r in retired {
                mark_version(ov, tenant, cred, *r, "retired")?;
            }
            let v = VersionView {
                version: *version,
                created_at_ms: at,
                created_by: actor,
                state: "live".into(),
            };
            ov.put_as(version_key(tenant, cred, *version), &v);
        }
        Body::GrantAdded { principal, .. } => {
            set_grant(
                &mut view,
                Grantee::Principal(*principal),
                Some(GrantLevel::Use),
            );
        }
        Body::GrantRevoked { principal, .. } => {
            set_grant(&mut view, Grantee::Principal(*principal), None);
        }
        Body::GrantAddedV2 { grantee, level, .. } => set_grant(&mut view, *grantee, Some(*level)),
        Body::GrantRevokedV2 { grantee, .. } => set_grant(&mut view, *grantee, None),
        Body::CredentialDeleted { .. } => view.status = "deleted".into(),
        Body::CredentialRestored { .. } => view.status = "active".into(),
        Body::CredentialDestroyed { versions, .. } => {
            view.status = "destroyed".into();
            view.sealed = None;
            view.is_default = false;
            for v in versions {
                mark_version(ov, tenant, cred, *v, "destroyed")?;
            }
        }
        Body::VersionsDeleted { versions, .. } => {
            for v in versions {
                mark_version(ov, tenant, cred, *v, "deleted")?;
            }
        }
        Body::VersionsUndeleted { versions, .. } => {
            for v in versions {
                mark_version(ov, tenant, cred, *v, "live")?;
            }
        }
        Body::VersionsDestroyed { versions, .. } => {
            for v in versions {
                mark_version(ov, tenant, cred, *v, "destroyed")?;
            }
            if versions.contains(&view.current_version) {
                view.sealed = None;
            }
        }
        Body::KvMetadataSet { .. } => {}
        Body::CredentialVerified {
            version,
            ok,
            reason,
            latency_ms,
            ..
        }
        | Body::CredentialVerifiedV2 {
            version: Some(version),
            ok,
            reason,
            latency_ms,
            ..
        } => {
            view.last_verified = Some(VerifyView {
                at_ms: at,
                version: *version,
                ok: *ok,
                reason: reason.clone(),
                latency_ms: *latency_ms,
            });
        }
        // Creation is handled above; uses and refusals change usage, not metadata
        // (skipped above); the rest concern no credential's metadata.
        Body::CredentialCreated { .. }
        | Body::CredentialUsed { .. }
        | Body::UseDenied { .. }
        | Body::AccessDenied { .. }
        | Body::AccessDeniedV2 { .. }
        | Body::DelegationGranted { .. }
        | Body::DelegationRevoked { .. }
        | Body::AuthFailures { .. }
        | Body::ConsoleSignedIn { .. }
        | Body::ConsoleSignedOut { .. }
        | Body::ScheduledVerifySet { .. }
        | Body::WebhookCreated { .. }
        | Body::WebhookDeleted { .. }
        | Body::WebhookDelivered { .. }
        | Body::LedgerInitialized { .. }
        | Body::TenantCreated { .. }
        | Body::PrincipalCreated { .. }
        | Body::PrincipalDisabled { .. }
        | Body::TokenIssued { .. }
        | Body::TokenRevoked { .. }
        | Body::MasterKeyRotated { .. }
        | Body::SigningKeyRotated { .. }
        | Body::KvConfigSet { .. }
        | Body::GroupCreated { .. }
        | Body::GroupMemberAdded { .. }
        | Body::GroupMemberRemoved { .. }
        | Body::TemplateDefined { .. }
        | Body::TemplateDeleted { .. }
        | Body::CredentialVerifiedV2 { .. } => return Ok(()),
    }
    view.updated_at_ms = at;
    ov.put_as(key, &view);
    Ok(())
}

/// Sets (or with `None` removes) the grant to `grantee` in a view: `grantees` holds every
/// grant with its level, `grants` the principals granted directly.
fn set_grant(view: &mut CredentialView, grantee: Grantee, level: Option<GrantLevel>) {
    view.grantees.retain(|g| g.grantee != grantee);
    if let Some(level) = level {
        view.grantees.push(GrantView { grantee, level });
        view.grantees.sort_by_key(|g| g.grantee);
    }
    view.grants = view
        .grantees
        .iter()
        .filter_map(|g| match g.grantee {
            Grantee::Principal(p) => Some(p),
            Grantee::Group(_) => None,
        })
        .collect();
    view.grants.sort();
}

fn mark_version(
    ov: &mut Overlay<'_>,
    tenant: Id,
    cred: Id,
    version: u32,
    state: &str,
) -> Result<(), StoreError> {
    let key = version_key(tenant, cred, version);
    if let Some(mut v) = ov.get_as::<VersionView>(&key)? {
        v.state = state.to_string();
        ov.put_as(key, &v);
    }
    Ok(())
}

fn apply_kv(ov: &mut Overlay<'_>, event: &Event) -> Result<(), StoreError> {
    match &event.body {
        Body::KvConfigSet {
            tenant,
            max_versions,
            cas_required,
            delete_version_after,
            ..
        } => {
            let view = KvConfigView {
                max_versions: *max_versions,
                cas_required: *cas_required,
                delete_version_after: delete_version_after.clone(),
            };
            ov.put_as(kv_config_key(*tenant), &view);
            Ok(())
        }
        Body::VersionsDeleted {
            tenant,
            credential,
            versions,
        } => update_kv(ov, *tenant, *credential, |view| {
            for v in versions {
                view.deleted.insert(*v, event.at_ms);
            }
        }),
        Body::VersionsUndeleted {
            tenant,
            credential,
            versions,
        }
        | Body::VersionsDestroyed {
            tenant,
            credential,
            versions,
        } => update_kv(ov, *tenant, *credential, |view| {
            for v in versions {
                view.deleted.remove(v);
            }
        }),
        Body::KvMetadataSet {
            tenant,
            credential,
            max_versions,
            cas_required,
            delete_version_after,
            custom_metadata,
        } => update_kv(ov, *tenant, *credential, |view| {
            view.max_versions = *max_versions;
            view.cas_required = *cas_required;
            view.delete_version_after = delete_version_after.clone();
            view.custom_metadata = custom_metadata.clone();
        }),
        Body::LedgerInitialized { .. }
        | Body::TenantCreated { .. }
        | Body::PrincipalCreated { .. }
        | Body::PrincipalDisabled { .. }
        | Body::TokenIssued { .. }
        | Body::TokenRevoked { .. }
        | Body::CredentialCreated { .. }
        | Body::CredentialUpdated { .. }
        | Body::CredentialRotated { .. }
        | Body::CredentialUsed { .. }
        | Body::UseDenied { .. }
        | Body::CredentialVerified { .. }
        | Body::GrantAdded { .. }
        | Body::GrantRevoked { .. }
        | Body::CredentialDeleted { .. }
        | Body::CredentialRestored { .. }
        | Body::CredentialDestroyed { .. }
        | Body::AccessDenied { .. }
        | Body::AccessDeniedV2 { .. }
        | Body::DelegationGranted { .. }
        | Body::DelegationRevoked { .. }
        | Body::AuthFailures { .. }
        | Body::ConsoleSignedIn { .. }
        | Body::ConsoleSignedOut { .. }
        | Body::ScheduledVerifySet { .. }
        | Body::WebhookCreated { .. }
        | Body::WebhookDeleted { .. }
        | Body::WebhookDelivered { .. }
        | Body::MasterKeyRotated { .. }
        | Body::SigningKeyRotated { .. }
        | Body::GroupCreated { .. }
        | Body::GroupMemberAdded { .. }
        | Body::GroupMemberRemoved { .. }
        | Body::GrantAddedV2 { .. }
        | Body::GrantRevokedV2 { .. }
        | Body::TemplateDefined { .. }
        | Body::TemplateDeleted { .. }
        | Body::CredentialVerifiedV2 { .. } => Ok(()),
    }
}

/// Reads a credential's KV view (the default when absent), changes it and writes it back.
fn update_kv(
    ov: &mut Overlay<'_>,
    tenant: Id,
    cred: Id,
    change: impl FnOnce(&mut KvView),
) -> Result<(), StoreError> {
    let key = kv_key(tenant, cred);
    let mut view: KvView = ov.get_as(&key)?.unwrap_or_default();
    change(&mut view);
    ov.put_as(key, &view);
    Ok(())
}

fn apply_usage(ov: &mut Overlay<'_>, event: &Event) -> Result<(), StoreError> {
    let (tenant, credential, source, denied, verify) = match &event.body {
        Body::CredentialUsed {
            tenant,
            credential,
            source,
            purpose,
            ..
        } => (
            *tenant,
            *credential,
            Some(*source),
            false,
            *purpose == crate::event::Purpose::Verify,
        ),
        Body::UseDenied {
            tenant, credential, ..
        } => (*tenant, *credential, None, true, false),
        Body::LedgerInitialized { .. }
        | Body::TenantCreated { .. }
        | Body::PrincipalCreated { .. }
        | Body::PrincipalDisabled { .. }
        | Body::TokenIssued { .. }
        | Body::TokenRevoked { .. }
        | Body::CredentialCreated { .. }
        | Body::CredentialUpdated { .. }
        | Body::CredentialRotated { .. }
        | Body::CredentialVerified { .. }
        | Body::GrantAdded { .. }
        | Body::GrantRevoked { .. }
        | Body::CredentialDeleted { .. }
        | Body::CredentialRestored { .. }
        | Body::CredentialDestroyed { .. }
        | Body::AccessDenied { .. }
        | Body::AccessDeniedV2 { .. }
        | Body::DelegationGranted { .. }
        | Body::DelegationRevoked { .. }
        | Body::AuthFailures { .. }
        | Body::ConsoleSignedIn { .. }
        | Body::ConsoleSignedOut { .. }
        | Body::ScheduledVerifySet { .. }
        | Body::WebhookCreated { .. }
        | Body::WebhookDeleted { .. }
        | Body::WebhookDelivered { .. }
        | Body::MasterKeyRotated { .. }
        | Body::SigningKeyRotated { .. }
        | Body::VersionsDeleted { .. }
        | Body::VersionsUndeleted { .. }
        | Body::VersionsDestroyed { .. }
        | Body::KvMetadataSet { .. }
        | Body::KvConfigSet { .. }
        | Body::GroupCreated { .. }
        | Body::GroupMemberAdded { .. }
        | Body::GroupMemberRemoved { .. }
        | Body::GrantAddedV2 { .. }
        | Body::GrantRevokedV2 { .. }
        | Body::TemplateDefined { .. }
        | Body::TemplateDeleted { .. }
        | Body::CredentialVerifiedV2 { .. } => return Ok(()),
    };
    let actor = event.actor.principal;
    let bump = |ov: &mut Overlay<'_>, key: Vec<u8>, other: Option<Id>| -> Result<(), StoreError> {
        let mut u: UsageView = ov.get_as(&key)?.unwrap_or_default();
        if denied {
            u.denied += 1;
        } else if verify {
            u.verifies += 1;
        } else {
            u.uses += 1;
            u.last_used_at_ms = Some(event.at_ms);
            u.last_other = other;
            u.last_remote_addr = event.context.remote_addr.clone();
            u.last_source = source;
        }
        ov.put_as(key, &u);
        Ok(())
    };
    if let Some(c) = credential {
        bump(ov, usage_cred_key(tenant, c), actor)?;
    }
    if let Some(p) = actor {
        bump(ov, usage_principal_key(tenant, p), credential)?;
    }
    Ok(())
}
