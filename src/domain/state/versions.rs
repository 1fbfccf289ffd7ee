//! [`Versions`]: the retained versions of one credential, a map from version number to
//! [`Version`] kept as one sorted vector.
//!
//! A credential keeps a handful of versions (`Config::retain_versions`, 10 by default),
//! and the state holds one such map per credential: a `BTreeMap` allocates a 500-byte
//! node even for one entry, which at 100k credentials was ~46 MB of the resident state and
//! a large part of the state snapshot's decode time (docs/PERFORMANCE.md, fourth pass).
//!
//! **Invariant:** the entries are sorted by version number, each number once; it
//! serializes exactly as a `BTreeMap<u32, Version>` does (a map in key order), so the
//! state snapshot's bytes are unchanged.

use super::Version;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The retained versions of a credential (see the module documentation).
#[derive(Clone, Debug, Default)]
pub struct Versions(Vec<(u32, Version)>);

impl Versions {
    fn find(&self, version: u32) -> Result<usize, usize> {
        self.0.binary_search_by_key(&version, |(v, _)| *v)
    }

    /// The version numbered `version`.
    pub fn get(&self, version: &u32) -> Option<&Version> {
        self.find(*version).ok().map(|i| &self.0[i].1)
    }

    /// Whether `version` is retained.
    pub fn contains_key(&self, version: &u32) -> bool {
        self.find(*version).is_ok()
    }

    /// Adds or replaces `version`; returns the one it replaced.
    pub fn insert(&mut self, version: u32, value: Version) -> Option<Version> {
        match self.find(version) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (version, value));
                None
            }
        }
    }

    /// Removes `version`; returns it.
    pub fn remove(&mut self, version: &u32) -> Option<Version> {
        self.find(*version).ok().map(|i| self.0.remove(i).1)
    }

    /// Removes every version.
    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// The version numbers, ascending.
    pub fn keys(&self) -> impl Iterator<Item = &u32> + '_ {
        self.0.iter().map(|(v, _)| v)
    }

    /// The versions, ascending.
    pub fn iter(&self) -> impl Iterator<Item = (&u32, &Version)> + '_ {
        self.0.iter().map(|(v, x)| (v, x))
    }

    /// How many versions are retained.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<const N: usize> From<[(u32, Version); N]> for Versions {
    fn from(entries: [(u32, Version); N]) -> Versions {
        let mut out = Versions(Vec::with_capacity(N));
        for (v, x) in entries {
            out.insert(v, x);
        }
        out
    }
}

impl Serialize for Versions {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(v, x)| (v, x)))
    }
}

impl<'de> Deserialize<'de> for Versions {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Versions, D::Error> {
        struct Entries;
        impl<'de> Visitor<'de> for Entries {
            type Value = Versions;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map of version numbers to versions")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Versions, A::Error> {
                let mut out = Versions(Vec::with_capacity(map.size_hint().unwrap_or(0).min(64)));
                while let Some((v, x)) = map.next_entry::<u32, Version>()? {
                    // Sorted input (what `serialize` writes) appends; anything else is
                    // placed as a `BTreeMap` would place it (a repeated number: the last).
                    match out.0.last() {
                        Some((last, _)) if *last < v => out.0.push((v, x)),
                        None => out.0.push((v, x)),
                        Some(_) => {
                            out.insert(v, x);
                        }
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_map(Entries)
    }
}

#[cfg(test)]
mod tests {
    use super::{Version, Versions};
    use crate::event::Sealed;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    fn version(n: u8) -> Version {
        Version {
            public: [("host".to_owned(), format!("h{n}"))].into_iter().collect(),
            sealed: Arc::new(Sealed {
                nonce: [n; 24],
                ciphertext: vec![n; 40],
            }),
            created_at_ms: i64::from(n),
        }
    }

    #[test]
    fn behaves_as_a_sorted_map_and_encodes_as_a_btreemap() {
        let mut vs = Versions::from([(1, version(1))]);
        let mut reference: BTreeMap<u32, Version> = [(1, version(1))].into();
        for (v, n) in [(3, 3), (2, 2), (7, 7), (3, 30)] {
            assert_eq!(
                vs.insert(v, version(n)).map(|x| x.created_at_ms),
                reference.insert(v, version(n)).map(|x| x.created_at_ms)
            );
        }
        assert_eq!(vs.remove(&2).map(|x| x.created_at_ms), Some(2));
        reference.remove(&2);
        assert_eq!(vs.remove(&2).map(|x| x.created_at_ms), None);
        assert_eq!(vs.keys().copied().collect::<Vec<_>>(), vec![1, 3, 7]);
        assert!(vs.contains_key(&7) && !vs.contains_key(&2));
        assert_eq!(vs.get(&3).map(|x| x.created_at_ms), Some(30));
        assert_eq!(vs.len(), 3);

        let bytes = crate::codec::encode(&vs).expect("encode");
        assert_eq!(bytes, crate::codec::encode(&reference).expect("encode"));
        let back: Versions = crate::codec::decode(&bytes).expect("decode");
        assert_eq!(back.keys().copied().collect::<Vec<_>>(), vec![1, 3, 7]);
        assert_eq!(crate::codec::encode(&back).expect("encode"), bytes);

        // Unsorted input (never written, but decodable) lands where a BTreeMap puts it.
        let unsorted: Vec<(u32, Version)> =
            vec![(5, version(5)), (2, version(2)), (5, version(50))];
        let mut map_bytes = crate::codec::encode(&(unsorted.len() as u64)).expect("len");
        for (v, x) in &unsorted {
            map_bytes.extend(crate::codec::encode(&(v, x)).expect("entry"));
        }
        let decoded: Versions = crate::codec::decode(&map_bytes).expect("decode");
        let as_btree: BTreeMap<u32, Version> = crate::codec::decode(&map_bytes).expect("decode");
        assert_eq!(
            decoded
                .iter()
                .map(|(v, x)| (*v, x.created_at_ms))
                .collect::<Vec<_>>(),
            as_btree
                .iter()
                .map(|(v, x)| (*v, x.created_at_ms))
                .collect::<Vec<_>>()
        );
        vs.clear();
        assert!(vs.is_empty());
    }
}
