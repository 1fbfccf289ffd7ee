//! Finding a credential from what was typed (an id or a unique name) and resolving its
//! secret values: the helpers every command that names a credential shares.
//!
//! **Invariant:** only [`resolve`] asks for secret values; [`lookup`] and [`id_of`] read
//! metadata only.

use super::client::{seg, Client};
use super::error::CliError;
use super::output::cell;
use credledger::id::Id;
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
            "several credentials are named '{r}'; use the id"
        ))),
    }
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
                body["for_user"] = u.into();
            }
            c.post("/v1/resolve", &body)
        }
        (None, None) => Err(CliError::usage("give a credential (--cred) or a --service")),
    }
}
