//! The writer lease on PostgreSQL: one row (`credledger.lease`) with an epoch, a holder,
//! its address and an expiry by the server's clock.
//!
//! **Invariants:** a take-over ([`WriterLease::try_take`]) increments the epoch and moves
//! the head row to it in one transaction, so the previous writer's next append finds no
//! row (`sql::ADVANCE_HEAD`) and writes nothing; a renewal only extends the lease of the
//! epoch this handle holds; losing the lease (a renewal that finds another epoch, a
//! release, an abandon) makes this handle's appends fail at once.

use super::super::lease::{LeaseState, Taken, WriterLease};
use super::super::StoreError;
use super::{sql, PgBackend};
use std::sync::atomic::Ordering;
use std::time::Duration;

fn ms(d: Duration) -> f64 {
    d.as_millis() as f64
}

impl WriterLease for PgBackend {
    fn lease(&self) -> Result<LeaseState, StoreError> {
        let pool = self.db.pool.clone();
        self.db.run(async move {
            let c = pool.get().await?;
            let r = c.query_one(sql::READ_LEASE, &[]).await?;
            Ok(LeaseState {
                epoch: r.get::<_, i64>(0) as u64,
                holder: r.get(1),
                address: r.get(2),
                remaining: Duration::from_millis(r.get::<_, i64>(3).max(0) as u64),
            })
        })
    }

    fn try_take(
        &self,
        holder: &str,
        address: &str,
        ttl: Duration,
    ) -> Result<Option<Taken>, StoreError> {
        let pool = self.db.pool.clone();
        let (holder, address, ttl) = (holder.to_string(), address.to_string(), ms(ttl));
        let taken = self.db.run(async move {
            let mut c = pool.get().await?;
            let tx = c.transaction().await?;
            let Some(row) = tx
                .query_opt(sql::TAKE_LEASE, &[&holder, &address, &ttl])
                .await?
            else {
                return Ok(None);
            };
            let epoch: i64 = row.get(0);
            let head = tx.query_one(sql::CLAIM_HEAD, &[&epoch]).await?;
            tx.commit().await?;
            Ok(Some(Taken {
                epoch: epoch as u64,
                head: head.get::<_, i64>(0) as u64,
            }))
        })?;
        if let Some(t) = taken {
            self.epoch.store(t.epoch, Ordering::Release);
        }
        Ok(taken)
    }

    fn renew(&self, ttl: Duration) -> Result<bool, StoreError> {
        let epoch = self.epoch.load(Ordering::Acquire) as i64;
        if epoch == 0 {
            return Ok(false);
        }
        let pool = self.db.pool.clone();
        let ttl = ms(ttl);
        let held = self.db.run(async move {
            let c = pool.get().await?;
            Ok(c.query_opt(sql::RENEW_LEASE, &[&epoch, &ttl])
                .await?
                .is_some())
        })?;
        if !held {
            // Only if nobody moved it meanwhile (a newer take by this handle).
            let _ =
                self.epoch
                    .compare_exchange(epoch as u64, 0, Ordering::AcqRel, Ordering::Acquire);
        }
        Ok(held)
    }

    fn release(&self) -> Result<(), StoreError> {
        let epoch = self.epoch.swap(0, Ordering::AcqRel) as i64;
        if epoch == 0 {
            return Ok(());
        }
        let pool = self.db.pool.clone();
        self.db.run(async move {
            let c = pool.get().await?;
            c.execute(sql::RELEASE_LEASE, &[&epoch]).await?;
            Ok(())
        })
    }

    fn epoch(&self) -> Option<u64> {
        match self.epoch.load(Ordering::Acquire) {
            0 => None,
            e => Some(e),
        }
    }

    fn abandon(&self) {
        self.epoch.store(0, Ordering::Release);
    }
}
