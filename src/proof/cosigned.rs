//! Cosigned checkpoints: an issued note with the witness cosignatures stored beside it
//! (`CheckpointStore::cosignatures`) appended as further signature lines, in the order
//! C2SP signed-note allows (the ledger's own signature first, then one line per witness).
//!
//! **Invariant:** an issued note never changes; cosignatures live in their own store entry
//! and are only ever added to the served copy. Every stored line was verified with its
//! witness's configured key before it was stored (`ledger::witnessing`); a reader that
//! trusts no one checks them again (`note::cosignature::verify_cosigned`).

use super::{ProofError, SignedCheckpoint};
use crate::note::cosignature::{add_cosignatures, CosignatureLine};
use crate::store::{CheckpointStore, StoreError};

/// The origin (first line) of a checkpoint note.
pub fn origin(note: &str) -> &str {
    note.split('\n').next().unwrap_or("")
}

/// Parses stored cosignature lines (one `— name base64` line each).
pub fn parse_lines(stored: &[u8]) -> Result<Vec<CosignatureLine>, ProofError> {
    let corrupt = |detail: String| {
        ProofError::Store(StoreError::Corrupt {
            what: "cosignatures",
            detail,
        })
    };
    let text = std::str::from_utf8(stored).map_err(|_| corrupt("not UTF-8".into()))?;
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| CosignatureLine::parse(l).map_err(|e| corrupt(e.to_string())))
        .collect()
}

/// The stored lines with `line` added: a witness's newer cosignature (same name and key
/// ID) replaces its older one. The result is what
/// [`CheckpointStore::put_cosignatures_durable`] stores.
pub fn merge(stored: &[CosignatureLine], line: &CosignatureLine) -> Vec<u8> {
    let mut out = String::new();
    for l in stored {
        if !(l.name == line.name && l.key_id == line.key_id) {
            out.push_str(&l.to_line());
        }
    }
    out.push_str(&line.to_line());
    out.into_bytes()
}

/// The cosignature lines stored for `cp`.
pub fn lines_of(
    cps: &dyn CheckpointStore,
    cp: &SignedCheckpoint,
) -> Result<Vec<CosignatureLine>, ProofError> {
    match cps.cosignatures(origin(&cp.note), cp.tree_size)? {
        Some(v) => parse_lines(&v),
        None => Ok(Vec::new()),
    }
}

/// `cp` as served: its note with the stored cosignatures appended, and their count.
pub fn cosigned(
    cps: &dyn CheckpointStore,
    mut cp: SignedCheckpoint,
) -> Result<SignedCheckpoint, ProofError> {
    let lines = lines_of(cps, &cp)?;
    if !lines.is_empty() {
        cp.note = add_cosignatures(&cp.note, &lines)?;
    }
    cp.cosignatures = lines.len();
    Ok(cp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note::cosignature::cosign;
    use crate::note::{sign_checkpoint, Checkpoint};
    use ed25519_dalek::SigningKey;

    #[test]
    fn a_newer_cosignature_replaces_the_same_witness_and_keeps_the_others() {
        let cp = Checkpoint {
            origin: "example.test/log".into(),
            size: 3,
            root: [7; 32],
            extensions: vec![],
        };
        let note = sign_checkpoint(&cp, &cp.origin, &SigningKey::from_bytes(&[1; 32])).unwrap();
        let text = cp.body();
        let a = SigningKey::from_bytes(&[2; 32]);
        let b = SigningKey::from_bytes(&[3; 32]);
        let a1 = cosign(&text, "witness.test/a", &a, 10).unwrap();
        let b1 = cosign(&text, "witness.test/b", &b, 11).unwrap();
        let a2 = cosign(&text, "witness.test/a", &a, 12).unwrap();
        let stored = merge(&[], &a1);
        let stored = merge(&parse_lines(&stored).unwrap(), &b1);
        let stored = merge(&parse_lines(&stored).unwrap(), &a2);
        let lines = parse_lines(&stored).unwrap();
        assert_eq!(lines, vec![b1.clone(), a2.clone()]);
        assert_eq!(origin(&note), "example.test/log");
        assert!(parse_lines(b"\xff").is_err());
        assert!(parse_lines("— x AAAA\n".as_bytes()).is_err());
    }
}
