//! Opening a ledger: check that the stored log is complete and that the keys are this
//! ledger's, then recover interrupted work and bootstrap an empty ledger.
//!
//! The order is the point. First, read only: fold the log (from the state snapshot when
//! it checks out against the log, see `ledger::snapshot`), compare its length and head
//! with the head record and the latest signed checkpoint (`integrity::check_length`), and
//! load and check every key (`keycheck`). Any refusal there leaves the data directory as
//! it was. Only then write: record missing check values, bring the head record to the
//! log's end, finish an interrupted signing-key rotation, catch the projections up,
//! delete orphan data keys, start the committer, bootstrap an empty ledger, and finish
//! an interrupted shred.

use super::recovery::{self, Folded};
use super::snapshot::{self, Snapshotter};
use super::{keycheck, wait_blocking, Bootstrap, Config, Ledger, LedgerError, RequestCtx};
use super::{Staged, Writer};
use crate::commit::Committer;
use crate::event::Actor;
use crate::id::Id;
use crate::integrity::{self, Incomplete, HEAD_MARKER};
use crate::keys::KeyError;
use crate::projection;
use crate::snapshot::MacKey;
use crate::store::head::{self, Head, HeadFile};
use crate::store::{self, Backend};
use crate::template::Catalog;
use std::sync::{Arc, Mutex};

impl Ledger {
    /// Opens the ledger in `config.data_dir` on the embedded default store, bootstrapping
    /// an empty one.
    pub fn open(config: Config) -> Result<(Ledger, Option<Bootstrap>), LedgerError> {
        let dir = &config.data_dir;
        std::fs::create_dir_all(dir).map_err(|source| KeyError::Io {
            path: dir.clone(),
            source,
        })?;
        let store = store::open_default(dir)?;
        Self::open_with_backend(config, store)
    }

    /// Opens the ledger over a backend the caller opened (and whose writer lock it holds);
    /// keys and the head record live in `config.data_dir`.
    pub fn open_with_backend(
        config: Config,
        store: Arc<dyn Backend>,
    ) -> Result<(Ledger, Option<Bootstrap>), LedgerError> {
        let key = snapshot::mac_key(&config.data_dir, &*store)?;
        let (folded, covered) = snapshot::fold_for_open(&*store, key.as_ref())?;
        Self::open_folded(config, store, folded, covered)
    }

    /// [`Ledger::open_with_backend`] from a log already folded into `folded` (a
    /// follower's state, when it becomes the writer); the stored state snapshot covers
    /// `covered` events (0: none, or not known).
    pub(super) fn open_folded(
        config: Config,
        store: Arc<dyn Backend>,
        folded: Folded,
        covered: u64,
    ) -> Result<(Ledger, Option<Bootstrap>), LedgerError> {
        let dir = config.data_dir.clone();
        // Read only: nothing is written unless the log and the keys check out.
        let keeps_head = store.stored_head()?.is_some();
        let recorded = match keeps_head {
            true => None,
            false => head::read(&dir).map_err(Incomplete::from)?,
        };
        let head_required = keeps_head || store.meta(HEAD_MARKER)?.is_some();
        integrity::check_log(&*store, folded.next_seq, &dir)?;
        let fresh = folded.next_seq == 0;
        let (logged, orphans) = recovery::read_keyring(&*store, &folded.state)?;
        recovery::check_keys_present(&folded.state, &logged)?;
        let keys = keycheck::load(&config, &*store, &folded.state, &logged, fresh)?;

        // Writes.
        if keys.first_time {
            tracing::warn!(
                "this ledger predates key check values; recording them now (each master key opened a data key wrapped under it)"
            );
        }
        keycheck::record(&*store, &keys.to_record)?;
        if recorded.is_none() && !fresh && !keeps_head {
            tracing::warn!(
                events = folded.next_seq,
                "this ledger predates its head record; recording DATA/head now (from here on a shortened log is refused)"
            );
        }
        if !head_required {
            store.put_meta_durable(HEAD_MARKER, Some(b"v1"))?;
        }
        let Folded {
            state,
            next_seq,
            last_hash,
            last_at,
            pending_shred,
        } = folded;
        let head_file = match keeps_head {
            true => None,
            false => Some(
                HeadFile::open(
                    &dir,
                    Head {
                        size: next_seq,
                        hash: last_hash,
                    },
                )
                .map_err(Incomplete::from)?,
            ),
        };
        recovery::finish_signing_rotation(&dir, keys.next_signing)?;
        projection::catch_up(&*store, |_| {})?;
        recovery::delete_orphans(&*store, &orphans)?;
        let committer = Committer::start(store.clone(), head_file, next_seq);
        let writer = Writer {
            state,
            next_seq,
            last_hash,
            last_at,
            signing: keys.signing,
            masters: keys.masters,
            keyring: logged,
        };
        let writes = snapshot::Writes {
            store: store.clone(),
            key: MacKey::derive(&keys.token_key),
            watch: committer.watch(),
            every: config.snapshot_every,
            covered,
            size: 0,
        };
        if covered > 0 {
            snapshot::check_below_in_background(store.clone(), covered, committer.watch());
        }
        let mut ledger = Self::assemble(config, store, committer, writer, keys.token_key, None)?;
        ledger.snapshots = Snapshotter::start(writes);
        let boot = if fresh {
            Some(ledger.bootstrap()?)
        } else {
            None
        };
        ledger.finish_shred(pending_shred)?;
        Ok((ledger, boot))
    }

    /// The ledger of a checked log and keys.
    pub(super) fn assemble(
        config: Config,
        store: Arc<dyn Backend>,
        committer: Committer,
        writer: Writer,
        token_key: zeroize::Zeroizing<[u8; 32]>,
        follow: Option<super::follow::Follow>,
    ) -> Result<Ledger, LedgerError> {
        let http = crate::verify::client()
            .map_err(|e| LedgerError::Startup(format!("cannot build the HTTP client: {e}")))?;
        Ok(Ledger {
            store,
            committer,
            writer: Mutex::new(writer),
            catalog: Catalog::builtin(),
            token_key,
            config,
            http,
            failures: Default::default(),
            follow,
            snapshots: Snapshotter::off(),
        })
    }

    pub(super) fn bootstrap(&self) -> Result<Bootstrap, LedgerError> {
        let (tenant, admin, token) = (Id::random(), Id::random(), Id::random());
        let (secret, hash) = self.new_token_secret(token);
        let origin = self
            .config
            .origin
            .clone()
            .unwrap_or_else(|| format!("credledger.local/{}", Id::random()));
        let ctx = RequestCtx::default();
        let rx = {
            let mut w = self.lock();
            let signing_key = w.signing.verifying_key().to_bytes();
            let bodies =
                crate::domain::decide::bootstrap(origin, signing_key, tenant, admin, token, hash);
            self.stage(
                &mut w,
                &ctx,
                Actor::default(),
                Staged {
                    bodies,
                    keyring: vec![],
                },
            )?
        };
        wait_blocking(rx)?;
        Ok(Bootstrap {
            tenant,
            admin,
            token: secret,
        })
    }
}
