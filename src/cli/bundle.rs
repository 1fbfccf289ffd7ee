//! `credledger export` and `credledger verify-bundle`: offline proof bundles.
//!
//! `export` works on a data directory while no server runs, and never changes it: it
//! opens a private copy of the store (see `evidence`), refuses an incomplete log, brings
//! the copy's projections (and so the Merkle tree) up to the log, signs a checkpoint with
//! the signing-key file (stored in the copy only; an identical note if the ledger signs
//! that size itself), and writes the bundle. `verify-bundle` needs only the bundle and a
//! verifier key. Exit codes: 0 ok, 1 verification failed, 2 usage or I/O error.

use super::args::DataArg;
use super::evidence::Evidence;
use anyhow::Context;
use credledger::bundle::{self, BundleError};
use credledger::{keys, projection, proof};
use std::io::{BufReader, BufWriter};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `credledger export`.
#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    data: DataArg,
    /// Where to write the bundle (JSON Lines).
    #[arg(long)]
    out: PathBuf,
    /// The first event to export.
    #[arg(long, default_value_t = 0)]
    from: u64,
    /// One past the last event to export (default: every event in the tree).
    #[arg(long)]
    to: Option<u64>,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

/// Arguments of `credledger verify-bundle`.
#[derive(clap::Args, Debug)]
pub struct VerifyBundleArgs {
    /// The bundle written by `credledger export`.
    file: PathBuf,
    /// The ledger's verifier key (`origin+keyid+base64`): the genesis key that `export`
    /// prints, or any later signing key of the same ledger.
    #[arg(long)]
    key: String,
    /// A witness's verifier key (`credledger witness key` prints it); repeat. Usage
    /// reports only: their boundary checkpoints must carry `--quorum` cosignatures of these.
    #[arg(long = "witness", value_name = "VERIFIER_KEY")]
    witnesses: Vec<String>,
    /// How many of the `--witness`es must have cosigned (usage reports only).
    #[arg(long, default_value_t = 0)]
    quorum: usize,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub fn export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let dir = &args.data.data;
    let ev = Evidence::open(&args.data, args.json)?;
    ev.require_complete()?;
    let store = ev.backend();
    projection::catch_up(store, |_| {}).context("bringing the Merkle tree up to the log")?;
    let sk = keys::read_signing_key(dir)?
        .with_context(|| format!("no signing key in {}", keys::signing_path(dir).display()))?;
    let cp = proof::checkpoint_with_key(store, &sk).context("signing the checkpoint")?;
    let file = std::fs::File::create(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let mut out = BufWriter::new(file);
    let summary = bundle::export(store, &cp, args.from, args.to, &mut out)?;
    out.into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()
        .with_context(|| format!("writing {}", args.out.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "exported events [{}, {}) of {} ({} events) to {}",
            summary.from,
            summary.to,
            summary.tree_size,
            summary.events,
            args.out.display()
        );
        println!("verifier key: {}", summary.verifier_key);
    }
    Ok(ExitCode::SUCCESS)
}

/// Verifies an event proof file and prints what it proves. Exit 0 ok, 1 failed.
fn verify_event_proof(bytes: &[u8], key: &str, json: bool) -> anyhow::Result<ExitCode> {
    match bundle::event_proof::verify_event_proof(bytes, key) {
        Ok(v) if json => {
            let mut out = serde_json::to_value(&v)?;
            out["ok"] = true.into();
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(ExitCode::SUCCESS)
        }
        Ok(v) => {
            println!(
                "ok: event {} ({}, {}) is leaf {} of {} ({} leaves), under a checkpoint signed by the ledger key",
                v.seq,
                v.action,
                credledger::time::rfc3339(v.at_ms),
                v.leaf_index,
                v.tenant
                    .as_deref()
                    .map_or("the global log".to_string(), |t| format!("tenant {t}'s log")),
                v.tree_size
            );
            println!("checkpoint origin: {}", v.origin);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            if json {
                println!("{}", serde_json::json!({"ok": false, "error": e}));
            } else {
                println!("FAILED: {e}");
            }
            Ok(ExitCode::from(1))
        }
    }
}

pub fn verify(args: VerifyBundleArgs) -> anyhow::Result<ExitCode> {
    let mut file = std::fs::File::open(&args.file)
        .with_context(|| format!("opening {}", args.file.display()))?;
    let mut head = [0u8; 256];
    let n = std::io::Read::read(&mut file, &mut head)
        .with_context(|| format!("reading {}", args.file.display()))?;
    if head[..n].trim_ascii_start().starts_with(b"{") {
        let bytes = std::fs::read(&args.file)
            .with_context(|| format!("reading {}", args.file.display()))?;
        if bundle::event_proof::is_event_proof(&bytes) {
            return verify_event_proof(&bytes, &args.key, args.json);
        }
    }
    if super::report::is_usage_report(&head[..n]) {
        let bytes = std::fs::read(&args.file)
            .with_context(|| format!("reading {}", args.file.display()))?;
        return super::report::verify(&bytes, &args.key, &args.witnesses, args.quorum, args.json);
    }
    if args.quorum > 0 {
        anyhow::bail!(
            "--quorum applies to usage reports (`credledger report usage`), not to exports"
        );
    }
    std::io::Seek::rewind(&mut file).with_context(|| format!("reading {}", args.file.display()))?;
    match bundle::verify_bundle_reader(BufReader::with_capacity(1 << 20, file), &args.key) {
        Ok(r) => {
            if args.json {
                let mut v = serde_json::to_value(&r)?;
                v["ok"] = true.into();
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!(
                    "ok: events [{}, {}) of {} verified ({} events)",
                    r.from, r.to, r.tree_size, r.events
                );
                println!("every signature, hash link and key rotation holds; the events match the signed root");
                println!("origin {}", r.origin);
                println!(
                    "root {} (tree size {})",
                    credledger::proof::b64::encode(&r.root),
                    r.tree_size
                );
                for k in &r.keys {
                    println!("signing key from event {}: {}", k.from_seq, k.key);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) if e.is_usage() => Err(e.into()),
        Err(e) => {
            if args.json {
                println!(
                    "{}",
                    serde_json::json!({"ok": false, "error": e.to_string(), "kind": kind(&e)})
                );
            } else {
                println!("FAILED: {e}");
            }
            Ok(ExitCode::from(1))
        }
    }
}

fn kind(e: &BundleError) -> &'static str {
    match e {
        BundleError::Truncated(_) => "truncated",
        BundleError::Malformed { .. } => "malformed",
        BundleError::UnknownFormat(_) => "unknown_format",
        BundleError::WrongKey(_) => "wrong_key",
        BundleError::CheckpointSignature(_) => "checkpoint_signature",
        BundleError::CheckpointMismatch(_) => "checkpoint_mismatch",
        BundleError::Anchor { .. } => "anchor",
        BundleError::Event { .. } => "event",
        BundleError::KeyChain(_) => "key_chain",
        BundleError::RootMismatch(_) => "root_mismatch",
        _ => "error",
    }
}
