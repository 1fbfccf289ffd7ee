//! Building a usage report from a store: choose the two tenant checkpoints that bracket
//! the interval, then copy the range of leaves and the proofs that tie them to both.
//!
//! The start checkpoint is the largest issued tenant checkpoint whose last leaf is before
//! `from` (none: the range starts at leaf 0). The end checkpoint is the smallest issued one
//! above it whose last leaf is at or after `to`; if none was issued yet, `fresh` is asked
//! for a checkpoint of the current tree (a running ledger issues one), and if even its
//! last leaf is before `to` the interval is not over yet: [`MakeError::IntervalOpen`].

use super::format::{Leaf, UsageReport, REPORT_FORMAT};
use crate::event::SignedEvent;
use crate::id::Id;
use crate::merkle::{self, NodeReader};
use crate::projection::TenantNodes;
use crate::proof::{self, cosigned, tenant, ProofError, SignedCheckpoint};
use crate::store::Backend;

/// Why a report could not be made. Each variant names its HTTP status.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MakeError {
    /// `from` is not before `to`: 400.
    #[error("the interval is empty: from must be before to")]
    EmptyInterval,
    /// No event of the tenant is at or after `to` yet, so completeness up to `to` cannot
    /// be proven: 409; ask again once the ledger has moved on, or for an earlier `to`.
    #[error("the interval is not over: the tenant's last event is at {last_event_ms} ms, before the end of the interval ({to_ms} ms); ask again later or for an earlier end")]
    IntervalOpen { last_event_ms: i64, to_ms: i64 },
    /// A proof, a checkpoint or the store failed (the inner error names its status).
    #[error(transparent)]
    Proof(#[from] ProofError),
}

impl From<crate::store::StoreError> for MakeError {
    fn from(e: crate::store::StoreError) -> MakeError {
        MakeError::Proof(ProofError::Store(e))
    }
}

/// The time of tenant leaf `index`.
fn leaf_time(store: &dyn Backend, t: Id, index: u64) -> Result<i64, MakeError> {
    let (seq, record) = tenant::tenant_leaf(store, t, index)?;
    let e = SignedEvent::from_record(&record).map_err(|e| ProofError::Integrity {
        seq,
        detail: e.to_string(),
    })?;
    Ok(e.event().at_ms)
}

/// Builds the usage report of `credential` (of tenant `t`) over `[from_ms, to_ms)`.
/// `fresh` issues a checkpoint of the tenant's current tree when no issued one closes the
/// interval.
pub fn usage_report(
    store: &dyn Backend,
    t: Id,
    credential: Id,
    from_ms: i64,
    to_ms: i64,
    fresh: impl FnOnce() -> Result<Option<SignedCheckpoint>, ProofError>,
) -> Result<UsageReport, MakeError> {
    if from_ms >= to_ms {
        return Err(MakeError::EmptyInterval);
    }
    let issued = tenant::tenant_checkpoints(store, t)?;
    let mut start: Option<SignedCheckpoint> = None;
    for cp in &issued {
        if leaf_time(store, t, cp.tree_size - 1)? < from_ms {
            start = Some(cp.clone());
        }
    }
    let start_size = start.as_ref().map_or(0, |c| c.tree_size);
    let mut end = None;
    for cp in issued.iter().filter(|c| c.tree_size > start_size) {
        if leaf_time(store, t, cp.tree_size - 1)? >= to_ms {
            end = Some(cp.clone());
            break;
        }
    }
    let end = match end {
        Some(e) => e,
        None => {
            let cp = fresh()?.ok_or(ProofError::Empty)?;
            let last = leaf_time(store, t, cp.tree_size - 1)?;
            if cp.tree_size <= start_size || last < to_ms {
                return Err(MakeError::IntervalOpen {
                    last_event_ms: last,
                    to_ms,
                });
            }
            cp
        }
    };
    let nodes = TenantNodes {
        proj: store,
        tenant: t,
    };
    let frontier = merkle::frontier_positions(start_size)
        .into_iter()
        .map(|(l, i)| nodes.node(l, i))
        .collect::<Result<Vec<_>, _>>()?;
    let (consistency, boundary) = if start_size > 0 {
        let c = tenant::tenant_consistency(store, t, start_size, end.tree_size)?;
        let p = tenant::tenant_inclusion(store, t, start_size - 1, start_size)?;
        let (_, leaf) = tenant::tenant_leaf(store, t, start_size - 1)?;
        let boundary = Leaf {
            index: start_size - 1,
            leaf,
            audit_path: p.audit_path,
        };
        (c.consistency, Some(boundary))
    } else {
        (Vec::new(), None)
    };
    let mut leaves = Vec::new();
    for index in start_size..end.tree_size {
        let (_, leaf) = tenant::tenant_leaf(store, t, index)?;
        leaves.push(Leaf {
            index,
            leaf,
            audit_path: Vec::new(),
        });
    }
    let (origin, _) = proof::genesis(store)?;
    let start_checkpoint = start
        .map(|c| cosigned::cosigned(store, c).map(|c| c.note))
        .transpose()?;
    Ok(UsageReport {
        format: REPORT_FORMAT.into(),
        origin: tenant::tenant_origin(&origin, t),
        tenant: t.to_string(),
        credential: credential.to_string(),
        from_ms,
        to_ms,
        start: start_size,
        end: end.tree_size,
        start_checkpoint,
        end_checkpoint: cosigned::cosigned(store, end)?.note,
        frontier,
        consistency,
        boundary,
        leaves,
    })
}
