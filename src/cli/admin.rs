//! Administration: `principal`, `token`, `grant`, `tenant` and `templates`.
//!
//! **Invariant:** `token create` and `tenant create` print the new API token once, because
//! showing it is their whole purpose; nothing else here prints a secret.

use super::args::Group;
use super::client::{seg, Client};
use super::lookup::{id_of, lookup};
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
        /// `admin`, `editor`, `resolver` or `auditor`.
        #[arg(long)]
        role: String,
    },
    /// List the principals of your tenant.
    List,
    /// Disable a principal (its tokens stop working).
    Disable { id: String },
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Issue an API token for a principal; it is printed once.
    Create {
        /// The principal id.
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
    /// Let a principal resolve a shared credential.
    Add {
        /// The credential's id or name.
        cred: String,
        /// The principal id.
        principal: String,
    },
    /// Withdraw a grant.
    Revoke { cred: String, principal: String },
    /// List the principals a credential is granted to.
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
        PrincipalCommand::Disable { id } => {
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
            let v = c.post(&format!("/v1/principals/{}/tokens", seg(&principal)), &body)?;
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

pub fn grant(g: Group<GrantCommand>) -> anyhow::Result<ExitCode> {
    let (c, out) = Client::connect(&g.conn)?;
    match g.cmd {
        GrantCommand::Add { cred, principal } => {
            let id = id_of(&c, &cred)?;
            let v = c.post(
                &format!("/v1/credentials/{}/grants", seg(&id)),
                &json!({"principal": principal}),
            )?;
            done(
                out,
                &v,
                &format!("Granted {} ({id}) to {principal}", cell(&v["name"])),
            );
        }
        GrantCommand::Revoke { cred, principal } => {
            let id = id_of(&c, &cred)?;
            c.delete(&format!(
                "/v1/credentials/{}/grants/{}",
                seg(&id),
                seg(&principal)
            ))?;
            done(
                out,
                &json!({"credential_id": id, "principal": principal, "revoked": true}),
                &format!("Revoked the grant of {id} to {principal}"),
            );
        }
        GrantCommand::List { cred } => {
            let v = lookup(&c, &cred)?;
            let grants = v["grants"].clone();
            if out.json {
                out.print_json(&json!({"credential_id": v["id"], "grants": grants}));
            } else {
                let rows = grants
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|g| vec![cell(g)])
                    .collect();
                out.table(&["PRINCIPAL"], rows);
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
                let rows = rows(&v["templates"], &["name", "title", "verifiable"]);
                out.table(&["NAME", "TITLE", "VERIFIABLE"], rows);
            }
        }
        TemplatesCommand::Show { name } => show_template(&c, out, &name)?,
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
