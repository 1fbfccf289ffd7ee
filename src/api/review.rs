//! The access review endpoint: who can resolve a credential and why, with each
//! principal's last use (the view the console's access page shows).

use super::dto::*;
use super::error::{ApiError, ErrorBody};
use super::AppState;
use crate::http::extract::{Auth, Ctx, IdPath};
use crate::id::Id;
use crate::ledger::AccessPath;
use axum::extract::State;
use axum::Json;

#[utoipa::path(get, path = "/v1/credentials/{id}/access", tag = "audit",
    responses((status = 200, body = AccessReviewDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Who can resolve the credential and why (admins and auditors), with each principal's
/// last use.
pub async fn access(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    IdPath(id): IdPath,
) -> Result<Json<AccessReviewDto>, ApiError> {
    let r = st.ledger.reads().access_review(&ctx, &caller, id).await?;
    let group_name = |g: Id| {
        r.groups
            .iter()
            .find(|(id, _)| *id == g)
            .map(|(_, n)| n.clone())
    };
    let path = |p: &AccessPath| {
        let mut d = AccessPathDto {
            kind: "owner",
            level: None,
            group: None,
            group_name: None,
            role: None,
            for_users: None,
        };
        match p {
            AccessPath::Owner => {}
            AccessPath::Role(role) => {
                d.kind = "role";
                d.role = Some(role.as_str());
            }
            AccessPath::Grant(level) => {
                d.kind = "grant";
                d.level = Some(level.as_str());
            }
            AccessPath::GroupGrant { group, level } => {
                d.kind = "group_grant";
                d.level = Some(level.as_str());
                d.group = Some(group.to_string());
                d.group_name = group_name(*group);
            }
            AccessPath::TenantDefault(role) => {
                d.kind = "tenant_default";
                d.role = Some(role.as_str());
            }
            AccessPath::Delegation { for_users } => {
                d.kind = "delegation";
                d.for_users = Some(for_users.iter().map(Id::to_string).collect());
            }
        }
        d
    };
    let principals = r
        .principals
        .iter()
        .map(|l| AccessPrincipalDto {
            principal: l.entry.principal.to_string(),
            name: l.name.clone(),
            kind: l.kind.as_str(),
            role: l.role.as_str(),
            via: l.entry.paths.iter().map(path).collect(),
            uses: l.usage.uses,
            last_used_at: l.usage.last_used_at_ms.map(crate::audit::rfc3339),
        })
        .collect();
    Ok(Json(AccessReviewDto {
        credential_id: id.to_string(),
        name: r.credential.name.clone(),
        owner: owner_str(r.credential.owner),
        status: r.credential.status.clone(),
        principals,
    }))
}
