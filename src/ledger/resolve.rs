//! Resolution and connection tests: the audit-first release of secrets.

use super::{
    wait, Ledger, LedgerError, RequestCtx, Resolution, ResolveTarget, Staged, VerifyResult, Writer,
};
use crate::domain::decide::{self, Resolved, VerifyOutcome};
use crate::domain::state::Credential;
use crate::domain::{Caller, DomainError, Rejection};
use crate::event::{Purpose, Source};
use crate::id::Id;
use crate::secret::{self, Binding, SecretError, SecretFields, SecretString};
use std::collections::BTreeMap;
use zeroize::Zeroizing;

impl Ledger {
    /// Opens version `version` of `cred` (credential `id`): its secret and public fields.
    pub(super) fn open_version(
        w: &Writer,
        cred: &Credential,
        id: Id,
        version: u32,
    ) -> Result<SecretFields, LedgerError> {
        let v = cred.versions.get(&version).ok_or(SecretError::Shredded)?;
        let wrapped = w.keyring.get(&(id, version)).ok_or(SecretError::Shredded)?;
        let binding = Binding {
            tenant: cred.tenant,
            credential: id,
            version,
        };
        let mut fields = secret::open(&v.sealed, wrapped, binding, &w.masters)?;
        for (k, val) in v.public.iter() {
            fields.0.insert(k.clone(), SecretString::new(val.clone()));
        }
        Ok(fields)
    }

    /// Resolves a credential. The `used` (or `use_denied`) event is durable before this
    /// returns.
    pub async fn resolve(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        target: ResolveTarget,
    ) -> Result<Resolution, LedgerError> {
        self.resolve_as(ctx, caller, target, Purpose::Resolve).await
    }

    /// Whether an environment fallback for `service` applies to the caller's tenant.
    fn env_fallback(&self, w: &Writer, caller: &Caller, service: &str) -> bool {
        self.config.fallbacks.contains_key(service)
            && decide::fallback_applies(&w.state, caller.tenant, &self.config.fallback_tenants)
    }

    /// Opens what a decision released, under the lock (only to read the key ring
    /// consistently; it costs microseconds). A version that cannot be opened is refused
    /// and the refusal recorded.
    fn release(
        &self,
        w: &Writer,
        resolved: Resolved<'_>,
        service: Option<&str>,
    ) -> Result<Resolution, Rejection> {
        match resolved {
            Resolved::Credential {
                id,
                cred,
                version,
                source,
            } => {
                let fields = Self::open_version(w, cred, id, version).map_err(|e| {
                    tracing::error!(credential = %id, version, error = %e, "cannot open a resolvable version");
                    decide::unopenable(cred, id)
                })?;
                Ok(Resolution {
                    credential_id: Some(id),
                    version: Some(version),
                    source,
                    template: Some(cred.template.clone()),
                    fields,
                })
            }
            Resolved::Env => {
                let fields = service
                    .and_then(|s| self.config.fallbacks.get(s))
                    .cloned()
                    .ok_or(DomainError::NotFound("fallback"))?;
                Ok(Resolution {
                    credential_id: None,
                    version: None,
                    source: Source::Env,
                    template: None,
                    fields,
                })
            }
        }
    }

    /// Resolves with an explicit purpose (the Vault-compatible API reads use `VaultRead`).
    pub async fn resolve_as(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        target: ResolveTarget,
        purpose: Purpose,
    ) -> Result<Resolution, LedgerError> {
        let (rx, value) = self.decide_and_stage(ctx, caller, |w, now| {
            let (resolved, body, service) = match &target {
                ResolveTarget::Id { id, version } => {
                    let (r, b) =
                        decide::resolve_by_id(&w.state, caller, *id, *version, purpose, now)?;
                    (r, b, None)
                }
                ResolveTarget::Service { service, for_user } => {
                    let env = self.env_fallback(w, caller, service);
                    let (r, b) = decide::resolve_service(
                        &w.state, caller, service, *for_user, purpose, env, now,
                    )?;
                    (r, b, Some(service.as_str()))
                }
            };
            let opened = self.release(w, resolved, service)?;
            Ok((Staged::events(vec![body]), opened))
        })?;
        // The secret is held (zeroized on drop) until the event covering it is durable.
        let done = wait(rx).await.and_then(|()| Ok(value?));
        crate::metrics::resolve(match &done {
            Ok(_) => "ok",
            Err(LedgerError::Domain(DomainError::Forbidden(..))) => "denied",
            Err(LedgerError::Domain(
                DomainError::NotFound(..) | DomainError::NotConfigured(..) | DomainError::Gone(..),
            )) => "not_found",
            Err(_) => "error",
        });
        done
    }

    /// Runs a connection test: records the use, sends the secret to the template's
    /// verifier, records the outcome.
    pub async fn verify(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        id: Id,
    ) -> Result<VerifyResult, LedgerError> {
        let catalog = self.catalog;
        let (rx, value) = self.decide_and_stage(ctx, caller, |w, _| {
            let template_of = |c: &Credential| {
                super::templates::template_in(catalog, &w.state, c.tenant, &c.template).ok()
            };
            let template = w.state.credentials.get(&id).and_then(template_of);
            let has_test = template.as_ref().is_some_and(|t| t.verify.is_some());
            let (cred, version, body) = decide::verify(&w.state, caller, id, has_test)?;
            let public = cred.public_fields(version);
            let secrets = Self::open_version(w, cred, id, version).map_err(|_| {
                Rejection::from(DomainError::Gone("the secret is unavailable".into()))
            })?;
            Ok((
                Staged::events(vec![body]),
                (version, template, public, secrets),
            ))
        })?;
        wait(rx).await?;
        let (version, template, public, secrets) = value?;
        let template = template.ok_or(LedgerError::Bug("a verified credential has a template"))?;
        let outcome = self.run_connection_test(&template, &public, secrets).await;
        crate::metrics::connection_test(outcome.ok, "manual");
        let result = VerifyResult {
            version,
            ok: outcome.ok,
            reason: outcome.reason.clone(),
            latency_ms: outcome.latency_ms,
        };
        self.execute(ctx, caller, |w, _| {
            Self::events_only(decide::verified(&w.state, id, version, outcome))
        })
        .await?;
        Ok(result)
    }
}

impl Ledger {
    /// Sends the opened `secrets` of a saved version (with its `public` fields) to the
    /// template's connection test; the secrets are dropped (zeroized) when it returns.
    pub(super) async fn run_connection_test(
        &self,
        template: &super::TemplateRef,
        public: &BTreeMap<String, String>,
        secrets: SecretFields,
    ) -> VerifyOutcome {
        let outcome = match &template.verify {
            None => VerifyOutcome {
                ok: false,
                reason: "this template has no connection test".to_string(),
                latency_ms: 0,
            },
            Some(spec) => {
                let secret_map: BTreeMap<String, Zeroizing<String>> = secrets
                    .0
                    .iter()
                    .filter(|(k, _)| !public.contains_key(*k))
                    .map(|(k, v)| (k.clone(), Zeroizing::new(v.expose().to_string())))
                    .collect();
                let out = crate::verify::run(spec, public, &secret_map, &self.http).await;
                VerifyOutcome {
                    ok: out.ok,
                    reason: out.reason,
                    latency_ms: out.latency_ms,
                }
            }
        };
        drop(secrets);
        outcome
    }

    /// Test before save: validates unsaved `fields` against `template` (builtin or the
    /// tenant's) and runs its connection test, then records the outcome as a `verified`
    /// event without a credential (never a value). Nothing else is stored. A template
    /// without a connection test is a conflict and writes nothing.
    pub async fn verify_input(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        template: &str,
        fields: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<VerifyOutcome, LedgerError> {
        self.check(ctx, caller, |_| decide::check_verify_input(caller))
            .await?;
        let t = self.template(caller.tenant, template)?;
        let validated = t.validate(fields)?;
        let Some(spec) = &t.verify else {
            return Err(DomainError::Conflict(format!(
                "the {} template has no connection test",
                t.name
            ))
            .into());
        };
        let out = crate::verify::run(spec, &validated.public, &validated.secret, &self.http).await;
        drop(validated);
        let outcome = VerifyOutcome {
            ok: out.ok,
            reason: out.reason,
            latency_ms: out.latency_ms,
        };
        let record = decide::input_verified(caller, &t.name, outcome.clone());
        self.execute(ctx, caller, |_, _| Ok((Staged::events(vec![record]), ())))
            .await?;
        Ok(outcome)
    }
}
