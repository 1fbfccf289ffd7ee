//! Group endpoints: create and list groups, add and remove members. Credentials are
//! granted to a group with `POST /v1/credentials/{id}/grants {"group"}`.

use super::dto::*;
use super::error::{ApiError, ErrorBody};
use super::AppState;
use crate::http::extract::{Auth, Body, Ctx, IdPair, IdPath};
use crate::id::Id;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

#[utoipa::path(post, path = "/v1/groups", tag = "groups", request_body = CreateGroup,
    responses((status = 201, body = Created), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
/// Creates a group in the caller's tenant (admins).
pub async fn create(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    Body(req): Body<CreateGroup>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let id = st.ledger.create_group(&ctx, &caller, &req.name).await?;
    Ok((StatusCode::CREATED, Json(Created { id: id.to_string() })))
}

#[utoipa::path(get, path = "/v1/groups", tag = "groups", responses((status = 200, body = GroupList)))]
/// The groups the caller may list: all of the tenant's for admins, editors and auditors;
/// the caller's own for others.
pub async fn list(State(st): State<AppState>, Auth(caller): Auth) -> Json<GroupList> {
    let groups = st
        .ledger
        .reads()
        .groups(&caller)
        .into_iter()
        .map(|g| GroupDto {
            id: g.id.to_string(),
            name: g.name,
            members: g.members.iter().map(Id::to_string).collect(),
        })
        .collect();
    Json(GroupList { groups })
}

#[utoipa::path(post, path = "/v1/groups/{id}/members", tag = "groups", request_body = GroupMember,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
/// Adds a principal to the group (admins); the next resolve sees it.
pub async fn add_member(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    IdPath(group): IdPath,
    Body(req): Body<GroupMember>,
) -> Result<StatusCode, ApiError> {
    let principal: Id = req
        .principal
        .parse()
        .map_err(|_| ApiError::invalid("principal", "principal must be a principal id"))?;
    st.ledger
        .add_group_member(&ctx, &caller, group, principal)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/v1/groups/{id}/members/{principal}", tag = "groups",
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Removes a principal from the group (admins); the next resolve no longer sees it.
pub async fn remove_member(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    IdPair(group, principal): IdPair,
) -> Result<StatusCode, ApiError> {
    st.ledger
        .remove_group_member(&ctx, &caller, group, principal)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
