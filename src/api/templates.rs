//! Template endpoints: the builtin templates and the tenant's own, listed together; a
//! tenant's admins define, redefine and delete its templates at run time.

use super::error::{ApiError, ErrorBody};
use super::AppState;
use crate::http::extract::{Auth, Body, Ctx};
use crate::ledger::TemplateRef;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

/// The listing line of a template (its `category` when the template has one).
fn summary(t: &TemplateRef) -> Value {
    let full = serde_json::to_value(&**t).unwrap_or(Value::Null);
    json!({
        "name": t.name,
        "title": t.title,
        "description": t.description,
        "verifiable": t.verify.is_some(),
        "builtin": t.is_builtin(),
        "category": full.get("category").cloned().unwrap_or(Value::Null),
    })
}

/// The full definition, with `builtin` added.
fn full(t: &TemplateRef) -> Result<Value, ApiError> {
    let mut v = serde_json::to_value(&**t).map_err(|e| ApiError::internal("template", &e))?;
    v["builtin"] = json!(t.is_builtin());
    Ok(v)
}

#[utoipa::path(get, path = "/v1/templates", tag = "templates", responses((status = 200)))]
/// The builtin templates, then the tenant's own.
pub async fn list(State(st): State<AppState>, Auth(caller): Auth) -> Json<Value> {
    let list: Vec<Value> = st
        .ledger
        .templates(caller.tenant)
        .iter()
        .map(summary)
        .collect();
    Json(json!({ "templates": list }))
}

#[utoipa::path(get, path = "/v1/templates/{name}", tag = "templates", responses((status = 200), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let t = st
        .ledger
        .template(caller.tenant, &name)
        .map_err(|_| ApiError::not_found("template"))?;
    Ok(Json(full(&t)?))
}

#[utoipa::path(post, path = "/v1/templates", tag = "templates", request_body = Object,
    responses((status = 201), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
/// Defines a tenant template (admins): the body is a definition in the format of
/// `schemas/templates/`, checked as the builtin ones are; a builtin or defined name is a
/// conflict.
pub async fn create(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    Body(def): Body<Value>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let name = st
        .ledger
        .define_template(&ctx, &caller, None, &def.to_string(), false)
        .await?;
    let t = st.ledger.template(caller.tenant, &name)?;
    Ok((StatusCode::CREATED, Json(full(&t)?)))
}

#[utoipa::path(put, path = "/v1/templates/{name}", tag = "templates", request_body = Object,
    responses((status = 200), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
/// Defines or redefines the tenant template `name` (admins).
pub async fn put(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    Path(name): Path<String>,
    Body(def): Body<Value>,
) -> Result<Json<Value>, ApiError> {
    let name = st
        .ledger
        .define_template(&ctx, &caller, Some(&name), &def.to_string(), true)
        .await?;
    let t = st.ledger.template(caller.tenant, &name)?;
    Ok(Json(full(&t)?))
}

#[utoipa::path(delete, path = "/v1/templates/{name}", tag = "templates",
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
/// Deletes a tenant template that no credential uses (admins).
pub async fn delete(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    st.ledger.delete_template(&ctx, &caller, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
