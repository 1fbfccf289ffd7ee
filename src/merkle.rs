//! RFC 9162 (RFC 6962) Merkle tree hashing, incremental appends, and proofs.
//!
//! This module owns the log's Merkle tree arithmetic: the leaf and interior
//! node hashes, the tree head (MTH) of any prefix of the log, inclusion proofs
//! (PATH, RFC 9162 §2.1.3.1), consistency proofs (SUBPROOF, §2.1.4.1), and
//! their pure verifiers (§2.1.3.2 and §2.1.4.2). It does no I/O of its own.
//!
//! # Storage model
//!
//! The tree is persisted as *perfect subtree* hashes. Node `(level, index)` is
//! the MTH of the `2^level` leaves `[index * 2^level, (index + 1) * 2^level)`,
//! so level 0 holds the leaf hashes. A node exists once all of its leaves have
//! been appended, and it never changes afterwards. The caller stores the nodes
//! that [`append`] returns and serves them back through [`NodeReader`].
//!
//! # Invariants
//!
//! - Leaf hashes are `SHA-256(0x00 || leaf)` and interior hashes are
//!   `SHA-256(0x01 || left || right)`, so a leaf can never be confused with an
//!   interior node.
//! - Every function here asks its reader only for *complete* subtrees that lie
//!   inside the tree size it was given, so a reader that holds every node
//!   returned by [`append`] for leaves `0..size` can answer every request.
//! - Asking about a tree size larger than the number of leaves actually stored
//!   is the caller's mistake; the reader then sees requests for nodes it does
//!   not have, and whatever it returns (usually an error) is passed through.
//! - Reads are `O(log n)` for [`append`] and [`root`], and `O(log² n)` at worst
//!   for proofs; nothing here walks the leaves.

use std::collections::HashMap;

use sha2::{Digest, Sha256};
use thiserror::Error;

/// A SHA-256 digest: a leaf hash, an interior node hash, or a tree head.
pub type Hash = [u8; 32];

/// The domain-separation prefix of a leaf hash.
const LEAF_PREFIX: u8 = 0x00;

/// The domain-separation prefix of an interior node hash.
const NODE_PREFIX: u8 = 0x01;

/// Returns the RFC 6962 leaf hash `SHA-256(0x00 || leaf)`.
pub fn leaf_hash(leaf: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([LEAF_PREFIX]);
    h.update(leaf);
    h.finalize().into()
}

/// Returns the RFC 6962 interior node hash `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([NODE_PREFIX]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Returns the tree head of the empty tree, `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Read access to stored perfect-subtree hashes.
///
/// Implementations return the hash of node `(level, index)`, which covers
/// leaves `[index * 2^level, (index + 1) * 2^level)`. This module only ever
/// asks for nodes that are complete within the tree size its caller passed in.
pub trait NodeReader {
    /// The error a failed read produces; it is handed back to the caller
    /// unchanged (wrapped in [`ProofError::Reader`] where proofs are built).
    type Error;

    /// Returns the stored hash of node `(level, index)`.
    fn node(&self, level: u8, index: u64) -> Result<Hash, Self::Error>;
}

impl<R: NodeReader + ?Sized> NodeReader for &R {
    type Error = R::Error;

    fn node(&self, level: u8, index: u64) -> Result<Hash, Self::Error> {
        (**self).node(level, index)
    }
}

/// Why a proof or subtree hash could not be produced.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProofError<E> {
    /// The leaf index is not inside the tree. The caller asked for a proof
    /// that cannot exist; report it to whoever supplied the index (for an
    /// API, a 4xx-style "not found / out of range" answer).
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange {
        /// The requested leaf index.
        index: u64,
        /// The tree size the proof was requested for.
        size: u64,
    },
    /// The old tree size is larger than the new one. Consistency only runs
    /// forwards in time; report the bad request to whoever supplied it.
    #[error("old tree size {old} is larger than new tree size {new}")]
    OldAfterNew {
        /// The requested old size.
        old: u64,
        /// The requested new size.
        new: u64,
    },
    /// The old tree size is 0. RFC 9162 defines consistency proofs only for
    /// old size ≥ 1; the empty tree is a prefix of every tree, so a caller
    /// holding no earlier tree head has nothing to prove and should skip
    /// the proof instead of asking for one.
    #[error("old tree size must be ≥ 1")]
    OldSizeZero,
    /// A subtree range had `start > end`. This is a caller bug; fix the
    /// caller rather than retrying.
    #[error("subtree range [{start}, {end}) is inverted")]
    InvalidRange {
        /// The first leaf of the range.
        start: u64,
        /// One past the last leaf of the range.
        end: u64,
    },
    /// The node reader failed. Handle it as the storage layer's own error
    /// (retry transient failures; a missing node means the tree size passed
    /// in was larger than the stored tree, or the store lost data).
    #[error("node reader failed: {0}")]
    Reader(#[source] E),
}

/// Why a proof did not verify. Every variant means the same thing to a
/// caller that only wants a yes or no: the claim is not proven and must not
/// be trusted. The variants differ only to make logs and alerts precise.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// The claimed leaf index is not below the claimed tree size. Reject the
    /// proof; the sender's claim is self-contradictory.
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange {
        /// The claimed leaf index.
        index: u64,
        /// The claimed tree size.
        size: u64,
    },
    /// The claimed old size is larger than the claimed new size. Reject the
    /// proof; a log never shrinks.
    #[error("old tree size {old} is larger than new tree size {new}")]
    OldAfterNew {
        /// The claimed old size.
        old: u64,
        /// The claimed new size.
        new: u64,
    },
    /// The old size is 0, for which RFC 9162 defines no proof. A caller with
    /// no earlier tree head has nothing to check and should not call the
    /// verifier; anyone else should treat this as a rejection.
    #[error("old tree size must be ≥ 1")]
    OldSizeZero,
    /// The proof has more hashes than the sizes allow. Reject it.
    #[error("proof has too many hashes")]
    ProofTooLong,
    /// The proof has fewer hashes than the sizes require. Reject it.
    #[error("proof has too few hashes")]
    ProofTooShort,
    /// The recomputed tree head differs from the expected (new) root. Reject
    /// the proof; if the root came from a signed checkpoint and the proof
    /// from the same log, this is evidence of misbehaviour worth alerting on.
    #[error("recomputed root does not match the expected root")]
    RootMismatch,
    /// The recomputed old tree head differs from the expected old root.
    /// Reject the proof; if both roots are signed by the same log this is
    /// evidence of a fork and worth alerting on.
    #[error("recomputed old root does not match the expected old root")]
    OldRootMismatch,
}

/// Returns the largest power of two strictly smaller than `n` (`n ≥ 2`).
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// Computes the nodes that become complete when leaf number `size_before`
/// (0-based) with leaf hash `leaf` is appended to a tree of `size_before`
/// leaves.
///
/// The result starts with the leaf itself at level 0 and continues with each
/// parent that the new leaf completes, lowest level first; the caller stores
/// all of them. It reads one left sibling per completed parent, so at most
/// `log2(size_before + 1)` nodes, all complete within `size_before`.
///
/// To append several leaves before any of them is stored, read through an
/// [`Overlay`] (or call [`append_batch`]) so later leaves see the nodes that
/// earlier ones produced.
pub fn append<R: NodeReader + ?Sized>(
    size_before: u64,
    leaf: Hash,
    reader: &R,
) -> Result<Vec<(u8, u64, Hash)>, R::Error> {
    let mut nodes = vec![(0u8, size_before, leaf)];
    let mut hash = leaf;
    let mut index = size_before;
    let mut level = 0u8;
    // An odd index is a right child, so its parent is now complete.
    while index & 1 == 1 {
        let left = reader.node(level, index - 1)?;
        hash = node_hash(&left, &hash);
        index >>= 1;
        level += 1;
        nodes.push((level, index, hash));
    }
    Ok(nodes)
}

/// Appends `leaves` (leaf hashes) to a tree of `size_before` leaves and
/// returns every node that becomes complete, in the order they were produced.
///
/// Nodes produced by earlier leaves of the batch are visible to later ones
/// through an internal [`Overlay`], so the caller may store the whole result
/// at once.
pub fn append_batch<R: NodeReader + ?Sized>(
    size_before: u64,
    leaves: &[Hash],
    reader: &R,
) -> Result<Vec<(u8, u64, Hash)>, R::Error> {
    let mut overlay = Overlay::new(reader);
    let mut out = Vec::with_capacity(leaves.len() * 2);
    for (offset, leaf) in (0u64..).zip(leaves) {
        out.extend(overlay.append(size_before + offset, *leaf)?);
    }
    Ok(out)
}

/// A reader that serves nodes written earlier in the same batch before
/// falling back to the underlying store.
///
/// Use it when several leaves are appended before the store is updated:
/// call [`Overlay::append`] for each leaf in order, then persist
/// [`Overlay::into_pending`] (or the concatenated results of each append).
#[derive(Debug)]
pub struct Overlay<'a, R: ?Sized> {
    base: &'a R,
    pending: HashMap<(u8, u64), Hash>,
}

impl<'a, R: NodeReader + ?Sized> Overlay<'a, R> {
    /// Creates an overlay with no pending nodes on top of `base`.
    pub fn new(base: &'a R) -> Self {
        Self {
            base,
            pending: HashMap::new(),
        }
    }

    /// Records one node as pending so later reads see it.
    pub fn insert(&mut self, level: u8, index: u64, hash: Hash) {
        self.pending.insert((level, index), hash);
    }

    /// Appends leaf number `size_before`, records the nodes it completes as
    /// pending, and returns them as [`append`] does.
    pub fn append(
        &mut self,
        size_before: u64,
        leaf: Hash,
    ) -> Result<Vec<(u8, u64, Hash)>, R::Error> {
        let nodes = append(size_before, leaf, &*self)?;
        for &(level, index, hash) in &nodes {
            self.insert(level, index, hash);
        }
        Ok(nodes)
    }

    /// Returns the pending nodes, sorted by level and then index.
    pub fn into_pending(self) -> Vec<(u8, u64, Hash)> {
        let mut nodes: Vec<_> = self
            .pending
            .into_iter()
            .map(|((level, index), hash)| (level, index, hash))
            .collect();
        nodes.sort_unstable_by_key(|&(level, index, _)| (level, index));
        nodes
    }
}

impl<R: NodeReader + ?Sized> NodeReader for Overlay<'_, R> {
    type Error = R::Error;

    fn node(&self, level: u8, index: u64) -> Result<Hash, Self::Error> {
        match self.pending.get(&(level, index)) {
            Some(hash) => Ok(*hash),
            None => self.base.node(level, index),
        }
    }
}

/// Returns the tree head (MTH) of the first `size` leaves.
///
/// It combines the perfect subtrees of the binary decomposition of `size`
/// from right to left, reading one node per set bit of `size`. A size of 0
/// yields [`empty_root`].
pub fn root<R: NodeReader + ?Sized>(size: u64, reader: &R) -> Result<Hash, R::Error> {
    if size == 0 {
        return Ok(empty_root());
    }
    let mut acc: Option<Hash> = None;
    for level in 0..64u8 {
        if (size >> level) & 1 == 1 {
            // The subtree for this bit ends where the higher bits' subtrees
            // end plus 2^level, so its index at this level is (size >> level) - 1.
            let node = reader.node(level, (size >> level) - 1)?;
            acc = Some(match acc {
                None => node,
                Some(right) => node_hash(&node, &right),
            });
        }
    }
    Ok(acc.unwrap_or_else(empty_root))
}

/// Returns the MTH of leaves `[start, end)`.
///
/// Ranges that occur in proofs start at a multiple of the smallest power of
/// two that is at least `end - start`; those cost one read per perfect
/// subtree of the decomposition, `O(log n)`. Any other range is still hashed
/// correctly but may cost up to one read per leaf. All reads lie inside
/// `[start, end)`.
pub fn subtree_root<R: NodeReader + ?Sized>(
    start: u64,
    end: u64,
    reader: &R,
) -> Result<Hash, ProofError<R::Error>> {
    if start > end {
        return Err(ProofError::InvalidRange { start, end });
    }
    mth(start, end, reader).map_err(ProofError::Reader)
}

/// Computes the MTH of `[start, end)` by RFC 9162 §2.1.1 splitting, reading a
/// stored node wherever the range is an aligned perfect subtree.
fn mth<R: NodeReader + ?Sized>(start: u64, end: u64, reader: &R) -> Result<Hash, R::Error> {
    let n = end - start;
    if n == 0 {
        return Ok(empty_root());
    }
    // For a power of two n, alignment is having no bits below n set.
    if n.is_power_of_two() && start & (n - 1) == 0 {
        let level = n.trailing_zeros() as u8;
        return reader.node(level, start >> level);
    }
    // The range is not one stored node; split it as the RFC does. A
    // single leaf is always an aligned perfect subtree, so here n ≥ 2.
    let k = split_point(n);
    let left = mth(start, start + k, reader)?;
    let right = mth(start + k, end, reader)?;
    Ok(node_hash(&left, &right))
}

/// Returns the inclusion proof (RFC 9162 §2.1.3.1 PATH) of leaf `index` in
/// the tree of the first `size` leaves, deepest sibling first.
///
/// `size` must not exceed the stored tree; that is the caller's business and
/// shows up as reader errors for missing nodes.
pub fn inclusion_proof<R: NodeReader + ?Sized>(
    index: u64,
    size: u64,
    reader: &R,
) -> Result<Vec<Hash>, ProofError<R::Error>> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    // Walk from the root down to the leaf, noting each sibling subtree;
    // PATH lists them from the leaf upwards, so reverse at the end.
    let mut siblings = Vec::new();
    let (mut start, mut end, mut m) = (0u64, size, index);
    while end - start > 1 {
        let k = split_point(end - start);
        if m < k {
            siblings.push((start + k, end));
            end = start + k;
        } else {
            siblings.push((start, start + k));
            start += k;
            m -= k;
        }
    }
    siblings
        .into_iter()
        .rev()
        .map(|(s, e)| mth(s, e, reader).map_err(ProofError::Reader))
        .collect()
}

/// Returns the consistency proof (RFC 9162 §2.1.4.1 SUBPROOF with b = true)
/// between the tree of the first `old` leaves and that of the first `new`.
///
/// `old == new` yields an empty proof. `old == 0` is rejected with
/// [`ProofError::OldSizeZero`] because RFC 9162 defines no proof for it.
/// `new` must not exceed the stored tree; that is the caller's business and
/// shows up as reader errors for missing nodes.
pub fn consistency_proof<R: NodeReader + ?Sized>(
    old: u64,
    new: u64,
    reader: &R,
) -> Result<Vec<Hash>, ProofError<R::Error>> {
    if old > new {
        return Err(ProofError::OldAfterNew { old, new });
    }
    if old == 0 {
        return Err(ProofError::OldSizeZero);
    }
    // SUBPROOF(m, D[start:end], b) appends one subtree per recursion step
    // after the result of the recursive call, so collect those top-down and
    // emit them in reverse after the base case's contribution.
    let mut tail = Vec::new();
    let (mut start, mut end, mut m, mut whole) = (0u64, new, old, true);
    while m != end - start {
        let k = split_point(end - start);
        if m <= k {
            tail.push((start + k, end));
            end = start + k;
        } else {
            tail.push((start, start + k));
            start += k;
            m -= k;
            whole = false;
        }
    }
    let mut ranges = Vec::with_capacity(tail.len() + 1);
    if !whole {
        // The base case with b = false contributes MTH(D[start:end]) itself.
        ranges.push((start, end));
    }
    ranges.extend(tail.into_iter().rev());
    ranges
        .into_iter()
        .map(|(s, e)| mth(s, e, reader).map_err(ProofError::Reader))
        .collect()
}

/// Verifies an inclusion proof per RFC 9162 §2.1.3.2: that the leaf with
/// hash `leaf_hash` is leaf number `index` of the tree of `size` leaves whose
/// head is `root`.
///
/// The proof alone does not authenticate `size`: two sizes whose proofs have
/// the same shape (for example leaf 5 of 7 and of 8 leaves) run the same
/// computation. `size` and `root` must therefore come together from one
/// verified checkpoint.
pub fn verify_inclusion(
    leaf_hash: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), VerifyError> {
    if index >= size {
        return Err(VerifyError::IndexOutOfRange { index, size });
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf_hash;
    for p in proof {
        if sn == 0 {
            return Err(VerifyError::ProofTooLong);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                // The node is the last one on its level and has no right
                // sibling; climb until it is a right child or the root.
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(VerifyError::ProofTooShort);
    }
    if r != *root {
        return Err(VerifyError::RootMismatch);
    }
    Ok(())
}

/// Verifies a consistency proof per RFC 9162 §2.1.4.2: that the tree of
/// `old` leaves with head `old_root` is a prefix of the tree of `new` leaves
/// with head `new_root`.
///
/// `old == new` requires an empty proof and equal roots. `old == 0` is
/// rejected with [`VerifyError::OldSizeZero`]; a caller holding no earlier
/// tree head has nothing to verify. As with [`verify_inclusion`], the sizes
/// must come from verified checkpoints alongside their roots.
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), VerifyError> {
    if old > new {
        return Err(VerifyError::OldAfterNew { old, new });
    }
    if old == 0 {
        return Err(VerifyError::OldSizeZero);
    }
    if old == new {
        if !proof.is_empty() {
            return Err(VerifyError::ProofTooLong);
        }
        if old_root != new_root {
            return Err(VerifyError::RootMismatch);
        }
        return Ok(());
    }
    if proof.is_empty() {
        return Err(VerifyError::ProofTooShort);
    }
    // When old is a power of two its root is itself a node of the new tree
    // and is left out of the proof, so it is put back at the front here.
    let (first, rest) = if old.is_power_of_two() {
        (old_root, proof)
    } else {
        (&proof[0], &proof[1..])
    };
    let (mut fn_, mut sn) = (old - 1, new - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if sn == 0 {
            return Err(VerifyError::ProofTooLong);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(VerifyError::ProofTooShort);
    }
    if fr != *old_root {
        return Err(VerifyError::OldRootMismatch);
    }
    if sr != *new_root {
        return Err(VerifyError::RootMismatch);
    }
    Ok(())
}

/// The error of [`MemoryTree`]'s reader: the requested node is not stored.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MemoryTreeError {
    /// The node has not been completed yet, which means a tree size larger
    /// than [`MemoryTree::size`] was asked about. Ask about a size the tree
    /// actually has.
    #[error("node ({level}, {index}) is not in the tree")]
    MissingNode {
        /// The level that was requested.
        level: u8,
        /// The index that was requested.
        index: u64,
    },
}

/// An in-memory tree for tests and offline tools.
///
/// It keeps the leaf hashes in order and every completed interior node in a
/// map, exactly as a persistent store would.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    leaves: Vec<Hash>,
    nodes: HashMap<(u8, u64), Hash>,
}

impl MemoryTree {
    /// Creates an empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a leaf given its raw data and returns its index.
    pub fn push(&mut self, leaf_data: &[u8]) -> u64 {
        self.push_hash(leaf_hash(leaf_data))
    }

    /// Appends a leaf given its leaf hash and returns its index.
    pub fn push_hash(&mut self, leaf: Hash) -> u64 {
        let index = self.size();
        let nodes = match append(index, leaf, &*self) {
            Ok(nodes) => nodes,
            // Every node append reads lies inside the current tree, and this
            // tree stores all of them, so a read cannot fail.
            Err(MemoryTreeError::MissingNode { .. }) => {
                unreachable!("append only reads complete nodes of the current tree")
            }
        };
        for (level, idx, hash) in nodes {
            if level == 0 {
                self.leaves.push(hash);
            } else {
                self.nodes.insert((level, idx), hash);
            }
        }
        index
    }

    /// Returns the number of leaves.
    pub fn size(&self) -> u64 {
        self.leaves.len() as u64
    }

    /// Returns the tree head of the whole tree.
    pub fn root(&self) -> Hash {
        match root(self.size(), self) {
            Ok(hash) => hash,
            Err(MemoryTreeError::MissingNode { .. }) => {
                unreachable!("root of the current size only reads stored nodes")
            }
        }
    }
}

impl NodeReader for MemoryTree {
    type Error = MemoryTreeError;

    fn node(&self, level: u8, index: u64) -> Result<Hash, Self::Error> {
        let found = if level == 0 {
            usize::try_from(index).ok().and_then(|i| self.leaves.get(i))
        } else {
            self.nodes.get(&(level, index))
        };
        found
            .copied()
            .ok_or(MemoryTreeError::MissingNode { level, index })
    }
}

#[cfg(test)]
mod tests;
