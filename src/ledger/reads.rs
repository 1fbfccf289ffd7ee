//! The read façade: every query the HTTP dialects (JSON API, Vault KV, the console to
//! come) make, with the visibility rules of `domain` applied once.
//!
//! **Invariant:** nothing above this module names the store, the projection key layout
//! or sled; a refused read is decided by `domain::decide` under the writer lock and its
//! record is durable before the refusal is returned; every store call runs on the
//! blocking pool (`spawn_blocking`), so an async handler never blocks a runtime worker
//! on a scan or a network round trip, except a read of single keys from a backend whose
//! gets are local (`ProjectionStore::local_gets`: sled), which runs on the handler's own
//! thread because it costs less than the pool's hand-off. This is the only file of
//! `ledger` that reads the store for the API, with its child `kv` (the Vault KV reads).

use super::{Ledger, LedgerError, RequestCtx};
use crate::audit::{self, AuditEntry, Filter, Page, QueryError};
use crate::domain::decide::{self, AuditScope};
use crate::domain::{Caller, DomainError};
use crate::event::{PrincipalKind, Role, SignedEvent};
use crate::id::Id;
use crate::projection::{self, CredentialView, UsageView, VersionView};
use crate::proof::{self, ConsistencyProof, EventProof, InclusionProof, SignedCheckpoint};
use crate::store::Backend;
use std::sync::Arc;
use tokio::sync::mpsc;

mod kv;

/// A principal as listed to reviewers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrincipalInfo {
    pub id: Id,
    pub name: String,
    pub kind: PrincipalKind,
    pub role: Role,
    /// A system principal (system admin or system auditor).
    pub system: bool,
    pub disabled: bool,
}

/// One event leaf, as `/v1/ledger/events` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leaf {
    pub seq: u64,
    /// The exact leaf bytes (the stored record).
    pub record: Vec<u8>,
    pub hash: [u8; 32],
    pub action: &'static str,
    pub at_ms: i64,
}

/// A page of event leaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leaves {
    pub events: Vec<Leaf>,
    /// The next `from`, or `None` at the end of the tree.
    pub next: Option<u64>,
    /// The size of the caller's tree (`decide::proof_tree`): the global tree for system
    /// reviewers, the tenant's own tree for the others.
    pub tree_size: u64,
}

/// The query façade of an open ledger (see the module doc).
pub struct Reads<'a> {
    pub(super) ledger: &'a Arc<Ledger>,
}

impl Ledger {
    /// The query façade. Use it for every read an HTTP dialect makes.
    pub fn reads(self: &Arc<Self>) -> Reads<'_> {
        Reads { ledger: self }
    }
}

fn query_error(e: QueryError) -> LedgerError {
    match e {
        QueryError::UnknownAction(a) => {
            DomainError::invalid("action", format!("unknown action '{a}'")).into()
        }
        QueryError::Store(s) => s.into(),
    }
}

impl Reads<'_> {
    /// Runs `f` on the blocking pool with the store.
    pub(super) async fn store<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Backend) -> Result<T, LedgerError> + Send + 'static,
    ) -> Result<T, LedgerError> {
        let store = self.ledger.store.clone();
        tokio::task::spawn_blocking(move || f(&*store))
            .await
            .map_err(|_| LedgerError::Bug("a read task panicked"))?
    }

    /// Runs `f`, which reads a few single keys (`ProjectionStore::get`, no scan), on this
    /// task's thread when the backend's gets are local, else like [`Reads::store`]: a
    /// sled get costs less than the blocking pool's two wake-ups (docs/PERFORMANCE.md,
    /// eleventh pass).
    pub(super) async fn get<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Backend) -> Result<T, LedgerError> + Send + 'static,
    ) -> Result<T, LedgerError> {
        if self.ledger.store.proj().local_gets() {
            return f(&*self.ledger.store);
        }
        self.store(f).await
    }

    /// Runs `f` on the blocking pool with the ledger (for proofs, which sign).
    pub(super) async fn with_ledger<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Ledger) -> Result<T, LedgerError> + Send + 'static,
    ) -> Result<T, LedgerError> {
        let ledger = self.ledger.clone();
        tokio::task::spawn_blocking(move || f(&ledger))
            .await
            .map_err(|_| LedgerError::Bug("a read task panicked"))?
    }

    /// A credential the caller may see; otherwise a recorded "not found". `operation`
    /// names the read in the refusal record (`credential_read`, `versions_read`, …).
    pub async fn credential(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        id: Id,
        operation: &'static str,
    ) -> Result<CredentialView, LedgerError> {
        self.ledger
            .check(ctx, caller, |s| {
                decide::see_credential(s, caller, id, operation).map(|_| ())
            })
            .await?;
        let tenant = caller.tenant;
        self.get(move |st| Ok(projection::credential(st.proj(), tenant, id)?))
            .await?
            .ok_or_else(|| DomainError::NotFound("credential").into())
    }

    /// Every credential of the caller's tenant the caller may see.
    pub async fn credentials(&self, caller: &Caller) -> Result<Vec<CredentialView>, LedgerError> {
        let c = *caller;
        self.store(move |st| {
            let mut out = Vec::new();
            for v in projection::credentials(st.proj(), c.tenant) {
                let v = v?;
                if decide::can_see(&c, v.owner) {
                    out.push(v);
                }
            }
            Ok(out)
        })
        .await
    }

    /// A visible credential and its versions, oldest first.
    pub async fn versions(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        id: Id,
        operation: &'static str,
    ) -> Result<(CredentialView, Vec<VersionView>), LedgerError> {
        let view = self.credential(ctx, caller, id, operation).await?;
        let tenant = caller.tenant;
        let versions = self
            .store(move |st| Ok(projection::versions(st.proj(), tenant, id)?))
            .await?;
        Ok((view, versions))
    }

    /// A visible credential's usage.
    pub async fn credential_usage(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        id: Id,
    ) -> Result<UsageView, LedgerError> {
        self.credential(ctx, caller, id, "usage_read").await?;
        let tenant = caller.tenant;
        self.get(move |st| Ok(projection::credential_usage(st.proj(), tenant, id)?))
            .await
    }

    /// Usage of every credential the caller may see.
    pub async fn usage_list(
        &self,
        caller: &Caller,
    ) -> Result<Vec<(CredentialView, UsageView)>, LedgerError> {
        let c = *caller;
        self.store(move |st| {
            let mut out = Vec::new();
            for v in projection::credentials(st.proj(), c.tenant) {
                let v = v?;
                if decide::can_see(&c, v.owner) {
                    let u = projection::credential_usage(st.proj(), c.tenant, v.id)?;
                    out.push((v, u));
                }
            }
            Ok(out)
        })
        .await
    }

    /// A principal's usage: its own, or any of the tenant's for reviewers.
    pub async fn principal_usage(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        id: Id,
    ) -> Result<UsageView, LedgerError> {
        self.ledger
            .check(ctx, caller, |s| {
                decide::see_principal_usage(s, caller, id).map(|_| ())
            })
            .await?;
        let tenant = caller.tenant;
        self.get(move |st| Ok(projection::principal_usage(st.proj(), tenant, id)?))
            .await
    }

    /// The tenant's principals, by name (reviewers only).
    pub async fn principals(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
    ) -> Result<Vec<PrincipalInfo>, LedgerError> {
        self.ledger
            .check(ctx, caller, |_| decide::list_principals(caller))
            .await?;
        let mut list: Vec<PrincipalInfo> = self.ledger.with_state(|s| {
            s.principals
                .iter()
                .filter(|(_, p)| p.tenant == caller.tenant)
                .map(|(id, p)| PrincipalInfo {
                    id: *id,
                    name: p.name.clone(),
                    kind: p.kind,
                    role: p.role,
                    system: p.system_admin,
                    disabled: p.disabled,
                })
                .collect()
        });
        list.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(list)
    }

    /// The caller's own principal name.
    pub fn own_name(&self, caller: &Caller) -> String {
        self.ledger.with_state(|s| {
            s.principals
                .get(&caller.principal)
                .map(|p| p.name.clone())
                .unwrap_or_default()
        })
    }

    /// The audit stream the caller may read (the system stream first records the failed
    /// authentications counted so far, so they can be seen at once).
    async fn audit_stream(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        scope: AuditScope,
        operation: &'static str,
    ) -> Result<Id, LedgerError> {
        let tenant = self
            .ledger
            .check(ctx, caller, |_| {
                decide::audit_stream(caller, scope, operation)
            })
            .await?;
        if scope == AuditScope::System {
            if let Some(rx) = self.ledger.flush_auth_failures_rx(true) {
                super::wait(rx).await?;
            }
        }
        Ok(tenant)
    }

    /// One page of the audit log of `scope`.
    pub async fn audit(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        scope: AuditScope,
        filter: Filter,
    ) -> Result<Page, LedgerError> {
        let tenant = self.audit_stream(ctx, caller, scope, "audit_read").await?;
        self.store(move |st| audit::query(st, tenant, &filter).map_err(query_error))
            .await
    }

    /// Every matching audit entry of `scope`, streamed in order (`filter.limit` is
    /// ignored). An error mid-stream ends the stream with that error.
    pub async fn audit_export(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        scope: AuditScope,
        mut filter: Filter,
    ) -> Result<mpsc::Receiver<Result<AuditEntry, LedgerError>>, LedgerError> {
        let tenant = self
            .audit_stream(ctx, caller, scope, "audit_exported")
            .await?;
        filter.limit = 0;
        let (tx, rx) = mpsc::channel(64);
        let store = self.ledger.store.clone();
        tokio::task::spawn_blocking(move || {
            let result = audit::scan(&*store, tenant, &filter, |event| {
                tx.blocking_send(Ok(audit::entry(&event))).is_ok()
            });
            if let Err(e) = result {
                let _ = tx.blocking_send(Err(query_error(e)));
            }
        });
        Ok(rx)
    }

    /// The tenant's active credentials, for the rotation compliance report (reviewers).
    pub async fn rotation_candidates(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
    ) -> Result<Vec<CredentialView>, LedgerError> {
        self.ledger
            .check(ctx, caller, |_| {
                decide::require_reviewer(caller, "compliance_read", "the compliance report")
            })
            .await?;
        let tenant = caller.tenant;
        self.store(move |st| {
            let mut out = Vec::new();
            for v in projection::credentials(st.proj(), tenant) {
                let v = v?;
                if v.status == crate::domain::CredStatus::Active.as_str() {
                    out.push(v);
                }
            }
            Ok(out)
        })
        .await
    }

    /// Event leaves from `from` the caller may see (reviewers: their tenant's; system
    /// reviewers: all).
    pub async fn leaves(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        from: u64,
        limit: usize,
    ) -> Result<Leaves, LedgerError> {
        self.ledger
            .check(ctx, caller, |_| {
                decide::require_reviewer(caller, "ledger_events_read", "event leaves")
            })
            .await?;
        let c = *caller;
        let tree = decide::proof_tree(caller);
        self.store(move |st| {
            let global_size = proof::tree_size(st)?;
            let tree_size = match tree {
                decide::ProofTree::Global => global_size,
                decide::ProofTree::Tenant(t) => proof::tenant::tenant_size(st, t)?,
            };
            let mut events = Vec::new();
            let mut next = None;
            for r in st.records(from) {
                let (seq, rec) = r?;
                if seq >= global_size {
                    break;
                }
                if events.len() == limit {
                    next = Some(seq);
                    break;
                }
                let signed =
                    SignedEvent::from_record(&rec).map_err(|e| LedgerError::Integrity {
                        seq,
                        detail: e.to_string(),
                    })?;
                let body = &signed.event().body;
                if !decide::visible_to(&c, body.tenant()) {
                    continue;
                }
                events.push(Leaf {
                    seq,
                    record: rec.to_vec(),
                    hash: *signed.hash(),
                    action: body.action(),
                    at_ms: signed.event().at_ms,
                });
            }
            Ok(Leaves {
                events,
                next,
                tree_size,
            })
        })
        .await
    }

    /// A signed checkpoint of the current tree (hashes only: open to every caller), with
    /// the witness cosignatures it has gathered so far.
    pub async fn checkpoint(&self) -> Result<SignedCheckpoint, LedgerError> {
        self.with_ledger(|l| {
            let cp = proof::checkpoint(l)?;
            Ok(proof::cosigned::cosigned(l.store(), cp)?)
        })
        .await
    }

    /// Every checkpoint issued so far, each with its witness cosignatures.
    pub async fn checkpoints(&self) -> Result<Vec<SignedCheckpoint>, LedgerError> {
        self.store(|st| {
            proof::stored_checkpoints(st)?
                .into_iter()
                .map(|cp| Ok(proof::cosigned::cosigned(st, cp)?))
                .collect()
        })
        .await
    }

    /// The C2SP verifier key of the current signing key, or of the genesis key.
    pub async fn verifier_key(&self, genesis: bool) -> Result<String, LedgerError> {
        if genesis {
            self.store(|st| Ok(proof::genesis_verifier_key(st)?)).await
        } else {
            Ok(proof::verifier_key(self.ledger)?)
        }
    }

    /// An inclusion proof of leaf `index` in the tree of `size` (default: current).
    pub async fn inclusion(
        &self,
        index: u64,
        size: Option<u64>,
    ) -> Result<InclusionProof, LedgerError> {
        self.store(move |st| {
            let size = match size {
                Some(s) => s,
                None => proof::tree_size(st)?,
            };
            Ok(proof::inclusion(st, index, size)?)
        })
        .await
    }

    /// A consistency proof between tree sizes `old` and `new` (default: current).
    pub async fn consistency(
        &self,
        old: u64,
        new: Option<u64>,
    ) -> Result<ConsistencyProof, LedgerError> {
        self.store(move |st| {
            let new = match new {
                Some(s) => s,
                None => proof::tree_size(st)?,
            };
            Ok(proof::consistency(st, old, new)?)
        })
        .await
    }

    /// "Prove this audit entry": the leaf and inclusion proof of event `seq` against a
    /// fresh checkpoint, for a reviewer who may see that event (a recorded 404 otherwise).
    pub async fn prove_event(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        seq: u64,
    ) -> Result<EventProof, LedgerError> {
        let event_tenant = self
            .store(move |st| Ok(audit::event_at(st, seq)?.map(|e| e.body.tenant())))
            .await?;
        self.ledger
            .check(ctx, caller, |_| {
                decide::see_event(caller, seq, event_tenant)
            })
            .await?;
        let tree = decide::proof_tree(caller);
        self.with_ledger(move |l: &Ledger| match tree {
            decide::ProofTree::Global => Ok(proof::prove_event(l, seq)?),
            decide::ProofTree::Tenant(t) => {
                proof::checkpoint(l)?;
                let cp = proof::tenant::issue_tenant_checkpoint(l.store(), l, t)?
                    .ok_or(proof::ProofError::NoSuchEvent { seq, tree_size: 0 })?;
                Ok(proof::tenant::prove_tenant_event_at(
                    l.store(),
                    t,
                    &cp,
                    seq,
                )?)
            }
        })
        .await
    }

    /// The current checkpoint of the tree the caller reviews (`decide::proof_tree`: the
    /// global one for system reviewers, the tenant's own for the others) with its
    /// cosignatures, and the C2SP verifier key that checks it.
    pub async fn reviewer_checkpoint(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
    ) -> Result<(SignedCheckpoint, String), LedgerError> {
        match decide::proof_tree(caller) {
            decide::ProofTree::Global => {
                Ok((self.checkpoint().await?, self.verifier_key(false).await?))
            }
            decide::ProofTree::Tenant(_) => Ok((
                self.tenant_checkpoint(ctx, caller, None).await?,
                self.tenant_verifier_key(ctx, caller, None).await?,
            )),
        }
    }
}
