//! Command-line parsing (raw arguments → typed commands) and dispatch.

/// Prints a line to stdout. A closed pipe (`credledger … | head`) ends the command
/// quietly instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            panic!("cannot write to stdout: {e}");
        }
    }};
}

mod debug;
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
    /// Internal load generators used by the crash test and benchmarks.
    #[command(subcommand, hide = true)]
    Debug(debug::DebugCommand),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Replay(cmd) => replay::run(cmd),
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
        indicatif::ProgressStyle::with_template(
            "{msg} {bar:40} {pos}/{len} ({per_sec}, eta {eta})",
        )
        .expect("a valid template"),
    );
    bar.set_message(what.to_string());
    bar
}
