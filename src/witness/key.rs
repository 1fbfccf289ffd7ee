//! The witness's identity: its name and Ed25519 signing key, kept in
//! `<data dir>/witness.key`.
//!
//! The file is text, lines ending in `\n`:
//!
//! ```text
//! credledger-witness-key v1
//! <the witness's name, a note key name>
//! <base64 of the 32-byte Ed25519 seed>
//! ```
//!
//! **Invariant:** the file is written once, with mode 0600, atomically
//! (`fsutil::write_private_atomic`), and a file with any group or other
//! permission bit is refused. The name is part of the identity: clients pin
//! `name + key` (the verifier key), so a later start with another `--name`
//! is refused rather than silently changing the key ID.
//! **Invariant:** the seed never appears in `Debug` output or errors.

use crate::fsutil::write_private_atomic;
use crate::note::cosignature::{cosign, CosignatureError, CosignatureLine, CosignerKey};
use crate::note::is_valid_key_name;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::SigningKey;
use rand::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use std::fmt;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The key file's name inside the data directory.
pub const KEY_FILE: &str = "witness.key";

const HEADER: &str = "credledger-witness-key v1";

/// Why the witness key could not be loaded or created. All are fatal at
/// start-up (exit code 2) and name the file; none shows the key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Reading or writing the key file or its directory failed.
    #[error("witness key {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The key file is not in the format above. Restore it from a backup;
    /// a new key is a new witness that clients must be told about.
    #[error("witness key {path} is malformed: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: &'static str,
    },
    /// The key file can be read by group or others. Fix it with
    /// `chmod 600`; the key may have leaked, consider a new witness.
    #[error("witness key {path} has mode {mode:o}; it must be 0600 or stricter")]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// `--name` differs from the name stored with the key. Drop `--name` or
    /// pass the stored one.
    #[error("the witness in this directory is named {stored:?}, not {given:?}")]
    NameMismatch {
        /// The stored name.
        stored: String,
        /// The name given.
        given: String,
    },
    /// The name is not a valid note key name (empty, white space or `+`).
    #[error("invalid witness name {0:?}: a key name is non-empty, without white space or '+'")]
    InvalidName(String),
}

/// The witness's name and signing key.
pub struct WitnessKey {
    name: String,
    sk: SigningKey,
    cosigner: CosignerKey,
}

impl fmt::Debug for WitnessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WitnessKey({})", self.cosigner.verifier_key())
    }
}

impl WitnessKey {
    /// Makes a witness key from a name and a signing key.
    pub fn new(name: &str, sk: SigningKey) -> Result<WitnessKey, KeyError> {
        let cosigner = CosignerKey::new(name, sk.verifying_key())
            .map_err(|_| KeyError::InvalidName(name.to_owned()))?;
        Ok(WitnessKey {
            name: name.to_owned(),
            sk,
            cosigner,
        })
    }

    /// The witness's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The witness's public identity (print it with
    /// [`CosignerKey::verifier_key`]).
    pub fn cosigner(&self) -> &CosignerKey {
        &self.cosigner
    }

    /// Cosigns a checkpoint's note text at `timestamp` (POSIX seconds).
    pub fn cosign(&self, text: &str, timestamp: u64) -> Result<CosignatureLine, CosignatureError> {
        cosign(text, &self.name, &self.sk, timestamp)
    }

    fn encode(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "{HEADER}\n{}\n{}\n",
            self.name,
            B64.encode(self.sk.to_bytes())
        ))
    }
}

/// The name given to a new witness without `--name`:
/// `credledger-witness/<16 hex digits of SHA-256(public key)>`.
pub fn default_name(sk: &SigningKey) -> String {
    let digest = Sha256::digest(sk.verifying_key().as_bytes());
    format!("credledger-witness/{}", hex::encode(&digest[..8]))
}

/// Reads the witness key in `dir`, if there is one.
pub fn load(dir: &Path) -> Result<Option<WitnessKey>, KeyError> {
    let path = dir.join(KEY_FILE);
    let io_err = |source| KeyError::Io {
        path: path.clone(),
        source,
    };
    let meta = match std::fs::metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(e)),
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::Permissions { path, mode });
    }
    let text = Zeroizing::new(std::fs::read(&path).map_err(io_err)?);
    let malformed = |reason| KeyError::Malformed {
        path: path.clone(),
        reason,
    };
    let text = std::str::from_utf8(&text).map_err(|_| malformed("not UTF-8"))?;
    let mut lines = text.split('\n');
    if lines.next() != Some(HEADER) {
        return Err(malformed(
            "the first line is not `credledger-witness-key v1`",
        ));
    }
    let name = lines.next().ok_or(malformed("no name line"))?;
    if !is_valid_key_name(name) {
        return Err(malformed("the name is not a valid key name"));
    }
    let seed_b64 = lines.next().ok_or(malformed("no key line"))?;
    if lines.next() != Some("") || lines.next().is_some() {
        return Err(malformed("expected exactly three lines"));
    }
    let seed = Zeroizing::new(
        B64.decode(seed_b64)
            .map_err(|_| malformed("the key is not base64"))?,
    );
    let seed: &[u8; 32] = seed
        .as_slice()
        .try_into()
        .map_err(|_| malformed("the key is not 32 bytes"))?;
    WitnessKey::new(name, SigningKey::from_bytes(seed))
        .map(Some)
        .map_err(|_| malformed("the name is not a valid key name"))
}

/// Reads the witness key in `dir`, or creates one (named `name`, else
/// [`default_name`]) if there is none. Returns the key and whether it was
/// created. `dir` is created (mode 0700) if missing.
pub fn load_or_create(
    dir: &Path,
    name: Option<&str>,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<(WitnessKey, bool), KeyError> {
    if let Some(key) = load(dir)? {
        if let Some(given) = name {
            if given != key.name {
                return Err(KeyError::NameMismatch {
                    stored: key.name.clone(),
                    given: given.to_owned(),
                });
            }
        }
        return Ok((key, false));
    }
    let sk = SigningKey::generate(rng);
    let name = name.map_or_else(|| default_name(&sk), str::to_owned);
    let key = WitnessKey::new(&name, sk)?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| KeyError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    let path = dir.join(KEY_FILE);
    write_private_atomic(&path, key.encode().as_bytes())
        .map_err(|source| KeyError::Io { path, source })?;
    Ok((key, true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::OsRng;

    #[test]
    fn created_once_then_loaded_with_the_same_identity() {
        let dir = tempfile::tempdir().unwrap();
        let (a, created) = load_or_create(dir.path(), Some("w.example/1"), &mut OsRng).unwrap();
        assert!(created);
        let path = dir.path().join(KEY_FILE);
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let (b, created) = load_or_create(dir.path(), None, &mut OsRng).unwrap();
        assert!(!created);
        assert_eq!(a.cosigner(), b.cosigner());
        assert_eq!(b.name(), "w.example/1");
        assert!(matches!(
            load_or_create(dir.path(), Some("other"), &mut OsRng),
            Err(KeyError::NameMismatch { .. })
        ));
        assert!(!format!("{a:?}").contains(&B64.encode(a.sk.to_bytes())));
    }

    #[test]
    fn a_default_name_derives_from_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let (k, _) = load_or_create(dir.path(), None, &mut OsRng).unwrap();
        assert!(k.name().starts_with("credledger-witness/"));
        assert_eq!(k.name(), default_name(&k.sk));
    }

    #[test]
    fn unsafe_or_malformed_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        load_or_create(dir.path(), Some("w"), &mut OsRng).unwrap();
        let path = dir.path().join(KEY_FILE);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(matches!(
            load(dir.path()),
            Err(KeyError::Permissions { mode: 0o640, .. })
        ));
        for bad in [
            "",
            "credledger-witness-key v1\n",
            "credledger-witness-key v1\nw\n",
            "credledger-witness-key v1\nw x\nAAAA\n",
            "credledger-witness-key v1\nw\nAAAA\n",
            "credledger-witness-key v2\nw\nDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAw=\n",
            "credledger-witness-key v1\nw\nDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAw=\nextra\n",
        ] {
            write_private_atomic(&path, bad.as_bytes()).unwrap();
            assert!(
                matches!(load(dir.path()), Err(KeyError::Malformed { .. })),
                "{bad:?}"
            );
        }
        assert!(matches!(
            load_or_create(dir.path(), Some("bad name"), &mut OsRng),
            Err(KeyError::Malformed { .. })
        ));
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(
            load_or_create(empty.path(), Some("bad name"), &mut OsRng),
            Err(KeyError::InvalidName(_))
        ));
    }
}
