//! `credledger report usage` (fetch a credential's complete usage report bundle from the
//! server, `GET /v1/credentials/{id}/usage-report`) and the usage-report half of
//! `credledger verify-bundle` (check one offline and print who used it, when, from where,
//! with which outcome).

use super::client::{seg, Client};
use super::config::ConnArgs;
use super::lookup::id_of;
use anyhow::Context;
use clap::{Args, Subcommand};
use credledger::note::cosignature::CosignerKey;
use credledger::report::{verify_report, ReportError};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand, Debug)]
pub enum ReportCommand {
    /// Write a bundle proving every event of a credential in [FROM, TO): who used it, or
    /// that nobody did. Check it with `credledger verify-bundle FILE --key KEY`.
    Usage(UsageReportArgs),
}

#[derive(Args, Debug)]
pub struct UsageReportArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// The credential (id or name).
    #[arg(long)]
    pub credential: String,
    /// The interval's start, RFC 3339 (included).
    #[arg(long)]
    pub from: String,
    /// The interval's end, RFC 3339 (excluded).
    #[arg(long)]
    pub to: String,
    /// Where to write the bundle.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(cmd: ReportCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ReportCommand::Usage(a) => usage(a),
    }
}

fn usage(a: UsageReportArgs) -> anyhow::Result<ExitCode> {
    let (c, _) = Client::connect(&a.conn)?;
    let id = id_of(&c, &a.credential)?;
    let v = c.get_query(
        &format!("/v1/credentials/{}/usage-report", seg(&id)),
        &[("from", a.from.clone()), ("to", a.to.clone())],
    )?;
    let mut bytes = serde_json::to_vec(&v)?;
    bytes.push(b'\n');
    credledger::fsutil::write_private_atomic(&a.out, &bytes)
        .with_context(|| format!("writing {}", a.out.display()))?;
    eprintln!(
        "usage report of {id} over [{}, {}) written to {} ({} events in the range)",
        a.from,
        a.to,
        a.out.display(),
        v["leaves"].as_array().map_or(0, Vec::len)
    );
    Ok(ExitCode::SUCCESS)
}

/// Whether `head` (the file's first bytes) starts a usage report rather than an export:
/// an export's first line is its header, naming its format; a report is one JSON object
/// whose keys may come in any order.
pub fn is_usage_report(head: &[u8]) -> bool {
    let head = String::from_utf8_lossy(head);
    let first_line = head.split('\n').next().unwrap_or("");
    head.trim_start().starts_with('{')
        && !first_line.contains(credledger::bundle::FORMAT)
        && (head.contains(credledger::report::REPORT_FORMAT) || !head.contains('\n'))
}

/// Verifies a usage report and prints what it proves. Exit 0 ok, 1 failed.
pub fn verify(
    bytes: &[u8],
    key: &str,
    witnesses: &[String],
    quorum: usize,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let witnesses = witnesses
        .iter()
        .map(|w| CosignerKey::parse(w).with_context(|| format!("--witness {w:?}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    match verify_report(bytes, key, &witnesses, quorum) {
        Ok(r) => {
            if json {
                let mut v = serde_json::to_value(&r)?;
                v["ok"] = true.into();
                outln!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(ExitCode::SUCCESS);
            }
            outln!(
                "ok: complete usage report of credential {} in tenant {}",
                r.credential,
                r.tenant
            );
            outln!(
                "interval [{}, {}): every event of the tenant log between its leaves {} and {} is here ({} events), bracketed by signed checkpoints",
                credledger::time::rfc3339(r.from_ms),
                credledger::time::rfc3339(r.to_ms),
                r.start,
                r.end,
                r.events
            );
            if quorum > 0 {
                outln!("witnessed by {} (quorum {quorum})", r.witnesses.join(", "));
            }
            if r.uses.is_empty() {
                outln!("nobody used it: no event of this credential in the interval");
            }
            for u in &r.uses {
                outln!(
                    "{}  {:<12} {:<7} by {} from {} (event {})",
                    credledger::time::rfc3339(u.at_ms),
                    u.action,
                    u.outcome,
                    u.principal.as_deref().unwrap_or("-"),
                    u.remote_addr.as_deref().unwrap_or("-"),
                    u.seq
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ ReportError::BadKey(_)) => Err(e.into()),
        Err(e) => {
            if json {
                outln!(
                    "{}",
                    serde_json::json!({"ok": false, "error": e.to_string()})
                );
            } else {
                outln!("FAILED: {e}");
            }
            Ok(ExitCode::from(1))
        }
    }
}
