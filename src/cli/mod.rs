//! Command-line parsing (raw arguments → typed commands) and dispatch.

/// Prints a line to stdout. A closed pipe (`credledger … | head`) ends the command
/// quietly instead of panicking (removing any private copy of a store first).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                $crate::cli::evidence::remove_copies();
                std::process::exit(0);
            }
            panic!("cannot write to stdout: {e}");
        }
    }};
}

mod admin;
mod args;
mod audit;
mod backup;
mod bundle;
mod client;
mod config;
mod cred;
mod debug;
mod error;
mod evidence;
mod exec;
mod fields;
mod forensics;
mod group;
mod import;
mod keys;
mod logging;
mod lookup;
mod migrate;
mod node;
mod output;
mod recover;
mod replay;
mod report;
mod serve;
mod session;
mod witness;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// credledger — an event-sourced, audit-first credential ledger.
#[derive(Parser, Debug)]
#[command(name = "credledger", version, about, long_about = None, after_long_help = error::EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the HTTP server (bootstraps an empty data directory).
    Serve(serve::ServeArgs),
    /// Forensics: verify the log, rebuild projections, show past state and history.
    #[command(subcommand)]
    Replay(replay::ReplayCommand),
    /// Copy a ledger between a data directory and PostgreSQL (either way), then verify it.
    Migrate(migrate::MigrateArgs),
    /// Write a self-contained, offline-verifiable bundle of events, keys and proofs.
    Export(bundle::ExportArgs),
    /// Check a bundle with only a verifier key: exit 0 ok, 1 failed (naming the problem).
    VerifyBundle(bundle::VerifyBundleArgs),
    /// Complete, offline-verifiable reports: `report usage` (who used a credential, or
    /// that nobody did).
    #[command(subcommand)]
    Report(report::ReportCommand),
    /// Internal load generators used by the crash test and benchmarks.
    #[command(subcommand, hide = true)]
    Debug(debug::DebugCommand),
    /// Save the server address and a token (checked first) in the config file (0600).
    Login(session::LoginArgs),
    /// Remove the saved config file.
    Logout(config::ConnArgs),
    /// Show who the token belongs to.
    Whoami(config::ConnArgs),
    /// Credentials: add, list, show, rotate, update, use, delete, restore, destroy, verify,
    /// versions, resolve.
    Cred(cred::CredArgs),
    /// Service templates: list, show; tenant templates: define, delete.
    Templates(args::Group<admin::TemplatesCommand>),
    /// Principals (users and services): create, list, disable.
    Principal(args::Group<admin::PrincipalCommand>),
    /// API tokens: create, revoke.
    Token(args::Group<admin::TokenCommand>),
    /// Grants of shared credentials to principals and groups: add, revoke, list.
    Grant(args::Group<admin::GrantCommand>),
    /// Groups (teams) of principals: create, list, add-member, remove-member.
    Group(args::Group<group::GroupCommand>),
    /// Tenants (system admins): create.
    Tenant(args::Group<admin::TenantCommand>),
    /// The audit log: query, export.
    Audit(args::Group<audit::AuditCommand>),
    /// Usage counts and last use, per credential or principal, or summed by template or
    /// service.
    Usage(audit::UsageArgs),
    /// Credentials overdue or due for rotation.
    Due(audit::DueArgs),
    /// Run a command with a credential's fields in its environment (resolved afresh).
    Exec(exec::ExecArgs),
    /// Write a credential's fields to a file (mode 0600) as env lines, JSON or one field's
    /// raw content.
    Materialize(exec::MaterializeArgs),
    /// Import .env files into credentials of the matching templates.
    ImportEnv(import::ImportArgs),
    /// Local administration of a stopped server's data directory: recover.
    #[command(subcommand)]
    Admin(recover::AdminCommand),
    /// Write a consistent backup (from the running server, or a directory no server
    /// uses), verified in full before it is reported done.
    Backup(backup::BackupArgs),
    /// Restore a backup into a new data directory, verified in full.
    Restore(backup::RestoreArgs),
    /// Key rotation through the running server (system admins): rotate-master,
    /// rotate-signing.
    Keys(args::Group<keys::KeysCommand>),
    /// A C2SP tlog-witness for credledger (or any) checkpoints: serve, key.
    #[command(subcommand)]
    Witness(witness::WitnessCommand),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // Local commands keep exit code 2 for their errors; client commands map theirs
    // through `error::CliError` (see `error::EXIT_CODES`), other failures being 1.
    let (result, default_code) = match cli.command {
        Command::Serve(args) => (serve::run(args), 2),
        Command::Replay(cmd) => (replay::run(cmd), 2),
        Command::Admin(cmd) => (recover::run(cmd), 2),
        Command::Debug(cmd) => (debug::run(cmd), 2),
        Command::Login(a) => (session::login(a), 1),
        Command::Logout(a) => (session::logout(a), 1),
        Command::Whoami(a) => (session::whoami(a), 1),
        Command::Cred(a) => (cred::run(a), 1),
        Command::Templates(g) => (admin::templates(g), 1),
        Command::Principal(g) => (admin::principal(g), 1),
        Command::Token(g) => (admin::token(g), 1),
        Command::Grant(g) => (admin::grant(g), 1),
        Command::Group(g) => (group::run(g), 1),
        Command::Tenant(g) => (admin::tenant(g), 1),
        Command::Audit(g) => (audit::audit(g), 1),
        Command::Usage(a) => (audit::usage(a), 1),
        Command::Due(a) => (audit::due(a), 1),
        Command::Exec(a) => (exec::exec(a), 1),
        Command::Materialize(a) => (exec::materialize(a), 1),
        Command::ImportEnv(a) => (import::run(a), 1),
        Command::Export(args) => (bundle::export(args), 2),
        Command::Migrate(args) => (migrate::run(args), 2),
        Command::VerifyBundle(args) => (bundle::verify(args), 2),
        Command::Report(cmd) => (report::run(cmd), 1),
        Command::Witness(cmd) => (witness::run(cmd), 2),
        Command::Backup(a) => (backup::backup(a), 1),
        Command::Restore(a) => (backup::restore(a), 2),
        Command::Keys(g) => (keys::run(g), 1),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            let code = e
                .downcast_ref::<error::CliError>()
                .map_or(default_code, |c| c.code);
            ExitCode::from(code)
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

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
