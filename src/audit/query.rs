//! Audit queries: filtered, paginated scans of one tenant's audit indexes, reading each
//! matching event from the log.
//!
//! **Invariant:** a scan only reads the index of the tenant it is given, so it only ever
//! returns that tenant's events (ledger-wide events live under the nil tenant).

use super::view::{entry, AuditEntry};
use crate::event::{Body, Event, Outcome, SignedEvent};
use crate::id::Id;
use crate::projection::{self, index};
use crate::store::{Backend, LogStore, StoreError};

/// Filters of an audit query. All given filters must hold.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub credential: Option<Id>,
    pub actor: Option<Id>,
    pub action: Option<String>,
    pub outcome: Option<Outcome>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// Start at this sequence number (the `next_cursor` of the previous page).
    pub cursor: u64,
    pub limit: usize,
}

/// Why a query was refused: 400 naming the parameter.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    #[error("unknown action '{0}'")]
    UnknownAction(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One page of results.
pub struct Page {
    pub events: Vec<AuditEntry>,
    pub next_cursor: Option<u64>,
}

/// Reads the event at `seq` from the log.
pub fn event_at(log: &dyn LogStore, seq: u64) -> Result<Option<Event>, StoreError> {
    log.read(seq)?
        .map(|r| {
            SignedEvent::from_record(&r)
                .map(SignedEvent::into_event)
                .map_err(|e| StoreError::Corrupt {
                    what: "log",
                    detail: format!("event {seq}: {e}"),
                })
        })
        .transpose()
}

/// The first sequence number whose event is at or after `at_ms` (event times never
/// decrease along the log, so this is a binary search).
pub fn first_seq_at(log: &dyn LogStore, at_ms: i64) -> Result<u64, StoreError> {
    let (mut lo, mut hi) = (0u64, log.next_seq()?);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match event_at(log, mid)? {
            Some(e) if e.at_ms < at_ms => lo = mid + 1,
            _ => hi = mid,
        }
    }
    Ok(lo)
}

/// Runs a query over one tenant's audit log, calling `each` for every matching event in
/// order until it returns false or `limit` is reached (limit 0 = no limit, for exports).
pub fn scan(
    store: &dyn Backend,
    tenant: Id,
    f: &Filter,
    mut each: impl FnMut(Event) -> bool,
) -> Result<Option<u64>, QueryError> {
    let action = match &f.action {
        None => None,
        Some(a) => Some(
            Body::ACTIONS
                .iter()
                .position(|x| x == a)
                .ok_or_else(|| QueryError::UnknownAction(a.clone()))? as u8,
        ),
    };
    let prefix = if let Some(c) = f.credential {
        projection::audit_prefix(tenant, index::CREDENTIAL, c.as_bytes())
    } else if let Some(p) = f.actor {
        projection::audit_prefix(tenant, index::ACTOR, p.as_bytes())
    } else {
        projection::audit_prefix(tenant, index::TIME, &[])
    };
    let mut from = f.cursor;
    if let Some(t) = f.from_ms {
        from = from.max(first_seq_at(store, t)?);
    }
    let mut taken = 0usize;
    let outcome = f.outcome.map(projection::outcome_code);
    for entry in projection::audit_seqs(store, prefix, from) {
        let (seq, [tag_action, tag_outcome]) = entry?;
        if action.is_some_and(|a| a != tag_action) || outcome.is_some_and(|o| o != tag_outcome) {
            continue;
        }
        let Some(event) = event_at(store, seq)? else {
            continue;
        };
        if f.to_ms.is_some_and(|t| event.at_ms > t) {
            return Ok(None);
        }
        let body = &event.body;
        let keep = f.credential.is_none_or(|c| body.credential() == Some(c))
            && f.actor.is_none_or(|a| event.actor.principal == Some(a))
            && f.action.as_deref().is_none_or(|a| body.action() == a)
            && f.outcome.is_none_or(|o| body.outcome() == o);
        if !keep {
            continue;
        }
        if f.limit > 0 && taken == f.limit {
            return Ok(Some(seq));
        }
        taken += 1;
        if !each(event) {
            return Ok(Some(seq + 1));
        }
    }
    Ok(None)
}

/// One page of a tenant's audit log.
pub fn query(store: &dyn Backend, tenant: Id, f: &Filter) -> Result<Page, QueryError> {
    let mut events = Vec::new();
    let next_cursor = scan(store, tenant, f, |e| {
        events.push(entry(&e));
        true
    })?;
    Ok(Page {
        events,
        next_cursor,
    })
}
