//! The audit view of one event: [`entry`] renders it as an [`AuditEntry`] for
//! reviewers.
//!
//! **Invariants:**
//! - An entry is derived from the event alone: this module does no I/O and reads no
//!   clock, so `replay` can render past events with it.
//! - An entry never contains a secret value or a ciphertext, and not even the public
//!   field values of a credential (only their names).

use crate::event::{Body, DenyReason, Event, Grantee, Owner, Purpose, Source};
use crate::id::Id;
use crate::time::rfc3339;
use serde::Serialize;
use serde_json::{json, Value};

/// One row of the audit log.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct AuditEntry {
    pub seq: u64,
    /// RFC 3339 time with milliseconds, UTC.
    pub at: String,
    pub action: &'static str,
    pub outcome: &'static str,
    pub actor: Option<String>,
    pub actor_token: Option<String>,
    pub actor_tenant: Option<String>,
    pub tenant: Option<String>,
    pub credential_id: Option<String>,
    pub request_id: Option<String>,
    pub remote_addr: Option<String>,
    pub details: Value,
}

fn source_name(s: Source) -> &'static str {
    match s {
        Source::Direct => "direct",
        Source::Own => "own",
        Source::Granted => "granted",
        Source::TenantDefault => "tenant_default",
        Source::Env => "env",
    }
}

/// The snake_case name of a resolve source, as in resolve answers.
pub fn source_str(s: Source) -> &'static str {
    source_name(s)
}

fn reason_name(r: DenyReason) -> &'static str {
    match r {
        DenyReason::Role => "role",
        DenyReason::NotGranted => "not_granted",
        DenyReason::OtherTenant => "other_tenant",
        DenyReason::Deleted => "deleted",
        DenyReason::Destroyed => "destroyed",
        DenyReason::Expired => "expired",
        DenyReason::NotConfigured => "not_configured",
        DenyReason::Unavailable => "unavailable",
    }
}

fn owner_str(o: &Owner) -> String {
    match o {
        Owner::Tenant => "tenant".into(),
        Owner::Principal(p) => p.to_string(),
    }
}

#[allow(
    clippy::too_many_lines,
    reason = "one arm per event kind, the exhaustive rendering of every body; splitting it would scatter the audit format"
)]
fn details(body: &Body) -> Value {
    match body {
        Body::LedgerInitialized {
            origin,
            signing_key,
        } => json!({"origin": origin, "signing_key": hex::encode(signing_key)}),
        Body::TenantCreated { name, .. } => json!({"name": name}),
        Body::PrincipalCreated {
            principal,
            name,
            kind,
            role,
            system_admin,
            ..
        } => json!({
            "principal": principal.to_string(), "name": name,
            "kind": kind.as_str(), "role": role.as_str(),
            "system_admin": system_admin,
        }),
        Body::PrincipalDisabled { principal, .. } => json!({"principal": principal.to_string()}),
        Body::TokenIssued {
            principal,
            token,
            expires_at_ms,
            ..
        } => json!({
            "principal": principal.to_string(), "token": token.to_string(), "expires_at": expires_at_ms.map(rfc3339),
        }),
        Body::TokenRevoked { token, .. } => json!({"token": token.to_string()}),
        Body::CredentialCreated {
            name,
            template,
            service,
            owner,
            public,
            rotate_every_days,
            expires_at_ms,
            is_default,
            ..
        } => json!({
            "name": name, "template": template, "service": service, "owner": owner_str(owner), "version": 1,
            "public_fields": public.keys().collect::<Vec<_>>(), "rotate_every_days": rotate_every_days,
            "expires_at": expires_at_ms.map(rfc3339), "default": is_default,
        }),
        Body::CredentialUpdated { change, .. } => {
            let mut changed = Vec::new();
            if change.name.is_some() {
                changed.push("name");
            }
            if change.rotate_every_days.is_some() {
                changed.push("rotate_every_days");
            }
            if change.expires_at_ms.is_some() {
                changed.push("expires_at");
            }
            if change.is_default.is_some() {
                changed.push("default");
            }
            if change.description.is_some() {
                changed.push("description");
            }
            json!({"changed": changed, "name": change.name})
        }
        Body::CredentialRotated {
            version,
            public,
            retired,
            ..
        } => json!({
            "version": version, "public_fields": public.keys().collect::<Vec<_>>(), "retired_versions": retired,
        }),
        Body::CredentialUsed {
            version,
            service,
            subject,
            source,
            purpose,
            ..
        } => json!({
            "version": version, "service": service, "for_user": subject.map(|s| s.to_string()),
            "source": source_name(*source),
            "purpose": match purpose { Purpose::Resolve => "resolve", Purpose::Verify => "verify", Purpose::VaultRead => "vault_read", Purpose::Console => "console" },
        }),
        Body::UseDenied {
            service,
            subject,
            reason,
            ..
        } => json!({
            "service": service, "for_user": subject.map(|s| s.to_string()), "reason": reason_name(*reason),
        }),
        Body::CredentialVerified {
            version,
            ok,
            reason,
            latency_ms,
            ..
        } => json!({
            "version": version, "ok": ok, "reason": reason, "latency_ms": latency_ms,
        }),
        Body::GrantAdded { principal, .. } | Body::GrantRevoked { principal, .. } => {
            json!({"principal": principal.to_string()})
        }
        Body::CredentialDeleted { .. } | Body::CredentialRestored { .. } => json!({}),
        Body::CredentialDestroyed { versions, .. } => json!({"versions": versions}),
        Body::AccessDenied {
            attempted, reason, ..
        } => json!({"attempted": attempted, "reason": reason_name(*reason)}),
        Body::VersionsDeleted { versions, .. }
        | Body::VersionsUndeleted { versions, .. }
        | Body::VersionsDestroyed { versions, .. } => json!({"versions": versions}),
        Body::KvMetadataSet {
            max_versions,
            cas_required,
            delete_version_after,
            custom_metadata,
            ..
        } => json!({
            "max_versions": max_versions, "cas_required": cas_required,
            "delete_version_after": delete_version_after,
            "custom_metadata_keys": custom_metadata.keys().collect::<Vec<_>>(),
        }),
        Body::KvConfigSet {
            mount,
            max_versions,
            cas_required,
            delete_version_after,
            ..
        } => json!({
            "mount": mount, "max_versions": max_versions, "cas_required": cas_required,
            "delete_version_after": delete_version_after,
        }),
        Body::MasterKeyRotated {
            old_key_id,
            new_key_id,
            rewrapped,
        } => json!({
            "old_key_id": old_key_id, "new_key_id": new_key_id, "rewrapped": rewrapped,
        }),
        Body::SigningKeyRotated {
            old_key, new_key, ..
        } => json!({"old_key": hex::encode(old_key), "new_key": hex::encode(new_key)}),
        Body::AccessDeniedV2 {
            operation,
            target,
            reason,
            ..
        } => {
            let (kind, id) = match target {
                Some(crate::event::Target::Credential(i)) => {
                    (Some("credential"), Some(i.to_string()))
                }
                Some(crate::event::Target::Principal(i)) => {
                    (Some("principal"), Some(i.to_string()))
                }
                Some(crate::event::Target::Token(i)) => (Some("token"), Some(i.to_string())),
                Some(crate::event::Target::Tenant(i)) => (Some("tenant"), Some(i.to_string())),
                Some(crate::event::Target::Event(seq)) => (Some("event"), Some(seq.to_string())),
                Some(crate::event::Target::Group(i)) => (Some("group"), Some(i.to_string())),
                None => (None, None),
            };
            json!({"attempted": operation, "target_kind": kind, "target": id, "reason": reason.as_str()})
        }
        Body::DelegationGranted {
            principal,
            all_users,
            users,
            ..
        } => json!({
            "principal": principal.to_string(), "all_users": all_users,
            "users": users.iter().map(Id::to_string).collect::<Vec<_>>(),
        }),
        Body::DelegationRevoked { principal, .. } => json!({"principal": principal.to_string()}),
        Body::AuthFailures {
            source,
            first_ms,
            last_ms,
            count,
            malformed,
            tokens,
        } => json!({
            "source": source, "first": rfc3339(*first_ms), "last": rfc3339(*last_ms),
            "count": count, "malformed": malformed,
            "tokens": tokens.iter().map(Id::to_string).collect::<Vec<_>>(),
        }),
        Body::GroupCreated { group, name, .. } => {
            json!({"group": group.to_string(), "name": name})
        }
        Body::GroupMemberAdded {
            group, principal, ..
        }
        | Body::GroupMemberRemoved {
            group, principal, ..
        } => json!({"group": group.to_string(), "principal": principal.to_string()}),
        Body::GrantAddedV2 { grantee, level, .. } => {
            let mut d = grantee_json(grantee);
            d["level"] = json!(level.as_str());
            d
        }
        Body::GrantRevokedV2 { grantee, .. } => grantee_json(grantee),
        Body::TemplateDefined {
            name, definition, ..
        } => json!({"name": name, "definition_bytes": definition.len()}),
        Body::TemplateDeleted { name, .. } => json!({"name": name}),
        Body::CredentialVerifiedV2 {
            credential,
            version,
            template,
            ok,
            reason,
            latency_ms,
            ..
        } => json!({
            "version": version, "template": template, "saved": credential.is_some(),
            "ok": ok, "reason": reason, "latency_ms": latency_ms,
        }),
        Body::ConsoleSignedIn {
            principal, session, ..
        } => json!({"principal": principal.to_string(), "session": session.to_string()}),
        Body::ConsoleSignedOut {
            principal,
            session,
            reason,
            ..
        } => json!({
            "principal": principal.to_string(), "session": session.to_string(), "reason": reason.as_str(),
        }),
        Body::ScheduledVerifySet { enabled, .. } => json!({"enabled": enabled}),
        Body::WebhookCreated {
            webhook,
            origin,
            events,
            format,
            expiring_within_days,
            ledger_wide,
            ..
        } => json!({
            "webhook": webhook.to_string(), "origin": origin, "events": events,
            "format": format.as_str(), "expiring_within_days": expiring_within_days,
            "ledger_wide": ledger_wide,
        }),
        Body::WebhookDeleted { webhook, .. } => json!({"webhook": webhook.to_string()}),
        Body::WebhookDelivered {
            webhook,
            notification,
            event,
            version,
            trigger_seq,
            ok,
            attempts,
            status,
            error,
            ..
        } => json!({
            "webhook": webhook.to_string(), "notification": notification.to_string(),
            "event": event, "version": version, "trigger_seq": trigger_seq, "ok": ok,
            "attempts": attempts, "status": status, "error": error,
        }),
    }
}

/// `{"principal": id}` or `{"group": id}`.
fn grantee_json(g: &Grantee) -> Value {
    match g {
        Grantee::Principal(p) => json!({"principal": p.to_string()}),
        Grantee::Group(g) => json!({"group": g.to_string()}),
    }
}

/// A CSV cell that a spreadsheet will not run as a formula: a value starting with `=`,
/// `+`, `-`, `@`, a tab or a carriage return gets a leading `'` (OWASP, CSV injection).
pub fn csv_cell(s: String) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s
    }
}

/// The audit row of one event.
pub fn entry(event: &Event) -> AuditEntry {
    AuditEntry {
        seq: event.seq,
        at: rfc3339(event.at_ms),
        action: event.body.action(),
        outcome: event.body.outcome().as_str(),
        actor: event.actor.principal.map(|p| p.to_string()),
        actor_token: event.actor.token.map(|t| t.to_string()),
        actor_tenant: event.actor.tenant.map(|t| t.to_string()),
        tenant: event.body.tenant().map(|t| t.to_string()),
        credential_id: event.body.credential().map(|c| c.to_string()),
        request_id: event.context.request_id.clone(),
        remote_addr: event.context.remote_addr.clone(),
        details: details(&event.body),
    }
}
