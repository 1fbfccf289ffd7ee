//! Offline bundles: a self-contained export of a range of events that a third party
//! checks with nothing but the ledger's verifier key — no master key, no database.
//!
//! A bundle is JSON Lines (`docs/FORMAT.md` gives every field): a header (origin,
//! range `[from, to)`, tree size, genesis key, key chain), the signed checkpoint, the
//! *anchors* (event 0 and every `signing_key_rotated` event outside the range, each with
//! its inclusion proof, so the key chain is proven even for a partial range), the
//! *frontier* (the perfect subtree hashes covering `[0, from)`), the consistency proof
//! from `to` to the checkpoint's size, the events of the range, and an end record.
//!
//! [`verify_bundle`] checks, in file order, and stops at the first problem: the header and
//! the trusted key (named after the origin, and one of the ledger's keys); the checkpoint
//! signature (by the key in force at its size); every anchor (inclusion in the signed
//! tree, signature, rotation proof, via `replay`); every event's position, hash link and
//! signature (via `replay::verify`/`verify_from`, batch-parallel); the end record; the key
//! chain; and finally the Merkle root: frontier + leaves give the root at `to`, which the
//! consistency proof ties to the signed root.
//!
//! **Invariant:** a bundle holds only events (ciphertexts at most) and public keys.
//! **Invariant:** the verifier trusts nothing in the bundle except through the key it is
//! given; the header's key chain is only accepted once anchors and events prove it.

use crate::event::{Body, SignedEvent};
use crate::merkle::{self, Hash, NodeReader};
use crate::note::{self, Checkpoint, NoteError};
use crate::projection::Nodes;
use crate::proof::{self, b64, ProofError, SignedCheckpoint};
use crate::replay::{self, Anchor, Problem};
use crate::store::{Store, StoreError};
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};

/// The format name in the header.
pub const FORMAT: &str = "credledger-bundle/v1";

/// One signing key of the chain: it signs events from `from_seq` on.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct KeyEntry {
    pub from_seq: u64,
    /// The ed25519 public key, lowercase hex.
    pub key: String,
}

/// The first line of a bundle.
#[derive(Serialize, Deserialize, Clone, Debug)]
struct Header {
    format: String,
    origin: String,
    from: u64,
    to: u64,
    tree_size: u64,
    genesis_key: String,
    verifier_key: String,
    keys: Vec<KeyEntry>,
}

/// Every line after the header.
#[derive(Serialize, Deserialize, Debug)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Line {
    Checkpoint {
        note: String,
    },
    Anchor {
        seq: u64,
        #[serde(with = "b64::bytes")]
        leaf: Vec<u8>,
        #[serde(with = "b64::hashes")]
        audit_path: Vec<Hash>,
    },
    Frontier {
        #[serde(with = "b64::hashes")]
        hashes: Vec<Hash>,
    },
    Consistency {
        old_size: u64,
        new_size: u64,
        #[serde(with = "b64::hashes")]
        consistency: Vec<Hash>,
    },
    Event {
        seq: u64,
        #[serde(with = "b64::bytes")]
        leaf: Vec<u8>,
    },
    End {
        events: u64,
    },
}

/// The event line, written without copying the record into a `Line`.
#[derive(Serialize)]
struct EventOut {
    #[serde(rename = "type")]
    kind: &'static str,
    seq: u64,
    leaf: String,
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The range is empty or beyond the tree: 400 (CLI exit 2), fix `--from`/`--to`.
    #[error("cannot export events [{from}, {to}) of a tree of {tree_size} events (need from < to <= tree size)")]
    Range { from: u64, to: u64, tree_size: u64 },
    /// A proof or checkpoint could not be produced (see [`ProofError`]).
    #[error(transparent)]
    Proof(#[from] ProofError),
    /// Reading the log failed: 500.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing the bundle failed (disk full, closed pipe): CLI exit 2.
    #[error("writing the bundle: {0}")]
    Io(#[from] std::io::Error),
}

/// What an export wrote.
#[derive(Clone, Debug, Serialize)]
pub struct ExportSummary {
    pub origin: String,
    pub from: u64,
    pub to: u64,
    pub tree_size: u64,
    pub events: u64,
    /// The genesis verifier key, to pass to `verify-bundle --key`.
    pub verifier_key: String,
}

fn write_line(out: &mut impl Write, v: &impl Serialize) -> Result<(), ExportError> {
    serde_json::to_writer(&mut *out, v).map_err(std::io::Error::from)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// The perfect subtree hashes covering leaves `[0, size)`, largest (leftmost) first, as
/// `(level, index)`.
fn frontier_positions(size: u64) -> Vec<(u8, u64)> {
    (0..64u8)
        .rev()
        .filter(|l| (size >> l) & 1 == 1)
        .map(|l| (l, (size >> l) - 1))
        .collect()
}

/// Writes a bundle of events `[from, to)` (`to` defaults to the checkpoint's size), tied
/// to `cp`, which must be a checkpoint of this store (e.g. from `proof::checkpoint`).
pub fn export(
    store: &Store,
    cp: &SignedCheckpoint,
    from: u64,
    to: Option<u64>,
    out: &mut impl Write,
) -> Result<ExportSummary, ExportError> {
    let n = cp.tree_size;
    let to = to.unwrap_or(n);
    if from >= to || to > n {
        return Err(ExportError::Range {
            from,
            to,
            tree_size: n,
        });
    }
    let (origin, genesis) = proof::genesis(store)?;
    let chain = proof::key_chain(store, n)?;
    let verifier_key = note::verifier_key(&origin, &genesis).map_err(ProofError::from)?;
    let header = Header {
        format: FORMAT.into(),
        origin: origin.clone(),
        from,
        to,
        tree_size: n,
        genesis_key: hex::encode(genesis.as_bytes()),
        verifier_key: verifier_key.clone(),
        keys: chain
            .iter()
            .map(|(s, k)| KeyEntry {
                from_seq: *s,
                key: hex::encode(k.as_bytes()),
            })
            .collect(),
    };
    write_line(out, &header)?;
    write_line(
        out,
        &Line::Checkpoint {
            note: cp.note.clone(),
        },
    )?;
    for seq in anchor_seqs(from, to, &header.keys) {
        let leaf = proof::event(store, seq)?.to_record();
        let audit_path = proof::inclusion(store, seq, n)?.audit_path;
        write_line(
            out,
            &Line::Anchor {
                seq,
                leaf,
                audit_path,
            },
        )?;
    }
    if from > 0 {
        let nodes = Nodes(store.proj());
        let hashes = frontier_positions(from)
            .into_iter()
            .map(|(l, i)| nodes.node(l, i))
            .collect::<Result<Vec<_>, _>>()?;
        write_line(out, &Line::Frontier { hashes })?;
    }
    let consistency = if to < n {
        proof::consistency(store, to, n)?.consistency
    } else {
        vec![]
    };
    write_line(
        out,
        &Line::Consistency {
            old_size: to,
            new_size: n,
            consistency,
        },
    )?;
    let mut expected = from;
    for r in store.records(from) {
        let (seq, rec) = r?;
        if seq >= to {
            break;
        }
        if seq != expected {
            return Err(ProofError::Integrity {
                seq: expected,
                detail: "the event is missing from the log".into(),
            }
            .into());
        }
        write_line(
            out,
            &EventOut {
                kind: "event",
                seq,
                leaf: b64::encode(&rec),
            },
        )?;
        expected += 1;
    }
    if expected != to {
        return Err(ProofError::Integrity {
            seq: expected,
            detail: "the event is missing from the log".into(),
        }
        .into());
    }
    write_line(out, &Line::End { events: to - from })?;
    out.flush()?;
    Ok(ExportSummary {
        origin,
        from,
        to,
        tree_size: n,
        events: to - from,
        verifier_key,
    })
}

/// The anchors a bundle of `[from, to)` carries: event 0 (when `from > 0`) and every
/// rotation event (the one before each key's `from_seq`) outside the range.
fn anchor_seqs(from: u64, to: u64, keys: &[KeyEntry]) -> Vec<u64> {
    let outside = |s: &u64| *s < from || *s >= to;
    let mut seqs: Vec<u64> = if from > 0 { vec![0] } else { vec![] };
    seqs.extend(keys.iter().skip(1).map(|k| k.from_seq - 1).filter(outside));
    seqs.sort_unstable();
    seqs.dedup();
    seqs
}

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

/// Reads lines, telling a clean end from a cut-off last line.
struct Lines<R> {
    r: R,
    line: u64,
    buf: Vec<u8>,
}

enum Read {
    Line(String),
    Eof,
    Partial,
}

impl<R: BufRead> Lines<R> {
    fn read(&mut self) -> Result<Read, BundleError> {
        self.buf.clear();
        let n = self.r.read_until(b'\n', &mut self.buf)?;
        if n == 0 {
            return Ok(Read::Eof);
        }
        self.line += 1;
        if self.buf.pop() != Some(b'\n') {
            return Ok(Read::Partial);
        }
        match std::str::from_utf8(&self.buf) {
            Ok(s) => Ok(Read::Line(s.to_owned())),
            Err(_) => Err(self.malformed("not UTF-8")),
        }
    }

    fn malformed(&self, detail: impl Into<String>) -> BundleError {
        BundleError::Malformed {
            line: self.line,
            detail: detail.into(),
        }
    }

    /// The next line as JSON of type `T`; `what` names the expected record.
    fn next<T: for<'de> Deserialize<'de>>(&mut self, what: &str) -> Result<T, BundleError> {
        match self.read()? {
            Read::Eof => Err(BundleError::Truncated(format!(
                "the bundle ends after line {} where the {what} should be",
                self.line
            ))),
            Read::Partial => Err(BundleError::Truncated(format!(
                "line {} (the {what}) is cut off",
                self.line
            ))),
            Read::Line(s) => serde_json::from_str(&s)
                .map_err(|e| self.malformed(format!("expected the {what}: {e}"))),
        }
    }
}

/// The perfect subtrees covering `[0, size)`: appends leaves and yields the root.
struct Frontier {
    size: u64,
    nodes: Vec<(u8, u64, Hash)>,
}

impl NodeReader for Frontier {
    type Error = ();
    fn node(&self, level: u8, index: u64) -> Result<Hash, ()> {
        self.nodes
            .iter()
            .find(|(l, i, _)| *l == level && *i == index)
            .map(|(_, _, h)| *h)
            .ok_or(())
    }
}

impl Frontier {
    fn push(&mut self, leaf: Hash) {
        let new = merkle::append(self.size, leaf, self)
            .expect("a frontier holds every node append reads");
        let top = *new.last().expect("append returns the leaf at least");
        self.nodes.retain(|(l, _, _)| *l > top.0);
        self.nodes.push(top);
        self.size += 1;
    }
    fn root(&self) -> Hash {
        merkle::root(self.size, self).expect("a frontier holds every node root reads")
    }
}

/// Feeds event lines to `replay`, hashing leaves into the frontier as they pass.
struct Events<'a, R> {
    lines: &'a mut Lines<R>,
    frontier: Frontier,
    peeked: Option<(u64, Vec<u8>)>,
    limit: u64,
    count: u64,
    end: Option<u64>,
    error: Option<BundleError>,
}

impl<R: BufRead> Events<'_, R> {
    fn pull(&mut self) -> Option<(u64, Vec<u8>)> {
        if self.end.is_some() || self.error.is_some() {
            return None;
        }
        let line = match self.lines.read() {
            Ok(Read::Line(s)) => s,
            Ok(Read::Eof) => {
                self.error = Some(BundleError::Truncated(format!(
                    "the bundle ends after line {} with {} events and no end record",
                    self.lines.line, self.count
                )));
                return None;
            }
            Ok(Read::Partial) => {
                self.error = Some(BundleError::Truncated(format!(
                    "line {} is cut off",
                    self.lines.line
                )));
                return None;
            }
            Err(e) => {
                self.error = Some(e);
                return None;
            }
        };
        match serde_json::from_str::<Line>(&line) {
            Ok(Line::Event { seq, leaf }) => {
                if self.count >= self.limit {
                    self.error = Some(self.lines.malformed("more events than the header's range"));
                    return None;
                }
                self.frontier.push(merkle::leaf_hash(&leaf));
                self.count += 1;
                Some((seq, leaf))
            }
            Ok(Line::End { events }) => {
                self.end = Some(events);
                None
            }
            Ok(_) => {
                self.error = Some(self.lines.malformed("expected an event or the end record"));
                None
            }
            Err(e) => {
                self.error = Some(self.lines.malformed(format!("expected an event: {e}")));
                None
            }
        }
    }
}

impl<R: BufRead> Iterator for Events<'_, R> {
    type Item = Result<(u64, Vec<u8>), std::convert::Infallible>;
    fn next(&mut self) -> Option<Self::Item> {
        self.peeked.take().or_else(|| self.pull()).map(Ok)
    }
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
    let (trusted_name, trusted_id, trusted) =
        note::parse_verifier_key(verifier_key).map_err(BundleError::BadVerifierKey)?;
    let mut lines = Lines {
        r,
        line: 0,
        buf: Vec::new(),
    };
    let h: Header = lines.next("header")?;
    if h.format != FORMAT {
        return Err(BundleError::UnknownFormat(h.format));
    }
    let bad_header = |d: &str| BundleError::Malformed {
        line: 1,
        detail: d.to_string(),
    };
    if trusted_name != h.origin {
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
    if !chain.iter().any(|(_, k)| *k == trusted) {
        return Err(BundleError::WrongKey(format!(
            "{trusted_name}+{trusted_id:08x} is not a signing key of this ledger (its genesis key is {})",
            h.genesis_key
        )));
    }

    // The checkpoint, signed by the key in force at its size.
    let Line::Checkpoint { note: cp_note } = lines.next::<Line>("checkpoint")? else {
        return Err(lines.malformed("expected the checkpoint"));
    };
    let signer = chain.last().expect("non-empty").1;
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

    // Anchors: event 0 and the rotations outside the range, proven in the signed tree.
    for seq in anchor_seqs(h.from, h.to, &h.keys) {
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
        check_anchor(&h, &chain, &cp, seq, &leaf, &audit_path)?;
    }

    // The frontier of [0, from) and the consistency proof from `to`.
    let mut frontier = Frontier {
        size: 0,
        nodes: vec![],
    };
    if h.from > 0 {
        let Line::Frontier { hashes } = lines.next::<Line>("frontier")? else {
            return Err(lines.malformed("expected the frontier"));
        };
        let positions = frontier_positions(h.from);
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

    // The events: positions, links, signatures and rotations, via replay.
    let mut events = Events {
        lines: &mut lines,
        frontier,
        peeked: None,
        limit: h.to - h.from,
        count: 0,
        end: None,
        error: None,
    };
    let report = if h.from == 0 {
        replay::verify(&mut events, Some(chain[0].1), |_| {})
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
            key: key_for_seq(&chain, h.from),
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
        _ => return Err(lines.malformed("content after the end record")),
    }

    // The key chain the events proved must be the header's inside the range.
    let proven: Vec<KeyEntry> = report
        .keys
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

    // The root: frontier + leaves give MTH(to); the consistency proof ties it to the
    // signed root.
    let root_to = frontier.root();
    merkle::verify_consistency(h.to, h.tree_size, &root_to, &cp.root, &consistency).map_err(|e| {
        BundleError::RootMismatch(format!(
            "the first {} events hash to {}, which is not consistent with the signed root {} at size {} ({e})",
            h.to,
            b64::encode(&root_to),
            b64::encode(&cp.root),
            h.tree_size
        ))
    })?;

    Ok(BundleReport {
        origin: h.origin,
        from: h.from,
        to: h.to,
        tree_size: h.tree_size,
        root: cp.root,
        events: count,
        head_hash: report.head_hash,
        keys: h.keys,
        trusted_key: verifier_key.to_string(),
    })
}

/// Checks one anchor: in the signed tree, and (via replay) a valid genesis or rotation
/// that matches the header's chain.
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
