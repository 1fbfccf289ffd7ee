//! Serde helpers: hashes and bytes as standard base64 with padding, as the C2SP tools
//! write them.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{de::Error as _, Deserialize, Deserializer, Serializer};

/// Encodes bytes.
pub fn encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes bytes.
pub fn decode(s: &str) -> Result<Vec<u8>, base64::DecodeError> {
    STANDARD.decode(s)
}

fn decode_hash(s: &str) -> Option<[u8; 32]> {
    decode(s).ok()?.try_into().ok()
}

/// One 32-byte hash.
pub mod hash {
    use super::*;
    pub fn serialize<S: Serializer>(h: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&encode(h))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        decode_hash(&s).ok_or_else(|| D::Error::custom("not the base64 of 32 bytes"))
    }
}

/// A list of 32-byte hashes.
pub mod hashes {
    use super::*;
    pub fn serialize<S: Serializer>(hs: &[[u8; 32]], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(hs.iter().map(|h| encode(h)))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<[u8; 32]>, D::Error> {
        let v = Vec::<String>::deserialize(d)?;
        v.iter()
            .map(|s| decode_hash(s).ok_or_else(|| D::Error::custom("not the base64 of 32 bytes")))
            .collect()
    }
}

/// Arbitrary bytes.
pub mod bytes {
    use super::*;
    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&encode(b))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        decode(&s).map_err(|_| D::Error::custom("not valid base64"))
    }
}
