//! The key ring's part of an append: which changes go before the records and which after,
//! and how they are written to the `keyring` tree.

use super::{guard, SledBackend};
use crate::store::{KeyOp, KeyRef, StoreError};

/// The key-ring changes of one append, split into those made durable before its records
/// and those after. A put goes before: no record without the key it needs. A delete (a
/// destroy, a retired version, a removed webhook) goes after the records that say so:
/// a crash between the two then leaves a key the log no longer needs (an orphan, which
/// the next open deletes and a pending shred's rotation discards), never a logged
/// version without its key (which open refuses as a lost key ring). An append that both
/// puts and deletes one key keeps its order, before the records.
pub(super) fn steps(ops: &[KeyOp]) -> (Vec<&KeyOp>, Vec<&KeyOp>) {
    let put = |k: &KeyRef| {
        ops.iter()
            .any(|o| matches!(o, KeyOp::Put { key, .. } if key == k))
    };
    if ops
        .iter()
        .any(|o| matches!(o, KeyOp::Delete { key } if put(key)))
    {
        return (ops.iter().collect(), vec![]);
    }
    ops.iter().partition(|o| matches!(o, KeyOp::Put { .. }))
}

impl SledBackend {
    /// Key-ring changes, then made durable (nothing to do for none). One call per change,
    /// not a sled batch: a put is an orphan until the records after it are durable, a
    /// delete comes after the records that need it gone (see [`steps`]), so a crash that
    /// keeps only some of them leaves nothing open refuses; and a batch costs two more
    /// rolls of sled's I/O buffer (see `behind`). Only a step holding puts and deletes
    /// (one key both put and deleted) is one batch, so that its order holds in a crash.
    pub(super) fn write_keyring(&self, ops: &[&KeyOp]) -> Result<(), StoreError> {
        if ops.is_empty() {
            return Ok(());
        }
        let puts = ops.iter().any(|o| matches!(o, KeyOp::Put { .. }));
        let deletes = ops.iter().any(|o| matches!(o, KeyOp::Delete { .. }));
        if puts && deletes {
            let mut kb = ::sled::Batch::default();
            for op in ops {
                match op {
                    KeyOp::Put { key, wrapped } => {
                        kb.insert(&key.to_bytes()[..], wrapped.as_slice())
                    }
                    KeyOp::Delete { key } => kb.remove(&key.to_bytes()[..]),
                }
            }
            guard("writing the key ring", || self.keyring.apply_batch(kb))?;
            return self.durable();
        }
        guard("writing the key ring", || {
            for op in ops {
                match op {
                    KeyOp::Put { key, wrapped } => self
                        .keyring
                        .insert(&key.to_bytes()[..], wrapped.as_slice())?,
                    KeyOp::Delete { key } => self.keyring.remove(&key.to_bytes()[..])?,
                };
            }
            Ok(())
        })?;
        self.durable()
    }
}
