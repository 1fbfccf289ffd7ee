//! Rebuilding the projections from the log: [`rebuild`] from an empty store,
//! [`catch_up`] from the watermark, and [`dump`] to compare the result.
//!
//! **Invariant:** the projections are a pure function of the log, so a rebuild gives
//! byte-identical contents to the projections written by the live path.

use super::{apply_records, watermark};
use crate::event::{Event, SignedEvent};
use crate::store::{records, scan_all, Backend, ProjectionStore, StoreError};

/// Events folded per atomic change set during a catch-up.
const CHUNK: usize = 4096;

/// Drops every projection and rebuilds them from the log.
pub fn rebuild(store: &dyn Backend, mut progress: impl FnMut(u64)) -> Result<(), StoreError> {
    store.proj().clear()?;
    catch_up(store, &mut progress)
}

/// Applies every logged event above the watermark; first drops the views when they were
/// written with another layout version than [`super::SCHEMA`] (then every event is
/// applied again).
pub fn catch_up(store: &dyn Backend, mut progress: impl FnMut(u64)) -> Result<(), StoreError> {
    let proj = store.proj();
    if watermark(proj)? > 0 && super::read::schema(proj)? != Some(super::SCHEMA) {
        tracing::info!(
            schema = super::SCHEMA,
            "the projections were written by another version; rebuilding them from the log"
        );
        proj.clear()?;
    }
    let from = watermark(proj)?;
    let mut chunk: Vec<(Event, Vec<u8>)> = Vec::with_capacity(CHUNK);
    let flush = |chunk: &mut Vec<(Event, Vec<u8>)>| -> Result<(), StoreError> {
        apply_records(proj, chunk.iter().map(|(e, r)| (e, r.as_slice())))?;
        chunk.clear();
        Ok(())
    };
    for r in records(store.log(), from) {
        let (seq, rec) = r?;
        let signed = SignedEvent::from_record(&rec).map_err(|e| StoreError::Corrupt {
            what: "log",
            detail: format!("event {seq}: {e}"),
        })?;
        chunk.push((signed.into_event(), rec));
        if chunk.len() == CHUNK {
            flush(&mut chunk)?;
            progress(seq + 1);
        }
    }
    flush(&mut chunk)?;
    Ok(())
}

/// A raw key and value.
pub type KeyValue = (Vec<u8>, Vec<u8>);

/// Every key and value of the projection store (the watermark included), for comparing
/// against a rebuild.
pub fn dump(proj: &dyn ProjectionStore) -> Result<Vec<KeyValue>, StoreError> {
    scan_all(proj, &[], 4096).collect()
}
