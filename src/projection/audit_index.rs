//! The audit indexes, by time, credential and actor, stored in buckets of 256 sequence
//! numbers: `a ‖ tenant ‖ kind ‖ [key] ‖ bucket (u64 BE)` → one 3-byte entry per event of
//! that index with `bucket = seq / 256`: `seq % 256`, the action (its position in
//! [`crate::event::Body::ACTIONS`]) and the outcome code, ascending by sequence number.
//!
//! A batch of events grows each bucket it touches once (the overlay's append-only
//! chunks), so a hot credential's uses cost one index write per batch, not one per event,
//! and the bucket boundaries depend on sequence numbers only: a rebuild writes the same
//! bytes.
//!
//! **Invariant:** entries in a bucket are strictly ascending and belong to the bucket's
//! range; a reader reports anything else as corruption.

use super::overlay::Overlay;
use crate::store::{scan_from, ProjectionStore, StoreError};

/// Sequence numbers per bucket.
const BUCKET: u64 = 256;
/// Bytes per entry: the low byte of the sequence number, the action, the outcome.
const ENTRY: usize = 3;

/// Adds event `seq` with its `[action, outcome]` tag to the index under `prefix`
/// (`super::audit_prefix`). Events must be added in sequence order.
pub(super) fn add(
    ov: &mut Overlay<'_>,
    prefix: &[u8],
    seq: u64,
    tag: [u8; 2],
) -> Result<(), StoreError> {
    let key = [prefix, &(seq / BUCKET).to_be_bytes()].concat();
    let bucket = ov.chunk(key)?;
    let low = (seq % BUCKET) as u8;
    if bucket.len() >= ENTRY && bucket[bucket.len() - ENTRY] >= low {
        return Err(corrupt());
    }
    bucket.extend_from_slice(&[low, tag[0], tag[1]]);
    Ok(())
}

fn corrupt() -> StoreError {
    StoreError::Corrupt {
        what: "proj",
        detail: "bad audit index entry".into(),
    }
}

/// Sequence numbers in one audit index, ascending, starting at `from_seq`, each with its
/// `[action, outcome]` tag.
pub fn audit_seqs(
    proj: &dyn ProjectionStore,
    prefix: Vec<u8>,
    from_seq: u64,
) -> impl Iterator<Item = Result<(u64, [u8; 2]), StoreError>> + '_ {
    let start = [prefix.as_slice(), &(from_seq / BUCKET).to_be_bytes()].concat();
    let n = prefix.len();
    scan_from(proj, prefix, start, 64).flat_map(move |r| {
        let decoded = r.and_then(|(k, v)| {
            let bucket: [u8; 8] = k[n..].try_into().map_err(|_| corrupt())?;
            let base = u64::from_be_bytes(bucket)
                .checked_mul(BUCKET)
                .ok_or_else(corrupt)?;
            if v.is_empty() || v.len() % ENTRY != 0 {
                return Err(corrupt());
            }
            let mut out = Vec::with_capacity(v.len() / ENTRY);
            let mut last: Option<u8> = None;
            for e in v.chunks_exact(ENTRY) {
                if last.is_some_and(|l| l >= e[0]) {
                    return Err(corrupt());
                }
                last = Some(e[0]);
                let seq = base + u64::from(e[0]);
                if seq >= from_seq {
                    out.push(Ok((seq, [e[1], e[2]])));
                }
            }
            Ok(out)
        });
        match decoded {
            Ok(entries) => entries,
            Err(e) => vec![Err(e)],
        }
    })
}
