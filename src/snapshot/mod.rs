//! State snapshots: the ledger's in-memory [`State`] (and the one other fact the open
//! folds, a crypto-shred left pending) as of the first `covers` events of the log, tied
//! to the hash of event `covers - 1` and authenticated by a keyed BLAKE3 hash, so that
//! opening a ledger reads the snapshot and folds only the log's tail.
//!
//! The bytes (`docs/FORMAT.md`, State snapshot): an 8-byte magic, the format version
//! (u16 BE), `covers` (u64 BE), the hash of event `covers - 1` (32), the MAC (32), then the
//! body (the pending shred and the state, bincode in the codec's configuration with a
//! larger size limit), as one zstd frame (version 2; version 1, still read, has the body
//! as it is: compression shrank a 100k-credential snapshot from 46.8 to 19.1 MB, which
//! is read at every open and rewritten every ~90k events). The MAC is
//! `BLAKE3-keyed(K, everything but the MAC)` under `K = BLAKE3-derive-key(MAC_CONTEXT,
//! token-hash key)`: every node of a ledger holds the token-hash key (it authenticates
//! tokens), and the store does not. It covers the stored (compressed) bytes, so it is
//! checked before anything is decompressed. A snapshot is not part of what the log
//! proves and is never shown to anyone.
//!
//! **Invariant:** pure (no I/O); [`decode`] returns a state only from bytes whose MAC
//! verifies under the caller's key and whose version is 1 or this build's [`VERSION`].
//! That a snapshot agrees with the log (its event exists and has its hash) is checked by
//! the caller (`ledger::snapshot`), which also decides what a refusal means.

use crate::domain::State;
use crate::event::Hash32;
use crate::id::Id;
use bincode::config::{self, Configuration, Fixint, Limit, LittleEndian};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// The format version this build writes and reads. Bump it whenever the encoding of
/// [`State`] changes (a field added, removed or retyped anywhere inside it): a snapshot of
/// another version is refused and the log replayed in full. The golden test in
/// `tests/snapshot.rs` fails when the encoding changes without a bump.
///
/// Version 2 is version 1's body compressed: both are read, and a version 1 snapshot is
/// replaced by the next write. A change of `State`'s encoding makes this 3 and stops
/// reading 1 as well.
pub const VERSION: u16 = 2;

/// The version whose body is not compressed (read, never written).
const UNCOMPRESSED: u16 = 1;

/// zstd's level for the body (its default). The frame depends on the zstd library, so
/// the pinned test compares the decompressed body.
const ZSTD_LEVEL: i32 = 3;

/// The first bytes of every snapshot.
pub const MAGIC: &[u8; 8] = b"clsnap\n\0";

/// The key-derivation context of the MAC key.
pub const MAC_CONTEXT: &str = "credledger 2026-12-02 state snapshot MAC v1";

/// The largest snapshot body read or written (1 GiB).
pub const MAX_BODY: usize = 1 << 30;

const HEADER: usize = 8 + 2 + 8 + 32;
const MAC_LEN: usize = 32;

type Config = Configuration<LittleEndian, Fixint, Limit<MAX_BODY>>;

const fn body_config() -> Config {
    config::standard()
        .with_little_endian()
        .with_fixed_int_encoding()
        .with_limit::<MAX_BODY>()
}

/// The key snapshots are authenticated under, derived from the token-hash key.
pub struct MacKey(Zeroizing<[u8; 32]>);

impl MacKey {
    /// The snapshot key of the ledger whose token-hash key is `token_key`.
    pub fn derive(token_key: &[u8; 32]) -> MacKey {
        MacKey(Zeroizing::new(blake3::derive_key(MAC_CONTEXT, token_key)))
    }

    fn mac(&self, header: &[u8], body: &[u8]) -> blake3::Hash {
        let mut h = blake3::Hasher::new_keyed(&self.0);
        h.update(header);
        h.update(body);
        h.finalize()
    }
}

impl std::fmt::Debug for MacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MacKey(redacted)")
    }
}

/// A state as of the first `covers` events of the log.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// How many events the state folds (events `0..covers`); at least 1.
    pub covers: u64,
    /// The hash of event `covers - 1`.
    pub hash: Hash32,
    /// A destroy whose crypto-shred was not complete at `covers`: `(seq, credential)`.
    pub pending_shred: Option<(u64, Id)>,
    pub state: State,
}

/// Why bytes are not a snapshot this build may use. Every variant means "replay the log
/// in full instead"; none says anything about the log itself.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refused {
    /// Too short, or not starting with [`MAGIC`].
    #[error("not a state snapshot ({0} bytes without the snapshot header)")]
    NotASnapshot(usize),
    /// Written by a build with another format version.
    #[error("the snapshot has format version {found}, this build reads 1 and {VERSION}")]
    Version { found: u16 },
    /// The MAC does not verify: the snapshot was not written by a node of this ledger
    /// (forged or damaged).
    #[error("the snapshot's MAC does not verify under this ledger's key (forged or damaged)")]
    Mac,
    /// The MAC verified but the body does not decode.
    #[error("the snapshot's body does not decode: {0}")]
    Undecodable(String),
    /// A snapshot of no events.
    #[error("the snapshot covers no events")]
    Empty,
    /// The state does not say it folded `covers` events.
    #[error("the snapshot says it covers {covers} events but its state folded {len}")]
    Inconsistent { covers: u64, len: u64 },
}

#[derive(Serialize)]
struct BodyRef<'a> {
    pending_shred: Option<(u64, Id)>,
    state: &'a State,
}

#[derive(Deserialize)]
struct Body {
    pending_shred: Option<(u64, Id)>,
    state: State,
}

fn header(version: u16, covers: u64, hash: &Hash32) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[..8].copy_from_slice(MAGIC);
    h[8..10].copy_from_slice(&version.to_be_bytes());
    h[10..18].copy_from_slice(&covers.to_be_bytes());
    h[18..50].copy_from_slice(hash);
    h
}

/// Encodes `state` (which folded events `0..state.len`, the last with hash `hash`) as a
/// snapshot authenticated under `key`. `None` for a state of no events, or one whose
/// encoding exceeds [`MAX_BODY`].
pub fn encode(
    state: &State,
    hash: &Hash32,
    pending_shred: Option<(u64, Id)>,
    key: &MacKey,
) -> Option<Vec<u8>> {
    if state.len == 0 {
        return None;
    }
    let body = bincode::serde::encode_to_vec(
        BodyRef {
            pending_shred,
            state,
        },
        body_config(),
    )
    .ok()?;
    let body = zstd::bulk::compress(&body, ZSTD_LEVEL).ok()?;
    Some(seal(header(VERSION, state.len, hash), &body, key))
}

/// `head ‖ MAC ‖ body`.
fn seal(head: [u8; HEADER], body: &[u8], key: &MacKey) -> Vec<u8> {
    let mac = key.mac(&head, body);
    let mut out = Vec::with_capacity(HEADER + MAC_LEN + body.len());
    out.extend_from_slice(&head);
    out.extend_from_slice(mac.as_bytes());
    out.extend_from_slice(body);
    out
}

/// The body of a version 2 snapshot, at most `limit` bytes decompressed, into one
/// allocation of the size the frame's header records (a buffer grown while decoding
/// left ~100 MB more resident after an open at 100k credentials). Called only on bytes
/// whose MAC verified, so only a node of this ledger can have made the frame; the limit
/// still bounds what a damaged one could allocate.
fn decompress(frame: &[u8], limit: usize) -> Result<Vec<u8>, Refused> {
    let undecodable = |what: String| Refused::Undecodable(format!("zstd: {what}"));
    let size = zstd::zstd_safe::get_frame_content_size(frame)
        .map_err(|_| undecodable("not a frame".into()))?
        .ok_or_else(|| undecodable("a frame without its content size".into()))?;
    if size > limit as u64 {
        return Err(Refused::Undecodable(format!(
            "the body is larger than {limit} bytes"
        )));
    }
    let out =
        zstd::bulk::decompress(frame, size as usize).map_err(|e| undecodable(e.to_string()))?;
    if out.len() as u64 != size {
        return Err(undecodable(format!(
            "{} bytes where the frame says {size}",
            out.len()
        )));
    }
    Ok(out)
}

/// `(covers, hash)` from a snapshot's header, without checking anything else (for
/// messages about a snapshot that was refused).
pub fn peek(bytes: &[u8]) -> Option<(u64, Hash32)> {
    if bytes.len() < HEADER || &bytes[..8] != MAGIC {
        return None;
    }
    let covers = u64::from_be_bytes(bytes[10..18].try_into().ok()?);
    Some((covers, bytes[18..50].try_into().ok()?))
}

/// The size of a snapshot's body before compression (its zstd frame records it), or the
/// stored size of a version 1 body; `None` for bytes that are not a snapshot. Checks
/// nothing else: for the writer's pacing, which is by the state's encoded size.
pub fn body_size(bytes: &[u8]) -> Option<u64> {
    if bytes.len() < HEADER + MAC_LEN || &bytes[..8] != MAGIC {
        return None;
    }
    let body = &bytes[HEADER + MAC_LEN..];
    match u16::from_be_bytes([bytes[8], bytes[9]]) {
        UNCOMPRESSED => Some(body.len() as u64),
        VERSION => zstd::zstd_safe::get_frame_content_size(body).ok().flatten(),
        _ => None,
    }
}

/// Reads a snapshot: the magic, this build's version and the MAC under `key`, then the
/// body. The caller still has to check it against the log.
pub fn decode(bytes: &[u8], key: &MacKey) -> Result<Snapshot, Refused> {
    if bytes.len() < HEADER + MAC_LEN || &bytes[..8] != MAGIC {
        return Err(Refused::NotASnapshot(bytes.len()));
    }
    let found = u16::from_be_bytes([bytes[8], bytes[9]]);
    if found != VERSION && found != UNCOMPRESSED {
        return Err(Refused::Version { found });
    }
    let (head, rest) = bytes.split_at(HEADER);
    let (mac, body) = rest.split_at(MAC_LEN);
    let mac: [u8; MAC_LEN] = mac.try_into().map_err(|_| Refused::Mac)?;
    // blake3::Hash compares in constant time.
    if key.mac(head, body) != blake3::Hash::from(mac) {
        return Err(Refused::Mac);
    }
    let (covers, hash) = peek(bytes).ok_or(Refused::NotASnapshot(bytes.len()))?;
    if covers == 0 {
        return Err(Refused::Empty);
    }
    let decompressed;
    let body = if found == UNCOMPRESSED {
        body
    } else {
        decompressed = decompress(body, MAX_BODY)?;
        &decompressed[..]
    };
    let (decoded, used): (Body, usize) = bincode::serde::decode_from_slice(body, body_config())
        .map_err(|e| Refused::Undecodable(e.to_string()))?;
    if used != body.len() {
        return Err(Refused::Undecodable(format!(
            "{} trailing bytes",
            body.len() - used
        )));
    }
    let mut state = decoded.state;
    if state.len != covers {
        return Err(Refused::Inconsistent {
            covers,
            len: state.len,
        });
    }
    state.restore_derived();
    Ok(Snapshot {
        covers,
        hash,
        pending_shred: decoded.pending_shred,
        state,
    })
}

#[cfg(test)]
mod tests;
