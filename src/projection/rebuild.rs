//! Rebuilding the projections from the log: [`rebuild`] from an empty tree,
//! [`catch_up`] from the watermark, and [`dump`] to compare the result.
//!
//! **Invariant:** the tree is a pure function of the log, so a rebuild gives
//! byte-identical contents to the projections written by the live path.

use super::{apply_records, watermark};
use crate::event::{Event, SignedEvent};
use crate::store::{Store, StoreError};

/// Drops every projection and rebuilds them from the log.
pub fn rebuild(store: &Store, mut progress: impl FnMut(u64)) -> Result<(), StoreError> {
    store.proj().clear()?;
    catch_up(store, &mut progress)
}

/// Applies every logged event above the watermark; first drops the views when they were
/// written with another layout version than [`super::SCHEMA`] (then every event is
/// applied again).
pub fn catch_up(store: &Store, mut progress: impl FnMut(u64)) -> Result<(), StoreError> {
    if watermark(store.proj())? > 0 && super::read::schema(store.proj())? != Some(super::SCHEMA) {
        tracing::info!(
            schema = super::SCHEMA,
            "the projections were written by another version; rebuilding them from the log"
        );
        store.proj().clear()?;
    }
    let from = watermark(store.proj())?;
    let mut chunk: Vec<(Event, Vec<u8>)> = Vec::with_capacity(4096);
    let flush = |chunk: &mut Vec<(Event, Vec<u8>)>| -> Result<(), StoreError> {
        apply_records(store.proj(), chunk.iter().map(|(e, r)| (e, r.as_slice())))?;
        chunk.clear();
        Ok(())
    };
    for r in store.records(from) {
        let (seq, rec) = r?;
        let signed = SignedEvent::from_record(&rec).map_err(|e| StoreError::Corrupt {
            tree: "log",
            detail: format!("event {seq}: {e}"),
        })?;
        chunk.push((signed.into_event(), rec.to_vec()));
        if chunk.len() == 4096 {
            flush(&mut chunk)?;
            progress(seq + 1);
        }
    }
    flush(&mut chunk)?;
    Ok(())
}

/// A raw key and value.
pub type KeyValue = (Vec<u8>, Vec<u8>);

/// Every key and value of the projection tree, for comparing against a rebuild.
pub fn dump(proj: &sled::Tree) -> Result<Vec<KeyValue>, StoreError> {
    proj.iter()
        .map(|r| {
            r.map(|(k, v)| (k.to_vec(), v.to_vec()))
                .map_err(StoreError::from)
        })
        .collect()
}
