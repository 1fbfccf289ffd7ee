//! `credledger backup` and `credledger restore`.
//!
//! `backup --data DIR --out FILE` opens a ledger no server is using; `backup --out FILE`
//! without `--data` asks the running server (`GET /v1/admin/backup`, a system admin's
//! token), which fixes a consistent point while it keeps serving (see
//! `ledger::backup`). A data directory a server holds is refused with that advice.
//! Either way the file is then verified in full before it is reported done: restored into
//! a temporary directory, opened as `serve` opens it (head record, key check values), and
//! replayed (every hash link, every signature, every signed checkpoint's root, every
//! tenant checkpoint's root against the tenant tree rebuilt from the log and its
//! signature), and the tenant checkpoints and cosignatures found stored are those the
//! file carries.
//! `restore --from FILE --data DIR` does the same into DIR, and removes DIR again if
//! the verification fails.

use super::args::DataArg;
use super::client::Client;
use super::config::ConnArgs;
use super::evidence::check_store_complete;
use anyhow::{bail, Context};
use clap::Args;
use credledger::integrity::Roots;
use credledger::ledger::{backup, Config, Ledger};
use credledger::proof::side;
use credledger::{proof, replay, store};
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use zeroize::Zeroizing;

#[derive(Args, Debug)]
pub struct BackupArgs {
    /// A data directory no server is using; without it the backup is taken from the
    /// server at --addr (a system admin's token).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// The backup file to write (mode 0600; it holds the key files).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub conn: ConnArgs,
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// The backup file.
    #[arg(long)]
    pub from: PathBuf,
    #[command(flatten)]
    pub data: DataArg,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

fn config(dir: &Path) -> Config {
    let mut c = Config::new(dir);
    if let Ok(text) = std::env::var("CREDLEDGER_MASTER_KEYS") {
        c.master_keys_text = Some(Zeroizing::new(text));
    }
    c
}

/// What a verification established.
struct Verified {
    events: u64,
    checkpoints: usize,
    log_checkpoints: usize,
    cosignatures: usize,
    head: String,
}

/// Opens the restored ledger as `serve` would (length, head record, key checks), then
/// replays it: chain, signatures, checkpoint roots.
fn verify_dir(dir: &Path) -> anyhow::Result<Verified> {
    let (ledger, boot) = Ledger::open(config(dir)).context("opening the restored ledger")?;
    if boot.is_some() {
        bail!("the backup holds no ledger (the restore bootstrapped a new one)");
    }
    ledger.shutdown();
    drop(ledger);
    let backend = store::open_default(dir)?;
    check_store_complete(&*backend, dir).context("the restored log is incomplete")?;
    let checkpoints = proof::stored_checkpoints(&*backend)?;
    let mut roots = Roots::new(checkpoints.iter().map(|c| (c.tree_size, c.root)));
    let origin = proof::genesis(&*backend)?.0;
    let mut tenants = side::TenantRoots::new(&*backend, &origin);
    let records = store::records(backend.log(), 0).inspect(|r| {
        if let Ok((_, rec)) = r {
            roots.push(rec);
            tenants.push(rec);
        }
    });
    let report = replay::verify(records, None, |_| {});
    let (_, mismatches) = roots.finish();
    if let Some(f) = &report.failure {
        bail!("verification FAILED at event {}: {}", f.seq, f.problem);
    }
    if let Some(m) = mismatches.first() {
        bail!(
            "verification FAILED: the signed checkpoint of size {} does not match the log",
            m.size
        );
    }
    let chain = side::chain_keys(&report.keys).map_err(anyhow::Error::msg)?;
    tenants
        .finish(&chain)
        .map_err(|e| anyhow::anyhow!("verification FAILED: {e}"))?;
    let stored = side::stored_side_data(&*backend).map_err(anyhow::Error::msg)?;
    Ok(Verified {
        events: report.verified,
        checkpoints: checkpoints.len(),
        log_checkpoints: stored.log_checkpoints.len(),
        cosignatures: stored.cosignatures.len(),
        head: report.head_hash.to_string(),
    })
}

fn restore_into(from: &Path, dir: &Path) -> anyhow::Result<(backup::Summary, Verified)> {
    let file = std::fs::File::open(from).with_context(|| format!("opening {}", from.display()))?;
    let summary = backup::restore(&mut BufReader::new(file), dir)?;
    let verified = verify_dir(dir)?;
    if (verified.log_checkpoints, verified.cosignatures)
        != (summary.log_checkpoints, summary.cosignatures)
    {
        bail!(
            "the backup carries {} tenant checkpoints and {} cosignature sets, the restored ledger holds {} and {} that belong with its log",
            summary.log_checkpoints,
            summary.cosignatures,
            verified.log_checkpoints,
            verified.cosignatures
        );
    }
    if verified.events < summary.events {
        bail!(
            "the restored ledger verified {} events of the backup's {}",
            verified.events,
            summary.events
        );
    }
    Ok((summary, verified))
}

pub fn backup(args: BackupArgs) -> anyhow::Result<ExitCode> {
    let tmp = {
        let dir = args.out.parent().filter(|p| !p.as_os_str().is_empty());
        tempfile::Builder::new()
            .prefix(".credledger-backup-")
            .tempfile_in(dir.unwrap_or(Path::new(".")))
            .context("creating the backup file")?
    };
    {
        let mut out = BufWriter::new(tmp.as_file());
        match &args.data {
            Some(dir) => {
                let (ledger, boot) = match Ledger::open(config(dir)) {
                    Ok(x) => x,
                    Err(credledger::ledger::LedgerError::Store(
                        credledger::store::StoreError::Locked { .. },
                    )) => bail!(
                        "a server is using {}: take the backup from it with `credledger backup --out {} --addr URL` (a system admin's token); copying a live store is not consistent",
                        dir.display(),
                        args.out.display()
                    ),
                    Err(e) => return Err(e).with_context(|| format!("opening {}", dir.display())),
                };
                if boot.is_some() {
                    bail!("{} held no ledger", dir.display());
                }
                ledger.write_backup(&mut out)?;
                ledger.shutdown();
            }
            None => {
                let (c, _) = Client::connect(&args.conn)?;
                let mut resp = c.stream("/v1/admin/backup", &[])?;
                resp.copy_to(&mut out).context("receiving the backup")?;
            }
        }
        out.flush()?;
    }
    tmp.as_file().sync_all()?;
    // Verified in full before it is reported done.
    let scratch = tempfile::tempdir()?;
    let (summary, verified) = restore_into(tmp.path(), &scratch.path().join("data"))
        .context("the backup did not verify; nothing was written")?;
    tmp.persist(&args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    let json = args.conn.json;
    report("backup", &args.out, &summary, &verified, json);
    Ok(ExitCode::SUCCESS)
}

pub fn restore(args: RestoreArgs) -> anyhow::Result<ExitCode> {
    let dir = &args.data.data;
    if dir.join("ledger").exists() {
        bail!(
            "{} already holds a ledger; restore into a new directory",
            dir.display()
        );
    }
    let existed = dir.exists();
    match restore_into(&args.from, dir) {
        Ok((summary, verified)) => {
            report("restore", dir, &summary, &verified, args.json);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            // Leave nothing half-restored behind.
            let _ = std::fs::remove_dir_all(dir.join("ledger"));
            let _ = std::fs::remove_dir_all(credledger::keys::key_dir(dir));
            let _ = std::fs::remove_file(credledger::store::head::path(dir));
            if !existed {
                let _ = std::fs::remove_dir(dir);
            }
            Err(e)
        }
    }
}

fn report(what: &str, path: &Path, s: &backup::Summary, v: &Verified, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::json!({"ok": true, "path": path, "events": s.events, "keyring": s.keyring,
                "checkpoints": v.checkpoints, "log_checkpoints": v.log_checkpoints,
                "cosignatures": v.cosignatures, "head_hash": v.head, "verified_events": v.events})
        );
    } else {
        println!(
            "{what} ok: {} ({} events, {} data keys, {} signed checkpoints, {} tenant checkpoints, {} cosigned); verified: every hash link, signature, checkpoint root (global and tenant) and key check; head {}",
            path.display(),
            s.events,
            s.keyring,
            v.checkpoints,
            v.log_checkpoints,
            v.cosignatures,
            v.head
        );
    }
}
