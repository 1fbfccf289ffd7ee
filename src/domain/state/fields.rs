//! [`Fields`]: a credential version's public fields as the state keeps them, one sorted
//! vector of (name, value).
//!
//! The state holds one such map per retained version: a `BTreeMap<String, String>`
//! allocates a ~540-byte node even for one field, which at 100k credentials was the
//! largest single item of the resident state and of the state snapshot's decode
//! (docs/PERFORMANCE.md, sixth pass).
//!
//! **Invariant:** `Fields` serializes exactly as a `BTreeMap<String, String>` does (a map
//! in key order) and decodes any such map to the same entries, so the state snapshot's
//! bytes are unchanged.

use std::collections::BTreeMap;

/// A version's public fields, sorted by name (see the module documentation).
pub type Fields = litemap::LiteMap<String, String>;

/// `map`'s entries as [`Fields`].
pub fn fields_of(map: &BTreeMap<String, String>) -> Fields {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// `fields` as the map the rest of the code takes.
pub fn map_of(fields: &Fields) -> BTreeMap<String, String> {
    fields.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::{fields_of, map_of, Fields};
    use crate::codec::{decode, encode};
    use std::collections::BTreeMap;

    fn map(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
        entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn encodes_and_decodes_exactly_as_a_btreemap() {
        for entries in [
            &[][..],
            &[("host", "https://pve:8006")][..],
            &[
                ("url", "u"),
                ("host", "h"),
                ("token_name", "root@pam!ci"),
                ("a", ""),
            ][..],
        ] {
            let reference = map(entries);
            let fields = fields_of(&reference);
            let bytes = encode(&fields).expect("encode");
            assert_eq!(bytes, encode(&reference).expect("encode"));
            let back: Fields = decode(&bytes).expect("decode");
            assert_eq!(map_of(&back), reference);
            assert_eq!(encode(&back).expect("encode"), bytes);
        }

        // A map written out of order or with a repeated name (never written, but
        // decodable) lands as a BTreeMap puts it: sorted, the last value of a name kept.
        let unsorted = [("z", "1"), ("b", "2"), ("z", "3"), ("a", "4")];
        let mut bytes = encode(&(unsorted.len() as u64)).expect("len");
        for entry in unsorted {
            bytes.extend(encode(&entry).expect("entry"));
        }
        let fields: Fields = decode(&bytes).expect("decode");
        let reference: BTreeMap<String, String> = decode(&bytes).expect("decode");
        assert_eq!(map_of(&fields), reference);
        assert_eq!(
            fields.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            ["a", "b", "z"]
        );
    }
}
