//! Reviews: rotations due and overdue, credentials expiring within N days, credentials
//! unused for N days, usage by provider, each exportable as CSV. Reviewers only (the
//! rule is `Reads::rotation_candidates`'s, which refuses and records others).
//!
//! The access review (who can resolve each credential and why) comes from the ledger's
//! access rule once it exists; until then the page says so.

use super::credentials::rotation_cell;
use super::{download, html};
use crate::audit::csv_cell;
use crate::console::error::ConsoleError;
use crate::console::layout::{Nav, Page};
use crate::console::signed::Signed;
use crate::console::view;
use crate::console::ConsoleState;
use crate::domain::rotation::RotationStatus;
use crate::domain::CredStatus;
use crate::http::extract::Ctx;
use crate::ledger::RequestCtx;
use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize, Default)]
pub struct ReviewQuery {
    /// The window of "expiring within" and "unused for", in days (default 30).
    pub days: Option<u32>,
    /// Export: `rotation`, `expiring`, `unused` or `usage`.
    #[serde(default)]
    pub section: String,
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
}

#[derive(Template)]
#[template(path = "console/reviews.html")]
struct ReviewsPage {
    page: Page,
    days: u32,
    tables: Vec<Table>,
}

async fn tables(
    st: &ConsoleState,
    ctx: &RequestCtx,
    signed: &Signed,
    days: u32,
) -> Result<Vec<Table>, ConsoleError> {
    let ledger = st.ledger();
    let reads = ledger.reads();
    let catalog = ledger.catalog();
    let now = ledger.now_ms();
    let window = i64::from(days) * 86_400_000;
    let title = |t: &str| {
        catalog
            .get(t)
            .map_or_else(|_| t.to_string(), |t| t.title.clone())
    };
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
    #[derive(Default)]
    struct Sum {
        count: u64,
        uses: u64,
        last: Option<i64>,
        failed: u64,
        overdue: u64,
    }
    let mut by: BTreeMap<String, Sum> = BTreeMap::new();
    for (v, u) in usage.iter().filter(|(v, _)| active(&v.status)) {
        let s = by.entry(v.template.clone()).or_default();
        s.count += 1;
        s.uses += u.uses;
        s.last = s.last.max(u.last_used_at_ms);
        s.failed += u64::from(v.last_verified.as_ref().is_some_and(|l| !l.ok));
        s.overdue += u64::from(rotation_cell(v, now).1 == RotationStatus::Overdue);
    }
    let summary = by
        .into_iter()
        .map(|(t, s)| Line {
            id: String::new(),
            name: title(&t),
            cells: vec![
                s.count.to_string(),
                s.uses.to_string(),
                s.last
                    .map_or_else(|| "never".into(), |t| view::relative(t, now)),
                s.failed.to_string(),
                s.overdue.to_string(),
            ],
            class: "",
        })
        .collect();
    Ok(vec![
        Table {
            key: "rotation",
            title: "Rotation due or overdue",
            columns: vec!["Service", "Status", "Due"],
            lines: rotation.into_iter().map(|(_, l)| l).collect(),
            empty: "No rotation is due.",
        },
        Table {
            key: "expiring",
            title: "Expiring within the window",
            columns: vec!["Service", "Expires", "When"],
            lines: expiring.into_iter().map(|(_, l)| l).collect(),
            empty: "Nothing expires within the window.",
        },
        Table {
            key: "unused",
            title: "Unused for the window",
            columns: vec!["Service", "Last use", "Uses"],
            lines: unused.into_iter().map(|(_, l)| l).collect(),
            empty: "Every credential was used within the window.",
        },
        Table {
            key: "usage",
            title: "Usage by provider",
            columns: vec![
                "Credentials",
                "Uses",
                "Last use",
                "Last test failed",
                "Overdue",
            ],
            lines: summary,
            empty: "No credentials.",
        },
    ])
}

/// `GET /ui/reviews?days=N`.
pub async fn page(
    State(st): State<ConsoleState>,
    signed: Signed,
    Ctx(ctx): Ctx,
    Query(q): Query<ReviewQuery>,
) -> Result<Response, ConsoleError> {
    let days = q.days.unwrap_or(30).clamp(1, 3650);
    let tables = tables(&st, &ctx, &signed, days).await?;
    html(ReviewsPage {
        page: Page::new(&signed, "Reviews", Nav::Reviews),
        days,
        tables,
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
    let table = tables(&st, &ctx, &signed, days)
        .await?
        .into_iter()
        .find(|t| t.key == q.section)
        .ok_or_else(|| {
            ConsoleError::BadRequest("section must be rotation, expiring, unused or usage".into())
        })?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut head = vec!["id", "name"];
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
