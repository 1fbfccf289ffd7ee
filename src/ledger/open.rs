//! Opening a ledger: keys, folding the log into state, recovery of interrupted commits
//! and key rotations, and the bootstrap of an empty ledger.

use super::{wait_blocking, Bootstrap, Config, Ledger, LedgerError, RequestCtx, Staged, Writer};
use crate::commit::Committer;
use crate::domain::State;
use crate::event::{Actor, Hash32, SignedEvent};
use crate::id::Id;
use crate::keys::{self, KeyError};
use crate::projection;
use crate::secret::{MasterKeys, WrappedKey};
use crate::store::{KeyOp, Store};
use crate::template::Catalog;
use ed25519_dalek::SigningKey;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

impl Ledger {
    /// Opens the ledger in `config.data_dir`, bootstrapping an empty one.
    pub fn open(config: Config) -> Result<(Ledger, Option<Bootstrap>), LedgerError> {
        let dir = &config.data_dir;
        std::fs::create_dir_all(dir).map_err(|source| KeyError::Io {
            path: dir.clone(),
            source,
        })?;
        let store = Arc::new(Store::open(dir)?);
        let fresh = store.is_empty()?;
        let masters = match &config.master_keys_text {
            Some(text) => {
                keys::parse_master_keys(std::path::Path::new("CREDLEDGER_MASTER_KEYS"), text)?
            }
            None => match keys::read_master_keys(dir)? {
                Some(m) => m,
                None if fresh => {
                    let m = MasterKeys::new([keys::generate_master_key(1)]);
                    keys::write_master_keys(dir, &m)?;
                    m
                }
                None => return Err(KeyError::Malformed(keys::master_path(dir)).into()),
            },
        };
        let signing = match keys::read_signing_key(dir)? {
            Some(k) => k,
            None if fresh => {
                let k = keys::generate_signing_key();
                keys::write_signing_key(dir, &k)?;
                k
            }
            None => return Err(KeyError::Malformed(keys::signing_path(dir)).into()),
        };
        let token_key = keys::token_key(dir)?;
        let (state, next_seq, last_hash, last_at) = fold_log(&store)?;
        let signing = finish_signing_rotation(dir, &state, signing)?;
        if !fresh && state.signing_key != Some(signing.verifying_key().to_bytes()) {
            return Err(LedgerError::Integrity {
                seq: next_seq.saturating_sub(1),
                detail: "the signing key file does not match the ledger's current signing key"
                    .into(),
            });
        }
        projection::catch_up(&store, |_| {})?;
        let keyring = load_keyring(&store, &state)?;
        let committer = Committer::start(store.clone());
        let http = crate::verify::client()
            .map_err(|e| LedgerError::Startup(format!("cannot build the HTTP client: {e}")))?;
        let ledger = Ledger {
            store,
            committer,
            writer: Mutex::new(Writer {
                state,
                next_seq,
                last_hash,
                last_at,
                signing,
                masters,
                keyring,
            }),
            catalog: Catalog::builtin(),
            token_key,
            config,
            http,
            failures: Default::default(),
        };
        let boot = if fresh {
            Some(ledger.bootstrap()?)
        } else {
            None
        };
        Ok((ledger, boot))
    }

    pub(super) fn bootstrap(&self) -> Result<Bootstrap, LedgerError> {
        let (tenant, admin, token) = (Id::random(), Id::random(), Id::random());
        let (secret, hash) = self.new_token_secret(token);
        let origin = self
            .config
            .origin
            .clone()
            .unwrap_or_else(|| format!("credledger.local/{}", Id::random()));
        let ctx = RequestCtx::default();
        let rx = {
            let mut w = self.lock();
            let signing_key = w.signing.verifying_key().to_bytes();
            let bodies =
                crate::domain::decide::bootstrap(origin, signing_key, tenant, admin, token, hash);
            self.stage(
                &mut w,
                &ctx,
                Actor::default(),
                Staged {
                    bodies,
                    keyring: vec![],
                },
            )?
        };
        wait_blocking(rx)?;
        Ok(Bootstrap {
            tenant,
            admin,
            token: secret,
        })
    }
}

/// Folds the log into state, checking sequence numbers and hash links (not signatures:
/// that is `replay verify`'s job).
pub(super) fn fold_log(store: &Store) -> Result<(State, u64, Hash32, i64), LedgerError> {
    let mut state = State::default();
    let (mut next, mut last_hash, mut last_at) = (0u64, [0u8; 32], i64::MIN);
    for r in store.records(0) {
        let (seq, rec) = r?;
        let integrity = |detail: String| LedgerError::Integrity { seq, detail };
        let signed = SignedEvent::from_record(&rec).map_err(|e| integrity(e.to_string()))?;
        if seq != next || signed.seq() != seq {
            return Err(integrity(format!("expected event {next}")));
        }
        if signed.event().prev != last_hash {
            return Err(integrity(
                "hash link to the previous event is broken".into(),
            ));
        }
        state.apply(signed.event());
        last_hash = *signed.hash();
        last_at = signed.event().at_ms;
        next += 1;
    }
    Ok((state, next, last_hash, last_at))
}

/// Loads the key ring, deleting data keys that no logged version uses. A commit writes
/// the key ring before the log, so a crash between the two can leave the data key of an
/// event that never became durable; it protects nothing, and rotating the master key
/// could not rewrap it (its binding is unknown).
pub(super) fn load_keyring(
    store: &Store,
    state: &State,
) -> Result<HashMap<(Id, u32), WrappedKey>, LedgerError> {
    let mut keyring = HashMap::new();
    let mut orphans = Vec::new();
    for (id, version, key) in store.keyring_entries()? {
        if state
            .credentials
            .get(&id)
            .is_some_and(|c| c.versions.contains_key(&version))
        {
            keyring.insert((id, version), key);
        } else {
            orphans.push(KeyOp::Delete {
                credential: id,
                version,
            });
        }
    }
    if !orphans.is_empty() {
        tracing::warn!(
            count = orphans.len(),
            "deleting data keys whose events never reached the log (an interrupted commit)"
        );
        store.write_durable(&orphans, &[])?;
    }
    Ok(keyring)
}

/// Completes a signing-key rotation interrupted between its event and the key file.
pub(super) fn finish_signing_rotation(
    dir: &std::path::Path,
    state: &State,
    current: SigningKey,
) -> Result<SigningKey, LedgerError> {
    if let Some(next) = keys::read_signing_key_next(dir)? {
        if state.signing_key == Some(next.verifying_key().to_bytes()) {
            keys::promote_signing_key_next(dir)?;
            return Ok(next);
        }
        keys::discard_signing_key_next(dir)?;
    }
    Ok(current)
}
