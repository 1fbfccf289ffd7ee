//! Merkle trees stored as tiles (the C2SP `tlog-tiles` layout, kept in the projection
//! store instead of files): tile `L/N` holds the hashes at tree level `8·L` with indices
//! `[256·N, 256·N + w)`, `w ≤ 256` (a partial tile is the rightmost one, still growing).
//! Level-0 tiles hold the leaf hashes; the hash at level 8 of a full level-0 tile is the
//! next entry of the level-1 tile, and so on. Nodes at the levels in between are
//! recomputed from their tile when read (at most 127 hashes for one node).
//!
//! Key: `prefix ‖ L (u8) ‖ N (u64 BE)` → the concatenated 32-byte hashes. The global tree's
//! prefix is `M`; a tenant tree's is `Tt ‖ tenant` (`tenant_tree`).
//!
//! So a batch of `n` events writes one tile value per tree (two when a tile fills)
//! instead of about `2n` node keys, and the contents stay a pure function of the log.
//!
//! **Invariant:** tile `L/N` of a tree of size `s` holds exactly the complete level-`8L`
//! hashes of that range; appending checks the tile's length against the tree size and
//! reports a mismatch as corruption, never repairs it.

use super::overlay::Overlay;
use crate::merkle::{self, Hash};
use crate::store::{ProjectionStore, StoreError};

/// Levels covered by one tile.
const HEIGHT: u8 = 8;
/// Hashes in a full tile.
const WIDTH: u64 = 1 << HEIGHT;

fn tile_key(prefix: &[u8], tile_level: u8, index: u64) -> Vec<u8> {
    [prefix, &[tile_level], &index.to_be_bytes()].concat()
}

fn corrupt(detail: String) -> StoreError {
    StoreError::Corrupt {
        what: "proj",
        detail,
    }
}

/// The root of a perfect subtree given its `2^k` hashes at its lowest level.
fn perfect_root(hashes: &[u8]) -> Hash {
    let mut level: Vec<Hash> = hashes
        .chunks_exact(32)
        .map(|h| h.try_into().expect("32-byte chunks"))
        .collect();
    while level.len() > 1 {
        level = level
            .chunks_exact(2)
            .map(|p| merkle::node_hash(&p[0], &p[1]))
            .collect();
    }
    level[0]
}

/// Appends `leaf` as leaf `size` of the tree under `prefix`.
pub(super) fn append(
    ov: &mut Overlay<'_>,
    prefix: &[u8],
    size: u64,
    leaf: Hash,
) -> Result<(), StoreError> {
    let (mut hash, mut index) = (leaf, size);
    for tile_level in 0..=(64 / HEIGHT) {
        let tile = ov.chunk(tile_key(prefix, tile_level, index / WIDTH))?;
        let pos = index % WIDTH;
        if tile.len() as u64 != pos * 32 {
            return Err(corrupt(format!(
                "Merkle tile {tile_level}/{} holds {} bytes where the tree size says {}",
                index / WIDTH,
                tile.len(),
                pos * 32
            )));
        }
        tile.extend_from_slice(&hash);
        if pos != WIDTH - 1 {
            return Ok(());
        }
        hash = perfect_root(tile);
        index /= WIDTH;
    }
    Ok(())
}

/// The hash of node `(level, index)` of the tree under `prefix`, from its tile read
/// by `get`; a node the tiles do not cover is reported missing (corruption).
pub(super) fn node(
    get: impl FnOnce(&[u8]) -> Result<Option<Vec<u8>>, StoreError>,
    prefix: &[u8],
    level: u8,
    index: u64,
) -> Result<Hash, StoreError> {
    let (tile_level, rise) = (level / HEIGHT, level % HEIGHT);
    let first = index
        .checked_shl(u32::from(rise))
        .ok_or_else(|| corrupt(format!("Merkle node {level}/{index} is out of range")))?;
    let (tile_index, offset) = (first / WIDTH, (first % WIDTH) as usize);
    let width = 1usize << rise;
    let tile = get(&tile_key(prefix, tile_level, tile_index))?.unwrap_or_default();
    if tile.len() % 32 != 0 {
        return Err(corrupt(format!(
            "Merkle tile {tile_level}/{tile_index} is {} bytes, not a multiple of 32",
            tile.len()
        )));
    }
    let hashes = tile
        .get(offset * 32..(offset + width) * 32)
        .ok_or_else(|| corrupt(format!("missing Merkle node {level}/{index}")))?;
    Ok(perfect_root(hashes))
}

/// Reads the nodes of the tree under `prefix` straight from the projection store.
pub(super) fn stored_node(
    proj: &dyn ProjectionStore,
    prefix: &[u8],
    level: u8,
    index: u64,
) -> Result<Hash, StoreError> {
    node(|k| proj.get(k), prefix, level, index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{MemoryTree, NodeReader};
    use crate::store::sled::SledBackend;

    #[test]
    fn every_node_of_tiled_trees_matches_the_memory_tree() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledBackend::open(dir.path()).unwrap();
        let proj: &dyn ProjectionStore = &store;
        let mut mem = MemoryTree::new();
        // Batches of uneven sizes across the first level-1 entries (256 and 512 leaves).
        let mut size = 0u64;
        for batch in [1u64, 7, 100, 148, 1, 255, 2, 300] {
            let mut ov = Overlay::new(proj);
            for _ in 0..batch {
                let leaf = merkle::leaf_hash(&size.to_le_bytes());
                append(&mut ov, b"M", size, leaf).unwrap();
                mem.push_hash(leaf);
                size += 1;
            }
            let changes = ov.into_changes();
            proj.apply(&changes, size).unwrap();
            for level in 0..11u8 {
                for index in 0..(size >> level) {
                    assert_eq!(
                        stored_node(proj, b"M", level, index).unwrap(),
                        mem.node(level, index).unwrap(),
                        "node {level}/{index} at size {size}"
                    );
                }
                // The first node not yet complete is missing, not made up.
                assert!(stored_node(proj, b"M", level, size >> level).is_err());
            }
        }
        // A tile shorter than the tree size says is refused on append.
        let mut ov = Overlay::new(proj);
        let leaf = merkle::leaf_hash(b"x");
        assert!(append(&mut ov, b"M", size + 1, leaf).is_err());
    }
}
