//! Master-key and signing-key rotation.

use super::pipeline::KeyOp;
use super::{wait, Ledger, LedgerError, RequestCtx, Staged};
use crate::domain::decide::{self, MasterKeyRotation};
use crate::domain::Caller;
use crate::event::{rotation_message, Actor};
use crate::id::Id;
use crate::keys::{self};
use crate::secret::{self, Binding, MasterKeys};
use ed25519_dalek::Signer;
use rand::rngs::OsRng;

impl Ledger {
    /// Rotates the master key: a new key is added to the key file, every live data key is
    /// rewrapped under it, the rotation is logged, and the old keys are discarded from the
    /// key file (overwritten in place first). System admins only.
    pub async fn rotate_master_key(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
    ) -> Result<u32, LedgerError> {
        self.rotate_master_key_for(ctx, caller, MasterKeyRotation::Requested)
            .await
    }

    /// The master-key rotation that completes a crypto-shred the caller was allowed to
    /// make.
    pub(super) async fn rotate_master_key_after_shred(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
    ) -> Result<u32, LedgerError> {
        self.rotate_master_key_for(ctx, caller, MasterKeyRotation::AfterShred)
            .await
    }

    async fn rotate_master_key_for(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        cause: MasterKeyRotation,
    ) -> Result<u32, LedgerError> {
        let from_env = self.config.master_keys_text.is_some();
        self.check(ctx, caller, |_| {
            decide::rotate_master_key(caller, cause, from_env)
        })
        .await?;
        self.rewrap_under_new_master(ctx, Actor::from(caller)).await
    }

    /// Finishes, at open, a crypto-shred whose `destroyed` event is durable but whose
    /// master-key rotation was interrupted: the ledger itself acts (no caller), completing
    /// what the destroy decision already allowed.
    pub(super) async fn finish_interrupted_shred(&self) -> Result<u32, LedgerError> {
        self.rewrap_under_new_master(&RequestCtx::default(), Actor::default())
            .await
    }

    /// Adds a new master key, rewraps every live data key under it, logs the rotation as
    /// `actor`, then discards the old keys from the key file.
    async fn rewrap_under_new_master(
        &self,
        ctx: &RequestCtx,
        actor: Actor,
    ) -> Result<u32, LedgerError> {
        let dir = self.config.data_dir.clone();
        let (rx, new_id) = {
            let mut w = self.lock();
            let old_id = w.masters.current().expect("a master key").id;
            let new_key = keys::generate_master_key(old_id + 1);
            let both = MasterKeys::new(w.masters.iter().cloned().chain([new_key.clone()]));
            keys::write_master_keys(&dir, &both)?;
            super::keycheck::record_master(&*self.store, &new_key)?;
            let mut ops = Vec::new();
            let mut entries: Vec<_> = w.keyring.iter().map(|(k, v)| (*k, v.clone())).collect();
            entries.sort_by_key(|(k, _)| *k);
            for ((cred, version), wrapped) in entries {
                let tenant = w.state.key_tenant(cred, version).unwrap_or(Id::NIL);
                let binding = Binding {
                    tenant,
                    credential: cred,
                    version,
                };
                let key = secret::rewrap(&wrapped, binding, &both, &new_key, &mut OsRng)?;
                ops.push(KeyOp::Put {
                    credential: cred,
                    version,
                    key,
                });
            }
            w.masters = both;
            let body = decide::master_key_rotated(old_id, new_key.id, ops.len() as u64);
            let staged = Staged {
                bodies: vec![body],
                keyring: ops,
            };
            (self.stage(&mut w, ctx, actor, staged)?, new_key.id)
        };
        wait(rx).await?;
        let mut w = self.lock();
        // Anything sealed since used the new key (it is the highest id), so the old keys
        // can go.
        let only_new = MasterKeys::new(w.masters.iter().filter(|k| k.id >= new_id).cloned());
        if w.keyring.values().all(|k| k.master_key_id >= new_id) {
            let discarded: Vec<u32> = w
                .masters
                .ids()
                .into_iter()
                .filter(|i| *i < new_id)
                .collect();
            keys::write_master_keys(&dir, &only_new)?;
            w.masters = only_new;
            for id in discarded {
                super::keycheck::forget_master(&*self.store, id)?;
            }
        }
        Ok(new_id)
    }

    /// Rotates the ledger's signing key. The rotation event is signed by the old key and
    /// carries the new key's proof of possession; later events are signed by the new key.
    /// System admins only.
    pub async fn rotate_signing_key(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
    ) -> Result<[u8; 32], LedgerError> {
        self.check(ctx, caller, |_| decide::rotate_signing_key(caller))
            .await?;
        let dir = self.config.data_dir.clone();
        let new = keys::generate_signing_key();
        keys::write_signing_key_next(&dir, &new)?;
        let rx = {
            let mut w = self.lock();
            let old_key = w.signing.verifying_key().to_bytes();
            let new_key = new.verifying_key().to_bytes();
            let possession = new
                .sign(&rotation_message(&old_key, &new_key, w.next_seq))
                .to_bytes()
                .to_vec();
            let body = decide::signing_key_rotated(old_key, new_key, possession);
            let rx = self.stage(&mut w, ctx, Actor::from(caller), Staged::events(vec![body]))?;
            w.signing = new.clone();
            rx
        };
        wait(rx).await?;
        keys::promote_signing_key_next(&dir)?;
        Ok(new.verifying_key().to_bytes())
    }
}
