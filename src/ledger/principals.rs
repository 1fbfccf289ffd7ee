//! Tenants, principals, tokens and delegations.

use super::{IssuedToken, Ledger, LedgerError, RequestCtx};
use crate::domain::decide::{self, NewTenant};
use crate::domain::Caller;
use crate::event::{PrincipalKind, Role};
use crate::id::Id;

impl Ledger {
    /// Creates a tenant with an admin principal; returns (tenant, admin, admin token).
    pub async fn create_tenant(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        name: &str,
    ) -> Result<(Id, Id, IssuedToken), LedgerError> {
        let (tenant, admin, token) = (Id::random(), Id::random(), Id::random());
        let (secret, token_hash) = self.new_token_secret(token);
        let new = NewTenant {
            tenant,
            name,
            admin,
            token,
            token_hash,
        };
        self.execute(ctx, caller, |w, _| {
            Self::events_only(decide::create_tenant(&w.state, caller, new))
        })
        .await?;
        Ok((
            tenant,
            admin,
            IssuedToken {
                id: token,
                token: secret,
            },
        ))
    }

    /// Creates a principal in the caller's tenant.
    pub async fn create_principal(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        name: &str,
        kind: PrincipalKind,
        role: Role,
    ) -> Result<Id, LedgerError> {
        self.new_principal(ctx, caller, name, kind, role, false)
            .await
    }

    /// Creates a system principal (a user: a system admin with the admin role, a system
    /// auditor with the auditor role) in the caller's tenant. System admins only.
    pub async fn create_system_principal(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        name: &str,
        role: Role,
    ) -> Result<Id, LedgerError> {
        self.new_principal(ctx, caller, name, PrincipalKind::User, role, true)
            .await
    }

    async fn new_principal(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        name: &str,
        kind: PrincipalKind,
        role: Role,
        system: bool,
    ) -> Result<Id, LedgerError> {
        let id = Id::random();
        self.execute(ctx, caller, |w, _| {
            Self::events_only(decide::create_principal(
                &w.state, caller, id, name, kind, role, system,
            ))
        })
        .await?;
        Ok(id)
    }

    /// Disables a principal and revokes its tokens.
    pub async fn disable_principal(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        principal: Id,
    ) -> Result<(), LedgerError> {
        self.execute(ctx, caller, |w, _| {
            Self::events_only(decide::disable_principal(&w.state, caller, principal))
        })
        .await
    }

    /// Issues a token for a principal; the secret is returned once.
    pub async fn issue_token(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        principal: Id,
        expires_at_ms: Option<i64>,
    ) -> Result<IssuedToken, LedgerError> {
        let id = Id::random();
        let (secret, hash) = self.new_token_secret(id);
        self.execute(ctx, caller, |w, now| {
            Self::events_only(decide::issue_token(
                &w.state,
                caller,
                principal,
                id,
                hash,
                expires_at_ms,
                now,
            ))
        })
        .await?;
        Ok(IssuedToken { id, token: secret })
    }

    /// Revokes a token.
    pub async fn revoke_token(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        token: Id,
    ) -> Result<(), LedgerError> {
        self.execute(ctx, caller, |w, _| {
            Self::events_only(decide::revoke_token(&w.state, caller, token))
        })
        .await
    }

    /// Lets service `principal` resolve `for_user` for every user of the tenant
    /// (`all_users`, system principals excepted) and for `users`.
    pub async fn grant_delegation(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        principal: Id,
        all_users: bool,
        users: &[Id],
    ) -> Result<(), LedgerError> {
        self.execute(ctx, caller, |w, _| {
            Self::events_only(decide::grant_delegation(
                &w.state, caller, principal, all_users, users,
            ))
        })
        .await
    }

    /// Withdraws the delegation of `principal`.
    pub async fn revoke_delegation(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        principal: Id,
    ) -> Result<(), LedgerError> {
        self.execute(ctx, caller, |w, _| {
            Self::events_only(decide::revoke_delegation(&w.state, caller, principal))
        })
        .await
    }
}
