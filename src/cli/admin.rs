//! Administration: `principal`, `token`, `grant`, `tenant` and `templates`. Principals
//! and groups may be named by id or by name.
//!
//! **Invariant:** `token create` and `tenant create` print the new API token once, because
//! showing it is their whole purpose; nothing else here prints a secret.

use super::args::Group;
use super::client::{seg, Client};
use super::error::CliError;
use super::lookup::{group_id, id_of, lookup, principal_id};
use super::output::{cell, Out};
use clap::Subcommand;
use serde_json::{json, Value};
use std::process::ExitCode;

#[derive(Subcommand, Debug)]
pub enum PrincipalCommand {
    /// Create a user or service principal in your tenant.
    Create {
        name: String,
        /// `user` or `service`.
        #[arg(long, default_value = "user")]
        kind: String,
        /// `admin`, `editor`, `member`, `resolver` or `auditor`.
        #[arg(long)]
        role: String,
    },
    /// List the principals of your tenant.
    List,
    /// Disable a principal (its tokens stop working).
    Disable {
        /// The principal's id or name.
        principal: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Issue an API token for a principal; it is printed once.
    Create {
        /// The principal's id or name (`me` for yourself).
        principal: String,
        /// Expiry (RFC 3339); none = never.
        #[arg(long)]
        expires_at: Option<String>,
    },
    /// Revoke a token by its id.
    Revoke { id: String },
}

#[derive(Subcommand, Debug)]
pub enum GrantCommand {
    /// Grant a shared credential to a principal or a group (or change the grant's level).
    Add {
        /// The credential's id or name.
        cred: String,
        /// The principal's id or name (or use --group).
        #[arg(required_unless_present = "group", conflicts_with = "group")]
        principal: Option<String>,
        /// A group's id or name.
        #[arg(long)]
        group: Option<String>,
        /// `use` (resolve, the default), `manage` (also rotate, update, verify) or
        /// `admin` (also grant, delete, destroy).
        #[arg(long, default_value = "use", value_parser = ["use", "manage", "admin"])]
        level: String,
    },
    /// Withdraw a grant.
    Revoke {
        cred: String,
        /// The principal's id or name (or use --group).
        #[arg(required_unless_present = "group", conflicts_with = "group")]
        principal: Option<String>,
        /// A group's id or name.
        #[arg(long)]
        group: Option<String>,
    },
    /// List who a credential is granted to, with each grant's level.
    List { cred: String },
}

#[derive(Subcommand, Debug)]
pub enum TenantCommand {
    /// Create a tenant with its own admin (system admins only); prints its admin token once.
    Create { name: String },
}

#[derive(Subcommand, Debug)]
pub enum TemplatesCommand {
    /// List the service templates.
    List,
    /// Show a template's fields, their types, conditions and environment variables.
    Show { name: String },
    /// Define or redefine a tenant template from a JSON file in the format of
    /// `schemas/templates/` (admins).
    Define {
        /// The definition (JSON).
        file: std::path::PathBuf,
    },
    /// Delete a tenant template no credential uses (admins).
    Delete { name: String },
}

fn done(out: Out, v: &Value, text: &str) {
    if out.json {
        out.print_json(v);
    } else {
        println!("{text}");
    }
}

pub fn principal(g: Group<PrincipalCommand>) -> anyhow::Result<ExitCode> {
    let (c, out) = Client::connect(&g.conn)?;
    match g.cmd {
        PrincipalCommand::Create { name, kind, role } => {
            let v = c.post(
                "/v1/principals",
                &json!({"name": name, "kind": kind, "role": role}),
            )?;
            done(out, &v, &format!("Created {kind} {name} ({role}): {}\nIssue a token with `credledger token create {}`", cell(&v["id"]), cell(&v["id"])));
        }
        PrincipalCommand::List => {
            let v = c.get("/v1/principals")?;
            if out.json {
                out.print_json(&v);
            } else {
                let rows = rows(
                    &v["principals"],
                    &["name", "id", "kind", "role", "disabled"],
                );
                out.table(&["NAME", "ID", "KIND", "ROLE", "DISABLED"], rows);
            }
        }
        PrincipalCommand::Disable { principal } => {
            let id = principal_id(&c, &principal)?;
            c.delete(&format!("/v1/principals/{}", seg(&id)))?;
            done(
                out,
                &json!({"id": id, "disabled": true}),
                &format!("Disabled principal {id}"),
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn token(g: Group<TokenCommand>) -> anyhow::Result<ExitCode> {
    let (c, out) = Client::connect(&g.conn)?;
    match g.cmd {
        TokenCommand::Create {
            principal,
            expires_at,
        } => {
            let body = match expires_at {
                Some(t) => json!({"expires_at": t}),
                None => json!({}),
            };
            let id = principal_id(&c, &principal)?;
            let v = c.post(&format!("/v1/principals/{}/tokens", seg(&id)), &body)?;
            if out.json {
                out.print_json(&v);
            } else {
                eprintln!(
                    "Token {} for {principal} (shown once; store it now):",
                    cell(&v["id"])
                );
                println!("{}", cell(&v["token"]));
            }
        }
        TokenCommand::Revoke { id } => {
            c.delete(&format!("/v1/tokens/{}", seg(&id)))?;
            done(
                out,
                &json!({"id": id, "revoked": true}),
                &format!("Revoked token {id}"),
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The grantee a `grant` command names: a principal or a group, by id or by name, as
/// the request field and the id.
fn grantee(
    c: &Client,
    principal: Option<String>,
    group: Option<String>,
) -> Result<(&'static str, String), CliError> {
    match (principal, group) {
        (_, Some(g)) => Ok(("group", group_id(c, &g)?)),
        (Some(p), None) => Ok(("principal", principal_id(c, &p)?)),
        (None, None) => Err(CliError::usage("name a principal or a --group")),
    }
}

pub fn grant(g: Group<GrantCommand>) -> anyhow::Result<ExitCode> {
    let (c, out) = Client::connect(&g.conn)?;
    match g.cmd {
        GrantCommand::Add {
            cred,
            principal,
            group,
            level,
        } => {
            let id = id_of(&c, &cred)?;
            let (field, who) = grantee(&c, principal, group)?;
            let v = c.post(
                &format!("/v1/credentials/{}/grants", seg(&id)),
                &json!({field: who, "level": level}),
            )?;
            done(
                out,
                &v,
                &format!(
                    "Granted {} ({id}) to {field} {who} at level {level}",
                    cell(&v["name"])
                ),
            );
        }
        GrantCommand::Revoke {
            cred,
            principal,
            group,
        } => {
            let id = id_of(&c, &cred)?;
            let (field, who) = grantee(&c, principal, group)?;
            c.delete(&format!(
                "/v1/credentials/{}/grants/{}",
                seg(&id),
                seg(&who)
            ))?;
            done(
                out,
                &json!({"credential_id": id, field: who, "revoked": true}),
                &format!("Revoked the grant of {id} to {field} {who}"),
            );
        }
        GrantCommand::List { cred } => {
            let v = lookup(&c, &cred)?;
            let grants = v["grantees"].clone();
            if out.json {
                out.print_json(&json!({"credential_id": v["id"], "grants": grants}));
            } else {
                let rows = grants
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|g| {
                        let (kind, id) = if g["group"].is_null() {
                            ("principal", cell(&g["principal"]))
                        } else {
                            ("group", cell(&g["group"]))
                        };
                        vec![kind.to_string(), id, cell(&g["level"])]
                    })
                    .collect();
                out.table(&["GRANTEE", "ID", "LEVEL"], rows);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn tenant(g: Group<TenantCommand>) -> anyhow::Result<ExitCode> {
    let (c, out) = Client::connect(&g.conn)?;
    match g.cmd {
        TenantCommand::Create { name } => {
            let v = c.post("/v1/tenants", &json!({"name": name}))?;
            if out.json {
                out.print_json(&v);
            } else {
                eprintln!(
                    "Tenant {name} ({}) with admin {}; its admin token (shown once):",
                    cell(&v["id"]),
                    cell(&v["admin_principal"])
                );
                println!("{}", cell(&v["admin_token"]));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn templates(g: Group<TemplatesCommand>) -> anyhow::Result<ExitCode> {
    let (c, out) = Client::connect(&g.conn)?;
    match g.cmd {
        TemplatesCommand::List => {
            let v = c.get("/v1/templates")?;
            if out.json {
                out.print_json(&v);
            } else {
                let rows = rows(&v["templates"], &["name", "title", "verifiable", "builtin"]);
                out.table(&["NAME", "TITLE", "VERIFIABLE", "BUILTIN"], rows);
            }
        }
        TemplatesCommand::Show { name } => show_template(&c, out, &name)?,
        TemplatesCommand::Define { file } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| CliError::usage(format!("cannot read {}: {e}", file.display())))?;
            let def: Value = serde_json::from_str(&text)
                .map_err(|e| CliError::usage(format!("{} is not JSON: {e}", file.display())))?;
            let name = cell(&def["name"]);
            if name.is_empty() {
                return Err(CliError::usage("the definition has no name").into());
            }
            let v = c.put(&format!("/v1/templates/{}", seg(&name)), &def)?;
            done(out, &v, &format!("Defined the template {name}"));
        }
        TemplatesCommand::Delete { name } => {
            c.delete(&format!("/v1/templates/{}", seg(&name)))?;
            done(
                out,
                &json!({"name": name, "deleted": true}),
                &format!("Deleted the template {name}"),
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn show_template(c: &Client, out: Out, name: &str) -> anyhow::Result<()> {
    let v = c.get(&format!("/v1/templates/{}", seg(name)))?;
    if out.json {
        out.print_json(&v);
        return Ok(());
    }
    println!(
        "{} — {}\n{}\n",
        cell(&v["name"]),
        cell(&v["title"]),
        cell(&v["description"])
    );
    if v["free_form"] == true {
        println!(
            "Free-form: any field names; list public ones in public_fields, the rest are secret."
        );
        return Ok(());
    }
    let rows = v["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            let secret = f["type"] == "secret" || f["secret"] == true;
            let when = if f["when"].is_null() {
                String::new()
            } else {
                format!(
                    "{}={}",
                    cell(&f["when"]["field"]),
                    cell(&f["when"]["equals"])
                )
            };
            let mut ty = cell(&f["type"]);
            if let Some(opts) = f["options"].as_array() {
                ty = format!(
                    "{ty} ({})",
                    opts.iter().map(cell).collect::<Vec<_>>().join("|")
                );
            }
            let env = match (f["env"].as_str(), f["env_mode"].as_str()) {
                (Some(e), Some("file")) => format!("{e} (path to a file)"),
                (Some(e), _) => e.to_string(),
                _ => String::new(),
            };
            vec![
                cell(&f["name"]),
                ty,
                yes(f["required"] == true),
                yes(secret),
                cell(&f["default"]),
                when,
                env,
            ]
        })
        .collect();
    out.table(
        &[
            "FIELD", "TYPE", "REQUIRED", "SECRET", "DEFAULT", "WHEN", "ENV",
        ],
        rows,
    );
    Ok(())
}

fn yes(b: bool) -> String {
    if b { "yes" } else { "" }.into()
}

fn rows(list: &Value, keys: &[&str]) -> Vec<Vec<String>> {
    list.as_array()
        .into_iter()
        .flatten()
        .map(|x| keys.iter().map(|k| cell(&x[*k])).collect())
        .collect()
}
