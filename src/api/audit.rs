//! Reviewer endpoints: the audit query and streamed export, usage, rotation compliance.
//!
//! Open to admins and auditors of the tenant (system admins may add `scope=ledger` for
//! ledger-wide events). Nothing here returns a secret value.

use super::auth::Auth;
use super::credentials::{can_see, dto};
use super::dto::*;
use super::error::{ApiError, ErrorBody};
use super::{parse_id, parse_time, AppState};
use crate::audit::{self, Filter};
use crate::domain::Caller;
use crate::event::{Outcome, Role};
use crate::id::Id;
use crate::projection;
use axum::body::Body as HttpBody;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

#[derive(Deserialize, utoipa::IntoParams, Default)]
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
    /// `ledger` for ledger-wide events (system admins only).
    pub scope: Option<String>,
}

fn require_reviewer(caller: &Caller) -> Result<(), ApiError> {
    if matches!(caller.role, Role::Admin | Role::Auditor) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "the audit log needs the admin or auditor role",
        ))
    }
}

fn filter(caller: &Caller, q: &AuditQuery) -> Result<(Id, Filter), ApiError> {
    require_reviewer(caller)?;
    let tenant = match q.scope.as_deref() {
        None | Some("tenant") => caller.tenant,
        Some("ledger") if caller.system_admin => Id::NIL,
        Some("ledger") => return Err(ApiError::forbidden("scope=ledger needs a system admin")),
        Some(_) => {
            return Err(ApiError::invalid(
                "scope",
                "scope must be 'tenant' or 'ledger'",
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
            return Err(ApiError::invalid(
                "action",
                format!(
                    "unknown action; one of: {}",
                    crate::event::Body::ACTIONS.join(", ")
                ),
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
    Ok((tenant, f))
}

fn query_params(
    q: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<AuditQuery, ApiError> {
    q.map(|Query(q)| q)
        .map_err(|e| ApiError::bad_request(e.body_text()))
}

#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(AuditQuery), responses((status = 200, body = AuditPage), (status = 403, body = ErrorBody)))]
pub async fn query(
    State(st): State<AppState>,
    Auth(caller): Auth,
    q: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AuditPage>, ApiError> {
    let q = query_params(q)?;
    if q.format.is_some() {
        return Err(ApiError::invalid(
            "format",
            "format is only for /v1/audit/export",
        ));
    }
    let (tenant, f) = filter(&caller, &q)?;
    let ledger = st.ledger.clone();
    let page = tokio::task::spawn_blocking(move || audit::query(ledger.store(), tenant, &f))
        .await
        .map_err(|_| {
            ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "audit query failed",
            )
        })??;
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
    ];
    let _ = w.write_record(&row);
    w.into_inner().unwrap_or_default()
}

#[utoipa::path(get, path = "/v1/audit/export", tag = "audit", params(AuditQuery), responses((status = 200, description = "JSON lines or CSV, streamed")))]
pub async fn export(
    State(st): State<AppState>,
    Auth(caller): Auth,
    q: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query_params(q)?;
    let csv = match q.format.as_deref() {
        None | Some("jsonl") => false,
        Some("csv") => true,
        Some(_) => return Err(ApiError::invalid("format", "format must be jsonl or csv")),
    };
    let (tenant, mut f) = filter(&caller, &AuditQuery { limit: None, ..q })?;
    f.limit = 0;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(64);
    let ledger = st.ledger.clone();
    tokio::task::spawn_blocking(move || {
        if csv {
            let mut w = csv::Writer::from_writer(Vec::new());
            let _ = w.write_record(CSV_COLUMNS);
            if tx
                .blocking_send(Ok(w.into_inner().unwrap_or_default()))
                .is_err()
            {
                return;
            }
        }
        let result = audit::scan(ledger.store(), tenant, &f, |event| {
            let entry = audit::entry(&event);
            let line = if csv {
                csv_row(&entry)
            } else {
                let mut l = serde_json::to_vec(&entry).unwrap_or_default();
                l.push(b'\n');
                l
            };
            tx.blocking_send(Ok(line)).is_ok()
        });
        if let Err(e) = result {
            tracing::error!(error = %e, "audit export failed mid-stream");
            let _ = tx.blocking_send(Err(std::io::Error::other("export failed")));
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
    let proj = st.ledger.store().proj();
    let mut out = Vec::new();
    for v in projection::credentials(proj, caller.tenant) {
        let v = v?;
        if !can_see(&caller, &v) {
            continue;
        }
        let usage = projection::credential_usage(proj, caller.tenant, v.id)?;
        out.push(CredentialUsage {
            credential_id: v.id.to_string(),
            name: v.name,
            service: v.service,
            usage: usage.into(),
        });
    }
    out.sort_by(|a, b| b.usage.uses.cmp(&a.usage.uses).then(a.name.cmp(&b.name)));
    Ok(Json(UsageList { credentials: out }))
}

#[utoipa::path(get, path = "/v1/usage/principals/{id}", tag = "usage", responses((status = 200, body = UsageDto)))]
pub async fn principal_usage(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> Result<Json<UsageDto>, ApiError> {
    let id = parse_id(&id)?;
    if id != caller.principal {
        require_reviewer(&caller)?;
    }
    if !st.ledger.with_state(|s| {
        s.principals
            .get(&id)
            .is_some_and(|p| p.tenant == caller.tenant)
    }) {
        return Err(ApiError::not_found("principal"));
    }
    Ok(Json(
        projection::principal_usage(st.ledger.store().proj(), caller.tenant, id)?.into(),
    ))
}

#[utoipa::path(get, path = "/v1/compliance/rotation", tag = "audit", responses((status = 200, body = RotationCompliance)))]
pub async fn rotation(
    State(st): State<AppState>,
    Auth(caller): Auth,
) -> Result<Json<RotationCompliance>, ApiError> {
    require_reviewer(&caller)?;
    let (mut overdue, mut due, mut unscheduled) = (Vec::new(), Vec::new(), Vec::new());
    for v in projection::credentials(st.ledger.store().proj(), caller.tenant) {
        let v = v?;
        if v.status != "active" {
            continue;
        }
        let d = dto(&st, v);
        match d.rotation_status {
            "overdue" => overdue.push(d),
            "due" => due.push(d),
            "none" => unscheduled.push(d.id),
            _ => {}
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
