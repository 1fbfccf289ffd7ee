//! C2SP signed notes and transparency-log checkpoints, with Ed25519 keys.
//!
//! This module owns the wire format of everything the ledger signs for the
//! outside world: verifier key strings (`<name>+<key id>+<base64 key>`),
//! signed notes (c2sp.org/signed-note) and checkpoints
//! (c2sp.org/tlog-checkpoint). It does no I/O and holds no keys; callers
//! pass signing keys in and get strings out.
//!
//! # Invariants
//!
//! - A note's text ends in a newline, is valid UTF-8 and has no ASCII
//!   control characters other than newline. The text is followed by one
//!   blank line and then one or more signature lines
//!   `— <key name> <base64(key id || signature)>\n`.
//! - Key names are non-empty and contain no Unicode white space, no `+`, and
//!   (so they can appear in a note) no control characters.
//! - The key ID of an Ed25519 key is the first four bytes, read big-endian,
//!   of `SHA-256(name || 0x0A || 0x01 || 32-byte public key)`.
//! - Opening a note verifies every signature whose key name and key ID both
//!   match a trusted key, ignores every other signature, rejects the note if
//!   any trusted signature is bad, and rejects it if none verifies.
//! - Our rule for checkpoints: the signing key's name equals the checkpoint's
//!   origin. A checkpoint is accepted only if a key named after its origin
//!   signed it. Key rotation is done by signing with the old and the new key
//!   (same name, different key IDs) for a while, so holders of either key
//!   can verify.
//! - Notes longer than [`MAX_NOTE_BYTES`] or with more than
//!   [`MAX_SIGNATURES`] signature lines are refused, both when signing and
//!   when opening, so everything this module signs it can also open.
//!
//! Witness cosignatures (c2sp.org/tlog-cosignature, `cosignature/v1`,
//! signature type 0x04) live in [`cosignature`]: they are note signature
//! lines too, but by keys whose IDs use type 0x04, so [`open_note`] with the
//! log's keys ignores them and [`cosignature::verify_cosigned`] checks them.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use thiserror::Error;

/// The signature type byte of Ed25519 in key IDs and verifier keys.
pub const ED25519_TYPE: u8 = 0x01;

/// The most signature lines a note may carry. The spec requires accepting
/// at least 16; this matches Go's golang.org/x/mod/sumdb/note.
pub const MAX_SIGNATURES: usize = 100;

/// The largest note, in bytes, that is signed or opened. A checkpoint with
/// [`MAX_SIGNATURES`] Ed25519 signatures needs about 12 KiB.
pub const MAX_NOTE_BYTES: usize = 64 * 1024;

/// The prefix of every signature line: an em dash (U+2014) and a space.
const SIG_PREFIX: &str = "\u{2014} ";

/// Why a key, note or checkpoint was rejected or could not be produced.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NoteError {
    /// A key name is empty or contains white space, `+` or a control
    /// character. When signing or encoding a key this is a configuration
    /// error: choose a valid name. When opening a note it is reported as
    /// [`NoteError::MalformedNote`] instead.
    #[error("invalid key name {0:?}")]
    InvalidKeyName(String),
    /// A verifier key string is not `<name>+<8 hex digits>+<base64>`. Treat
    /// it as a configuration error: the trusted key was mistyped or
    /// truncated, so fix the configuration rather than retrying.
    #[error("malformed verifier key: {0}")]
    MalformedVerifierKey(&'static str),
    /// A verifier key is of a signature type other than the one expected:
    /// Ed25519 (0x01) for a log's key, an Ed25519 cosignature/v1 key (0x04)
    /// for a witness's key ([`cosignature::CosignerKey`]). This module
    /// cannot use it; configure a key of the expected type (a witness key
    /// given where a log key is expected, or the reverse, shows up here).
    #[error("unsupported key type 0x{0:02x}")]
    UnsupportedKeyType(u8),
    /// A verifier key's ID does not match its name and public key. The key
    /// string was altered or belongs to another name; refuse to trust it.
    #[error("key id {claimed:08x} does not match computed id {computed:08x}")]
    KeyIdMismatch {
        /// The ID written in the key string.
        claimed: u32,
        /// The ID computed from the name and public key.
        computed: u32,
    },
    /// The public key bytes are not a usable Ed25519 key (not a curve
    /// point, or of small order). Refuse to trust it.
    #[error("invalid Ed25519 public key")]
    InvalidPublicKey,
    /// The text to sign is not valid note text (it does not end in a
    /// newline, or it contains a control character). This is the caller's
    /// bug: fix the text.
    #[error("text cannot be signed: {0}")]
    InvalidText(&'static str),
    /// The note is longer than [`MAX_NOTE_BYTES`]. Reject an incoming note;
    /// when signing, shorten the text or use fewer signers.
    #[error("note is {len} bytes, more than the limit of {max}")]
    NoteTooLarge {
        /// The note's length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The note's bytes are not valid UTF-8. Reject the note.
    #[error("note is not valid UTF-8")]
    NotUtf8,
    /// The note does not follow the signed-note format (no blank line before
    /// the signatures, no final newline, a control character, a bad
    /// signature line or bad base64). Reject the note; it was corrupted or
    /// forged, and retrying the same bytes will not help.
    #[error("malformed note: {0}")]
    MalformedNote(&'static str),
    /// The note has more than [`MAX_SIGNATURES`] signature lines. Reject it.
    #[error("note has more than {max} signatures")]
    TooManySignatures {
        /// The limit.
        max: usize,
    },
    /// Two different trusted keys share this name and key ID, so a signature
    /// cannot be attributed. This is a configuration error: remove one of
    /// the keys.
    #[error("ambiguous trusted key {name}+{key_id:08x}")]
    AmbiguousKey {
        /// The shared key name.
        name: String,
        /// The shared key ID.
        key_id: u32,
    },
    /// A signature by a trusted key failed to verify. Reject the whole note
    /// and alert: the text was altered or someone is forging signatures in
    /// the trusted key's name.
    #[error("invalid signature for trusted key {name}+{key_id:08x}")]
    InvalidSignature {
        /// The trusted key's name.
        name: String,
        /// The trusted key's ID.
        key_id: u32,
    },
    /// No signature from a trusted key is present. Reject the note; if the
    /// signer may have rotated keys, check whether the trusted key list is
    /// out of date.
    #[error("note has no signature from a trusted key")]
    NoVerifiedSignature,
    /// The note's text is not a well-formed checkpoint body, or a
    /// [`Checkpoint`] to be signed has invalid fields. Reject an incoming
    /// checkpoint; when signing, fix the fields.
    #[error("malformed checkpoint: {0}")]
    MalformedCheckpoint(&'static str),
    /// The checkpoint's origin is not the name of the key that signed (or is
    /// to sign) it, which breaks our rule that key name = origin. Reject an
    /// incoming checkpoint (it belongs to another log); when signing, use
    /// the log's own key name.
    #[error("checkpoint origin {origin:?} does not match key name {key_name:?}")]
    OriginMismatch {
        /// The checkpoint's origin line.
        origin: String,
        /// The key name it was checked against.
        key_name: String,
    },
}

/// A signature that [`open_note`] verified with a trusted key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VerifiedSig {
    /// The key name from the signature line.
    pub name: String,
    /// The key ID from the signature.
    pub key_id: u32,
}

/// Returns whether `name` may be used as a key name.
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c == '+' || c.is_whitespace() || c.is_control())
}

fn check_key_name(name: &str) -> Result<(), NoteError> {
    if is_valid_key_name(name) {
        Ok(())
    } else {
        Err(NoteError::InvalidKeyName(name.to_owned()))
    }
}

/// Returns the key ID of an Ed25519 key with the given name.
pub fn key_id(name: &str, vk: &VerifyingKey) -> u32 {
    typed_key_id(name, ED25519_TYPE, vk)
}

/// Returns `SHA-256(name || 0x0A || key_type || key)[:4]` read big-endian:
/// the key ID of an Ed25519 key used with signature type `key_type`.
fn typed_key_id(name: &str, key_type: u8, vk: &VerifyingKey) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', key_type]);
    h.update(vk.as_bytes());
    let digest = h.finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// Encodes a verifier key as `<name>+<8 lowercase hex key id>+<base64(0x01 || key)>`.
pub fn verifier_key(name: &str, vk: &VerifyingKey) -> Result<String, NoteError> {
    check_key_name(name)?;
    let mut raw = Vec::with_capacity(33);
    raw.push(ED25519_TYPE);
    raw.extend_from_slice(vk.as_bytes());
    Ok(format!(
        "{name}+{:08x}+{}",
        key_id(name, vk),
        B64.encode(raw)
    ))
}

/// Parses a verifier key string and returns its name, key ID and key.
///
/// It checks the name, that the ID is 8 hex digits, that the key is a valid
/// Ed25519 key of type 0x01, and that the ID matches the name and key.
pub fn parse_verifier_key(s: &str) -> Result<(String, u32, VerifyingKey), NoteError> {
    parse_typed_verifier_key(s, ED25519_TYPE)
}

/// Parses a verifier key string whose key is an Ed25519 key of signature
/// type `key_type` (0x01 for note signatures, 0x04 for cosignatures).
fn parse_typed_verifier_key(
    s: &str,
    key_type: u8,
) -> Result<(String, u32, VerifyingKey), NoteError> {
    // A name has no '+', but the base64 part may, so split at the first two.
    let mut parts = s.splitn(3, '+');
    let (Some(name), Some(id_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(NoteError::MalformedVerifierKey(
            "expected <name>+<id>+<key>",
        ));
    };
    check_key_name(name)?;
    if id_hex.len() != 8 || !id_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(NoteError::MalformedVerifierKey(
            "key id is not 8 hex digits",
        ));
    }
    let claimed = u32::from_str_radix(id_hex, 16)
        .map_err(|_| NoteError::MalformedVerifierKey("key id is not 8 hex digits"))?;
    let raw = B64
        .decode(key_b64)
        .map_err(|_| NoteError::MalformedVerifierKey("key is not valid base64"))?;
    let Some((&found_type, key)) = raw.split_first() else {
        return Err(NoteError::MalformedVerifierKey("key is empty"));
    };
    if found_type != key_type {
        return Err(NoteError::UnsupportedKeyType(found_type));
    }
    let key: [u8; 32] = key
        .try_into()
        .map_err(|_| NoteError::MalformedVerifierKey("Ed25519 key is not 32 bytes"))?;
    let vk = VerifyingKey::from_bytes(&key).map_err(|_| NoteError::InvalidPublicKey)?;
    if vk.is_weak() {
        return Err(NoteError::InvalidPublicKey);
    }
    let computed = typed_key_id(name, key_type, &vk);
    if computed != claimed {
        return Err(NoteError::KeyIdMismatch { claimed, computed });
    }
    Ok((name.to_owned(), claimed, vk))
}

/// Checks that `text` can be the text of a note.
fn check_text(text: &str) -> Result<(), NoteError> {
    if !text.ends_with('\n') {
        return Err(NoteError::InvalidText("text must end with a newline"));
    }
    if has_forbidden_control(text) {
        return Err(NoteError::InvalidText("text contains a control character"));
    }
    Ok(())
}

/// Returns whether `s` contains an ASCII control character other than newline.
fn has_forbidden_control(s: &str) -> bool {
    s.bytes().any(|b| b < 0x20 && b != b'\n')
}

/// Returns the signature line of `text` signed by `sk` under `name`.
fn signature_line(text: &str, name: &str, sk: &SigningKey) -> (u32, String) {
    let id = key_id(name, &sk.verifying_key());
    let sig = sk.sign(text.as_bytes());
    let mut raw = Vec::with_capacity(4 + 64);
    raw.extend_from_slice(&id.to_be_bytes());
    raw.extend_from_slice(&sig.to_bytes());
    (id, format!("{SIG_PREFIX}{name} {}\n", B64.encode(raw)))
}

/// Signs `text` (which must end in a newline) with one key and returns the
/// signed note: the text, a blank line, and one signature line.
pub fn sign_note(text: &str, name: &str, sk: &SigningKey) -> Result<String, NoteError> {
    sign_note_multi(text, &[(name, sk)])
}

/// Signs `text` with several keys, in order, and returns the signed note.
///
/// A signer listed twice (same name and key) contributes one line. Use this
/// to sign with both the old and the new key during a key rotation.
pub fn sign_note_multi(text: &str, signers: &[(&str, &SigningKey)]) -> Result<String, NoteError> {
    check_text(text)?;
    if signers.is_empty() {
        return Err(NoteError::InvalidText("a note needs at least one signer"));
    }
    let mut note = String::with_capacity(text.len() + 1 + signers.len() * 110);
    note.push_str(text);
    note.push('\n');
    let mut seen = Vec::new();
    for &(name, sk) in signers {
        check_key_name(name)?;
        let (id, line) = signature_line(text, name, sk);
        if !seen.contains(&(name, id)) {
            seen.push((name, id));
            note.push_str(&line);
        }
    }
    check_limits(&note, seen.len())?;
    Ok(note)
}

/// Adds a signature by `sk` under `name` to an already signed note.
///
/// The existing signatures are kept as they are (they are not verified);
/// an existing line by the same name and key ID is replaced by the new one.
pub fn add_signature(note: &str, name: &str, sk: &SigningKey) -> Result<String, NoteError> {
    check_key_name(name)?;
    let (text, lines) = split_note(note)?;
    let (id, new_line) = signature_line(text, name, sk);
    let mut out = String::with_capacity(note.len() + new_line.len());
    out.push_str(text);
    out.push('\n');
    let mut count = 1;
    for line in &lines {
        if line.name != name || line.key_id != id {
            out.push_str(line.raw);
            out.push('\n');
            count += 1;
        }
    }
    out.push_str(&new_line);
    check_limits(&out, count)?;
    Ok(out)
}

fn check_limits(note: &str, signatures: usize) -> Result<(), NoteError> {
    if note.len() > MAX_NOTE_BYTES {
        return Err(NoteError::NoteTooLarge {
            len: note.len(),
            max: MAX_NOTE_BYTES,
        });
    }
    if signatures > MAX_SIGNATURES {
        return Err(NoteError::TooManySignatures {
            max: MAX_SIGNATURES,
        });
    }
    Ok(())
}

/// One parsed signature line.
struct SigLine<'a> {
    /// The line without its final newline.
    raw: &'a str,
    name: &'a str,
    key_id: u32,
    /// The signature bytes after the key ID.
    sig: Vec<u8>,
}

/// Splits a note into its text and signature lines and checks the format,
/// without verifying anything.
fn split_note(note: &str) -> Result<(&str, Vec<SigLine<'_>>), NoteError> {
    if note.len() > MAX_NOTE_BYTES {
        return Err(NoteError::NoteTooLarge {
            len: note.len(),
            max: MAX_NOTE_BYTES,
        });
    }
    if has_forbidden_control(note) {
        return Err(NoteError::MalformedNote("contains a control character"));
    }
    let Some(split) = note.rfind("\n\n") else {
        return Err(NoteError::MalformedNote(
            "no blank line before the signatures",
        ));
    };
    let (text, sigs) = (&note[..split + 1], &note[split + 2..]);
    let Some(sigs) = sigs.strip_suffix('\n') else {
        return Err(NoteError::MalformedNote(
            "signature block is empty or lacks its final newline",
        ));
    };
    let mut lines = Vec::new();
    for raw in sigs.split('\n') {
        if lines.len() == MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures {
                max: MAX_SIGNATURES,
            });
        }
        lines.push(parse_sig_line(raw)?);
    }
    Ok((text, lines))
}

/// Parses one signature line (without its newline), checking its format only.
fn parse_sig_line(raw: &str) -> Result<SigLine<'_>, NoteError> {
    let Some(rest) = raw.strip_prefix(SIG_PREFIX) else {
        return Err(NoteError::MalformedNote(
            "line after the blank line is not a signature",
        ));
    };
    let Some((name, b64)) = rest.split_once(' ') else {
        return Err(NoteError::MalformedNote("signature line has no signature"));
    };
    if !is_valid_key_name(name) {
        return Err(NoteError::MalformedNote(
            "signature line has an invalid key name",
        ));
    }
    let decoded = B64
        .decode(b64)
        .map_err(|_| NoteError::MalformedNote("signature is not valid base64"))?;
    if decoded.len() < 5 {
        return Err(NoteError::MalformedNote("signature is too short"));
    }
    let (id, sig) = decoded.split_at(4);
    Ok(SigLine {
        raw,
        name,
        key_id: u32::from_be_bytes([id[0], id[1], id[2], id[3]]),
        sig: sig.to_vec(),
    })
}

/// One signature line of a note, parsed for format but not verified: the key
/// name, the key ID and the signature bytes that follow the ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureLine {
    /// The key name.
    pub name: String,
    /// The key ID (the first four bytes of the decoded signature, big-endian).
    pub key_id: u32,
    /// The signature bytes after the key ID; their meaning depends on the
    /// key's signature type (64 bytes for Ed25519, 72 for a cosignature/v1).
    pub signature: Vec<u8>,
}

impl SignatureLine {
    /// Parses one signature line, with or without its final newline.
    ///
    /// The line must be `— <key name> <base64(key id || signature)>` with a
    /// valid key name, canonical base64 and at least one signature byte.
    pub fn parse(line: &str) -> Result<SignatureLine, NoteError> {
        let raw = line.strip_suffix('\n').unwrap_or(line);
        if raw.contains('\n') || has_forbidden_control(raw) {
            return Err(NoteError::MalformedNote(
                "signature line contains a control character",
            ));
        }
        parse_sig_line(raw).map(|l| l.to_owned_line())
    }

    /// Returns the line, `— <name> <base64(key id || signature)>\n`.
    pub fn to_line(&self) -> String {
        let mut raw = Vec::with_capacity(4 + self.signature.len());
        raw.extend_from_slice(&self.key_id.to_be_bytes());
        raw.extend_from_slice(&self.signature);
        format!("{SIG_PREFIX}{} {}\n", self.name, B64.encode(raw))
    }
}

impl SigLine<'_> {
    fn to_owned_line(&self) -> SignatureLine {
        SignatureLine {
            name: self.name.to_owned(),
            key_id: self.key_id,
            signature: self.sig.clone(),
        }
    }
}

/// A signed note split into its text and its signature lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedNote {
    /// The note text, ending in a newline (without the blank line).
    pub text: String,
    /// Every signature line, in note order, none of them verified.
    pub signatures: Vec<SignatureLine>,
}

/// Splits a signed note into its text and signature lines and checks the
/// format (the same checks [`open_note`] makes before verifying anything),
/// without verifying any signature.
///
/// Use it to read a note that carries signatures of several kinds, such as
/// a checkpoint with the log's signature and witness cosignatures; verify
/// with [`open_note`] and [`cosignature::verify_cosigned`].
pub fn parse_note(note: &str) -> Result<ParsedNote, NoteError> {
    let (text, lines) = split_note(note)?;
    Ok(ParsedNote {
        text: text.to_owned(),
        signatures: lines.iter().map(SigLine::to_owned_line).collect(),
    })
}

/// Opens a signed note: checks its format, verifies the signatures of the
/// trusted `verifiers` (each a key name and its key), and returns the text
/// and the verified signatures.
///
/// A signature counts as a trusted key's only if both its name and its key
/// ID match; all other signatures are ignored. Any bad signature from a
/// trusted key rejects the note, and so does the absence of any good one.
/// Each trusted key appears at most once in the result.
pub fn open_note(
    note: &str,
    verifiers: &[(String, VerifyingKey)],
) -> Result<(String, Vec<VerifiedSig>), NoteError> {
    let (text, lines) = split_note(note)?;
    let known: Vec<(&str, u32, &VerifyingKey)> = verifiers
        .iter()
        .map(|(name, vk)| (name.as_str(), key_id(name, vk), vk))
        .collect();
    let mut verified: Vec<VerifiedSig> = Vec::new();
    for line in &lines {
        let mut matches = known
            .iter()
            .filter(|(name, id, _)| *name == line.name && *id == line.key_id)
            .map(|&(_, _, vk)| vk);
        let Some(vk) = matches.next() else {
            continue;
        };
        if matches.any(|other| other != vk) {
            return Err(NoteError::AmbiguousKey {
                name: line.name.to_owned(),
                key_id: line.key_id,
            });
        }
        let bad = || NoteError::InvalidSignature {
            name: line.name.to_owned(),
            key_id: line.key_id,
        };
        let sig = <[u8; 64]>::try_from(line.sig.as_slice()).map_err(|_| bad())?;
        vk.verify_strict(text.as_bytes(), &Signature::from_bytes(&sig))
            .map_err(|_| bad())?;
        let entry = VerifiedSig {
            name: line.name.to_owned(),
            key_id: line.key_id,
        };
        if !verified.contains(&entry) {
            verified.push(entry);
        }
    }
    if verified.is_empty() {
        return Err(NoteError::NoVerifiedSignature);
    }
    Ok((text.to_owned(), verified))
}

/// Opens a signed note given as raw bytes, rejecting invalid UTF-8 first.
pub fn open_note_bytes(
    note: &[u8],
    verifiers: &[(String, VerifyingKey)],
) -> Result<(String, Vec<VerifiedSig>), NoteError> {
    if note.len() > MAX_NOTE_BYTES {
        return Err(NoteError::NoteTooLarge {
            len: note.len(),
            max: MAX_NOTE_BYTES,
        });
    }
    let note = std::str::from_utf8(note).map_err(|_| NoteError::NotUtf8)?;
    open_note(note, verifiers)
}

/// A transparency-log checkpoint (c2sp.org/tlog-checkpoint): the note text
/// naming a log, its size and its RFC 6962 root hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity; by our rule also the name of its signing key.
    pub origin: String,
    /// The number of leaves in the tree.
    pub size: u64,
    /// The RFC 6962 Merkle tree head at `size`.
    pub root: [u8; 32],
    /// Opaque extension lines, each non-empty and without the newline.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// Returns the checkpoint's note text: the origin, the decimal size, the
    /// base64 root and each extension line, each followed by a newline.
    ///
    /// The result is well formed only if [`Checkpoint::validate`] passes.
    pub fn body(&self) -> String {
        let mut body = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        );
        for ext in &self.extensions {
            body.push_str(ext);
            body.push('\n');
        }
        body
    }

    /// Checks that the fields form a well-formed body: the origin is a valid
    /// key name (our rule, stricter than the spec's non-empty line) and every
    /// extension line is non-empty and free of control characters.
    pub fn validate(&self) -> Result<(), NoteError> {
        if !is_valid_key_name(&self.origin) {
            return Err(NoteError::MalformedCheckpoint(
                "origin is not a valid key name",
            ));
        }
        for ext in &self.extensions {
            if ext.is_empty() || ext.contains('\n') || has_forbidden_control(ext) {
                return Err(NoteError::MalformedCheckpoint(
                    "extension line is empty or contains a control character",
                ));
            }
        }
        Ok(())
    }

    /// Parses a checkpoint body (a note's text, ending in a newline).
    ///
    /// The origin must be non-empty, the size must be decimal without
    /// leading zeros, the root must be the canonical base64 of 32 bytes, and
    /// extension lines must be non-empty. The origin is not held to the key
    /// name rule here; [`verify_checkpoint`] compares it with the key name.
    pub fn parse_body(text: &str) -> Result<Checkpoint, NoteError> {
        let Some(body) = text.strip_suffix('\n') else {
            return Err(NoteError::MalformedCheckpoint(
                "body does not end with a newline",
            ));
        };
        if has_forbidden_control(body) {
            return Err(NoteError::MalformedCheckpoint(
                "body contains a control character",
            ));
        }
        let lines: Vec<&str> = body.split('\n').collect();
        if lines.len() < 3 {
            return Err(NoteError::MalformedCheckpoint(
                "body has fewer than three lines",
            ));
        }
        if lines.iter().any(|l| l.is_empty()) {
            return Err(NoteError::MalformedCheckpoint("body has an empty line"));
        }
        let size_line = lines[1];
        if !size_line.bytes().all(|b| b.is_ascii_digit())
            || (size_line.len() > 1 && size_line.starts_with('0'))
        {
            return Err(NoteError::MalformedCheckpoint(
                "size is not a decimal number without leading zeros",
            ));
        }
        let size = size_line
            .parse::<u64>()
            .map_err(|_| NoteError::MalformedCheckpoint("size does not fit in 64 bits"))?;
        let root: [u8; 32] = B64
            .decode(lines[2])
            .ok()
            .and_then(|raw| raw.try_into().ok())
            .ok_or(NoteError::MalformedCheckpoint(
                "root is not the base64 of 32 bytes",
            ))?;
        Ok(Checkpoint {
            origin: lines[0].to_owned(),
            size,
            root,
            extensions: lines[3..].iter().map(|l| (*l).to_owned()).collect(),
        })
    }
}

/// Signs a checkpoint with the log's key. `name` must equal the origin.
pub fn sign_checkpoint(cp: &Checkpoint, name: &str, sk: &SigningKey) -> Result<String, NoteError> {
    sign_checkpoint_multi(cp, &[(name, sk)])
}

/// Signs a checkpoint with several keys, for example the old and the new
/// key during a rotation. Every key name must equal the origin.
pub fn sign_checkpoint_multi(
    cp: &Checkpoint,
    signers: &[(&str, &SigningKey)],
) -> Result<String, NoteError> {
    cp.validate()?;
    for &(name, _) in signers {
        if name != cp.origin {
            return Err(NoteError::OriginMismatch {
                origin: cp.origin.clone(),
                key_name: name.to_owned(),
            });
        }
    }
    sign_note_multi(&cp.body(), signers)
}

/// Verifies a signed checkpoint against one trusted verifier key string and
/// returns the checkpoint.
///
/// The note must carry a valid signature by that key, and the checkpoint's
/// origin must equal the key's name (our rule). Other signatures, such as
/// the other key during a rotation, are ignored.
pub fn verify_checkpoint(note: &str, verifier_key_string: &str) -> Result<Checkpoint, NoteError> {
    let (name, _, vk) = parse_verifier_key(verifier_key_string)?;
    verify_checkpoint_with(note, &[(name, vk)])
}

/// Verifies a signed checkpoint against several trusted keys (for example
/// the old and the new key of a log during a rotation).
///
/// At least one verified signature must come from a key whose name equals
/// the checkpoint's origin; verified signatures by other trusted keys are
/// allowed but do not satisfy that rule on their own.
pub fn verify_checkpoint_with(
    note: &str,
    verifiers: &[(String, VerifyingKey)],
) -> Result<Checkpoint, NoteError> {
    let (text, verified) = open_note(note, verifiers)?;
    let cp = Checkpoint::parse_body(&text)?;
    if !verified.iter().any(|v| v.name == cp.origin) {
        return Err(NoteError::OriginMismatch {
            origin: cp.origin,
            key_name: verified
                .into_iter()
                .next()
                .map(|v| v.name)
                .unwrap_or_default(),
        });
    }
    Ok(cp)
}

pub mod cosignature;

#[cfg(test)]
mod tests;
