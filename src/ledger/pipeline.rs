//! The one write path: lock the writer, decide on the current state, seal and sign the
//! events, apply them to the in-memory state, queue them for the group commit, wait.
//!
//! **Invariant:** the in-memory state equals the fold of every event handed to the
//! committer; if a commit fails the committer is poisoned and no later write succeeds.

use super::{Ledger, LedgerError, RequestCtx};
use crate::commit::CommitError;
use crate::domain::decide::{self};
use crate::domain::{Caller, Decision, DomainError, Rejection, State};
use crate::event::{Actor, Body, Event, Hash32, RequestContext, SignedEvent, EVENT_FORMAT};
use crate::id::Id;
use crate::secret::{MasterKeys, WrappedKey};
use crate::store::{self, KeyRef, MAX_RECORD};
use ed25519_dalek::SigningKey;
use std::collections::HashMap;
use std::sync::MutexGuard;
use tokio::sync::oneshot;

pub(super) struct Writer {
    pub(super) state: State,
    pub(super) next_seq: u64,
    pub(super) last_hash: Hash32,
    pub(super) last_at: i64,
    pub(super) signing: SigningKey,
    pub(super) masters: MasterKeys,
    pub(super) keyring: HashMap<(Id, u32), WrappedKey>,
}

/// Resolves when a staged batch is durable.
pub(super) type CommitReceiver = oneshot::Receiver<Result<(), CommitError>>;

/// A key-ring change as the ledger stages it; the store takes the encoded form.
#[derive(Clone, Debug)]
pub(super) enum KeyOp {
    Put {
        credential: Id,
        version: u32,
        key: WrappedKey,
    },
    Delete {
        credential: Id,
        version: u32,
    },
}

impl KeyOp {
    /// The store's byte-level form (the `WrappedKey` encoding is the ledger's).
    pub(super) fn to_store(&self) -> store::KeyOp {
        match self {
            KeyOp::Put {
                credential,
                version,
                key,
            } => store::KeyOp::Put {
                key: KeyRef {
                    credential: *credential,
                    version: *version,
                },
                wrapped: crate::codec::encode(key).expect("a wrapped key always encodes"),
            },
            KeyOp::Delete {
                credential,
                version,
            } => store::KeyOp::Delete {
                key: KeyRef {
                    credential: *credential,
                    version: *version,
                },
            },
        }
    }
}

/// Events and key-ring changes staged under the writer lock.
pub(super) struct Staged {
    pub(super) bodies: Vec<Body>,
    pub(super) keyring: Vec<KeyOp>,
}

impl Staged {
    /// Events with no key-ring change.
    pub(super) fn events(bodies: Vec<Body>) -> Self {
        Staged {
            bodies,
            keyring: vec![],
        }
    }

    /// Nothing to write (a check that passed).
    pub(super) fn none() -> Self {
        Self::events(vec![])
    }
}

impl Ledger {
    pub(super) fn lock(&self) -> MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn now(&self) -> i64 {
        (self.config.clock)()
    }

    /// Seals `staged.bodies` as the next events, applies them to the state and queues
    /// them (with the key-ring changes) for the group commit.
    pub(super) fn stage(
        &self,
        w: &mut Writer,
        ctx: &RequestCtx,
        actor: Actor,
        staged: Staged,
    ) -> Result<CommitReceiver, LedgerError> {
        if let Some(why) = self.committer.poisoned() {
            return Err(CommitError::Unavailable(why).into());
        }
        if staged.bodies.is_empty() && staged.keyring.is_empty() {
            // Nothing to make durable (a check that passed): answer at once, no sync.
            let (tx, rx) = oneshot::channel();
            let _ = tx.send(Ok(()));
            return Ok(rx);
        }
        let at = self.now().max(w.last_at);
        // Seal everything first: a refused batch leaves the state untouched.
        let (mut seq, mut prev) = (w.next_seq, w.last_hash);
        let mut sealed = Vec::with_capacity(staged.bodies.len());
        for body in staged.bodies {
            let event = Event {
                format: EVENT_FORMAT,
                seq,
                at_ms: at,
                prev,
                actor: actor.clone(),
                context: RequestContext {
                    request_id: ctx.request_id.clone(),
                    remote_addr: ctx.remote_addr.clone(),
                },
                body,
            };
            let signed =
                SignedEvent::seal(event, &w.signing).map_err(|e| LedgerError::Integrity {
                    seq,
                    detail: e.to_string(),
                })?;
            // The stored record is the event bytes plus 80 (docs/FORMAT.md).
            let record = signed.bytes().len() + 80;
            if record > MAX_RECORD {
                return Err(DomainError::Invalid {
                    field: Some("fields".into()),
                    message: format!(
                        "the values are too large: the event would be {record} bytes, over the ledger's limit of {MAX_RECORD} bytes (128 KiB) per event"
                    ),
                }
                .into());
            }
            seq += 1;
            prev = *signed.hash();
            sealed.push(signed);
        }
        for signed in &sealed {
            w.state.apply(signed.event());
        }
        if !sealed.is_empty() {
            (w.next_seq, w.last_hash, w.last_at) = (seq, prev, at);
        }
        for op in &staged.keyring {
            match op {
                KeyOp::Put {
                    credential,
                    version,
                    key,
                } => {
                    w.keyring.insert((*credential, *version), key.clone());
                }
                KeyOp::Delete {
                    credential,
                    version,
                } => {
                    w.keyring.remove(&(*credential, *version));
                }
            }
        }
        let ops = staged.keyring.iter().map(KeyOp::to_store).collect();
        Ok(self.committer.submit(sealed, ops))
    }

    /// Runs a decision under the writer lock and stages its events (or the records of
    /// its rejection). Returns the receiver and the decision's value or error.
    pub(super) fn decide_and_stage<T>(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        decide: impl FnOnce(&mut Writer, i64) -> Result<(Staged, T), Rejection>,
    ) -> Result<(CommitReceiver, Result<T, DomainError>), LedgerError> {
        let mut w = self.lock();
        let now = self.now().max(w.last_at);
        let actor = Actor::from(caller);
        match decide(&mut w, now) {
            Ok((staged, value)) => Ok((self.stage(&mut w, ctx, actor, staged)?, Ok(value))),
            Err(Rejection { error, records }) if records.is_empty() => Err(error.into()),
            Err(Rejection { error, records }) => {
                let rx = self.stage(&mut w, ctx, actor, Staged::events(records))?;
                Ok((rx, Err(error)))
            }
        }
    }

    /// Runs a check (a decision that writes nothing when it passes) under the writer
    /// lock; a refusal's records are durable before the error is returned.
    pub(super) async fn check<T>(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        decide: impl FnOnce(&State) -> Decision<T>,
    ) -> Result<T, LedgerError> {
        self.execute(ctx, caller, |w, _| {
            decide(&w.state).map(|v| (Staged::none(), v))
        })
        .await
    }

    /// Stages system events no request waits for (aggregated failed authentications):
    /// they join the next group commit. Returns the receiver for those who want to wait.
    pub(super) fn stage_detached(&self, bodies: Vec<Body>) -> Option<CommitReceiver> {
        if bodies.is_empty() {
            return None;
        }
        let mut w = self.lock();
        match self.stage(
            &mut w,
            &RequestCtx::default(),
            Actor::default(),
            Staged::events(bodies),
        ) {
            Ok(rx) => Some(rx),
            Err(e) => {
                tracing::warn!(error = %e, "cannot record failed authentications");
                None
            }
        }
    }

    /// Decides, stages and waits until durable.
    pub(super) async fn execute<T>(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        decide: impl FnOnce(&mut Writer, i64) -> Result<(Staged, T), Rejection>,
    ) -> Result<T, LedgerError> {
        let (rx, value) = self.decide_and_stage(ctx, caller, decide)?;
        wait(rx).await?;
        Ok(value?)
    }

    pub(super) fn events_only(d: decide::Decision) -> Result<(Staged, ()), Rejection> {
        d.map(|bodies| (Staged::events(bodies), ()))
    }
}

pub(super) async fn wait(rx: CommitReceiver) -> Result<(), LedgerError> {
    rx.await.map_err(|_| CommitError::ShuttingDown)??;
    Ok(())
}

/// Waits for a commit from synchronous code. Unlike `blocking_recv` this also works on a
/// thread that drives an async runtime (`Ledger::open` called from async code), because
/// the committer is a plain thread that needs no runtime to answer.
pub(super) fn wait_blocking(rx: CommitReceiver) -> Result<(), LedgerError> {
    futures::executor::block_on(rx).map_err(|_| CommitError::ShuttingDown)??;
    Ok(())
}
