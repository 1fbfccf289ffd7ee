//! Writing a bundle: the header, the checkpoint, the anchors, the frontier, the
//! consistency proof, the events of the range and the end record, in that order.
//!
//! **Invariant:** an export writes only events (ciphertexts at most) and public keys,
//! and fails rather than skip an event missing from the log.

use super::format::{EventOut, Header, KeyEntry, Line};
use super::FORMAT;
use crate::merkle::{self, NodeReader};
use crate::note;
use crate::projection::Nodes;
use crate::proof::{self, b64, ProofError, SignedCheckpoint};
use crate::store::{records, Backend, StoreError};
use serde::Serialize;
use std::io::Write;

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The range is empty or beyond the tree: 400 (CLI exit 2), fix `--from`/`--to`.
    #[error("cannot export events [{from}, {to}) of a tree of {tree_size} events (need from < to <= tree size)")]
    Range { from: u64, to: u64, tree_size: u64 },
    /// A proof or checkpoint could not be produced (see [`ProofError`]).
    #[error(transparent)]
    Proof(#[from] ProofError),
    /// Reading the log failed: 500.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing the bundle failed (disk full, closed pipe): CLI exit 2.
    #[error("writing the bundle: {0}")]
    Io(#[from] std::io::Error),
}

/// What an export wrote.
#[derive(Clone, Debug, Serialize)]
pub struct ExportSummary {
    pub origin: String,
    pub from: u64,
    pub to: u64,
    pub tree_size: u64,
    pub events: u64,
    /// The genesis verifier key, to pass to `verify-bundle --key`.
    pub verifier_key: String,
}

fn write_line(out: &mut impl Write, v: &impl Serialize) -> Result<(), ExportError> {
    serde_json::to_writer(&mut *out, v).map_err(std::io::Error::from)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// Writes a bundle of events `[from, to)` (`to` defaults to the checkpoint's size), tied
/// to `cp`, which must be a checkpoint of this store (e.g. from `proof::checkpoint`).
pub fn export(
    store: &dyn Backend,
    cp: &SignedCheckpoint,
    from: u64,
    to: Option<u64>,
    out: &mut impl Write,
) -> Result<ExportSummary, ExportError> {
    let n = cp.tree_size;
    let to = to.unwrap_or(n);
    if from >= to || to > n {
        return Err(ExportError::Range {
            from,
            to,
            tree_size: n,
        });
    }
    let (origin, genesis) = proof::genesis(store)?;
    let chain = proof::key_chain(store, n)?;
    let verifier_key = note::verifier_key(&origin, &genesis).map_err(ProofError::from)?;
    let header = Header {
        format: FORMAT.into(),
        origin: origin.clone(),
        from,
        to,
        tree_size: n,
        genesis_key: hex::encode(genesis.as_bytes()),
        verifier_key: verifier_key.clone(),
        keys: chain
            .iter()
            .map(|(s, k)| KeyEntry {
                from_seq: *s,
                key: hex::encode(k.as_bytes()),
            })
            .collect(),
    };
    write_line(out, &header)?;
    write_line(
        out,
        &Line::Checkpoint {
            note: cp.note.clone(),
        },
    )?;
    for seq in anchor_seqs(from, to, &header.keys) {
        let leaf = proof::event(store, seq)?.to_record();
        let audit_path = proof::inclusion(store, seq, n)?.audit_path;
        write_line(
            out,
            &Line::Anchor {
                seq,
                leaf,
                audit_path,
            },
        )?;
    }
    if from > 0 {
        let nodes = Nodes(store);
        let hashes = merkle::frontier_positions(from)
            .into_iter()
            .map(|(l, i)| nodes.node(l, i))
            .collect::<Result<Vec<_>, _>>()?;
        write_line(out, &Line::Frontier { hashes })?;
    }
    let consistency = if to < n {
        proof::consistency(store, to, n)?.consistency
    } else {
        vec![]
    };
    write_line(
        out,
        &Line::Consistency {
            old_size: to,
            new_size: n,
            consistency,
        },
    )?;
    let mut expected = from;
    for r in records(store, from) {
        let (seq, rec) = r?;
        if seq >= to {
            break;
        }
        if seq != expected {
            return Err(ProofError::Integrity {
                seq: expected,
                detail: "the event is missing from the log".into(),
            }
            .into());
        }
        write_line(
            out,
            &EventOut {
                kind: "event",
                seq,
                leaf: b64::encode(&rec),
            },
        )?;
        expected += 1;
    }
    if expected != to {
        return Err(ProofError::Integrity {
            seq: expected,
            detail: "the event is missing from the log".into(),
        }
        .into());
    }
    write_line(out, &Line::End { events: to - from })?;
    out.flush()?;
    Ok(ExportSummary {
        origin,
        from,
        to,
        tree_size: n,
        events: to - from,
        verifier_key,
    })
}

/// The anchors a bundle of `[from, to)` carries: event 0 (when `from > 0`) and every
/// rotation event (the one before each key's `from_seq`) outside the range.
pub(super) fn anchor_seqs(from: u64, to: u64, keys: &[KeyEntry]) -> Vec<u64> {
    let outside = |s: &u64| *s < from || *s >= to;
    let mut seqs: Vec<u64> = if from > 0 { vec![0] } else { vec![] };
    seqs.extend(keys.iter().skip(1).map(|k| k.from_seq - 1).filter(outside));
    seqs.sort_unstable();
    seqs.dedup();
    seqs
}
