//! Loading and checking the ledger's keys at open.
//!
//! Each master key and the token-hash key has a check value ([`keys::check_value`])
//! recorded in the store's metadata (`key-check/master/<id>`, `key-check/token`); the
//! signing key is checked against the log's own key chain. A key whose check value
//! differs, a key file that is missing, a master key that data keys are wrapped under but
//! the source does not hold: each refuses to start with a message naming the key and
//! where it came from (the file path or `CREDLEDGER_MASTER_KEYS`), before anything is
//! written. A key without a recorded check value (a ledger made before check values, or a
//! master key added since) is first shown to open a data key wrapped under it, when there
//! is one, and its check value is then recorded.
//!
//! **Invariant:** [`load`] writes nothing except the keys of a new ledger; the check
//! values it found missing are recorded by [`record`] only after every check passed.

use super::{Config, LedgerError};
use crate::domain::State;
use crate::id::Id;
use crate::keys::{self, KeyError, MASTER_KEYS_ENV};
use crate::secret::{self, Binding, MasterKey, MasterKeys, WrappedKey};
use crate::store::{Backend, KeyRef};
use ed25519_dalek::SigningKey;
use rand::rngs::OsRng;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use zeroize::Zeroizing;

/// The metadata name of the token-hash key's check value.
pub(super) const TOKEN_CHECK: &str = "key-check/token";

/// The metadata name of master key `id`'s check value.
pub(super) fn master_check(id: u32) -> String {
    format!("key-check/master/{id}")
}

/// What to do with a `signing.key.next` left by an interrupted signing-key rotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum NextSigningKey {
    None,
    /// The rotation reached the log: make it `signing.key`.
    Promote,
    /// The rotation never reached the log: delete it.
    Discard,
}

/// The checked keys of a ledger being opened.
pub(super) struct Keys {
    pub(super) masters: MasterKeys,
    pub(super) signing: SigningKey,
    pub(super) next_signing: NextSigningKey,
    pub(super) token_key: Zeroizing<[u8; 32]>,
    /// Check values not recorded yet: `(metadata name, value)`.
    pub(super) to_record: Vec<(String, [u8; 16])>,
    /// The ledger had no check values at all (made before them).
    pub(super) first_time: bool,
}

/// Loads the keys of the ledger in `config.data_dir` and checks them against `store`'s
/// recorded check values, `state`'s signing key and the `logged` data keys.
pub(super) fn load(
    config: &Config,
    store: &dyn Backend,
    state: &State,
    logged: &HashMap<(Id, u32), WrappedKey>,
    fresh: bool,
) -> Result<Keys, LedgerError> {
    let dir = config.data_dir.as_path();
    let mut to_record = Vec::new();
    let first_time = !fresh && store.meta(TOKEN_CHECK)?.is_none();

    let (masters, origin) = match &config.master_keys_text {
        Some(text) => (
            keys::parse_master_keys(Path::new(MASTER_KEYS_ENV), text)?,
            MASTER_KEYS_ENV.to_string(),
        ),
        None => {
            let path = keys::master_path(dir);
            let origin = path.display().to_string();
            match keys::read_master_keys(dir)? {
                Some(m) => (m, origin),
                None if fresh => {
                    let m = MasterKeys::new([keys::generate_master_key(1)]);
                    keys::write_master_keys(dir, &m)?;
                    (m, origin)
                }
                None => return Err(KeyError::Missing(path).into()),
            }
        }
    };
    check_masters(store, state, logged, &masters, &origin, &mut to_record)?;

    let token_path = keys::token_path(dir);
    let token_key = match keys::read_token_key(dir)? {
        Some(k) => k,
        None if fresh => keys::create_token_key(dir)?,
        None => return Err(KeyError::Missing(token_path).into()),
    };
    let check = keys::check_value(&token_key);
    match store.meta(TOKEN_CHECK)? {
        Some(v) if v == check => {}
        Some(_) => {
            return Err(KeyError::Mismatch {
                key: "the token-hash key".into(),
                origin: token_path.display().to_string(),
            }
            .into())
        }
        None => to_record.push((TOKEN_CHECK.to_string(), check)),
    }

    let signing_path = keys::signing_path(dir);
    let current = match keys::read_signing_key(dir)? {
        Some(k) => k,
        None if fresh => {
            let k = keys::generate_signing_key();
            keys::write_signing_key(dir, &k)?;
            k
        }
        None => return Err(KeyError::Missing(signing_path).into()),
    };
    let in_log = state.signing_key;
    let (signing, next_signing) = match keys::read_signing_key_next(dir)? {
        Some(next) if in_log == Some(next.verifying_key().to_bytes()) => {
            (next, NextSigningKey::Promote)
        }
        Some(_) => (current, NextSigningKey::Discard),
        None => (current, NextSigningKey::None),
    };
    if !fresh && in_log != Some(signing.verifying_key().to_bytes()) {
        return Err(KeyError::SigningKeyMismatch {
            path: signing_path,
            file: hex::encode(signing.verifying_key().as_bytes()),
            log: in_log.map(hex::encode).unwrap_or_else(|| "none".into()),
        }
        .into());
    }
    Ok(Keys {
        masters,
        signing,
        next_signing,
        token_key,
        to_record,
        first_time,
    })
}

/// Every master key must match its check value (or, without one, open a data key
/// wrapped under it), and every data key must be wrapped under a key the source holds.
fn check_masters(
    store: &dyn Backend,
    state: &State,
    logged: &HashMap<(Id, u32), WrappedKey>,
    masters: &MasterKeys,
    origin: &str,
    to_record: &mut Vec<(String, [u8; 16])>,
) -> Result<(), LedgerError> {
    let mut by_master: BTreeMap<u32, Vec<(KeyRef, &WrappedKey)>> = BTreeMap::new();
    let mut entries: Vec<_> = logged.iter().collect();
    entries.sort_by_key(|(k, _)| **k);
    for ((credential, version), w) in entries {
        by_master.entry(w.master_key_id).or_default().push((
            KeyRef {
                credential: *credential,
                version: *version,
            },
            w,
        ));
    }
    for (id, wrapped) in &by_master {
        if masters.get(*id).is_err() {
            return Err(KeyError::NotInSource {
                key: format!("master key {id}"),
                origin: origin.to_string(),
                wrapped: wrapped.len(),
            }
            .into());
        }
    }
    for key in masters.iter() {
        let name = master_check(key.id);
        let check = keys::check_value(key.bytes());
        match store.meta(&name)? {
            Some(v) if v == check => {}
            Some(_) => {
                return Err(KeyError::Mismatch {
                    key: format!("master key {}", key.id),
                    origin: origin.to_string(),
                }
                .into())
            }
            None => {
                if let Some(wrapped) = by_master.get(&key.id) {
                    if !opens_one(state, masters, key, wrapped) {
                        return Err(KeyError::Unverifiable {
                            key: format!("master key {}", key.id),
                            origin: origin.to_string(),
                            wrapped: wrapped.len(),
                        }
                        .into());
                    }
                }
                to_record.push((name, check));
            }
        }
    }
    Ok(())
}

/// Whether `key` unwraps at least one of `wrapped` (a few are tried, so one tampered
/// entry does not condemn the right key).
fn opens_one(
    state: &State,
    masters: &MasterKeys,
    key: &MasterKey,
    wrapped: &[(KeyRef, &WrappedKey)],
) -> bool {
    wrapped.iter().take(8).any(|(r, w)| {
        let binding = Binding {
            tenant: state
                .credentials
                .get(&r.credential)
                .map(|c| c.tenant)
                .unwrap_or(Id::NIL),
            credential: r.credential,
            version: r.version,
        };
        secret::rewrap(w, binding, masters, key, &mut OsRng).is_ok()
    })
}

/// Records the check values `load` found missing, durably.
pub(super) fn record(
    store: &dyn Backend,
    to_record: &[(String, [u8; 16])],
) -> Result<(), LedgerError> {
    for (name, value) in to_record {
        store.put_meta_durable(name, Some(value))?;
    }
    Ok(())
}

/// Records the check value of a master key about to wrap data keys.
pub(super) fn record_master(store: &dyn Backend, key: &MasterKey) -> Result<(), LedgerError> {
    store.put_meta_durable(&master_check(key.id), Some(&keys::check_value(key.bytes())))?;
    Ok(())
}

/// Forgets the check value of a discarded master key.
pub(super) fn forget_master(store: &dyn Backend, id: u32) -> Result<(), LedgerError> {
    store.put_meta_durable(&master_check(id), None)?;
    Ok(())
}
