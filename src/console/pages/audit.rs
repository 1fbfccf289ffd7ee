//! The audit explorer: filters (credential, actor, action, outcome, time range) with
//! cursor paging, names for actors and credentials, row detail (remote address, request
//! id, sequence number), CSV/JSONL export of the current filter, a per-row inclusion
//! proof to download, and a checkpoint card (tree size, root, signed note, public key,
//! how to verify offline). Reviewers only (the ledger's rule, `Reads::audit`).

use super::{download, html};
use crate::audit::csv_cell;
use crate::audit::{AuditEntry, Filter};
use crate::console::error::ConsoleError;
use crate::console::layout::{Nav, Page};
use crate::console::signed::Signed;
use crate::console::ConsoleState;
use crate::domain::AuditScope;
use crate::event::{Body, Outcome};
use crate::http::extract::Ctx;
use crate::id::Id;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;

/// Rows per page.
pub const PAGE_SIZE: usize = 50;

#[derive(Deserialize, Default, Clone)]
pub struct AuditQuery {
    #[serde(default)]
    pub credential: String,
    #[serde(default)]
    pub actor: String,
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub outcome: String,
    /// `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM` (UTC), inclusive.
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub cursor: String,
    /// `tenant` (default) or `system`.
    #[serde(default)]
    pub scope: String,
    /// Export format: `csv` or `jsonl`.
    #[serde(default)]
    pub format: String,
}

pub struct Row {
    pub seq: u64,
    pub at: String,
    pub action: &'static str,
    pub outcome: &'static str,
    pub actor: String,
    pub actor_id: String,
    pub credential: String,
    pub credential_id: String,
    pub remote_addr: String,
    pub request_id: String,
    pub token: String,
    pub details: String,
}

pub struct Checkpoint {
    pub size: u64,
    pub root: String,
    pub note: String,
    pub key: String,
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    page: Page,
    q: AuditQuery,
    rows: Vec<Row>,
    next: Option<String>,
    actions: Vec<&'static str>,
    checkpoint: Checkpoint,
    export_csv: String,
    export_jsonl: String,
    problem: Option<String>,
}

/// A form time (`2026-03-01` or `2026-03-01T14:05`, UTC) as Unix ms; `end` makes a date
/// inclusive to its last millisecond.
fn parse_when(s: &str, end: bool) -> Option<i64> {
    let s = s.trim();
    let full = match s.len() {
        10 if end => format!("{s}T23:59:59.999Z"),
        10 => format!("{s}T00:00:00Z"),
        16 => format!("{s}:00Z"),
        _ => s.to_string(),
    };
    crate::time::parse_rfc3339(&full)
}

/// The ledger filter of a query (names are looked up in the caller's tenant).
fn filter(
    st: &ConsoleState,
    signed: &Signed,
    q: &AuditQuery,
    limit: usize,
) -> Result<(AuditScope, Filter), String> {
    let reads = st.ledger().reads();
    let credential = match q.credential.trim() {
        "" => None,
        s => Some(
            s.parse::<Id>()
                .ok()
                .or_else(|| reads.credential_named(&signed.caller, s))
                .ok_or_else(|| format!("No credential is named “{s}”"))?,
        ),
    };
    let actor = match q.actor.trim() {
        "" => None,
        s => Some(
            s.parse::<Id>()
                .ok()
                .or_else(|| reads.principal_named(&signed.caller, s))
                .ok_or_else(|| format!("No principal is named “{s}”"))?,
        ),
    };
    let outcome = match q.outcome.as_str() {
        "" => None,
        o => Some(Outcome::parse(o).ok_or("Choose an outcome from the list")?),
    };
    let action = match q.action.as_str() {
        "" => None,
        a if Body::ACTIONS.contains(&a) => Some(a.to_string()),
        _ => return Err("Choose an action from the list".into()),
    };
    let when = |s: &str, end: bool, what: &str| -> Result<Option<i64>, String> {
        match s.trim() {
            "" => Ok(None),
            v => parse_when(v, end)
                .map(Some)
                .ok_or_else(|| format!("Enter the {what} time as a date, e.g. 2027-01-31")),
        }
    };
    let scope = if q.scope == "system" {
        AuditScope::System
    } else {
        AuditScope::Tenant
    };
    Ok((
        scope,
        Filter {
            credential,
            actor,
            action,
            outcome,
            from_ms: when(&q.from, false, "from")?,
            to_ms: when(&q.to, true, "to")?,
            cursor: q.cursor.parse().unwrap_or(0),
            limit,
        },
    ))
}

fn link(base: &str, q: &AuditQuery, extra: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in [
        ("credential", q.credential.as_str()),
        ("actor", &q.actor),
        ("action", &q.action),
        ("outcome", &q.outcome),
        ("from", &q.from),
        ("to", &q.to),
        ("scope", &q.scope),
    ] {
        if !v.is_empty() {
            s.append_pair(k, v);
        }
    }
    for (k, v) in extra {
        s.append_pair(k, v);
    }
    format!("{base}?{}", s.finish())
}

fn rows(st: &ConsoleState, signed: &Signed, events: Vec<AuditEntry>) -> Vec<Row> {
    let ids = |f: fn(&AuditEntry) -> Option<&String>| -> Vec<Id> {
        events
            .iter()
            .filter_map(|e| f(e).and_then(|s| s.parse().ok()))
            .collect()
    };
    let names = st.ledger().reads().names(
        &signed.caller,
        &ids(|e| e.actor.as_ref()),
        &ids(|e| e.credential_id.as_ref()),
    );
    let name = |m: &std::collections::HashMap<Id, String>, s: &Option<String>| {
        s.as_deref()
            .and_then(|x| x.parse::<Id>().ok())
            .and_then(|i| m.get(&i).cloned())
            .unwrap_or_default()
    };
    events
        .into_iter()
        .map(|e| Row {
            seq: e.seq,
            at: e.at.replace('T', " ").trim_end_matches('Z').to_string(),
            action: e.action,
            outcome: e.outcome,
            actor: name(&names.principals, &e.actor),
            actor_id: e.actor.clone().unwrap_or_default(),
            credential: name(&names.credentials, &e.credential_id),
            credential_id: e.credential_id.clone().unwrap_or_default(),
            remote_addr: e.remote_addr.clone().unwrap_or_default(),
            request_id: e.request_id.clone().unwrap_or_default(),
            token: e.actor_token.clone().unwrap_or_default(),
            details: serde_json::to_string(&e.details).unwrap_or_default(),
        })
        .collect()
}

/// `GET /ui/audit`.
pub async fn page(
    State(st): State<ConsoleState>,
    signed: Signed,
    Ctx(ctx): Ctx,
    Query(q): Query<AuditQuery>,
) -> Result<Response, ConsoleError> {
    let reads = st.ledger().reads();
    let (events, next, problem) = match filter(&st, &signed, &q, PAGE_SIZE) {
        Ok((scope, f)) => {
            let page = reads.audit(&ctx, &signed.caller, scope, f).await?;
            (page.events, page.next_cursor, None)
        }
        Err(p) => (Vec::new(), None, Some(p)),
    };
    let (cp, key) = reads.reviewer_checkpoint(&ctx, &signed.caller).await?;
    let mut actions: Vec<&'static str> = Body::ACTIONS.to_vec();
    actions.sort_unstable();
    actions.dedup();
    html(AuditPage {
        page: Page::new(&signed, "Audit log", Nav::Audit),
        rows: rows(&st, &signed, events),
        next: next.map(|c| link("/ui/audit", &q, &[("cursor", &c.to_string())])),
        actions,
        checkpoint: Checkpoint {
            size: cp.tree_size,
            root: crate::proof::b64::encode(&cp.root),
            note: cp.note,
            key,
        },
        export_csv: link("/ui/audit/export", &q, &[("format", "csv")]),
        export_jsonl: link("/ui/audit/export", &q, &[("format", "jsonl")]),
        problem,
        q,
    })
}

const CSV_COLUMNS: [&str; 13] = [
    "seq",
    "at",
    "action",
    "outcome",
    "actor",
    "actor_name",
    "actor_token",
    "credential_id",
    "credential_name",
    "tenant",
    "request_id",
    "remote_addr",
    "details",
];

/// `GET /ui/audit/export?format=csv|jsonl&…`: every entry of the current filter.
pub async fn export(
    State(st): State<ConsoleState>,
    signed: Signed,
    Ctx(ctx): Ctx,
    Query(q): Query<AuditQuery>,
) -> Result<Response, ConsoleError> {
    let csv = match q.format.as_str() {
        "csv" => true,
        "jsonl" | "" => false,
        _ => {
            return Err(ConsoleError::BadRequest(
                "format must be csv or jsonl".into(),
            ))
        }
    };
    let (scope, f) = filter(&st, &signed, &q, 0).map_err(ConsoleError::BadRequest)?;
    let f = Filter { cursor: 0, ..f };
    let mut rx = st
        .ledger()
        .reads()
        .audit_export(&ctx, &signed.caller, scope, f)
        .await?;
    let mut entries = Vec::new();
    while let Some(e) = rx.recv().await {
        entries.push(e?);
    }
    if !csv {
        let mut out = Vec::new();
        for e in &entries {
            out.extend(serde_json::to_vec(e).unwrap_or_default());
            out.push(b'\n');
        }
        return Ok(download("application/x-ndjson", "audit.jsonl", out));
    }
    let tenant = entries.first().and_then(|e| e.tenant.clone());
    let rows = rows(&st, &signed, entries.clone());
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(CSV_COLUMNS);
    for (e, r) in entries.iter().zip(rows) {
        let _ = w.write_record(
            [
                e.seq.to_string(),
                e.at.clone(),
                e.action.to_string(),
                e.outcome.to_string(),
                r.actor_id,
                r.actor,
                r.token,
                r.credential_id,
                r.credential,
                e.tenant
                    .clone()
                    .or_else(|| tenant.clone())
                    .unwrap_or_default(),
                r.request_id,
                r.remote_addr,
                r.details,
            ]
            .map(csv_cell),
        );
    }
    Ok(download(
        "text/csv; charset=utf-8",
        "audit.csv",
        w.into_inner().unwrap_or_default(),
    ))
}

/// `GET /ui/audit/{seq}/proof`: the inclusion proof of one event (JSON download).
pub async fn proof(
    State(st): State<ConsoleState>,
    signed: Signed,
    Ctx(ctx): Ctx,
    Path(seq): Path<String>,
) -> Result<Response, ConsoleError> {
    let seq: u64 = seq
        .parse()
        .map_err(|_| ConsoleError::BadRequest("that is not a sequence number".into()))?;
    let p = st
        .ledger()
        .reads()
        .prove_event(&ctx, &signed.caller, seq)
        .await?;
    let body = serde_json::to_vec_pretty(&p).unwrap_or_default();
    Ok(download(
        "application/json",
        &format!("event-{seq}-proof.json"),
        body,
    ))
}
