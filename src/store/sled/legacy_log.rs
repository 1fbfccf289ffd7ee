//! Stores before the record file kept the log in sled's `log` tree (`seq u64 BE` → record).
//! Their first open moves it into the record file, once; this is the only code that
//! still reads that tree.

use super::{from_sled, guard, guard_iter, record_file};
use crate::store::{Seq, StoreError};
use std::path::Path;

/// The record file of the store in `path`, created on first open. A store from before
/// the record file keeps its log in sled's `log` tree: it is copied into a new record
/// file (durably, by rename), and the tree is emptied. The file is what counts once it
/// exists; a tree left non-empty by a crash during that emptying is emptied again.
pub(super) fn open_records(
    path: &Path,
    log: &::sled::Tree,
) -> Result<record_file::RecordFile, StoreError> {
    let records = match record_file::RecordFile::open(path)? {
        Some(r) => r,
        None => {
            if !guard("reading the log", || Ok(log.is_empty()))? {
                tracing::info!(
                    "moving the log out of sled's `log` tree into its record file (once)"
                );
            }
            let mut from = 0u64;
            let mut chunk = std::collections::VecDeque::new();
            let mut done = false;
            let pull = std::iter::from_fn(move || {
                if chunk.is_empty() && !done {
                    match guard_iter("reading the log", || {
                        let mut out = Vec::new();
                        for r in log.range(from.to_be_bytes()..).take(4096) {
                            let (k, v) = r.map_err(from_sled)?;
                            out.push((seq_of(&k)?, v.to_vec()));
                        }
                        Ok(out)
                    }) {
                        Ok(out) => {
                            done = out.len() < 4096;
                            if let Some((last, _)) = out.last() {
                                from = last + 1;
                            }
                            chunk.extend(out);
                        }
                        Err(e) => {
                            done = true;
                            return Some(Err(e));
                        }
                    }
                }
                chunk.pop_front().map(Ok)
            });
            record_file::RecordFile::create(path, pull)?
        }
    };
    if !guard("reading the log", || Ok(log.is_empty()))? {
        guard("emptying the old log tree", || log.clear())?;
    }
    Ok(records)
}

fn seq_of(key: &[u8]) -> Result<Seq, StoreError> {
    let arr: [u8; 8] = key.try_into().map_err(|_| StoreError::Corrupt {
        what: "log",
        detail: format!("key of {} bytes", key.len()),
    })?;
    Ok(u64::from_be_bytes(arr))
}
