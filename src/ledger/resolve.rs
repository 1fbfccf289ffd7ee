//! Resolution and connection tests: the audit-first release of secrets.

use super::{
    wait, Ledger, LedgerError, RequestCtx, Resolution, ResolveTarget, Staged, VerifyResult, Writer,
};
use crate::domain::decide::{self, Resolved};
use crate::domain::{Caller, DomainError, Rejection};
use crate::event::{Body, Purpose, Source};
use crate::id::Id;
use crate::secret::{self, Binding, SecretError, SecretFields, SecretString};
use std::collections::BTreeMap;
use zeroize::Zeroizing;

impl Ledger {
    pub(super) fn open_version(
        w: &Writer,
        id: Id,
        version: u32,
    ) -> Result<SecretFields, LedgerError> {
        let cred = &w.state.credentials[&id];
        let v = cred.versions.get(&version).ok_or(SecretError::Shredded)?;
        let wrapped = w.keyring.get(&(id, version)).ok_or(SecretError::Shredded)?;
        let binding = Binding {
            tenant: cred.tenant,
            credential: id,
            version,
        };
        let mut fields = secret::open(&v.sealed, wrapped, binding, &w.masters)?;
        for (k, val) in &v.public {
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

    /// Resolves with an explicit purpose (the Vault-compatible API reads use `VaultRead`).
    pub async fn resolve_as(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        target: ResolveTarget,
        purpose: Purpose,
    ) -> Result<Resolution, LedgerError> {
        let env = |service: &str| self.config.fallbacks.contains_key(service);
        let (rx, value) = self.decide_and_stage(ctx, Some(caller), |w, now| {
            let (resolved, body) = match &target {
                ResolveTarget::Id { id, version } => decide::resolve_by_id(&w.state, caller, *id, *version, purpose, now)?,
                ResolveTarget::Service { service, for_user } => {
                    decide::resolve_service(&w.state, caller, service, *for_user, env(service), now)?
                }
            };
            // Opening happens under the lock only to read the key ring consistently; it
            // costs microseconds.
            let opened = match resolved {
                Resolved::Credential { id, version, source } => {
                    let fields = Self::open_version(w, id, version).map_err(|e| {
                        tracing::error!(credential = %id, version, error = %e, "cannot open a resolvable version");
                        // The failed release is recorded like any other refusal.
                        let (tenant, service) = (caller.tenant, w.state.credentials[&id].service.clone());
                        Rejection {
                            error: DomainError::Gone("the secret of this version is unavailable".into()),
                            record: Some(Box::new(Body::UseDenied {
                                tenant,
                                credential: Some(id),
                                service: Some(service),
                                subject: None,
                                reason: crate::event::DenyReason::Unavailable,
                            })),
                        }
                    })?;
                    Resolution {
                        credential_id: Some(id),
                        version: Some(version),
                        source,
                        template: Some(w.state.credentials[&id].template.clone()),
                        fields,
                    }
                }
                Resolved::Env => {
                    let ResolveTarget::Service { service, .. } = &target else { unreachable!("env only for services") };
                    Resolution {
                        credential_id: None,
                        version: None,
                        source: Source::Env,
                        template: None,
                        fields: self.config.fallbacks[service].clone(),
                    }
                }
            };
            Ok((Staged { bodies: vec![body], keyring: vec![] }, opened))
        })?;
        // The secret is held (zeroized on drop) until the event covering it is durable.
        wait(rx).await?;
        Ok(value?)
    }

    /// Runs a connection test: records the use, sends the secret to the template's
    /// verifier, records the outcome.
    pub async fn verify(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        id: Id,
    ) -> Result<VerifyResult, LedgerError> {
        // A template without a connection test sends nothing anywhere: refuse before the
        // `used` event, so the log never records a use that did not happen.
        let template = self.with_state(|s| {
            s.credentials
                .get(&id)
                .filter(|c| c.tenant == caller.tenant)
                .map(|c| c.template.clone())
        });
        if let Some(t) = template {
            if self.catalog.get(&t)?.verify.is_none() {
                return Err(DomainError::Conflict(format!(
                    "the {t} template has no connection test"
                ))
                .into());
            }
        }
        let (rx, value) = self.decide_and_stage(ctx, Some(caller), |w, _| {
            let (version, body) = decide::verify(&w.state, caller, id)?;
            let cred = &w.state.credentials[&id];
            let public = cred
                .versions
                .get(&version)
                .map(|v| v.public.clone())
                .unwrap_or_default();
            let template = cred.template.clone();
            let secrets = Self::open_version(w, id, version).map_err(|_| {
                Rejection::from(DomainError::Gone("the secret is unavailable".into()))
            })?;
            Ok((
                Staged {
                    bodies: vec![body],
                    keyring: vec![],
                },
                (version, template, public, secrets),
            ))
        })?;
        wait(rx).await?;
        let (version, template, public, secrets) = value?;
        let template = self.catalog.get(&template)?;
        let (ok, reason, latency_ms) = match &template.verify {
            None => (false, "this template has no connection test".to_string(), 0),
            Some(spec) => {
                let secret_map: BTreeMap<String, Zeroizing<String>> = secrets
                    .0
                    .iter()
                    .filter(|(k, _)| !public.contains_key(*k))
                    .map(|(k, v)| (k.clone(), Zeroizing::new(v.expose().to_string())))
                    .collect();
                let out = crate::verify::run(spec, &public, &secret_map, &self.http).await;
                (out.ok, out.reason, out.latency_ms)
            }
        };
        drop(secrets);
        self.execute(ctx, caller, |w, _| {
            let tenant = w.state.credentials[&id].tenant;
            let body = Body::CredentialVerified {
                tenant,
                credential: id,
                version,
                ok,
                reason: reason.clone(),
                latency_ms,
            };
            Ok((
                Staged {
                    bodies: vec![body],
                    keyring: vec![],
                },
                (),
            ))
        })
        .await?;
        Ok(VerifyResult {
            version,
            ok,
            reason,
            latency_ms,
        })
    }
}
