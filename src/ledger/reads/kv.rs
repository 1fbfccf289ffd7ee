//! The Vault KV dialect's reads (`api::vault`): a secret by path with its refusal
//! recorded, one or every version with the KV facts, the mount configuration and a
//! directory listing. Part of the read façade ([`Reads`]), under its invariants.

use super::Reads;
use crate::domain::decide;
use crate::domain::Caller;
use crate::id::Id;
use crate::ledger::{LedgerError, RequestCtx};
use crate::projection::{self, CredentialView, KvConfigView, KvView, VersionView};

impl Reads<'_> {
    /// The KV secret at `path` of the caller's tenant: `None` when there is none; a
    /// recorded "not found" when the caller may not see it (`domain::decide::kv`'s rule:
    /// the paths it could read, every path for admins and auditors).
    pub async fn kv_secret(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        path: &str,
        operation: &'static str,
    ) -> Result<Option<CredentialView>, LedgerError> {
        let Some(id) = self.ledger.kv_lookup(caller, path) else {
            return Ok(None);
        };
        self.ledger
            .check(ctx, caller, |s| {
                decide::kv::see_secret(s, caller, id, operation).map(|_| ())
            })
            .await?;
        let tenant = caller.tenant;
        self.get(move |st| Ok(projection::credential(st.proj(), tenant, id)?))
            .await
    }

    /// The current version number of credential `id` (0 if unknown).
    pub async fn current_version(&self, caller: &Caller, id: Id) -> Result<u32, LedgerError> {
        let tenant = caller.tenant;
        self.get(move |st| {
            Ok(projection::credential(st.proj(), tenant, id)?.map_or(0, |c| c.current_version))
        })
        .await
    }

    /// Versions and KV facts of credential `id` of the caller's tenant.
    pub async fn kv_versions(
        &self,
        caller: &Caller,
        id: Id,
    ) -> Result<(Vec<VersionView>, KvView), LedgerError> {
        let tenant = caller.tenant;
        self.store(move |st| {
            Ok((
                projection::versions(st.proj(), tenant, id)?,
                projection::kv(st.proj(), tenant, id)?,
            ))
        })
        .await
    }

    /// Version `version` of credential `id` of the caller's tenant (if it exists) and
    /// the credential's KV facts: two gets, where [`Reads::kv_versions`] scans them all.
    pub async fn kv_version(
        &self,
        caller: &Caller,
        id: Id,
        version: u32,
    ) -> Result<(Option<VersionView>, KvView), LedgerError> {
        let tenant = caller.tenant;
        self.get(move |st| {
            Ok((
                projection::version(st.proj(), tenant, id, version)?,
                projection::kv(st.proj(), tenant, id)?,
            ))
        })
        .await
    }

    /// The tenant's KV mount configuration (defaults when never set).
    pub async fn kv_config(&self, caller: &Caller) -> Result<KvConfigView, LedgerError> {
        let tenant = caller.tenant;
        self.get(move |st| Ok(projection::kv_config(st.proj(), tenant)?.unwrap_or_default()))
            .await
    }

    /// The KV keys directly under `prefix` the caller sees (a directory ends in `/`),
    /// by `domain::decide::kv::list`.
    pub async fn kv_list(
        &self,
        caller: &Caller,
        prefix: String,
    ) -> Result<std::collections::BTreeSet<String>, LedgerError> {
        Ok(self
            .ledger
            .with_state(|s| decide::kv::list(s, caller, &prefix)))
    }
}
