//! [`IdSet`]: a small set of ids kept as one sorted vector, for indexes whose sets hold
//! one id almost always (a credential name without case, per owner).
//!
//! A `BTreeSet<Id>` allocates a ~190-byte node even for one id; at 100k credentials
//! the name index's sets were ~18 MB of the resident state (docs/PERFORMANCE.md, sixth
//! pass).
//!
//! **Invariant:** the ids are sorted, each once; an `IdSet` serializes exactly as a
//! `BTreeSet<Id>` does (a sequence in order) and decodes any sequence to the set a
//! `BTreeSet` would hold, so the state snapshot's bytes are unchanged.

use crate::id::Id;
use serde::{Deserialize, Serialize};

/// A sorted set of ids (see the module documentation).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Vec<Id>")]
pub struct IdSet(Vec<Id>);

impl From<Vec<Id>> for IdSet {
    fn from(mut ids: Vec<Id>) -> IdSet {
        ids.sort_unstable();
        ids.dedup();
        IdSet(ids)
    }
}

impl IdSet {
    /// Adds `id`; whether it was new.
    pub fn insert(&mut self, id: Id) -> bool {
        match self.0.binary_search(&id) {
            Ok(_) => false,
            Err(i) => {
                self.0.insert(i, id);
                true
            }
        }
    }

    /// Removes `id`; whether it was there.
    pub fn remove(&mut self, id: &Id) -> bool {
        match self.0.binary_search(id) {
            Ok(i) => {
                self.0.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The ids in order.
    pub fn iter(&self) -> impl Iterator<Item = &Id> + '_ {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::IdSet;
    use crate::codec::{decode, encode};
    use crate::id::Id;
    use std::collections::BTreeSet;

    #[test]
    fn behaves_as_a_btreeset_and_encodes_as_one() {
        let ids: Vec<Id> = (0..5).map(|_| Id::random()).collect();
        let mut set = IdSet::default();
        let mut reference = BTreeSet::new();
        for id in [ids[3], ids[1], ids[3], ids[4], ids[0], ids[2]] {
            assert_eq!(set.insert(id), reference.insert(id));
        }
        for id in [ids[1], ids[1]] {
            assert_eq!(set.remove(&id), reference.remove(&id));
        }
        assert!(set.iter().eq(reference.iter()));
        let bytes = encode(&set).expect("encode");
        assert_eq!(bytes, encode(&reference).expect("encode"));
        let back: IdSet = decode(&bytes).expect("decode");
        assert_eq!(back, set);

        // A sequence out of order or with repeats (never written, but decodable) lands
        // as a BTreeSet holds it.
        let unsorted = vec![ids[4], ids[0], ids[4], ids[2]];
        let bytes = encode(&unsorted).expect("encode");
        let mut set: IdSet = decode(&bytes).expect("decode");
        let reference: BTreeSet<Id> = decode(&bytes).expect("decode");
        assert!(set.iter().eq(reference.iter()));
        for id in &reference {
            assert!(set.remove(id));
        }
        assert!(set.is_empty());
    }
}
