//! `credledger login`, `logout` and `whoami`: save, remove and check the connection
//! that [`super::config`] resolves.
//!
//! **Invariant:** `login` saves a token only after the server accepted it
//! (`/v1/whoami`), and never prints it.

use super::client::Client;
use super::config::{config_path, save_config, ConnArgs, Connection};
use super::error::CliError;
use clap::Args;
use serde_json::json;
use std::io::{IsTerminal, Read};
use std::process::ExitCode;
use zeroize::Zeroizing;

#[derive(Args, Debug)]
pub struct LoginArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `credledger login`: check the token with `/v1/whoami`, then save address and token.
/// The token comes from `--token`, else `CREDLEDGER_TOKEN`, else stdin (a prompt without
/// echo on a terminal).
pub fn login(args: LoginArgs) -> anyhow::Result<ExitCode> {
    let env = |k: &str| std::env::var(k).ok();
    let path = config_path(args.conn.config.as_deref(), &env)
        .ok_or_else(|| CliError::usage("no config path: set CREDLEDGER_CONFIG or HOME"))?;
    let mut conn = Connection::resolve(&args.conn, &env)?;
    let env_token = env("CREDLEDGER_TOKEN").is_some_and(|t| !t.is_empty());
    if args.conn.token.is_none() && !env_token {
        let token = if std::io::stdin().is_terminal() {
            Zeroizing::new(rpassword::prompt_password(format!(
                "Token for {}: ",
                conn.addr
            ))?)
        } else {
            let mut s = Zeroizing::new(String::new());
            std::io::stdin().read_to_string(&mut s)?;
            s
        };
        let token = Zeroizing::new(token.trim().to_string());
        if token.is_empty() {
            return Err(CliError::usage("no token given (type it, or pipe it on stdin)").into());
        }
        conn.token = Some(token);
    }
    let client = Client::new(&conn)?;
    let me = client.get("/v1/whoami")?;
    save_config(&path, &conn)?;
    let out = conn.out;
    if out.json {
        out.print_json(&json!({"addr": conn.addr, "config": path, "whoami": me}));
    } else {
        println!(
            "Logged in to {} as {} ({}, tenant {}); saved to {}",
            conn.addr,
            me["name"].as_str().unwrap_or("?"),
            me["role"].as_str().unwrap_or("?"),
            me["tenant"].as_str().unwrap_or("?"),
            path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `credledger logout`: remove the config file.
pub fn logout(args: ConnArgs) -> anyhow::Result<ExitCode> {
    let path = config_path(args.config.as_deref(), &|k| std::env::var(k).ok())
        .ok_or_else(|| CliError::usage("no config path: set CREDLEDGER_CONFIG or HOME"))?;
    match std::fs::remove_file(&path) {
        Ok(()) => eprintln!("removed {}", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("not logged in ({} does not exist)", path.display())
        }
        Err(e) => return Err(e.into()),
    }
    Ok(ExitCode::SUCCESS)
}

/// `credledger whoami`.
pub fn whoami(args: ConnArgs) -> anyhow::Result<ExitCode> {
    let (c, out) = Client::connect(&args)?;
    let me = c.get("/v1/whoami")?;
    if out.json {
        out.print_json(&me);
    } else {
        out.kv(&[
            ("server", c.addr().to_string()),
            ("name", me["name"].as_str().unwrap_or("").into()),
            ("principal", me["principal"].as_str().unwrap_or("").into()),
            ("role", me["role"].as_str().unwrap_or("").into()),
            ("kind", me["kind"].as_str().unwrap_or("").into()),
            ("tenant", me["tenant"].as_str().unwrap_or("").into()),
            ("token id", me["token"].as_str().unwrap_or("").into()),
        ]);
    }
    Ok(ExitCode::SUCCESS)
}
