//! `credledger cred …`: create, list, show, rotate, lifecycle, connection tests, versions
//! and resolution of credentials.
//!
//! **Invariant:** only `cred resolve` prints a secret value; every other subcommand
//! prints the server's metadata, which never holds one.

use super::client::{seg, Client};
use super::config::ConnArgs;
use super::error::{CliError, EXIT_CODES, FAILED};
use super::fields::{parse_field_arg, prompt_missing, read_args, FieldArg, Source};
use super::lookup::{id_of, lookup, resolve};
use super::output::{cell, Out};
use clap::{Args, Subcommand};
use credledger::template::Catalog;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

#[derive(Args, Debug)]
#[command(after_long_help = EXIT_CODES)]
pub struct CredArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(subcommand)]
    pub cmd: CredCommand,
}

/// A credential by id or by name.
#[derive(Args, Debug)]
pub struct CredRef {
    /// The credential's id or name.
    pub cred: String,
}

#[derive(Subcommand, Debug)]
pub enum CredCommand {
    /// Create a credential from a template; prompts for missing secrets on a terminal.
    #[command(
        after_long_help = "Field values: --field NAME=VALUE, NAME=@FILE (read a file) or NAME=- (read stdin).\nA secret given as NAME=VALUE shows in shell history and ps; prefer @FILE or -."
    )]
    Add(AddArgs),
    /// List credentials (metadata only).
    List(ListArgs),
    /// Show one credential's metadata (secret fields by name only).
    Show(CredRef),
    /// Rotate: new secret values, a new version; prompts for secrets on a terminal.
    Rotate(RotateArgs),
    /// Soft-delete (restorable).
    Delete(CredRef),
    /// Undo a delete.
    Restore(CredRef),
    /// Crypto-shred every version: irreversible.
    Destroy(DestroyArgs),
    /// Run the template's connection test; exit 1 when it fails.
    Verify(CredRef),
    /// List the versions and which still hold their data key.
    Versions(CredRef),
    /// Print the secret values (the one command besides exec and materialize that does).
    Resolve(ResolveArgs),
}

// The argument structs carry no doc comment of their own: the variant's is the
// subcommand's help.

#[derive(Args, Debug)]
pub struct AddArgs {
    /// Template name (see `credledger templates list`).
    #[arg(long, short)]
    template: String,
    /// A unique name for the credential.
    #[arg(long, short)]
    name: String,
    /// A field value: NAME=VALUE, NAME=@FILE or NAME=- (stdin). Repeatable.
    #[arg(long = "field", short = 'f', value_name = "NAME=VALUE", value_parser = parse_field_arg)]
    fields: Vec<FieldArg>,
    /// `tenant` (shared, default), `me`, or a principal id.
    #[arg(long)]
    owner: Option<String>,
    /// The service it answers for in `resolve --service` (default: the template).
    #[arg(long)]
    service: Option<String>,
    #[arg(long)]
    description: Option<String>,
    /// Rotation schedule in days (`due` lists overdue credentials).
    #[arg(long, value_name = "DAYS")]
    rotate_every_days: Option<u32>,
    /// Expiry (RFC 3339).
    #[arg(long, value_name = "TIME")]
    expires_at: Option<String>,
    /// Make it the tenant default for its service.
    #[arg(long)]
    default: bool,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    #[arg(long)]
    template: Option<String>,
    #[arg(long)]
    service: Option<String>,
    /// `tenant`, `me` or a principal id.
    #[arg(long)]
    owner: Option<String>,
    /// `active` (default), `deleted`, `destroyed` or `all`.
    #[arg(long)]
    status: Option<String>,
    /// `due` or `overdue`.
    #[arg(long)]
    rotation: Option<String>,
    #[arg(long)]
    name: Option<String>,
}

#[derive(Args, Debug)]
pub struct RotateArgs {
    #[command(flatten)]
    r: CredRef,
    /// A field value: NAME=VALUE, NAME=@FILE or NAME=- (stdin). Repeatable.
    #[arg(long = "field", short = 'f', value_name = "NAME=VALUE", value_parser = parse_field_arg)]
    fields: Vec<FieldArg>,
}

#[derive(Args, Debug)]
pub struct DestroyArgs {
    #[command(flatten)]
    r: CredRef,
    /// Do not ask for confirmation (required when not on a terminal).
    #[arg(long)]
    yes: bool,
}

#[derive(Args, Debug)]
pub struct ResolveArgs {
    /// The credential's id or name; or use --service.
    #[arg(required_unless_present = "service", conflicts_with = "service")]
    cred: Option<String>,
    /// Resolve by service: own → granted → tenant default → environment fallback.
    #[arg(long)]
    service: Option<String>,
    /// Resolve for this user (resolver services and admins).
    #[arg(long, requires = "service")]
    for_user: Option<String>,
    /// A retained older version.
    #[arg(long, conflicts_with = "service")]
    version: Option<u32>,
    /// Print only this field's value (for scripts).
    #[arg(long)]
    field: Option<String>,
}

fn uses_stdin(fields: &[FieldArg]) -> bool {
    fields.iter().any(|f| matches!(f.source, Source::Stdin))
}

pub fn run(args: CredArgs) -> anyhow::Result<ExitCode> {
    let (c, out) = Client::connect(&args.conn)?;
    match args.cmd {
        CredCommand::Add(a) => add(&c, out, a),
        CredCommand::List(a) => list(&c, out, a),
        CredCommand::Show(r) => show(&c, out, &r),
        CredCommand::Rotate(a) => rotate(&c, out, a),
        CredCommand::Delete(r) => delete(&c, out, &r),
        CredCommand::Restore(r) => restore(&c, out, &r),
        CredCommand::Destroy(a) => destroy(&c, out, a),
        CredCommand::Verify(r) => verify(&c, out, &r),
        CredCommand::Versions(r) => versions(&c, out, &r),
        CredCommand::Resolve(a) => resolve_cmd(&c, out, a),
    }
}

/// `cred add`.
fn add(c: &Client, out: Out, a: AddArgs) -> anyhow::Result<ExitCode> {
    let AddArgs {
        template,
        name,
        fields,
        owner,
        service,
        description,
        rotate_every_days,
        expires_at,
        default,
    } = a;
    let t = Catalog::builtin().get(&template).ok();
    let mut values = read_args(t, &fields)?;
    if let Some(t) = t {
        prompt_missing(t, &mut values, None, false, uses_stdin(&fields))?;
    }
    let mut body =
        json!({"name": name, "template": template, "fields": values, "default": default});
    let opt = [
        ("owner", owner.map(Value::from)),
        ("service", service.map(Value::from)),
        ("description", description.map(Value::from)),
        ("rotate_every_days", rotate_every_days.map(Value::from)),
        ("expires_at", expires_at.map(Value::from)),
    ];
    for (k, v) in opt {
        if let Some(v) = v {
            body[k] = v;
        }
    }
    let v = c.post("/v1/credentials", &body)?;
    done(
        out,
        &v,
        &format!(
            "Created {} ({}) version {} from template {}",
            cell(&v["name"]),
            cell(&v["id"]),
            cell(&v["version"]),
            cell(&v["template"])
        ),
    );
    Ok(ExitCode::SUCCESS)
}

/// `cred list`.
fn list(c: &Client, out: Out, a: ListArgs) -> anyhow::Result<ExitCode> {
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
fn show(c: &Client, out: Out, r: &CredRef) -> anyhow::Result<ExitCode> {
    let v = lookup(c, &r.cred)?;
    if out.json {
        out.print_json(&v);
    } else {
        print_metadata(out, &v);
    }
    Ok(ExitCode::SUCCESS)
}

/// `cred rotate`.
fn rotate(c: &Client, out: Out, a: RotateArgs) -> anyhow::Result<ExitCode> {
    let RotateArgs { r, fields } = a;
    let cur = lookup(c, &r.cred)?;
    let t = Catalog::builtin().get(cell(&cur["template"]).as_str()).ok();
    let mut values = read_args(t, &fields)?;
    if let Some(t) = t {
        let public: BTreeMap<String, String> = cur["fields"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), cell(v))).collect())
            .unwrap_or_default();
        prompt_missing(t, &mut values, Some(&public), true, uses_stdin(&fields))?;
    }
    if values.is_empty() {
        return Err(
            CliError::usage("no field values given (use --field NAME=- or NAME=@FILE)").into(),
        );
    }
    let id = cell(&cur["id"]);
    let v = c.post(
        &format!("/v1/credentials/{}/rotate", seg(&id)),
        &json!({"fields": values}),
    )?;
    done(
        out,
        &v,
        &format!(
            "Rotated {} ({id}) to version {}",
            cell(&cur["name"]),
            cell(&v["version"])
        ),
    );
    Ok(ExitCode::SUCCESS)
}

/// `cred delete`.
fn delete(c: &Client, out: Out, r: &CredRef) -> anyhow::Result<ExitCode> {
    let id = id_of(c, &r.cred)?;
    let v = c.delete(&format!("/v1/credentials/{}", seg(&id)))?;
    done(
        out,
        &v,
        &format!(
            "Deleted {} ({id}); `credledger cred restore {id}` undoes it",
            cell(&v["name"])
        ),
    );
    Ok(ExitCode::SUCCESS)
}

/// `cred restore`.
fn restore(c: &Client, out: Out, r: &CredRef) -> anyhow::Result<ExitCode> {
    let id = id_of(c, &r.cred)?;
    let v = c.post_empty(&format!("/v1/credentials/{}/restore", seg(&id)))?;
    done(out, &v, &format!("Restored {} ({id})", cell(&v["name"])));
    Ok(ExitCode::SUCCESS)
}

/// `cred destroy`.
fn destroy(c: &Client, out: Out, a: DestroyArgs) -> anyhow::Result<ExitCode> {
    let DestroyArgs { r, yes } = a;
    let cur = lookup(c, &r.cred)?;
    let (id, name) = (cell(&cur["id"]), cell(&cur["name"]));
    if !yes {
        confirm_destroy(&name)?;
    }
    let v = c.post_empty(&format!("/v1/credentials/{}/destroy", seg(&id)))?;
    done(
        out,
        &v,
        &format!(
            "Destroyed {name} ({id}): every version is unrecoverable (shred: {})",
            cell(&v["shred"])
        ),
    );
    Ok(ExitCode::SUCCESS)
}

/// `cred verify`: exit 1 when the connection test fails.
fn verify(c: &Client, out: Out, r: &CredRef) -> anyhow::Result<ExitCode> {
    let cur = lookup(c, &r.cred)?;
    let id = cell(&cur["id"]);
    let v = c.post_empty(&format!("/v1/credentials/{}/verify", seg(&id)))?;
    let ok = v["ok"].as_bool() == Some(true);
    if out.json {
        out.print_json(&v);
    } else {
        println!(
            "Connection test of {} v{}: {} ({}, {} ms)",
            cell(&cur["name"]),
            cell(&v["version"]),
            if ok { "ok" } else { "FAILED" },
            cell(&v["reason"]),
            cell(&v["latency_ms"])
        );
    }
    if !ok {
        return Ok(ExitCode::from(FAILED));
    }
    Ok(ExitCode::SUCCESS)
}

/// `cred versions`.
fn versions(c: &Client, out: Out, r: &CredRef) -> anyhow::Result<ExitCode> {
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
fn resolve_cmd(c: &Client, out: Out, a: ResolveArgs) -> anyhow::Result<ExitCode> {
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
            Some(Value::String(s)) => s.clone(),
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

fn done(out: Out, v: &Value, text: &str) {
    if out.json {
        out.print_json(v);
    } else {
        println!("{text}");
    }
}

fn confirm_destroy(name: &str) -> Result<(), CliError> {
    if !std::io::stdin().is_terminal() {
        return Err(CliError::usage(
            "destroy is irreversible; pass --yes to confirm",
        ));
    }
    eprint!("Destroy '{name}' and every version of it, irreversibly? Type its name to confirm: ");
    std::io::stderr().flush().ok();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).ok();
    if line.trim() == name {
        Ok(())
    } else {
        Err(CliError::usage("not confirmed; nothing destroyed"))
    }
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
