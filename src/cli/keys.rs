//! `credledger keys rotate-master|rotate-signing`: online key rotation through the
//! running server (a system admin's token). The server keeps serving; the rotation is an
//! event, so the key chain stays verifiable (`replay verify` lists every signing key).

use super::args::Group;
use super::client::Client;
use clap::Subcommand;
use std::process::ExitCode;

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Add a new master key, rewrap every live data key under it, discard the old ones.
    RotateMaster,
    /// Switch to a new signing key (introduced by an event signed with the old one).
    RotateSigning,
}

pub fn run(g: Group<KeysCommand>) -> anyhow::Result<ExitCode> {
    let (c, out) = Client::connect(&g.conn)?;
    let (path, field, what) = match g.cmd {
        KeysCommand::RotateMaster => (
            "/v1/admin/keys/rotate-master",
            "master_key_id",
            "master key",
        ),
        KeysCommand::RotateSigning => (
            "/v1/admin/keys/rotate-signing",
            "signing_key",
            "signing key",
        ),
    };
    let v = c.post_empty(path)?;
    if out.json {
        out.print_json(&v);
    } else {
        println!(
            "{what} rotated; now in use: {}",
            super::output::cell(&v[field])
        );
    }
    Ok(ExitCode::SUCCESS)
}
