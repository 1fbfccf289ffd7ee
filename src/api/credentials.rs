//! Credential endpoints: create, list, get, update (metadata and partial rotation),
//! rotate, lifecycle, the default of a service, grants, versions, connection tests
//! (also of unsaved input), usage, the access review and resolution.

use super::dto::*;
use super::error::{ApiError, ErrorBody};
use super::{parse_time, AppState};
use crate::domain::rotation::RotationStatus;
use crate::domain::Caller;
use crate::event::{GrantLevel, Grantee, MetadataChange, Owner};
use crate::http::extract::{Auth, Body, Ctx, IdPair, IdPath, NoStore, OptionalBody, Params};
use crate::id::Id;
use crate::ledger::{CreateInput, ResolveTarget};
use crate::projection::CredentialView;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The DTO of a view (with the template's secret field names) and its rotation status.
pub(super) fn dto(state: &AppState, v: CredentialView) -> (CredentialDto, RotationStatus) {
    let secret_fields = state
        .ledger
        .template(v.tenant, &v.template)
        .map(|t| {
            t.fields
                .iter()
                .filter(|f| f.is_secret())
                .map(|f| f.name.clone())
                .collect()
        })
        .unwrap_or_default();
    let id = v.id;
    let (mut d, status) = CredentialDto::from_view(v, secret_fields, state.ledger.now_ms());
    d.scheduled_verify = state.ledger.scheduled_verify_of(id).unwrap_or(true);
    (d, status)
}

/// The DTO of credential `id` as the caller may see it after a write.
async fn read_back(
    st: &AppState,
    ctx: &crate::ledger::RequestCtx,
    caller: &Caller,
    id: Id,
) -> Result<CredentialDto, ApiError> {
    let v = st
        .ledger
        .reads()
        .credential(ctx, caller, id, "credential_read")
        .await?;
    Ok(dto(st, v).0)
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

#[utoipa::path(post, path = "/v1/credentials", tag = "credentials", request_body = CreateCredential,
    responses((status = 201, body = CredentialDto), (status = 422, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    Body(req): Body<CreateCredential>,
) -> Result<(StatusCode, Json<CredentialDto>), ApiError> {
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
        Json(read_back(&st, &ctx, &caller, id).await?),
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
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
    Params(q): Params<ListQuery>,
) -> Result<Json<CredentialList>, ApiError> {
    let owner = parse_owner(&caller, q.owner.as_deref())?;
    let status = q.status.unwrap_or_else(|| "active".into());
    if !["active", "deleted", "destroyed", "all"].contains(&status.as_str()) {
        return Err(ApiError::invalid(
            "status",
            "status must be active, deleted, destroyed or all",
        ));
    }
    let rotation: Option<fn(RotationStatus) -> bool> = match q.rotation.as_deref() {
        None => None,
        Some("overdue") => Some(|s| s == RotationStatus::Overdue),
        Some("due") => Some(RotationStatus::needs_rotation),
        Some(_) => {
            return Err(ApiError::invalid(
                "rotation",
                "rotation must be 'due' or 'overdue'",
            ))
        }
    };
    let mut out = Vec::new();
    for v in st.ledger.reads().credentials(&caller).await? {
        let keep = (status == "all" || v.status == status)
            && q.template.as_ref().is_none_or(|t| &v.template == t)
            && q.service.as_ref().is_none_or(|s| &v.service == s)
            && q.name.as_ref().is_none_or(|n| &v.name == n)
            && owner.is_none_or(|o| v.owner == o);
        if !keep {
            continue;
        }
        let (d, rot) = dto(&st, v);
        if rotation.is_none_or(|f| f(rot)) {
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
    Ctx(ctx): Ctx,
    IdPath(id): IdPath,
) -> Result<Json<CredentialDto>, ApiError> {
    Ok(Json(read_back(&st, &ctx, &caller, id).await?))
}

#[utoipa::path(patch, path = "/v1/credentials/{id}", tag = "credentials", request_body = UpdateCredential, responses((status = 200, body = CredentialDto)))]
pub async fn update(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    IdPath(id): IdPath,
    Body(req): Body<UpdateCredential>,
) -> Result<Json<CredentialDto>, ApiError> {
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
    // `scheduled_verify` alone is its own event, without an (empty) metadata change.
    let schedule_only = req.scheduled_verify.is_some()
        && req.fields.is_none()
        && change == MetadataChange::default();
    if !schedule_only {
        st.ledger
            .update_credential(&ctx, &caller, id, req.fields, Some(change))
            .await?;
    }
    if let Some(on) = req.scheduled_verify {
        st.ledger
            .set_scheduled_verify(&ctx, &caller, id, on)
            .await?;
    }
    Ok(Json(read_back(&st, &ctx, &caller, id).await?))
}

#[utoipa::path(post, path = "/v1/credentials/{id}/default", tag = "credentials",
    responses((status = 200, body = CredentialDto), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
/// Makes the credential the default of its service (shared: the tenant default;
/// personal: the owner's selected profile), unsetting the previous one atomically.
pub async fn set_default(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    IdPath(id): IdPath,
) -> Result<Json<CredentialDto>, ApiError> {
    st.ledger.set_default(&ctx, &caller, id).await?;
    Ok(Json(read_back(&st, &ctx, &caller, id).await?))
}

#[utoipa::path(post, path = "/v1/credentials/{id}/rotate", tag = "credentials", request_body = RotateCredential, responses((status = 200, body = RotateResponse)))]
pub async fn rotate(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    IdPath(id): IdPath,
    Body(req): Body<RotateCredential>,
) -> Result<Json<RotateResponse>, ApiError> {
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
    IdPath(id): IdPath,
) -> Result<Json<CredentialDto>, ApiError> {
    st.ledger.delete(&ctx, &caller, id).await?;
    Ok(Json(read_back(&st, &ctx, &caller, id).await?))
}

#[utoipa::path(post, path = "/v1/credentials/{id}/restore", tag = "credentials", responses((status = 200, body = CredentialDto)))]
pub async fn restore(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    IdPath(id): IdPath,
) -> Result<Json<CredentialDto>, ApiError> {
    st.ledger.restore(&ctx, &caller, id).await?;
    Ok(Json(read_back(&st, &ctx, &caller, id).await?))
}

#[utoipa::path(post, path = "/v1/credentials/{id}/destroy", tag = "credentials", responses((status = 200, body = DestroyResponse)))]
pub async fn destroy(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    IdPath(id): IdPath,
) -> Result<Json<DestroyResponse>, ApiError> {
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
    IdPath(id): IdPath,
) -> Result<Json<VerifyDto>, ApiError> {
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
    Ctx(ctx): Ctx,
    IdPath(id): IdPath,
) -> Result<Json<VersionList>, ApiError> {
    let (v, versions) = st
        .ledger
        .reads()
        .versions(&ctx, &caller, id, "versions_read")
        .await?;
    Ok(Json(VersionList {
        credential_id: id.to_string(),
        current: v.current_version,
        versions: versions
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
    IdPath(id): IdPath,
    Body(req): Body<GrantRequest>,
) -> Result<(StatusCode, Json<CredentialDto>), ApiError> {
    let parse = |field: &str, v: &str| {
        v.parse::<Id>()
            .map_err(|_| ApiError::invalid(field, format!("{field} must be a {field} id")))
    };
    let grantee = match (req.principal.as_deref(), req.group.as_deref()) {
        (Some(p), None) => Grantee::Principal(parse("principal", p)?),
        (None, Some(g)) => Grantee::Group(parse("group", g)?),
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "group",
                "give either principal or group, not both",
            ))
        }
        (None, None) => {
            return Err(ApiError::invalid(
                "principal",
                "give the principal (or group) to grant to",
            ))
        }
    };
    let level = match req.level.as_deref() {
        None => GrantLevel::Use,
        Some(l) => GrantLevel::parse(l)
            .ok_or_else(|| ApiError::invalid("level", "level must be use, manage or admin"))?,
    };
    st.ledger
        .grant_to(&ctx, &caller, id, grantee, level)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(read_back(&st, &ctx, &caller, id).await?),
    ))
}

#[utoipa::path(delete, path = "/v1/credentials/{id}/grants/{principal}", tag = "credentials", responses((status = 204)))]
/// Revokes the grant to a principal or a group (`{principal}` is either's id).
pub async fn revoke_grant(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    IdPair(id, principal): IdPair,
) -> Result<StatusCode, ApiError> {
    st.ledger.revoke_grant(&ctx, &caller, id, principal).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/v1/credentials/{id}/usage", tag = "usage", responses((status = 200, body = UsageDto)))]
pub async fn usage(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    IdPath(id): IdPath,
) -> Result<Json<UsageDto>, ApiError> {
    let u = st
        .ledger
        .reads()
        .credential_usage(&ctx, &caller, id)
        .await?;
    Ok(Json(u.into()))
}

fn resolve_response(r: crate::ledger::Resolution) -> NoStore<Json<ResolveResponse>> {
    NoStore(Json(ResolveResponse {
        credential_id: r.credential_id.map(|i| i.to_string()),
        version: r.version,
        source: crate::audit::source_str(r.source),
        template: r.template,
        fields: r
            .fields
            .0
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), crate::secret::json::raw(v)?)))
            .collect::<BTreeMap<_, _>>(),
    }))
}

#[utoipa::path(post, path = "/v1/credentials/{id}/resolve", tag = "resolve", request_body = Option<ResolveById>, responses((status = 200, body = ResolveResponse)))]
pub async fn resolve_by_id(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    IdPath(id): IdPath,
    OptionalBody(req): OptionalBody<ResolveById>,
) -> Result<NoStore<Json<ResolveResponse>>, ApiError> {
    let version = req.version;
    let r = st
        .ledger
        .resolve(&ctx, &caller, ResolveTarget::Id { id, version })
        .await?;
    Ok(resolve_response(r))
}

#[utoipa::path(post, path = "/v1/resolve", tag = "resolve", request_body = ResolveService, responses((status = 200, body = ResolveResponse), (status = 404, body = ErrorBody)))]
pub async fn resolve_service(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    Body(req): Body<ResolveService>,
) -> Result<NoStore<Json<ResolveResponse>>, ApiError> {
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
    Ok(resolve_response(r))
}

#[utoipa::path(post, path = "/v1/verify", tag = "credentials", request_body = VerifyInput,
    responses((status = 200, body = VerifyInputDto), (status = 422, body = ErrorBody), (status = 409, body = ErrorBody)))]
/// Test before save: runs the template's connection test on unsaved input. Records a
/// `verified` event without a credential (the outcome only); stores nothing else.
pub async fn verify_input(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    Body(req): Body<VerifyInput>,
) -> Result<Json<VerifyInputDto>, ApiError> {
    let out = st
        .ledger
        .verify_input(&ctx, &caller, &req.template, &req.fields)
        .await?;
    Ok(Json(VerifyInputDto {
        ok: out.ok,
        reason: out.reason,
        latency_ms: out.latency_ms,
    }))
}
