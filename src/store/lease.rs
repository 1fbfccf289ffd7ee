//! Writer election through the store itself: a lease with an increasing epoch. A store
//! shared by several nodes (PostgreSQL) implements [`WriterLease`]; `cluster` drives it
//! (who takes the lease, how often it is renewed, what a node does when it loses it).
//!
//! **Invariants (what an implementation MUST guarantee):**
//! - at most one holder at a time: [`WriterLease::try_take`] succeeds only when the
//!   lease is free (expired, released or never held), and each success has an epoch
//!   larger than every earlier one;
//! - fencing: taking the lease moves the store's head to the new epoch in the same
//!   transaction, so from then on every append of an earlier epoch writes nothing and
//!   fails with [`StoreError::Fenced`]; the new holder's appends carry its epoch;
//! - the expiry is measured by the store's clock, never by a node's, so nodes with
//!   skewed clocks agree on when a lease is free.

use super::{Seq, StoreError};
use std::time::Duration;

/// The lease as the store holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseState {
    /// The epoch of the last take-over (0: never held).
    pub epoch: u64,
    /// Who took it (a node's random id; empty when never held).
    pub holder: String,
    /// Where the holder takes forwarded requests (`http://host:port`).
    pub address: String,
    /// How long it is still valid by the store's clock (0: free).
    pub remaining: Duration,
}

/// What a successful take-over gives the new writer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Taken {
    /// This node's epoch: its appends carry it.
    pub epoch: u64,
    /// The head the previous writer left (fenced from now on): the new writer catches up
    /// to exactly this before it writes.
    pub head: Seq,
}

/// A store that elects its one writer (see the module documentation).
pub trait WriterLease: Send + Sync {
    /// The lease as it stands.
    fn lease(&self) -> Result<LeaseState, StoreError>;

    /// Takes the lease for `holder` (reachable at `address`) for `ttl` if it is free.
    /// `Ok(None)`: someone holds it. On `Some`, this store handle appends as the new
    /// epoch.
    fn try_take(
        &self,
        holder: &str,
        address: &str,
        ttl: Duration,
    ) -> Result<Option<Taken>, StoreError>;

    /// Extends this handle's lease by `ttl`. `Ok(false)`: it was taken over; this handle
    /// no longer appends (every append fails with [`StoreError::Fenced`]).
    fn renew(&self, ttl: Duration) -> Result<bool, StoreError>;

    /// Gives the lease up (a clean shutdown) so another node need not wait for it to
    /// expire; this handle no longer appends.
    fn release(&self) -> Result<(), StoreError>;

    /// The epoch this handle appends as, if it holds the lease.
    fn epoch(&self) -> Option<u64>;

    /// Stops appending as the current epoch without giving the lease up (the node knows
    /// it cannot renew in time, e.g. it was paused past the lease).
    fn abandon(&self);
}
