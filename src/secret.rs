//! Secret values and envelope encryption.
//!
//! A credential version's secret fields are sealed with a fresh 32-byte data key under
//! XChaCha20-Poly1305 (random 24-byte nonce). The associated data binds tenant,
//! credential and version, so a ciphertext moved to another credential or version does
//! not open. The data key is itself sealed ("wrapped") by a master key with a numeric id;
//! wrapped keys live in the key ring (outside the immutable log) so they can be deleted
//! (crypto-shred) and rewrapped (master-key rotation). This module does no I/O: keys and
//! randomness come from the caller (`rand::rngs::OsRng` in the shell).
//!
//! **Invariant:** plaintext secrets only exist inside [`SecretFields`] / [`SecretString`],
//! whose `Debug` and `Display` print `[REDACTED]` and whose memory is zeroized on drop.

use crate::codec;

pub mod json;
use crate::id::Id;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::event::Sealed;

const SECRET_AD_DOMAIN: &[u8] = b"credledger/secret/v1\n";
/// The first bytes of a version-2 (typed) sealed plaintext. A version-1 plaintext starts
/// with its `u64` LE entry count, which is below 2^20 (the codec's limit), so its bytes
/// 3 to 7 are zero; these are not, so the two forms cannot be confused.
pub const TYPED_PLAINTEXT_MAGIC: &[u8] = b"credledger/secret-fields/v2\n";
const WRAP_AD_DOMAIN: &[u8] = b"credledger/data-key/v1\n";

/// A secret string: redacted in `Debug`/`Display`, zeroized on drop, compared in
/// constant time.
///
/// A value of Vault KV data that is not a JSON string (a number, boolean, null, array or
/// object) is a *JSON* secret string: [`SecretString::expose`] gives its canonical JSON
/// text (see [`json`]), which is what a consumer that needs a string (an environment
/// variable, a file, a connection test) receives; [`SecretString::is_json`] tells a JSON
/// dialect to answer the value itself. Serde sees the text only.
#[derive(Clone, Default)]
pub struct SecretString {
    text: Zeroizing<String>,
    json: bool,
}

impl SecretString {
    pub fn new(s: String) -> Self {
        SecretString {
            text: Zeroizing::new(s),
            json: false,
        }
    }
    /// A non-string JSON value, given as its canonical JSON text ([`json::canonical`]).
    pub fn json(canonical_text: Zeroizing<String>) -> Self {
        SecretString {
            text: canonical_text,
            json: true,
        }
    }
    /// The plaintext (for a JSON value, its JSON text). Call only where the value is
    /// about to be released.
    pub fn expose(&self) -> &str {
        &self.text
    }
    /// Whether this is a non-string JSON value whose text is [`SecretString::expose`].
    pub fn is_json(&self) -> bool {
        self.json
    }
}

impl Serialize for SecretString {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(SecretString::new(String::deserialize(d)?))
    }
}

impl From<Zeroizing<String>> for SecretString {
    fn from(s: Zeroizing<String>) -> Self {
        SecretString {
            text: s,
            json: false,
        }
    }
}

impl From<&str> for SecretString {
    fn from(s: &str) -> Self {
        SecretString::new(s.to_owned())
    }
}

impl PartialEq for SecretString {
    fn eq(&self, other: &Self) -> bool {
        self.json == other.json && bool::from(self.text.as_bytes().ct_eq(other.text.as_bytes()))
    }
}
impl Eq for SecretString {}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}
impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// The secret fields of one credential version, by field name.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretFields(pub BTreeMap<String, SecretString>);

impl fmt::Debug for SecretFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|k| (k, "[REDACTED]")))
            .finish()
    }
}

/// A data key: 32 random bytes, zeroized on drop.
pub struct DataKey(Zeroizing<[u8; 32]>);

impl DataKey {
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        let mut k = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(k.as_mut());
        DataKey(k)
    }
}

/// A master key with its id. Zeroized on drop.
#[derive(Clone)]
pub struct MasterKey {
    pub id: u32,
    key: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey(id={}, [REDACTED])", self.id)
    }
}

impl MasterKey {
    pub fn new(id: u32, key: [u8; 32]) -> Self {
        let mk = MasterKey {
            id,
            key: Zeroizing::new(key),
        };
        let mut k = key;
        k.zeroize();
        mk
    }
    pub fn generate(id: u32, rng: &mut (impl RngCore + CryptoRng)) -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(key.as_mut());
        MasterKey { id, key }
    }
    /// The raw key bytes, for writing the key file.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.key
    }
}

/// A data key sealed by a master key. Stored in the key ring, never in the log.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedKey {
    pub master_key_id: u32,
    pub nonce: [u8; 24],
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for WrappedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WrappedKey(master_key_id={})", self.master_key_id)
    }
}

/// What a ciphertext is bound to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Binding {
    pub tenant: Id,
    pub credential: Id,
    pub version: u32,
}

impl Binding {
    /// `domain || tenant (16) || credential (16) || version (u32 LE)`.
    fn associated_data(&self, domain: &[u8]) -> Vec<u8> {
        let mut ad = Vec::with_capacity(domain.len() + 36);
        ad.extend_from_slice(domain);
        ad.extend_from_slice(self.tenant.as_bytes());
        ad.extend_from_slice(self.credential.as_bytes());
        ad.extend_from_slice(&self.version.to_le_bytes());
        ad
    }
}

/// Errors of sealing and opening. None of them carries secret material.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecretError {
    /// The ciphertext, nonce, key or binding do not match (tampered data, swapped
    /// ciphertext, or a destroyed/wrong key). Treat as "unavailable"; never retry.
    #[error("secret cannot be opened (wrong key or binding, or tampered data)")]
    Open,
    /// The master key a wrapped key names is not loaded (it was discarded after a
    /// rotation, or the key file is not the one this ledger uses).
    #[error("master key {0} is not available")]
    UnknownMasterKey(u32),
    /// The data key of this version does not exist (destroyed or past retention).
    #[error("data key is gone (destroyed or past retention)")]
    Shredded,
    /// The secret fields could not be encoded (over the size limit).
    #[error("secret fields too large to seal")]
    TooLarge,
}

fn random_nonce(rng: &mut (impl RngCore + CryptoRng)) -> [u8; 24] {
    let mut n = [0u8; 24];
    rng.fill_bytes(&mut n);
    n
}

/// Seals `fields` for `binding` under a fresh data key; returns the ciphertext (for the
/// log) and the data key wrapped by `master` (for the key ring).
pub fn seal(
    fields: &SecretFields,
    binding: Binding,
    master: &MasterKey,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<(Sealed, WrappedKey), SecretError> {
    let plaintext = plaintext(fields)?;
    let dk = DataKey::generate(rng);
    let nonce = random_nonce(rng);
    let cipher = XChaCha20Poly1305::new(dk.0.as_ref().into());
    let ad = binding.associated_data(SECRET_AD_DOMAIN);
    let ciphertext = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: &plaintext,
                aad: &ad,
            },
        )
        .map_err(|_| SecretError::TooLarge)?;
    let wrapped = wrap(&dk, binding, master, rng);
    Ok((Sealed { nonce, ciphertext }, wrapped))
}

fn wrap_ad(binding: Binding, master_key_id: u32) -> Vec<u8> {
    let mut ad = binding.associated_data(WRAP_AD_DOMAIN);
    ad.extend_from_slice(&master_key_id.to_le_bytes());
    ad
}

fn wrap(
    dk: &DataKey,
    binding: Binding,
    master: &MasterKey,
    rng: &mut (impl RngCore + CryptoRng),
) -> WrappedKey {
    let nonce = random_nonce(rng);
    let cipher = XChaCha20Poly1305::new(master.key.as_ref().into());
    let ciphertext = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: dk.0.as_ref(),
                aad: &wrap_ad(binding, master.id),
            },
        )
        .expect("encrypting 32 bytes cannot fail");
    WrappedKey {
        master_key_id: master.id,
        nonce,
        ciphertext,
    }
}

fn unwrap(
    wrapped: &WrappedKey,
    binding: Binding,
    masters: &MasterKeys,
) -> Result<DataKey, SecretError> {
    let master = masters.get(wrapped.master_key_id)?;
    let cipher = XChaCha20Poly1305::new(master.key.as_ref().into());
    let plain = Zeroizing::new(
        cipher
            .decrypt(
                XNonce::from_slice(&wrapped.nonce),
                Payload {
                    msg: &wrapped.ciphertext,
                    aad: &wrap_ad(binding, wrapped.master_key_id),
                },
            )
            .map_err(|_| SecretError::Open)?,
    );
    let key: [u8; 32] = plain.as_slice().try_into().map_err(|_| SecretError::Open)?;
    let dk = DataKey(Zeroizing::new(key));
    Ok(dk)
}

/// Opens a sealed version.
pub fn open(
    sealed: &Sealed,
    wrapped: &WrappedKey,
    binding: Binding,
    masters: &MasterKeys,
) -> Result<SecretFields, SecretError> {
    let dk = unwrap(wrapped, binding, masters)?;
    let cipher = XChaCha20Poly1305::new(dk.0.as_ref().into());
    let plain = Zeroizing::new(
        cipher
            .decrypt(
                XNonce::from_slice(&sealed.nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: &binding.associated_data(SECRET_AD_DOMAIN),
                },
            )
            .map_err(|_| SecretError::Open)?,
    );
    from_plaintext(&plain)
}

/// One value of a version-2 sealed plaintext.
#[derive(Serialize, Deserialize)]
enum TypedValue {
    /// A string, as the bytes of a version-1 value.
    String(Zeroizing<String>),
    /// Any other JSON value, as its canonical JSON text.
    Json(Zeroizing<String>),
}

/// The sealed plaintext of `fields`: version 1 (the codec encoding of the map of
/// strings) when every value is a string, so string-only secrets keep their bytes;
/// otherwise version 2, [`TYPED_PLAINTEXT_MAGIC`] followed by the codec encoding of the
/// map of [`TypedValue`]s (docs/FORMAT.md, "Sealed secrets").
pub fn plaintext(fields: &SecretFields) -> Result<Zeroizing<Vec<u8>>, SecretError> {
    if !fields.0.values().any(SecretString::is_json) {
        return Ok(Zeroizing::new(
            codec::encode(fields).map_err(|_| SecretError::TooLarge)?,
        ));
    }
    let typed: BTreeMap<&str, TypedValue> = fields
        .0
        .iter()
        .map(|(k, v)| {
            let text = Zeroizing::new(v.expose().to_string());
            let value = if v.is_json() {
                TypedValue::Json(text)
            } else {
                TypedValue::String(text)
            };
            (k.as_str(), value)
        })
        .collect();
    let body = Zeroizing::new(codec::encode(&typed).map_err(|_| SecretError::TooLarge)?);
    let mut out = Zeroizing::new(Vec::with_capacity(TYPED_PLAINTEXT_MAGIC.len() + body.len()));
    out.extend_from_slice(TYPED_PLAINTEXT_MAGIC);
    out.extend_from_slice(&body);
    Ok(out)
}

/// The fields of a sealed plaintext of either version.
pub fn from_plaintext(plain: &[u8]) -> Result<SecretFields, SecretError> {
    let Some(body) = plain.strip_prefix(TYPED_PLAINTEXT_MAGIC) else {
        return codec::decode(plain).map_err(|_| SecretError::Open);
    };
    let typed: BTreeMap<String, TypedValue> = codec::decode(body).map_err(|_| SecretError::Open)?;
    Ok(SecretFields(
        typed
            .into_iter()
            .map(|(k, v)| {
                let value = match v {
                    TypedValue::String(s) => SecretString::from(s),
                    TypedValue::Json(s) => SecretString::json(s),
                };
                (k, value)
            })
            .collect(),
    ))
}

/// Rewraps a data key under `to` (master-key rotation). The data key never leaves memory.
pub fn rewrap(
    wrapped: &WrappedKey,
    binding: Binding,
    masters: &MasterKeys,
    to: &MasterKey,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<WrappedKey, SecretError> {
    let dk = unwrap(wrapped, binding, masters)?;
    Ok(wrap(&dk, binding, to, rng))
}

/// The loaded master keys; the highest id is current.
#[derive(Clone, Debug, Default)]
pub struct MasterKeys {
    keys: BTreeMap<u32, MasterKey>,
}

impl MasterKeys {
    pub fn new(keys: impl IntoIterator<Item = MasterKey>) -> Self {
        MasterKeys {
            keys: keys.into_iter().map(|k| (k.id, k)).collect(),
        }
    }
    /// The key new data keys are wrapped with.
    pub fn current(&self) -> Option<&MasterKey> {
        self.keys.values().next_back()
    }
    pub fn get(&self, id: u32) -> Result<&MasterKey, SecretError> {
        self.keys.get(&id).ok_or(SecretError::UnknownMasterKey(id))
    }
    pub fn ids(&self) -> Vec<u32> {
        self.keys.keys().copied().collect()
    }
    pub fn iter(&self) -> impl Iterator<Item = &MasterKey> {
        self.keys.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::OsRng;

    fn fields() -> SecretFields {
        SecretFields(
            [(
                "api_key".to_string(),
                SecretString::from("sk-very-secret-123"),
            )]
            .into(),
        )
    }

    fn binding(v: u32) -> Binding {
        Binding {
            tenant: Id([1; 16]),
            credential: Id([2; 16]),
            version: v,
        }
    }

    #[test]
    fn seal_open_round_trip() {
        let masters = MasterKeys::new([MasterKey::generate(1, &mut OsRng)]);
        let (sealed, wrapped) = seal(
            &fields(),
            binding(1),
            masters.current().unwrap(),
            &mut OsRng,
        )
        .unwrap();
        assert_eq!(
            open(&sealed, &wrapped, binding(1), &masters).unwrap(),
            fields()
        );
        let hay = String::from_utf8_lossy(&sealed.ciphertext).to_string();
        assert!(!hay.contains("sk-very-secret"));
    }

    #[test]
    fn ciphertexts_cannot_be_swapped_between_versions_or_credentials() {
        let masters = MasterKeys::new([MasterKey::generate(1, &mut OsRng)]);
        let (sealed, wrapped) = seal(
            &fields(),
            binding(1),
            masters.current().unwrap(),
            &mut OsRng,
        )
        .unwrap();
        assert_eq!(
            open(&sealed, &wrapped, binding(2), &masters),
            Err(SecretError::Open)
        );
        let other = Binding {
            credential: Id([3; 16]),
            ..binding(1)
        };
        assert_eq!(
            open(&sealed, &wrapped, other, &masters),
            Err(SecretError::Open)
        );
    }

    #[test]
    fn rewrap_keeps_secret_readable_and_old_master_is_not_needed() {
        let old = MasterKey::generate(1, &mut OsRng);
        let new = MasterKey::generate(2, &mut OsRng);
        let masters = MasterKeys::new([old.clone()]);
        let (sealed, wrapped) = seal(&fields(), binding(1), &old, &mut OsRng).unwrap();
        let re = rewrap(&wrapped, binding(1), &masters, &new, &mut OsRng).unwrap();
        let only_new = MasterKeys::new([new]);
        assert_eq!(open(&sealed, &re, binding(1), &only_new).unwrap(), fields());
        assert_eq!(
            open(&sealed, &wrapped, binding(1), &only_new),
            Err(SecretError::UnknownMasterKey(1))
        );
    }

    #[test]
    fn debug_never_shows_secrets() {
        let f = fields();
        let dbg = format!("{f:?} {:?} {}", f.0["api_key"], f.0["api_key"]);
        assert!(!dbg.contains("sk-very"), "{dbg}");
        assert!(dbg.contains("api_key"));
        assert_eq!(SecretString::from("a"), SecretString::from("a"));
        assert_ne!(SecretString::from("a"), SecretString::from("b"));
    }
}
