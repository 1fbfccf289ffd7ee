//! `credledger cred …`: create, list, show, rotate, update, select the default,
//! lifecycle, connection tests, versions and resolution of credentials.
//!
//! The arguments and the dispatch live here; `change` holds the subcommands that write,
//! `show` those that read.
//!
//! **Invariant:** only `cred resolve` prints a secret value; every other subcommand
//! prints the server's metadata, which never holds one.

mod change;
mod show;

use super::client::Client;
use super::config::ConnArgs;
use super::error::EXIT_CODES;
use super::fields::{parse_field_arg, FieldArg, Source};
use super::output::Out;
use change::{add, delete, destroy, restore, rotate, update, use_default, verify};
use clap::{Args, Subcommand};
use serde_json::Value;
use show::{list, resolve_cmd, show, versions};
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
    /// Fields not given keep their values.
    Rotate(RotateArgs),
    /// Change some fields without re-entering the others (a new version), and/or the
    /// name, description, rotation schedule or expiry.
    #[command(
        after_long_help = "Only what you give changes: `cred update pve --field host=https://pve2:8006` keeps the token.\nA field given as NAME= (empty) is cleared."
    )]
    Update(UpdateArgs),
    /// Make it the default of its service: the tenant default (shared), or your selected
    /// profile (personal). The previous default is unset in the same step.
    Use(CredRef),
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
    /// Make it the default for its service (shared: the tenant default; personal: your
    /// selected profile).
    #[arg(long)]
    default: bool,
    /// Run the template's connection test on the values first; save only if it passes.
    #[arg(long)]
    test: bool,
}

#[derive(Args, Debug)]
pub struct UpdateArgs {
    #[command(flatten)]
    r: CredRef,
    /// A field that changes: NAME=VALUE, NAME=@FILE, NAME=- (stdin); NAME= clears it.
    /// Repeatable; the other fields keep their values.
    #[arg(long = "field", short = 'f', value_name = "NAME=VALUE", value_parser = parse_field_arg)]
    fields: Vec<FieldArg>,
    /// A new name.
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    description: Option<String>,
    /// Rotation schedule in days, or `none` to remove it.
    #[arg(long, value_name = "DAYS|none")]
    rotate_every_days: Option<String>,
    /// Expiry (RFC 3339), or `none` to remove it.
    #[arg(long, value_name = "TIME|none")]
    expires_at: Option<String>,
    /// Include it in scheduled connection tests (`serve --verify-every`) or leave it out.
    #[arg(long, value_name = "on|off", value_parser = parse_on_off)]
    scheduled_verify: Option<bool>,
}

/// `on` or `off`.
fn parse_on_off(s: &str) -> Result<bool, String> {
    match s {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err("expected `on` or `off`".into()),
    }
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

pub(super) fn uses_stdin(fields: &[FieldArg]) -> bool {
    fields.iter().any(|f| matches!(f.source, Source::Stdin))
}

pub fn run(args: CredArgs) -> anyhow::Result<ExitCode> {
    let (c, out) = Client::connect(&args.conn)?;
    match args.cmd {
        CredCommand::Add(a) => add(&c, out, a),
        CredCommand::List(a) => list(&c, out, a),
        CredCommand::Show(r) => show(&c, out, &r),
        CredCommand::Rotate(a) => rotate(&c, out, a),
        CredCommand::Update(a) => update(&c, out, a),
        CredCommand::Use(r) => use_default(&c, out, &r),
        CredCommand::Delete(r) => delete(&c, out, &r),
        CredCommand::Restore(r) => restore(&c, out, &r),
        CredCommand::Destroy(a) => destroy(&c, out, a),
        CredCommand::Verify(r) => verify(&c, out, &r),
        CredCommand::Versions(r) => versions(&c, out, &r),
        CredCommand::Resolve(a) => resolve_cmd(&c, out, a),
    }
}

pub(super) fn done(out: Out, v: &Value, text: &str) {
    if out.json {
        out.print_json(v);
    } else {
        println!("{text}");
    }
}
