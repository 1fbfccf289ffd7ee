//! Webhook endpoints: create (the secret shown once when generated), list (never a URL's
//! path or a secret), delete. Admins of the tenant only; the rules are in
//! `domain::decide::webhooks`, delivery in `ledger::webhooks` and `webhook`.

use super::error::{ApiError, ErrorBody};
use super::AppState;
use crate::event::WebhookFormat;
use crate::http::extract::{Auth, Body, Ctx, IdPath};
use crate::ledger::webhooks::NewWebhook;
use crate::secret::SecretString;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// `http://` or `https://`; kept sealed (a URL may carry a token).
    #[schema(value_type = String)]
    pub url: SecretString,
    /// Any of `verify_failed`, `rotation_due`, `rotation_overdue`, `expiring`,
    /// `destroyed`, `access_denied_burst`.
    pub events: Vec<String>,
    /// The HMAC-SHA256 key (16 to 256 bytes); generated and returned once when absent.
    #[schema(value_type = Option<String>)]
    pub secret: Option<SecretString>,
    /// `json` (default) or `slack` (`{"text": "..."}`).
    pub format: Option<String>,
    /// How far ahead `expiring` looks (1 to 365 days; default 7).
    pub expiring_within_days: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedWebhook {
    pub id: String,
    /// The generated secret, shown this once (absent when the request gave one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct WebhookDto {
    pub id: String,
    /// The URL's scheme, host and port (its path is never shown).
    pub origin: String,
    pub events: Vec<String>,
    pub format: &'static str,
    pub expiring_within_days: u32,
    /// Created by a system admin: also hears ledger-wide events.
    pub ledger_wide: bool,
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct WebhookList {
    pub webhooks: Vec<WebhookDto>,
}

#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", request_body = CreateWebhook,
    responses((status = 201, body = CreatedWebhook), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
/// Creates a webhook of the caller's tenant (admins).
pub async fn create(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    Body(req): Body<CreateWebhook>,
) -> Result<
    (
        StatusCode,
        [(&'static str, &'static str); 1],
        Json<CreatedWebhook>,
    ),
    ApiError,
> {
    let format = match req.format.as_deref() {
        None | Some("json") => WebhookFormat::Json,
        Some("slack") => WebhookFormat::Slack,
        Some(_) => return Err(ApiError::invalid("format", "format must be json or slack")),
    };
    let (id, secret) = st
        .ledger
        .create_webhook(
            &ctx,
            &caller,
            NewWebhook {
                url: req.url,
                events: req.events,
                secret: req.secret,
                format,
                expiring_within_days: req.expiring_within_days,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        [("cache-control", "no-store")],
        Json(CreatedWebhook {
            id: id.to_string(),
            secret: secret.map(|s| s.expose().to_string()),
        }),
    ))
}

#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks",
    responses((status = 200, body = WebhookList), (status = 403, body = ErrorBody)))]
/// The webhooks of the caller's tenant (admins).
pub async fn list(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
) -> Result<Json<WebhookList>, ApiError> {
    let webhooks = st
        .ledger
        .webhooks(&ctx, &caller)
        .await?
        .into_iter()
        .map(|w| WebhookDto {
            id: w.id.to_string(),
            origin: w.origin,
            events: w.events,
            format: w.format.as_str(),
            expiring_within_days: w.expiring_within_days,
            ledger_wide: w.ledger_wide,
            created_at: crate::time::rfc3339(w.created_at_ms),
        })
        .collect();
    Ok(Json(WebhookList { webhooks }))
}

#[utoipa::path(delete, path = "/v1/webhooks/{id}", tag = "webhooks",
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Deletes a webhook of the caller's tenant (admins): no delivery starts after it.
pub async fn delete(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    IdPath(id): IdPath,
) -> Result<StatusCode, ApiError> {
    st.ledger.delete_webhook(&ctx, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
