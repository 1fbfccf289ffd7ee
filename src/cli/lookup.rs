//! Finding what was typed — a credential, a principal, a group (by id or by name), a
//! template (builtin or the tenant's) — and resolving secret values: the helpers every
//! command that names one of them shares.
//!
//! **Invariant:** only [`resolve`] asks for secret values; every other helper reads
//! metadata only.

use super::client::{seg, Client};
use super::error::{CliError, AUTH};
use super::output::cell;
use credledger::domain::names::fold;
use credledger::id::Id;
use credledger::template::{Catalog, Template};
use serde_json::{json, Map, Value};

/// The credential's metadata, by id or unique name.
pub fn lookup(c: &Client, r: &str) -> Result<Value, CliError> {
    if r.parse::<Id>().is_ok() {
        return c.get(&format!("/v1/credentials/{}", seg(r)));
    }
    let list = c.get_query(
        "/v1/credentials",
        &[("name", r.to_string()), ("status", "all".into())],
    )?;
    let all: Vec<Value> = list["credentials"].as_array().cloned().unwrap_or_default();
    let active: Vec<&Value> = all.iter().filter(|v| v["status"] == "active").collect();
    match (all.len(), active.len()) {
        (0, _) => Err(CliError::not_found(format!("no credential named '{r}'"))),
        (1, _) => Ok(all[0].clone()),
        (_, 1) => Ok(active[0].clone()),
        _ => Err(CliError::usage(format!(
            "several credentials are named '{r}' (names are unique per owner: yours and shared ones); use the id"
        ))),
    }
}

/// A principal's id: the argument itself when it is one, `me` for the caller, else the
/// principal of that name (compared without case). Listing principals needs the admin,
/// editor or auditor role; others may still name themselves.
pub fn principal_id(c: &Client, r: &str) -> Result<String, CliError> {
    if r.parse::<Id>().is_ok() {
        return Ok(r.to_string());
    }
    let me = || c.get("/v1/whoami");
    if r == "me" {
        return Ok(cell(&me()?["principal"]));
    }
    let list = match c.get("/v1/principals") {
        Ok(v) => v,
        Err(e) if e.code == AUTH => {
            let who = me()?;
            if fold(&cell(&who["name"])) == fold(r) {
                return Ok(cell(&who["principal"]));
            }
            return Err(CliError::new(
                AUTH,
                format!("your role cannot look up principals by name; give the id of '{r}'"),
            ));
        }
        Err(e) => return Err(e),
    };
    named(&list["principals"], r)
        .ok_or_else(|| CliError::not_found(format!("no principal named '{r}'")))
}

/// A group's id: the argument itself when it is one, else the group of that name that
/// the caller may list.
pub fn group_id(c: &Client, r: &str) -> Result<String, CliError> {
    if r.parse::<Id>().is_ok() {
        return Ok(r.to_string());
    }
    let list = c.get("/v1/groups")?;
    named(&list["groups"], r).ok_or_else(|| CliError::not_found(format!("no group named '{r}'")))
}

/// The id of the entry of `list` whose `name` equals `name` without case.
fn named(list: &Value, name: &str) -> Option<String> {
    list.as_array()?
        .iter()
        .find(|x| fold(&cell(&x["name"])) == fold(name))
        .map(|x| cell(&x["id"]))
}

/// A template definition: a builtin one, else the tenant's from the server. `None` when
/// there is none (the server will say so when it matters).
pub fn template(c: &Client, name: &str) -> Option<Template> {
    if let Ok(t) = Catalog::builtin().get(name) {
        return Some(t.clone());
    }
    let mut v = c.get(&format!("/v1/templates/{}", seg(name))).ok()?;
    v.as_object_mut()?.remove("builtin");
    Template::from_json(&v.to_string()).ok()
}

/// The tenant's own templates (not the builtin ones), for mapping variables to fields.
pub fn tenant_templates(c: &Client) -> Result<Vec<Template>, CliError> {
    let list = c.get("/v1/templates")?;
    Ok(list["templates"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["builtin"] == false)
        .filter_map(|t| template(c, &cell(&t["name"])))
        .collect())
}

/// The credential's id: the argument itself when it is one, else looked up by name.
pub fn id_of(c: &Client, r: &str) -> Result<String, CliError> {
    if r.parse::<Id>().is_ok() {
        return Ok(r.to_string());
    }
    Ok(cell(&lookup(c, r)?["id"]))
}

/// Resolves by credential (id or name) or by service; the answer holds secrets.
pub fn resolve(
    c: &Client,
    cred: Option<&str>,
    service: Option<&str>,
    for_user: Option<&str>,
    version: Option<u32>,
) -> Result<Value, CliError> {
    match (cred, service) {
        (Some(r), _) => {
            let id = id_of(c, r)?;
            let mut body = Map::new();
            if let Some(v) = version {
                body.insert("version".into(), v.into());
            }
            c.post(
                &format!("/v1/credentials/{}/resolve", seg(&id)),
                &Value::Object(body),
            )
        }
        (None, Some(s)) => {
            let mut body = json!({"service": s});
            if let Some(u) = for_user {
                body["for_user"] = principal_id(c, u)?.into();
            }
            c.post("/v1/resolve", &body)
        }
        (None, None) => Err(CliError::usage("give a credential (--cred) or a --service")),
    }
}
