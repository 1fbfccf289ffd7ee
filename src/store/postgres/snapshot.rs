//! The state snapshot in PostgreSQL: one row of `credledger.snapshot` (migration 3),
//! replaced as a whole in one transaction.
//!
//! **Invariant:** writing it never locks the head row (a snapshot can take a while to
//! send and must not hold up a batch); the writer's epoch is checked without a lock, so a
//! writer that just lost the lease may still store one. That is harmless: the bytes are
//! a true state of the log's first events, authenticated, and checked against the log by
//! whoever reads them.

use super::{sql, PgBackend};
use crate::store::StoreError;
use std::sync::atomic::Ordering;

impl PgBackend {
    pub(super) fn read_snapshot(&self) -> Result<Option<Vec<u8>>, StoreError> {
        let pool = self.db.pool.clone();
        self.db.run(async move {
            let c = pool.get().await?;
            Ok(c.query_opt(sql::READ_SNAPSHOT, &[])
                .await?
                .map(|r| r.get(0)))
        })
    }

    pub(super) fn write_snapshot(&self, bytes: &[u8]) -> Result<(), StoreError> {
        let epoch = self.epoch.load(Ordering::Acquire) as i64;
        if epoch == 0 {
            return Err(StoreError::Fenced(
                "this node does not hold the writer lease".into(),
            ));
        }
        let pool = self.db.pool.clone();
        let bytes = bytes.to_vec();
        let held = self.db.run(async move {
            let mut c = pool.get().await?;
            let tx = c.transaction().await?;
            if tx.query(sql::HOLDS_EPOCH, &[&epoch]).await?.is_empty() {
                return Ok(false);
            }
            tx.execute(sql::PUT_SNAPSHOT, &[&bytes]).await?;
            tx.commit().await?;
            Ok(true)
        })?;
        match held {
            true => Ok(()),
            false => Err(self.fenced("the writer lease moved to another node")),
        }
    }
}
