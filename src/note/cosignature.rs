//! Witness cosignatures: C2SP tlog-cosignature v1 (`cosignature/v1`, Ed25519,
//! signature type 0x04).
//!
//! A cosignature is one more signature line on a checkpoint note, made by a
//! *cosigner* (a witness) with its own Ed25519 key. It states: "as of this
//! time, the largest consistent tree I have seen for this origin has this
//! root". This module owns its bytes and its checks; it does no I/O, reads
//! no clock (timestamps are passed in) and holds no keys.
//!
//! # Bytes
//!
//! - Cosigner key ID: `SHA-256(name || 0x0A || 0x04 || 32-byte public key)[:4]`,
//!   read big-endian. A cosigner key is written as a verifier key
//!   `<name>+<8 hex id>+<base64(0x04 || public key)>` ([`CosignerKey`]).
//! - Signature line: `— <name> <base64(key id (4) || timestamp (u64 BE, 8) ||
//!   Ed25519 signature (64))>\n`, so the base64 decodes to 76 bytes.
//! - Signed message ([`signed_message`]): `cosignature/v1\n`, then
//!   `time <timestamp in decimal, no leading zeros>\n`, then the whole note
//!   text of the checkpoint (with extension lines and the final newline, no
//!   signature lines).
//!
//! # Invariants
//!
//! - Timestamps are POSIX seconds and never exceed 2^63 − 1, both when
//!   cosigning and when parsing.
//! - Only lines whose key name **and** key ID match a configured cosigner are
//!   read as cosignatures; every other line is ignored, as signed-note
//!   requires. A matching line that is malformed or does not verify rejects
//!   the whole note (the note is tampered with or someone forges in the
//!   cosigner's name), like a bad signature by a trusted key in
//!   [`super::open_note`].
//! - [`verify_cosigned`] counts each configured cosigner at most once, and
//!   refuses a configuration in which two cosigners, or a cosigner and a log
//!   key, share a public key: cosignature/v1 does not commit to the
//!   cosigner's name, so one key under two names would count twice.

use super::{
    check_limits, check_text, is_valid_key_name, parse_typed_verifier_key, split_note,
    typed_key_id, verify_checkpoint_with, Checkpoint, NoteError, SignatureLine, B64,
};
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use std::fmt;
use std::str::FromStr;
use thiserror::Error;

/// The signature type byte of Ed25519 cosignature/v1 keys.
pub const COSIGNATURE_TYPE: u8 = 0x04;

/// The header line of the signed message, without its newline.
pub const HEADER: &str = "cosignature/v1";

/// The largest timestamp a cosignature may carry (2^63 − 1).
pub const MAX_TIMESTAMP: u64 = i64::MAX as u64;

/// The length of a cosignature/v1 signature after the key ID: an 8-byte
/// timestamp and a 64-byte Ed25519 signature.
pub const SIGNATURE_LEN: usize = 8 + 64;

/// Why a cosignature could not be made or a cosigned checkpoint was refused.
/// Every refusal means the same to a caller that only wants yes or no: the
/// checkpoint is not witnessed as required and must not be trusted.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CosignatureError {
    /// The note's format, the log's signature or the checkpoint body failed
    /// (the inner error says which and how to handle it). Reject the note.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// A line by a configured cosigner (name and key ID match) is not a
    /// cosignature/v1: its signature is not 72 bytes after the key ID, or
    /// its timestamp exceeds 2^63 − 1. Reject the note: it was corrupted,
    /// or the cosigner uses another signature type under the same ID.
    #[error("malformed cosignature by {name}+{key_id:08x}: {reason}")]
    Malformed {
        /// The cosigner's name.
        name: String,
        /// The cosigner's key ID.
        key_id: u32,
        /// What is wrong.
        reason: &'static str,
    },
    /// A cosignature by a configured cosigner does not verify. Reject the
    /// note and alert: the checkpoint was altered after it was cosigned, or
    /// someone forges cosignatures in the witness's name.
    #[error("invalid cosignature by {name}+{key_id:08x}")]
    InvalidCosignature {
        /// The cosigner's name.
        name: String,
        /// The cosigner's key ID.
        key_id: u32,
    },
    /// A cosignature line was checked against a cosigner whose name or key
    /// ID it does not carry. This is the caller's mistake: match lines to
    /// keys with [`CosignatureLine::is_by`] first.
    #[error("the cosignature is by {name}+{key_id:08x}, not by the expected cosigner")]
    WrongCosigner {
        /// The name on the line.
        name: String,
        /// The key ID on the line.
        key_id: u32,
    },
    /// Two configured cosigners share a public key, or a cosigner's key is
    /// also a log key. A configuration error: each witness needs its own
    /// key, distinct from the log's, or one key would count twice.
    #[error("key reuse: {0}")]
    KeyReuse(String),
    /// Fewer configured cosigners than the quorum signed validly. Reject the
    /// checkpoint for this policy (a witness may be down or not yet asked;
    /// try a later checkpoint or a lower quorum, never skip the check).
    #[error("{got} of the required {need} witness cosignatures verified (signed: {signed:?})")]
    QuorumNotMet {
        /// The quorum asked for.
        need: usize,
        /// How many configured cosigners signed validly.
        got: usize,
        /// Their names.
        signed: Vec<String>,
    },
    /// The text cannot be cosigned: it is not a checkpoint body, or the
    /// timestamp exceeds 2^63 − 1. The caller's bug; fix the input.
    #[error("cannot cosign: {0}")]
    CannotCosign(&'static str),
}

/// Returns the cosignature/v1 key ID of an Ed25519 key under `name`:
/// `SHA-256(name || 0x0A || 0x04 || key)[:4]`, big-endian.
pub fn key_id(name: &str, key: &VerifyingKey) -> u32 {
    typed_key_id(name, COSIGNATURE_TYPE, key)
}

/// A cosigner's public identity: its name, its Ed25519 key and the key ID
/// derived from both. Built only by [`CosignerKey::new`] or
/// [`CosignerKey::parse`], so the name is valid and the key is not weak.
#[derive(Clone, PartialEq, Eq)]
pub struct CosignerKey {
    name: String,
    key: VerifyingKey,
    key_id: u32,
}

impl CosignerKey {
    /// Makes a cosigner key from a name and an Ed25519 public key.
    pub fn new(name: &str, key: VerifyingKey) -> Result<CosignerKey, NoteError> {
        if !is_valid_key_name(name) {
            return Err(NoteError::InvalidKeyName(name.to_owned()));
        }
        if key.is_weak() {
            return Err(NoteError::InvalidPublicKey);
        }
        Ok(CosignerKey {
            name: name.to_owned(),
            key_id: key_id(name, &key),
            key,
        })
    }

    /// Parses a cosigner verifier key `<name>+<8 hex id>+<base64(0x04 || key)>`,
    /// checking the name, the type byte, the key and that the ID matches.
    pub fn parse(vkey: &str) -> Result<CosignerKey, NoteError> {
        let (name, key_id, key) = parse_typed_verifier_key(vkey, COSIGNATURE_TYPE)?;
        Ok(CosignerKey { name, key, key_id })
    }

    /// The cosigner's name (the key name on its signature lines).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The Ed25519 public key.
    pub fn key(&self) -> &VerifyingKey {
        &self.key
    }

    /// The cosignature/v1 key ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// Returns the verifier key string `<name>+<id>+<base64(0x04 || key)>`.
    pub fn verifier_key(&self) -> String {
        let mut raw = Vec::with_capacity(33);
        raw.push(COSIGNATURE_TYPE);
        raw.extend_from_slice(self.key.as_bytes());
        format!("{}+{:08x}+{}", self.name, self.key_id, B64.encode(raw))
    }
}

impl fmt::Display for CosignerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.verifier_key())
    }
}

impl fmt::Debug for CosignerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CosignerKey({})", self.verifier_key())
    }
}

impl FromStr for CosignerKey {
    type Err = NoteError;
    fn from_str(s: &str) -> Result<CosignerKey, NoteError> {
        CosignerKey::parse(s)
    }
}

/// One cosignature/v1 signature line, parsed (not verified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosignatureLine {
    /// The cosigner's name.
    pub name: String,
    /// The cosigner's key ID.
    pub key_id: u32,
    /// When it was made, in POSIX seconds (at most 2^63 − 1).
    pub timestamp: u64,
    /// The Ed25519 signature over [`signed_message`].
    pub signature: [u8; 64],
}

impl CosignatureLine {
    /// Parses a line `— <name> <base64(76 bytes)>`, with or without its final
    /// newline. A valid signature line of another type (another length) is
    /// refused with [`NoteError::MalformedNote`].
    pub fn parse(line: &str) -> Result<CosignatureLine, NoteError> {
        let line = SignatureLine::parse(line)?;
        CosignatureLine::from_signature_line(&line).map_err(NoteError::MalformedNote)
    }

    /// Reads a parsed signature line as a cosignature/v1: 72 bytes after the
    /// key ID, with a timestamp of at most 2^63 − 1. On failure, the reason.
    pub fn from_signature_line(line: &SignatureLine) -> Result<CosignatureLine, &'static str> {
        if line.signature.len() != SIGNATURE_LEN {
            return Err(
                "a cosignature/v1 is 72 bytes after the key id (timestamp and Ed25519 signature)",
            );
        }
        let (ts, sig) = line.signature.split_at(8);
        let timestamp = u64::from_be_bytes(ts.try_into().expect("8 bytes"));
        if timestamp > MAX_TIMESTAMP {
            return Err("the timestamp exceeds 2^63 - 1");
        }
        Ok(CosignatureLine {
            name: line.name.clone(),
            key_id: line.key_id,
            timestamp,
            signature: sig.try_into().expect("64 bytes"),
        })
    }

    /// The line as a generic signature line.
    pub fn to_signature_line(&self) -> SignatureLine {
        let mut signature = Vec::with_capacity(SIGNATURE_LEN);
        signature.extend_from_slice(&self.timestamp.to_be_bytes());
        signature.extend_from_slice(&self.signature);
        SignatureLine {
            name: self.name.clone(),
            key_id: self.key_id,
            signature,
        }
    }

    /// Returns the line, `— <name> <base64(key id || timestamp || signature)>\n`.
    pub fn to_line(&self) -> String {
        self.to_signature_line().to_line()
    }

    /// Whether the line carries this cosigner's name and key ID (it may
    /// still fail to verify).
    pub fn is_by(&self, key: &CosignerKey) -> bool {
        self.name == key.name && self.key_id == key.key_id
    }

    /// Verifies the cosignature over a note `text` (the checkpoint body,
    /// with its final newline) with the cosigner's key.
    pub fn verify(&self, text: &str, key: &CosignerKey) -> Result<(), CosignatureError> {
        if !self.is_by(key) {
            return Err(CosignatureError::WrongCosigner {
                name: self.name.clone(),
                key_id: self.key_id,
            });
        }
        key.key
            .verify_strict(
                &signed_message(self.timestamp, text),
                &Signature::from_bytes(&self.signature),
            )
            .map_err(|_| CosignatureError::InvalidCosignature {
                name: self.name.clone(),
                key_id: self.key_id,
            })
    }
}

/// Returns the message a cosignature/v1 signs:
/// `"cosignature/v1\ntime <timestamp>\n" || text`.
pub fn signed_message(timestamp: u64, text: &str) -> Vec<u8> {
    let head = format!("{HEADER}\ntime {timestamp}\n");
    let mut msg = Vec::with_capacity(head.len() + text.len());
    msg.extend_from_slice(head.as_bytes());
    msg.extend_from_slice(text.as_bytes());
    msg
}

/// Cosigns a checkpoint's note `text` (exactly as it appears in the note, with
/// its final newline) under `name` at `timestamp` (POSIX seconds).
///
/// The text must be a well-formed checkpoint body; the caller is responsible
/// for having checked its signature and consistency first.
pub fn cosign(
    text: &str,
    name: &str,
    sk: &SigningKey,
    timestamp: u64,
) -> Result<CosignatureLine, CosignatureError> {
    if !is_valid_key_name(name) {
        return Err(NoteError::InvalidKeyName(name.to_owned()).into());
    }
    if timestamp > MAX_TIMESTAMP {
        return Err(CosignatureError::CannotCosign(
            "the timestamp exceeds 2^63 - 1",
        ));
    }
    check_text(text)?;
    Checkpoint::parse_body(text)?;
    let sig = sk.sign(&signed_message(timestamp, text));
    Ok(CosignatureLine {
        name: name.to_owned(),
        key_id: key_id(name, &sk.verifying_key()),
        timestamp,
        signature: sig.to_bytes(),
    })
}

/// Adds cosignature lines to a signed note, after its existing signatures.
///
/// Existing lines are kept as they are (none is verified), except that a
/// line with the same key name and key ID as an added one is replaced by the
/// added one (a witness's newer cosignature replaces its older one). The
/// result obeys the note limits ([`super::MAX_NOTE_BYTES`],
/// [`super::MAX_SIGNATURES`]).
pub fn add_cosignatures(note: &str, lines: &[CosignatureLine]) -> Result<String, NoteError> {
    let (text, existing) = split_note(note)?;
    let mut added: Vec<&CosignatureLine> = Vec::new();
    for line in lines {
        if !is_valid_key_name(&line.name) {
            return Err(NoteError::InvalidKeyName(line.name.clone()));
        }
        match added
            .iter_mut()
            .find(|l| l.name == line.name && l.key_id == line.key_id)
        {
            Some(slot) => *slot = line,
            None => added.push(line),
        }
    }
    let mut out = String::with_capacity(note.len() + added.len() * 110);
    out.push_str(text);
    out.push('\n');
    let mut count = 0;
    for line in &existing {
        if !added
            .iter()
            .any(|a| a.name == line.name && a.key_id == line.key_id)
        {
            out.push_str(line.raw);
            out.push('\n');
            count += 1;
        }
    }
    for line in &added {
        out.push_str(&line.to_line());
        count += 1;
    }
    check_limits(&out, count)?;
    Ok(out)
}

/// One configured cosigner whose cosignature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosigned {
    /// The cosigner's name.
    pub name: String,
    /// The cosigner's key ID.
    pub key_id: u32,
    /// The timestamp of its (latest, if several) valid cosignature. The
    /// caller may refuse timestamps in the future or too old for its policy.
    pub timestamp: u64,
}

/// A checkpoint whose log signature verified, with the configured cosigners
/// that cosigned it validly (in the order they were configured).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosignedCheckpoint {
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// The cosigners that signed, each once.
    pub cosigners: Vec<Cosigned>,
}

/// Verifies a checkpoint note signed by the log and cosigned by witnesses,
/// and enforces a quorum: at least `quorum` of the configured `witnesses`
/// must have cosigned it validly.
///
/// The log's signature is checked with `log_keys` by the rule of
/// [`verify_checkpoint_with`] (a key named after the origin signed it).
/// Lines by other keys are ignored; a malformed or invalid cosignature by a
/// configured witness rejects the note. `quorum` 0 checks the log signature
/// and reports the cosigners without requiring any.
pub fn verify_cosigned(
    note: &str,
    log_keys: &[(String, VerifyingKey)],
    witnesses: &[CosignerKey],
    quorum: usize,
) -> Result<CosignedCheckpoint, CosignatureError> {
    let witnesses = distinct_witnesses(log_keys, witnesses)?;
    let checkpoint = verify_checkpoint_with(note, log_keys)?;
    let (text, lines) = split_note(note)?;
    let mut cosigners = Vec::new();
    for w in witnesses {
        let mut latest: Option<u64> = None;
        for raw in lines
            .iter()
            .filter(|l| l.name == w.name && l.key_id == w.key_id)
        {
            let line = SignatureLine {
                name: raw.name.to_owned(),
                key_id: raw.key_id,
                signature: raw.sig.clone(),
            };
            let cosig = CosignatureLine::from_signature_line(&line).map_err(|reason| {
                CosignatureError::Malformed {
                    name: line.name.clone(),
                    key_id: line.key_id,
                    reason,
                }
            })?;
            cosig.verify(text, w)?;
            latest = latest.max(Some(cosig.timestamp));
        }
        if let Some(timestamp) = latest {
            cosigners.push(Cosigned {
                name: w.name.clone(),
                key_id: w.key_id,
                timestamp,
            });
        }
    }
    if cosigners.len() < quorum {
        return Err(CosignatureError::QuorumNotMet {
            need: quorum,
            got: cosigners.len(),
            signed: cosigners.into_iter().map(|c| c.name).collect(),
        });
    }
    Ok(CosignedCheckpoint {
        checkpoint,
        cosigners,
    })
}

/// Removes repeated entries and refuses key reuse between cosigners, or
/// between a cosigner and a log key.
fn distinct_witnesses<'a>(
    log_keys: &[(String, VerifyingKey)],
    witnesses: &'a [CosignerKey],
) -> Result<Vec<&'a CosignerKey>, CosignatureError> {
    let mut out: Vec<&CosignerKey> = Vec::new();
    for w in witnesses {
        if log_keys.iter().any(|(_, k)| k == &w.key) {
            return Err(CosignatureError::KeyReuse(format!(
                "witness {} uses a log key",
                w.name
            )));
        }
        if let Some(other) = out.iter().find(|o| o.key == w.key) {
            if other.name == w.name {
                continue;
            }
            return Err(CosignatureError::KeyReuse(format!(
                "witnesses {} and {} share a public key",
                other.name, w.name
            )));
        }
        out.push(w);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
