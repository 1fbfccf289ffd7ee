//! What the audit view and the indexes read off a [`Body`]: its action name, its
//! tenant and credential, its outcome. Every match lists every variant.

use super::{Body, Outcome, Target};
use crate::id::Id;

impl Body {
    /// The snake_case action name shown in the audit view.
    pub fn action(&self) -> &'static str {
        match self {
            Body::LedgerInitialized { .. } => "ledger_initialized",
            Body::TenantCreated { .. } => "tenant_created",
            Body::PrincipalCreated { .. } => "principal_created",
            Body::PrincipalDisabled { .. } => "principal_disabled",
            Body::TokenIssued { .. } => "token_issued",
            Body::TokenRevoked { .. } => "token_revoked",
            Body::CredentialCreated { .. } => "created",
            Body::CredentialUpdated { .. } => "updated",
            Body::CredentialRotated { .. } => "rotated",
            Body::CredentialUsed { .. } => "used",
            Body::UseDenied { .. } => "use_denied",
            Body::CredentialVerified { .. } => "verified",
            Body::GrantAdded { .. } => "granted",
            Body::GrantRevoked { .. } => "grant_revoked",
            Body::CredentialDeleted { .. } => "deleted",
            Body::CredentialRestored { .. } => "restored",
            Body::CredentialDestroyed { .. } => "destroyed",
            Body::AccessDenied { .. } => "access_denied",
            Body::MasterKeyRotated { .. } => "master_key_rotated",
            Body::SigningKeyRotated { .. } => "signing_key_rotated",
            Body::VersionsDeleted { .. } => "versions_deleted",
            Body::VersionsUndeleted { .. } => "versions_undeleted",
            Body::VersionsDestroyed { .. } => "versions_destroyed",
            Body::KvMetadataSet { .. } => "kv_metadata_set",
            Body::KvConfigSet { .. } => "kv_config_set",
            Body::AccessDeniedV2 { .. } => "access_denied",
            Body::DelegationGranted { .. } => "delegation_granted",
            Body::DelegationRevoked { .. } => "delegation_revoked",
            Body::AuthFailures { .. } => "auth_failures",
            Body::GroupCreated { .. } => "group_created",
            Body::GroupMemberAdded { .. } => "group_member_added",
            Body::GroupMemberRemoved { .. } => "group_member_removed",
            Body::GrantAddedV2 { .. } => "granted",
            Body::GrantRevokedV2 { .. } => "grant_revoked",
            Body::TemplateDefined { .. } => "template_defined",
            Body::TemplateDeleted { .. } => "template_deleted",
            Body::CredentialVerifiedV2 { .. } => "verified",
            Body::ConsoleSignedIn { .. } => "console_signed_in",
            Body::ConsoleSignedOut { .. } => "console_signed_out",
            Body::ScheduledVerifySet { .. } => "scheduled_verify_set",
            Body::WebhookCreated { .. } => "webhook_created",
            Body::WebhookDeleted { .. } => "webhook_deleted",
            Body::WebhookDelivered { .. } => "webhook_delivered",
        }
    }

    /// The action name of every variant, in variant order (`ACTIONS[i]` is variant `i`'s).
    /// A `V2` variant repeats its predecessor's name, so filters and audit tags treat both
    /// as one action.
    pub const ACTIONS: &'static [&'static str] = &[
        "ledger_initialized",
        "tenant_created",
        "principal_created",
        "principal_disabled",
        "token_issued",
        "token_revoked",
        "created",
        "updated",
        "rotated",
        "used",
        "use_denied",
        "verified",
        "granted",
        "grant_revoked",
        "deleted",
        "restored",
        "destroyed",
        "access_denied",
        "master_key_rotated",
        "signing_key_rotated",
        "versions_deleted",
        "versions_undeleted",
        "versions_destroyed",
        "kv_metadata_set",
        "kv_config_set",
        "access_denied",
        "delegation_granted",
        "delegation_revoked",
        "auth_failures",
        "group_created",
        "group_member_added",
        "group_member_removed",
        "granted",
        "grant_revoked",
        "template_defined",
        "template_deleted",
        "verified",
        "console_signed_in",
        "console_signed_out",
        "scheduled_verify_set",
        "webhook_created",
        "webhook_deleted",
        "webhook_delivered",
    ];

    /// The audit outcome: `ok`, `denied` or `failed`.
    pub fn outcome(&self) -> Outcome {
        match self {
            Body::UseDenied { .. }
            | Body::AccessDenied { .. }
            | Body::AccessDeniedV2 { .. }
            | Body::AuthFailures { .. } => Outcome::Denied,
            Body::CredentialVerified { ok: false, .. }
            | Body::CredentialVerifiedV2 { ok: false, .. }
            | Body::WebhookDelivered { ok: false, .. } => Outcome::Failed,
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
            | Body::CredentialVerified { ok: true, .. }
            | Body::GrantAdded { .. }
            | Body::GrantRevoked { .. }
            | Body::CredentialDeleted { .. }
            | Body::CredentialRestored { .. }
            | Body::CredentialDestroyed { .. }
            | Body::MasterKeyRotated { .. }
            | Body::SigningKeyRotated { .. }
            | Body::VersionsDeleted { .. }
            | Body::VersionsUndeleted { .. }
            | Body::VersionsDestroyed { .. }
            | Body::KvMetadataSet { .. }
            | Body::KvConfigSet { .. }
            | Body::DelegationGranted { .. }
            | Body::DelegationRevoked { .. }
            | Body::GroupCreated { .. }
            | Body::GroupMemberAdded { .. }
            | Body::GroupMemberRemoved { .. }
            | Body::GrantAddedV2 { .. }
            | Body::GrantRevokedV2 { .. }
            | Body::TemplateDefined { .. }
            | Body::TemplateDeleted { .. }
            | Body::CredentialVerifiedV2 { ok: true, .. }
            | Body::ConsoleSignedIn { .. }
            | Body::ConsoleSignedOut { .. }
            | Body::ScheduledVerifySet { .. }
            | Body::WebhookCreated { .. }
            | Body::WebhookDeleted { .. }
            | Body::WebhookDelivered { ok: true, .. } => Outcome::Ok,
        }
    }

    /// The tenant whose audit log shows this event (`None` for ledger-wide events).
    pub fn tenant(&self) -> Option<Id> {
        match self {
            Body::LedgerInitialized { .. }
            | Body::MasterKeyRotated { .. }
            | Body::SigningKeyRotated { .. }
            | Body::AuthFailures { .. } => None,
            Body::TenantCreated { tenant, .. }
            | Body::PrincipalCreated { tenant, .. }
            | Body::PrincipalDisabled { tenant, .. }
            | Body::TokenIssued { tenant, .. }
            | Body::TokenRevoked { tenant, .. }
            | Body::CredentialCreated { tenant, .. }
            | Body::CredentialUpdated { tenant, .. }
            | Body::CredentialRotated { tenant, .. }
            | Body::CredentialUsed { tenant, .. }
            | Body::UseDenied { tenant, .. }
            | Body::CredentialVerified { tenant, .. }
            | Body::GrantAdded { tenant, .. }
            | Body::GrantRevoked { tenant, .. }
            | Body::CredentialDeleted { tenant, .. }
            | Body::CredentialRestored { tenant, .. }
            | Body::CredentialDestroyed { tenant, .. }
            | Body::AccessDenied { tenant, .. }
            | Body::VersionsDeleted { tenant, .. }
            | Body::VersionsUndeleted { tenant, .. }
            | Body::VersionsDestroyed { tenant, .. }
            | Body::KvMetadataSet { tenant, .. }
            | Body::KvConfigSet { tenant, .. }
            | Body::AccessDeniedV2 { tenant, .. }
            | Body::DelegationGranted { tenant, .. }
            | Body::DelegationRevoked { tenant, .. }
            | Body::GroupCreated { tenant, .. }
            | Body::GroupMemberAdded { tenant, .. }
            | Body::GroupMemberRemoved { tenant, .. }
            | Body::GrantAddedV2 { tenant, .. }
            | Body::GrantRevokedV2 { tenant, .. }
            | Body::TemplateDefined { tenant, .. }
            | Body::TemplateDeleted { tenant, .. }
            | Body::CredentialVerifiedV2 { tenant, .. }
            | Body::ConsoleSignedIn { tenant, .. }
            | Body::ConsoleSignedOut { tenant, .. }
            | Body::ScheduledVerifySet { tenant, .. }
            | Body::WebhookCreated { tenant, .. }
            | Body::WebhookDeleted { tenant, .. }
            | Body::WebhookDelivered { tenant, .. } => Some(*tenant),
        }
    }

    /// The credential this event is about, if any.
    pub fn credential(&self) -> Option<Id> {
        match self {
            Body::CredentialCreated { credential, .. }
            | Body::CredentialUpdated { credential, .. }
            | Body::CredentialRotated { credential, .. }
            | Body::CredentialVerified { credential, .. }
            | Body::GrantAdded { credential, .. }
            | Body::GrantRevoked { credential, .. }
            | Body::CredentialDeleted { credential, .. }
            | Body::CredentialRestored { credential, .. }
            | Body::CredentialDestroyed { credential, .. }
            | Body::AccessDenied { credential, .. }
            | Body::VersionsDeleted { credential, .. }
            | Body::VersionsUndeleted { credential, .. }
            | Body::VersionsDestroyed { credential, .. }
            | Body::KvMetadataSet { credential, .. }
            | Body::GrantAddedV2 { credential, .. }
            | Body::GrantRevokedV2 { credential, .. }
            | Body::ScheduledVerifySet { credential, .. } => Some(*credential),
            Body::CredentialUsed { credential, .. }
            | Body::UseDenied { credential, .. }
            | Body::CredentialVerifiedV2 { credential, .. }
            | Body::WebhookDelivered { credential, .. } => *credential,
            Body::AccessDeniedV2 {
                target: Some(Target::Credential(c)),
                ..
            } => Some(*c),
            Body::LedgerInitialized { .. }
            | Body::TenantCreated { .. }
            | Body::PrincipalCreated { .. }
            | Body::PrincipalDisabled { .. }
            | Body::TokenIssued { .. }
            | Body::TokenRevoked { .. }
            | Body::MasterKeyRotated { .. }
            | Body::SigningKeyRotated { .. }
            | Body::KvConfigSet { .. }
            | Body::AccessDeniedV2 { .. }
            | Body::DelegationGranted { .. }
            | Body::DelegationRevoked { .. }
            | Body::AuthFailures { .. }
            | Body::GroupCreated { .. }
            | Body::GroupMemberAdded { .. }
            | Body::GroupMemberRemoved { .. }
            | Body::TemplateDefined { .. }
            | Body::TemplateDeleted { .. }
            | Body::ConsoleSignedIn { .. }
            | Body::ConsoleSignedOut { .. }
            | Body::WebhookCreated { .. }
            | Body::WebhookDeleted { .. } => None,
        }
    }
}
