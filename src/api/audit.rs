//! Reviewer endpoints: the audit query and streamed export, usage and its summary by
//! template or service, rotation compliance.
//!
//! Open to admins and auditors of the tenant (system admins and system auditors may add
//! `scope=system` for the ledger-wide stream); the rules are `domain::decide`'s, applied
//! by `Reads`. Nothing here returns a secret value.

use super::credentials::dto;
use super::dto::*;
use super::error::{ApiError, ErrorBody};
use super::{parse_time, AppState};
use crate::audit::{self, csv_cell, Filter};
use crate::domain::rotation::RotationStatus;
use crate::domain::summary::SummaryBy;
use crate::domain::AuditScope;
use crate::event::Outcome;
use crate::http::extract::{Auth, Ctx, IdPath, Params};
use crate::id::Id;
use axum::body::Body as HttpBody;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

#[derive(Deserialize, utoipa::IntoParams, Default)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// A credential id.
    pub credential: Option<String>,
    /// A principal id.
    pub actor: Option<String>,
    /// An action name, e.g. `used`, `rotated`, `use_denied`.
    pub action: Option<String>,
    /// `ok`, `denied` or `failed`.
    pub outcome: Option<String>,
    /// RFC 3339, inclusive.
    pub from: Option<String>,
    /// RFC 3339, inclusive.
    pub to: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1-1000 (default 100).
    pub limit: Option<usize>,
    /// `jsonl` or `csv` (export only).
    pub format: Option<String>,
    /// `tenant` (default), or `system` (alias `ledger`) for the ledger-wide stream: key
    /// rotations and failed authentications (system admins and system auditors only).
    pub scope: Option<String>,
}

fn filter(q: &AuditQuery) -> Result<(AuditScope, Filter), ApiError> {
    let scope = match q.scope.as_deref() {
        None | Some("tenant") => AuditScope::Tenant,
        Some("system" | "ledger") => AuditScope::System,
        Some(_) => {
            return Err(ApiError::invalid(
                "scope",
                "scope must be 'tenant' or 'system'",
            ))
        }
    };
    let id = |name: &str, v: &Option<String>| -> Result<Option<Id>, ApiError> {
        v.as_deref()
            .map(|s| {
                s.parse()
                    .map_err(|_| ApiError::invalid(name, format!("{name} must be an id")))
            })
            .transpose()
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            "limit must be between 1 and 1000",
        ));
    }
    let outcome = q
        .outcome
        .as_deref()
        .map(|o| {
            Outcome::parse(o)
                .ok_or_else(|| ApiError::invalid("outcome", "outcome must be ok, denied or failed"))
        })
        .transpose()?;
    if let Some(a) = &q.action {
        if !crate::event::Body::ACTIONS.contains(&a.as_str()) {
            let mut names: Vec<&str> = crate::event::Body::ACTIONS.to_vec();
            names.sort_unstable();
            names.dedup();
            return Err(ApiError::invalid(
                "action",
                format!("unknown action; one of: {}", names.join(", ")),
            ));
        }
    }
    let f = Filter {
        credential: id("credential", &q.credential)?,
        actor: id("actor", &q.actor)?,
        action: q.action.clone(),
        outcome,
        from_ms: q
            .from
            .as_deref()
            .map(|t| parse_time("from", t))
            .transpose()?,
        to_ms: q.to.as_deref().map(|t| parse_time("to", t)).transpose()?,
        cursor: q
            .cursor
            .as_deref()
            .map(|c| {
                c.parse()
                    .map_err(|_| ApiError::invalid("cursor", "cursor must be a next_cursor value"))
            })
            .transpose()?
            .unwrap_or(0),
        limit,
    };
    Ok((scope, f))
}

#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(AuditQuery), responses((status = 200, body = AuditPage), (status = 403, body = ErrorBody)))]
pub async fn query(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    Params(q): Params<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    if q.format.is_some() {
        return Err(ApiError::invalid(
            "format",
            "format is only for /v1/audit/export",
        ));
    }
    let (scope, f) = filter(&q)?;
    let page = st.ledger.reads().audit(&ctx, &caller, scope, f).await?;
    Ok(Json(AuditPage {
        events: page.events,
        next_cursor: page.next_cursor.map(|c| c.to_string()),
    }))
}

const CSV_COLUMNS: [&str; 11] = [
    "seq",
    "at",
    "action",
    "outcome",
    "actor",
    "actor_token",
    "credential_id",
    "tenant",
    "request_id",
    "remote_addr",
    "details",
];

fn csv_row(e: &audit::AuditEntry) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let details = e.details.to_string();
    let row = [
        e.seq.to_string(),
        e.at.clone(),
        e.action.to_string(),
        e.outcome.to_string(),
        e.actor.clone().unwrap_or_default(),
        e.actor_token.clone().unwrap_or_default(),
        e.credential_id.clone().unwrap_or_default(),
        e.tenant.clone().unwrap_or_default(),
        e.request_id.clone().unwrap_or_default(),
        e.remote_addr.clone().unwrap_or_default(),
        details,
    ]
    .map(csv_cell);
    let _ = w.write_record(&row);
    w.into_inner().unwrap_or_default()
}

#[utoipa::path(get, path = "/v1/audit/export", tag = "audit", params(AuditQuery), responses((status = 200, description = "JSON lines or CSV, streamed")))]
pub async fn export(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    Params(q): Params<AuditQuery>,
) -> Result<Response, ApiError> {
    let csv = match q.format.as_deref() {
        None | Some("jsonl") => false,
        Some("csv") => true,
        Some(_) => return Err(ApiError::invalid("format", "format must be jsonl or csv")),
    };
    let (scope, f) = filter(&AuditQuery { limit: None, ..q })?;
    let mut entries = st
        .ledger
        .reads()
        .audit_export(&ctx, &caller, scope, f)
        .await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(64);
    tokio::spawn(async move {
        if csv {
            let mut w = csv::Writer::from_writer(Vec::new());
            let _ = w.write_record(CSV_COLUMNS);
            if tx
                .send(Ok(w.into_inner().unwrap_or_default()))
                .await
                .is_err()
            {
                return;
            }
        }
        while let Some(entry) = entries.recv().await {
            let line = match entry {
                Ok(e) if csv => csv_row(&e),
                Ok(e) => {
                    let mut l = serde_json::to_vec(&e).unwrap_or_default();
                    l.push(b'\n');
                    l
                }
                Err(e) => {
                    tracing::error!(error = %e, "audit export failed mid-stream");
                    let _ = tx.send(Err(std::io::Error::other("export failed"))).await;
                    return;
                }
            };
            if tx.send(Ok(line)).await.is_err() {
                return;
            }
        }
    });
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    let content_type = if csv {
        "text/csv; charset=utf-8"
    } else {
        "application/x-ndjson"
    };
    let filename = if csv { "audit.csv" } else { "audit.jsonl" };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        HttpBody::from_stream(stream),
    )
        .into_response())
}

#[utoipa::path(get, path = "/v1/usage", tag = "usage", responses((status = 200, body = UsageList)))]
pub async fn usage_list(
    State(st): State<AppState>,
    Auth(caller): Auth,
) -> Result<Json<UsageList>, ApiError> {
    let mut out: Vec<CredentialUsage> = st
        .ledger
        .reads()
        .usage_list(&caller)
        .await?
        .into_iter()
        .map(|(v, usage)| CredentialUsage {
            credential_id: v.id.to_string(),
            name: v.name,
            service: v.service,
            usage: usage.into(),
        })
        .collect();
    out.sort_by(|a, b| b.usage.uses.cmp(&a.usage.uses).then(a.name.cmp(&b.name)));
    Ok(Json(UsageList { credentials: out }))
}

#[utoipa::path(get, path = "/v1/usage/principals/{id}", tag = "usage", responses((status = 200, body = UsageDto)))]
pub async fn principal_usage(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
    IdPath(id): IdPath,
) -> Result<Json<UsageDto>, ApiError> {
    let u = st.ledger.reads().principal_usage(&ctx, &caller, id).await?;
    Ok(Json(u.into()))
}

#[utoipa::path(get, path = "/v1/compliance/rotation", tag = "audit", responses((status = 200, body = RotationCompliance)))]
pub async fn rotation(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Ctx(ctx): Ctx,
) -> Result<Json<RotationCompliance>, ApiError> {
    let (mut overdue, mut due, mut unscheduled) = (Vec::new(), Vec::new(), Vec::new());
    for v in st.ledger.reads().rotation_candidates(&ctx, &caller).await? {
        let (d, status) = dto(&st, v);
        match status {
            RotationStatus::Overdue => overdue.push(d),
            RotationStatus::Due => due.push(d),
            RotationStatus::Unscheduled => unscheduled.push(d.id),
            RotationStatus::Ok => {}
        }
    }
    overdue.sort_by(|a, b| a.rotation_due_at.cmp(&b.rotation_due_at));
    due.sort_by(|a, b| a.rotation_due_at.cmp(&b.rotation_due_at));
    Ok(Json(RotationCompliance {
        checked_at: audit::rfc3339(st.ledger.now_ms()),
        overdue,
        due,
        unscheduled,
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SummaryQuery {
    /// `template` (default) or `service`.
    pub by: Option<String>,
}

#[utoipa::path(get, path = "/v1/usage/summary", tag = "usage", params(SummaryQuery), responses((status = 200, body = UsageSummary), (status = 422, body = ErrorBody)))]
/// The active credentials the caller may see, grouped by template or service: count,
/// uses, last use, failed connection tests, overdue rotations.
pub async fn usage_summary(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Params(q): Params<SummaryQuery>,
) -> Result<Json<UsageSummary>, ApiError> {
    let by = match q.by.as_deref() {
        None => SummaryBy::Template,
        Some(b) => SummaryBy::parse(b)
            .ok_or_else(|| ApiError::invalid("by", "by must be 'template' or 'service'"))?,
    };
    let groups = st
        .ledger
        .reads()
        .usage_summary(&caller, by)
        .await?
        .into_iter()
        .map(|g| SummaryGroupDto {
            key: g.key,
            count: g.count,
            uses: g.uses,
            last_used_at: g.last_used_at_ms.map(audit::rfc3339),
            failed_verifies: g.failed_verifies,
            overdue_rotations: g.overdue_rotations,
        })
        .collect();
    Ok(Json(UsageSummary {
        by: by.as_str(),
        groups,
    }))
}
