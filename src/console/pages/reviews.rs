//! Reviews: rotations due and overdue, credentials expiring within N days, credentials
//! unused for N days, the usage summary by provider (the ledger's `usage_summary`, by
//! service or template), and the access review (`access.rs`: who can resolve each
//! credential and why, when each last did; grants unused for 90 days), each exportable
//! as CSV; a rotation or access review row also downloads as an evidence bundle (a
//! complete usage report of the credential over the window, `evidence`). Reviewers only
//! (the rules are `Reads::rotation_candidates`', `Reads::access_review`'s and
//! `Reads::usage_report`'s, which refuse and record others).

use super::access;
use super::credentials::rotation_cell;
use super::{download, html};
use crate::audit::csv_cell;
use crate::console::error::ConsoleError;
use crate::console::layout::{Nav, Page};
use crate::console::signed::Signed;
use crate::console::view;
use crate::console::ConsoleState;
use crate::domain::rotation::RotationStatus;
use crate::domain::summary::SummaryBy;
use crate::domain::CredStatus;
use crate::http::extract::Ctx;
use crate::ledger::RequestCtx;
use crate::projection::CredentialView;
use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct ReviewQuery {
    /// The window of "expiring within" and "unused for", in days (default 30).
    pub days: Option<u32>,
    /// Export: `rotation`, `expiring`, `unused`, `usage`, `access` or `unused-grants`.
    #[serde(default)]
    pub section: String,
    /// The usage summary by `service` (the default: by provider) or `template`.
    pub by: Option<String>,
    /// The page of the access review (from 0).
    pub apage: Option<usize>,
}

impl ReviewQuery {
    fn by(&self) -> SummaryBy {
        self.by
            .as_deref()
            .and_then(SummaryBy::parse)
            .unwrap_or(SummaryBy::Service)
    }
}

/// Which credentials the access review covers: `from`, at most `count`.
struct AccessSlice {
    from: usize,
    count: usize,
}

/// One row of a review table: a link, then the columns.
pub struct Line {
    pub id: String,
    pub name: String,
    pub cells: Vec<String>,
    pub class: &'static str,
}

pub struct Table {
    pub key: &'static str,
    pub title: &'static str,
    pub columns: Vec<&'static str>,
    pub lines: Vec<Line>,
    pub empty: &'static str,
    /// Lines left off the page (the CSV has them all).
    pub more: usize,
}

/// The most lines a table shows on the page.
const SHOWN: usize = 100;

#[derive(Template)]
#[template(path = "console/reviews.html")]
struct ReviewsPage {
    page: Page,
    days: u32,
    by: &'static str,
    tables: Vec<Table>,
    /// The access review's page, and whether there are earlier and later ones.
    apage: usize,
    aprev: bool,
    anext: bool,
    atotal: usize,
}

/// The review tables, and how many active credentials the access review can cover.
#[allow(
    clippy::too_many_lines,
    reason = "the review tables built in the order the page shows them, from one read each"
)]
async fn tables(
    st: &ConsoleState,
    ctx: &RequestCtx,
    signed: &Signed,
    days: u32,
    by: SummaryBy,
    slice: AccessSlice,
) -> Result<(Vec<Table>, usize), ConsoleError> {
    let ledger = st.ledger();
    let reads = ledger.reads();
    let catalog = view::Templates::of(ledger, signed.caller.tenant);
    let now = ledger.now_ms();
    let window = i64::from(days) * 86_400_000;
    let title = |t: &str| catalog.title(t);
    let mut rotation = Vec::new();
    for v in reads.rotation_candidates(ctx, &signed.caller).await? {
        let (cell, status) = rotation_cell(&v, now);
        if matches!(status, RotationStatus::Due | RotationStatus::Overdue) {
            rotation.push((
                v.rotation_due_ms().unwrap_or(0),
                Line {
                    id: v.id.to_string(),
                    name: v.name.clone(),
                    cells: vec![
                        title(&v.template),
                        cell.text,
                        view::time_or_dash(v.rotation_due_ms()),
                    ],
                    class: cell.class,
                },
            ));
        }
    }
    rotation.sort_by_key(|(d, _)| *d);
    let usage = reads.usage_list(&signed.caller).await?;
    let active = |s: &str| s == CredStatus::Active.as_str();
    let mut expiring: Vec<(i64, Line)> = usage
        .iter()
        .filter(|(v, _)| active(&v.status))
        .filter_map(|(v, _)| {
            let e = v.expires_at_ms?;
            (e - now <= window).then(|| {
                (
                    e,
                    Line {
                        id: v.id.to_string(),
                        name: v.name.clone(),
                        cells: vec![title(&v.template), view::time(e), view::relative(e, now)],
                        class: if e <= now { "bad" } else { "warn" },
                    },
                )
            })
        })
        .collect();
    expiring.sort_by_key(|(e, _)| *e);
    let mut unused: Vec<(i64, Line)> = usage
        .iter()
        .filter(|(v, _)| active(&v.status))
        .filter(|(v, u)| u.last_used_at_ms.unwrap_or(v.created_at_ms) < now - window)
        .map(|(v, u)| {
            (
                u.last_used_at_ms.unwrap_or(0),
                Line {
                    id: v.id.to_string(),
                    name: v.name.clone(),
                    cells: vec![
                        title(&v.template),
                        u.last_used_at_ms
                            .map_or_else(|| "never".into(), |t| view::relative(t, now)),
                        u.uses.to_string(),
                    ],
                    class: "",
                },
            )
        })
        .collect();
    unused.sort_by_key(|(t, _)| *t);
    let summary = reads
        .usage_summary(&signed.caller, by)
        .await?
        .into_iter()
        .map(|g| Line {
            id: String::new(),
            name: match by {
                SummaryBy::Template => title(&g.key),
                SummaryBy::Service => g.key.clone(),
            },
            cells: vec![
                g.count.to_string(),
                g.uses.to_string(),
                g.last_used_at_ms
                    .map_or_else(|| "never".into(), |t| view::relative(t, now)),
                g.failed_verifies.to_string(),
                g.overdue_rotations.to_string(),
            ],
            class: "",
        })
        .collect();
    let mut reviewed: Vec<&CredentialView> = usage
        .iter()
        .filter(|(v, _)| active(&v.status))
        .map(|(v, _)| v)
        .collect();
    reviewed.sort_by_key(|v| v.name.to_lowercase());
    let total = reviewed.len();
    let page: Vec<&CredentialView> = reviewed
        .into_iter()
        .skip(slice.from)
        .take(slice.count)
        .collect();
    let (access, unused_grants) = access::tables(st, ctx, signed, &page).await?;
    let tables = vec![
        Table {
            key: "rotation",
            title: "Rotation due or overdue",
            columns: vec!["Service", "Status", "Due"],
            lines: rotation.into_iter().map(|(_, l)| l).collect(),
            empty: "No rotation is due.",
            more: 0,
        },
        Table {
            key: "expiring",
            title: "Expiring within the window",
            columns: vec!["Service", "Expires", "When"],
            lines: expiring.into_iter().map(|(_, l)| l).collect(),
            empty: "Nothing expires within the window.",
            more: 0,
        },
        Table {
            key: "unused",
            title: "Unused for the window",
            columns: vec!["Service", "Last use", "Uses"],
            lines: unused.into_iter().map(|(_, l)| l).collect(),
            empty: "Every credential was used within the window.",
            more: 0,
        },
        Table {
            key: "usage",
            title: "Usage by provider",
            columns: vec!["Credentials", "Uses", "Last use", "Failed tests", "Overdue"],
            lines: summary,
            empty: "No credentials.",
            more: 0,
        },
        access,
        unused_grants,
    ];
    Ok((tables, total))
}

/// `GET /ui/reviews?days=N`.
pub async fn page(
    State(st): State<ConsoleState>,
    signed: Signed,
    Ctx(ctx): Ctx,
    Query(q): Query<ReviewQuery>,
) -> Result<Response, ConsoleError> {
    let days = q.days.unwrap_or(30).clamp(1, 3650);
    let apage = q.apage.unwrap_or(0);
    let slice = AccessSlice {
        from: apage.saturating_mul(access::PER_PAGE),
        count: access::PER_PAGE,
    };
    let (mut tables, atotal) = tables(&st, &ctx, &signed, days, q.by(), slice).await?;
    for t in &mut tables {
        if t.lines.len() > SHOWN {
            t.more = t.lines.len() - SHOWN;
            t.lines.truncate(SHOWN);
        }
    }
    html(ReviewsPage {
        page: Page::new(&signed, "Reviews", Nav::Reviews),
        days,
        by: q.by().as_str(),
        tables,
        apage,
        aprev: apage > 0,
        anext: (apage + 1).saturating_mul(access::PER_PAGE) < atotal,
        atotal,
    })
}

/// `GET /ui/reviews/export?section=…&days=N`: one review table as CSV.
pub async fn export(
    State(st): State<ConsoleState>,
    signed: Signed,
    Ctx(ctx): Ctx,
    Query(q): Query<ReviewQuery>,
) -> Result<Response, ConsoleError> {
    let days = q.days.unwrap_or(30).clamp(1, 3650);
    let slice = AccessSlice {
        from: 0,
        count: access::EXPORT_CAP,
    };
    let table = tables(&st, &ctx, &signed, days, q.by(), slice)
        .await?
        .0
        .into_iter()
        .find(|t| t.key == q.section)
        .ok_or_else(|| {
            ConsoleError::BadRequest(
                "section must be rotation, expiring, unused, usage, access or unused-grants".into(),
            )
        })?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut head = vec![
        "id",
        if table.key == "usage" {
            "provider"
        } else {
            "name"
        },
    ];
    head.extend(&table.columns);
    let _ = w.write_record(&head);
    for l in table.lines {
        let mut row = vec![l.id, l.name];
        row.extend(l.cells);
        let _ = w.write_record(row.into_iter().map(csv_cell));
    }
    Ok(download(
        "text/csv; charset=utf-8",
        &format!("review-{}.csv", table.key),
        w.into_inner().unwrap_or_default(),
    ))
}

#[derive(Deserialize)]
pub struct EvidenceQuery {
    /// The credential (id) the evidence is about.
    pub credential: String,
    /// The review window, in days back from now (default 30).
    pub days: Option<u32>,
}

/// `GET /ui/reviews/evidence?credential=ID&days=N`: the evidence bundle of an access
/// review or rotation report row, a complete usage report (`credledger-usage-report/v1`)
/// of the credential over the review window, which `credledger verify-bundle` checks
/// offline with the ledger's public key: a file an auditor hands to an outsider.
pub async fn evidence(
    State(st): State<ConsoleState>,
    signed: Signed,
    Ctx(ctx): Ctx,
    Query(q): Query<EvidenceQuery>,
) -> Result<Response, ConsoleError> {
    let id: crate::id::Id = q
        .credential
        .parse()
        .map_err(|_| ConsoleError::BadRequest("that is not a credential id".into()))?;
    let days = q.days.unwrap_or(30).clamp(1, 3650);
    let ledger = st.ledger();
    let from = ledger.now_ms() - i64::from(days) * 86_400_000;
    let report = ledger
        .reads()
        .review_evidence(&ctx, &signed.caller, id, from)
        .await?;
    let body = serde_json::to_vec_pretty(&report).unwrap_or_default();
    Ok(download(
        "application/json",
        &format!("evidence-{id}-{days}d.json"),
        body,
    ))
}
