//! Key files: the ledger's ed25519 signing key, the master keys and the token-hash key.
//!
//! All live under `DIR/keys/`, outside sled, written atomically (temporary file with mode
//! 0600, fsync, rename, fsync of the directory). Master keys may instead come from the
//! environment (the binary passes the text in); then the ledger cannot rotate them
//! itself. This is the only module that reads or writes key files.
//!
//! Each master key and the token-hash key also has a **check value** ([`check_value`]):
//! 16 bytes of keyed BLAKE3 of a fixed label, which the ledger records in its store and
//! compares at open, so a wrong, corrupted or swapped key refuses to start instead of
//! sealing under the wrong key. A check value reveals nothing about the key.
//!
//! **Invariant:** key files are created with mode 0600 and never logged; a discarded
//! master-key file is overwritten with zeros in place before it is replaced.

use crate::secret::{MasterKey, MasterKeys};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::SigningKey;
use rand::rngs::OsRng;
use rand::RngCore;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

const SIGNING_HEADER: &str = "credledger-signing-key v1";
const MASTER_HEADER: &str = "credledger-master-keys v1";
const TOKEN_HEADER: &str = "credledger-token-key v1";
const CHECK_LABEL: &[u8] = b"credledger/key-check/v1\n";

/// Where master keys come from, named in every message about them.
pub const MASTER_KEYS_ENV: &str = "CREDLEDGER_MASTER_KEYS";

/// Errors reading or writing key files. Messages name files, never key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The file could not be read or written: check the path and permissions.
    #[error("key file {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    /// The file exists but is not a key file of this version: refuse to start.
    #[error("key file {0} is malformed")]
    Malformed(PathBuf),
    /// The key file is readable by group or others: refuse to start until fixed.
    #[error("key file {0} must not be readable by group or others (chmod 600)")]
    Permissions(PathBuf),
    /// A key file the ledger needs does not exist: refuse to start; restore it (or set
    /// `CREDLEDGER_MASTER_KEYS` if the master keys came from there).
    #[error("key file {0} is missing")]
    Missing(PathBuf),
    /// A key does not match the check value the ledger recorded for it (a wrong,
    /// corrupted or swapped key): refuse to start; nothing was written.
    #[error("{key} from {origin} is not this ledger's key: its check value differs from the one recorded in the store (a wrong or corrupted key); nothing was written")]
    Mismatch { key: String, origin: String },
    /// The signing key file is not the key the log says is in force (a key file of
    /// another ledger, or an old one): refuse to start.
    #[error("the signing key {path} is not this ledger's current signing key (the file holds public key {file}, the log says {log}); nothing was written")]
    SigningKeyMismatch {
        path: PathBuf,
        file: String,
        log: String,
    },
    /// Data keys are wrapped under a master key the source does not hold: refuse to
    /// start; add the key back.
    #[error("{key} is missing from {origin}, but {wrapped} data keys are wrapped under it; add it back (nothing was written)")]
    NotInSource {
        key: String,
        origin: String,
        wrapped: usize,
    },
    /// A master key without a recorded check value (an older ledger) opens none of the
    /// data keys wrapped under its id: a wrong key; refuse to start.
    #[error("{key} from {origin} opens none of the {wrapped} data keys wrapped under it (a wrong key); nothing was written")]
    Unverifiable {
        key: String,
        origin: String,
        wrapped: usize,
    },
}

/// The check value of a 32-byte key: the first 16 bytes of
/// `BLAKE3-keyed(key, "credledger/key-check/v1\n")` (docs/FORMAT.md, Key check values).
pub fn check_value(key: &[u8; 32]) -> [u8; 16] {
    let mut out = [0u8; 16];
    out.copy_from_slice(&blake3::keyed_hash(key, CHECK_LABEL).as_bytes()[..16]);
    out
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The key directory of a data directory.
pub fn key_dir(data: &Path) -> PathBuf {
    data.join("keys")
}

/// Writes `contents` to `path` atomically with mode 0600 (see
/// [`crate::fsutil::write_private_atomic`]), creating its directory first.
pub fn write_private(path: &Path, contents: &[u8]) -> Result<(), KeyError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    if !dir.exists() {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        // The new directory's own name must survive a power cut too.
        let parent = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        fs::File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(io_err(parent))?;
    }
    crate::fsutil::write_private_atomic(path, contents).map_err(io_err(path))
}

fn read_private(path: &Path) -> Result<Option<Zeroizing<String>>, KeyError> {
    match fs::metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(KeyError::Io {
                path: path.to_path_buf(),
                source: e,
            })
        }
        Ok(m) if m.permissions().mode() & 0o077 != 0 => {
            return Err(KeyError::Permissions(path.to_path_buf()))
        }
        Ok(_) => {}
    }
    fs::read_to_string(path)
        .map(|s| Some(Zeroizing::new(s)))
        .map_err(io_err(path))
}

fn decode32(path: &Path, b64: &str) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let raw = Zeroizing::new(
        B64.decode(b64.trim())
            .map_err(|_| KeyError::Malformed(path.into()))?,
    );
    let mut out = Zeroizing::new([0u8; 32]);
    if raw.len() != 32 {
        return Err(KeyError::Malformed(path.into()));
    }
    out.copy_from_slice(&raw);
    Ok(out)
}

fn random32() -> Zeroizing<[u8; 32]> {
    let mut k = Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(k.as_mut());
    k
}

/// The signing key file path.
pub fn signing_path(data: &Path) -> PathBuf {
    key_dir(data).join("signing.key")
}

/// Reads a file of the form `HEADER\nBASE64(32 bytes)\n`, if it exists.
fn read_key32(path: &Path, header: &str) -> Result<Option<Zeroizing<[u8; 32]>>, KeyError> {
    let Some(text) = read_private(path)? else {
        return Ok(None);
    };
    let mut lines = text.lines();
    if lines.next() != Some(header) {
        return Err(KeyError::Malformed(path.into()));
    }
    let line = lines
        .next()
        .ok_or_else(|| KeyError::Malformed(path.into()))?;
    decode32(path, line).map(Some)
}

/// Writes `HEADER\nBASE64(key)\n` with mode 0600.
fn write_key32(path: &Path, header: &str, key: &[u8; 32]) -> Result<(), KeyError> {
    let text = Zeroizing::new(format!("{header}\n{}\n", B64.encode(key)));
    write_private(path, text.as_bytes())
}

/// Reads the signing key, if the file exists.
pub fn read_signing_key(data: &Path) -> Result<Option<SigningKey>, KeyError> {
    Ok(read_key32(&signing_path(data), SIGNING_HEADER)?.map(|seed| SigningKey::from_bytes(&seed)))
}

/// Writes `key` as the signing key.
pub fn write_signing_key(data: &Path, key: &SigningKey) -> Result<(), KeyError> {
    write_key32(&signing_path(data), SIGNING_HEADER, &key.to_bytes())
}

fn signing_next_path(data: &Path) -> PathBuf {
    key_dir(data).join("signing.key.next")
}

/// Writes the key a signing-key rotation is about to introduce.
pub fn write_signing_key_next(data: &Path, key: &SigningKey) -> Result<(), KeyError> {
    write_key32(&signing_next_path(data), SIGNING_HEADER, &key.to_bytes())
}

/// Reads a pending next signing key, if a rotation was interrupted.
pub fn read_signing_key_next(data: &Path) -> Result<Option<SigningKey>, KeyError> {
    Ok(read_key32(&signing_next_path(data), SIGNING_HEADER)?
        .map(|seed| SigningKey::from_bytes(&seed)))
}

/// Makes the pending next signing key the signing key.
pub fn promote_signing_key_next(data: &Path) -> Result<(), KeyError> {
    let (from, to) = (signing_next_path(data), signing_path(data));
    fs::rename(&from, &to).map_err(io_err(&to))?;
    let dir = key_dir(data);
    File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(&dir))
}

/// Drops a pending next signing key whose rotation never reached the log.
pub fn discard_signing_key_next(data: &Path) -> Result<(), KeyError> {
    let path = signing_next_path(data);
    fs::remove_file(&path).map_err(io_err(&path))
}

/// Generates a new random signing key (not yet written).
pub fn generate_signing_key() -> SigningKey {
    SigningKey::from_bytes(&random32())
}

/// The master key file path.
pub fn master_path(data: &Path) -> PathBuf {
    key_dir(data).join("master.keys")
}

/// Parses master keys from the key-file text (`header`, then `ID BASE64KEY` lines).
pub fn parse_master_keys(origin: &Path, text: &str) -> Result<MasterKeys, KeyError> {
    let mut lines = text.lines();
    if lines.next() != Some(MASTER_HEADER) {
        return Err(KeyError::Malformed(origin.into()));
    }
    let mut keys = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let (id, b64) = line
            .split_once(' ')
            .ok_or_else(|| KeyError::Malformed(origin.into()))?;
        let id: u32 = id.parse().map_err(|_| KeyError::Malformed(origin.into()))?;
        keys.push(MasterKey::new(id, *decode32(origin, b64)?));
    }
    if keys.is_empty() {
        return Err(KeyError::Malformed(origin.into()));
    }
    Ok(MasterKeys::new(keys))
}

/// Renders master keys in the key-file format.
pub fn render_master_keys(keys: &MasterKeys) -> Zeroizing<String> {
    let mut s = Zeroizing::new(format!("{MASTER_HEADER}\n"));
    for k in keys.iter() {
        s.push_str(&format!("{} {}\n", k.id, B64.encode(k.bytes())));
    }
    s
}

/// Reads the master key file, if it exists.
pub fn read_master_keys(data: &Path) -> Result<Option<MasterKeys>, KeyError> {
    let path = master_path(data);
    match read_private(&path)? {
        None => Ok(None),
        Some(text) => parse_master_keys(&path, &text).map(Some),
    }
}

/// Replaces the master key file, first overwriting the old file's bytes in place so a
/// discarded key does not linger in the old file's blocks (best effort: a copy-on-write
/// filesystem may still keep them; see docs/SECURITY.md).
pub fn write_master_keys(data: &Path, keys: &MasterKeys) -> Result<(), KeyError> {
    let path = master_path(data);
    if let Ok(meta) = fs::metadata(&path) {
        let mut f = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(io_err(&path))?;
        f.write_all(&vec![0u8; meta.len() as usize])
            .map_err(io_err(&path))?;
        f.sync_all().map_err(io_err(&path))?;
    }
    write_private(&path, render_master_keys(keys).as_bytes())
}

/// Generates a master key with the given id.
pub fn generate_master_key(id: u32) -> MasterKey {
    MasterKey::new(id, *random32())
}

/// The token-hash key path.
pub fn token_path(data: &Path) -> PathBuf {
    key_dir(data).join("token.key")
}

/// Reads the token-hash key, if the file exists.
pub fn read_token_key(data: &Path) -> Result<Option<Zeroizing<[u8; 32]>>, KeyError> {
    read_key32(&token_path(data), TOKEN_HEADER)
}

/// Generates and writes a new token-hash key (for a new ledger).
pub fn create_token_key(data: &Path) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let key = random32();
    write_key32(&token_path(data), TOKEN_HEADER, &key)?;
    Ok(key)
}

/// Reads the token-hash key, creating it when the file does not exist.
pub fn token_key(data: &Path) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    match read_token_key(data)? {
        Some(key) => Ok(key),
        None => create_token_key(data),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_round_trip_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let sk = generate_signing_key();
        write_signing_key(dir.path(), &sk).unwrap();
        assert_eq!(
            read_signing_key(dir.path()).unwrap().unwrap().to_bytes(),
            sk.to_bytes()
        );
        let mode = fs::metadata(signing_path(dir.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);

        let mk = MasterKeys::new([generate_master_key(1), generate_master_key(2)]);
        write_master_keys(dir.path(), &mk).unwrap();
        let back = read_master_keys(dir.path()).unwrap().unwrap();
        assert_eq!(back.ids(), vec![1, 2]);
        assert_eq!(
            back.current().unwrap().bytes(),
            mk.current().unwrap().bytes()
        );

        let t1 = token_key(dir.path()).unwrap();
        assert_eq!(*token_key(dir.path()).unwrap(), *t1);
    }

    #[test]
    fn world_readable_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        write_signing_key(dir.path(), &generate_signing_key()).unwrap();
        fs::set_permissions(signing_path(dir.path()), fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            read_signing_key(dir.path()),
            Err(KeyError::Permissions(_))
        ));
    }

    #[test]
    fn check_values_differ_per_key_and_are_stable() {
        let a = check_value(&[1; 32]);
        assert_eq!(a, check_value(&[1; 32]));
        assert_ne!(a, check_value(&[2; 32]));
        assert_eq!(
            hex::encode(check_value(&[0x09; 32])),
            hex::encode(&blake3::keyed_hash(&[0x09; 32], CHECK_LABEL).as_bytes()[..16])
        );
    }

    #[test]
    fn malformed_master_file_is_refused() {
        let err = parse_master_keys(Path::new("x"), "credledger-master-keys v1\n1 notbase64!!\n");
        assert!(matches!(err, Err(KeyError::Malformed(_))));
    }
}
