//! The connection-test executor: runs a template's [`VerifySpec`] against a credential's
//! values and reports a [`VerifyOutcome`].
//!
//! The first probe whose condition holds runs, by kind: `http` (credential placed as a
//! bearer token, a header, Basic authentication, a query parameter or a form body;
//! passes when the status is expected), `tcp` (passes when the connection is accepted),
//! `aws_sts` (a SigV4-signed STS `GetCallerIdentity`), `gcp_token` (a service-account
//! JWT exchanged for an access token), `sql` (a PostgreSQL or MySQL login and
//! `SELECT 1`) and
//! `ssh` (an SSH login; the host key's fingerprint is reported and may be pinned).
//! `{{field}}` placeholders are filled from the public and secret values.
//!
//! [`run`] needs nothing but a template's probes and the values, so it serves a stored
//! credential and unsaved input alike; [`run_input`] validates raw input first (the
//! "test before save" of a console or `POST /v1/verify`).
//!
//! **Invariants:**
//! - An outcome's `reason` is built only from status codes, fixed error kinds (and
//!   codes from a fixed list, such as an AWS error code or a SQLSTATE), timeouts, field
//!   names and the server's SSH host-key fingerprint (public by nature). It never
//!   contains a supplied value, a URL or a header, so a secret cannot reach it, whichever
//!   placeholder carried it. Library errors are classified, never printed.
//! - Strings that may hold substituted secrets live in [`Zeroizing`] buffers, and headers
//!   built from them are marked sensitive. Copies made inside the client libraries
//!   (request buffers, the signer's and SSH client's own strings) are outside this
//!   module's control.
//! - A probe never runs longer than its timeout: 10 s by default, capped at 30 s.
//! - Redirects are not followed by [`client`] (a 3xx is reported as an unexpected
//!   status), so credentials placed in custom headers never reach a redirect target.
//!   A probe whose `skip_tls_verify_when` holds uses its own client built the same way.
//!
//! The files: `outcome` (the outcome and the failure kinds), `values` (placeholder
//! filling), one file per probe family: `http`, `tcp`, `aws`, `gcp`, `sql`, `ssh`.

mod aws;
mod gcp;
mod http;
mod outcome;
mod sql;
mod ssh;
mod tcp;
mod values;

pub use outcome::VerifyOutcome;

use crate::template::{Probe, Template, TemplateError, VerifySpec};
use outcome::Failure;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::time::Instant;
use values::Values;
use zeroize::Zeroizing;

/// The timeout of a probe that names none.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;

/// The longest timeout a probe may have; larger values are capped.
pub const MAX_TIMEOUT_MS: u64 = 30_000;

/// The timeout of a probe: its own, or the default, capped at [`MAX_TIMEOUT_MS`].
pub fn effective_timeout_ms(timeout_ms: Option<u64>) -> u64 {
    timeout_ms
        .unwrap_or(DEFAULT_TIMEOUT_MS)
        .clamp(1, MAX_TIMEOUT_MS)
}

/// The HTTP client to pass to [`run`]: it does not follow redirects.
pub fn client() -> reqwest::Result<reqwest::Client> {
    http::client_builder().build()
}

/// Runs the probe of `spec` that applies to these values. Never fails: every problem is
/// an outcome with `ok = false`. Pass a client from [`client`] (or one that likewise
/// does not follow redirects); the client's own timeout, if any, also applies to the
/// HTTP-based kinds (`http`, `aws_sts`, `gcp_token`). Nothing here reads or needs a
/// stored credential.
pub async fn run(
    spec: &VerifySpec,
    public: &BTreeMap<String, String>,
    secret: &BTreeMap<String, Zeroizing<String>>,
    client: &reqwest::Client,
) -> VerifyOutcome {
    let values = Values::new(public, secret);
    let Some(probe) = spec.select(public) else {
        return VerifyOutcome::failed(Failure::NotApplicable, 0);
    };
    let timeout_ms = effective_timeout_ms(probe.timeout_ms());
    match probe {
        Probe::Http(p) => http::run(p, &values, client, timeout_ms).await,
        Probe::Tcp(p) => tcp::run(p, &values, timeout_ms).await,
        Probe::AwsSts(p) => aws::run(p, &values, client, timeout_ms).await,
        Probe::GcpToken(p) => gcp::run(p, &values, client, timeout_ms).await,
        Probe::Sql(p) => sql::run(p, &values, timeout_ms).await,
        Probe::Ssh(p) => ssh::run(p, &values, timeout_ms).await,
    }
}

/// Validates unsaved input against `template` and runs its connection test: "test
/// before save". `Ok(None)` when the template has no connection test (nothing is sent
/// anywhere); `Err` when the input does not validate (the error names the field, never
/// a value). Nothing is stored; the validated values are dropped (zeroized) on return.
pub async fn run_input(
    template: &Template,
    input: &Map<String, Value>,
    client: &reqwest::Client,
) -> Result<Option<VerifyOutcome>, TemplateError> {
    let validated = template.validate(input)?;
    let Some(spec) = &template.verify else {
        return Ok(None);
    };
    Ok(Some(
        run(spec, &validated.public, &validated.secret, client).await,
    ))
}

fn millis_since(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Runs `attempt` under `timeout_ms` and turns it into an outcome with the latency.
async fn timed<F>(timeout_ms: u64, attempt: F) -> VerifyOutcome
where
    F: std::future::Future<Output = Result<String, Failure>>,
{
    let start = Instant::now();
    let result = tokio::time::timeout(std::time::Duration::from_millis(timeout_ms), attempt).await;
    let latency_ms = millis_since(start);
    match result {
        Ok(Ok(reason)) => VerifyOutcome {
            ok: true,
            reason,
            latency_ms,
        },
        Ok(Err(f)) => VerifyOutcome::failed(f, latency_ms),
        Err(_) => VerifyOutcome::failed(Failure::Timeout(timeout_ms), latency_ms),
    }
}

#[cfg(test)]
mod tests;
