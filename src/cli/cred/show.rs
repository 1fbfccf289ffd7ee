//! The `cred` subcommands that read: list, show, versions, and resolve (the one that
//! prints secret values).

use super::{CredRef, ListArgs, ResolveArgs};
use crate::cli::client::{seg, Client};
use crate::cli::error::CliError;
use crate::cli::lookup::{id_of, lookup, resolve};
use crate::cli::output::{cell, Out};
use serde_json::Value;
use std::process::ExitCode;

/// `cred list`.
pub(super) fn list(c: &Client, out: Out, a: ListArgs) -> anyhow::Result<ExitCode> {
    let ListArgs {
        template,
        service,
        owner,
        status,
        rotation,
        name,
    } = a;
    let q: Vec<(&str, String)> = [
        ("template", template),
        ("service", service),
        ("owner", owner),
        ("status", status),
        ("rotation", rotation),
        ("name", name),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k, v)))
    .collect();
    let v = c.get_query("/v1/credentials", &q)?;
    if out.json {
        out.print_json(&v);
    } else {
        let rows = v["credentials"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|x| {
                [
                    "name",
                    "id",
                    "template",
                    "service",
                    "owner",
                    "version",
                    "status",
                    "rotation_status",
                ]
                .iter()
                .map(|k| cell(&x[*k]))
                .collect()
            })
            .collect();
        out.table(
            &[
                "NAME", "ID", "TEMPLATE", "SERVICE", "OWNER", "VER", "STATUS", "ROTATION",
            ],
            rows,
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `cred show`.
pub(super) fn show(c: &Client, out: Out, r: &CredRef) -> anyhow::Result<ExitCode> {
    let v = lookup(c, &r.cred)?;
    if out.json {
        out.print_json(&v);
    } else {
        print_metadata(out, &v);
    }
    Ok(ExitCode::SUCCESS)
}

/// `cred versions`.
pub(super) fn versions(c: &Client, out: Out, r: &CredRef) -> anyhow::Result<ExitCode> {
    let id = id_of(c, &r.cred)?;
    let v = c.get(&format!("/v1/credentials/{}/versions", seg(&id)))?;
    if out.json {
        out.print_json(&v);
    } else {
        let current = v["current"].as_u64();
        let rows = v["versions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|x| {
                let mark = if x["version"].as_u64() == current {
                    " (current)"
                } else {
                    ""
                };
                vec![
                    format!("{}{mark}", cell(&x["version"])),
                    cell(&x["created_at"]),
                    cell(&x["created_by"]),
                    cell(&x["state"]),
                ]
            })
            .collect();
        out.table(&["VERSION", "CREATED", "BY", "STATE"], rows);
    }
    Ok(ExitCode::SUCCESS)
}

/// `cred resolve`: the one subcommand that prints secret values.
pub(super) fn resolve_cmd(c: &Client, out: Out, a: ResolveArgs) -> anyhow::Result<ExitCode> {
    let ResolveArgs {
        cred,
        service,
        for_user,
        version,
        field,
    } = a;
    let v = resolve(
        c,
        cred.as_deref(),
        service.as_deref(),
        for_user.as_deref(),
        version,
    )?;
    if let Some(f) = field {
        // A typed value of Vault KV data prints as its JSON text.
        let value = match v["fields"].get(&f) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => {
                return Err(
                    CliError::not_found(format!("the credential has no field '{f}'")).into(),
                )
            }
        };
        println!("{value}");
    } else if out.json {
        out.print_json(&v);
    } else {
        let mut pairs = vec![
            ("credential", cell(&v["credential_id"])),
            ("version", cell(&v["version"])),
            ("source", cell(&v["source"])),
            ("template", cell(&v["template"])),
        ];
        let fields: Vec<(String, String)> = v["fields"]
            .as_object()
            .map(|m| m.iter().map(|(k, x)| (k.clone(), cell(x))).collect())
            .unwrap_or_default();
        pairs.extend(fields.iter().map(|(k, x)| (k.as_str(), x.clone())));
        out.kv(&pairs);
    }
    Ok(ExitCode::SUCCESS)
}

/// The metadata of one credential as `key: value` lines.
fn print_metadata(out: Out, v: &Value) {
    let public: Vec<String> = v["fields"]
        .as_object()
        .map(|m| m.iter().map(|(k, x)| format!("{k}={}", cell(x))).collect())
        .unwrap_or_default();
    let secret: Vec<String> = v["secret_fields"]
        .as_array()
        .map(|a| a.iter().map(cell).collect())
        .unwrap_or_default();
    let rotation = match v["rotation_due_at"].as_str() {
        Some(due) => format!(
            "{} (due {due}, every {} days)",
            cell(&v["rotation_status"]),
            cell(&v["rotate_every_days"])
        ),
        None => "no schedule".into(),
    };
    let verified = match &v["last_verified"] {
        Value::Null => "never".into(),
        l => format!(
            "{} at {} (v{}: {})",
            if l["ok"] == true { "ok" } else { "failed" },
            cell(&l["at"]),
            cell(&l["version"]),
            cell(&l["reason"])
        ),
    };
    let grants: Vec<String> = v["grants"]
        .as_array()
        .map(|a| a.iter().map(cell).collect())
        .unwrap_or_default();
    out.kv(&[
        ("name", cell(&v["name"])),
        ("id", cell(&v["id"])),
        ("template", cell(&v["template"])),
        ("service", cell(&v["service"])),
        ("owner", cell(&v["owner"])),
        ("status", cell(&v["status"])),
        ("version", cell(&v["version"])),
        ("default", cell(&v["default"])),
        ("description", cell(&v["description"])),
        ("fields", public.join(", ")),
        (
            "secret fields",
            format!(
                "{} (values hidden; `cred resolve` shows them)",
                secret.join(", ")
            ),
        ),
        (
            "created",
            format!("{} by {}", cell(&v["created_at"]), cell(&v["created_by"])),
        ),
        ("rotated", cell(&v["rotated_at"])),
        ("rotation", rotation),
        (
            "expires",
            v["expires_at"].as_str().unwrap_or("never").to_string(),
        ),
        ("grants", grants.join(", ")),
        ("last verified", verified),
    ]);
}
