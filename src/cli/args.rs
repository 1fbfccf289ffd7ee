//! Argument groups shared by several commands: [`Group`] (a subcommand with the
//! connection options) and [`DataArg`] (the data directory of local commands).
//!
//! **Invariant:** only clap definitions live here (and the parse of `--store`);
//! resolving the rest is `config`'s job.

use super::config::ConnArgs;
use super::error::EXIT_CODES;
use clap::{Args, Subcommand};
use credledger::store::select::StoreSpec;
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
    /// The store: `embedded` (the default: sled under `--data`) or a PostgreSQL URL
    /// (`postgres://user:password@host:port/db`, a socket directory as the host, or
    /// `?host=/run/postgresql`). With PostgreSQL, `--data` holds the keys and this node's
    /// projection cache.
    #[arg(long, env = "CREDLEDGER_STORE")]
    pub store: Option<String>,
}

impl DataArg {
    /// The selected store.
    pub fn spec(&self) -> anyhow::Result<StoreSpec> {
        Ok(StoreSpec::parse(self.store.as_deref())?)
    }
}
