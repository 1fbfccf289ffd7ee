//! Verifying a bundle with nothing but a verifier key. [`verify_bundle_reader`] runs the
//! stages in file order, each returning what the next one needs, and stops at the first
//! problem: [`check_header`] (the trusted key and a well-formed header),
//! [`check_checkpoint`] (signed by the key in force at its size), [`check_anchors`]
//! (each in the signed tree, via [`check_anchor`]), [`read_frontier`] (the frontier of
//! `[0, from)` and the consistency proof), [`check_events`] (positions, links, signatures
//! and rotations via `replay`, and the end record), [`check_key_chain`] (the proven
//! rotations are the header's) and [`check_root`] (frontier + leaves tie to the signed
//! root).
//!
//! **Invariant:** nothing in the bundle is trusted except through the given key; the
//! header's key chain is only accepted once the anchors and events prove it.

use super::export::anchor_seqs;
use super::format::{Header, KeyEntry, Line};
use super::read::{Events, Frontier, Lines, Read};
use super::FORMAT;
use crate::event::{Body, SignedEvent};
use crate::merkle::{self, Hash};
use crate::note::{self, Checkpoint, NoteError};
use crate::proof::b64;
use crate::replay::{self, Anchor, Problem};
use ed25519_dalek::VerifyingKey;
use serde::Serialize;
use std::io::BufRead;

/// Why a bundle did not verify. All but [`BundleError::Io`] and
/// [`BundleError::BadVerifierKey`] mean "not proven" (CLI exit 1); those two are usage
/// errors (exit 2).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// The `--key` string is not a C2SP Ed25519 verifier key: fix the argument.
    #[error("malformed verifier key: {0}")]
    BadVerifierKey(NoteError),
    /// The bundle could not be read.
    #[error("cannot read the bundle: {0}")]
    Io(#[from] std::io::Error),
    /// The bundle ends early (cut off mid-line or before its end record).
    #[error("truncated bundle: {0}")]
    Truncated(String),
    /// A line is not what the format requires at that place.
    #[error("malformed bundle at line {line}: {detail}")]
    Malformed { line: u64, detail: String },
    /// The header names another format.
    #[error("unsupported bundle format {0:?} (expected {FORMAT:?})")]
    UnknownFormat(String),
    /// The trusted key is not one of this ledger's signing keys.
    #[error("wrong key: {0}")]
    WrongKey(String),
    /// The checkpoint note is not validly signed by the key in force at its size.
    #[error("checkpoint signature invalid: {0}")]
    CheckpointSignature(String),
    /// The checkpoint is for another origin or size than the header says.
    #[error("checkpoint mismatch: {0}")]
    CheckpointMismatch(String),
    /// An anchor event (genesis or a key rotation outside the range) does not check out.
    #[error("anchor event {seq}: {detail}")]
    Anchor { seq: u64, detail: String },
    /// An event of the range fails: position, hash link, signature or key rotation.
    #[error("event {seq}: {problem}")]
    Event { seq: u64, problem: Problem },
    /// The key chain proven by the events differs from the header's.
    #[error("key chain mismatch: {0}")]
    KeyChain(String),
    /// The events (with the frontier and consistency proof) do not hash to the signed root.
    #[error("Merkle root mismatch: {0}")]
    RootMismatch(String),
}

impl BundleError {
    /// Whether the error is the caller's (bad arguments, unreadable file) rather than a
    /// verification failure.
    pub fn is_usage(&self) -> bool {
        matches!(self, BundleError::BadVerifierKey(_) | BundleError::Io(_))
    }
}

/// What a verified bundle proves.
#[derive(Clone, Debug, Serialize)]
pub struct BundleReport {
    pub origin: String,
    pub from: u64,
    pub to: u64,
    pub tree_size: u64,
    #[serde(with = "b64::hash")]
    pub root: Hash,
    pub events: u64,
    /// Hex BLAKE3 hash of the last event of the range.
    pub head_hash: String,
    pub keys: Vec<KeyEntry>,
    /// The verifier key the bundle was checked against.
    pub trusted_key: String,
}

fn parse_key(hex_key: &str) -> Option<VerifyingKey> {
    let bytes: [u8; 32] = hex::decode(hex_key).ok()?.try_into().ok()?;
    VerifyingKey::from_bytes(&bytes).ok()
}

/// The key that signs event `seq` per the chain.
fn key_for_seq(chain: &[(u64, VerifyingKey)], seq: u64) -> VerifyingKey {
    chain
        .iter()
        .rev()
        .find(|(s, _)| *s <= seq)
        .expect("the chain starts at 0")
        .1
}

/// Verifies a bundle held in memory.
pub fn verify_bundle(bytes: &[u8], verifier_key: &str) -> Result<BundleReport, BundleError> {
    verify_bundle_reader(bytes, verifier_key)
}
/// Verifies a bundle read from `r` against the trusted verifier key string
/// (`name+keyid+base64`, the genesis key or any later key of the ledger).
pub fn verify_bundle_reader(
    r: impl BufRead,
    verifier_key: &str,
) -> Result<BundleReport, BundleError> {
    let trusted = note::parse_verifier_key(verifier_key).map_err(BundleError::BadVerifierKey)?;
    let mut lines = Lines::new(r);
    let t = check_header(&mut lines, &trusted)?;
    let cp = check_checkpoint(&mut lines, &t)?;
    check_anchors(&mut lines, &t, &cp)?;
    let (frontier, consistency) = read_frontier(&mut lines, &t.h)?;
    let events = check_events(&mut lines, &t, frontier)?;
    check_key_chain(&t.h, &events.keys)?;
    check_root(&t.h, &cp, &events.frontier, &consistency)?;
    let h = t.h;
    Ok(BundleReport {
        origin: h.origin,
        from: h.from,
        to: h.to,
        tree_size: h.tree_size,
        root: cp.root,
        events: events.count,
        head_hash: events.head_hash,
        keys: h.keys,
        trusted_key: verifier_key.to_string(),
    })
}

/// A header that passed [`check_header`], with its key chain parsed.
struct Trusted {
    h: Header,
    /// The header's keys as `(from_seq, key)`: starting at 0, increasing, within the
    /// tree, the first one the genesis key, and one of them the trusted key.
    chain: Vec<(u64, VerifyingKey)>,
}

/// The events of the range after [`check_events`].
struct CheckedEvents {
    /// How many events the range held (exactly `to - from`).
    count: u64,
    /// The frontier, now covering `[0, to)`.
    frontier: Frontier,
    /// Hex BLAKE3 hash of the last event.
    head_hash: String,
    /// The signing keys the events prove, as replay reports them.
    keys: Vec<(u64, String)>,
}

/// The header and the trusted key: the key is named after the origin, the key chain and
/// the range are well-formed, and the key is one of the chain's.
fn check_header<R: BufRead>(
    lines: &mut Lines<R>,
    (trusted_name, trusted_id, trusted): &(String, u32, VerifyingKey),
) -> Result<Trusted, BundleError> {
    let h: Header = lines.next("header")?;
    if h.format != FORMAT {
        return Err(BundleError::UnknownFormat(h.format));
    }
    let bad_header = |d: &str| BundleError::Malformed {
        line: 1,
        detail: d.to_string(),
    };
    if *trusted_name != h.origin {
        return Err(BundleError::WrongKey(format!(
            "the key is named {trusted_name:?} but the bundle's origin is {:?}",
            h.origin
        )));
    }
    let chain: Vec<(u64, VerifyingKey)> = h
        .keys
        .iter()
        .map(|k| parse_key(&k.key).map(|v| (k.from_seq, v)))
        .collect::<Option<_>>()
        .ok_or_else(|| bad_header("a key of the chain is not an ed25519 public key"))?;
    let ordered = chain.windows(2).all(|w| w[0].0 < w[1].0);
    if chain.first().map(|c| c.0) != Some(0)
        || !ordered
        || chain.last().is_some_and(|c| c.0 > h.tree_size)
    {
        return Err(bad_header(
            "the key chain must start at 0 and increase within the tree",
        ));
    }
    if parse_key(&h.genesis_key) != Some(chain[0].1) {
        return Err(bad_header("genesis_key is not the first key of the chain"));
    }
    if !(h.from < h.to && h.to <= h.tree_size) {
        return Err(bad_header("the range must satisfy from < to <= tree_size"));
    }
    if !chain.iter().any(|(_, k)| k == trusted) {
        return Err(BundleError::WrongKey(format!(
            "{trusted_name}+{trusted_id:08x} is not a signing key of this ledger (its genesis key is {})",
            h.genesis_key
        )));
    }
    Ok(Trusted { h, chain })
}

/// The checkpoint, signed by the key in force at its size, for the header's origin and
/// tree size.
fn check_checkpoint<R: BufRead>(
    lines: &mut Lines<R>,
    t: &Trusted,
) -> Result<Checkpoint, BundleError> {
    let h = &t.h;
    let Line::Checkpoint { note: cp_note } = lines.next::<Line>("checkpoint")? else {
        return Err(lines.malformed("expected the checkpoint"));
    };
    let signer = t.chain.last().expect("non-empty").1;
    let (text, _) = note::open_note(&cp_note, &[(h.origin.clone(), signer)]).map_err(|e| {
        BundleError::CheckpointSignature(format!(
            "{e} (expected a signature by {})",
            hex::encode(signer.as_bytes())
        ))
    })?;
    let cp = Checkpoint::parse_body(&text)
        .map_err(|e| BundleError::CheckpointSignature(e.to_string()))?;
    if cp.origin != h.origin || cp.size != h.tree_size {
        return Err(BundleError::CheckpointMismatch(format!(
            "the checkpoint is for {} at size {}, the header says {} at size {}",
            cp.origin, cp.size, h.origin, h.tree_size
        )));
    }
    Ok(cp)
}

/// The anchors: event 0 and the rotations outside the range, each proven in the signed
/// tree by [`check_anchor`].
fn check_anchors<R: BufRead>(
    lines: &mut Lines<R>,
    t: &Trusted,
    cp: &Checkpoint,
) -> Result<(), BundleError> {
    for seq in anchor_seqs(t.h.from, t.h.to, &t.h.keys) {
        let Line::Anchor {
            seq: got,
            leaf,
            audit_path,
        } = lines.next::<Line>("anchor")?
        else {
            return Err(lines.malformed(format!("expected the anchor of event {seq}")));
        };
        if got != seq {
            return Err(lines.malformed(format!("expected the anchor of event {seq}, found {got}")));
        }
        check_anchor(&t.h, &t.chain, cp, seq, &leaf, &audit_path)?;
    }
    Ok(())
}

/// The frontier of `[0, from)` (none when `from` is 0) and the consistency proof from
/// `to` to the tree size.
fn read_frontier<R: BufRead>(
    lines: &mut Lines<R>,
    h: &Header,
) -> Result<(Frontier, Vec<Hash>), BundleError> {
    let mut frontier = Frontier {
        size: 0,
        nodes: vec![],
    };
    if h.from > 0 {
        let Line::Frontier { hashes } = lines.next::<Line>("frontier")? else {
            return Err(lines.malformed("expected the frontier"));
        };
        let positions = merkle::frontier_positions(h.from);
        if hashes.len() != positions.len() {
            return Err(lines.malformed(format!(
                "the frontier of {} leaves has {} hashes, not {}",
                h.from,
                hashes.len(),
                positions.len()
            )));
        }
        frontier = Frontier {
            size: h.from,
            nodes: positions
                .into_iter()
                .zip(hashes)
                .map(|((l, i), hash)| (l, i, hash))
                .collect(),
        };
    }
    let Line::Consistency {
        old_size,
        new_size,
        consistency,
    } = lines.next::<Line>("consistency proof")?
    else {
        return Err(lines.malformed("expected the consistency proof"));
    };
    if (old_size, new_size) != (h.to, h.tree_size) {
        return Err(lines.malformed(format!(
            "the consistency proof is for {old_size} → {new_size}, not {} → {}",
            h.to, h.tree_size
        )));
    }
    Ok((frontier, consistency))
}

/// The events: positions, links, signatures and rotations via replay, hashed into the
/// frontier as they pass; then the end record and nothing after it.
fn check_events<R: BufRead>(
    lines: &mut Lines<R>,
    t: &Trusted,
    frontier: Frontier,
) -> Result<CheckedEvents, BundleError> {
    let h = &t.h;
    let mut events = Events {
        lines: &mut *lines,
        frontier,
        peeked: None,
        limit: h.to - h.from,
        count: 0,
        end: None,
        error: None,
    };
    let report = if h.from == 0 {
        replay::verify(&mut events, Some(t.chain[0].1), |_| {})
    } else {
        events.peeked = events.pull();
        let prev = match &events.peeked {
            Some((_, leaf)) => SignedEvent::from_record(leaf)
                .map(|e| e.event().prev)
                .unwrap_or([0; 32]),
            None => [0; 32],
        };
        let anchor = Anchor {
            seq: h.from,
            prev,
            key: key_for_seq(&t.chain, h.from),
        };
        replay::verify_from(&mut events, anchor, |_| {})
    };
    if let Some(f) = report.failure {
        return Err(BundleError::Event {
            seq: f.seq,
            problem: f.problem,
        });
    }
    let Events {
        count,
        end,
        error,
        frontier,
        ..
    } = events;
    if let Some(e) = error {
        return Err(e);
    }
    let want = h.to - h.from;
    if count < want {
        return Err(BundleError::Truncated(format!(
            "the bundle holds {count} of the {want} events of [{}, {})",
            h.from, h.to
        )));
    }
    if end != Some(count) {
        return Err(lines.malformed(format!(
            "the end record says {} events, the bundle holds {count}",
            end.unwrap_or(0)
        )));
    }
    match lines.read()? {
        Read::Eof => {}
        Read::Line(_) | Read::Partial => {
            return Err(lines.malformed("content after the end record"))
        }
    }
    Ok(CheckedEvents {
        count,
        frontier,
        head_hash: report.head_hash,
        keys: report.keys,
    })
}

/// The key chain the events proved must be the header's inside the range.
fn check_key_chain(h: &Header, proven: &[(u64, String)]) -> Result<(), BundleError> {
    let proven: Vec<KeyEntry> = proven
        .iter()
        .filter(|(s, _)| *s > h.from)
        .map(|(s, k)| KeyEntry {
            from_seq: *s,
            key: k.clone(),
        })
        .collect();
    let claimed: Vec<KeyEntry> = h
        .keys
        .iter()
        .filter(|k| k.from_seq > h.from && k.from_seq <= h.to)
        .cloned()
        .collect();
    if proven != claimed {
        return Err(BundleError::KeyChain(format!(
            "the events rotate to {:?}, the header lists {:?}",
            proven
                .iter()
                .map(|k| (k.from_seq, &k.key))
                .collect::<Vec<_>>(),
            claimed
                .iter()
                .map(|k| (k.from_seq, &k.key))
                .collect::<Vec<_>>()
        )));
    }
    Ok(())
}

/// The root: frontier + leaves give MTH(to); the consistency proof ties it to the
/// signed root.
fn check_root(
    h: &Header,
    cp: &Checkpoint,
    frontier: &Frontier,
    consistency: &[Hash],
) -> Result<(), BundleError> {
    let root_to = frontier.root();
    merkle::verify_consistency(h.to, h.tree_size, &root_to, &cp.root, consistency).map_err(|e| {
        BundleError::RootMismatch(format!(
            "the first {} events hash to {}, which is not consistent with the signed root {} at size {} ({e})",
            h.to,
            b64::encode(&root_to),
            b64::encode(&cp.root),
            h.tree_size
        ))
    })
}

/// Checks one anchor: in the signed tree, and (via replay) a valid genesis or rotation
/// that matches the header's chain.
#[allow(
    clippy::wildcard_enum_match_arm,
    reason = "a frontier event is a genesis or a key rotation; any other kind, also a future one, is the error reported"
)]
fn check_anchor(
    h: &Header,
    chain: &[(u64, VerifyingKey)],
    cp: &Checkpoint,
    seq: u64,
    leaf: &[u8],
    path: &[Hash],
) -> Result<(), BundleError> {
    let fail = |detail: String| BundleError::Anchor { seq, detail };
    merkle::verify_inclusion(&merkle::leaf_hash(leaf), seq, cp.size, path, &cp.root)
        .map_err(|e| fail(format!("not in the signed tree ({e})")))?;
    let event = SignedEvent::from_record(leaf).map_err(|e| fail(format!("undecodable ({e})")))?;
    let records = std::iter::once(Ok::<_, std::convert::Infallible>((seq, leaf.to_vec())));
    let report = if seq == 0 {
        replay::verify(records, Some(chain[0].1), |_| {})
    } else {
        replay::verify_from(
            records,
            Anchor {
                seq,
                prev: event.event().prev,
                key: key_for_seq(chain, seq),
            },
            |_| {},
        )
    };
    if let Some(f) = report.failure {
        return Err(fail(f.problem.to_string()));
    }
    match &event.event().body {
        Body::LedgerInitialized { origin, .. } if seq == 0 => {
            if *origin != h.origin {
                return Err(fail(format!(
                    "the ledger's origin is {origin:?}, not {:?}",
                    h.origin
                )));
            }
        }
        Body::SigningKeyRotated { new_key, .. } => {
            let listed = chain
                .iter()
                .find(|(s, _)| *s == seq + 1)
                .map(|(_, k)| k.to_bytes());
            if listed != Some(*new_key) {
                return Err(fail(
                    "the rotation does not introduce the header's key".into(),
                ));
            }
        }
        _ => {
            return Err(fail(format!(
                "expected a genesis or key-rotation event, found {}",
                event.event().body.action()
            )))
        }
    }
    Ok(())
}
