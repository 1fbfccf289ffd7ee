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
mod tests {
    //! The reference functions below are written the slow recursive way,
    //! straight from RFC 9162 §2.1.1 (MTH), §2.1.3.1 (PATH) and §2.1.4.1
    //! (SUBPROOF), and hash with `sha2` directly rather than through the
    //! module. MTH is memoised per leaf range only to keep the exhaustive
    //! tests fast; the recursion itself is the RFC's.

    use super::*;
    use std::cell::RefCell;

    fn hx(s: &str) -> Hash {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    /// The RFC's definitions over a fixed list of leaf inputs.
    struct Reference {
        inputs: Vec<Vec<u8>>,
        memo: RefCell<HashMap<(usize, usize), Hash>>,
    }

    impl Reference {
        fn new(inputs: Vec<Vec<u8>>) -> Self {
            Self {
                inputs,
                memo: RefCell::new(HashMap::new()),
            }
        }

        /// Returns the largest power of two smaller than n, found by doubling.
        fn k(n: usize) -> usize {
            let mut k = 1;
            while k * 2 < n {
                k *= 2;
            }
            k
        }

        /// MTH(D[lo:hi]) per RFC 9162 §2.1.1.
        fn mth(&self, lo: usize, hi: usize) -> Hash {
            if let Some(h) = self.memo.borrow().get(&(lo, hi)) {
                return *h;
            }
            let n = hi - lo;
            let h: Hash = if n == 0 {
                Sha256::digest(b"").into()
            } else if n == 1 {
                let mut d = Sha256::new();
                d.update([0u8]);
                d.update(&self.inputs[lo]);
                d.finalize().into()
            } else {
                let k = Self::k(n);
                let mut d = Sha256::new();
                d.update([1u8]);
                d.update(self.mth(lo, lo + k));
                d.update(self.mth(lo + k, hi));
                d.finalize().into()
            };
            self.memo.borrow_mut().insert((lo, hi), h);
            h
        }

        /// PATH(m, D[lo:hi]) per RFC 9162 §2.1.3.1.
        fn path(&self, m: usize, lo: usize, hi: usize) -> Vec<Hash> {
            let n = hi - lo;
            if n == 1 {
                return Vec::new();
            }
            let k = Self::k(n);
            if m < k {
                let mut p = self.path(m, lo, lo + k);
                p.push(self.mth(lo + k, hi));
                p
            } else {
                let mut p = self.path(m - k, lo + k, hi);
                p.push(self.mth(lo, lo + k));
                p
            }
        }

        /// SUBPROOF(m, D[lo:hi], b) per RFC 9162 §2.1.4.1.
        fn subproof(&self, m: usize, lo: usize, hi: usize, b: bool) -> Vec<Hash> {
            let n = hi - lo;
            if m == n {
                return if b {
                    Vec::new()
                } else {
                    vec![self.mth(lo, hi)]
                };
            }
            let k = Self::k(n);
            if m <= k {
                let mut p = self.subproof(m, lo, lo + k, b);
                p.push(self.mth(lo + k, hi));
                p
            } else {
                let mut p = self.subproof(m - k, lo + k, hi, false);
                p.push(self.mth(lo, lo + k));
                p
            }
        }
    }

    fn build(n: usize) -> (MemoryTree, Reference) {
        let inputs: Vec<Vec<u8>> = (0..n).map(|i| format!("leaf {i}").into_bytes()).collect();
        let mut tree = MemoryTree::new();
        for data in &inputs {
            tree.push(data);
        }
        (tree, Reference::new(inputs))
    }

    /// The leaf inputs of the RFC 6962 reference implementations'
    /// tests, from transparency-dev/merkle testonly/constants.go.
    fn ct_inputs() -> Vec<Vec<u8>> {
        [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ]
        .iter()
        .map(|s| hex::decode(s).unwrap())
        .collect()
    }

    /// The published tree heads for sizes 0..=8 of [`ct_inputs`], from
    /// transparency-dev/merkle testonly/constants.go (RootHashes), which
    /// match certificate-transparency-go's merkletree tests.
    const CT_ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn ct_tree() -> MemoryTree {
        let mut tree = MemoryTree::new();
        for data in ct_inputs() {
            tree.push(&data);
        }
        tree
    }

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(empty_root(), hx(CT_ROOTS[0]));
        assert_eq!(root(0, &MemoryTree::new()).unwrap(), hx(CT_ROOTS[0]));
    }

    #[test]
    fn published_roots_for_sizes_0_to_8() {
        let tree = ct_tree();
        for (size, want) in CT_ROOTS.iter().enumerate() {
            assert_eq!(root(size as u64, &tree).unwrap(), hx(want), "size {size}");
        }
    }

    #[test]
    fn published_node_hashes() {
        // NodeHashes() from transparency-dev/merkle testonly/constants.go,
        // indexed by level and then index.
        let levels: [&[&str]; 4] = [
            &[
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
                "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
                "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
            ],
            &[
                "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            ],
            &[
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
            &["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
        ];
        let tree = ct_tree();
        for (level, hashes) in levels.iter().enumerate() {
            for (index, want) in hashes.iter().enumerate() {
                assert_eq!(
                    tree.node(level as u8, index as u64).unwrap(),
                    hx(want),
                    "node ({level}, {index})"
                );
            }
        }
    }

    #[test]
    fn published_inclusion_proofs() {
        // From transparency-dev/merkle proof/verify_test.go; the vectors
        // there number leaves from 1, so index = leaf - 1.
        let vectors: [(u64, u64, &[&str]); 5] = [
            (0, 1, &[]),
            (
                0,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                5,
                8,
                &[
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                3,
                &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
            ),
            (
                1,
                5,
                &[
                    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        let tree = ct_tree();
        let inputs = ct_inputs();
        for (index, size, want) in vectors {
            let want: Vec<Hash> = want.iter().map(|s| hx(s)).collect();
            let got = inclusion_proof(index, size, &tree).unwrap();
            assert_eq!(got, want, "inclusion {index} in {size}");
            let leaf = leaf_hash(&inputs[index as usize]);
            verify_inclusion(&leaf, index, size, &got, &hx(CT_ROOTS[size as usize])).unwrap();
        }
    }

    #[test]
    fn published_consistency_proofs() {
        // From transparency-dev/merkle proof/verify_test.go.
        let vectors: [(u64, u64, &[&str]); 5] = [
            (1, 1, &[]),
            (
                1,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                5,
                &[
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
            (
                6,
                7,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
        ];
        let tree = ct_tree();
        for (old, new, want) in vectors {
            let want: Vec<Hash> = want.iter().map(|s| hx(s)).collect();
            let got = consistency_proof(old, new, &tree).unwrap();
            assert_eq!(got, want, "consistency {old} -> {new}");
            verify_consistency(
                old,
                new,
                &hx(CT_ROOTS[old as usize]),
                &hx(CT_ROOTS[new as usize]),
                &got,
            )
            .unwrap();
        }
    }

    #[test]
    fn roots_match_reference_for_every_size() {
        let (tree, reference) = build(300);
        for size in 0..=300u64 {
            assert_eq!(
                root(size, &tree).unwrap(),
                reference.mth(0, size as usize),
                "size {size}"
            );
        }
    }

    #[test]
    fn inclusion_matches_reference_for_every_size_and_index() {
        let (tree, reference) = build(300);
        for size in 1..=300u64 {
            let head = reference.mth(0, size as usize);
            for index in 0..size {
                let proof = inclusion_proof(index, size, &tree).unwrap();
                assert_eq!(
                    proof,
                    reference.path(index as usize, 0, size as usize),
                    "inclusion {index} in {size}"
                );
                let leaf = tree.node(0, index).unwrap();
                verify_inclusion(&leaf, index, size, &proof, &head).unwrap();
            }
        }
    }

    #[test]
    fn consistency_matches_reference_for_every_pair() {
        let (tree, reference) = build(130);
        for new in 1..=130u64 {
            let new_root = reference.mth(0, new as usize);
            for old in 1..=new {
                let proof = consistency_proof(old, new, &tree).unwrap();
                assert_eq!(
                    proof,
                    reference.subproof(old as usize, 0, new as usize, true),
                    "consistency {old} -> {new}"
                );
                let old_root = reference.mth(0, old as usize);
                verify_consistency(old, new, &old_root, &new_root, &proof).unwrap();
            }
        }
    }

    #[test]
    fn subtree_root_matches_reference_for_all_ranges() {
        let (tree, reference) = build(40);
        for start in 0..=40u64 {
            for end in start..=40u64 {
                assert_eq!(
                    subtree_root(start, end, &tree).unwrap(),
                    reference.mth(start as usize, end as usize),
                    "[{start}, {end})"
                );
            }
        }
        assert_eq!(
            subtree_root(5, 4, &tree),
            Err(ProofError::InvalidRange { start: 5, end: 4 })
        );
    }

    /// Returns every single-element corruption of `proof`: each element with
    /// one bit flipped, the last element dropped, a junk element appended,
    /// a junk element prepended, and the first element repeated.
    fn corruptions(proof: &[Hash], junk: &Hash) -> Vec<Vec<Hash>> {
        let mut out = Vec::new();
        for i in 0..proof.len() {
            for byte in [0, 31] {
                let mut p = proof.to_vec();
                p[i][byte] ^= 0x10;
                out.push(p);
            }
        }
        if !proof.is_empty() {
            out.push(proof[..proof.len() - 1].to_vec());
            let mut p = vec![proof[0]];
            p.extend_from_slice(proof);
            out.push(p);
        }
        let mut p = proof.to_vec();
        p.push(*junk);
        out.push(p);
        let mut p = vec![*junk];
        p.extend_from_slice(proof);
        out.push(p);
        out
    }

    #[test]
    fn tampered_inclusion_proofs_fail() {
        // The reference holds twice as many leaves so wrong sizes up to
        // double the real one can be examined.
        let (tree, reference) = build(140);
        let junk = leaf_hash(b"junk");
        for size in 1..=70u64 {
            let head = reference.mth(0, size as usize);
            for index in 0..size {
                let leaf = tree.node(0, index).unwrap();
                let proof = inclusion_proof(index, size, &tree).unwrap();
                for bad in corruptions(&proof, &junk) {
                    assert!(
                        verify_inclusion(&leaf, index, size, &bad, &head).is_err(),
                        "corrupted proof for {index} in {size} verified"
                    );
                }
                for wrong in [index.wrapping_sub(1), index + 1, index ^ 2, index ^ 1] {
                    if wrong != index {
                        assert!(
                            verify_inclusion(&leaf, wrong, size, &proof, &head).is_err(),
                            "proof for {index} in {size} verified at index {wrong}"
                        );
                    }
                }
                // A different size fails whenever it changes the proof's
                // length; same-shaped sizes are covered separately below.
                for wrong in [size - 1, size + 1, size * 2, size / 2] {
                    if wrong != size
                        && wrong > index
                        && reference.path(index as usize, 0, wrong as usize).len() != proof.len()
                    {
                        assert!(
                            verify_inclusion(&leaf, index, wrong, &proof, &head).is_err(),
                            "proof for {index} in {size} verified at size {wrong}"
                        );
                    }
                }
                assert!(verify_inclusion(&junk, index, size, &proof, &head).is_err());
                assert!(verify_inclusion(&leaf, index, size, &proof, &junk).is_err());
            }
        }
    }

    #[test]
    fn inclusion_size_is_not_authenticated_by_the_proof() {
        // Leaf 5 has the same proof shape in trees of 7 and 8 leaves, so the
        // size-7 proof also "verifies" for a claimed size of 8 against the
        // size-7 root. This is inherent to RFC 9162: the size must come from
        // the same signed checkpoint as the root.
        let (tree, _) = build(8);
        let proof = inclusion_proof(5, 7, &tree).unwrap();
        let leaf = tree.node(0, 5).unwrap();
        let root7 = root(7, &tree).unwrap();
        assert!(verify_inclusion(&leaf, 5, 8, &proof, &root7).is_ok());
        assert_eq!(
            verify_inclusion(&leaf, 5, 8, &proof, &tree.root()),
            Err(VerifyError::RootMismatch)
        );
    }

    #[test]
    fn tampered_consistency_proofs_fail() {
        // The reference holds twice as many leaves so wrong sizes up to
        // double the real one can be examined.
        let (tree, reference) = build(140);
        let junk = leaf_hash(b"junk");
        for new in 2..=70u64 {
            let new_root = reference.mth(0, new as usize);
            for old in 1..new {
                let old_root = reference.mth(0, old as usize);
                let proof = consistency_proof(old, new, &tree).unwrap();
                for bad in corruptions(&proof, &junk) {
                    assert!(
                        verify_consistency(old, new, &old_root, &new_root, &bad).is_err(),
                        "corrupted proof for {old} -> {new} verified"
                    );
                }
                assert!(verify_consistency(old, new, &old_root, &new_root, &[]).is_err());
                assert!(verify_consistency(old, new, &new_root, &old_root, &proof).is_err());
                assert!(verify_consistency(old, new, &junk, &new_root, &proof).is_err());
                assert!(verify_consistency(old, new, &old_root, &junk, &proof).is_err());
                // A different size fails whenever it changes the proof's
                // length; a same-shaped size runs the same computation.
                for wrong in [old - 1, old + 1, old ^ 2] {
                    if wrong != old
                        && wrong >= 1
                        && wrong < new
                        && reference
                            .subproof(wrong as usize, 0, new as usize, true)
                            .len()
                            != proof.len()
                    {
                        assert!(
                            verify_consistency(wrong, new, &old_root, &new_root, &proof).is_err(),
                            "proof for {old} -> {new} verified as {wrong} -> {new}"
                        );
                    }
                }
                for wrong in [new - 1, new + 1, new * 2, new / 2] {
                    if wrong > old
                        && wrong != new
                        && reference
                            .subproof(old as usize, 0, wrong as usize, true)
                            .len()
                            != proof.len()
                    {
                        assert!(
                            verify_consistency(old, wrong, &old_root, &new_root, &proof).is_err(),
                            "proof for {old} -> {new} verified as {old} -> {wrong}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn consistency_edge_cases() {
        let (tree, reference) = build(8);
        let r = |n: usize| reference.mth(0, n);
        // Equal sizes need an empty proof and equal roots.
        assert_eq!(consistency_proof(5, 5, &tree).unwrap(), Vec::<Hash>::new());
        assert!(verify_consistency(5, 5, &r(5), &r(5), &[]).is_ok());
        assert_eq!(
            verify_consistency(5, 5, &r(5), &r(6), &[]),
            Err(VerifyError::RootMismatch)
        );
        assert_eq!(
            verify_consistency(5, 5, &r(5), &r(5), &[r(5)]),
            Err(VerifyError::ProofTooLong)
        );
        // Old size 0 is undefined by RFC 9162 and rejected on both sides.
        assert_eq!(consistency_proof(0, 3, &tree), Err(ProofError::OldSizeZero));
        assert_eq!(
            verify_consistency(0, 3, &empty_root(), &r(3), &[]),
            Err(VerifyError::OldSizeZero)
        );
        // Time does not run backwards.
        assert_eq!(
            consistency_proof(4, 3, &tree),
            Err(ProofError::OldAfterNew { old: 4, new: 3 })
        );
        assert_eq!(
            verify_consistency(4, 3, &r(4), &r(3), &[]),
            Err(VerifyError::OldAfterNew { old: 4, new: 3 })
        );
        // A power-of-two old size leaves its own root out of the proof.
        let proof = consistency_proof(4, 7, &tree).unwrap();
        assert!(!proof.contains(&r(4)));
        assert!(verify_consistency(4, 7, &r(4), &r(7), &proof).is_ok());
        // Asking about more leaves than the tree has surfaces the reader's error.
        assert!(matches!(
            consistency_proof(3, 9, &tree),
            Err(ProofError::Reader(MemoryTreeError::MissingNode { .. }))
        ));
    }

    #[test]
    fn inclusion_edge_cases() {
        let (tree, _) = build(4);
        assert_eq!(
            inclusion_proof(4, 4, &tree),
            Err(ProofError::IndexOutOfRange { index: 4, size: 4 })
        );
        assert_eq!(
            inclusion_proof(0, 0, &tree),
            Err(ProofError::IndexOutOfRange { index: 0, size: 0 })
        );
        let leaf = tree.node(0, 0).unwrap();
        assert_eq!(
            verify_inclusion(&leaf, 0, 0, &[], &empty_root()),
            Err(VerifyError::IndexOutOfRange { index: 0, size: 0 })
        );
        // A one-leaf tree's root is its leaf hash, with an empty proof.
        assert!(verify_inclusion(&leaf, 0, 1, &[], &leaf).is_ok());
        assert_eq!(
            verify_inclusion(&leaf, 0, 1, &[leaf], &leaf),
            Err(VerifyError::ProofTooLong)
        );
        assert_eq!(
            verify_inclusion(&leaf, 0, 4, &[], &tree.root()),
            Err(VerifyError::ProofTooShort)
        );
    }

    #[test]
    fn append_returns_exactly_the_completed_nodes() {
        let mut tree = MemoryTree::new();
        for i in 0..64u64 {
            let leaf = leaf_hash(&i.to_be_bytes());
            let nodes = append(i, leaf, &tree).unwrap();
            // Leaf i completes one parent per trailing one bit of i.
            assert_eq!(nodes.len() as u32, 1 + i.trailing_ones(), "leaf {i}");
            assert_eq!(nodes[0], (0, i, leaf));
            for &(level, index, _) in &nodes {
                // Each node's last leaf is the new leaf.
                assert_eq!(((index + 1) << level) - 1, i);
            }
            tree.push_hash(leaf);
        }
    }

    #[test]
    fn batch_append_and_overlay_match_one_by_one() {
        // Pretend the store holds 13 leaves, then append 50 in one batch
        // without touching the store until the end.
        let mut one_by_one = MemoryTree::new();
        let mut stored = MemoryTree::new();
        let leaves: Vec<Hash> = (0..63u32).map(|i| leaf_hash(&i.to_le_bytes())).collect();
        for leaf in &leaves[..13] {
            one_by_one.push_hash(*leaf);
            stored.push_hash(*leaf);
        }
        for leaf in &leaves[13..] {
            one_by_one.push_hash(*leaf);
        }

        let batch = append_batch(13, &leaves[13..], &stored).unwrap();
        let mut overlay = Overlay::new(&stored);
        let mut via_overlay = Vec::new();
        for (i, leaf) in leaves[13..].iter().enumerate() {
            via_overlay.extend(overlay.append(13 + i as u64, *leaf).unwrap());
        }
        assert_eq!(batch, via_overlay);
        let mut sorted = batch.clone();
        sorted.sort_unstable_by_key(|&(l, i, _)| (l, i));
        assert_eq!(overlay.into_pending(), sorted);

        // Every produced node equals the one-by-one tree's node, and
        // together with the stored nodes they give the same root.
        for &(level, index, hash) in &batch {
            assert_eq!(one_by_one.node(level, index).unwrap(), hash);
        }
        let mut overlay = Overlay::new(&stored);
        for &(level, index, hash) in &batch {
            overlay.insert(level, index, hash);
        }
        assert_eq!(root(63, &overlay).unwrap(), one_by_one.root());
    }

    #[test]
    fn reads_stay_logarithmic() {
        /// Counts reads and rejects any request outside the complete tree.
        struct Counting<'a> {
            tree: &'a MemoryTree,
            reads: std::cell::Cell<u32>,
            size: u64,
        }
        impl NodeReader for Counting<'_> {
            type Error = MemoryTreeError;
            fn node(&self, level: u8, index: u64) -> Result<Hash, Self::Error> {
                assert!(
                    (index + 1) << level <= self.size,
                    "incomplete node requested"
                );
                self.reads.set(self.reads.get() + 1);
                self.tree.node(level, index)
            }
        }
        let (tree, _) = build(1000);
        for size in [1u64, 2, 3, 511, 512, 513, 999, 1000] {
            let counting = Counting {
                tree: &tree,
                reads: std::cell::Cell::new(0),
                size,
            };
            root(size, &counting).unwrap();
            assert!(counting.reads.get() <= 10);
            for index in [0, size / 3, size - 1] {
                counting.reads.set(0);
                inclusion_proof(index, size, &counting).unwrap();
                assert!(counting.reads.get() <= 100, "size {size}");
            }
            for old in [1, size / 2, size] {
                if old >= 1 {
                    counting.reads.set(0);
                    consistency_proof(old, size, &counting).unwrap();
                    assert!(counting.reads.get() <= 100, "size {size}");
                }
            }
            counting.reads.set(0);
            append(size, leaf_hash(b"x"), &counting).unwrap();
            assert!(counting.reads.get() <= 10);
        }
    }

    #[test]
    fn memory_tree_reports_missing_nodes() {
        let (tree, _) = build(3);
        assert_eq!(
            tree.node(1, 1),
            Err(MemoryTreeError::MissingNode { level: 1, index: 1 })
        );
        assert_eq!(
            root(4, &tree),
            Err(MemoryTreeError::MissingNode { level: 2, index: 0 })
        );
    }
}
