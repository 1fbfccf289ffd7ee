//! The audit indexes, by time, credential and actor, stored in chunks of up to 256 entries:
//!
//! * `a ‖ tenant ‖ kind ‖ [key] ‖ FF×8` → the **open chunk** of that index, which the next
//!   event of the index grows;
//! * `a ‖ tenant ‖ kind ‖ [key] ‖ last (u64 BE)` → a **closed chunk** of exactly
//!   [`CHUNK`] entries whose last entry is event `last`. The open chunk is closed (moved to
//!   this key) by the event that fills it.
//!
//! A chunk is `count (u16 BE) ‖ last (u64 BE) ‖ entries`, each entry `delta ‖ action ‖
//! outcome`: `delta` an unsigned LEB128 varint, the entry's sequence number minus the
//! previous entry's (the first entry's: its sequence number), the action its position in
//! [`crate::event::Body::ACTIONS`], the outcome code. Entries are ascending.
//!
//! Chunks by count instead of buckets of 256 sequence numbers (schema 4): a credential
//! used once in a thousand events cost one projection key per use, and every key costs
//! sled a resident page-table share and a leaf write (1.12M of 2.2M projection keys at
//! 1M events with 100k credentials, docs/PERFORMANCE.md seventh pass); now it costs one
//! key per 256 uses. A batch grows each open chunk it touches once (the overlay's
//! append-only chunks), and where a chunk closes depends on the index's events only: a
//! rebuild writes the same bytes.
//!
//! **Invariant:** entries are strictly ascending within a chunk and across an index's
//! chunks in key order; a closed chunk holds exactly [`CHUNK`] entries and its key names
//! its last; a reader reports anything else as corruption.

use super::overlay::Overlay;
use crate::store::{scan_from, ProjectionStore, StoreError};
use integer_encoding::VarInt;

/// Entries per closed chunk.
pub const CHUNK: u16 = 256;
/// The key suffix of an index's open chunk (sorts after every closed chunk).
const OPEN: [u8; 8] = [0xFF; 8];
/// `count (u16 BE) ‖ last (u64 BE)`.
const HEADER: usize = 10;

/// Adds event `seq` with its `[action, outcome]` tag to the index under `prefix`
/// (`super::audit_prefix`). Events must be added in sequence order.
pub(super) fn add(
    ov: &mut Overlay<'_>,
    prefix: &[u8],
    seq: u64,
    tag: [u8; 2],
) -> Result<(), StoreError> {
    let open = [prefix, &OPEN].concat();
    let chunk = ov.chunk(open.clone())?;
    let (count, previous) = match chunk.len() {
        0 => {
            chunk.extend_from_slice(&[0; HEADER]);
            (0, 0)
        }
        n if n > HEADER => header(chunk)?,
        _ => return Err(corrupt("an open audit chunk without entries")),
    };
    if count >= CHUNK {
        return Err(corrupt("a full audit chunk left open"));
    }
    if count > 0 && seq <= previous {
        return Err(corrupt("an audit entry out of order"));
    }
    let mut delta = [0u8; 10];
    let n = (seq - previous).encode_var(&mut delta);
    chunk.extend_from_slice(&delta[..n]);
    chunk.extend_from_slice(&tag);
    let count = count + 1;
    chunk[..2].copy_from_slice(&count.to_be_bytes());
    chunk[2..HEADER].copy_from_slice(&seq.to_be_bytes());
    if count == CHUNK {
        let closed = ov.take_chunk(&open);
        ov.put([prefix, &seq.to_be_bytes()].concat(), closed);
    }
    Ok(())
}

/// A chunk's entry count and last sequence number.
fn header(chunk: &[u8]) -> Result<(u16, u64), StoreError> {
    let bytes = chunk
        .get(..HEADER)
        .ok_or_else(|| corrupt("a short audit chunk"))?;
    let count = u16::from_be_bytes([bytes[0], bytes[1]]);
    let last = u64::from_be_bytes(bytes[2..].try_into().expect("8 bytes"));
    if count == 0 || count > CHUNK {
        return Err(corrupt("an audit chunk with a bad entry count"));
    }
    Ok((count, last))
}

fn corrupt(detail: &str) -> StoreError {
    StoreError::Corrupt {
        what: "proj",
        detail: format!("bad audit index: {detail}"),
    }
}

/// The entries of one chunk stored under suffix `suffix`, after sequence number `after`
/// (the previous chunk's last, or `None`), checked against the invariant.
fn decode(suffix: &[u8], v: &[u8], after: Option<u64>) -> Result<Vec<(u64, [u8; 2])>, StoreError> {
    let suffix: [u8; 8] = suffix
        .try_into()
        .map_err(|_| corrupt("a key of the wrong length"))?;
    let (count, last) = header(v)?;
    let closed = suffix != OPEN;
    if closed && (count != CHUNK || u64::from_be_bytes(suffix) != last) {
        return Err(corrupt(
            "a closed chunk that is not full or not named by its last",
        ));
    }
    let mut out = Vec::with_capacity(count as usize);
    let mut at = HEADER;
    let mut seq = 0u64;
    for i in 0..count {
        let (delta, n) =
            u64::decode_var(&v[at..]).ok_or_else(|| corrupt("a truncated audit entry"))?;
        at += n;
        let tag = v
            .get(at..at + 2)
            .ok_or_else(|| corrupt("a truncated audit entry"))?;
        at += 2;
        seq = match i {
            0 => delta,
            _ if delta == 0 => return Err(corrupt("an audit entry out of order")),
            _ => seq
                .checked_add(delta)
                .ok_or_else(|| corrupt("an audit entry past the end"))?,
        };
        if i == 0 && after.is_some_and(|a| seq <= a) {
            return Err(corrupt("audit chunks out of order"));
        }
        out.push((seq, [tag[0], tag[1]]));
    }
    if at != v.len() || seq != last {
        return Err(corrupt(
            "an audit chunk whose entries do not match its header",
        ));
    }
    Ok(out)
}

/// Sequence numbers in one audit index, ascending, starting at `from_seq`, each with its
/// `[action, outcome]` tag.
pub fn audit_seqs(
    proj: &dyn ProjectionStore,
    prefix: Vec<u8>,
    from_seq: u64,
) -> impl Iterator<Item = Result<(u64, [u8; 2]), StoreError>> + '_ {
    // The first chunk that can hold `from_seq` is the first whose last is at or after it.
    let start = [prefix.as_slice(), &from_seq.to_be_bytes()].concat();
    let n = prefix.len();
    let mut after = None;
    scan_from(proj, prefix, start, 64).flat_map(move |r| {
        let decoded = r.and_then(|(k, v)| decode(&k[n..], &v, after));
        match decoded {
            Ok(entries) => {
                after = entries.last().map(|e| e.0);
                entries
                    .into_iter()
                    .filter(|e| e.0 >= from_seq)
                    .map(Ok)
                    .collect::<Vec<_>>()
            }
            Err(e) => vec![Err(e)],
        }
    })
}

#[cfg(test)]
#[path = "audit_index_tests.rs"]
mod tests;
