//! Argument groups shared by several commands: [`Group`] (a subcommand with the
//! connection options) and [`DataArg`] (the data directory of local commands).
//!
//! **Invariant:** only clap definitions live here; resolving them is `config`'s job.

use super::config::ConnArgs;
use super::error::EXIT_CODES;
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// A command group with the shared connection options.
#[derive(Args, Debug)]
#[command(after_long_help = EXIT_CODES)]
pub struct Group<C: Subcommand> {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(subcommand)]
    pub cmd: C,
}

/// The data directory option shared by local commands.
#[derive(Args, Debug, Clone)]
pub struct DataArg {
    /// The ledger's data directory.
    #[arg(long, env = "CREDLEDGER_DATA", default_value = "./credledger-data")]
    pub data: PathBuf,
}
