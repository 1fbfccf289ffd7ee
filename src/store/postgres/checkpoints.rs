//! The PostgreSQL backend's [`CheckpointStore`]: `credledger.checkpoints` (the global
//! log's notes), `credledger.log_checkpoints` (the tenant logs') and
//! `credledger.cosignatures` (witness cosignature lines), every statement in `sql`.

use super::{seq_param, sql, PgBackend};
use crate::store::{CheckpointStore, Seq, StoreError};

impl CheckpointStore for PgBackend {
    fn checkpoint(&self, size: Seq) -> Result<Option<Vec<u8>>, StoreError> {
        let pool = self.db.pool.clone();
        let size = seq_param(size)?;
        self.db.run(async move {
            let c = pool.get().await?;
            Ok(c.query_opt(sql::READ_CHECKPOINT, &[&size])
                .await?
                .map(|r| r.get(0)))
        })
    }

    fn checkpoints(&self) -> Result<Vec<(Seq, Vec<u8>)>, StoreError> {
        let pool = self.db.pool.clone();
        self.db.run(async move {
            let c = pool.get().await?;
            let rows = c.query(sql::READ_CHECKPOINTS, &[]).await?;
            Ok(rows
                .iter()
                .map(|r| (r.get::<_, i64>(0) as Seq, r.get(1)))
                .collect())
        })
    }

    fn latest_checkpoint(&self) -> Result<Option<(Seq, Vec<u8>)>, StoreError> {
        let pool = self.db.pool.clone();
        self.db.run(async move {
            let c = pool.get().await?;
            Ok(c.query_opt(sql::LATEST_CHECKPOINT, &[])
                .await?
                .map(|r| (r.get::<_, i64>(0) as Seq, r.get(1))))
        })
    }

    fn insert_checkpoint_durable(&self, size: Seq, note: &[u8]) -> Result<Vec<u8>, StoreError> {
        let pool = self.db.pool.clone();
        let size = seq_param(size)?;
        let note = note.to_vec();
        self.db.run(async move {
            let c = pool.get().await?;
            c.execute(sql::INSERT_CHECKPOINT, &[&size, &note]).await?;
            Ok(c.query_one(sql::READ_CHECKPOINT, &[&size]).await?.get(0))
        })
    }

    fn cosignatures(&self, origin: &str, size: Seq) -> Result<Option<Vec<u8>>, StoreError> {
        let pool = self.db.pool.clone();
        let size = seq_param(size)?;
        let origin = origin.to_owned();
        self.db.run(async move {
            let c = pool.get().await?;
            Ok(c.query_opt(sql::READ_COSIGNATURES, &[&origin, &size])
                .await?
                .map(|r| r.get(0)))
        })
    }

    fn put_cosignatures_durable(
        &self,
        origin: &str,
        size: Seq,
        lines: &[u8],
    ) -> Result<(), StoreError> {
        let pool = self.db.pool.clone();
        let size = seq_param(size)?;
        let origin = origin.to_owned();
        let lines = lines.to_vec();
        self.db.run(async move {
            let c = pool.get().await?;
            c.execute(sql::PUT_COSIGNATURES, &[&origin, &size, &lines])
                .await?;
            Ok(())
        })
    }

    fn log_checkpoint(&self, origin: &str, size: Seq) -> Result<Option<Vec<u8>>, StoreError> {
        let pool = self.db.pool.clone();
        let size = seq_param(size)?;
        let origin = origin.to_owned();
        self.db.run(async move {
            let c = pool.get().await?;
            Ok(c.query_opt(sql::READ_LOG_CHECKPOINT, &[&origin, &size])
                .await?
                .map(|r| r.get(0)))
        })
    }

    fn log_checkpoints(&self, origin: &str) -> Result<Vec<(Seq, Vec<u8>)>, StoreError> {
        let pool = self.db.pool.clone();
        let origin = origin.to_owned();
        self.db.run(async move {
            let c = pool.get().await?;
            let rows = c.query(sql::READ_LOG_CHECKPOINTS, &[&origin]).await?;
            Ok(rows
                .iter()
                .map(|r| (r.get::<_, i64>(0) as Seq, r.get(1)))
                .collect())
        })
    }

    fn latest_log_checkpoint(&self, origin: &str) -> Result<Option<(Seq, Vec<u8>)>, StoreError> {
        let pool = self.db.pool.clone();
        let origin = origin.to_owned();
        self.db.run(async move {
            let c = pool.get().await?;
            Ok(c.query_opt(sql::LATEST_LOG_CHECKPOINT, &[&origin])
                .await?
                .map(|r| (r.get::<_, i64>(0) as Seq, r.get(1))))
        })
    }

    fn insert_log_checkpoint_durable(
        &self,
        origin: &str,
        size: Seq,
        note: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        let pool = self.db.pool.clone();
        let size = seq_param(size)?;
        let origin = origin.to_owned();
        let note = note.to_vec();
        self.db.run(async move {
            let c = pool.get().await?;
            c.execute(sql::INSERT_LOG_CHECKPOINT, &[&origin, &size, &note])
                .await?;
            Ok(c.query_one(sql::READ_LOG_CHECKPOINT, &[&origin, &size])
                .await?
                .get(0))
        })
    }
}
