//! Command-line parsing (raw arguments → typed commands) and dispatch.

mod bundle;
mod debug;
mod forensics;
mod replay;
mod serve;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// credledger — an event-sourced, audit-first credential ledger.
#[derive(Parser, Debug)]
#[command(name = "credledger", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The data directory option shared by local commands.
#[derive(clap::Args, Debug, Clone)]
pub struct DataArg {
    /// The ledger's data directory.
    #[arg(long, env = "CREDLEDGER_DATA", default_value = "./credledger-data")]
    pub data: PathBuf,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the HTTP server (bootstraps an empty data directory).
    Serve(serve::ServeArgs),
    /// Forensics: verify the log, rebuild projections, show past state and history.
    #[command(subcommand)]
    Replay(replay::ReplayCommand),
    /// Write a self-contained, offline-verifiable bundle of events, keys and proofs.
    Export(bundle::ExportArgs),
    /// Check a bundle with only a verifier key: exit 0 ok, 1 failed (naming the problem).
    VerifyBundle(bundle::VerifyBundleArgs),
    /// Internal load generators used by the crash test and benchmarks.
    #[command(subcommand, hide = true)]
    Debug(debug::DebugCommand),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Replay(cmd) => replay::run(cmd),
        Command::Export(args) => bundle::export(args),
        Command::VerifyBundle(args) => bundle::verify(args),
        Command::Debug(cmd) => debug::run(cmd),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// A progress bar on a terminal, hidden otherwise.
pub fn progress(total: u64, what: &str) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} ({per_sec}, eta {eta})")
            .expect("a valid template"),
    );
    bar.set_message(what.to_string());
    bar
}
