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

/// Only the nodes at the frontier positions of a size: enough for [`root`].
struct FrontierOnly(HashMap<(u8, u64), Hash>);

impl NodeReader for FrontierOnly {
    type Error = (u8, u64);
    fn node(&self, level: u8, index: u64) -> Result<Hash, (u8, u64)> {
        self.0.get(&(level, index)).copied().ok_or((level, index))
    }
}

#[test]
fn frontier_positions_tile_the_prefix_and_give_its_root() {
    let (tree, _) = build(300);
    for size in 0..=300u64 {
        let positions = frontier_positions(size);
        let mut end = 0;
        for &(level, index) in &positions {
            assert_eq!(index << level, end, "size {size}: ({level}, {index})");
            end += 1 << level;
        }
        assert_eq!(end, size);
        let only = FrontierOnly(
            positions
                .iter()
                .map(|&(l, i)| ((l, i), tree.node(l, i).unwrap()))
                .collect(),
        );
        assert_eq!(root(size, &only).unwrap(), root(size, &tree).unwrap());
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
        Err(TreeError::InvalidRange { start: 5, end: 4 })
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
    assert_eq!(consistency_proof(0, 3, &tree), Err(TreeError::OldSizeZero));
    assert_eq!(
        verify_consistency(0, 3, &empty_root(), &r(3), &[]),
        Err(VerifyError::OldSizeZero)
    );
    // Time does not run backwards.
    assert_eq!(
        consistency_proof(4, 3, &tree),
        Err(TreeError::OldAfterNew { old: 4, new: 3 })
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
        Err(TreeError::Reader(MemoryTreeError::MissingNode { .. }))
    ));
}

#[test]
fn inclusion_edge_cases() {
    let (tree, _) = build(4);
    assert_eq!(
        inclusion_proof(4, 4, &tree),
        Err(TreeError::IndexOutOfRange { index: 4, size: 4 })
    );
    assert_eq!(
        inclusion_proof(0, 0, &tree),
        Err(TreeError::IndexOutOfRange { index: 0, size: 0 })
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
