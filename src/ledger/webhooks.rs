//! Webhooks: their configuration (create, list, delete) and the notifier, which finds
//! what to notify in the log and the clock, delivers it in the background and records
//! each outcome as a `webhook_delivered` event.
//!
//! **Invariant:** only a writer notifies (a follower's committer refuses writes, and
//! `serve` starts the notifier on the writer only). Delivery is at least once: a
//! notification is recorded after its last attempt, and the webhook's cursor (the
//! latest trigger recorded) is where a restarted notifier scans from; receivers
//! de-duplicate on `X-Credledger-Event-Id`, which is derived from the webhook, the
//! trigger and the credential version, so a retry or a repeat has the same id.

use super::pipeline::KeyOp;
use super::{wait, Ledger, LedgerError, RequestCtx, Staged};
use crate::domain::decide::webhooks::{self as rules, Notification, WebhookInput};
use crate::domain::state::WEBHOOK_KEY_VERSION;
use crate::domain::{Caller, DomainError};
use crate::event::{Actor, SignedEvent, WebhookFormat};
use crate::id::Id;
use crate::secret::{self, Binding, SecretFields, SecretString};
use crate::webhook::{Message, Target};
use rand::RngCore;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// The request id of the events the notifier records.
pub const NOTIFIER_REQUEST_ID: &str = "credledger-webhooks";

/// A new webhook as the API takes it.
pub struct NewWebhook {
    pub url: SecretString,
    pub events: Vec<String>,
    pub secret: Option<SecretString>,
    pub format: WebhookFormat,
    pub expiring_within_days: Option<u32>,
}

/// A webhook as an admin sees it (never its URL's path or its secret).
#[derive(Clone, Debug)]
pub struct WebhookInfo {
    pub id: Id,
    pub origin: String,
    pub events: Vec<String>,
    pub format: WebhookFormat,
    pub expiring_within_days: u32,
    pub ledger_wide: bool,
    pub created_at_ms: i64,
}

impl Ledger {
    /// Creates a webhook; returns its id and, when none was given, the generated
    /// secret (shown this once).
    pub async fn create_webhook(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        new: NewWebhook,
    ) -> Result<(Id, Option<SecretString>), LedgerError> {
        self.check(ctx, caller, |_| rules::check_webhook_admin(caller))
            .await?;
        let url = reqwest::Url::parse(new.url.expose()).map_err(|_| {
            DomainError::invalid(
                "url",
                "the URL does not parse (expected http:// or https://)",
            )
        })?;
        let input = WebhookInput {
            scheme: url.scheme().to_string(),
            origin: url.origin().ascii_serialization(),
            host: url.host_str().unwrap_or_default().to_string(),
            allow_private: self.config.webhook_allow_private,
            url_len: new.url.expose().len(),
            events: new.events,
            format: new.format,
            expiring_within_days: new.expiring_within_days,
        };
        let generated = new.secret.is_none();
        let secret = match new.secret {
            Some(s) if s.expose().len() < 16 || s.expose().len() > 256 => {
                return Err(
                    DomainError::invalid("secret", "the secret must be 16 to 256 bytes").into(),
                );
            }
            Some(s) => s,
            None => {
                let mut b = zeroize::Zeroizing::new([0u8; 32]);
                rand::rngs::OsRng.fill_bytes(&mut *b);
                SecretString::new(format!("whsec_{}", hex::encode(*b)))
            }
        };
        let mut fields = SecretFields::default();
        fields.0.insert("url".into(), new.url);
        fields.0.insert(
            "secret".into(),
            SecretString::new(secret.expose().to_string()),
        );
        let id = Id::random();
        self.execute(ctx, caller, |w, _| {
            rules::check_webhook_input(&w.state, caller, &input)?;
            let binding = Binding {
                tenant: caller.tenant,
                credential: id,
                version: WEBHOOK_KEY_VERSION,
            };
            let (sealed, key) = Self::seal(w, &fields, binding)?;
            let bodies = rules::create_webhook(&w.state, caller, id, input, sealed)?;
            let keyring = vec![KeyOp::Put {
                credential: id,
                version: WEBHOOK_KEY_VERSION,
                key,
            }];
            Ok((Staged { bodies, keyring }, ()))
        })
        .await?;
        Ok((id, generated.then_some(secret)))
    }

    /// The caller's tenant's webhooks (admins only; a refusal is recorded).
    pub async fn webhooks(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
    ) -> Result<Vec<WebhookInfo>, LedgerError> {
        self.check(ctx, caller, |state| {
            rules::visible_webhooks(state, caller).map(|v| {
                v.into_iter()
                    .map(|(id, w)| WebhookInfo {
                        id,
                        origin: w.origin.clone(),
                        events: w.events.clone(),
                        format: w.format,
                        expiring_within_days: w.expiring_within_days,
                        ledger_wide: w.ledger_wide,
                        created_at_ms: w.created_at_ms,
                    })
                    .collect()
            })
        })
        .await
    }

    /// Deletes a webhook of the caller's tenant and shreds its URL and secret.
    pub async fn delete_webhook(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        id: Id,
    ) -> Result<(), LedgerError> {
        self.execute(ctx, caller, |w, _| {
            let bodies = rules::delete_webhook(&w.state, caller, id)?;
            let keyring = vec![KeyOp::Delete {
                credential: id,
                version: WEBHOOK_KEY_VERSION,
            }];
            Ok((Staged { bodies, keyring }, ()))
        })
        .await
    }

    /// The URL and secret of webhook `id` (under the lock), if it still exists.
    fn webhook_target(&self, id: Id) -> Option<Target> {
        let w = self.lock();
        let hook = w.state.webhooks.get(&id)?;
        let wrapped = w.keyring.get(&(id, WEBHOOK_KEY_VERSION))?;
        let binding = Binding {
            tenant: hook.tenant,
            credential: id,
            version: WEBHOOK_KEY_VERSION,
        };
        let mut opened = secret::open(&hook.sealed, wrapped, binding, &w.masters).ok()?;
        Some(Target {
            url: opened.0.remove("url")?,
            secret: opened.0.remove("secret")?,
            format: hook.format,
        })
    }

    /// The message of notification `n` (names read under the lock).
    fn message(&self, n: &Notification, id: Id) -> Message {
        let w = self.lock();
        let credential = n
            .credential
            .and_then(|c| w.state.credentials.get(&c).map(|cred| (c, cred)))
            .map_or(Value::Null, |(c, cred)| {
                json!({"id": c.to_string(), "name": cred.name, "service": cred.service,
                       "template": cred.template, "version": n.version})
            });
        Message {
            id: id.to_string(),
            event: n.event,
            at_ms: self.now().max(w.last_at),
            tenant: n.tenant.to_string(),
            webhook: n.webhook.to_string(),
            credential,
            trigger_seq: n.trigger_seq,
            due_at_ms: n.due_at_ms,
            reason: n.reason.clone(),
        }
    }

    /// Records the outcome of a notification (system actor of its tenant).
    async fn record_delivery(&self, body: crate::event::Body) -> Result<(), LedgerError> {
        let ctx = RequestCtx {
            request_id: Some(NOTIFIER_REQUEST_ID.into()),
            remote_addr: None,
        };
        let tenant = body.tenant();
        let rx = {
            let mut w = self.lock();
            let actor = Actor {
                tenant,
                principal: None,
                token: None,
            };
            self.stage(&mut w, &ctx, actor, Staged::events(vec![body]))?
        };
        wait(rx).await
    }
}

/// The stable id of a notification: the same for every attempt and every repeat.
fn notification_id(n: &Notification) -> Id {
    let mut h = blake3::Hasher::new();
    h.update(b"credledger/webhook-notification/v1\n");
    h.update(&n.webhook.0);
    h.update(n.event.as_bytes());
    h.update(&n.trigger_seq.unwrap_or(u64::MAX).to_le_bytes());
    h.update(&n.credential.map_or([0; 16], |c| c.0));
    h.update(&n.version.unwrap_or(0).to_le_bytes());
    let mut id = [0u8; 16];
    id.copy_from_slice(&h.finalize().as_bytes()[..16]);
    Id(id)
}

/// The notifier's memory between ticks: the scan position per webhook and what is in
/// flight (so a tick does not start a notification twice).
#[derive(Default)]
struct Memory {
    cursors: HashMap<Id, u64>,
    in_flight: HashSet<Id>,
}

/// How often the notifier looks at the log and the clock.
pub const TICK: Duration = Duration::from_millis(500);
/// Every how many ticks the clock's states (due, overdue, expiring) are looked at.
const TIMED_EVERY: u64 = 10;
/// Log events read per tick at most.
const SCAN: usize = 512;
/// Deliveries in flight at once.
const PARALLEL: usize = 16;

impl Ledger {
    /// The notifications one tick calls for (the clock's states too when `timed`),
    /// marking them in flight.
    fn plan(&self, mem: &mut Memory, timed: bool) -> Result<Vec<(Id, Notification)>, LedgerError> {
        let (hooks, from, now) = {
            let w = self.lock();
            let hooks: Vec<(Id, crate::domain::state::Webhook)> = w
                .state
                .webhooks
                .iter()
                .map(|(id, h)| (*id, h.clone()))
                .collect();
            mem.cursors
                .retain(|id, _| w.state.webhooks.contains_key(id));
            for (id, h) in &hooks {
                mem.cursors.entry(*id).or_insert(h.cursor + 1);
            }
            let from = mem.cursors.values().min().copied();
            (hooks, from, self.now())
        };
        let mut out = Vec::new();
        if let Some(from) = from {
            let records = self.store.read_range(from, SCAN)?;
            let last = records.last().map(|(s, _)| *s);
            for (seq, bytes) in records {
                let Ok(signed) = SignedEvent::from_record(&bytes) else {
                    continue;
                };
                for (id, hook) in &hooks {
                    if mem.cursors.get(id).is_some_and(|c| *c <= seq) {
                        if let Some(n) = rules::for_event(*id, hook, signed.event()) {
                            out.push(n);
                        }
                    }
                }
            }
            if let Some(last) = last {
                for c in mem.cursors.values_mut() {
                    *c = (*c).max(last + 1);
                }
            }
        }
        if timed {
            out.extend(self.with_state(|s| rules::due_notifications(s, now)));
        }
        Ok(out
            .into_iter()
            .map(|n| (notification_id(&n), n))
            .filter(|(id, _)| mem.in_flight.insert(*id))
            .collect())
    }
}

/// Starts the notifier on the current tokio runtime. Ends when the ledger is dropped.
pub fn spawn(ledger: Weak<Ledger>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mem = Arc::new(std::sync::Mutex::new(Memory::default()));
        let slots = Arc::new(tokio::sync::Semaphore::new(PARALLEL));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        let mut tick: u64 = 0;
        loop {
            tokio::time::sleep(TICK).await;
            tick += 1;
            let Some(l) = ledger.upgrade() else {
                return;
            };
            if l.writable().is_err() {
                continue;
            }
            // The log is read on the blocking pool (a store call may block).
            let (pl, pm) = (l.clone(), mem.clone());
            let timed = tick % TIMED_EVERY == 1;
            let planned = tokio::task::spawn_blocking(move || {
                let mut m = pm.lock().unwrap_or_else(|p| p.into_inner());
                pl.plan(&mut m, timed)
            })
            .await;
            let planned = match planned {
                Ok(Ok(p)) => p,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "the webhook notifier cannot read the log");
                    continue;
                }
                Err(_) => continue,
            };
            for (id, n) in planned {
                let (l, mem, http) = (l.clone(), mem.clone(), http.clone());
                let Ok(permit) = slots.clone().acquire_owned().await else {
                    return;
                };
                tokio::spawn(async move {
                    notify(&l, &http, id, &n).await;
                    drop(permit);
                    mem.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .in_flight
                        .remove(&id);
                });
            }
        }
    })
}

/// Delivers one notification and records its outcome.
async fn notify(ledger: &Ledger, http: &reqwest::Client, id: Id, n: &Notification) {
    let Some(target) = ledger.webhook_target(n.webhook) else {
        return; // deleted meanwhile: nothing to send, nothing to record.
    };
    let message = ledger.message(n, id);
    let out = crate::webhook::deliver(http, &target, &message).await;
    drop(target);
    if ledger.with_state(|s| !s.webhooks.contains_key(&n.webhook)) {
        return;
    }
    crate::metrics::webhook_delivery(out.ok);
    let body = rules::delivered(n, id, out.ok, out.attempts, out.status, out.error);
    if let Err(e) = ledger.record_delivery(body).await {
        tracing::warn!(webhook = %n.webhook, error = %e, "cannot record a webhook delivery");
    }
}
