//! The sled backend's [`CheckpointStore`]: the global log's notes (`checkpoints`,
//! `size u64 BE` → note), the tenant logs' notes (`log_checkpoints`) and the witness
//! cosignatures (`cosignatures`), both keyed `origin ‖ 0x00 ‖ size u64 BE`.

use super::{from_sled, guard, guard_iter, SledBackend};
use crate::store::{CheckpointStore, Seq, StoreError};

impl CheckpointStore for SledBackend {
    fn checkpoint(&self, size: Seq) -> Result<Option<Vec<u8>>, StoreError> {
        guard("reading the checkpoints", || {
            self.checkpoints
                .get(size.to_be_bytes())
                .map(|v| v.map(|v| v.to_vec()))
        })
    }

    fn checkpoints(&self) -> Result<Vec<(Seq, Vec<u8>)>, StoreError> {
        guard_iter("reading the checkpoints", || {
            let mut out = Vec::new();
            for r in self.checkpoints.iter() {
                let (k, v) = r.map_err(from_sled)?;
                out.push((checkpoint_size(&k)?, v.to_vec()));
            }
            Ok(out)
        })
    }

    fn latest_checkpoint(&self) -> Result<Option<(Seq, Vec<u8>)>, StoreError> {
        match guard("reading the checkpoints", || self.checkpoints.last())? {
            None => Ok(None),
            Some((k, v)) => Ok(Some((checkpoint_size(&k)?, v.to_vec()))),
        }
    }

    fn insert_checkpoint_durable(&self, size: Seq, note: &[u8]) -> Result<Vec<u8>, StoreError> {
        let stored = guard("writing a checkpoint", || {
            self.checkpoints
                .compare_and_swap(size.to_be_bytes(), None as Option<&[u8]>, Some(note))
        })?;
        let stored = match stored {
            Ok(()) => note.to_vec(),
            Err(e) => e
                .current
                .map(|v| v.to_vec())
                .unwrap_or_else(|| note.to_vec()),
        };
        self.durable()?;
        Ok(stored)
    }

    fn cosignatures(&self, origin: &str, size: Seq) -> Result<Option<Vec<u8>>, StoreError> {
        guard("reading the cosignatures", || {
            self.cosignatures
                .get(cosignature_key(origin, size))
                .map(|v| v.map(|v| v.to_vec()))
        })
    }

    fn put_cosignatures_durable(
        &self,
        origin: &str,
        size: Seq,
        lines: &[u8],
    ) -> Result<(), StoreError> {
        guard("writing cosignatures", || {
            self.cosignatures
                .insert(cosignature_key(origin, size), lines)
                .map(|_| ())
        })?;
        self.durable()
    }

    fn log_checkpoint(&self, origin: &str, size: Seq) -> Result<Option<Vec<u8>>, StoreError> {
        guard("reading the checkpoints", || {
            self.log_checkpoints
                .get(cosignature_key(origin, size))
                .map(|v| v.map(|v| v.to_vec()))
        })
    }

    fn log_checkpoints(&self, origin: &str) -> Result<Vec<(Seq, Vec<u8>)>, StoreError> {
        let prefix = cosignature_key(origin, 0)[..origin.len() + 1].to_vec();
        guard_iter("reading the checkpoints", || {
            let mut out = Vec::new();
            for r in self.log_checkpoints.scan_prefix(&prefix) {
                let (k, v) = r.map_err(from_sled)?;
                out.push((checkpoint_size(&k[prefix.len()..])?, v.to_vec()));
            }
            Ok(out)
        })
    }

    fn latest_log_checkpoint(&self, origin: &str) -> Result<Option<(Seq, Vec<u8>)>, StoreError> {
        let prefix = cosignature_key(origin, 0)[..origin.len() + 1].to_vec();
        let last = guard("reading the checkpoints", || {
            self.log_checkpoints
                .scan_prefix(&prefix)
                .next_back()
                .transpose()
        })?;
        match last {
            None => Ok(None),
            Some((k, v)) => Ok(Some((checkpoint_size(&k[prefix.len()..])?, v.to_vec()))),
        }
    }

    fn insert_log_checkpoint_durable(
        &self,
        origin: &str,
        size: Seq,
        note: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        let stored = guard("writing a checkpoint", || {
            self.log_checkpoints.compare_and_swap(
                cosignature_key(origin, size),
                None as Option<&[u8]>,
                Some(note),
            )
        })?;
        let stored = match stored {
            Ok(()) => note.to_vec(),
            Err(e) => e
                .current
                .map(|v| v.to_vec())
                .unwrap_or_else(|| note.to_vec()),
        };
        self.durable()?;
        Ok(stored)
    }
}

/// `origin ‖ 0x00 ‖ size u64 BE` (an origin holds no NUL byte: it is a note key name).
fn cosignature_key(origin: &str, size: Seq) -> Vec<u8> {
    let mut k = Vec::with_capacity(origin.len() + 9);
    k.extend_from_slice(origin.as_bytes());
    k.push(0);
    k.extend_from_slice(&size.to_be_bytes());
    k
}

fn checkpoint_size(key: &[u8]) -> Result<Seq, StoreError> {
    let arr: [u8; 8] = key.try_into().map_err(|_| StoreError::Corrupt {
        what: "checkpoints",
        detail: "key is not 8 bytes".into(),
    })?;
    Ok(u64::from_be_bytes(arr))
}
