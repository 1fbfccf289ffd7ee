//! Prometheus metrics: the recorder (the `metrics` crate with its Prometheus exporter),
//! the names, and the calls the rest of the code makes to move them.
//!
//! Every family is in the `credledger_` namespace, counters end in `_total`, durations are
//! histograms in seconds. Labels are bounded: a route is the matched route *template*
//! (`/v1/credentials/{id}`), never a raw path, and nothing names a credential, principal or
//! tenant. Until [`install`] runs (the server does it) every call is a no-op, so library
//! users and tests that never serve pay nothing.
//!
//! The gauges about credentials (due, overdue, expiring) are computed from the ledger's
//! state at each scrape ([`render`]); everything else moves where it happens.
//!
//! **Invariant:** no label value comes from a request body, a secret or a name.

use crate::domain::rotation::{self, RotationStatus};
use crate::domain::CredStatus;
use crate::ledger::Ledger;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

/// HTTP requests by route template, method and status.
pub const HTTP_REQUESTS: &str = "credledger_http_requests_total";
/// HTTP request latency by route template.
pub const HTTP_DURATION: &str = "credledger_http_request_duration_seconds";
/// Resolves (native, Vault reads, `exec`) by outcome: `ok`, `denied` (refused),
/// `not_found` (nothing configured, destroyed or expired), `error`.
pub const RESOLVES: &str = "credledger_resolves_total";
/// Events appended to the log (made durable).
pub const APPENDS: &str = "credledger_events_appended_total";
/// Events per durable batch.
pub const BATCH_EVENTS: &str = "credledger_commit_batch_events";
/// Time of one durable append (records written, flushed and `fdatasync`'d).
pub const SYNC_SECONDS: &str = "credledger_fdatasync_duration_seconds";
/// Events queued for the committer and not yet durable.
pub const QUEUE_DEPTH: &str = "credledger_commit_queue_depth";
/// Batches whose write failed: their events (and the audit records in them) were not
/// recorded and nothing in them was acknowledged.
pub const AUDIT_WRITE_FAILURES: &str = "credledger_audit_write_failures_total";
/// Connection tests by outcome (`ok`, `failed`) and trigger (`manual`, `scheduled`).
pub const CONNECTION_TESTS: &str = "credledger_connection_tests_total";
/// Active credentials whose rotation is due (within the window), overdue, or which
/// expire within [`EXPIRING_WITHIN_MS`].
pub const CREDENTIALS_DUE: &str = "credledger_credentials_rotation_due";
pub const CREDENTIALS_OVERDUE: &str = "credledger_credentials_rotation_overdue";
pub const CREDENTIALS_EXPIRING: &str = "credledger_credentials_expiring";
/// Active credentials.
pub const CREDENTIALS_ACTIVE: &str = "credledger_credentials_active";
/// Webhook notifications by final outcome (`delivered`, `failed`).
pub const WEBHOOK_DELIVERIES: &str = "credledger_webhook_deliveries_total";
/// Web console sessions open (set by the console).
pub const CONSOLE_SESSIONS: &str = "credledger_console_sessions";

/// How far ahead an expiry counts as "expiring" (7 days, as the rotation window).
pub const EXPIRING_WITHIN_MS: i64 = rotation::DUE_WINDOW_MS;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the global recorder (once per process; later calls return the same handle).
/// `None` when another recorder was installed first.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let seconds = [
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ];
            let sizes = [
                1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
            ];
            let describe = || {
                metrics::describe_counter!(
                    HTTP_REQUESTS,
                    "HTTP requests by route template, method and status"
                );
                metrics::describe_histogram!(
                    HTTP_DURATION,
                    metrics::Unit::Seconds,
                    "HTTP request latency by route template"
                );
                metrics::describe_counter!(RESOLVES, "Resolves by outcome");
                metrics::describe_counter!(APPENDS, "Events made durable");
                metrics::describe_histogram!(BATCH_EVENTS, "Events per durable batch");
                metrics::describe_histogram!(
                    SYNC_SECONDS,
                    metrics::Unit::Seconds,
                    "Durable append (write, flush, fdatasync) latency"
                );
                metrics::describe_gauge!(QUEUE_DEPTH, "Events queued and not yet durable");
                metrics::describe_counter!(
                    AUDIT_WRITE_FAILURES,
                    "Batches whose durable write failed"
                );
                metrics::describe_counter!(
                    CONNECTION_TESTS,
                    "Connection tests by outcome and trigger"
                );
                metrics::describe_gauge!(
                    CREDENTIALS_DUE,
                    "Active credentials whose rotation is due"
                );
                metrics::describe_gauge!(
                    CREDENTIALS_OVERDUE,
                    "Active credentials whose rotation is overdue"
                );
                metrics::describe_gauge!(
                    CREDENTIALS_EXPIRING,
                    "Active credentials expiring within 7 days"
                );
                metrics::describe_gauge!(CREDENTIALS_ACTIVE, "Active credentials");
                metrics::describe_gauge!(CONSOLE_SESSIONS, "Web console sessions open");
                metrics::describe_counter!(
                    WEBHOOK_DELIVERIES,
                    "Webhook notifications by final outcome"
                );
            };
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &seconds)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Full(BATCH_EVENTS.into()), &sizes))
                .ok()?
                .install_recorder()
                .ok()?;
            describe();
            // Present from the start, so an alert on it has a series to watch.
            metrics::counter!(AUDIT_WRITE_FAILURES).absolute(0);
            Some(handle)
        })
        .as_ref()
}

/// One HTTP request answered.
pub fn http_request(route: &str, method: &str, status: u16, seconds: f64) {
    let route = route.to_string();
    metrics::counter!(HTTP_REQUESTS, "route" => route.clone(), "method" => method.to_string(), "status" => status.to_string()).increment(1);
    metrics::histogram!(HTTP_DURATION, "route" => route).record(seconds);
}

/// One resolve, by outcome.
pub fn resolve(outcome: &'static str) {
    metrics::counter!(RESOLVES, "outcome" => outcome).increment(1);
}

/// One durable batch of `events`.
pub fn committed(events: usize) {
    metrics::counter!(APPENDS).increment(events as u64);
    metrics::histogram!(BATCH_EVENTS).record(events as f64);
}

/// One durable append (records written, flushed, `fdatasync`'d) that took `took`.
pub fn synced(took: std::time::Duration) {
    metrics::histogram!(SYNC_SECONDS).record(took.as_secs_f64());
}

/// The committer's queue length now.
pub fn queue_depth(events: usize) {
    metrics::gauge!(QUEUE_DEPTH).set(events as f64);
}

/// A batch whose durable write failed.
pub fn audit_write_failure() {
    metrics::counter!(AUDIT_WRITE_FAILURES).increment(1);
}

/// One connection test, by outcome and trigger (`manual` or `scheduled`).
pub fn connection_test(ok: bool, trigger: &'static str) {
    let outcome = if ok { "ok" } else { "failed" };
    metrics::counter!(CONNECTION_TESTS, "outcome" => outcome, "trigger" => trigger).increment(1);
}

/// One webhook notification's final outcome.
pub fn webhook_delivery(ok: bool) {
    let outcome = if ok { "delivered" } else { "failed" };
    metrics::counter!(WEBHOOK_DELIVERIES, "outcome" => outcome).increment(1);
}

/// The console's open sessions.
pub fn console_sessions(n: usize) {
    metrics::gauge!(CONSOLE_SESSIONS).set(n as f64);
}

/// Counts of active credentials by rotation and expiry at `now_ms`:
/// (active, due, overdue, expiring).
pub fn credential_counts(ledger: &Ledger, now_ms: i64) -> (usize, usize, usize, usize) {
    ledger.with_state(|state| {
        let (mut active, mut due, mut overdue, mut expiring) = (0, 0, 0, 0);
        for c in state.credentials.values() {
            if c.status != CredStatus::Active {
                continue;
            }
            active += 1;
            let rotated = c.versions.get(&c.current).map(|v| v.created_at_ms);
            let status = rotation::status(
                rotated.and_then(|r| rotation::due_at(r, c.rotate_every_days)),
                now_ms,
            );
            match status {
                RotationStatus::Due => due += 1,
                RotationStatus::Overdue => overdue += 1,
                RotationStatus::Unscheduled | RotationStatus::Ok => {}
            }
            if c.expires_at_ms
                .is_some_and(|e| e > now_ms && e <= now_ms + EXPIRING_WITHIN_MS)
            {
                expiring += 1;
            }
        }
        (active, due, overdue, expiring)
    })
}

/// Sets the gauges of active, due, overdue and expiring credentials from `ledger` now
/// (each scrape and each round of scheduled connection tests).
pub fn credential_gauges(ledger: &Ledger) {
    let (active, due, overdue, expiring) = credential_counts(ledger, ledger.now_ms());
    metrics::gauge!(CREDENTIALS_ACTIVE).set(active as f64);
    metrics::gauge!(CREDENTIALS_DUE).set(due as f64);
    metrics::gauge!(CREDENTIALS_OVERDUE).set(overdue as f64);
    metrics::gauge!(CREDENTIALS_EXPIRING).set(expiring as f64);
}

/// The Prometheus text: the gauges computed from `ledger` now, then every family.
/// Empty when no recorder is installed.
pub fn render(ledger: &Ledger) -> String {
    let Some(handle) = install() else {
        return String::new();
    };
    credential_gauges(ledger);
    handle.run_upkeep();
    handle.render()
}

/// Runs the exporter's upkeep (histogram draining) now; the server calls it periodically.
pub fn upkeep() {
    if let Some(Some(h)) = HANDLE.get() {
        h.run_upkeep();
    }
}
