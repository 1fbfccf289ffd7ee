//! Webhooks: who may configure them, what a valid one is, and which notifications the
//! log and the clock call for.
//!
//! A webhook belongs to the tenant of the admin who created it and hears about that
//! tenant's credentials. One created by a system admin also hears the ledger-wide
//! events (bursts of failed authentications, `auth_failures`). Only admins (tenant or
//! system) create, list and delete them; another tenant's webhook is "not found".
//!
//! Notifications triggered by an event (`verify_failed`, `destroyed`,
//! `access_denied_burst`) are found by scanning the log after the webhook's cursor (the
//! latest trigger it recorded a delivery for). Those of a state (`rotation_due`,
//! `rotation_overdue`, `expiring`) are sent once per credential, version and state: a
//! recorded delivery (or final failure) of that triple ends them; a rotation (a new
//! version) starts over.

use super::access::refused;
use super::{Decision, DomainError, Rejection};
use crate::domain::rotation::{self, RotationStatus};
use crate::domain::state::{State, Webhook};
use crate::domain::{Caller, CredStatus};
use crate::event::{Body, Event, RefusalReason, Role, Sealed, WebhookFormat};
use crate::id::Id;

/// The notification kinds a webhook may subscribe to.
pub const EVENTS: &[&str] = &[
    "verify_failed",
    "rotation_due",
    "rotation_overdue",
    "expiring",
    "destroyed",
    "access_denied_burst",
];

/// The most webhooks a tenant may have.
pub const MAX_PER_TENANT: usize = 20;
/// The longest URL accepted.
pub const MAX_URL: usize = 2048;
/// `expiring_within_days` when not given.
pub const DEFAULT_EXPIRING_DAYS: u32 = 7;

/// A webhook as the caller asked for it (the URL already parsed by the shell into its
/// scheme and origin; the sealed URL and secret made by the shell).
#[derive(Clone, Debug)]
pub struct WebhookInput {
    pub scheme: String,
    pub origin: String,
    /// The URL's host (a name, or an IP address without brackets).
    pub host: String,
    /// Whether hosts on loopback, private and link-local networks are allowed
    /// (`serve --webhook-allow-private`).
    pub allow_private: bool,
    pub url_len: usize,
    pub events: Vec<String>,
    pub format: WebhookFormat,
    pub expiring_within_days: Option<u32>,
}

fn require_admin(caller: &Caller, operation: &str) -> Result<(), Rejection> {
    if caller.role == Role::Admin {
        return Ok(());
    }
    Err(refused(
        caller,
        operation,
        None,
        RefusalReason::Role,
        DomainError::Forbidden("webhooks are configured by admins".into()),
    ))
}

/// May the caller configure webhooks? (checked before the input, so a caller without
/// rights is refused, and the refusal recorded, whatever it sends.)
pub fn check_webhook_admin(caller: &Caller) -> Decision<()> {
    require_admin(caller, "webhook_created")
}

/// Checks the input of a new webhook: nothing is written when it fails.
pub fn check_webhook_input(state: &State, caller: &Caller, input: &WebhookInput) -> Decision<()> {
    require_admin(caller, "webhook_created")?;
    let invalid =
        |field: &str, message: String| -> Rejection { DomainError::invalid(field, message).into() };
    if input.scheme != "http" && input.scheme != "https" {
        return Err(invalid("url", "the URL must be http:// or https://".into()));
    }
    if !input.allow_private && private_host(&input.host) {
        return Err(invalid(
            "url",
            "the URL points at a loopback, private or link-local address; the operator may allow that with serve --webhook-allow-private".into(),
        ));
    }
    if input.url_len > MAX_URL {
        return Err(invalid(
            "url",
            format!("the URL is longer than {MAX_URL} bytes"),
        ));
    }
    if input.events.is_empty() {
        return Err(invalid("events", "give at least one event".into()));
    }
    for (i, e) in input.events.iter().enumerate() {
        if !EVENTS.contains(&e.as_str()) {
            return Err(invalid(
                "events",
                format!("unknown event; expected one of {}", EVENTS.join(", ")),
            ));
        }
        if input.events[..i].contains(e) {
            return Err(invalid("events", "an event is listed twice".into()));
        }
    }
    if let Some(d) = input.expiring_within_days {
        if !(1..=365).contains(&d) {
            return Err(invalid(
                "expiring_within_days",
                "expiring_within_days must be 1 to 365".into(),
            ));
        }
    }
    let count = state
        .webhooks
        .values()
        .filter(|w| w.tenant == caller.tenant)
        .count();
    if count >= MAX_PER_TENANT {
        return Err(DomainError::Conflict(format!(
            "a tenant may have at most {MAX_PER_TENANT} webhooks; delete one first"
        ))
        .into());
    }
    Ok(())
}

/// Whether `host` names this machine or an address of a private, loopback, link-local
/// or unspecified network (by its literal form; a name other than `localhost` is not
/// resolved here).
pub fn private_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    if h.eq_ignore_ascii_case("localhost") || h.to_ascii_lowercase().ends_with(".localhost") {
        return true;
    }
    match h.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(a)) => {
            a.is_loopback() || a.is_private() || a.is_link_local() || a.is_unspecified()
        }
        Ok(std::net::IpAddr::V6(a)) => {
            let seg = a.segments()[0];
            a.is_loopback()
                || a.is_unspecified()
                || (seg & 0xfe00) == 0xfc00
                || (seg & 0xffc0) == 0xfe80
                || a.to_ipv4_mapped()
                    .is_some_and(|v4| private_host(&v4.to_string()))
        }
        Err(_) => false,
    }
}

/// Creates webhook `id` (its URL and secret sealed by the shell).
pub fn create_webhook(
    state: &State,
    caller: &Caller,
    id: Id,
    input: WebhookInput,
    sealed: Sealed,
) -> Decision {
    check_webhook_input(state, caller, &input)?;
    Ok(vec![Body::WebhookCreated {
        tenant: caller.tenant,
        webhook: id,
        origin: input.origin,
        events: input.events,
        format: input.format,
        expiring_within_days: input.expiring_within_days.unwrap_or(DEFAULT_EXPIRING_DAYS),
        ledger_wide: caller.is_system_admin(),
        sealed,
    }])
}

/// The caller's tenant's webhooks (admins only), by creation.
pub fn visible_webhooks<'s>(state: &'s State, caller: &Caller) -> Decision<Vec<(Id, &'s Webhook)>> {
    require_admin(caller, "webhooks_read")?;
    let mut out: Vec<(Id, &Webhook)> = state
        .webhooks
        .iter()
        .filter(|(_, w)| w.tenant == caller.tenant)
        .map(|(id, w)| (*id, w))
        .collect();
    out.sort_by_key(|(_, w)| w.created_seq);
    Ok(out)
}

/// Deletes webhook `id` of the caller's tenant; its data key goes with it.
pub fn delete_webhook(state: &State, caller: &Caller, id: Id) -> Decision {
    require_admin(caller, "webhook_deleted")?;
    match state.webhooks.get(&id) {
        Some(w) if w.tenant == caller.tenant => Ok(vec![Body::WebhookDeleted {
            tenant: w.tenant,
            webhook: id,
        }]),
        _ => Err(refused(
            caller,
            "webhook_deleted",
            None,
            RefusalReason::NotFound,
            DomainError::NotFound("webhook"),
        )),
    }
}

/// One notification to deliver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    pub webhook: Id,
    pub tenant: Id,
    /// One of [`EVENTS`].
    pub event: &'static str,
    pub credential: Option<Id>,
    pub version: Option<u32>,
    /// The log event that triggered it (`None` for a state the clock found).
    pub trigger_seq: Option<u64>,
    /// When the state falls due (rotation due/overdue, expiry), for the payload.
    pub due_at_ms: Option<i64>,
    /// A connection test's reason (status codes and fixed error kinds only).
    pub reason: Option<String>,
}

/// What an event may notify: (kind, tenant, credential, version, reason).
type Trigger = (
    &'static str,
    Option<Id>,
    Option<Id>,
    Option<u32>,
    Option<String>,
);

/// The notification kind a log event is, if any (every variant named, so a new one is
/// decided here).
fn trigger(body: &Body) -> Option<Trigger> {
    match body {
        Body::CredentialVerified {
            tenant,
            credential,
            version,
            ok,
            reason,
            ..
        } => (!ok).then(|| {
            (
                "verify_failed",
                Some(*tenant),
                Some(*credential),
                Some(*version),
                Some(reason.clone()),
            )
        }),
        Body::CredentialVerifiedV2 {
            tenant,
            credential,
            version,
            ok,
            reason,
            ..
        } => (!ok && credential.is_some()).then(|| {
            (
                "verify_failed",
                Some(*tenant),
                *credential,
                *version,
                Some(reason.clone()),
            )
        }),
        Body::CredentialDestroyed {
            tenant, credential, ..
        } => Some(("destroyed", Some(*tenant), Some(*credential), None, None)),
        Body::AuthFailures { .. } => Some(("access_denied_burst", None, None, None, None)),
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
        | Body::GrantAdded { .. }
        | Body::GrantRevoked { .. }
        | Body::CredentialDeleted { .. }
        | Body::CredentialRestored { .. }
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
        | Body::GroupCreated { .. }
        | Body::GroupMemberAdded { .. }
        | Body::GroupMemberRemoved { .. }
        | Body::GrantAddedV2 { .. }
        | Body::GrantRevokedV2 { .. }
        | Body::TemplateDefined { .. }
        | Body::TemplateDeleted { .. }
        | Body::ConsoleSignedIn { .. }
        | Body::ConsoleSignedOut { .. }
        | Body::ScheduledVerifySet { .. }
        | Body::WebhookCreated { .. }
        | Body::WebhookDeleted { .. }
        | Body::WebhookDelivered { .. } => None,
    }
}

/// The notification `event` calls for at webhook `id`, if it subscribes to it. A
/// ledger-wide event (no tenant) reaches only a `ledger_wide` webhook.
pub fn for_event(id: Id, hook: &Webhook, event: &Event) -> Option<Notification> {
    let (kind, tenant, credential, version, reason) = trigger(&event.body)?;
    let reaches = match tenant {
        Some(t) => t == hook.tenant,
        None => hook.ledger_wide,
    };
    if !reaches || !hook.events.iter().any(|e| e == kind) {
        return None;
    }
    Some(Notification {
        webhook: id,
        tenant: hook.tenant,
        event: kind,
        credential,
        version,
        trigger_seq: Some(event.seq),
        due_at_ms: None,
        reason,
    })
}

/// The state notifications due at `now_ms` for every webhook, not yet delivered.
pub fn due_notifications(state: &State, now_ms: i64) -> Vec<Notification> {
    let mut out = Vec::new();
    let mut hooks: Vec<(&Id, &Webhook)> = state.webhooks.iter().collect();
    hooks.sort_by_key(|(id, _)| **id);
    let timed = ["rotation_due", "rotation_overdue", "expiring"];
    for (id, hook) in hooks {
        if !hook.events.iter().any(|e| timed.contains(&e.as_str())) {
            continue;
        }
        let mut creds: Vec<(&Id, &crate::domain::state::Credential)> = state
            .credentials
            .iter()
            .filter(|(_, c)| c.tenant == hook.tenant && c.status == CredStatus::Active)
            .collect();
        creds.sort_by_key(|(cid, _)| **cid);
        for (cid, c) in creds {
            let rotated = c.versions.get(&c.current).map(|v| v.created_at_ms);
            let due = rotated.and_then(|r| rotation::due_at(r, c.rotate_every_days));
            let rotation_kind = match rotation::status(due, now_ms) {
                RotationStatus::Due => Some("rotation_due"),
                RotationStatus::Overdue => Some("rotation_overdue"),
                RotationStatus::Unscheduled | RotationStatus::Ok => None,
            };
            let window = i64::from(hook.expiring_within_days) * 86_400_000;
            let expiring = c
                .expires_at_ms
                .filter(|e| *e > now_ms && *e <= now_ms + window)
                .map(|e| ("expiring", Some(e)));
            for (kind, at) in rotation_kind.map(|k| (k, due)).into_iter().chain(expiring) {
                if !hook.events.iter().any(|e| e == kind)
                    || hook.notified.contains(&(kind.to_string(), *cid, c.current))
                {
                    continue;
                }
                out.push(Notification {
                    webhook: *id,
                    tenant: hook.tenant,
                    event: kind,
                    credential: Some(*cid),
                    version: Some(c.current),
                    trigger_seq: None,
                    due_at_ms: at,
                    reason: None,
                });
            }
        }
    }
    out
}

/// The record of one notification's delivery outcome (after every attempt).
pub fn delivered(
    n: &Notification,
    notification: Id,
    ok: bool,
    attempts: u32,
    status: Option<u16>,
    error: String,
) -> Body {
    Body::WebhookDelivered {
        tenant: n.tenant,
        webhook: n.webhook,
        notification,
        event: n.event.to_string(),
        credential: n.credential,
        version: n.version,
        trigger_seq: n.trigger_seq,
        ok,
        attempts,
        status,
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::private_host;

    #[test]
    fn private_hosts_by_their_literal_form() {
        for h in [
            "localhost",
            "api.localhost",
            "127.0.0.1",
            "10.0.0.8",
            "172.16.1.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "[::1]",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(private_host(h), "{h}");
        }
        for h in [
            "hooks.example.com",
            "93.184.215.14",
            "2001:db8::1",
            "172.32.0.1",
        ] {
            assert!(!private_host(h), "{h}");
        }
    }
}
