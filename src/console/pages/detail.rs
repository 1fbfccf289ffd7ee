//! A credential's page: metadata and public fields, version history, Reveal (a resolve
//! recorded as `used` with purpose `console`, answered once with `no-store`), copy,
//! rotate, edit, make default, delete/restore, destroy (type the name to confirm),
//! grants, verify now, usage, its audit timeline and a proof bundle of its events.
//!
//! Buttons follow `domain::decide::console::credential_actions`; every action is decided
//! again by the ledger, and a refusal is shown as the ledger's error.

use super::credentials::{expiry_cell, rotation_cell, test_cell, Cell};
use super::{download, html, is_htmx, parse_id};
use crate::audit::{AuditEntry, Filter};
use crate::console::csrf::Posted;
use crate::console::error::ConsoleError;
use crate::console::layout::{Nav, Page};
use crate::console::signed::Signed;
use crate::console::view;
use crate::console::ConsoleState;
use crate::domain::AuditScope;
use crate::event::{Grantee, Owner, Purpose};
use crate::http::extract::Ctx;
use crate::id::Id;
use crate::ledger::CredentialActions;
use crate::ledger::{RequestCtx, ResolveTarget};
use crate::projection::CredentialView;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;

pub struct VersionRow {
    pub version: u32,
    pub at: String,
    pub by: String,
    pub state: String,
    pub event: String,
}

pub struct EventRow {
    pub seq: u64,
    pub at: String,
    pub action: &'static str,
    pub outcome: &'static str,
    pub actor: String,
    pub detail: String,
}

/// A grant of the credential: to a principal or a group, at a level.
pub struct GrantRow {
    pub id: String,
    pub name: String,
    /// `principal` or `group`.
    pub kind: &'static str,
    pub level: &'static str,
}

#[derive(Template)]
#[template(path = "console/detail.html")]
struct DetailPage {
    page: Page,
    id: String,
    name: String,
    template: String,
    service: String,
    owner: String,
    status: String,
    description: String,
    default: bool,
    shared: bool,
    version: u32,
    created: String,
    public: Vec<(String, String)>,
    secret_names: Vec<(String, String)>,
    test: Cell,
    rotation: Cell,
    expiry: Cell,
    actions: CredentialActions,
    versions: Vec<VersionRow>,
    grants: Vec<GrantRow>,
    /// Whom it may be granted to: `principal:ID` or `group:ID`, and a label.
    candidates: Vec<(String, String)>,
    uses: u64,
    denied: u64,
    verifies: u64,
    last_use: String,
    last_from: String,
    timeline: Vec<EventRow>,
    verifiable: bool,
}

#[derive(Template)]
#[template(path = "console/reveal.html")]
struct RevealPage {
    page: Page,
    id: String,
    name: String,
    version: u32,
    values: Vec<(String, String, String, bool)>,
}

#[derive(Template)]
#[template(path = "console/reveal_fragment.html")]
struct RevealFragment {
    version: u32,
    values: Vec<(String, String, String, bool)>,
}

#[derive(Deserialize, Default)]
pub struct NoticeQuery {
    notice: Option<String>,
}

fn notice_text(n: Option<&str>) -> Option<String> {
    let t = match n? {
        "created" => "Credential saved.",
        "rotated" => "Rotated: a new version is current.",
        "updated" => "Changes saved.",
        "default" => "Default changed.",
        "deleted" => "Deleted. It can be restored.",
        "restored" => "Restored.",
        "verified" => "Connection tested: see “Last connection test”.",
        "granted" => "Grant added.",
        "revoked" => "Grant revoked.",
        _ => return None,
    };
    Some(t.to_string())
}

fn entry_detail(e: &AuditEntry) -> String {
    let d = &e.details;
    let mut parts = Vec::new();
    for k in [
        "version",
        "purpose",
        "source",
        "reason",
        "ok",
        "attempted",
        "level",
    ] {
        if let Some(v) = d.get(k).filter(|v| !v.is_null()) {
            parts.push(format!(
                "{k}: {}",
                v.as_str().map_or_else(|| v.to_string(), str::to_string)
            ));
        }
    }
    parts.join(", ")
}

pub(super) async fn load(
    st: &ConsoleState,
    ctx: &RequestCtx,
    signed: &Signed,
    id: Id,
) -> Result<(CredentialView, Vec<crate::projection::VersionView>), ConsoleError> {
    Ok(st
        .ledger()
        .reads()
        .versions(ctx, &signed.caller, id, "credential_read")
        .await?)
}

/// `GET /ui/credentials/{id}`.
#[allow(
    clippy::too_many_lines,
    reason = "the page's view model assembled field by field from one read of the credential; split, the same dozen values would be passed around"
)]
pub async fn show(
    State(st): State<ConsoleState>,
    signed: Signed,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, ConsoleError> {
    let id = parse_id(&id)?;
    let ledger = st.ledger();
    let reads = ledger.reads();
    let caller = signed.caller;
    let now = ledger.now_ms();
    let (v, versions) = load(&st, &ctx, &signed, id).await?;
    let actions = reads.credential_actions(&caller, &[id])[0];
    let usage = reads.credential_usage(&ctx, &caller, id).await?;
    let timeline: Vec<AuditEntry> = if signed.caps.review {
        let filter = Filter {
            credential: Some(id),
            limit: 200,
            ..Filter::default()
        };
        reads
            .audit(&ctx, &caller, AuditScope::Tenant, filter)
            .await?
            .events
    } else {
        Vec::new()
    };
    let principals_listed = if signed.caps.review && actions.administer {
        reads.principals(&ctx, &caller).await?
    } else {
        Vec::new()
    };
    let groups = if actions.administer {
        reads.groups(&caller)
    } else {
        Vec::new()
    };
    let group_name = |g: &Id| {
        groups
            .iter()
            .find(|x| x.id == *g)
            .map_or_else(|| view::short_id(&g.to_string()), |x| x.name.clone())
    };
    let mut ids: Vec<Id> = v.grants.clone();
    ids.extend(versions.iter().filter_map(|x| x.created_by));
    ids.extend(
        timeline
            .iter()
            .filter_map(|e| e.actor.as_deref().and_then(|a| a.parse::<Id>().ok())),
    );
    if let Owner::Principal(p) = v.owner {
        ids.push(p);
    }
    let names = reads.names(&caller, &ids, &[]);
    let name_of = |p: &Id| {
        names
            .principals
            .get(p)
            .cloned()
            .unwrap_or_else(|| view::short_id(&p.to_string()))
    };
    let catalog = view::Templates::of(ledger, caller.tenant);
    let tpl = catalog.get(&v.template);
    let label = |k: &str| {
        tpl.and_then(|t| t.field(k))
            .map_or_else(|| k.to_string(), |f| f.label().to_string())
    };
    let secret_names = tpl
        .map(|t| {
            t.fields
                .iter()
                .filter(|f| f.is_secret())
                .filter(|f| f.when.as_ref().is_none_or(|c| c.holds(&v.public)))
                .map(|f| (f.name.clone(), f.label().to_string()))
                .collect()
        })
        .unwrap_or_default();
    let version_event = |ver: u32| {
        timeline
            .iter()
            .find(|e| {
                matches!(e.action, "created" | "rotated")
                    && e.details.get("version").and_then(serde_json::Value::as_u64)
                        == Some(u64::from(ver))
            })
            .map(|e| format!("{} #{}", e.action, e.seq))
            .unwrap_or_default()
    };
    let page = DetailPage {
        page: Page::new(&signed, v.name.clone(), Nav::Credentials)
            .notice(notice_text(q.notice.as_deref())),
        id: id.to_string(),
        name: v.name.clone(),
        template: tpl.map_or_else(|| v.template.clone(), |t| t.title.clone()),
        service: v.service.clone(),
        owner: match v.owner {
            Owner::Tenant => "shared (tenant)".into(),
            Owner::Principal(p) => name_of(&p),
        },
        status: v.status.clone(),
        description: v.description.clone(),
        default: v.is_default,
        shared: v.owner == Owner::Tenant,
        version: v.current_version,
        created: view::time(v.created_at_ms),
        public: v
            .public
            .iter()
            .map(|(k, x)| (label(k), x.clone()))
            .collect(),
        secret_names,
        test: test_cell(&v, now),
        rotation: rotation_cell(&v, now).0,
        expiry: expiry_cell(&v, now),
        actions,
        versions: versions
            .iter()
            .rev()
            .map(|x| VersionRow {
                version: x.version,
                at: view::time(x.created_at_ms),
                by: x.created_by.as_ref().map(name_of).unwrap_or_default(),
                state: x.state.clone(),
                event: version_event(x.version),
            })
            .collect(),
        grants: v
            .grantees
            .iter()
            .map(|g| match g.grantee {
                Grantee::Principal(p) => GrantRow {
                    id: p.to_string(),
                    name: name_of(&p),
                    kind: "principal",
                    level: g.level.as_str(),
                },
                Grantee::Group(x) => GrantRow {
                    id: x.to_string(),
                    name: group_name(&x),
                    kind: "group",
                    level: g.level.as_str(),
                },
            })
            .collect(),
        candidates: principals_listed
            .into_iter()
            .filter(|p| !p.disabled)
            .map(|p| {
                (
                    format!("principal:{}", p.id),
                    format!("{} ({})", p.name, p.role.as_str()),
                )
            })
            .chain(
                groups
                    .iter()
                    .map(|g| (format!("group:{}", g.id), format!("group {}", g.name))),
            )
            .collect(),
        uses: usage.uses,
        denied: usage.denied,
        verifies: usage.verifies,
        last_use: usage
            .last_used_at_ms
            .map_or_else(|| "never".into(), view::time),
        last_from: usage.last_remote_addr.unwrap_or_default(),
        timeline: timeline
            .iter()
            .rev()
            .map(|e| EventRow {
                seq: e.seq,
                at: e.at.chars().take(19).collect::<String>().replace('T', " "),
                action: e.action,
                outcome: e.outcome,
                actor: e
                    .actor
                    .as_deref()
                    .and_then(|a| a.parse::<Id>().ok())
                    .map(|p| name_of(&p))
                    .unwrap_or_else(|| "system".into()),
                detail: entry_detail(e),
            })
            .collect(),
        verifiable: tpl.is_some_and(|t| t.verify.is_some()),
    };
    html(page)
}

/// `POST /ui/credentials/{id}/reveal`: resolve (purpose `console`) and show the values
/// once.
pub async fn reveal(
    State(st): State<ConsoleState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    headers: HeaderMap,
    posted: Posted,
) -> Result<Response, ConsoleError> {
    let id = parse_id(&id)?;
    let signed = posted.signed;
    let ledger = st.ledger();
    let r = ledger
        .resolve_as(
            &ctx,
            &signed.caller,
            ResolveTarget::Id { id, version: None },
            Purpose::Console,
        )
        .await?;
    let tpl = r
        .template
        .as_deref()
        .and_then(|t| ledger.template(signed.caller.tenant, t).ok());
    let tpl = tpl.as_deref();
    let values = r
        .fields
        .0
        .iter()
        .map(|(k, v)| {
            let f = tpl.and_then(|t| t.field(k));
            (
                format!("reveal-{k}"),
                f.map_or_else(|| k.clone(), |f| f.label().to_string()),
                v.expose().to_string(),
                f.is_some_and(|f| f.is_secret()) || tpl.is_some_and(|t| t.free_form),
            )
        })
        .collect();
    let fragment = RevealFragment {
        version: r.version.unwrap_or(0),
        values,
    };
    if is_htmx(&headers) {
        return html(fragment);
    }
    let name = ledger
        .reads()
        .names(&signed.caller, &[], &[id])
        .credentials
        .remove(&id)
        .unwrap_or_default();
    html(RevealPage {
        page: Page::new(&signed, format!("{name}: values"), Nav::Credentials),
        id: id.to_string(),
        name,
        version: fragment.version,
        values: fragment.values,
    })
}

/// `GET /ui/credentials/{id}/bundle`: a proof bundle of the credential's events.
pub async fn bundle(
    State(st): State<ConsoleState>,
    signed: Signed,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let id = parse_id(&id)?;
    let bytes = st
        .ledger()
        .reads()
        .credential_bundle(&ctx, &signed.caller, id)
        .await?;
    Ok(download(
        "application/x-ndjson",
        &format!("credential-{id}.bundle"),
        bytes,
    ))
}
