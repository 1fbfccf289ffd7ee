//! Serde plumbing that lets [`State`](super::State) be written to a state snapshot
//! (`crate::snapshot`) and read back: hash maps serialized in one order (so equal states
//! encode to equal bytes), shared payloads by value, and tenant templates parsed again
//! from their recorded definitions after a read.
//!
//! **Invariant:** nothing here holds a rule; a state read back is the state that was
//! written, with every derived field recomputed exactly as `apply` computes it.

use super::{apply, State};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::HashMap;
use std::sync::Arc;

/// Serializes a hash map with its entries ordered by the canonical encoding of their
/// keys, so the bytes do not depend on the map's iteration order.
pub(super) fn sorted<K, V, S>(map: &HashMap<K, V>, s: S) -> Result<S::Ok, S::Error>
where
    K: Serialize,
    V: Serialize,
    S: Serializer,
{
    let mut entries = Vec::with_capacity(map.len());
    for (k, v) in map {
        let key = crate::codec::encode(k).map_err(serde::ser::Error::custom)?;
        entries.push((key, k, v));
    }
    entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    s.collect_map(entries.into_iter().map(|(_, k, v)| (k, v)))
}

/// An `Arc<T>` serialized as its `T`.
pub(super) mod arc {
    use super::{Arc, Deserialize, Deserializer, Serialize, Serializer};

    pub(crate) fn serialize<T: Serialize, S: Serializer>(
        v: &Arc<T>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        T::serialize(v, s)
    }

    pub(crate) fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Arc<T>, D::Error> {
        T::deserialize(d).map(Arc::new)
    }
}

impl State {
    /// Recomputes what a snapshot does not carry (the parsed tenant templates), after
    /// the state was read from one.
    pub fn restore_derived(&mut self) {
        for templates in self.templates.values_mut() {
            for (name, t) in templates.iter_mut() {
                t.template = apply::parse_template(name, &t.definition);
            }
        }
    }
}
