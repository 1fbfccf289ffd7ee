//! What the web console asks of the ledger beyond what the JSON API does: sign-in and
//! sign-out records, and a few reads (what a caller may do with credentials, display
//! names, tokens, tenants, a credential's proof bundle), each with `domain`'s rule.
//!
//! **Invariant:** a failed sign-in takes the API's path for a wrong token
//! ([`Ledger::authenticate_from`]): counted per source and token id, throttled, and
//! aggregated into `auth_failures` events. The session's API token never leaves the
//! caller of [`Ledger::console_sign_in`]; events name the session by its public id.

use super::{Ledger, LedgerError, Reads, RequestCtx};
use crate::domain::decide::console::{self, Capabilities, CredentialActions};
use crate::domain::Caller;
use crate::event::SessionEnd;
use crate::id::Id;
use crate::projection::{self, index, CredentialView};
use std::collections::HashMap;

/// A token as the console's administration page lists it (never its secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenInfo {
    pub id: Id,
    pub principal: Id,
    pub expires_at_ms: Option<i64>,
    pub revoked: bool,
}

/// A credential as the console's list sorts and filters it, from the in-memory state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialSummary {
    pub id: Id,
    pub name: String,
    pub template: String,
    pub owner: crate::event::Owner,
    /// `active`, `deleted` or `destroyed`.
    pub status: &'static str,
}

/// Display names of principals and credentials of the caller's tenant.
#[derive(Clone, Debug, Default)]
pub struct Names {
    pub principals: HashMap<Id, String>,
    pub credentials: HashMap<Id, String>,
}

impl Ledger {
    /// Signs in with an API token: authenticates it as a request's bearer token would be
    /// (a failure is counted and may be throttled), then records `console_signed_in` for
    /// a new session id, which it returns with the caller.
    pub async fn console_sign_in(
        &self,
        ctx: &RequestCtx,
        token: &str,
    ) -> Result<(Caller, Id), LedgerError> {
        let caller = self.authenticate_from(token, ctx.remote_addr.as_deref())?;
        let session = Id::random();
        self.execute(ctx, &caller, |w, _| {
            Self::events_only(console::sign_in(&w.state, &caller, session))
        })
        .await?;
        Ok((caller, session))
    }

    /// Records the end of console session `session` of `caller`.
    pub async fn console_sign_out(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        session: Id,
        reason: SessionEnd,
    ) -> Result<(), LedgerError> {
        self.execute(ctx, caller, |_, _| {
            Self::events_only(console::sign_out(caller, session, reason))
        })
        .await
    }
}

impl Reads<'_> {
    /// What the console offers the caller.
    pub fn capabilities(&self, caller: &Caller) -> Capabilities {
        console::capabilities(caller)
    }

    /// What the console offers the caller on each of `ids` (in order).
    pub fn credential_actions(&self, caller: &Caller, ids: &[Id]) -> Vec<CredentialActions> {
        let now = self.ledger.now();
        self.ledger.with_state(|s| {
            ids.iter()
                .map(|id| console::credential_actions(s, caller, *id, now))
                .collect()
        })
    }

    /// The credentials the console lists for the caller, with what it may do with each:
    /// those it may see, less (for resolvers) those it may not resolve.
    pub async fn console_credentials(
        &self,
        caller: &Caller,
    ) -> Result<Vec<(CredentialView, CredentialActions)>, LedgerError> {
        let views = self.credentials(caller).await?;
        let ids: Vec<Id> = views.iter().map(|v| v.id).collect();
        let actions = self.credential_actions(caller, &ids);
        Ok(views
            .into_iter()
            .zip(actions)
            .filter(|(_, a)| console::console_lists(caller, *a))
            .collect())
    }

    /// What the console's list holds for the caller (as [`Reads::console_credentials`],
    /// without reading the projections): cheap enough to sort and filter every
    /// credential of a large tenant before reading the views of one page.
    pub fn console_index(&self, caller: &Caller) -> Vec<CredentialSummary> {
        let now = self.ledger.now();
        self.ledger.with_state(|s| {
            s.credentials
                .iter()
                .filter(|(_, c)| c.tenant == caller.tenant)
                .filter(|(_, c)| crate::domain::decide::can_see(caller, c.owner))
                .filter(|(id, _)| {
                    console::console_lists(
                        caller,
                        console::credential_actions(s, caller, **id, now),
                    )
                })
                .map(|(id, c)| CredentialSummary {
                    id: *id,
                    name: c.name.clone(),
                    template: c.template.clone(),
                    owner: c.owner,
                    status: c.status.as_str(),
                })
                .collect()
        })
    }

    /// The views and usage of these credentials of the caller's tenant that the caller may
    /// see, in order, in one read of the store.
    pub async fn credential_rows(
        &self,
        caller: &Caller,
        ids: Vec<Id>,
    ) -> Result<Vec<(CredentialView, crate::projection::UsageView)>, LedgerError> {
        let c = *caller;
        self.store(move |st| {
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                let Some(v) = projection::credential(st.proj(), c.tenant, id)? else {
                    continue;
                };
                if crate::domain::decide::can_see(&c, v.owner) {
                    let u = projection::credential_usage(st.proj(), c.tenant, id)?;
                    out.push((v, u));
                }
            }
            Ok(out)
        })
        .await
    }

    /// Names of these principals and credentials, where they belong to the caller's
    /// tenant (ids of other tenants, or unknown ones, are left out).
    pub fn names(&self, caller: &Caller, principals: &[Id], credentials: &[Id]) -> Names {
        self.ledger.with_state(|s| Names {
            principals: principals
                .iter()
                .filter_map(|id| {
                    s.principals
                        .get(id)
                        .filter(|p| p.tenant == caller.tenant)
                        .map(|p| (*id, p.name.clone()))
                })
                .collect(),
            credentials: credentials
                .iter()
                .filter_map(|id| {
                    s.credentials
                        .get(id)
                        .filter(|c| c.tenant == caller.tenant)
                        .map(|c| (*id, c.name.clone()))
                })
                .collect(),
        })
    }

    /// The id of the caller's tenant's principal named `name` (without case), if any.
    pub fn principal_named(&self, caller: &Caller, name: &str) -> Option<Id> {
        self.ledger
            .with_state(|s| s.principal_by_name(caller.tenant, name))
    }

    /// The id of the caller's tenant's credential named exactly `name`, if any.
    pub fn credential_named(&self, caller: &Caller, name: &str) -> Option<Id> {
        self.ledger
            .with_state(|s| s.names.get(&(caller.tenant, name.to_string())).copied())
    }

    /// The tenant's tokens (admins).
    pub async fn tokens(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
    ) -> Result<Vec<TokenInfo>, LedgerError> {
        self.ledger
            .check(ctx, caller, |_| console::list_tokens(caller))
            .await?;
        let mut list: Vec<TokenInfo> = self.ledger.with_state(|s| {
            s.tokens
                .iter()
                .filter(|(_, t)| t.tenant == caller.tenant)
                .map(|(id, t)| TokenInfo {
                    id: *id,
                    principal: t.principal,
                    expires_at_ms: t.expires_at_ms,
                    revoked: t.revoked,
                })
                .collect()
        });
        list.sort_by_key(|t| t.id);
        Ok(list)
    }

    /// Every tenant by name (system admins).
    pub async fn tenants(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
    ) -> Result<Vec<(Id, String)>, LedgerError> {
        self.ledger
            .check(ctx, caller, |_| console::list_tenants(caller))
            .await?;
        let mut list: Vec<(Id, String)> = self.ledger.with_state(|s| {
            s.tenants
                .iter()
                .map(|(id, t)| (*id, t.name.clone()))
                .collect()
        });
        list.sort_by(|a, b| a.1.cmp(&b.1));
        Ok(list)
    }

    /// A proof bundle (`docs/FORMAT.md`, checked by `credledger verify-bundle`) of the
    /// events from credential `id`'s first to its last, tied to a fresh checkpoint: for
    /// a reviewer who may see the credential and every event of that range.
    pub async fn credential_bundle(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        id: Id,
    ) -> Result<Vec<u8>, LedgerError> {
        self.credential(ctx, caller, id, "bundle_exported").await?;
        let tenant = caller.tenant;
        let (first, last, own) = self
            .store(move |st| {
                let prefix = projection::audit_prefix(tenant, index::CREDENTIAL, id.as_bytes());
                let (mut first, mut last) = (None, 0);
                for e in projection::audit_seqs(st.proj(), prefix, 0) {
                    let (seq, _) = e?;
                    first.get_or_insert(seq);
                    last = seq;
                }
                let first = first.unwrap_or(0);
                let mut own = 0u64;
                let prefix = projection::audit_prefix(tenant, index::TIME, &[]);
                for e in projection::audit_seqs(st.proj(), prefix, first) {
                    let (seq, _) = e?;
                    if seq > last {
                        break;
                    }
                    own += 1;
                }
                Ok((first, last, own))
            })
            .await?;
        let whole = own == last - first + 1;
        self.ledger
            .check(ctx, caller, |_| console::see_bundle(caller, id, whole))
            .await?;
        let ledger = self.ledger.clone();
        tokio::task::spawn_blocking(move || {
            let cp = crate::proof::checkpoint(&ledger)?;
            let mut out = Vec::new();
            crate::bundle::export(ledger.store(), &cp, first, Some(last + 1), &mut out)
                .map_err(export_error)?;
            Ok(out)
        })
        .await
        .map_err(|_| LedgerError::Bug("a read task panicked"))?
    }
}

fn export_error(e: crate::bundle::ExportError) -> LedgerError {
    use crate::bundle::ExportError;
    match e {
        ExportError::Proof(p) => p.into(),
        ExportError::Store(s) => s.into(),
        ExportError::Range { .. } | ExportError::Io(_) => {
            LedgerError::Bug("a bundle of a credential's own events could not be written")
        }
    }
}
