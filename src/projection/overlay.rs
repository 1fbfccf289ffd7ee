//! The change set of one [`super::apply_records`] call: reads see the batch's own
//! writes, and append-only values (Merkle tiles, audit buckets, tenant leaf buckets) are
//! grown in place, so a batch writes each touched key once however many of its events
//! touch it.
//!
//! **Invariant:** what the overlay hands the store depends only on the events applied and
//! the store's contents before, never on how the events were split into batches (every
//! key it writes is a pure function of the log up to the batch's last event).

use crate::codec;
use crate::store::{ProjectionStore, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Reads and buffers writes to the projection store for one atomic change set.
pub(super) struct Overlay<'a> {
    store: &'a dyn ProjectionStore,
    pending: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// Append-only values being grown by this batch, loaded once from the store.
    chunks: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl<'a> Overlay<'a> {
    pub(super) fn new(store: &'a dyn ProjectionStore) -> Self {
        Overlay {
            store,
            pending: BTreeMap::new(),
            chunks: BTreeMap::new(),
        }
    }

    pub(super) fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(c) = self.chunks.get(key) {
            return Ok(Some(c.clone()));
        }
        match self.pending.get(key) {
            Some(v) => Ok(v.clone()),
            None => self.store.get(key),
        }
    }

    pub(super) fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.chunks.remove(&key);
        self.pending.insert(key, Some(value));
    }

    pub(super) fn get_as<T: for<'de> Deserialize<'de>>(
        &self,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        self.get(key)?
            .map(|v| {
                codec::decode(&v).map_err(|e| StoreError::Corrupt {
                    what: "proj",
                    detail: e.to_string(),
                })
            })
            .transpose()
    }

    pub(super) fn put_as<T: Serialize>(&mut self, key: Vec<u8>, value: &T) {
        self.put(key, codec::encode(value).expect("views always encode"));
    }

    /// The value under `key` (empty when absent), to be grown in place; written once
    /// when the change set is finished.
    pub(super) fn chunk(&mut self, key: Vec<u8>) -> Result<&mut Vec<u8>, StoreError> {
        if !self.chunks.contains_key(&key) {
            let current = match self.pending.remove(&key) {
                Some(v) => v,
                None => self.store.get(&key)?,
            };
            self.chunks.insert(key.clone(), current.unwrap_or_default());
        }
        Ok(self.chunks.get_mut(&key).expect("inserted above"))
    }

    /// Removes the value under `key` (deleted when the change set is written), returning
    /// what it held, grown or not.
    pub(super) fn take_chunk(&mut self, key: &[u8]) -> Vec<u8> {
        let value = match self.chunks.remove(key) {
            Some(v) => Some(v),
            None => self.pending.remove(key).flatten(),
        };
        self.pending.insert(key.to_vec(), None);
        value.unwrap_or_default()
    }

    /// Every change of the batch, ordered by key.
    pub(super) fn into_changes(mut self) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        for (k, v) in std::mem::take(&mut self.chunks) {
            self.pending.insert(k, Some(v));
        }
        self.pending.into_iter().collect()
    }
}
