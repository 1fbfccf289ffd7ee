//! Reads for people who look after a tenant: its groups, the usage summary by template
//! or service, and the access review of one credential. Part of the [`Reads`] façade,
//! with the same rules: visibility is `domain`'s, a refusal is recorded before it is
//! returned, store calls run on the blocking pool.

use super::{LedgerError, Reads, RequestCtx};
use crate::domain::decide::{self, review::AccessEntry};
use crate::domain::rotation;
use crate::domain::summary::{summarize, SummaryBy, SummaryGroup, SummaryItem};
use crate::domain::Caller;
use crate::event::{PrincipalKind, Role};
use crate::id::Id;
use crate::projection::{self, CredentialView, PrincipalUse};

/// A group as listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupInfo {
    pub id: Id,
    pub name: String,
    pub members: Vec<Id>,
}

/// One principal of an access review, with its last use of the credential.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessLine {
    pub entry: AccessEntry,
    pub name: String,
    pub kind: PrincipalKind,
    pub role: Role,
    pub usage: PrincipalUse,
}

/// Who can resolve a credential and why, with their last uses.
#[derive(Clone, Debug)]
pub struct AccessReview {
    pub credential: CredentialView,
    pub principals: Vec<AccessLine>,
    /// Group id → name, for the groups the paths name.
    pub groups: Vec<(Id, String)>,
}

impl Reads<'_> {
    /// The groups the caller may list, by name.
    pub fn groups(&self, caller: &Caller) -> Vec<GroupInfo> {
        self.ledger.with_state(|s| {
            decide::visible_groups(s, caller)
                .into_iter()
                .map(|(id, g)| GroupInfo {
                    id,
                    name: g.name.clone(),
                    members: g.members.iter().copied().collect(),
                })
                .collect()
        })
    }

    /// The usage summary of the active credentials the caller may see, by template or
    /// service.
    pub async fn usage_summary(
        &self,
        caller: &Caller,
        by: SummaryBy,
    ) -> Result<Vec<SummaryGroup>, LedgerError> {
        let c = *caller;
        let now = self.ledger.now_ms();
        let items = self
            .store(move |st| {
                let mut out = Vec::new();
                for v in projection::credentials(st.proj(), c.tenant) {
                    let v = v?;
                    if !decide::can_see(&c, v.owner) {
                        continue;
                    }
                    let usage = projection::credential_usage(st.proj(), c.tenant, v.id)?;
                    let verifies = projection::verify_counts(st.proj(), c.tenant, v.id)?;
                    let due = rotation::due_at(v.rotated_at_ms, v.rotate_every_days);
                    out.push(SummaryItem {
                        active: v.status == crate::domain::CredStatus::Active.as_str(),
                        template: v.template,
                        service: v.service,
                        uses: usage.uses,
                        last_used_at_ms: usage.last_used_at_ms,
                        failed_verifies: verifies.failed,
                        rotation: rotation::status(due, now),
                    });
                }
                Ok(out)
            })
            .await?;
        Ok(summarize(items, by))
    }

    /// Who can resolve credential `id` and why, with each principal's last use
    /// (reviewers: admins and auditors).
    pub async fn access_review(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        id: Id,
    ) -> Result<AccessReview, LedgerError> {
        let entries = self
            .ledger
            .check(ctx, caller, |s| {
                decide::review::review_access(s, caller, id)
            })
            .await?;
        let tenant = caller.tenant;
        let (credential, uses) = self
            .store(move |st| {
                let view = projection::credential(st.proj(), tenant, id)?;
                let uses = projection::principal_uses(st.proj(), tenant, id)?;
                Ok((view, uses))
            })
            .await?;
        let credential = credential.ok_or(crate::domain::DomainError::NotFound("credential"))?;
        let (principals, groups) = self.ledger.with_state(|s| {
            let mut groups: Vec<(Id, String)> = Vec::new();
            let lines = entries
                .into_iter()
                .filter_map(|entry| {
                    for path in &entry.paths {
                        if let decide::review::AccessPath::GroupGrant { group, .. } = path {
                            if let Some(g) = s.groups.get(group) {
                                groups.push((*group, g.name.clone()));
                            }
                        }
                    }
                    let p = s.principals.get(&entry.principal)?;
                    let usage = uses
                        .iter()
                        .find(|(pid, _)| *pid == entry.principal)
                        .map(|(_, u)| u.clone())
                        .unwrap_or_default();
                    Some(AccessLine {
                        name: p.name.clone(),
                        kind: p.kind,
                        role: p.role,
                        usage,
                        entry,
                    })
                })
                .collect();
            groups.sort();
            groups.dedup();
            (lines, groups)
        });
        Ok(AccessReview {
            credential,
            principals,
            groups,
        })
    }
}
