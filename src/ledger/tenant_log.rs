//! Reads of a tenant's own log (`proof::tenant`): its checkpoints (cosigned), inclusion
//! and consistency proofs, leaves and verifier key. Every read first applies
//! `decide::tenant_log` (the tenant's reviewers; system reviewers for any tenant), which
//! records a refusal like every other read.

use super::{Ledger, LedgerError, Reads, RequestCtx};
use crate::domain::decide;
use crate::domain::Caller;
use crate::id::Id;
use crate::proof::{self, tenant, ConsistencyProof, InclusionProof, SignedCheckpoint};

/// One leaf of a tenant's tree.
#[derive(Clone, Debug)]
pub struct TenantLeaf {
    /// The leaf index in the tenant's tree.
    pub index: u64,
    /// The event's global sequence number.
    pub seq: u64,
    /// The leaf bytes (the stored record).
    pub record: Vec<u8>,
}

/// A page of a tenant's leaves.
#[derive(Clone, Debug)]
pub struct TenantLeaves {
    pub leaves: Vec<TenantLeaf>,
    /// The next `from`, or `None` at the end of the tree.
    pub next: Option<u64>,
    pub tree_size: u64,
}

impl Reads<'_> {
    async fn tenant_of(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        requested: Option<Id>,
    ) -> Result<Id, LedgerError> {
        self.ledger
            .check(ctx, caller, |s| decide::tenant_log(s, caller, requested))
            .await
    }

    /// A checkpoint of the tenant's current tree, with its witness cosignatures. It is
    /// made with (or after) a global checkpoint of the current log.
    pub async fn tenant_checkpoint(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        requested: Option<Id>,
    ) -> Result<SignedCheckpoint, LedgerError> {
        let t = self.tenant_of(ctx, caller, requested).await?;
        self.with_ledger(move |l: &Ledger| {
            proof::checkpoint(l)?;
            let cp = tenant::issue_tenant_checkpoint(l.store(), l, t)?
                .ok_or(proof::ProofError::Empty)?;
            Ok(proof::cosigned::cosigned(l.store(), cp)?)
        })
        .await
    }

    /// Every checkpoint of the tenant's log, each with its witness cosignatures.
    pub async fn tenant_checkpoints(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        requested: Option<Id>,
    ) -> Result<Vec<SignedCheckpoint>, LedgerError> {
        let t = self.tenant_of(ctx, caller, requested).await?;
        self.store(move |st| {
            tenant::tenant_checkpoints(st, t)?
                .into_iter()
                .map(|cp| Ok(proof::cosigned::cosigned(st, cp)?))
                .collect()
        })
        .await
    }

    /// The inclusion proof of leaf `index` in the tenant's tree of `size` (default: its
    /// current size).
    pub async fn tenant_inclusion(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        requested: Option<Id>,
        index: u64,
        size: Option<u64>,
    ) -> Result<InclusionProof, LedgerError> {
        let t = self.tenant_of(ctx, caller, requested).await?;
        self.store(move |st| {
            let size = match size {
                Some(s) => s,
                None => tenant::tenant_size(st, t)?,
            };
            Ok(tenant::tenant_inclusion(st, t, index, size)?)
        })
        .await
    }

    /// The consistency proof between the tenant's trees of `old` and `new` (default:
    /// current) leaves.
    pub async fn tenant_consistency(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        requested: Option<Id>,
        old: u64,
        new: Option<u64>,
    ) -> Result<ConsistencyProof, LedgerError> {
        let t = self.tenant_of(ctx, caller, requested).await?;
        self.store(move |st| {
            let new = match new {
                Some(s) => s,
                None => tenant::tenant_size(st, t)?,
            };
            Ok(tenant::tenant_consistency(st, t, old, new)?)
        })
        .await
    }

    /// Up to `limit` leaves of the tenant's tree from index `from`.
    pub async fn tenant_leaves(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        requested: Option<Id>,
        from: u64,
        limit: usize,
    ) -> Result<TenantLeaves, LedgerError> {
        let t = self.tenant_of(ctx, caller, requested).await?;
        self.store(move |st| {
            let tree_size = tenant::tenant_size(st, t)?;
            let end = tree_size.min(from.saturating_add(limit as u64));
            let mut leaves = Vec::new();
            for index in from..end {
                let (seq, record) = tenant::tenant_leaf(st, t, index)?;
                leaves.push(TenantLeaf { index, seq, record });
            }
            Ok(TenantLeaves {
                leaves,
                next: (end < tree_size).then_some(end),
                tree_size,
            })
        })
        .await
    }

    /// The C2SP verifier key of the tenant's log (the current signing key under the
    /// tenant origin), and the tenant it is for.
    pub async fn tenant_verifier_key(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        requested: Option<Id>,
    ) -> Result<String, LedgerError> {
        let t = self.tenant_of(ctx, caller, requested).await?;
        let key = self.ledger.signing_public_key();
        self.store(move |st| Ok(tenant::tenant_verifier_key(st, t, &key)?))
            .await
    }
}

impl Reads<'_> {
    /// The complete usage report of `credential` over `[from_ms, to_ms)`
    /// (`report::usage_report`): the credential's tenant reviewers (the caller's tenant).
    pub async fn usage_report(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        credential: Id,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<crate::report::UsageReport, LedgerError> {
        const OP: &str = "usage_report_read";
        let t = self
            .ledger
            .check(ctx, caller, |s| {
                let t = decide::tenant_log(s, caller, None)?;
                decide::see_credential(s, caller, credential, OP)?;
                Ok(t)
            })
            .await?;
        self.with_ledger(move |l: &Ledger| {
            let fresh = || {
                proof::checkpoint(l)?;
                tenant::issue_tenant_checkpoint(l.store(), l, t)
            };
            crate::report::usage_report(l.store(), t, credential, from_ms, to_ms, fresh).map_err(
                |e| match e {
                    crate::report::MakeError::Proof(p) => LedgerError::Proof(p),
                    other @ crate::report::MakeError::EmptyInterval => {
                        crate::domain::DomainError::Invalid {
                            field: Some("to".into()),
                            message: other.to_string(),
                        }
                        .into()
                    }
                    other @ crate::report::MakeError::IntervalOpen { .. } => {
                        crate::domain::DomainError::Conflict(other.to_string()).into()
                    }
                },
            )
        })
        .await
    }
}

impl Reads<'_> {
    /// The evidence bundle of a review: the complete usage report of `credential` from
    /// `from_ms` up to now or, when the tenant's log has not moved on since (the interval
    /// is not over), up to the tenant's latest event, the last instant its tree proves.
    pub async fn review_evidence(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        credential: Id,
        from_ms: i64,
    ) -> Result<crate::report::UsageReport, LedgerError> {
        let now = self.ledger.now_ms();
        match self
            .usage_report(ctx, caller, credential, from_ms, now)
            .await
        {
            Err(LedgerError::Domain(crate::domain::DomainError::Conflict(_))) => {
                let last = self.tenant_last_event_ms(ctx, caller).await?;
                let to = last.max(from_ms.saturating_add(1));
                self.usage_report(ctx, caller, credential, from_ms, to)
                    .await
            }
            other => other,
        }
    }

    /// The time of the latest event of the caller's tenant log.
    async fn tenant_last_event_ms(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
    ) -> Result<i64, LedgerError> {
        let t = self.tenant_of(ctx, caller, None).await?;
        self.store(move |st| {
            let size = tenant::tenant_size(st, t)?;
            let (seq, record) = tenant::tenant_leaf(st, t, size.saturating_sub(1))?;
            let e = crate::event::SignedEvent::from_record(&record).map_err(|e| {
                LedgerError::Integrity {
                    seq,
                    detail: e.to_string(),
                }
            })?;
            Ok(e.event().at_ms)
        })
        .await
    }
}

impl Reads<'_> {
    /// Refuses (and records) a caller who may not read the global log
    /// (`decide::global_log`).
    pub async fn require_global_log(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
    ) -> Result<(), LedgerError> {
        self.ledger
            .check(ctx, caller, |_| decide::global_log(caller))
            .await
    }
}
