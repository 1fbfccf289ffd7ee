//! The one canonical codec for every byte that is hashed, signed or stored.
//!
//! Everything credledger hashes or signs (events, stored records, golden vectors) goes
//! through [`encode`] and [`decode`]. The bytes are bincode 2.x in serde mode with one
//! fixed configuration: little-endian, fixed-width integers, `u64` length prefixes,
//! `u32` enum variant indices. `docs/FORMAT.md` spells the resulting bytes out so the
//! codec can be swapped for a hand-written one without changing a single byte; the golden
//! vectors under `schemas/vectors/` pin them.
//!
//! **Invariant:** decoding rejects trailing bytes and inputs above [`MAX_LEN`], so every
//! value has exactly one accepted encoding length and a decoded value re-encodes to the
//! same bytes.

use bincode::config::{self, Configuration, Fixint, Limit, LittleEndian};
use serde::{de::DeserializeOwned, Serialize};

/// The largest encoded value the codec accepts, in bytes (1 MiB).
pub const MAX_LEN: usize = 1 << 20;

type Config = Configuration<LittleEndian, Fixint, Limit<MAX_LEN>>;

const fn config() -> Config {
    config::standard()
        .with_little_endian()
        .with_fixed_int_encoding()
        .with_limit::<MAX_LEN>()
}

/// Errors of the canonical codec.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodecError {
    /// The value could not be encoded (too large, or a type the format cannot carry).
    /// A programming error or oversized input: report as a 4xx/500, do not retry.
    #[error("cannot encode value: {0}")]
    Encode(String),
    /// The bytes are not a valid encoding. Stored data with this error is corrupt or
    /// tampered: report the record, never guess.
    #[error("cannot decode bytes: {0}")]
    Decode(String),
    /// The bytes decoded but were followed by unread bytes, which a canonical encoding
    /// never has. Treated exactly like [`CodecError::Decode`].
    #[error("{0} trailing bytes after the encoded value")]
    TrailingBytes(usize),
    /// The bytes decode but are not the canonical encoding of the value (e.g. map keys out
    /// of order or repeated). Treated exactly like [`CodecError::Decode`].
    #[error("bytes are not in canonical form")]
    NotCanonical,
}

/// Encodes `value` canonically. Values above [`MAX_LEN`] are refused here, so nothing is
/// ever stored that could not be read back.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    let bytes = bincode::serde::encode_to_vec(value, config())
        .map_err(|e| CodecError::Encode(e.to_string()))?;
    if bytes.len() > MAX_LEN {
        return Err(CodecError::Encode(format!(
            "{} bytes exceed the {MAX_LEN}-byte limit",
            bytes.len()
        )));
    }
    Ok(bytes)
}

/// Decodes like [`decode`], then re-encodes and requires the same bytes. This rejects the
/// encodings serde accepts but we never produce (map entries out of order or duplicated),
/// so a signed value has exactly one byte form.
pub fn decode_canonical<T: DeserializeOwned + Serialize>(bytes: &[u8]) -> Result<T, CodecError> {
    let value: T = decode(bytes)?;
    // Re-encode against the input instead of into a new buffer: the first differing
    // byte stops it, and nothing is allocated.
    let mut same = Compare { rest: bytes };
    match bincode::serde::encode_into_writer(&value, &mut same, config()) {
        Ok(()) if same.rest.is_empty() => Ok(value),
        Ok(()) | Err(bincode::error::EncodeError::UnexpectedEnd) => Err(CodecError::NotCanonical),
        Err(e) => Err(CodecError::Encode(e.to_string())),
    }
}

/// A bincode writer that checks what is written against expected bytes; it fails with
/// `UnexpectedEnd` at the first byte that differs or overruns them.
struct Compare<'a> {
    rest: &'a [u8],
}

impl bincode::enc::write::Writer for Compare<'_> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), bincode::error::EncodeError> {
        match self.rest.strip_prefix(bytes) {
            Some(rest) => {
                self.rest = rest;
                Ok(())
            }
            None => Err(bincode::error::EncodeError::UnexpectedEnd),
        }
    }
}

/// Decodes exactly one value from `bytes`, rejecting trailing bytes.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    if bytes.len() > MAX_LEN {
        return Err(CodecError::Decode(format!(
            "{} bytes exceed the {MAX_LEN}-byte limit",
            bytes.len()
        )));
    }
    let (value, read) = bincode::serde::decode_from_slice(bytes, config())
        .map_err(|e| CodecError::Decode(e.to_string()))?;
    if read != bytes.len() {
        return Err(CodecError::TrailingBytes(bytes.len() - read));
    }
    Ok(value)
}

/// Decodes the value at the start of `bytes`, ignoring what follows it: for reading the
/// leading fields of a larger encoded value (an event's header) without decoding the rest.
pub fn decode_prefix<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (value, _) = bincode::serde::decode_from_slice(bytes, config())
        .map_err(|e| CodecError::Decode(e.to_string()))?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    enum Shape {
        A,
        B {
            x: u32,
            name: String,
            tag: Option<u8>,
        },
    }

    #[test]
    fn fixed_layout_is_little_endian_fixint() {
        let bytes = encode(&Shape::B {
            x: 1,
            name: "hi".into(),
            tag: Some(7),
        })
        .unwrap();
        assert_eq!(
            bytes,
            [
                1, 0, 0, 0, // variant index u32
                1, 0, 0, 0, // x: u32
                2, 0, 0, 0, 0, 0, 0, 0, b'h', b'i', // string: u64 len + utf8
                1, 7, // Some(7)
            ]
        );
        assert_eq!(
            decode::<Shape>(&bytes).unwrap(),
            Shape::B {
                x: 1,
                name: "hi".into(),
                tag: Some(7)
            }
        );
        assert_eq!(encode(&Shape::A).unwrap(), [0, 0, 0, 0]);
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        let mut bytes = encode(&Shape::A).unwrap();
        bytes.push(0);
        assert_eq!(decode::<Shape>(&bytes), Err(CodecError::TrailingBytes(1)));
    }

    #[test]
    fn truncated_and_unknown_variant_are_rejected() {
        let bytes = encode(&Shape::B {
            x: 1,
            name: "hi".into(),
            tag: None,
        })
        .unwrap();
        assert!(matches!(
            decode::<Shape>(&bytes[..bytes.len() - 1]),
            Err(CodecError::Decode(_))
        ));
        assert!(matches!(
            decode::<Shape>(&[9, 0, 0, 0]),
            Err(CodecError::Decode(_))
        ));
    }

    #[test]
    fn out_of_order_and_duplicate_map_keys_are_not_canonical() {
        use std::collections::BTreeMap;
        let m: BTreeMap<String, u8> = [("a".to_string(), 1), ("b".to_string(), 2)].into();
        let good = encode(&m).unwrap();
        assert_eq!(decode_canonical::<BTreeMap<String, u8>>(&good).unwrap(), m);
        // Swap the two entries: b then a.
        let entry = |k: &str, v: u8| [&1u64.to_le_bytes()[..], k.as_bytes(), &[v]].concat();
        let swapped = [&2u64.to_le_bytes()[..], &entry("b", 2), &entry("a", 1)].concat();
        assert_eq!(
            decode_canonical::<BTreeMap<String, u8>>(&swapped),
            Err(CodecError::NotCanonical)
        );
        let dup = [&2u64.to_le_bytes()[..], &entry("a", 1), &entry("a", 1)].concat();
        assert_eq!(
            decode_canonical::<BTreeMap<String, u8>>(&dup),
            Err(CodecError::NotCanonical)
        );
    }

    #[test]
    fn oversized_values_are_refused_when_encoding() {
        assert!(matches!(
            encode(&vec![0u8; MAX_LEN]),
            Err(CodecError::Encode(_))
        ));
    }

    #[test]
    fn huge_length_prefix_is_rejected_without_allocating() {
        let mut bytes = vec![1, 0, 0, 0, 1, 0, 0, 0];
        bytes.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            decode::<Shape>(&bytes),
            Err(CodecError::Decode(_))
        ));
    }
}
