//! The ledger: the one orchestrating module of the imperative shell.
//!
//! Every write takes the same path: authenticate → (validate against the template) →
//! lock the writer → `decide` on the current state → seal secrets and sign events →
//! apply them to the in-memory state → hand them to the group committer → unlock →
//! wait until they are durable (and projected) → answer. A rejection that must be
//! recorded (a denied resolve, a denied rotate) takes the same path before its error is
//! returned. Reads go through [`Reads`] (`Ledger::reads`), which applies the visibility
//! rules once and reads the projections, which the committer updates before it answers,
//! so a client always reads its own writes.
//!
//! **Invariant (audit first):** no secret leaves [`Ledger::resolve`] or
//! [`Ledger::verify`] before the `used` event that records it is durable. If the event
//! cannot be written, the call fails and the opened secret is dropped (zeroized).
//! **Invariant:** the in-memory state equals the fold of every event handed to the
//! committer; if a commit fails the committer is poisoned and no later write succeeds.

use crate::commit::{CommitError, CommitStats, Committer};
use crate::domain::State;
use crate::note::{Checkpoint, NoteError};
use crate::proof::{CheckpointSigner, LiveLog};
use crate::store::Backend;
use crate::template::Catalog;
use ed25519_dalek::VerifyingKey;
use std::sync::{Arc, Mutex};
use zeroize::Zeroizing;

mod auth;
mod auth_failures;
pub mod backup;
mod config;
mod console;
mod credentials;
mod error;
mod follow;
mod groups;
mod key_rotation;
mod keycheck;
mod kv;
mod open;
mod overview;
mod pipeline;
mod principals;
mod reads;
mod recover;
mod recovery;
mod resolve;
pub mod schedule;
mod snapshot;
mod templates;
mod tenant_log;
mod types;
pub mod webhooks;
pub mod witnessing;

pub use crate::domain::decide::console::{Capabilities, CredentialActions};
pub use crate::domain::decide::kv::KvMetadata;
pub use crate::domain::decide::review::{unused_grant, AccessEntry, AccessPath, UNUSED_GRANT_DAYS};
pub use config::{system_clock, Clock, Config, ConsoleConfig, DEFAULT_SNAPSHOT_EVERY};
pub use console::{CredentialSummary, Names, TokenInfo};
pub use error::ErrorKind;
pub use error::LedgerError;
pub use kv::{KvWrite, VaultTokenInfo, KV_TEMPLATE};
pub use overview::{AccessLine, AccessReview, GroupInfo};
use pipeline::{wait, wait_blocking, Staged, Writer};
pub use reads::{Leaf, Leaves, PrincipalInfo, Reads};
pub use recover::RECOVERY_REQUEST_ID;
pub use snapshot::Unusable as SnapshotUnusable;
pub use templates::TemplateRef;
pub use tenant_log::{TenantLeaf, TenantLeaves};
pub use types::*;

/// The open ledger.
pub struct Ledger {
    store: Arc<dyn Backend>,
    committer: Committer,
    writer: Mutex<Writer>,
    catalog: &'static Catalog,
    token_key: Zeroizing<[u8; 32]>,
    config: Config,
    http: reqwest::Client,
    failures: Mutex<auth_failures::FailureTracker>,
    /// Set on a follower (a node over a shared store that does not write).
    follow: Option<follow::Follow>,
    /// The state snapshot writer (stopped after the committer; off on a follower).
    snapshots: snapshot::Snapshotter,
}

impl Ledger {
    /// The store, for the modules below the HTTP layer that read it directly (`proof`,
    /// `bundle`, the CLI's offline tools) and for tests. The HTTP dialects never use it:
    /// they read through [`Ledger::reads`]. Reads only: every write goes through the
    /// ledger's commands.
    pub fn store(&self) -> &dyn Backend {
        &*self.store
    }

    /// The template catalog.
    pub fn catalog(&self) -> &'static Catalog {
        self.catalog
    }

    /// Group-commit counters.
    pub fn commit_stats(&self) -> CommitStats {
        self.committer.stats()
    }

    /// Whether writes are possible (not poisoned, not shut down).
    pub fn writable(&self) -> Result<(), LedgerError> {
        if self.committer.is_refusing() {
            return Err(CommitError::NotWriter(self.writer_address()).into());
        }
        match self.committer.poisoned() {
            Some(why) => Err(CommitError::Unavailable(why).into()),
            None => Ok(()),
        }
    }

    /// Reads the in-memory state under the lock.
    pub fn with_state<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.lock().state)
    }

    /// The current signing key's public half.
    pub fn signing_public_key(&self) -> ed25519_dalek::VerifyingKey {
        self.lock().signing.verifying_key()
    }

    /// The current time per the configured clock.
    pub fn now_ms(&self) -> i64 {
        self.now()
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Commits what is queued and stops accepting writes.
    pub fn shutdown(&self) {
        self.committer.shutdown();
        self.snapshots.stop();
    }
}

/// Checkpoints are signed under the writer lock with the key in force, which never
/// leaves the ledger.
impl CheckpointSigner for Ledger {
    fn public_key(&self) -> VerifyingKey {
        self.signing_public_key()
    }

    fn sign_checkpoint(
        &self,
        cp: &Checkpoint,
        expected: &VerifyingKey,
    ) -> Result<Option<String>, NoteError> {
        self.lock().signing.sign_checkpoint(cp, expected)
    }
}

impl LiveLog for Ledger {
    fn backend(&self) -> &dyn Backend {
        self.store()
    }
}
