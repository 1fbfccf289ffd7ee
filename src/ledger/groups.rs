//! Groups of principals: create them and change their members.

use super::{Ledger, LedgerError, RequestCtx};
use crate::domain::decide;
use crate::domain::Caller;
use crate::id::Id;

impl Ledger {
    /// Creates a group in the caller's tenant; returns its id.
    pub async fn create_group(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        name: &str,
    ) -> Result<Id, LedgerError> {
        let id = Id::random();
        self.execute(ctx, caller, |w, _| {
            Self::events_only(decide::create_group(&w.state, caller, id, name))
        })
        .await?;
        Ok(id)
    }

    /// Adds a principal to a group; the next resolve sees it.
    pub async fn add_group_member(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        group: Id,
        principal: Id,
    ) -> Result<(), LedgerError> {
        self.execute(ctx, caller, |w, _| {
            Self::events_only(decide::add_member(&w.state, caller, group, principal))
        })
        .await
    }

    /// Removes a principal from a group; the next resolve no longer sees it.
    pub async fn remove_group_member(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        group: Id,
        principal: Id,
    ) -> Result<(), LedgerError> {
        self.execute(ctx, caller, |w, _| {
            Self::events_only(decide::remove_member(&w.state, caller, group, principal))
        })
        .await
    }
}
