//! Credential endpoints: create, list, get, update, rotate, lifecycle, grants, versions,
//! connection tests, usage and resolution.

use super::auth::{Auth, Body, Ctx};
use super::dto::*;
use super::error::{ApiError, ErrorBody};
use super::{parse_id, parse_time, AppState};
use crate::domain::Caller;
use crate::event::{MetadataChange, Owner, Role};
use crate::id::Id;
use crate::ledger::{CreateInput, ResolveTarget};
use crate::projection::{self, CredentialView};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Whether the caller may see a credential's metadata: admins and auditors see the
/// whole tenant; others see shared credentials and their own.
pub fn can_see(caller: &Caller, v: &CredentialView) -> bool {
    matches!(caller.role, Role::Admin | Role::Auditor)
        || v.owner == Owner::Tenant
        || v.owner == Owner::Principal(caller.principal)
}

pub(super) fn dto(state: &AppState, v: CredentialView) -> CredentialDto {
    let secret_fields = state
        .ledger
        .catalog()
        .get(&v.template)
        .map(|t| {
            t.fields
                .iter()
                .filter(|f| f.is_secret())
                .map(|f| f.name.clone())
                .collect()
        })
        .unwrap_or_default();
    CredentialDto::from_view(v, secret_fields, state.ledger.now_ms())
}

/// The view of a credential the caller may see (404 otherwise).
pub(super) fn visible_view(
    state: &AppState,
    caller: &Caller,
    id: Id,
) -> Result<CredentialView, ApiError> {
    projection::credential(state.ledger.store().proj(), caller.tenant, id)?
        .filter(|v| can_see(caller, v))
        .ok_or_else(|| ApiError::not_found("credential"))
}

fn parse_owner(caller: &Caller, owner: Option<&str>) -> Result<Option<Owner>, ApiError> {
    Ok(match owner {
        None => None,
        Some("tenant") => Some(Owner::Tenant),
        Some("me") => Some(Owner::Principal(caller.principal)),
        Some(other) => Some(Owner::Principal(other.parse().map_err(|_| {
            ApiError::invalid("owner", "owner must be 'tenant', 'me' or a principal id")
        })?)),
    })
}

fn check_service(service: &str) -> Result<(), ApiError> {
    let ok = !service.is_empty()
        && service.len() <= 64
        && service
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "service",
            "service must be 1-64 characters of a-z, 0-9, '_' or '-'",
        ))
    }
}

#[utoipa::path(post, path = "/v1/credentials", tag = "credentials", request_body = CreateCredential,
    responses((status = 201, body = CredentialDto), (status = 422, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    Body(req): Body<CreateCredential>,
) -> Result<(StatusCode, Json<CredentialDto>), ApiError> {
    if let Some(s) = &req.service {
        check_service(s)?;
    }
    let input = CreateInput {
        name: req.name,
        template: req.template,
        service: req.service,
        owner: parse_owner(&caller, req.owner.as_deref())?,
        description: req.description.unwrap_or_default(),
        fields: req.fields,
        rotate_every_days: req.rotate_every_days,
        expires_at_ms: req
            .expires_at
            .as_deref()
            .map(|t| parse_time("expires_at", t))
            .transpose()?,
        is_default: req.default,
    };
    let id = st.ledger.create_credential(&ctx, &caller, input).await?;
    Ok((
        StatusCode::CREATED,
        Json(dto(&st, visible_view(&st, &caller, id)?)),
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub template: Option<String>,
    pub service: Option<String>,
    /// `tenant`, `me` or a principal id.
    pub owner: Option<String>,
    /// `active` (default), `deleted`, `destroyed` or `all`.
    pub status: Option<String>,
    /// `due` (due within 7 days or overdue) or `overdue`.
    pub rotation: Option<String>,
    pub name: Option<String>,
}

#[utoipa::path(get, path = "/v1/credentials", tag = "credentials", params(ListQuery), responses((status = 200, body = CredentialList)))]
pub async fn list(
    State(st): State<AppState>,
    Auth(caller): Auth,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<CredentialList>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let owner = parse_owner(&caller, q.owner.as_deref())?;
    let status = q.status.unwrap_or_else(|| "active".into());
    if !["active", "deleted", "destroyed", "all"].contains(&status.as_str()) {
        return Err(ApiError::invalid(
            "status",
            "status must be active, deleted, destroyed or all",
        ));
    }
    if q.rotation
        .as_deref()
        .is_some_and(|r| r != "due" && r != "overdue")
    {
        return Err(ApiError::invalid(
            "rotation",
            "rotation must be 'due' or 'overdue'",
        ));
    }
    let mut out = Vec::new();
    for v in projection::credentials(st.ledger.store().proj(), caller.tenant) {
        let v = v?;
        let keep = can_see(&caller, &v)
            && (status == "all" || v.status == status)
            && q.template.as_ref().is_none_or(|t| &v.template == t)
            && q.service.as_ref().is_none_or(|s| &v.service == s)
            && q.name.as_ref().is_none_or(|n| &v.name == n)
            && owner.is_none_or(|o| v.owner == o);
        if !keep {
            continue;
        }
        let d = dto(&st, v);
        let rot_ok = match q.rotation.as_deref() {
            None => true,
            Some("overdue") => d.rotation_status == "overdue",
            Some(_) => matches!(d.rotation_status, "due" | "overdue"),
        };
        if rot_ok {
            out.push(d);
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(CredentialList { credentials: out }))
}

#[utoipa::path(get, path = "/v1/credentials/{id}", tag = "credentials", responses((status = 200, body = CredentialDto), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> Result<Json<CredentialDto>, ApiError> {
    let id = parse_id(&id)?;
    Ok(Json(dto(&st, visible_view(&st, &caller, id)?)))
}

#[utoipa::path(patch, path = "/v1/credentials/{id}", tag = "credentials", request_body = UpdateCredential, responses((status = 200, body = CredentialDto)))]
pub async fn update(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    Body(req): Body<UpdateCredential>,
) -> Result<Json<CredentialDto>, ApiError> {
    let id = parse_id(&id)?;
    let expires_at_ms = match req.expires_at {
        None => None,
        Some(None) => Some(None),
        Some(Some(t)) => Some(Some(parse_time("expires_at", &t)?)),
    };
    let change = MetadataChange {
        name: req.name,
        rotate_every_days: req.rotate_every_days,
        expires_at_ms,
        is_default: req.default,
        description: req.description,
    };
    st.ledger.update(&ctx, &caller, id, change).await?;
    Ok(Json(dto(&st, visible_view(&st, &caller, id)?)))
}

#[utoipa::path(post, path = "/v1/credentials/{id}/rotate", tag = "credentials", request_body = RotateCredential, responses((status = 200, body = RotateResponse)))]
pub async fn rotate(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    Body(req): Body<RotateCredential>,
) -> Result<Json<RotateResponse>, ApiError> {
    let id = parse_id(&id)?;
    let version = st.ledger.rotate(&ctx, &caller, id, req.fields).await?;
    Ok(Json(RotateResponse {
        id: id.to_string(),
        version,
    }))
}

#[utoipa::path(delete, path = "/v1/credentials/{id}", tag = "credentials", responses((status = 200, body = CredentialDto)))]
pub async fn delete(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Result<Json<CredentialDto>, ApiError> {
    let id = parse_id(&id)?;
    st.ledger.delete(&ctx, &caller, id).await?;
    Ok(Json(dto(&st, visible_view(&st, &caller, id)?)))
}

#[utoipa::path(post, path = "/v1/credentials/{id}/restore", tag = "credentials", responses((status = 200, body = CredentialDto)))]
pub async fn restore(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Result<Json<CredentialDto>, ApiError> {
    let id = parse_id(&id)?;
    st.ledger.restore(&ctx, &caller, id).await?;
    Ok(Json(dto(&st, visible_view(&st, &caller, id)?)))
}

#[utoipa::path(post, path = "/v1/credentials/{id}/destroy", tag = "credentials", responses((status = 200, body = DestroyResponse)))]
pub async fn destroy(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Result<Json<DestroyResponse>, ApiError> {
    let id = parse_id(&id)?;
    let rotated = st.ledger.destroy(&ctx, &caller, id).await?;
    Ok(Json(DestroyResponse {
        id: id.to_string(),
        status: "destroyed",
        shred: if rotated {
            "complete"
        } else {
            "pending_master_key_rotation"
        },
    }))
}

#[utoipa::path(post, path = "/v1/credentials/{id}/verify", tag = "credentials", responses((status = 200, body = VerifyDto)))]
pub async fn verify(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Result<Json<VerifyDto>, ApiError> {
    let id = parse_id(&id)?;
    let r = st.ledger.verify(&ctx, &caller, id).await?;
    Ok(Json(VerifyDto {
        at: None,
        version: r.version,
        ok: r.ok,
        reason: r.reason,
        latency_ms: r.latency_ms,
    }))
}

#[utoipa::path(get, path = "/v1/credentials/{id}/versions", tag = "credentials", responses((status = 200, body = VersionList)))]
pub async fn versions(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> Result<Json<VersionList>, ApiError> {
    let id = parse_id(&id)?;
    let v = visible_view(&st, &caller, id)?;
    Ok(Json(VersionList {
        credential_id: id.to_string(),
        current: v.current_version,
        versions: projection::versions(st.ledger.store().proj(), caller.tenant, id)?
            .into_iter()
            .rev()
            .map(|x| VersionDto {
                version: x.version,
                created_at: crate::audit::rfc3339(x.created_at_ms),
                created_by: x.created_by.map(|p| p.to_string()),
                state: x.state,
            })
            .collect(),
    }))
}

#[utoipa::path(post, path = "/v1/credentials/{id}/grants", tag = "credentials", request_body = GrantRequest, responses((status = 201, body = CredentialDto)))]
pub async fn grant(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    Body(req): Body<GrantRequest>,
) -> Result<(StatusCode, Json<CredentialDto>), ApiError> {
    let id = parse_id(&id)?;
    let principal: Id = req
        .principal
        .parse()
        .map_err(|_| ApiError::invalid("principal", "principal must be a principal id"))?;
    st.ledger.grant(&ctx, &caller, id, principal).await?;
    Ok((
        StatusCode::CREATED,
        Json(dto(&st, visible_view(&st, &caller, id)?)),
    ))
}

#[utoipa::path(delete, path = "/v1/credentials/{id}/grants/{principal}", tag = "credentials", responses((status = 204)))]
pub async fn revoke_grant(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    Path((id, principal)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
    let principal = parse_id(&principal)?;
    st.ledger.revoke_grant(&ctx, &caller, id, principal).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/v1/credentials/{id}/usage", tag = "usage", responses((status = 200, body = UsageDto)))]
pub async fn usage(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> Result<Json<UsageDto>, ApiError> {
    let id = parse_id(&id)?;
    visible_view(&st, &caller, id)?;
    Ok(Json(
        projection::credential_usage(st.ledger.store().proj(), caller.tenant, id)?.into(),
    ))
}

fn resolve_response(r: crate::ledger::Resolution) -> ResolveResponse {
    ResolveResponse {
        credential_id: r.credential_id.map(|i| i.to_string()),
        version: r.version,
        source: crate::audit::source_str(r.source),
        template: r.template,
        fields: r
            .fields
            .0
            .iter()
            .map(|(k, v)| (k.clone(), v.expose().to_string()))
            .collect::<BTreeMap<_, _>>(),
    }
}

#[utoipa::path(post, path = "/v1/credentials/{id}/resolve", tag = "resolve", request_body = Option<ResolveById>, responses((status = 200, body = ResolveResponse)))]
pub async fn resolve_by_id(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<ResolveResponse>, ApiError> {
    let id = parse_id(&id)?;
    let req: ResolveById = if body.iter().all(u8::is_ascii_whitespace) {
        ResolveById::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                format!(
                    "the request body does not match this endpoint: {}",
                    super::error::sanitize_parser_message(&e.to_string())
                ),
            )
        })?
    };
    let version = req.version;
    let r = st
        .ledger
        .resolve(&ctx, &caller, ResolveTarget::Id { id, version })
        .await?;
    Ok(Json(resolve_response(r)))
}

#[utoipa::path(post, path = "/v1/resolve", tag = "resolve", request_body = ResolveService, responses((status = 200, body = ResolveResponse), (status = 404, body = ErrorBody)))]
pub async fn resolve_service(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    Body(req): Body<ResolveService>,
) -> Result<Json<ResolveResponse>, ApiError> {
    check_service(&req.service)?;
    let for_user = req
        .for_user
        .map(|u| {
            u.parse::<Id>()
                .map_err(|_| ApiError::invalid("for_user", "for_user must be a principal id"))
        })
        .transpose()?;
    let r = st
        .ledger
        .resolve(
            &ctx,
            &caller,
            ResolveTarget::Service {
                service: req.service,
                for_user,
            },
        )
        .await?;
    Ok(Json(resolve_response(r)))
}
