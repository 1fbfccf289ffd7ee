//! `credledger witness`: run a C2SP tlog-witness (`serve`) and print its
//! verifier key (`key`). Resolves flags and the optional TOML file of logs
//! into `witness::LogConfig`s, then hands over to the library.
//!
//! **Invariant:** the witness has its own data directory
//! (`--data`/`CREDLEDGER_WITNESS_DATA`), never the ledger's `CREDLEDGER_DATA`.

use anyhow::Context;
use clap::{Args, Subcommand};
use credledger::witness::{self, LogConfig, Witness};
use rand::rngs::OsRng;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Subcommand, Debug)]
pub enum WitnessCommand {
    /// Run a witness: cosign each checkpoint of a configured log that extends the last one it
    /// cosigned (POST /add-checkpoint).
    Serve(ServeArgs),
    /// Print the witness's verifier key, creating the witness key if the directory has none.
    Key(KeyArgs),
}

/// The witness's data directory.
#[derive(Args, Debug)]
pub struct WitnessData {
    /// The witness's data directory (its key and the latest checkpoint of each log).
    #[arg(
        long,
        env = "CREDLEDGER_WITNESS_DATA",
        default_value = "./credledger-witness"
    )]
    pub data: PathBuf,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    pub data: WitnessData,
    /// Address to listen on.
    #[arg(
        long,
        env = "CREDLEDGER_WITNESS_LISTEN",
        default_value = "127.0.0.1:8421"
    )]
    pub listen: String,
    /// The witness's name (its key name), used when the key is created; later starts must
    /// give the same name or none. Default: credledger-witness/<hash of the key>.
    #[arg(long)]
    pub name: Option<String>,
    /// A log to witness, as its verifier key `<origin>+<key id>+<base64 key>`: the origin is the
    /// key's name. Repeat for more logs, or for several keys of one log (a key rotation).
    #[arg(long = "log-key", value_name = "VERIFIER_KEY")]
    pub log_keys: Vec<String>,
    /// A TOML file of logs: `[[log]]` tables with `keys = ["<verifier key>", ...]` and an
    /// optional `origin` (default: the first key's name).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log format: `text` or `json`.
    #[arg(long, env = "CREDLEDGER_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
}

#[derive(Args, Debug)]
pub struct KeyArgs {
    #[command(flatten)]
    pub data: WitnessData,
    /// The name to give a new witness key (ignored, but checked, if the key exists).
    #[arg(long)]
    pub name: Option<String>,
}

/// The TOML file of `--config`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    log: Vec<LogEntry>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct LogEntry {
    origin: Option<String>,
    keys: Vec<String>,
}

pub fn run(cmd: WitnessCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        WitnessCommand::Serve(args) => serve(args),
        WitnessCommand::Key(args) => key(args),
    }
}

fn key(args: KeyArgs) -> anyhow::Result<ExitCode> {
    let (key, created) =
        witness::load_or_create_key(&args.data.data, args.name.as_deref(), &mut OsRng)?;
    if created {
        eprintln!(
            "credledger: new witness key in {}",
            args.data.data.join(witness::KEY_FILE).display()
        );
    }
    outln!("{}", key.cosigner().verifier_key());
    Ok(ExitCode::SUCCESS)
}

/// Resolves `--log-key` flags and the config file into log configurations.
fn logs(args: &ServeArgs) -> anyhow::Result<Vec<LogConfig>> {
    let mut out = Vec::new();
    for vkey in &args.log_keys {
        out.push(
            LogConfig::from_verifier_key(vkey).with_context(|| format!("--log-key {vkey:?}"))?,
        );
    }
    if let Some(path) = &args.config {
        out.extend(read_config(path)?);
    }
    Ok(out)
}

fn read_config(path: &Path) -> anyhow::Result<Vec<LogConfig>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let file: ConfigFile =
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let mut out = Vec::new();
    for (i, entry) in file.log.into_iter().enumerate() {
        let mut keys = Vec::new();
        for vkey in &entry.keys {
            let cfg = LogConfig::from_verifier_key(vkey)
                .with_context(|| format!("{}: log {}: key {vkey:?}", path.display(), i + 1))?;
            keys.extend(cfg.keys);
        }
        let Some(first) = keys.first() else {
            anyhow::bail!("{}: log {} has no keys", path.display(), i + 1);
        };
        out.push(LogConfig {
            origin: entry.origin.unwrap_or_else(|| first.0.clone()),
            keys,
        });
    }
    Ok(out)
}

fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    super::logging::init(&args.log_format);
    let logs = logs(&args)?;
    if logs.is_empty() {
        anyhow::bail!(
            "no log to witness: give --log-key VERIFIER_KEY (repeatable) or --config FILE"
        );
    }
    let dir = &args.data.data;
    let (key, created) = witness::load_or_create_key(dir, args.name.as_deref(), &mut OsRng)?;
    if created {
        eprintln!("credledger: new witness in {}", dir.display());
    }
    let vkey = key.cosigner().verifier_key();
    let witness = Witness::open(dir, key, logs)
        .with_context(|| format!("opening the witness in {}", dir.display()))?;
    for origin in witness.origins() {
        match witness.latest(origin) {
            Some(head) => tracing::info!(origin, size = head.size, "witnessing log"),
            None => tracing::info!(origin, "witnessing log (nothing cosigned yet)"),
        }
    }
    eprintln!("credledger: witness key {vkey}");
    let witness = Arc::new(witness);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("binding {}", args.listen))?;
        let bound = listener.local_addr()?;
        // A stable line for scripts and tests (with `--listen 127.0.0.1:0`, the port).
        eprintln!("credledger: witness listening on http://{bound}");
        witness::serve(listener, witness, shutdown_signal()).await?;
        tracing::info!("witness shut down; every cosigned checkpoint is durable");
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = tokio::signal::ctrl_c() => {}, _ = term => {} }
    tracing::info!("shutdown requested; finishing in-flight requests");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_file_gives_origins_and_keys() {
        let dir = tempfile::tempdir().unwrap();
        let a = credledger::note::verifier_key(
            "log.example/a",
            &ed25519_dalek::SigningKey::from_bytes(&[1; 32]).verifying_key(),
        )
        .unwrap();
        let b = credledger::note::verifier_key(
            "sum.example",
            &ed25519_dalek::SigningKey::from_bytes(&[2; 32]).verifying_key(),
        )
        .unwrap();
        let path = dir.path().join("w.toml");
        std::fs::write(
            &path,
            format!(
                "[[log]]\nkeys = [\"{a}\"]\n\n[[log]]\norigin = \"sum tree\"\nkeys = [\"{b}\"]\n"
            ),
        )
        .unwrap();
        let logs = read_config(&path).unwrap();
        assert_eq!(logs[0].origin, "log.example/a");
        assert_eq!(logs[1].origin, "sum tree");
        assert_eq!(logs[1].keys[0].0, "sum.example");
        std::fs::write(&path, "[[log]]\nkeys = []\n").unwrap();
        assert!(read_config(&path).is_err());
        std::fs::write(&path, "[[log]]\nkey = \"x\"\n").unwrap();
        assert!(read_config(&path).is_err());
    }
}
