//! The stored record of an event and its sealing: canonical bytes, the BLAKE3 hash with
//! domain separation (covering the previous hash, never a signature), the ed25519
//! signature over it, and [`SignedEvent`], whose bytes, hash and event always agree.

use super::{Event, Hash32, EVENT_FORMAT, HASH_DOMAIN, KEY_ROTATION_DOMAIN, SIG_DOMAIN};
use crate::codec::{self, CodecError};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

/// The stored form of a signed event: its canonical bytes and its signature.
///
/// Encoded with the codec: `u64 LE length || event bytes || u64 LE 64 || signature`.
/// These exact bytes are the event's Merkle leaf.
#[derive(Serialize, Deserialize)]
struct Record {
    event: Vec<u8>,
    signature: Vec<u8>,
}

/// Why a stored record is not a valid signed event.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordError {
    /// The record or the event inside is not canonical bytes: corrupt or tampered data.
    #[error("undecodable record: {0}")]
    Undecodable(#[from] CodecError),
    /// The signature field is not 64 bytes.
    #[error("signature is {0} bytes, not 64")]
    SignatureLength(usize),
    /// The envelope format is not one this build reads.
    #[error("unknown event format {0}")]
    UnknownFormat(u16),
}

/// A stored record's place in the hash chain, read without decoding its body
/// ([`record_link`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link {
    /// The event's sequence number.
    pub seq: u64,
    /// The hash of the event before it, as the event names it.
    pub prev: Hash32,
    /// The event's own hash ([`event_hash`] of its bytes).
    pub hash: Hash32,
}

/// The leading fields of an encoded [`Event`], in its field order.
#[derive(Deserialize)]
struct Header {
    format: u16,
    seq: u64,
    _at_ms: i64,
    prev: Hash32,
}

/// The chain link of a stored record: its framing, signature length and event format
/// are checked and its hash computed, but the event's body is not decoded. Enough to
/// check that a stretch of the log is the chain a later hash commits to (any changed
/// byte of an event changes its hash, so breaks the next link); what the body means is
/// left to [`SignedEvent::from_record`].
pub fn record_link(record: &[u8]) -> Result<Link, RecordError> {
    let (event, _) = split_record(record)?;
    let h: Header = codec::decode_prefix(event)?;
    if h.format != EVENT_FORMAT {
        return Err(RecordError::UnknownFormat(h.format));
    }
    Ok(Link {
        seq: h.seq,
        prev: h.prev,
        hash: event_hash(event),
    })
}

/// A record's event bytes and signature. Reads the framing directly (`u64 LE length ‖
/// event ‖ u64 LE 64 ‖ signature`, nothing after, at most `codec::MAX_LEN` bytes); any
/// other input goes through the codec's decoding of [`Record`], so the accepted records
/// and the errors are the codec's.
fn split_record(record: &[u8]) -> Result<(&[u8], &[u8; 64]), RecordError> {
    let direct = || {
        if record.len() > codec::MAX_LEN {
            return None;
        }
        let (len, rest) = record.split_first_chunk::<8>()?;
        let len = usize::try_from(u64::from_le_bytes(*len)).ok()?;
        let (event, rest) = rest.split_at_checked(len)?;
        let (sig_len, sig) = rest.split_first_chunk::<8>()?;
        if u64::from_le_bytes(*sig_len) != 64 {
            return None;
        }
        // Exactly 64 bytes left: no trailing bytes.
        let sig = <&[u8; 64]>::try_from(sig).ok()?;
        Some((event, sig))
    };
    if let Some(parts) = direct() {
        return Ok(parts);
    }
    let r: Record = codec::decode(record)?;
    // The codec accepted what the direct reading did not: only a signature of another
    // length can be that.
    Err(RecordError::SignatureLength(r.signature.len()))
}

/// An event bound into the chain: bytes, hash and signature that agree.
#[derive(Clone, Debug)]
pub struct SignedEvent {
    event: Event,
    bytes: Vec<u8>,
    hash: Hash32,
    signature: [u8; 64],
}

/// The BLAKE3 hash of an event's canonical bytes, with domain separation.
pub fn event_hash(bytes: &[u8]) -> Hash32 {
    let mut h = blake3::Hasher::new();
    h.update(HASH_DOMAIN);
    h.update(bytes);
    *h.finalize().as_bytes()
}

/// The message signed for an event with the given hash.
pub fn signing_message(hash: &Hash32) -> Vec<u8> {
    let mut m = Vec::with_capacity(SIG_DOMAIN.len() + 32);
    m.extend_from_slice(SIG_DOMAIN);
    m.extend_from_slice(hash);
    m
}

/// The message a new signing key signs to prove possession during a rotation.
pub fn rotation_message(old_key: &[u8; 32], new_key: &[u8; 32], seq: u64) -> Vec<u8> {
    let mut m = Vec::with_capacity(KEY_ROTATION_DOMAIN.len() + 72);
    m.extend_from_slice(KEY_ROTATION_DOMAIN);
    m.extend_from_slice(old_key);
    m.extend_from_slice(new_key);
    m.extend_from_slice(&seq.to_le_bytes());
    m
}

impl SignedEvent {
    /// Encodes, hashes and signs `event`.
    pub fn seal(event: Event, key: &SigningKey) -> Result<Self, CodecError> {
        let bytes = codec::encode(&event)?;
        // The stored record adds 80 bytes of framing and signature; keep it readable.
        if bytes.len() > codec::MAX_LEN - 128 {
            return Err(CodecError::Encode(format!(
                "an event of {} bytes is too large",
                bytes.len()
            )));
        }
        let hash = event_hash(&bytes);
        let signature = key.sign(&signing_message(&hash)).to_bytes();
        Ok(SignedEvent {
            event,
            bytes,
            hash,
            signature,
        })
    }

    /// Decodes a stored record and recomputes its hash. Does not check the signature.
    pub fn from_record(record: &[u8]) -> Result<Self, RecordError> {
        let (bytes, signature) = split_record(record)?;
        let event: Event = codec::decode_canonical(bytes)?;
        if event.format != EVENT_FORMAT {
            return Err(RecordError::UnknownFormat(event.format));
        }
        Ok(SignedEvent {
            event,
            bytes: bytes.to_vec(),
            hash: event_hash(bytes),
            signature: *signature,
        })
    }

    /// The stored record bytes (also the Merkle leaf): the codec's encoding of
    /// [`Record`], written out directly (`u64 LE length ‖ event bytes ‖ u64 LE 64 ‖
    /// signature`) so the event bytes are copied once.
    pub fn to_record(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.bytes.len() + 80);
        out.extend_from_slice(&(self.bytes.len() as u64).to_le_bytes());
        out.extend_from_slice(&self.bytes);
        out.extend_from_slice(&64u64.to_le_bytes());
        out.extend_from_slice(&self.signature);
        out
    }

    /// Checks the signature against `key`.
    pub fn verify_signature(&self, key: &VerifyingKey) -> bool {
        key.verify(
            &signing_message(&self.hash),
            &Signature::from_bytes(&self.signature),
        )
        .is_ok()
    }

    pub fn event(&self) -> &Event {
        &self.event
    }
    pub fn into_event(self) -> Event {
        self.event
    }
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
    pub fn hash(&self) -> &Hash32 {
        &self.hash
    }
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }
    pub fn seq(&self) -> u64 {
        self.event.seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_written_out_is_the_codec_encoding() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let event = Event {
            format: EVENT_FORMAT,
            seq: 3,
            at_ms: 1_700_000_000_000,
            prev: [9; 32],
            actor: crate::event::Actor::default(),
            context: crate::event::RequestContext::default(),
            body: crate::event::Body::AuthFailures {
                source: None,
                first_ms: 1,
                last_ms: 2,
                count: 2,
                malformed: 0,
                tokens: vec![],
            },
        };
        let sealed = SignedEvent::seal(event, &key).unwrap();
        let by_codec = codec::encode(&Record {
            event: sealed.bytes().to_vec(),
            signature: sealed.signature.to_vec(),
        })
        .unwrap();
        assert_eq!(sealed.to_record(), by_codec);
        assert_eq!(
            SignedEvent::from_record(&by_codec).unwrap().hash(),
            sealed.hash()
        );
    }

    /// The stored record of a signed `tenant_created` event.
    fn tenant_record(seq: u64, prev: Hash32, name: &str) -> Vec<u8> {
        let event = Event {
            format: EVENT_FORMAT,
            seq,
            at_ms: 1_700_000_000_000,
            prev,
            actor: crate::event::Actor::default(),
            context: crate::event::RequestContext::default(),
            body: crate::event::Body::TenantCreated {
                tenant: crate::id::Id::NIL,
                name: name.into(),
            },
        };
        let key = SigningKey::from_bytes(&[7; 32]);
        SignedEvent::seal(event, &key).unwrap().to_record()
    }

    #[test]
    fn a_records_link_is_what_the_full_decode_finds_and_any_changed_byte_changes_it() {
        let record = tenant_record(41, [5; 32], "acme");
        let full = SignedEvent::from_record(&record).unwrap();
        let link = record_link(&record).unwrap();
        assert_eq!(
            link,
            Link {
                seq: 41,
                prev: [5; 32],
                hash: *full.hash()
            }
        );
        // Every byte of the event (header and body) is under the hash.
        for i in 8..8 + full.bytes().len() {
            let mut bad = record.clone();
            bad[i] ^= 1;
            if let Ok(l) = record_link(&bad) {
                assert_ne!(l, link, "byte {i} changed nothing");
            }
        }
        let mut short_sig = record.clone();
        short_sig.truncate(record.len() - 1);
        assert!(record_link(&short_sig).is_err());
        let mut other_format = record.clone();
        other_format[8] ^= 0xff;
        assert!(matches!(
            record_link(&other_format),
            Err(RecordError::UnknownFormat(_))
        ));
    }

    /// What the codec's decoding of [`Record`] makes of `record` (the reading
    /// [`split_record`] replaced).
    fn by_codec(record: &[u8]) -> Result<(Vec<u8>, [u8; 64]), RecordError> {
        let r: Record = codec::decode(record)?;
        let sig = <[u8; 64]>::try_from(r.signature.as_slice())
            .map_err(|_| RecordError::SignatureLength(r.signature.len()))?;
        Ok((r.event, sig))
    }

    #[test]
    fn the_direct_framing_read_accepts_and_refuses_exactly_what_the_codec_does() {
        let record = tenant_record(2, [1; 32], "t");
        let n = record.len();
        let mut cases = vec![record.clone(), vec![], record[..n - 1].to_vec()];
        cases.push([record.as_slice(), &[0]].concat());
        // Every byte of both length fields, set to each of a few values.
        for i in (0..8).chain(n - 72..n - 64) {
            for v in [0u8, 1, 63, 64, 65, 0x7f, 0xff] {
                let mut bad = record.clone();
                bad[i] = v;
                cases.push(bad);
            }
        }
        // A 63- and a 65-byte signature with a consistent length field.
        for len in [63usize, 65] {
            let mut other = record[..n - 72].to_vec();
            other.extend_from_slice(&(len as u64).to_le_bytes());
            other.extend(std::iter::repeat_n(3u8, len));
            cases.push(other);
        }
        let mut too_long = vec![0u8; codec::MAX_LEN + 1];
        too_long[..8].copy_from_slice(&((codec::MAX_LEN - 80) as u64).to_le_bytes());
        cases.push(too_long);
        for (i, case) in cases.iter().enumerate() {
            let direct = split_record(case).map(|(e, s)| (e.to_vec(), *s));
            assert_eq!(direct, by_codec(case), "case {i}");
        }
    }
}
