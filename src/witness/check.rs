//! The witness's one rule, as a pure function: may a checkpoint be cosigned,
//! given the latest checkpoint cosigned for its origin?
//!
//! **Invariant:** [`check`] accepts a new tree head only if it provably
//! extends the current one: the request's `old` size names the current size,
//! and either the sizes are equal and so are the roots (the same checkpoint,
//! cosigned again), or an RFC 9162 consistency proof from the current head
//! to the new one verifies. So once a head is cosigned, no smaller tree
//! (rollback) and no tree that does not contain it (fork) is ever cosigned.
//! The first head of an origin (no current head, `old` 0) is taken on trust,
//! as the spec says; a size-0 head must have the empty tree's root.
//!
//! The order of the checks follows c2sp.org/tlog-witness, so each refusal
//! maps to the status the spec gives it.

use crate::merkle::{self, Hash, VerifyError};

/// A tree size and its root hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeHead {
    /// The number of leaves.
    pub size: u64,
    /// The RFC 9162 root hash.
    pub root: Hash,
}

/// Why a checkpoint may not be cosigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The request's old size is above the checkpoint's size (400).
    #[error("old size {old} is larger than the checkpoint size {new}")]
    OldAfterNew {
        /// The request's old size.
        old: u64,
        /// The checkpoint's size.
        new: u64,
    },
    /// The request's old size is not the size of the latest cosigned
    /// checkpoint (409 with `current`): the client must retry with a proof
    /// from `current`. A checkpoint smaller than `current` (a rollback) can
    /// only ever get this answer or [`Refusal::OldAfterNew`].
    #[error("old size does not match the witness's latest size {current}")]
    SizeMismatch {
        /// The witness's latest cosigned size for the origin (0 if none).
        current: u64,
    },
    /// Same size as the latest cosigned checkpoint, another root (409): a
    /// fork, evidence of log misbehaviour.
    #[error("the checkpoint has size {size} like the latest cosigned one, but another root")]
    RootMismatch {
        /// The shared size.
        size: u64,
    },
    /// The old size is 0 but proof lines were sent (400): the spec requires
    /// an empty proof from the empty tree.
    #[error("the consistency proof must be empty when the old size is 0")]
    ProofFromEmpty,
    /// The consistency proof does not verify (422): a client bug, or a
    /// checkpoint from another history (a fork) signed by the log's key.
    #[error("the consistency proof does not verify: {0}")]
    BadProof(VerifyError),
    /// A size-0 checkpoint whose root is not the empty tree's (422).
    #[error("a checkpoint of size 0 must have the empty tree's root")]
    BadEmptyRoot,
}

/// Decides whether the tree head `new` may be cosigned, given the latest
/// cosigned head `current` of its origin, the request's `old` size and
/// consistency `proof`.
pub fn check(
    current: Option<&TreeHead>,
    old: u64,
    proof: &[Hash],
    new: &TreeHead,
) -> Result<(), Refusal> {
    if old > new.size {
        return Err(Refusal::OldAfterNew { old, new: new.size });
    }
    let current_size = current.map_or(0, |c| c.size);
    if old != current_size {
        return Err(Refusal::SizeMismatch {
            current: current_size,
        });
    }
    if old == 0 && !proof.is_empty() {
        return Err(Refusal::ProofFromEmpty);
    }
    if new.size == 0 && new.root != merkle::empty_root() {
        return Err(Refusal::BadEmptyRoot);
    }
    match current {
        // The same size: only the same root may be cosigned again.
        Some(c) if c.size == new.size => {
            if !proof.is_empty() {
                return Err(Refusal::BadProof(VerifyError::ProofTooLong));
            }
            if c.root != new.root {
                return Err(Refusal::RootMismatch { size: c.size });
            }
            Ok(())
        }
        // The empty tree is a prefix of every tree.
        None => Ok(()),
        Some(c) if c.size == 0 => Ok(()),
        Some(c) => merkle::verify_consistency(c.size, new.size, &c.root, &new.root, proof)
            .map_err(Refusal::BadProof),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{consistency_proof, root, MemoryTree};

    fn tree(n: u64, salt: u8) -> MemoryTree {
        let mut t = MemoryTree::new();
        for i in 0..n {
            t.push(&[salt, i as u8]);
        }
        t
    }

    fn head(t: &MemoryTree, size: u64) -> TreeHead {
        TreeHead {
            size,
            root: root(size, t).unwrap(),
        }
    }

    #[test]
    fn growth_with_a_valid_proof_is_accepted() {
        let t = tree(20, 0);
        for (old, new) in [(1, 2), (3, 7), (4, 8), (7, 20), (19, 20)] {
            let proof = consistency_proof(old, new, &t).unwrap();
            check(Some(&head(&t, old)), old, &proof, &head(&t, new)).unwrap();
        }
    }

    #[test]
    fn the_first_checkpoint_is_taken_on_trust() {
        let t = tree(5, 0);
        check(None, 0, &[], &head(&t, 5)).unwrap();
        let empty = TreeHead {
            size: 0,
            root: merkle::empty_root(),
        };
        check(None, 0, &[], &empty).unwrap();
        check(Some(&empty), 0, &[], &head(&t, 5)).unwrap();
        assert_eq!(
            check(
                None,
                0,
                &[],
                &TreeHead {
                    size: 0,
                    root: [1; 32]
                }
            ),
            Err(Refusal::BadEmptyRoot)
        );
        assert_eq!(
            check(None, 0, &[[0; 32]], &head(&t, 5)),
            Err(Refusal::ProofFromEmpty)
        );
    }

    #[test]
    fn the_same_checkpoint_is_cosigned_again_but_not_a_fork_of_it() {
        let t = tree(9, 0);
        let f = tree(9, 1);
        check(Some(&head(&t, 9)), 9, &[], &head(&t, 9)).unwrap();
        assert_eq!(
            check(Some(&head(&t, 9)), 9, &[], &head(&f, 9)),
            Err(Refusal::RootMismatch { size: 9 })
        );
        assert_eq!(
            check(Some(&head(&t, 9)), 9, &[[0; 32]], &head(&t, 9)),
            Err(Refusal::BadProof(VerifyError::ProofTooLong))
        );
    }

    #[test]
    fn a_stale_old_size_gets_the_current_size() {
        let t = tree(12, 0);
        let cur = head(&t, 8);
        let proof = consistency_proof(5, 12, &t).unwrap();
        assert_eq!(
            check(Some(&cur), 5, &proof, &head(&t, 12)),
            Err(Refusal::SizeMismatch { current: 8 })
        );
        assert_eq!(
            check(Some(&cur), 0, &[], &head(&t, 12)),
            Err(Refusal::SizeMismatch { current: 8 })
        );
        assert_eq!(
            check(None, 3, &proof, &head(&t, 12)),
            Err(Refusal::SizeMismatch { current: 0 })
        );
    }

    #[test]
    fn rollbacks_are_refused() {
        let t = tree(12, 0);
        let cur = head(&t, 8);
        // With old = the current size, the request contradicts itself.
        assert_eq!(
            check(Some(&cur), 8, &[], &head(&t, 5)),
            Err(Refusal::OldAfterNew { old: 8, new: 5 })
        );
        // With any old at or below the smaller size, old is stale.
        let proof = consistency_proof(3, 5, &t).unwrap();
        assert_eq!(
            check(Some(&cur), 3, &proof, &head(&t, 5)),
            Err(Refusal::SizeMismatch { current: 8 })
        );
    }

    #[test]
    fn a_fork_with_its_own_valid_proof_is_refused() {
        let t = tree(16, 0);
        let f = tree(16, 1);
        let cur = head(&t, 6);
        let fork_proof = consistency_proof(6, 16, &f).unwrap();
        assert!(matches!(
            check(Some(&cur), 6, &fork_proof, &head(&f, 16)),
            Err(Refusal::BadProof(_))
        ));
        // The real history's proof does not prove the fork either.
        let proof = consistency_proof(6, 16, &t).unwrap();
        assert!(matches!(
            check(Some(&cur), 6, &proof, &head(&f, 16)),
            Err(Refusal::BadProof(_))
        ));
        assert!(matches!(
            check(Some(&cur), 6, &proof[1..], &head(&t, 16)),
            Err(Refusal::BadProof(_))
        ));
    }
}
