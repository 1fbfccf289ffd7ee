//! Scheduled connection tests (`serve --verify-every`): the rounds, spread evenly over the
//! interval, each test recorded like a manual one with the scheduler as the actor.
//!
//! **Invariant:** only a writer tests. A follower (its committer refuses writes) skips
//! every test, and `serve` starts the task on the writer only; the task holds the ledger
//! weakly, so it ends with the ledger it was started for.

use super::{wait, Ledger, LedgerError, RequestCtx, Staged, VerifyResult};
use crate::domain::decide::{self, schedule};
use crate::domain::state::Credential;
use crate::id::Id;
use std::sync::{Arc, Weak};
use std::time::Duration;

impl Ledger {
    /// Whether the template of `cred` has a connection test (under the writer lock).
    fn has_connection_test(&self, state: &crate::domain::State, cred: &Credential) -> bool {
        super::templates::template_in(self.catalog, state, cred.tenant, &cred.template)
            .is_ok_and(|t| t.verify.is_some())
    }

    /// The credentials one round of scheduled tests covers now, in a stable order.
    pub fn scheduled_round(&self) -> Vec<Id> {
        let w = self.lock();
        let now = self.now();
        schedule::scheduled_round(&w.state, |c| self.has_connection_test(&w.state, c), now)
    }

    /// Runs the scheduled connection test of `id`: records the use (durable before the
    /// secret is sent), runs the test, records the outcome, both with the scheduler as
    /// the actor and request id [`schedule::SCHEDULER_REQUEST_ID`]. `Ok(None)` when the
    /// credential left the schedule since the round began (nothing written).
    pub async fn scheduled_verify(&self, id: Id) -> Result<Option<VerifyResult>, LedgerError> {
        let ctx = RequestCtx {
            request_id: Some(schedule::SCHEDULER_REQUEST_ID.to_string()),
            remote_addr: None,
        };
        let (rx, actor, version, template, public, secrets) = {
            let mut w = self.lock();
            let now = self.now().max(w.last_at);
            let Some(cred) = w.state.credentials.get(&id) else {
                return Ok(None);
            };
            let template =
                super::templates::template_in(self.catalog, &w.state, cred.tenant, &cred.template)
                    .ok();
            let has_test = template.as_ref().is_some_and(|t| t.verify.is_some());
            let Ok((cred, version, body)) = schedule::scheduled_verify(&w.state, id, has_test, now)
            else {
                return Ok(None);
            };
            let actor = schedule::scheduler_actor(cred);
            let public = cred.public_fields(version);
            let Ok(secrets) = Self::open_version(&w, cred, id, version) else {
                tracing::warn!(credential = %id, version, "a scheduled test cannot open its secret; skipped");
                return Ok(None);
            };
            let rx = self.stage(&mut w, &ctx, actor.clone(), Staged::events(vec![body]))?;
            (rx, actor, version, template, public, secrets)
        };
        wait(rx).await?;
        let template = template.ok_or(LedgerError::Bug("a scheduled credential has a template"))?;
        let outcome = self.run_connection_test(&template, &public, secrets).await;
        crate::metrics::connection_test(outcome.ok, "scheduled");
        let result = VerifyResult {
            version,
            ok: outcome.ok,
            reason: outcome.reason.clone(),
            latency_ms: outcome.latency_ms,
        };
        let rx = {
            let mut w = self.lock();
            let bodies = decide::verified(&w.state, id, version, outcome).map_err(|r| r.error)?;
            self.stage(&mut w, &ctx, actor, Staged::events(bodies))?
        };
        wait(rx).await?;
        Ok(Some(result))
    }
}

/// Starts the scheduler on the current tokio runtime: every `every`, each credential of
/// the round is tested once, one every `every / n` (the first after that gap, so a
/// restart does not test everything at once). The gauges of credentials due, overdue and
/// expiring are refreshed each round. Ends when the ledger is dropped.
pub fn spawn(ledger: Weak<Ledger>, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let Some(round) = ledger.upgrade().map(|l| {
                crate::metrics::credential_gauges(&l);
                l.scheduled_round()
            }) else {
                return;
            };
            if round.is_empty() {
                tokio::time::sleep(every).await;
                continue;
            }
            let gap = every / u32::try_from(round.len()).unwrap_or(u32::MAX);
            for id in round {
                tokio::time::sleep(gap).await;
                let Some(l) = ledger.upgrade() else {
                    return;
                };
                if l.writable().is_err() {
                    // A follower, a poisoned or a stopping ledger: nothing to record.
                    continue;
                }
                run_one(&l, id).await;
            }
        }
    })
}

async fn run_one(ledger: &Arc<Ledger>, id: Id) {
    match ledger.scheduled_verify(id).await {
        Ok(Some(r)) if !r.ok => {
            tracing::warn!(credential = %id, version = r.version, "a scheduled connection test failed");
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(credential = %id, error = %e, "a scheduled connection test could not be recorded")
        }
    }
}

impl Ledger {
    /// Switches scheduled connection tests of credential `id` on or off (a
    /// `scheduled_verify_set` event; nothing when unchanged).
    pub async fn set_scheduled_verify(
        &self,
        ctx: &RequestCtx,
        caller: &crate::domain::Caller,
        id: Id,
        enabled: bool,
    ) -> Result<(), LedgerError> {
        self.execute(ctx, caller, |w, _| {
            Self::events_only(schedule::set_scheduled_verify(
                &w.state, caller, id, enabled,
            ))
        })
        .await
    }

    /// Whether scheduled connection tests include credential `id` (`None`: no such
    /// credential). For views after the caller's access was checked.
    pub fn scheduled_verify_of(&self, id: Id) -> Option<bool> {
        self.with_state(|s| s.credentials.get(&id).map(|c| c.scheduled_verify))
    }
}
