//! Read models for reviewers: each principal's uses of each credential (the access
//! review's "last use"), and each credential's connection-test counts (the usage
//! summary's "failed verifies").
//!
//! * `rp ‖ tenant ‖ credential ‖ principal` → [`PrincipalUse`].
//! * `rv ‖ tenant ‖ credential` → [`VerifyCounts`].
//!
//! **Invariant:** like every projection, a pure function of the log; [`apply`] matches
//! [`Body`] exhaustively.

use super::overlay::Overlay;
use crate::codec;
use crate::event::{Body, Event, Purpose};
use crate::id::Id;
use crate::store::{scan_all, ProjectionStore, StoreError};
use serde::{Deserialize, Serialize};

/// One principal's releases of one credential (connection tests excluded).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct PrincipalUse {
    pub uses: u64,
    pub last_used_at_ms: Option<i64>,
}

/// A credential's connection tests by outcome.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct VerifyCounts {
    pub ok: u64,
    pub failed: u64,
}

fn use_key(tenant: Id, cred: Id, principal: Id) -> Vec<u8> {
    [
        &b"rp"[..],
        tenant.as_bytes(),
        cred.as_bytes(),
        principal.as_bytes(),
    ]
    .concat()
}

fn verify_key(tenant: Id, cred: Id) -> Vec<u8> {
    [&b"rv"[..], tenant.as_bytes(), cred.as_bytes()].concat()
}

/// Folds one event into the review views.
pub(super) fn apply(ov: &mut Overlay<'_>, event: &Event) -> Result<(), StoreError> {
    match &event.body {
        Body::CredentialUsed {
            tenant,
            credential: Some(cred),
            purpose: Purpose::Resolve | Purpose::VaultRead | Purpose::Console,
            ..
        } => {
            let Some(p) = event.actor.principal else {
                return Ok(());
            };
            let key = use_key(*tenant, *cred, p);
            let mut u: PrincipalUse = ov.get_as(&key)?.unwrap_or_default();
            u.uses += 1;
            u.last_used_at_ms = Some(event.at_ms);
            ov.put_as(key, &u);
        }
        Body::CredentialVerified {
            tenant,
            credential,
            ok,
            ..
        }
        | Body::CredentialVerifiedV2 {
            tenant,
            credential: Some(credential),
            ok,
            ..
        } => {
            let key = verify_key(*tenant, *credential);
            let mut c: VerifyCounts = ov.get_as(&key)?.unwrap_or_default();
            if *ok {
                c.ok += 1;
            } else {
                c.failed += 1;
            }
            ov.put_as(key, &c);
        }
        Body::CredentialUsed { .. }
        | Body::LedgerInitialized { .. }
        | Body::TenantCreated { .. }
        | Body::PrincipalCreated { .. }
        | Body::PrincipalDisabled { .. }
        | Body::TokenIssued { .. }
        | Body::TokenRevoked { .. }
        | Body::CredentialCreated { .. }
        | Body::CredentialUpdated { .. }
        | Body::CredentialRotated { .. }
        | Body::UseDenied { .. }
        | Body::GrantAdded { .. }
        | Body::GrantRevoked { .. }
        | Body::CredentialDeleted { .. }
        | Body::CredentialRestored { .. }
        | Body::CredentialDestroyed { .. }
        | Body::AccessDenied { .. }
        | Body::MasterKeyRotated { .. }
        | Body::SigningKeyRotated { .. }
        | Body::VersionsDeleted { .. }
        | Body::VersionsUndeleted { .. }
        | Body::VersionsDestroyed { .. }
        | Body::KvMetadataSet { .. }
        | Body::KvConfigSet { .. }
        | Body::AccessDeniedV2 { .. }
        | Body::DelegationGranted { .. }
        | Body::DelegationRevoked { .. }
        | Body::AuthFailures { .. }
        | Body::GroupCreated { .. }
        | Body::GroupMemberAdded { .. }
        | Body::GroupMemberRemoved { .. }
        | Body::GrantAddedV2 { .. }
        | Body::GrantRevokedV2 { .. }
        | Body::TemplateDefined { .. }
        | Body::TemplateDeleted { .. }
        | Body::CredentialVerifiedV2 { .. }
        | Body::ConsoleSignedIn { .. }
        | Body::ConsoleSignedOut { .. }
        | Body::ScheduledVerifySet { .. }
        | Body::WebhookCreated { .. }
        | Body::WebhookDeleted { .. }
        | Body::WebhookDelivered { .. } => {}
    }
    Ok(())
}

fn decode<T: for<'de> Deserialize<'de>>(v: &[u8]) -> Result<T, StoreError> {
    codec::decode(v).map_err(|e| StoreError::Corrupt {
        what: "proj",
        detail: e.to_string(),
    })
}

/// Every principal's uses of a credential, by principal id.
pub fn principal_uses(
    proj: &dyn ProjectionStore,
    tenant: Id,
    cred: Id,
) -> Result<Vec<(Id, PrincipalUse)>, StoreError> {
    let prefix = [&b"rp"[..], tenant.as_bytes(), cred.as_bytes()].concat();
    let n = prefix.len();
    scan_all(proj, &prefix, 256)
        .map(|r| {
            let (k, v) = r?;
            let id: [u8; 16] = k[n..].try_into().map_err(|_| StoreError::Corrupt {
                what: "proj",
                detail: "bad principal-use key".into(),
            })?;
            Ok((Id(id), decode(&v)?))
        })
        .collect()
}

/// A credential's connection-test counts.
pub fn verify_counts(
    proj: &dyn ProjectionStore,
    tenant: Id,
    cred: Id,
) -> Result<VerifyCounts, StoreError> {
    Ok(proj
        .get(&verify_key(tenant, cred))?
        .map(|v| decode(&v))
        .transpose()?
        .unwrap_or_default())
}
