//! Tenants, principals, tokens, delegations and identity.

use super::dto::*;
use super::error::{ApiError, ErrorBody};
use super::{parse_time, AppState};
use crate::audit::rfc3339;
use crate::event::{PrincipalKind, Role};
use crate::http::extract::{Auth, Body, Ctx, IdPath, NoStore, OptionalBody};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

#[utoipa::path(post, path = "/v1/tenants", tag = "admin", request_body = CreateTenant, responses((status = 201, body = TenantCreated), (status = 403, body = ErrorBody)))]
pub async fn create_tenant(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    Body(req): Body<CreateTenant>,
) -> Result<NoStore<(StatusCode, Json<TenantCreated>)>, ApiError> {
    let (tenant, admin, token) = st.ledger.create_tenant(&ctx, &caller, &req.name).await?;
    Ok(NoStore((
        StatusCode::CREATED,
        Json(TenantCreated {
            id: tenant.to_string(),
            admin_principal: admin.to_string(),
            admin_token_id: token.id.to_string(),
            admin_token: token.token.expose().to_string(),
        }),
    )))
}

#[utoipa::path(post, path = "/v1/principals", tag = "admin", request_body = CreatePrincipal, responses((status = 201, body = Created)))]
pub async fn create_principal(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    Body(req): Body<CreatePrincipal>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let kind = PrincipalKind::parse(&req.kind)
        .ok_or_else(|| ApiError::invalid("kind", "kind must be 'user' or 'service'"))?;
    let role = Role::parse(&req.role).ok_or_else(|| {
        ApiError::invalid(
            "role",
            "role must be admin, editor, member, resolver or auditor",
        )
    })?;
    let id = if req.system {
        if kind != PrincipalKind::User {
            return Err(ApiError::invalid("kind", "a system principal is a user"));
        }
        st.ledger
            .create_system_principal(&ctx, &caller, &req.name, role)
            .await?
    } else {
        st.ledger
            .create_principal(&ctx, &caller, &req.name, kind, role)
            .await?
    };
    Ok((StatusCode::CREATED, Json(Created { id: id.to_string() })))
}

#[utoipa::path(get, path = "/v1/principals", tag = "admin", responses((status = 200, body = Vec<PrincipalDto>)))]
pub async fn list_principals(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
) -> Result<Json<Value>, ApiError> {
    let list: Vec<PrincipalDto> = st
        .ledger
        .reads()
        .principals(&ctx, &caller)
        .await?
        .into_iter()
        .map(|p| PrincipalDto {
            id: p.id.to_string(),
            name: p.name,
            kind: p.kind.as_str().into(),
            role: p.role.as_str().into(),
            system: p.system,
            disabled: p.disabled,
        })
        .collect();
    Ok(Json(json!({ "principals": list })))
}

#[utoipa::path(delete, path = "/v1/principals/{id}", tag = "admin", responses((status = 204)))]
pub async fn disable_principal(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    IdPath(id): IdPath,
) -> Result<StatusCode, ApiError> {
    st.ledger.disable_principal(&ctx, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/principals/{id}/tokens", tag = "admin", request_body = Option<IssueToken>, responses((status = 201, body = TokenIssued)))]
pub async fn issue_token(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    IdPath(principal): IdPath,
    OptionalBody(req): OptionalBody<IssueToken>,
) -> Result<NoStore<(StatusCode, Json<TokenIssued>)>, ApiError> {
    let expires = req
        .expires_at
        .as_deref()
        .map(|t| parse_time("expires_at", t))
        .transpose()?;
    let t = st
        .ledger
        .issue_token(&ctx, &caller, principal, expires)
        .await?;
    Ok(NoStore((
        StatusCode::CREATED,
        Json(TokenIssued {
            id: t.id.to_string(),
            token: t.token.expose().to_string(),
            principal: principal.to_string(),
            expires_at: expires.map(rfc3339),
        }),
    )))
}

#[utoipa::path(delete, path = "/v1/tokens/{id}", tag = "admin", responses((status = 204)))]
pub async fn revoke_token(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    IdPath(id): IdPath,
) -> Result<StatusCode, ApiError> {
    st.ledger.revoke_token(&ctx, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/principals/{id}/delegation", tag = "admin", request_body = Delegation, responses((status = 204), (status = 403, body = ErrorBody)))]
pub async fn grant_delegation(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    IdPath(principal): IdPath,
    Body(req): Body<Delegation>,
) -> Result<StatusCode, ApiError> {
    let users = req
        .users
        .iter()
        .map(|u| {
            u.parse()
                .map_err(|_| ApiError::invalid("users", "users must be principal ids"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    st.ledger
        .grant_delegation(&ctx, &caller, principal, req.all_users, &users)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/v1/principals/{id}/delegation", tag = "admin", responses((status = 204)))]
pub async fn revoke_delegation(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    IdPath(principal): IdPath,
) -> Result<StatusCode, ApiError> {
    st.ledger
        .revoke_delegation(&ctx, &caller, principal)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/v1/whoami", tag = "admin", responses((status = 200, body = WhoAmI)))]
pub async fn whoami(State(st): State<AppState>, Auth(caller): Auth) -> Json<WhoAmI> {
    Json(WhoAmI {
        tenant: caller.tenant.to_string(),
        principal: caller.principal.to_string(),
        token: caller.token.to_string(),
        name: st.ledger.reads().own_name(&caller),
        role: caller.role.as_str().into(),
        kind: caller.kind.as_str().into(),
        system_admin: caller.is_system_admin(),
        system: caller.system_admin,
    })
}
