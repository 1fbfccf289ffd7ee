//! Changing a credential: the rotation form (a partial rotation: public fields keep
//! their values unless changed, an empty secret keeps its current value) and the
//! metadata form (name, description, rotation schedule, expiry). Field errors are the
//! ledger's, shown at their field.

use super::add::{self, build_fields, problem, Fields, Problem};
use super::detail::load;
use super::{html, parse_id, see_other};
use crate::console::csrf::Posted;
use crate::console::error::ConsoleError;
use crate::console::layout::{Nav, Page};
use crate::console::signed::Signed;
use crate::console::ConsoleState;
use crate::domain::DomainError;
use crate::event::MetadataChange;
use crate::http::extract::Ctx;
use crate::projection::CredentialView;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use std::collections::HashMap;

#[derive(Template)]
#[template(path = "console/rotate.html")]
struct RotatePage {
    page: Page,
    id: String,
    name: String,
    version: u32,
    fields: Fields,
    problems: Vec<Problem>,
}

#[derive(Template)]
#[template(path = "console/edit.html")]
struct EditPage {
    page: Page,
    id: String,
    name: String,
    description: String,
    rotate_every_days: String,
    expires_at: String,
    problems: Vec<Problem>,
}

fn rotate_page(
    signed: &Signed,
    v: &CredentialView,
    t: &crate::template::Template,
    values: &HashMap<String, String>,
    errors: HashMap<String, String>,
) -> RotatePage {
    let fields = build_fields(t, values, &v.public, &errors);
    let mut problems: Vec<Problem> = fields
        .inputs
        .iter()
        .filter_map(|i| {
            i.error.as_ref().map(|m| Problem {
                anchor: i.id.clone(),
                message: m.clone(),
            })
        })
        .collect();
    for (k, m) in &errors {
        if !fields.inputs.iter().any(|i| i.id == format!("field-{k}")) {
            problems.push(Problem {
                anchor: "template-fields".into(),
                message: m.clone(),
            });
        }
    }
    RotatePage {
        page: Page::new(signed, format!("Rotate {}", v.name), Nav::Credentials),
        id: v.id.to_string(),
        name: v.name.clone(),
        version: v.current_version,
        fields,
        problems,
    }
}

/// `GET /ui/credentials/{id}/rotate`: the rotation form (public values kept, secrets
/// typed again).
pub async fn rotate_form(
    State(st): State<ConsoleState>,
    signed: Signed,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let id = parse_id(&id)?;
    let (v, _) = load(&st, &ctx, &signed, id).await?;
    let t = st.ledger().template(signed.caller.tenant, &v.template)?;
    html(rotate_page(
        &signed,
        &v,
        &t,
        &HashMap::new(),
        HashMap::new(),
    ))
}

/// `POST /ui/credentials/{id}/rotate`.
pub async fn rotate(
    State(st): State<ConsoleState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, ConsoleError> {
    let id = parse_id(&id)?;
    let Posted { signed, form } = posted;
    let (v, _) = load(&st, &ctx, &signed, id).await?;
    let t = st.ledger().template(signed.caller.tenant, &v.template)?;
    let t = &*t;
    let values = add::values(t, &form);
    if form.get("_action") == Some("refresh") {
        return html(rotate_page(&signed, &v, t, &values, HashMap::new()));
    }
    match st
        .ledger()
        .rotate(&ctx, &signed.caller, id, add::input(t, &values))
        .await
    {
        Ok(_) => Ok(see_other(&format!("/ui/credentials/{id}?notice=rotated"))),
        Err(e) => match problem(&e).map(|(f, m)| match f.as_str() {
            // "give at least one field to change": about the form as a whole.
            "meta-fields" => ("fields".to_string(), m),
            _ => (f, m),
        }) {
            Some((field, message)) if !field.starts_with("meta-") => {
                let mut r = html(rotate_page(
                    &signed,
                    &v,
                    t,
                    &values,
                    HashMap::from([(field, message)]),
                ))?;
                *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
                Ok(r)
            }
            _ => Err(e.into()),
        },
    }
}

fn date(ms: Option<i64>) -> String {
    ms.map(|m| crate::time::rfc3339(m).chars().take(10).collect())
        .unwrap_or_default()
}

/// `GET /ui/credentials/{id}/edit`.
pub async fn edit_form(
    State(st): State<ConsoleState>,
    signed: Signed,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let id = parse_id(&id)?;
    let (v, _) = load(&st, &ctx, &signed, id).await?;
    html(EditPage {
        page: Page::new(&signed, format!("Edit {}", v.name), Nav::Credentials),
        id: id.to_string(),
        name: v.name.clone(),
        description: v.description.clone(),
        rotate_every_days: v
            .rotate_every_days
            .map(|d| d.to_string())
            .unwrap_or_default(),
        expires_at: date(v.expires_at_ms),
        problems: Vec::new(),
    })
}

/// `POST /ui/credentials/{id}/edit`: the changed metadata.
#[allow(
    clippy::wildcard_enum_match_arm,
    reason = "only an invalid name belongs to a field; every other ledger error is the page's error"
)]
pub async fn edit(
    State(st): State<ConsoleState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, ConsoleError> {
    let id = parse_id(&id)?;
    let Posted { signed, form } = posted;
    let (v, _) = load(&st, &ctx, &signed, id).await?;
    let mut problems = Vec::new();
    let name = form.get("name").unwrap_or_default().trim().to_string();
    let description = form.get("description").unwrap_or_default().to_string();
    let days = form.get("rotate_every_days").unwrap_or_default().trim();
    let rotate_every_days = match days {
        "" => None,
        s => match s.parse::<u32>() {
            Ok(n) => Some(n),
            Err(_) => {
                problems.push(Problem {
                    anchor: "meta-rotate_every_days".into(),
                    message: "Enter the rotation schedule as a whole number of days".into(),
                });
                None
            }
        },
    };
    let expires = form.get("expires_at").unwrap_or_default().trim();
    let expires_at_ms = match expires {
        "" => None,
        s => match crate::time::parse_rfc3339(&format!("{s}T00:00:00Z")) {
            Some(ms) => Some(ms),
            None => {
                problems.push(Problem {
                    anchor: "meta-expires_at".into(),
                    message: "Enter the expiry as a date, for example 2027-01-31".into(),
                });
                None
            }
        },
    };
    let change = MetadataChange {
        name: (name != v.name).then(|| name.clone()),
        description: (description != v.description).then(|| description.clone()),
        rotate_every_days: (rotate_every_days != v.rotate_every_days).then_some(rotate_every_days),
        expires_at_ms: (date(expires_at_ms) != date(v.expires_at_ms)).then_some(expires_at_ms),
        is_default: None,
    };
    if problems.is_empty() {
        match st.ledger().update(&ctx, &signed.caller, id, change).await {
            Ok(()) => return Ok(see_other(&format!("/ui/credentials/{id}?notice=updated"))),
            Err(e) => match problem(&e) {
                Some((field, message)) => problems.push(Problem {
                    anchor: if field.starts_with("meta-") {
                        field
                    } else {
                        "meta-name".into()
                    },
                    message,
                }),
                None => match &e {
                    crate::ledger::LedgerError::Domain(DomainError::Invalid {
                        message, ..
                    }) => problems.push(Problem {
                        anchor: "meta-name".into(),
                        message: message.clone(),
                    }),
                    _ => return Err(e.into()),
                },
            },
        }
    }
    let mut r = html(EditPage {
        page: Page::new(&signed, format!("Edit {}", v.name), Nav::Credentials),
        id: id.to_string(),
        name,
        description,
        rotate_every_days: days.to_string(),
        expires_at: expires.to_string(),
        problems,
    })?;
    *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    Ok(r)
}
