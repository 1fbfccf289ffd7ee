//! Proofs for outsiders: signed checkpoints, RFC 9162 inclusion and consistency proofs,
//! and the one-call "prove this event" answer. The HTTP layer and the CLI call these.
//!
//! The leaves of the tree are the stored record bytes of the events (`SignedEvent::
//! to_record`), leaf index = sequence number. The committer keeps the tree's perfect
//! subtree hashes in the projection store (see `projection`), so the tree covers exactly
//! the durable, projected events: its size is the projection watermark. Every read here
//! is `O(log n)` node reads (`O(log² n)` at worst for a proof).
//!
//! A checkpoint is a C2SP `tlog-checkpoint` body (origin, size, base64 root) in a C2SP
//! signed note, signed with the ledger's ed25519 key under the key name = origin.
//! Issued checkpoints are kept in the [`CheckpointStore`]. They are not a cache of the
//! log: a size signed before a signing-key rotation can no longer be signed once the old
//! key is gone, so they survive a projection rebuild.
//!
//! This module never holds a signing key: a [`CheckpointSigner`] signs for it (the
//! running ledger, whose key never leaves it, or an offline tool's key file), and a
//! [`LiveLog`] is what a running ledger offers: its store and its signer.
//!
//! **Invariant:** a checkpoint of size `n` is signed by the key in force after event
//! `n - 1`: the genesis key, or the new key of the last `signing_key_rotated` event below
//! `n`. A verifier that follows the key chain through those events can check it. If the
//! signer's key is not that key (a rotation is being committed, or a key file does not
//! belong to this ledger), nothing is signed.
//! **Invariant:** nothing here writes to the log; the only write is a new checkpoint, made
//! durable (insert-if-absent) before it is returned.

use crate::event::{Body, SignedEvent};
use crate::id::Id;
use crate::merkle::{self, Hash};
use crate::note::{self, Checkpoint, NoteError};
use crate::projection::{self, index, Nodes};
use crate::store::{Backend, CheckpointStore, LogStore, ProjectionStore, StoreError};
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::Serialize;
use std::sync::Arc;

/// Why a checkpoint or proof could not be produced. Each variant names its HTTP status.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The leaf index is not below the tree size: 400, the request contradicts itself.
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    /// The old size is larger than the new size: 400, a log never shrinks.
    #[error("old tree size {old} is larger than new tree size {new}")]
    OldAfterNew { old: u64, new: u64 },
    /// The old size is 0: 422. RFC 9162 defines no consistency proof from the empty tree,
    /// which is a prefix of every tree; a client holding no checkpoint has nothing to check.
    #[error("old tree size must be at least 1 (RFC 9162 defines no proof from the empty tree)")]
    OldSizeZero,
    /// The requested tree size is larger than the tree: 404, ask again later or for a
    /// smaller size.
    #[error("tree size {size} is larger than the current tree ({tree_size} leaves)")]
    SizeTooLarge { size: u64, tree_size: u64 },
    /// The event is not (yet) a leaf of the tree: 404.
    #[error("event {seq} is not in the tree (it has {tree_size} leaves)")]
    NoSuchEvent { seq: u64, tree_size: u64 },
    /// A signing-key rotation is being committed, so the current key does not yet sign
    /// the durable tree: 503, retry in a moment.
    #[error("a signing-key rotation is being committed; retry")]
    RotationInProgress,
    /// The signing key given does not sign this ledger at this size (an offline tool read
    /// a key file from another ledger, or one whose rotation was never finished): 500;
    /// start the server once to finish an interrupted rotation.
    #[error("the signing key is not this ledger's key at tree size {size} (expected public key {expected})")]
    WrongSigningKey { size: u64, expected: String },
    /// The log has no genesis event: 404, there is nothing to prove yet.
    #[error("the ledger is empty")]
    Empty,
    /// A stored event or checkpoint does not decode: 500; run `credledger replay verify`.
    #[error("the log is inconsistent at event {seq}: {detail} (run `credledger replay verify`)")]
    Integrity { seq: u64, detail: String },
    /// The checkpoint could not be signed (an invalid origin): 500.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// Storage failed: 500.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Signs checkpoints for [`issue_checkpoint`]. The running ledger implements it over its
/// own key (which never leaves it); offline tools use the key file's [`SigningKey`].
pub trait CheckpointSigner {
    /// The public key this signer signs with now.
    fn public_key(&self) -> VerifyingKey;

    /// Signs `cp` as a C2SP note under the key name `cp.origin`, if the key held now is
    /// `expected` (the key in force at `cp.size`); `None` if it is another key.
    fn sign_checkpoint(
        &self,
        cp: &Checkpoint,
        expected: &VerifyingKey,
    ) -> Result<Option<String>, NoteError>;
}

impl CheckpointSigner for SigningKey {
    fn public_key(&self) -> VerifyingKey {
        self.verifying_key()
    }

    fn sign_checkpoint(
        &self,
        cp: &Checkpoint,
        expected: &VerifyingKey,
    ) -> Result<Option<String>, NoteError> {
        if self.verifying_key() != *expected {
            return Ok(None);
        }
        note::sign_checkpoint(cp, &cp.origin, self).map(Some)
    }
}

/// A running ledger as the proof functions see it: its store and the signer of its
/// checkpoints, whose key may be mid-rotation (so [`checkpoint`] waits briefly).
pub trait LiveLog: CheckpointSigner {
    /// The ledger's store.
    fn backend(&self) -> &dyn Backend;
}

impl<T: CheckpointSigner + ?Sized> CheckpointSigner for Arc<T> {
    fn public_key(&self) -> VerifyingKey {
        (**self).public_key()
    }
    fn sign_checkpoint(
        &self,
        cp: &Checkpoint,
        expected: &VerifyingKey,
    ) -> Result<Option<String>, NoteError> {
        (**self).sign_checkpoint(cp, expected)
    }
}

impl<T: LiveLog + ?Sized> LiveLog for Arc<T> {
    fn backend(&self) -> &dyn Backend {
        (**self).backend()
    }
}

/// A signed checkpoint: the tree size and root it commits to, and the signed note.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SignedCheckpoint {
    pub tree_size: u64,
    #[serde(with = "b64::hash")]
    pub root: Hash,
    /// The C2SP signed note (checkpoint body, blank line, signature lines): as issued,
    /// or with the witness cosignatures appended ([`cosigned::cosigned`]).
    pub note: String,
    /// How many witness cosignatures `note` carries (0 for a note as issued).
    pub cosignatures: usize,
}

/// An RFC 9162 inclusion proof (field names after RFC 6962 `get-proof-by-hash`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InclusionProof {
    pub leaf_index: u64,
    pub tree_size: u64,
    /// PATH (RFC 9162 §2.1.3.1), deepest sibling first, base64.
    #[serde(with = "b64::hashes")]
    pub audit_path: Vec<Hash>,
}

/// An RFC 9162 consistency proof (output name after RFC 6962 `get-sth-consistency`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConsistencyProof {
    pub old_size: u64,
    pub new_size: u64,
    /// PROOF (RFC 9162 §2.1.4.1), base64.
    #[serde(with = "b64::hashes")]
    pub consistency: Vec<Hash>,
}

/// Everything a third party needs to check one event against a signed checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EventProof {
    pub seq: u64,
    /// The exact leaf bytes (the stored record), base64.
    #[serde(with = "b64::bytes")]
    pub leaf: Vec<u8>,
    pub leaf_index: u64,
    pub tree_size: u64,
    #[serde(with = "b64::hashes")]
    pub audit_path: Vec<Hash>,
    /// The signed checkpoint note of `tree_size`.
    pub checkpoint: String,
}

/// The number of leaves in the tree (= events durable and projected).
pub fn tree_size(proj: &dyn ProjectionStore) -> Result<u64, ProofError> {
    Ok(projection::watermark(proj)?)
}

/// The tree head of the first `size` leaves.
pub fn root(proj: &dyn ProjectionStore, size: u64) -> Result<Hash, ProofError> {
    check_size(proj, size)?;
    Ok(merkle::root(size, &Nodes(proj))?)
}

fn check_size(proj: &dyn ProjectionStore, size: u64) -> Result<(), ProofError> {
    let tree_size = tree_size(proj)?;
    if size > tree_size {
        return Err(ProofError::SizeTooLarge { size, tree_size });
    }
    Ok(())
}

fn from_merkle(e: merkle::TreeError<StoreError>) -> ProofError {
    match e {
        merkle::TreeError::IndexOutOfRange { index, size } => {
            ProofError::IndexOutOfRange { index, size }
        }
        merkle::TreeError::OldAfterNew { old, new } => ProofError::OldAfterNew { old, new },
        merkle::TreeError::OldSizeZero => ProofError::OldSizeZero,
        merkle::TreeError::InvalidRange { start, end } => ProofError::Integrity {
            seq: start,
            detail: format!("inverted subtree range [{start}, {end})"),
        },
        merkle::TreeError::Reader(e) => ProofError::Store(e),
    }
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves.
pub fn inclusion(
    proj: &dyn ProjectionStore,
    index: u64,
    size: u64,
) -> Result<InclusionProof, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    check_size(proj, size)?;
    let audit_path = merkle::inclusion_proof(index, size, &Nodes(proj)).map_err(from_merkle)?;
    Ok(InclusionProof {
        leaf_index: index,
        tree_size: size,
        audit_path,
    })
}

/// The consistency proof between the trees of `old` and `new` leaves.
pub fn consistency(
    proj: &dyn ProjectionStore,
    old: u64,
    new: u64,
) -> Result<ConsistencyProof, ProofError> {
    if old > new {
        return Err(ProofError::OldAfterNew { old, new });
    }
    if old == 0 {
        return Err(ProofError::OldSizeZero);
    }
    check_size(proj, new)?;
    let consistency = merkle::consistency_proof(old, new, &Nodes(proj)).map_err(from_merkle)?;
    Ok(ConsistencyProof {
        old_size: old,
        new_size: new,
        consistency,
    })
}

/// Reads and decodes the stored event at `seq`.
pub fn event(log: &dyn LogStore, seq: u64) -> Result<SignedEvent, ProofError> {
    let rec = log.read(seq)?.ok_or(ProofError::Integrity {
        seq,
        detail: "the event is missing".into(),
    })?;
    SignedEvent::from_record(&rec).map_err(|e| ProofError::Integrity {
        seq,
        detail: e.to_string(),
    })
}

/// The origin (checkpoint key name) and genesis key, from event 0.
pub fn genesis(log: &dyn LogStore) -> Result<(String, VerifyingKey), ProofError> {
    if log.next_seq()? == 0 {
        return Err(ProofError::Empty);
    }
    let e = event(log, 0)?;
    let Body::LedgerInitialized {
        origin,
        signing_key,
    } = &e.event().body
    else {
        return Err(ProofError::Integrity {
            seq: 0,
            detail: "event 0 is not ledger_initialized".into(),
        });
    };
    let key = VerifyingKey::from_bytes(signing_key).map_err(|_| ProofError::Integrity {
        seq: 0,
        detail: "the genesis key is not an ed25519 key".into(),
    })?;
    Ok((origin.clone(), key))
}

/// The sequence numbers of the `signing_key_rotated` events below `size`, ascending. Read
/// from the audit index of ledger-wide events (genesis and key rotations only), so it
/// costs one read per such event.
pub fn rotations(proj: &dyn ProjectionStore, size: u64) -> Result<Vec<u64>, ProofError> {
    let action = Body::ACTIONS
        .iter()
        .position(|a| *a == "signing_key_rotated")
        .expect("a listed action") as u8;
    let prefix = projection::audit_prefix(Id::NIL, index::TIME, &[]);
    let mut out = Vec::new();
    for entry in projection::audit_seqs(proj, prefix, 0) {
        let (seq, [tag_action, _]) = entry?;
        if seq >= size {
            break;
        }
        if tag_action == action {
            out.push(seq);
        }
    }
    Ok(out)
}

/// The key chain below `size`: `(first sequence number it signs, key)`, genesis first.
pub fn key_chain(store: &dyn Backend, size: u64) -> Result<Vec<(u64, VerifyingKey)>, ProofError> {
    let (_, genesis) = genesis(store)?;
    let mut chain = vec![(0, genesis)];
    for seq in rotations(store, size)? {
        let e = event(store, seq)?;
        let Body::SigningKeyRotated { new_key, .. } = &e.event().body else {
            return Err(ProofError::Integrity {
                seq,
                detail: "the audit index points at a non-rotation".into(),
            });
        };
        let key = VerifyingKey::from_bytes(new_key).map_err(|_| ProofError::Integrity {
            seq,
            detail: "the new signing key is not an ed25519 key".into(),
        })?;
        chain.push((seq + 1, key));
    }
    Ok(chain)
}

/// The signing key in force after `size` events (the one that signs a checkpoint of
/// that size).
pub fn key_at(store: &dyn Backend, size: u64) -> Result<VerifyingKey, ProofError> {
    Ok(key_chain(store, size)?
        .last()
        .expect("the chain starts with the genesis key")
        .1)
}

/// Parses a stored note, checking that it is the checkpoint of `size`.
pub fn parse_stored(size: u64, note: &[u8]) -> Result<SignedCheckpoint, ProofError> {
    let corrupt = |detail: String| {
        ProofError::Store(StoreError::Corrupt {
            what: "checkpoints",
            detail,
        })
    };
    let note = String::from_utf8(note.to_vec())
        .map_err(|_| corrupt(format!("checkpoint {size} is not UTF-8")))?;
    let body = note
        .split_once("\n\n")
        .map(|(b, _)| format!("{b}\n"))
        .unwrap_or_default();
    let cp =
        Checkpoint::parse_body(&body).map_err(|e| corrupt(format!("checkpoint {size}: {e}")))?;
    if cp.size != size {
        return Err(corrupt(format!(
            "checkpoint stored under size {size} says {}",
            cp.size
        )));
    }
    Ok(SignedCheckpoint {
        tree_size: size,
        root: cp.root,
        note,
        cosignatures: 0,
    })
}

/// The stored checkpoint of `size`, if one was issued.
pub fn stored_checkpoint(
    cps: &dyn CheckpointStore,
    size: u64,
) -> Result<Option<SignedCheckpoint>, ProofError> {
    cps.checkpoint(size)?
        .map(|v| parse_stored(size, &v))
        .transpose()
}

/// Every issued checkpoint, by ascending size.
pub fn stored_checkpoints(cps: &dyn CheckpointStore) -> Result<Vec<SignedCheckpoint>, ProofError> {
    cps.checkpoints()?
        .into_iter()
        .map(|(size, v)| parse_stored(size, &v))
        .collect()
}

/// The issued checkpoint with the largest tree size, if any.
pub fn latest_checkpoint(
    cps: &dyn CheckpointStore,
) -> Result<Option<SignedCheckpoint>, ProofError> {
    cps.latest_checkpoint()?
        .map(|(size, v)| parse_stored(size, &v))
        .transpose()
}

/// Signs (or returns the already issued) checkpoint of the current tree with `signer`,
/// which must hold the key in force at the current size (else
/// [`ProofError::WrongSigningKey`]). One attempt; a running ledger uses [`checkpoint`].
pub fn issue_checkpoint<S: CheckpointSigner + ?Sized>(
    store: &dyn Backend,
    signer: &S,
) -> Result<SignedCheckpoint, ProofError> {
    let size = tree_size(store)?;
    if let Some(cp) = stored_checkpoint(store, size)? {
        return Ok(cp);
    }
    let expected = key_at(store, size)?;
    let (origin, _) = genesis(store)?;
    let root = merkle::root(size, &Nodes(store))?;
    let cp = Checkpoint {
        origin,
        size,
        root,
        extensions: vec![],
    };
    let Some(note) = signer.sign_checkpoint(&cp, &expected)? else {
        return Err(ProofError::WrongSigningKey {
            size,
            expected: hex::encode(expected.as_bytes()),
        });
    };
    let stored = store.insert_checkpoint_durable(size, note.as_bytes())?;
    // Each tenant whose tree grew gets its own checkpoint with the global one.
    tenant::issue_tenant_checkpoints(store, signer, &expected)?;
    parse_stored(size, &stored)
}

/// [`issue_checkpoint`] with a key file's key, for offline tools.
pub fn checkpoint_with_key(
    store: &dyn Backend,
    sk: &SigningKey,
) -> Result<SignedCheckpoint, ProofError> {
    issue_checkpoint(store, sk)
}

/// Signs (or returns the already issued) checkpoint of a running ledger's current tree.
/// During a signing-key rotation it waits briefly for the rotation to be durable.
pub fn checkpoint<L: LiveLog + ?Sized>(ledger: &L) -> Result<SignedCheckpoint, ProofError> {
    const ATTEMPTS: u32 = 200;
    for _ in 0..ATTEMPTS {
        match issue_checkpoint(ledger.backend(), ledger) {
            Err(ProofError::WrongSigningKey { .. }) => {
                std::thread::sleep(std::time::Duration::from_millis(5))
            }
            other => return other,
        }
    }
    Err(ProofError::RotationInProgress)
}

/// Proves event `seq` against `cp`: its leaf bytes and inclusion proof.
pub fn prove_event_at(
    store: &dyn Backend,
    cp: &SignedCheckpoint,
    seq: u64,
) -> Result<EventProof, ProofError> {
    if seq >= cp.tree_size {
        return Err(ProofError::NoSuchEvent {
            seq,
            tree_size: cp.tree_size,
        });
    }
    let leaf = store.read(seq)?.ok_or(ProofError::Integrity {
        seq,
        detail: "the event is missing".into(),
    })?;
    let p = inclusion(store, seq, cp.tree_size)?;
    Ok(EventProof {
        seq,
        leaf,
        leaf_index: seq,
        tree_size: cp.tree_size,
        audit_path: p.audit_path,
        checkpoint: cp.note.clone(),
    })
}

/// Proves event `seq` against a fresh checkpoint of a running ledger's current tree.
pub fn prove_event<L: LiveLog + ?Sized>(ledger: &L, seq: u64) -> Result<EventProof, ProofError> {
    let cp = checkpoint(ledger)?;
    prove_event_at(ledger.backend(), &cp, seq)
}

/// The C2SP verifier key (`origin+keyid+base64`) of a running ledger's current signing
/// key, which signs new checkpoints.
pub fn verifier_key<L: LiveLog + ?Sized>(ledger: &L) -> Result<String, ProofError> {
    let (origin, _) = genesis(ledger.backend())?;
    Ok(note::verifier_key(&origin, &ledger.public_key())?)
}

/// The C2SP verifier key of the genesis signing key: the ledger's identity, from which a
/// verifier follows the key chain.
pub fn genesis_verifier_key(log: &dyn LogStore) -> Result<String, ProofError> {
    let (origin, key) = genesis(log)?;
    Ok(note::verifier_key(&origin, &key)?)
}

pub mod b64;
pub mod cosigned;
pub mod side;
pub mod tenant;

#[cfg(test)]
mod tests;
