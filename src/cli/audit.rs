//! Reviewers' commands: `audit query`, `audit export`, `usage` and `due`.
//!
//! **Invariant:** these only read the audit, usage and compliance views, which never
//! hold a secret value.

use super::args::Group;
use super::client::{seg, Client};
use super::config::ConnArgs;
use super::error::{CliError, EXIT_CODES, FAILED};
use super::lookup::{id_of, principal_id};
use super::output::{cell, Out};
use clap::{Args, Subcommand};
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Filters shared by `audit query` and `audit export`.
#[derive(Args, Debug, Clone)]
pub struct Filters {
    /// A credential id or name.
    #[arg(long)]
    pub credential: Option<String>,
    /// A principal id.
    #[arg(long)]
    pub actor: Option<String>,
    /// An action, e.g. used, use_denied, rotated, created.
    #[arg(long)]
    pub action: Option<String>,
    /// `ok`, `denied` or `failed`.
    #[arg(long)]
    pub outcome: Option<String>,
    /// From this instant (RFC 3339, inclusive).
    #[arg(long)]
    pub from: Option<String>,
    /// Up to this instant (RFC 3339, inclusive).
    #[arg(long)]
    pub to: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Query the audit log (one page, or every page with --all).
    Query {
        #[command(flatten)]
        filters: Filters,
        /// Page size (1-1000).
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Continue after a previous page (its next_cursor).
        #[arg(long)]
        cursor: Option<String>,
        /// Follow the cursor to the end.
        #[arg(long)]
        all: bool,
    },
    /// Stream the audit log as JSON lines or CSV.
    Export {
        #[command(flatten)]
        filters: Filters,
        /// `jsonl` or `csv`.
        #[arg(long, default_value = "jsonl")]
        format: String,
        /// Write to this file instead of stdout.
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
}

impl Filters {
    fn query(&self, c: &Client) -> Result<Vec<(&'static str, String)>, CliError> {
        let credential = self
            .credential
            .as_deref()
            .map(|r| id_of(c, r))
            .transpose()?;
        Ok([
            ("credential", credential),
            ("actor", self.actor.clone()),
            ("action", self.action.clone()),
            ("outcome", self.outcome.clone()),
            ("from", self.from.clone()),
            ("to", self.to.clone()),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect())
    }
}

pub fn audit(g: Group<AuditCommand>) -> anyhow::Result<ExitCode> {
    let (c, out) = Client::connect(&g.conn)?;
    match g.cmd {
        AuditCommand::Query {
            filters,
            limit,
            cursor,
            all,
        } => {
            let base = filters.query(&c)?;
            let mut events = Vec::new();
            let mut cursor = cursor;
            let next = loop {
                let mut q = base.clone();
                q.push(("limit", limit.to_string()));
                if let Some(cur) = &cursor {
                    q.push(("cursor", cur.clone()));
                }
                let page = c.get_query("/v1/audit", &q)?;
                events.extend(page["events"].as_array().cloned().unwrap_or_default());
                cursor = page["next_cursor"].as_str().map(str::to_string);
                if !all || cursor.is_none() {
                    break cursor;
                }
            };
            if out.json {
                out.print_json(&json!({"events": events, "next_cursor": next}));
            } else {
                let rows = events
                    .iter()
                    .map(|e| {
                        [
                            "seq",
                            "at",
                            "action",
                            "outcome",
                            "actor",
                            "credential_id",
                            "remote_addr",
                        ]
                        .iter()
                        .map(|k| cell(&e[*k]))
                        .collect()
                    })
                    .collect();
                out.table(
                    &[
                        "SEQ",
                        "AT",
                        "ACTION",
                        "OUTCOME",
                        "ACTOR",
                        "CREDENTIAL",
                        "FROM",
                    ],
                    rows,
                );
                if let Some(n) = next {
                    eprintln!("more: --cursor {n} (or --all)");
                }
            }
        }
        AuditCommand::Export {
            filters,
            format,
            out: file,
        } => {
            let mut q = filters.query(&c)?;
            q.push(("format", format));
            let mut resp = c.stream("/v1/audit/export", &q)?;
            let n = match &file {
                Some(path) => {
                    let mut f = std::fs::File::create(path).map_err(|e| {
                        CliError::usage(format!("cannot write {}: {e}", path.display()))
                    })?;
                    let n = resp.copy_to(&mut f)?;
                    f.sync_all()?;
                    n
                }
                None => {
                    let mut stdout = std::io::stdout().lock();
                    let n = resp.copy_to(&mut stdout)?;
                    stdout.flush()?;
                    n
                }
            };
            if let Some(path) = file {
                eprintln!("wrote {n} bytes to {}", path.display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `credledger usage --by template|service`: the summary by provider.
fn summary(c: &Client, out: Out, by: &str) -> anyhow::Result<ExitCode> {
    let v = c.get_query("/v1/usage/summary", &[("by", by.to_string())])?;
    if out.json {
        out.print_json(&v);
    } else {
        let keys = [
            "key",
            "count",
            "uses",
            "last_used_at",
            "failed_verifies",
            "overdue_rotations",
        ];
        let rows = v["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|g| keys.iter().map(|k| cell(&g[*k])).collect())
            .collect();
        out.table(
            &[
                &by.to_ascii_uppercase(),
                "CREDENTIALS",
                "USES",
                "LAST USED",
                "FAILED TESTS",
                "OVERDUE",
            ],
            rows,
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Args, Debug)]
#[command(after_long_help = EXIT_CODES)]
pub struct UsageArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// One credential (id or name).
    #[arg(long, conflicts_with = "principal")]
    pub credential: Option<String>,
    /// One principal (id or name).
    #[arg(long, conflicts_with = "by")]
    pub principal: Option<String>,
    /// Sum the credentials you may see by `template` or `service`: count, uses, last use,
    /// failed connection tests, overdue rotations.
    #[arg(long, conflicts_with = "credential", value_parser = ["template", "service"])]
    pub by: Option<String>,
}

/// `credledger usage`: resolve counts and last use, per credential or principal.
pub fn usage(a: UsageArgs) -> anyhow::Result<ExitCode> {
    let (c, out) = Client::connect(&a.conn)?;
    if let Some(by) = &a.by {
        return summary(&c, out, by);
    }
    let one = match (&a.credential, &a.principal) {
        (Some(r), _) => Some(c.get(&format!("/v1/credentials/{}/usage", seg(&id_of(&c, r)?)))?),
        (None, Some(p)) => Some(c.get(&format!(
            "/v1/usage/principals/{}",
            seg(&principal_id(&c, p)?)
        ))?),
        (None, None) => None,
    };
    let keys = [
        "uses",
        "denied",
        "verifies",
        "last_used_at",
        "last_used_with",
        "last_remote_addr",
        "last_source",
    ];
    match one {
        Some(v) if out.json => out.print_json(&v),
        Some(v) => out.kv(&keys.iter().map(|k| (*k, cell(&v[*k]))).collect::<Vec<_>>()),
        None => {
            let v = c.get("/v1/usage")?;
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
                            "service",
                            "uses",
                            "denied",
                            "verifies",
                            "last_used_at",
                            "last_used_with",
                        ]
                        .iter()
                        .map(|k| cell(&x[*k]))
                        .collect()
                    })
                    .collect();
                out.table(
                    &[
                        "NAME",
                        "SERVICE",
                        "USES",
                        "DENIED",
                        "VERIFIES",
                        "LAST USED",
                        "BY",
                    ],
                    rows,
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Args, Debug)]
#[command(after_long_help = EXIT_CODES)]
pub struct DueArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Exit 1 when any credential is overdue (for cron and CI).
    #[arg(long)]
    pub check: bool,
}

/// `credledger due`: credentials overdue or due for rotation within 7 days.
pub fn due(a: DueArgs) -> anyhow::Result<ExitCode> {
    let (c, out) = Client::connect(&a.conn)?;
    let v = c.get("/v1/compliance/rotation")?;
    let overdue = v["overdue"].as_array().map_or(0, Vec::len);
    if out.json {
        out.print_json(&v);
    } else {
        let mut rows: Vec<Vec<String>> = Vec::new();
        for (state, list) in [("OVERDUE", &v["overdue"]), ("due", &v["due"])] {
            for x in list.as_array().into_iter().flatten() {
                rows.push(vec![
                    state.into(),
                    cell(&x["name"]),
                    cell(&x["id"]),
                    cell(&x["rotation_due_at"]),
                    cell(&x["rotated_at"]),
                    cell(&x["rotate_every_days"]),
                ]);
            }
        }
        if rows.is_empty() {
            println!(
                "Nothing due for rotation (checked {}).",
                cell(&v["checked_at"])
            );
        } else {
            out.table(
                &["STATE", "NAME", "ID", "DUE", "LAST ROTATED", "EVERY (DAYS)"],
                rows,
            );
        }
        let unscheduled = v["unscheduled"].as_array().map_or(0, Vec::len);
        if unscheduled > 0 {
            eprintln!("{unscheduled} active credential(s) have no rotation schedule.");
        }
    }
    if a.check && overdue > 0 {
        return Ok(ExitCode::from(FAILED));
    }
    Ok(ExitCode::SUCCESS)
}
