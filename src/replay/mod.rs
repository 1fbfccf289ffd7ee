//! Forensics over the log: verify every link and signature, rebuild past state, show a
//! credential's history.
//!
//! [`verify`] works on any sequence of `(position, record bytes)`, so the same code checks
//! a live data directory and an exported bundle. It runs in chunks: records are decoded
//! and hashed in parallel, links and key changes are checked in order (cheap), and
//! signatures are batch-verified in parallel across cores. It needs only public keys.
//!
//! **Invariant:** the verifier trusts nothing it reads: the signing key of event 0 is
//! the ledger's identity (optionally pinned by the caller), every later key is
//! introduced by a rotation event signed by the previous key together with the new key's
//! proof of possession.

use crate::event::{rotation_message, signing_message, Body, Event, Hash32, SignedEvent};
use crate::id::Id;
use ed25519_dalek::{Signature, VerifyingKey};
use rayon::prelude::*;
use serde::Serialize;

/// What is wrong at the first bad position.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Problem {
    /// The bytes are not a canonical record or event.
    Undecodable { detail: String },
    /// The record for this position is missing (the log jumps to `found`).
    Gap { found: u64 },
    /// The record here claims another position (events swapped or moved).
    Reordered { claims: u64 },
    /// `prev` is not the hash of the event before.
    BrokenLink,
    /// The signature does not verify under the signing key in force.
    BadSignature,
    /// Event 0 is not a ledger initialization, or its key is not the pinned key.
    BadGenesis { detail: String },
    /// A signing-key rotation is malformed (wrong old key or bad proof of possession).
    BadKeyRotation { detail: String },
    /// The event's time is earlier than the previous event's.
    TimeWentBackwards { previous_ms: i64, at_ms: i64 },
    /// The chain holds, but a witness outside the log disagrees with it: the log ends
    /// before the ledger's head record or a signed checkpoint (events were lost), or a
    /// signed checkpoint's root is not the root of the log's leaves.
    Witness { detail: String },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Undecodable { detail } => write!(f, "undecodable bytes ({detail})"),
            Problem::Gap { found } => {
                write!(f, "event missing (gap: next stored event is {found})")
            }
            Problem::Reordered { claims } => {
                write!(f, "event out of order (it claims sequence {claims})")
            }
            Problem::BrokenLink => {
                f.write_str("broken hash link (prev is not the hash of the event before)")
            }
            Problem::BadSignature => f.write_str("bad signature"),
            Problem::BadGenesis { detail } => write!(f, "bad genesis event ({detail})"),
            Problem::BadKeyRotation { detail } => write!(f, "bad signing-key rotation ({detail})"),
            Problem::TimeWentBackwards { previous_ms, at_ms } => {
                write!(f, "time went backwards ({at_ms} ms after {previous_ms} ms)")
            }
            Problem::Witness { detail } => f.write_str(detail),
        }
    }
}

/// The first failure found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Failure {
    pub seq: u64,
    pub problem: Problem,
}

/// The result of a verification.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Events that verified (all of them when `failure` is `None`).
    pub verified: u64,
    /// Hex BLAKE3 hash of the last verified event.
    pub head_hash: String,
    /// Signing keys in force, with the sequence number they start at (hex keys).
    pub keys: Vec<(u64, String)>,
    pub failure: Option<Failure>,
    /// The last crypto-shred (`destroyed`, `versions_destroyed`) among the verified
    /// events when no `master_key_rotated` follows it: its data keys may still be
    /// readable from stale copies until the master key is rotated.
    pub pending_shred: Option<PendingShred>,
}

/// A destroy whose master-key rotation has not happened (see [`Report::pending_shred`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PendingShred {
    pub seq: u64,
    pub credential: String,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.failure.is_none()
    }
}

const CHUNK: usize = 32_768;
/// Signatures per batch verification. Large batches let the multiscalar multiplication
/// use Pippenger's method (cheaper per point than Straus above ~190 points); a failed
/// batch is re-checked one by one to find the first bad signature.
const BATCH: usize = 4096;

/// Signatures per batch for `n` signatures: [`BATCH`], or less when `n` would leave a
/// thread of the pool idle (a short last chunk), but not below 256.
fn batch_size(n: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    n.div_ceil(threads).clamp(256, BATCH)
}

struct Decoded {
    pos: u64,
    result: Result<SignedEvent, String>,
}

/// Verifies `records` (position, bytes) in order. `pinned` is the expected first key.
pub fn verify<E: std::fmt::Display>(
    records: impl Iterator<Item = Result<(u64, Vec<u8>), E>>,
    pinned: Option<VerifyingKey>,
    progress: impl FnMut(u64),
) -> Report {
    run(
        Verifier {
            next: 0,
            last_hash: [0; 32],
            last_at: i64::MIN,
            key: None,
            keys: vec![],
            pinned,
            shred: None,
        },
        records,
        progress,
    )
}

/// Where a verification of a partial log (an exported range) starts: the first
/// position, the `prev` hash it must carry, and the signing key in force there. The
/// caller has established both by other means (for a bundle: Merkle proofs).
#[derive(Clone, Copy, Debug)]
pub struct Anchor {
    pub seq: u64,
    pub prev: Hash32,
    pub key: VerifyingKey,
}

/// Verifies `records` that start at `anchor.seq` instead of event 0, with the same
/// checks as [`verify`]. `Report::keys` lists only rotations inside the range.
pub fn verify_from<E: std::fmt::Display>(
    records: impl Iterator<Item = Result<(u64, Vec<u8>), E>>,
    anchor: Anchor,
    progress: impl FnMut(u64),
) -> Report {
    // The time of the event before the range is not known here, so the range's first
    // event is not compared with it.
    let v = Verifier {
        next: anchor.seq,
        last_hash: anchor.prev,
        last_at: i64::MIN,
        key: Some(anchor.key),
        keys: vec![],
        pinned: None,
        shred: None,
    };
    run(v, records, progress)
}

fn run<E: std::fmt::Display>(
    mut v: Verifier,
    records: impl Iterator<Item = Result<(u64, Vec<u8>), E>>,
    mut progress: impl FnMut(u64),
) -> Report {
    let mut records = records;
    let (mut chunk, mut read_error) = read_chunk(&mut records);
    loop {
        let last = chunk.len() < CHUNK || read_error.is_some();
        // Check this chunk on the thread pool while this thread reads the next one, so
        // reading (sequential) overlaps verifying (parallel).
        let mut failure = None;
        let next = if last {
            failure = v.check_chunk(&chunk);
            None
        } else {
            rayon::in_place_scope(|s| {
                s.spawn(|_| failure = v.check_chunk(&chunk));
                Some(read_chunk(&mut records))
            })
        };
        if let Some(f) = failure {
            return v.report(Some(f));
        }
        if let Some(detail) = read_error {
            return v.report(Some(Failure {
                seq: v.next,
                problem: Problem::Undecodable { detail },
            }));
        }
        progress(v.next);
        match next {
            None => return v.report(None),
            Some((c, e)) => (chunk, read_error) = (c, e),
        }
    }
}

/// Reads up to [`CHUNK`] records; stops early at the end or at a read error.
fn read_chunk<E: std::fmt::Display>(
    records: &mut impl Iterator<Item = Result<(u64, Vec<u8>), E>>,
) -> (Vec<(u64, Vec<u8>)>, Option<String>) {
    let mut chunk = Vec::with_capacity(CHUNK);
    for r in records.by_ref() {
        match r {
            Ok(r) => chunk.push(r),
            Err(e) => return (chunk, Some(e.to_string())),
        }
        if chunk.len() == CHUNK {
            break;
        }
    }
    (chunk, None)
}

struct Verifier {
    next: u64,
    last_hash: Hash32,
    last_at: i64,
    key: Option<VerifyingKey>,
    keys: Vec<(u64, String)>,
    pinned: Option<VerifyingKey>,
    shred: Option<(u64, Id)>,
}

impl Verifier {
    fn report(&self, failure: Option<Failure>) -> Report {
        Report {
            verified: self.next,
            head_hash: hex::encode(self.last_hash),
            keys: self.keys.clone(),
            failure,
            pending_shred: self.shred.map(|(seq, c)| PendingShred {
                seq,
                credential: c.to_string(),
            }),
        }
    }

    /// Checks one chunk; on failure returns the first bad position (and leaves `next` at
    /// the number of events verified before it).
    #[allow(
        clippy::too_many_lines,
        reason = "one chunk's checks in their order (decode, links, key changes, batch signatures): the verifier's state machine"
    )]
    fn check_chunk(&mut self, chunk: &[(u64, Vec<u8>)]) -> Option<Failure> {
        let decoded: Vec<Decoded> = chunk
            .par_iter()
            .map(|(pos, bytes)| Decoded {
                pos: *pos,
                result: SignedEvent::from_record(bytes).map_err(|e| e.to_string()),
            })
            .collect();
        // Sequential pass: positions, links and keys. Remember which key signs each event.
        let mut signers: Vec<VerifyingKey> = Vec::with_capacity(decoded.len());
        let mut first_bad: Option<Failure> = None;
        let mut next = self.next;
        let mut last_hash = self.last_hash;
        let mut last_at = self.last_at;
        let mut key = self.key;
        let mut keys = Vec::new();
        let mut shred = self.shred;
        for d in &decoded {
            let fail = |problem| Some(Failure { seq: next, problem });
            if d.pos != next {
                first_bad = fail(Problem::Gap { found: d.pos });
                break;
            }
            let e = match &d.result {
                Ok(e) => e,
                Err(detail) => {
                    first_bad = fail(Problem::Undecodable {
                        detail: detail.clone(),
                    });
                    break;
                }
            };
            if e.seq() != next {
                first_bad = fail(Problem::Reordered { claims: e.seq() });
                break;
            }
            if e.event().prev != last_hash {
                first_bad = fail(Problem::BrokenLink);
                break;
            }
            if e.event().at_ms < last_at {
                first_bad = fail(Problem::TimeWentBackwards {
                    previous_ms: last_at,
                    at_ms: e.event().at_ms,
                });
                break;
            }
            if next > 0 && matches!(e.event().body, Body::LedgerInitialized { .. }) {
                first_bad = fail(Problem::BadGenesis {
                    detail: "ledger_initialized after event 0".into(),
                });
                break;
            }
            if next == 0 {
                match genesis_key(e.event(), self.pinned) {
                    Ok(k) => {
                        key = Some(k);
                        keys.push((0, hex::encode(k.to_bytes())));
                    }
                    Err(detail) => {
                        first_bad = fail(Problem::BadGenesis { detail });
                        break;
                    }
                }
            }
            let signer = key.expect("set at event 0");
            signers.push(signer);
            if let Body::SigningKeyRotated {
                old_key,
                new_key,
                possession,
            } = &e.event().body
            {
                match check_rotation(&signer, old_key, new_key, possession, next) {
                    Ok(k) => {
                        key = Some(k);
                        keys.push((next + 1, hex::encode(new_key)));
                    }
                    Err(detail) => {
                        first_bad = fail(Problem::BadKeyRotation { detail });
                        break;
                    }
                }
            }
            if let Body::CredentialDestroyed { credential, .. }
            | Body::VersionsDestroyed { credential, .. } = &e.event().body
            {
                shred = Some((next, *credential));
            } else if matches!(e.event().body, Body::MasterKeyRotated { .. }) {
                shred = None;
            }
            last_hash = *e.hash();
            last_at = e.event().at_ms;
            next += 1;
        }
        // Parallel pass: signatures of the events that passed the sequential checks.
        let checked = signers.len();
        let batch = batch_size(checked);
        let bad_sig = decoded[..checked]
            .par_chunks(batch)
            .zip(signers.par_chunks(batch))
            .filter_map(|(ds, ks)| first_bad_signature(ds, ks))
            .min();
        if let Some(pos) = bad_sig {
            // Events before the bad signature verified; recompute the state at `pos`.
            let idx = (pos - self.next) as usize;
            self.advance(&decoded[..idx], &mut keys, pos);
            return Some(Failure {
                seq: pos,
                problem: Problem::BadSignature,
            });
        }
        self.next = next;
        self.last_hash = last_hash;
        self.last_at = last_at;
        self.key = key;
        self.keys.extend(keys);
        self.shred = shred;
        first_bad
    }

    fn advance(&mut self, ok: &[Decoded], keys: &mut Vec<(u64, String)>, upto: u64) {
        if let Some(Decoded { result: Ok(e), .. }) = ok.last() {
            self.last_hash = *e.hash();
            self.last_at = e.event().at_ms;
        }
        self.next = upto;
        keys.retain(|(from, _)| *from <= upto);
        self.keys.append(keys);
    }
}

fn genesis_key(event: &Event, pinned: Option<VerifyingKey>) -> Result<VerifyingKey, String> {
    let Body::LedgerInitialized { signing_key, .. } = &event.body else {
        return Err("event 0 is not ledger_initialized".into());
    };
    let key = VerifyingKey::from_bytes(signing_key)
        .map_err(|_| "the genesis key is not a valid ed25519 key".to_string())?;
    if pinned.is_some_and(|p| p != key) {
        return Err(format!(
            "the genesis key {} is not the expected key",
            hex::encode(signing_key)
        ));
    }
    Ok(key)
}

fn check_rotation(
    signer: &VerifyingKey,
    old: &[u8; 32],
    new: &[u8; 32],
    possession: &[u8],
    seq: u64,
) -> Result<VerifyingKey, String> {
    if signer.as_bytes() != old {
        return Err("old_key is not the key in force".into());
    }
    let new_key = VerifyingKey::from_bytes(new)
        .map_err(|_| "new_key is not a valid ed25519 key".to_string())?;
    let sig: [u8; 64] = possession
        .try_into()
        .map_err(|_| "possession is not 64 bytes".to_string())?;
    new_key
        .verify_strict(
            &rotation_message(old, new, seq),
            &Signature::from_bytes(&sig),
        )
        .map_err(|_| "the new key's proof of possession does not verify".to_string())?;
    Ok(new_key)
}

/// Batch-verifies; on batch failure finds the first bad one individually.
fn first_bad_signature(ds: &[Decoded], ks: &[VerifyingKey]) -> Option<u64> {
    let events: Vec<&SignedEvent> = ds
        .iter()
        .map(|d| d.result.as_ref().expect("checked"))
        .collect();
    let messages: Vec<Vec<u8>> = events.iter().map(|e| signing_message(e.hash())).collect();
    let msg_refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    let sigs: Vec<Signature> = events
        .iter()
        .map(|e| Signature::from_bytes(e.signature()))
        .collect();
    if ed25519_dalek::verify_batch(&msg_refs, &sigs, ks).is_ok() {
        return None;
    }
    events
        .iter()
        .zip(ks)
        .find(|(e, k)| !e.verify_signature(k))
        .map(|(e, _)| e.seq())
}

mod state;
pub use state::{history, render_state, state_until};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Actor, RequestContext, EVENT_FORMAT};
    use ed25519_dalek::SigningKey;

    fn chain(bodies_and_times: Vec<(Body, i64)>, key: &SigningKey) -> Vec<(u64, Vec<u8>)> {
        let mut prev = [0u8; 32];
        let mut out = Vec::new();
        for (seq, (body, at_ms)) in bodies_and_times.into_iter().enumerate() {
            let e = Event {
                format: EVENT_FORMAT,
                seq: seq as u64,
                at_ms,
                prev,
                actor: Actor::default(),
                context: RequestContext::default(),
                body,
            };
            let s = SignedEvent::seal(e, key).unwrap();
            prev = *s.hash();
            out.push((seq as u64, s.to_record()));
        }
        out
    }

    fn genesis(key: &SigningKey) -> Body {
        Body::LedgerInitialized {
            origin: "test".into(),
            signing_key: key.verifying_key().to_bytes(),
        }
    }

    fn run(records: Vec<(u64, Vec<u8>)>) -> Report {
        verify(records.into_iter().map(Ok::<_, String>), None, |_| {})
    }

    #[test]
    fn a_well_formed_chain_verifies() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let t = Body::TenantCreated {
            tenant: Id([1; 16]),
            name: "t".into(),
        };
        let r = run(chain(
            vec![(genesis(&key), 10), (t.clone(), 10), (t, 11)],
            &key,
        ));
        assert!(r.ok(), "{:?}", r.failure);
        assert_eq!(r.verified, 3);
    }

    #[test]
    fn a_second_genesis_is_rejected() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let r = run(chain(vec![(genesis(&key), 10), (genesis(&key), 10)], &key));
        assert_eq!(
            r.failure
                .map(|f| (f.seq, matches!(f.problem, Problem::BadGenesis { .. }))),
            Some((1, true))
        );
    }

    #[test]
    fn time_going_backwards_is_rejected() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let t = Body::TenantCreated {
            tenant: Id([1; 16]),
            name: "t".into(),
        };
        let r = run(chain(vec![(genesis(&key), 10), (t, 9)], &key));
        assert_eq!(
            r.failure.map(|f| (f.seq, f.problem)),
            Some((
                1,
                Problem::TimeWentBackwards {
                    previous_ms: 10,
                    at_ms: 9
                }
            ))
        );
    }
}
