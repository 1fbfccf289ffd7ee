//! What opening a ledger recovers: the state folded from the log, the key ring (and the
//! orphan data keys of an interrupted commit), an interrupted signing-key rotation, and an
//! interrupted shred (a `destroy` whose master-key rotation never ran, or whose old master
//! keys were never discarded).
//!
//! **Invariant:** [`fold_log`] and [`read_keyring`] only read; the functions that repair
//! run after every check of `ledger::open` passed.

use super::keycheck::{self, NextSigningKey};
use super::{Ledger, LedgerError};
use crate::domain::State;
use crate::event::{Body, Hash32, SignedEvent};
use crate::id::Id;
use crate::keys;
use crate::secret::{MasterKeys, WrappedKey};
use crate::store::{records, Append, Backend, KeyOp, KeyRef};
use std::collections::HashMap;
use std::path::Path;

/// The data keys of logged versions, by credential and version.
pub(super) type Keyring = HashMap<(Id, u32), WrappedKey>;

/// A destroy whose crypto-shred is not complete: no `master_key_rotated` followed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct PendingShred {
    pub(super) seq: u64,
    pub(super) credential: Id,
}

/// The log folded into state.
pub(super) struct Folded {
    pub(super) state: State,
    pub(super) next_seq: u64,
    pub(super) last_hash: Hash32,
    pub(super) last_at: i64,
    pub(super) pending_shred: Option<PendingShred>,
}

/// Folds the log into state, checking sequence numbers and hash links (not signatures:
/// that is `replay verify`'s job), and notes a shred left pending.
pub(super) fn fold_log(store: &dyn Backend) -> Result<Folded, LedgerError> {
    fold_tail(store, Folded::empty(), u64::MAX)
}

/// Folds the log's events from `from.next_seq` up to (not including) `until`, or its end,
/// into `from`, with the checks of [`fold_log`]; the first must link to `from.last_hash`.
pub(super) fn fold_tail(
    store: &dyn Backend,
    from: Folded,
    until: u64,
) -> Result<Folded, LedgerError> {
    let Folded {
        mut state,
        next_seq: mut next,
        mut last_hash,
        mut last_at,
        mut pending_shred,
    } = from;
    for r in records(store, next) {
        let (seq, rec) = r?;
        if seq >= until {
            break;
        }
        let signed = next_event(seq, &rec, next, &last_hash)?;
        note_shred(&signed, &mut pending_shred);
        state.apply(signed.event());
        last_hash = *signed.hash();
        last_at = signed.event().at_ms;
        next += 1;
    }
    Ok(Folded {
        state,
        next_seq: next,
        last_hash,
        last_at,
        pending_shred,
    })
}

impl Folded {
    /// The fold of no events.
    pub(super) fn empty() -> Folded {
        Folded {
            state: State::default(),
            next_seq: 0,
            last_hash: [0u8; 32],
            last_at: i64::MIN,
            pending_shred: None,
        }
    }
}

/// Decodes record `seq` and checks that it is event `next` and links to `last_hash`.
pub(super) fn next_event(
    seq: u64,
    rec: &[u8],
    next: u64,
    last_hash: &Hash32,
) -> Result<SignedEvent, LedgerError> {
    let signed = SignedEvent::from_record(rec).map_err(|e| integrity(seq, e.to_string()))?;
    check_link(seq, next, signed.seq(), &signed.event().prev, last_hash)?;
    Ok(signed)
}

fn integrity(seq: u64, detail: String) -> LedgerError {
    LedgerError::Integrity { seq, detail }
}

/// Checks that record `seq`, naming itself `named` and its predecessor's hash `prev`, is
/// event `next` and links to `last_hash`.
fn check_link(
    seq: u64,
    next: u64,
    named: u64,
    prev: &Hash32,
    last_hash: &Hash32,
) -> Result<(), LedgerError> {
    if seq != next || named != seq {
        return Err(integrity(seq, format!("expected event {next}")));
    }
    if prev != last_hash {
        return Err(integrity(
            seq,
            "hash link to the previous event is broken".into(),
        ));
    }
    Ok(())
}

/// Checks the links of the log's first `covers` events (each is a well-framed record of
/// this format, has its sequence number and links to the hash of the one before) without
/// decoding their bodies or folding them. With the snapshot's hash of event `covers - 1`
/// (checked at open) this pins every byte of those events to the ones the snapshot was
/// folded from, which a full fold checked when it wrote the snapshot. Not decoding the
/// bodies more than halved its time at 1M events (docs/PERFORMANCE.md, fifth pass).
pub(super) fn check_links(store: &dyn Backend, covers: u64) -> Result<(), LedgerError> {
    let mut last_hash = Folded::empty().last_hash;
    let mut next = 0;
    for r in records(store, 0) {
        let (seq, rec) = r?;
        if seq >= covers {
            break;
        }
        let link = crate::event::record_link(&rec).map_err(|e| integrity(seq, e.to_string()))?;
        check_link(seq, next, link.seq, &link.prev, &last_hash)?;
        last_hash = link.hash;
        next += 1;
    }
    if next < covers {
        return Err(LedgerError::Integrity {
            seq: next,
            detail: format!(
                "the log ends at {next}, before the {covers} events the snapshot covers"
            ),
        });
    }
    Ok(())
}

/// Notes a destroy whose shred is pending, or its completion (a master-key rotation).
pub(super) fn note_shred(signed: &SignedEvent, pending: &mut Option<PendingShred>) {
    if let Body::CredentialDestroyed { credential, .. }
    | Body::VersionsDestroyed { credential, .. } = &signed.event().body
    {
        *pending = Some(PendingShred {
            seq: signed.seq(),
            credential: *credential,
        });
    } else if matches!(signed.event().body, Body::MasterKeyRotated { .. }) {
        *pending = None;
    }
}

/// The key ring: the data keys of logged versions, and the orphans. A commit writes the
/// key ring before the log, so a crash between the two can leave the data key of an
/// event that never became durable; it protects nothing, and rotating the master key
/// could not rewrap it (its binding is unknown).
pub(super) fn read_keyring(
    store: &dyn Backend,
    state: &State,
) -> Result<(Keyring, Vec<KeyRef>), LedgerError> {
    let mut logged = HashMap::new();
    let mut orphans = Vec::new();
    for (key, bytes) in store.keyring()? {
        let wrapped: WrappedKey =
            crate::codec::decode(&bytes).map_err(|e| crate::store::StoreError::Corrupt {
                what: "keyring",
                detail: e.to_string(),
            })?;
        if state.key_tenant(key.credential, key.version).is_some() {
            logged.insert((key.credential, key.version), wrapped);
        } else {
            orphans.push(key);
        }
    }
    Ok((logged, orphans))
}

/// Refuses a key ring that lacks a data key the state needs (`State::needed_keys`): a
/// commit writes the key before its event, so a missing one means the key ring was lost
/// or damaged (with sled, its files deleted or replaced while the record file stayed).
/// Opening anyway would serve credentials that can never be read again.
pub(super) fn check_keys_present(state: &State, logged: &Keyring) -> Result<(), LedgerError> {
    let mut missing = state.needed_keys().filter(|k| !logged.contains_key(k));
    let Some((id, version)) = missing.next() else {
        return Ok(());
    };
    let more = missing.count();
    Err(crate::store::StoreError::Corrupt {
        what: "keyring",
        detail: format!(
            "the key ring lacks the data key of {id} version {version}{}, which the log holds: it was lost or damaged, and those secrets cannot be read; restore the data directory from a backup",
            if more > 0 { format!(" and {more} more") } else { String::new() }
        ),
    }
    .into())
}

/// Deletes orphan data keys (see [`read_keyring`]) in one durable step.
pub(super) fn delete_orphans(store: &dyn Backend, orphans: &[KeyRef]) -> Result<(), LedgerError> {
    if orphans.is_empty() {
        return Ok(());
    }
    tracing::warn!(
        count = orphans.len(),
        "deleting data keys whose events never reached the log (an interrupted commit)"
    );
    let ops: Vec<KeyOp> = orphans.iter().map(|k| KeyOp::Delete { key: *k }).collect();
    store.append_durable(Append {
        keyring: &ops,
        records: &[],
    })?;
    Ok(())
}

/// Completes a signing-key rotation interrupted between its event and the key file.
pub(super) fn finish_signing_rotation(dir: &Path, next: NextSigningKey) -> Result<(), LedgerError> {
    match next {
        NextSigningKey::None => {}
        NextSigningKey::Promote => keys::promote_signing_key_next(dir)?,
        NextSigningKey::Discard => keys::discard_signing_key_next(dir)?,
    }
    Ok(())
}

impl Ledger {
    /// Finishes what a crash interrupted in a crypto-shred: the master-key rotation after
    /// a destroy, or the discarding of the old master keys after that rotation. Only for
    /// file-based master keys: environment keys are rotated by the operator.
    pub(super) fn finish_shred(&self, pending: Option<PendingShred>) -> Result<(), LedgerError> {
        if self.config.master_keys_text.is_some() {
            if let Some(p) = pending {
                tracing::warn!(
                    seq = p.seq,
                    credential = %p.credential,
                    "a shred is pending: master keys come from CREDLEDGER_MASTER_KEYS, rotate them there to complete it"
                );
            }
            return Ok(());
        }
        if let Some(p) = pending {
            tracing::warn!(
                seq = p.seq,
                credential = %p.credential,
                "a destroy was interrupted before its master-key rotation; rotating the master key now to finish the shred"
            );
            futures::executor::block_on(self.finish_interrupted_shred())?;
            return Ok(());
        }
        // A rotation that reached the log but not the key file's rewrite.
        let mut w = self.lock();
        let Some(current) = w.masters.current().map(|k| k.id) else {
            return Ok(());
        };
        let stale: Vec<u32> = w
            .masters
            .ids()
            .into_iter()
            .filter(|i| *i < current)
            .collect();
        if stale.is_empty() || w.keyring.values().any(|k| k.master_key_id != current) {
            return Ok(());
        }
        tracing::warn!(
            discarded = ?stale,
            "discarding master keys a finished rotation left in the key file"
        );
        let only = MasterKeys::new(w.masters.iter().filter(|k| k.id == current).cloned());
        keys::write_master_keys(&self.config.data_dir, &only)?;
        w.masters = only;
        for id in stale {
            keycheck::forget_master(&*self.store, id)?;
        }
        Ok(())
    }
}
