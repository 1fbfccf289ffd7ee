//! `credledger migrate --from A --to B`: copy a ledger between the embedded store (a
//! data directory) and PostgreSQL (a URL), in either direction, then verify the target
//! (`credledger::migrate`). Rerun it after an interruption: it resumes.
//!
//! **Invariant:** the source is opened without writing to it (an embedded source is a
//! private copy); a PostgreSQL target must have no writer (the migration takes the
//! writer lease for its appends and gives it up after).

use super::args::DataArg;
use super::evidence::Evidence;
use anyhow::{bail, Context};
use clap::Args;
use credledger::store::lease::WriterLease;
use credledger::store::postgres::{PgBackend, PgOptions};
use credledger::store::select::StoreSpec;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct MigrateArgs {
    /// The source: a data directory (embedded store) or a postgres:// URL.
    #[arg(long)]
    from: String,
    /// The target: a data directory (embedded store, created) or a postgres:// URL.
    #[arg(long)]
    to: String,
    /// Copy the key files (`DIR/keys`) of this data directory into an embedded target
    /// (default: the source's, when the source is a directory).
    #[arg(long)]
    keys: Option<PathBuf>,
    /// PostgreSQL target: accept `synchronous_commit` or `fsync` off.
    #[arg(long)]
    accept_lost_commits: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

fn data_arg(place: &str) -> anyhow::Result<(DataArg, StoreSpec)> {
    let spec = StoreSpec::parse(Some(place))
        .or_else(|_| StoreSpec::parse(None))
        .context("--from/--to")?;
    let (data, store) = match &spec {
        StoreSpec::Postgres(url) => (PathBuf::from("."), Some(url.clone())),
        StoreSpec::Embedded => (PathBuf::from(place), None),
    };
    Ok((DataArg { data, store }, spec))
}

pub fn run(args: MigrateArgs) -> anyhow::Result<ExitCode> {
    let (from, from_spec) = data_arg(&args.from)?;
    let (to, to_spec) = data_arg(&args.to)?;
    if !from_spec.is_postgres() && !to_spec.is_postgres()
        || from_spec == to_spec && from.data == to.data
    {
        bail!("migrate copies between a data directory and a postgres:// URL (one of each)");
    }
    let source = Evidence::open(&from, args.json)?;
    let bar = super::progress(0, "migrating");
    let report = match &to_spec {
        StoreSpec::Postgres(url) => {
            let options = PgOptions {
                accept_lost_commits: args.accept_lost_commits,
                ..PgOptions::default()
            };
            let pg = PgBackend::connect(url, None, &options)
                .context("opening the target PostgreSQL store")?;
            if pg
                .try_take("migrate", "", Duration::from_secs(600))?
                .is_none()
            {
                bail!("a credledger node holds the target's writer lease: stop every node first");
            }
            let done =
                credledger::migrate::migrate(source.backend(), &source.dir, &pg, None, |n, t| {
                    bar.set_length(t);
                    bar.set_position(n);
                });
            let _ = pg.release();
            done?
        }
        StoreSpec::Embedded => {
            let dir = to.data.as_path();
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            let keys = args
                .keys
                .clone()
                .or_else(|| (!from_spec.is_postgres()).then(|| from.data.clone()));
            match keys {
                Some(k) => copy_keys(&k, dir)?,
                None => eprintln!(
                    "credledger: no --keys given: copy a node's DIR/keys into {} (or give the keys by environment) before serving it",
                    dir.display()
                ),
            }
            let target = credledger::store::open_default(dir)
                .with_context(|| format!("opening the target store in {}", dir.display()))?;
            let done = credledger::migrate::migrate(
                source.backend(),
                &source.dir,
                &*target,
                Some(dir),
                |n, t| {
                    bar.set_length(t);
                    bar.set_position(n);
                },
            );
            done?
        }
    };
    bar.finish_and_clear();
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        outln!(
            "migrated {} records ({} already there), {} data keys, {} checkpoints from {} to {}; target verified; Merkle root {}",
            report.records,
            report.resumed_at,
            report.keys,
            report.checkpoints,
            from_spec_name(&from_spec, &from.data),
            from_spec_name(&to_spec, &to.data),
            report.root
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn from_spec_name(spec: &StoreSpec, dir: &Path) -> String {
    match spec {
        StoreSpec::Postgres(_) => spec.describe(),
        StoreSpec::Embedded => dir.display().to_string(),
    }
}

/// Copies `from/keys/*` into `to/keys/` (files only, mode kept), unless identical.
fn copy_keys(from: &Path, to: &Path) -> anyhow::Result<()> {
    let (src, dst) = (from.join("keys"), to.join("keys"));
    if !src.is_dir() || src == dst {
        return Ok(());
    }
    std::fs::create_dir_all(&dst)?;
    for e in std::fs::read_dir(&src)? {
        let e = e?;
        if e.file_type()?.is_file() {
            std::fs::copy(e.path(), dst.join(e.file_name()))
                .with_context(|| format!("copying {}", e.path().display()))?;
        }
    }
    Ok(())
}
