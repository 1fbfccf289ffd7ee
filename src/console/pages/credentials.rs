//! The credential manager (`GET /ui/`): the credentials the caller's list shows, grouped
//! by category, with their identifying public fields, last connection test, rotation,
//! expiry, version and use; searched, filtered and paginated.

use super::html;
use crate::console::error::ConsoleError;
use crate::console::layout::{Nav, Page};
use crate::console::signed::Signed;
use crate::console::view::{self, category_of, category_rank, category_title, Templates};
use crate::console::ConsoleState;
use crate::domain::rotation::{self, RotationStatus};
use crate::event::Owner;
use crate::id::Id;
use crate::projection::CredentialView;
use crate::template::FieldType;
use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

/// Rows per page.
pub const PAGE_SIZE: usize = 50;

/// The list's filters, as query parameters.
#[derive(Deserialize, Default, Clone)]
pub struct ListQuery {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub template: String,
    /// `` (anyone), `tenant` (shared) or `me`.
    #[serde(default)]
    pub owner: String,
    /// `active` (default), `deleted`, `destroyed` or `all`.
    #[serde(default)]
    pub status: String,
    /// `` (any), `ok`, `failed`, `never` (tested), `due` (rotation), `expired`.
    #[serde(default)]
    pub health: String,
    #[serde(default)]
    pub page: Option<usize>,
}

/// A cell with a style class.
pub struct Cell {
    pub class: &'static str,
    pub text: String,
    pub title: String,
}

pub struct Row {
    pub id: String,
    pub name: String,
    pub template: String,
    pub owner: String,
    pub status: String,
    pub default: bool,
    pub fields: Vec<(String, String)>,
    pub test: Cell,
    pub rotation: Cell,
    pub expiry: Cell,
    pub version: u32,
    pub uses: u64,
    pub last_use: String,
}

pub struct Group {
    pub title: &'static str,
    pub rows: Vec<Row>,
}

#[derive(Template)]
#[template(path = "console/credentials.html")]
struct ListPage {
    page: Page,
    groups: Vec<Group>,
    total: usize,
    first: usize,
    last: usize,
    prev: Option<String>,
    next: Option<String>,
    q: ListQuery,
    templates: Vec<(String, String)>,
}

/// The fields that identify a credential in a list: its public text and select values
/// in template order (not yes/no switches), at most three.
pub fn identifying_fields(catalog: &Templates, v: &CredentialView) -> Vec<(String, String)> {
    let Some(t) = catalog.get(&v.template) else {
        return v
            .public
            .iter()
            .take(3)
            .map(|(k, x)| (k.clone(), x.clone()))
            .collect();
    };
    t.fields
        .iter()
        .filter(|f| !f.is_secret())
        .filter(|f| match f.field_type {
            FieldType::Text => true,
            FieldType::Select => f.options.iter().any(|o| o != "true" && o != "false"),
            FieldType::Secret | FieldType::Json | FieldType::File => false,
        })
        .filter_map(|f| {
            v.public
                .get(&f.name)
                .map(|x| (f.label().to_string(), x.clone()))
        })
        .take(3)
        .collect()
}

/// The last connection test as a cell.
pub fn test_cell(v: &CredentialView, now: i64) -> Cell {
    match &v.last_verified {
        None => Cell {
            class: "muted",
            text: "never tested".into(),
            title: String::new(),
        },
        Some(l) if l.ok => Cell {
            class: "ok",
            text: format!("✓ ok {}", view::relative(l.at_ms, now)),
            title: view::time(l.at_ms),
        },
        Some(l) => Cell {
            class: "bad",
            text: format!("✗ failed {}: {}", view::relative(l.at_ms, now), l.reason),
            title: view::time(l.at_ms),
        },
    }
}

/// The rotation schedule as a cell (the rule is `domain::rotation`).
pub fn rotation_cell(v: &CredentialView, now: i64) -> (Cell, RotationStatus) {
    let due = rotation::due_at(v.rotated_at_ms, v.rotate_every_days);
    let status = rotation::status(due, now);
    let when = due.map(|d| view::relative(d, now)).unwrap_or_default();
    let (class, text) = match status {
        RotationStatus::Unscheduled => ("muted", "no schedule".to_string()),
        RotationStatus::Ok => ("ok", format!("due {when}")),
        RotationStatus::Due => ("warn", format!("due {when}")),
        RotationStatus::Overdue => ("bad", format!("overdue (was due {when})")),
    };
    (
        Cell {
            class,
            text,
            title: view::time_or_dash(due),
        },
        status,
    )
}

/// The expiry as a cell.
pub fn expiry_cell(v: &CredentialView, now: i64) -> Cell {
    match v.expires_at_ms {
        None => Cell {
            class: "muted",
            text: "—".into(),
            title: String::new(),
        },
        Some(e) if e <= now => Cell {
            class: "bad",
            text: format!("expired {}", view::relative(e, now)),
            title: view::time(e),
        },
        Some(e) => Cell {
            class: if e - now < 7 * 86_400_000 { "warn" } else { "" },
            text: format!("expires {}", view::relative(e, now)),
            title: view::time(e),
        },
    }
}

fn keep(q: &ListQuery, me: Id, v: &CredentialView, now: i64) -> bool {
    let status = if q.status.is_empty() {
        "active"
    } else {
        &q.status
    };
    let needle = q.q.trim().to_lowercase();
    (status == "all" || v.status == status)
        && (q.template.is_empty() || v.template == q.template)
        && match q.owner.as_str() {
            "tenant" => v.owner == Owner::Tenant,
            "me" => v.owner == Owner::Principal(me),
            _ => true,
        }
        && (needle.is_empty() || v.name.to_lowercase().contains(&needle))
        && match q.health.as_str() {
            "ok" => v.last_verified.as_ref().is_some_and(|l| l.ok),
            "failed" => v.last_verified.as_ref().is_some_and(|l| !l.ok),
            "never" => v.last_verified.is_none(),
            "due" => rotation::status(rotation::due_at(v.rotated_at_ms, v.rotate_every_days), now)
                .needs_rotation(),
            "expired" => v.expires_at_ms.is_some_and(|e| e <= now),
            _ => true,
        }
}

fn page_link(q: &ListQuery, page: usize) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in [
        ("q", q.q.as_str()),
        ("template", &q.template),
        ("owner", &q.owner),
        ("status", &q.status),
        ("health", &q.health),
    ] {
        if !v.is_empty() {
            s.append_pair(k, v);
        }
    }
    s.append_pair("page", &page.to_string());
    format!("/ui/?{}", s.finish())
}

/// `GET /ui/`: the credential manager.
#[allow(
    clippy::too_many_lines,
    reason = "the page's view model assembled field by field from one index read; split, the same dozen values would be passed around"
)]
pub async fn list(
    State(st): State<ConsoleState>,
    signed: Signed,
    Query(q): Query<ListQuery>,
) -> Result<Response, ConsoleError> {
    let ledger = st.ledger();
    let reads = ledger.reads();
    let templates_of = Templates::of(ledger, signed.caller.tenant);
    let catalog = &templates_of;
    let now = ledger.now_ms();
    let caller = signed.caller;
    let status = if q.status.is_empty() {
        "active"
    } else {
        q.status.as_str()
    };
    let needle = q.q.trim().to_lowercase();
    let owner_ok = |o: Owner| match q.owner.as_str() {
        "tenant" => o == Owner::Tenant,
        "me" => o == Owner::Principal(caller.principal),
        _ => true,
    };
    // Sort and filter the whole list from the in-memory index; read the views of one
    // page only. The health filters need the views (last test, rotation, expiry).
    let mut keyed: Vec<((usize, String), Id)> = if q.health.is_empty() {
        reads
            .console_index(&caller)
            .into_iter()
            .filter(|c| status == "all" || c.status == status)
            .filter(|c| q.template.is_empty() || c.template == q.template)
            .filter(|c| owner_ok(c.owner))
            .map(|c| {
                let lower = c.name.to_lowercase();
                (
                    (category_rank(category_of(catalog, &c.template)), lower),
                    c.id,
                )
            })
            .filter(|((_, lower), _)| needle.is_empty() || lower.contains(&needle))
            .collect()
    } else {
        reads
            .console_credentials(&caller)
            .await?
            .into_iter()
            .map(|(v, _)| v)
            .filter(|v| keep(&q, caller.principal, v, now))
            .map(|v| {
                (
                    (
                        category_rank(category_of(catalog, &v.template)),
                        v.name.to_lowercase(),
                    ),
                    v.id,
                )
            })
            .collect()
    };
    keyed.sort_unstable();
    let total = keyed.len();
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let page = q.page.unwrap_or(1).clamp(1, pages);
    let start = (page - 1) * PAGE_SIZE;
    let ids: Vec<Id> = keyed
        .into_iter()
        .skip(start)
        .take(PAGE_SIZE)
        .map(|(_, id)| id)
        .collect();
    let shown = reads.credential_rows(&caller, ids).await?;
    let owners: Vec<Id> = shown
        .iter()
        .filter_map(|(v, _)| match v.owner {
            Owner::Principal(p) => Some(p),
            Owner::Tenant => None,
        })
        .collect();
    let names = reads.names(&caller, &owners, &[]);
    let mut groups: Vec<Group> = Vec::new();
    for (v, usage) in shown {
        let title = category_title(category_of(catalog, &v.template));
        let row = Row {
            id: v.id.to_string(),
            name: v.name.clone(),
            template: catalog.title(&v.template),
            owner: match v.owner {
                Owner::Tenant => "shared".into(),
                Owner::Principal(p) if p == caller.principal => "you".into(),
                Owner::Principal(p) => names
                    .principals
                    .get(&p)
                    .cloned()
                    .unwrap_or_else(|| view::short_id(&p.to_string())),
            },
            status: v.status.clone(),
            default: v.is_default,
            fields: identifying_fields(catalog, &v),
            test: test_cell(&v, now),
            rotation: rotation_cell(&v, now).0,
            expiry: expiry_cell(&v, now),
            version: v.current_version,
            uses: usage.uses,
            last_use: usage
                .last_used_at_ms
                .map_or_else(|| "never".into(), |t| view::relative(t, now)),
        };
        match groups.last_mut() {
            Some(g) if g.title == title => g.rows.push(row),
            _ => groups.push(Group {
                title,
                rows: vec![row],
            }),
        }
    }
    let mut templates: Vec<(String, String)> = catalog
        .iter()
        .map(|t| (t.name.clone(), t.title.clone()))
        .collect();
    templates.sort_by(|a, b| a.1.cmp(&b.1));
    html(ListPage {
        page: Page::new(&signed, "Credentials", Nav::Credentials),
        groups,
        total,
        first: if total == 0 { 0 } else { start + 1 },
        last: (start + PAGE_SIZE).min(total),
        prev: (page > 1).then(|| page_link(&q, page - 1)),
        next: (page < pages).then(|| page_link(&q, page + 1)),
        q,
        templates,
    })
}
