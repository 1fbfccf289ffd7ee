//! `credledger admin recover`: break-glass recovery of system administration on a
//! stopped server's data directory (see `ledger::recover`).
//!
//! **Invariant:** it never creates a ledger: a directory without one is refused, so a
//! typo cannot bootstrap a second ledger with a token nobody expects.

use super::args::DataArg;
use super::serve::check_token_destination;
use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use credledger::ledger::{Config, Ledger};
use credledger::store::head;
use credledger::store::lease::WriterLease;
use credledger::store::postgres::{PgBackend, PgOptions};
use credledger::store::select::StoreSpec;
use credledger::store::{Backend, LogStore};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use zeroize::Zeroizing;

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Issue a new system-admin token offline (server stopped, key files readable); the
    /// new principal and its token are signed events like any other.
    Recover(RecoverArgs),
}

#[derive(Args, Debug)]
pub struct RecoverArgs {
    #[command(flatten)]
    pub data: DataArg,
    /// The new system-admin principal's name.
    #[arg(long, default_value = "recovery-admin")]
    pub name: String,
    /// Write the token to this file (mode 0600) instead of printing it.
    #[arg(long)]
    pub token_file: Option<PathBuf>,
}

pub fn run(cmd: AdminCommand) -> anyhow::Result<ExitCode> {
    let AdminCommand::Recover(args) = cmd;
    let dir = &args.data.data;
    let mut config = Config::new(dir);
    if let Ok(text) = std::env::var("CREDLEDGER_MASTER_KEYS") {
        config.master_keys_text = Some(Zeroizing::new(text));
    }
    if let StoreSpec::Postgres(url) = args.data.spec()? {
        if let Some(path) = &args.token_file {
            check_token_destination("--token-file", path)?;
        }
        return recover_on_postgres(&args, config, &url);
    }
    let holds_ledger = dir.join("ledger").exists()
        || head::read(dir)
            .with_context(|| format!("reading {}", head::path(dir).display()))?
            .is_some();
    if !holds_ledger {
        bail!(
            "{} holds no ledger: `admin recover` never creates one",
            dir.display()
        );
    }
    if let Some(path) = &args.token_file {
        check_token_destination("--token-file", path)?;
    }
    let (ledger, boot) =
        Ledger::open(config).with_context(|| format!("opening the ledger in {}", dir.display()))?;
    if boot.is_some() {
        ledger.shutdown();
        bail!(
            "{} held no ledger (a new one was bootstrapped)",
            dir.display()
        );
    }
    let issued = ledger.recover_admin(&args.name);
    ledger.shutdown();
    hand_out(&args, issued)
}

/// `admin recover --store postgres://…`: every node must be stopped (this takes the
/// writer lease for the one event, and gives it back).
fn recover_on_postgres(args: &RecoverArgs, config: Config, url: &str) -> anyhow::Result<ExitCode> {
    let pg = PgBackend::connect(url, None, &PgOptions::default())
        .context("opening the PostgreSQL store")?;
    if pg.next_seq()? == 0 {
        bail!(
            "{} holds no ledger: `admin recover` never creates one",
            pg.place()
        );
    }
    if pg
        .try_take("admin-recover", "", Duration::from_secs(60))?
        .is_none()
    {
        bail!(
            "a credledger node holds the writer lease of {}: stop every node first",
            pg.place()
        );
    }
    let pg = Arc::new(pg);
    let store: Arc<dyn Backend> = pg.clone();
    let opened = Ledger::open_with_backend(config, store);
    let issued = opened.map(|(ledger, _)| {
        let issued = ledger.recover_admin(&args.name);
        ledger.shutdown();
        issued
    });
    let _ = pg.release();
    hand_out(args, issued.context("opening the ledger")?)
}

/// Writes or prints the new token.
fn hand_out(
    args: &RecoverArgs,
    issued: Result<credledger::ledger::Bootstrap, credledger::ledger::LedgerError>,
) -> anyhow::Result<ExitCode> {
    let issued = issued.context("recovering system administration")?;
    let line = format!("{}\n", issued.token.expose());
    match &args.token_file {
        Some(path) => {
            credledger::fsutil::write_private_atomic(path, line.as_bytes()).with_context(|| {
                format!(
                    "writing the token to {} (the principal '{}' exists now: run again with another --name)",
                    path.display(),
                    args.name
                )
            })?;
            eprintln!(
                "credledger: system admin '{}' ({}) created; token written to {}",
                args.name,
                issued.admin,
                path.display()
            );
        }
        None => {
            eprintln!(
                "credledger: system admin '{}' ({}) created; token (shown once, store it now):",
                args.name, issued.admin
            );
            print!("{line}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
