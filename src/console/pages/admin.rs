//! Administration (admins): principals, their tokens (a new token is shown once, in the
//! answer of its POST only; revoke), groups and their members (`groups.rs` has their
//! forms), and tenants (system admins). The rules are the
//! ledger's: the reads and commands below refuse (and record) whoever may not.

use super::{html, parse_id, see_other};
use crate::console::csrf::Posted;
use crate::console::error::ConsoleError;
use crate::console::layout::{Nav, Page};
use crate::console::signed::Signed;
use crate::console::view;
use crate::console::ConsoleState;
use crate::event::{PrincipalKind, Role};
use crate::http::extract::Ctx;
use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;

pub struct PrincipalRow {
    pub id: String,
    pub name: String,
    pub kind: &'static str,
    pub role: &'static str,
    pub system: bool,
    pub disabled: bool,
    pub me: bool,
    pub tokens: Vec<TokenRow>,
}

pub struct TokenRow {
    pub id: String,
    pub expires: String,
    pub revoked: bool,
}

/// A group with its members (id, name).
pub struct GroupRow {
    pub id: String,
    pub name: String,
    pub members: Vec<(String, String)>,
    /// Principals that are not members yet (id, name).
    pub others: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "console/admin.html")]
struct AdminPage {
    page: Page,
    principals: Vec<PrincipalRow>,
    groups: Vec<GroupRow>,
    tenants: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "console/token_issued.html")]
struct Issued {
    page: Page,
    what: String,
    id: String,
    token: String,
}

/// `GET /ui/admin`.
pub async fn page(
    State(st): State<ConsoleState>,
    signed: Signed,
    Ctx(ctx): Ctx,
) -> Result<Response, ConsoleError> {
    let reads = st.ledger().reads();
    let caller = signed.caller;
    let principals = reads.principals(&ctx, &caller).await?;
    let tokens = reads.tokens(&ctx, &caller).await?;
    let tenants = if signed.caps.system_admin {
        reads.tenants(&ctx, &caller).await?
    } else {
        Vec::new()
    };
    let groups = reads
        .groups(&caller)
        .into_iter()
        .map(|g| GroupRow {
            id: g.id.to_string(),
            name: g.name,
            members: principals
                .iter()
                .filter(|p| g.members.contains(&p.id))
                .map(|p| (p.id.to_string(), p.name.clone()))
                .collect(),
            others: principals
                .iter()
                .filter(|p| !p.disabled && !p.system && !g.members.contains(&p.id))
                .map(|p| (p.id.to_string(), p.name.clone()))
                .collect(),
        })
        .collect();
    let rows = principals
        .into_iter()
        .map(|p| PrincipalRow {
            id: p.id.to_string(),
            name: p.name,
            kind: p.kind.as_str(),
            role: p.role.as_str(),
            system: p.system,
            disabled: p.disabled,
            me: p.id == caller.principal,
            tokens: tokens
                .iter()
                .filter(|t| t.principal == p.id)
                .map(|t| TokenRow {
                    id: t.id.to_string(),
                    expires: t.expires_at_ms.map_or_else(|| "never".into(), view::time),
                    revoked: t.revoked,
                })
                .collect(),
        })
        .collect();
    html(AdminPage {
        page: Page::new(&signed, "Administration", Nav::Admin),
        principals: rows,
        groups,
        tenants: tenants
            .into_iter()
            .map(|(id, n)| (id.to_string(), n))
            .collect(),
    })
}

/// `POST /ui/admin/principals`: a new principal.
pub async fn create_principal(
    State(st): State<ConsoleState>,
    Ctx(ctx): Ctx,
    posted: Posted,
) -> Result<Response, ConsoleError> {
    let f = &posted.form;
    let name = f
        .text("name")
        .ok_or_else(|| ConsoleError::BadRequest("Enter a name for the principal.".into()))?;
    let kind = PrincipalKind::parse(f.get("kind").unwrap_or("user"))
        .ok_or_else(|| ConsoleError::BadRequest("Choose user or service.".into()))?;
    let role = Role::parse(f.get("role").unwrap_or("resolver"))
        .ok_or_else(|| ConsoleError::BadRequest("Choose a role from the list.".into()))?;
    let caller = &posted.signed.caller;
    if f.get("system").is_some() {
        st.ledger()
            .create_system_principal(&ctx, caller, name, role)
            .await?;
    } else {
        st.ledger()
            .create_principal(&ctx, caller, name, kind, role)
            .await?;
    }
    Ok(see_other("/ui/admin"))
}

/// `POST /ui/admin/principals/{id}/tokens`: a new token, shown once.
pub async fn issue_token(
    State(st): State<ConsoleState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, ConsoleError> {
    let principal = parse_id(&id)?;
    let t = st
        .ledger()
        .issue_token(&ctx, &posted.signed.caller, principal, None)
        .await?;
    let name = st
        .ledger()
        .reads()
        .names(&posted.signed.caller, &[principal], &[])
        .principals
        .remove(&principal)
        .unwrap_or_default();
    html(Issued {
        page: Page::new(&posted.signed, "New token", Nav::Admin),
        what: format!("a token for {name}"),
        id: t.id.to_string(),
        token: t.token.expose().to_string(),
    })
}

/// `POST /ui/admin/principals/{id}/disable`.
pub async fn disable_principal(
    State(st): State<ConsoleState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, ConsoleError> {
    let principal = parse_id(&id)?;
    st.ledger()
        .disable_principal(&ctx, &posted.signed.caller, principal)
        .await?;
    Ok(see_other("/ui/admin"))
}

/// `POST /ui/admin/tokens/{id}/revoke`.
pub async fn revoke_token(
    State(st): State<ConsoleState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, ConsoleError> {
    let token = parse_id(&id)?;
    st.ledger()
        .revoke_token(&ctx, &posted.signed.caller, token)
        .await?;
    Ok(see_other("/ui/admin"))
}

/// `POST /ui/admin/tenants`: a new tenant with its admin; the admin token is shown once.
pub async fn create_tenant(
    State(st): State<ConsoleState>,
    Ctx(ctx): Ctx,
    posted: Posted,
) -> Result<Response, ConsoleError> {
    let name = posted
        .form
        .text("name")
        .ok_or_else(|| ConsoleError::BadRequest("Enter a name for the tenant.".into()))?;
    let (tenant, _, token) = st
        .ledger()
        .create_tenant(&ctx, &posted.signed.caller, name)
        .await?;
    html(Issued {
        page: Page::new(&posted.signed, "New tenant", Nav::Admin),
        what: format!("the admin token of tenant {name} ({tenant})"),
        id: token.id.to_string(),
        token: token.token.expose().to_string(),
    })
}
