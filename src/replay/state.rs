//! Past state and history: fold the log up to a point, render a state without secrets,
//! list one credential's events as audit rows.

use crate::domain::State;
use crate::event::Event;
use crate::id::Id;
use serde_json::{json, Value};

/// Folds events while `keep` holds (events arrive in order).
pub fn state_until<E>(
    events: impl Iterator<Item = Result<Event, E>>,
    mut keep: impl FnMut(&Event) -> bool,
) -> Result<State, E> {
    let mut state = State::default();
    for e in events {
        let e = e?;
        if !keep(&e) {
            break;
        }
        state.apply(&e);
    }
    Ok(state)
}

/// A JSON rendering of a state, with names and metadata but no secret or ciphertext.
pub fn render_state(state: &State) -> Value {
    let mut tenants: Vec<_> = state.tenants.iter().collect();
    tenants.sort_by(|a, b| a.1.name.cmp(&b.1.name));
    let tenants: Vec<Value> = tenants
        .into_iter()
        .map(|(tid, t)| {
            let mut principals: Vec<_> = state.principals.iter().filter(|(_, p)| p.tenant == *tid).collect();
            principals.sort_by(|a, b| a.1.name.cmp(&b.1.name));
            let mut creds: Vec<_> = state.credentials.iter().filter(|(_, c)| c.tenant == *tid).collect();
            creds.sort_by_key(|(_, c)| c.created_seq);
            json!({
                "id": tid.to_string(),
                "name": t.name,
                "principals": principals.iter().map(|(id, p)| json!({
                    "id": id.to_string(), "name": p.name, "role": p.role.as_str(),
                    "kind": p.kind.as_str(), "disabled": p.disabled,
                })).collect::<Vec<_>>(),
                "credentials": creds.iter().map(|(id, c)| json!({
                    "id": id.to_string(), "name": c.name, "template": c.template, "service": c.service,
                    "owner": match c.owner { crate::event::Owner::Tenant => "tenant".to_string(), crate::event::Owner::Principal(p) => p.to_string() },
                    "status": c.status.as_str(), "version": c.current,
                    "live_versions": c.versions.keys().collect::<Vec<_>>(),
                    "grants": c.grants.keys().filter_map(|g| match g {
                        crate::event::Grantee::Principal(p) => Some(p.to_string()),
                        crate::event::Grantee::Group(_) => None,
                    }).collect::<Vec<_>>(),
                    "grant_levels": c.grants.iter().map(|(g, l)| match g {
                        crate::event::Grantee::Principal(p) => json!({"principal": p.to_string(), "level": l.as_str()}),
                        crate::event::Grantee::Group(g) => json!({"group": g.to_string(), "level": l.as_str()}),
                    }).collect::<Vec<_>>(),
                    "default": c.is_default,
                })).collect::<Vec<_>>(),
                "groups": render_groups(state, *tid),
                "templates": state.templates.get(tid).map(|t| t.keys().cloned().collect::<Vec<_>>()).unwrap_or_default(),
            })
        })
        .collect();
    json!({"events": state.len, "origin": state.origin, "tenants": tenants})
}

/// The groups of a tenant, by name, with their members.
fn render_groups(state: &State, tenant: Id) -> Vec<Value> {
    let mut groups: Vec<_> = state
        .groups
        .iter()
        .filter(|(_, g)| g.tenant == tenant)
        .collect();
    groups.sort_by(|a, b| a.1.name.cmp(&b.1.name));
    groups
        .iter()
        .map(|(id, g)| {
            json!({
                "id": id.to_string(), "name": g.name,
                "members": g.members.iter().map(Id::to_string).collect::<Vec<_>>(),
            })
        })
        .collect()
}

/// Every event about one credential, as audit rows.
pub fn history<E>(
    events: impl Iterator<Item = Result<Event, E>>,
    credential: Id,
) -> Result<Vec<crate::audit::view::AuditEntry>, E> {
    let mut out = Vec::new();
    for e in events {
        let e = e?;
        if e.body.credential() == Some(credential) {
            out.push(crate::audit::view::entry(&e));
        }
    }
    Ok(out)
}
