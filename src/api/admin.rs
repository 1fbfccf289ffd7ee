//! Tenants, principals, tokens, identity and templates.

use super::auth::{Auth, Body, Ctx};
use super::dto::*;
use super::error::{ApiError, ErrorBody};
use super::{parse_id, parse_time, AppState};
use crate::audit::rfc3339;
use crate::event::{PrincipalKind, Role};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

#[utoipa::path(post, path = "/v1/tenants", tag = "admin", request_body = CreateTenant, responses((status = 201, body = TenantCreated), (status = 403, body = ErrorBody)))]
pub async fn create_tenant(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    Body(req): Body<CreateTenant>,
) -> Result<(StatusCode, Json<TenantCreated>), ApiError> {
    let (tenant, admin, token) = st.ledger.create_tenant(&ctx, &caller, &req.name).await?;
    Ok((
        StatusCode::CREATED,
        Json(TenantCreated {
            id: tenant.to_string(),
            admin_principal: admin.to_string(),
            admin_token_id: token.id.to_string(),
            admin_token: token.token.expose().to_string(),
        }),
    ))
}

#[utoipa::path(post, path = "/v1/principals", tag = "admin", request_body = CreatePrincipal, responses((status = 201, body = Created)))]
pub async fn create_principal(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    Body(req): Body<CreatePrincipal>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let kind = match req.kind.as_str() {
        "user" => PrincipalKind::User,
        "service" => PrincipalKind::Service,
        _ => {
            return Err(ApiError::invalid(
                "kind",
                "kind must be 'user' or 'service'",
            ))
        }
    };
    let role = match req.role.as_str() {
        "admin" => Role::Admin,
        "editor" => Role::Editor,
        "resolver" => Role::Resolver,
        "auditor" => Role::Auditor,
        _ => {
            return Err(ApiError::invalid(
                "role",
                "role must be admin, editor, resolver or auditor",
            ))
        }
    };
    let id = st
        .ledger
        .create_principal(&ctx, &caller, &req.name, kind, role)
        .await?;
    Ok((StatusCode::CREATED, Json(Created { id: id.to_string() })))
}

#[utoipa::path(get, path = "/v1/principals", tag = "admin", responses((status = 200, body = Vec<PrincipalDto>)))]
pub async fn list_principals(
    State(st): State<AppState>,
    Auth(caller): Auth,
) -> Result<Json<Value>, ApiError> {
    if !matches!(caller.role, Role::Admin | Role::Auditor) {
        return Err(ApiError::forbidden(
            "listing principals needs the admin or auditor role",
        ));
    }
    let mut list: Vec<PrincipalDto> = st.ledger.with_state(|s| {
        s.principals
            .iter()
            .filter(|(_, p)| p.tenant == caller.tenant)
            .map(|(id, p)| PrincipalDto {
                id: id.to_string(),
                name: p.name.clone(),
                kind: p.kind.as_str().into(),
                role: p.role.as_str().into(),
                disabled: p.disabled,
            })
            .collect()
    });
    list.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(json!({ "principals": list })))
}

#[utoipa::path(delete, path = "/v1/principals/{id}", tag = "admin", responses((status = 204)))]
pub async fn disable_principal(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    st.ledger
        .disable_principal(&ctx, &caller, parse_id(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/principals/{id}/tokens", tag = "admin", request_body = Option<IssueToken>, responses((status = 201, body = TokenIssued)))]
pub async fn issue_token(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<TokenIssued>), ApiError> {
    let principal = parse_id(&id)?;
    let req: IssueToken = if body.iter().all(u8::is_ascii_whitespace) {
        IssueToken::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(format!(
                "invalid body: {}",
                super::error::sanitize_parser_message(&e.to_string())
            ))
        })?
    };
    let expires = req
        .expires_at
        .as_deref()
        .map(|t| parse_time("expires_at", t))
        .transpose()?;
    let t = st
        .ledger
        .issue_token(&ctx, &caller, principal, expires)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(TokenIssued {
            id: t.id.to_string(),
            token: t.token.expose().to_string(),
            principal: principal.to_string(),
            expires_at: expires.map(rfc3339),
        }),
    ))
}

#[utoipa::path(delete, path = "/v1/tokens/{id}", tag = "admin", responses((status = 204)))]
pub async fn revoke_token(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    st.ledger
        .revoke_token(&ctx, &caller, parse_id(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/v1/whoami", tag = "admin", responses((status = 200, body = WhoAmI)))]
pub async fn whoami(State(st): State<AppState>, Auth(caller): Auth) -> Json<WhoAmI> {
    let name = st.ledger.with_state(|s| {
        s.principals
            .get(&caller.principal)
            .map(|p| p.name.clone())
            .unwrap_or_default()
    });
    Json(WhoAmI {
        tenant: caller.tenant.to_string(),
        principal: caller.principal.to_string(),
        token: caller.token.to_string(),
        name,
        role: caller.role.as_str().into(),
        kind: caller.kind.as_str().into(),
        system_admin: caller.system_admin,
    })
}

#[utoipa::path(get, path = "/v1/templates", tag = "templates", responses((status = 200)))]
pub async fn list_templates(State(st): State<AppState>, Auth(_caller): Auth) -> Json<Value> {
    let list: Vec<Value> = st
        .ledger
        .catalog()
        .iter()
        .map(|t| json!({"name": t.name, "title": t.title, "description": t.description, "verifiable": t.verify.is_some()}))
        .collect();
    Json(json!({ "templates": list }))
}

#[utoipa::path(get, path = "/v1/templates/{name}", tag = "templates", responses((status = 200), (status = 404, body = ErrorBody)))]
pub async fn get_template(
    State(st): State<AppState>,
    Auth(_caller): Auth,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let t = st
        .ledger
        .catalog()
        .get(&name)
        .map_err(|_| ApiError::not_found("template"))?;
    Ok(Json(
        serde_json::to_value(t).map_err(|_| ApiError::not_found("template"))?,
    ))
}
