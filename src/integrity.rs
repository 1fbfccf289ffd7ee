//! Whether the stored log is complete: the store is not trusted to know the log's length.
//!
//! sled's recovery treats a corrupt segment as a torn tail and drops it, so a store can
//! come back shorter than it was with nothing in it saying so. The ledger therefore
//! keeps two witnesses outside the log itself: its own head record (`DIR/head`, see
//! [`crate::store::head`], written after every durable batch) and the signed checkpoints
//! it issued. [`check_length`] refuses a log that ends before either, or whose event at
//! the head record's position is not the one the head names; `ledger::open` (and so
//! `serve`) and every `replay` command run it before anything else.
//!
//! [`Roots`] checks, during a full read of the log (`replay verify`), that every issued
//! checkpoint's root is the Merkle root of the log's own leaves at that size.
//!
//! **Invariant:** nothing here writes; a refusal names the last good sequence number
//! and what was expected.

use crate::event::SignedEvent;
use crate::merkle::{self, Hash};
use crate::store::head::{Head, HeadError};
use crate::store::{Backend, StoreError};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The store metadata name that says this ledger keeps a head record (set at the first
/// open by a version that writes one), so that a deleted head record is noticed.
pub const HEAD_MARKER: &str = "head-record";

/// Why the stored log cannot be trusted to be complete. Every variant refuses to start
/// (exit non-zero); none is retryable in-process.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Incomplete {
    /// The log ends before the head record: the store lost its tail.
    #[error("{} but the ledger's head record {path} says {head} events were durable (the last, event {last_expected}, with hash {hash}): events {len}..={last_expected} are lost; the last good sequence number is {}", ends(.len), last_good(.len), last_expected = .head - 1, path = .path.display())]
    EndsBeforeHead {
        len: u64,
        head: u64,
        hash: String,
        path: PathBuf,
    },
    /// The event at the head record's position is another event.
    #[error("event {seq} is not the event the head record {} names (its hash is {found}, the head record says {expected}): the log was altered at or before event {seq}; run `credledger replay verify` for the first bad event", .path.display())]
    HeadMismatch {
        seq: u64,
        found: String,
        expected: String,
        path: PathBuf,
    },
    /// The log ends before a signed checkpoint: the store lost events that were signed.
    #[error("{} but a signed checkpoint covers {size} events: events {len}..={} are lost; the last good sequence number is {}", ends(.len), .size - 1, last_good(.len))]
    EndsBeforeCheckpoint { len: u64, size: u64 },
    /// The head record is gone although this ledger keeps one.
    #[error("the head record {} is missing, but this ledger keeps one: the log's true length is unknown; restore the file from a backup (or run `credledger replay verify` to see what the log holds)", .path.display())]
    HeadMissing { path: PathBuf },
    /// The head record cannot be read.
    #[error(transparent)]
    Head(#[from] HeadError),
    /// The event at the head record's position does not decode.
    #[error("event {seq}, which the head record names, does not decode ({detail}); run `credledger replay verify`")]
    Undecodable { seq: u64, detail: String },
    /// Reading the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn ends(len: &u64) -> String {
    match *len {
        0 => "the log is empty".into(),
        n => format!("the log ends at event {} ({n} events)", n - 1),
    }
}

fn last_good(len: &u64) -> String {
    match *len {
        0 => "none".into(),
        n => (n - 1).to_string(),
    }
}

/// Checks that the log of `store`, `len` records long, reaches the head record `head`
/// and the latest signed checkpoint, and that its event `head.size - 1` is the one the
/// head record names. `head_required` says whether this ledger is known to keep a head
/// record (a missing one is then [`Incomplete::HeadMissing`]).
pub fn check_length(
    store: &dyn Backend,
    len: u64,
    head: Option<Head>,
    head_path: PathBuf,
    head_required: bool,
) -> Result<(), Incomplete> {
    match head {
        None if head_required => return Err(Incomplete::HeadMissing { path: head_path }),
        None => {}
        Some(h) if h.size > len => {
            return Err(Incomplete::EndsBeforeHead {
                len,
                head: h.size,
                hash: hex::encode(h.hash),
                path: head_path,
            })
        }
        Some(h) if h.size > 0 => {
            let seq = h.size - 1;
            let rec = store.read(seq)?.ok_or(Incomplete::EndsBeforeHead {
                len: seq,
                head: h.size,
                hash: hex::encode(h.hash),
                path: head_path.clone(),
            })?;
            let signed = SignedEvent::from_record(&rec).map_err(|e| Incomplete::Undecodable {
                seq,
                detail: e.to_string(),
            })?;
            if *signed.hash() != h.hash {
                return Err(Incomplete::HeadMismatch {
                    seq,
                    found: hex::encode(signed.hash()),
                    expected: hex::encode(h.hash),
                    path: head_path,
                });
            }
        }
        Some(_) => {}
    }
    if let Some((size, _)) = store.latest_checkpoint()? {
        if size > len {
            return Err(Incomplete::EndsBeforeCheckpoint { len, size });
        }
    }
    Ok(())
}

/// A checkpoint whose root is not the root of the log's leaves.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RootMismatch {
    pub size: u64,
    pub signed: String,
    pub log: String,
}

/// Follows the log's leaves (in order, from 0) and compares the Merkle root at each
/// issued checkpoint's size with the signed one. Memory: one hash per level.
pub struct Roots {
    frontier: Vec<(u8, Hash)>,
    size: u64,
    expected: BTreeMap<u64, Hash>,
    checked: u64,
    mismatches: Vec<RootMismatch>,
}

impl Roots {
    /// Expects the roots of `checkpoints` (size → signed root).
    pub fn new(checkpoints: impl IntoIterator<Item = (u64, Hash)>) -> Roots {
        Roots {
            frontier: Vec::new(),
            size: 0,
            expected: checkpoints.into_iter().collect(),
            checked: 0,
            mismatches: Vec::new(),
        }
    }

    /// Appends the next leaf (the record bytes at position `size`).
    pub fn push(&mut self, record: &[u8]) {
        let mut node = (0u8, merkle::leaf_hash(record));
        while let Some(&(level, left)) = self.frontier.last() {
            if level != node.0 {
                break;
            }
            self.frontier.pop();
            node = (level + 1, merkle::node_hash(&left, &node.1));
        }
        self.frontier.push(node);
        self.size += 1;
        if let Some(signed) = self.expected.get(&self.size) {
            let log = self.root();
            self.checked += 1;
            if log != *signed {
                self.mismatches.push(RootMismatch {
                    size: self.size,
                    signed: hex::encode(signed),
                    log: hex::encode(log),
                });
            }
        }
    }

    /// The Merkle root of the leaves pushed so far.
    pub fn root(&self) -> Hash {
        let mut it = self.frontier.iter().rev();
        let Some(&(_, mut acc)) = it.next() else {
            return merkle::empty_root();
        };
        for (_, left) in it {
            acc = merkle::node_hash(left, &acc);
        }
        acc
    }

    /// Checkpoints compared so far, and the ones whose root differed.
    pub fn finish(self) -> (u64, Vec<RootMismatch>) {
        (self.checked, self.mismatches)
    }
}

/// The first issued checkpoint (of those the log covers) whose note does not verify
/// under the key in force at its size: `chain` is the log's key chain, `(first sequence
/// number, key)` in order, as `replay::verify` reports it. Returns `(size, why)`.
pub fn bad_checkpoint_signature(
    checkpoints: &[crate::proof::SignedCheckpoint],
    chain: &[(u64, ed25519_dalek::VerifyingKey)],
    origin: &str,
    verified: u64,
) -> Option<(u64, String)> {
    for cp in checkpoints.iter().filter(|c| c.tree_size <= verified) {
        let Some((_, key)) = chain.iter().rev().find(|(from, _)| *from <= cp.tree_size) else {
            return Some((cp.tree_size, "no signing key is in force".into()));
        };
        if let Err(e) = crate::note::verify_checkpoint_with(&cp.note, &[(origin.to_string(), *key)])
        {
            return Some((
                cp.tree_size,
                format!(
                    "the signed checkpoint of size {} does not verify under the key in force ({e})",
                    cp.tree_size
                ),
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_match_the_reference_tree_at_every_size() {
        let mut reference = merkle::MemoryTree::new();
        let mut expected = Vec::new();
        for i in 0..70u32 {
            reference.push(&i.to_le_bytes());
            expected.push((reference.size(), reference.root()));
        }
        let mut wrong = expected.clone();
        wrong[40].1[0] ^= 1;
        let mut roots = Roots::new(wrong);
        for i in 0..70u32 {
            roots.push(&i.to_le_bytes());
            assert_eq!(roots.root(), expected[i as usize].1, "size {}", i + 1);
        }
        let (checked, bad) = roots.finish();
        assert_eq!(checked, 70);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].size, 41);
    }
}
