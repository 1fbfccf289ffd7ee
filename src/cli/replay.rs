//! `credledger replay`: verify, rebuild, state, history, diff, report.
//!
//! Every subcommand works on a private copy of the store (see `evidence`) and leaves the
//! data directory byte for byte as it was; only `rebuild --in-place` writes it.

use super::args::DataArg;
use super::evidence::{self, Evidence};
use super::{forensics, progress};
use anyhow::{bail, Context};
use clap::Subcommand;
use credledger::event::SignedEvent;
use credledger::id::Id;
use credledger::integrity::{self, Roots};
use credledger::replay::{Failure, Problem};
use credledger::store::sled::SledBackend;
use credledger::store::{Backend, LogStore};
use credledger::time::parse_rfc3339;
use credledger::{projection, proof, replay};
use std::process::ExitCode;

#[derive(Subcommand, Debug)]
pub enum ReplayCommand {
    /// Check every hash link and signature; exit non-zero naming the first bad event.
    Verify {
        #[command(flatten)]
        data: DataArg,
        /// Expect this genesis key (hex ed25519 public key) instead of trusting event 0.
        #[arg(long)]
        key: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Rebuild every projection from the log and compare with the stored ones (exit 1 if
    /// they differ); with `--in-place`, replace them (the server must be stopped).
    Rebuild {
        #[command(flatten)]
        data: DataArg,
        /// Replace the stored projections with the rebuild (writes the data directory).
        #[arg(long)]
        in_place: bool,
        #[arg(long)]
        json: bool,
    },
    /// Print the state as it was after event N or at a time.
    State {
        #[command(flatten)]
        data: DataArg,
        /// Include events up to and including this sequence number.
        #[arg(long, conflicts_with = "at")]
        at_seq: Option<u64>,
        /// Include events up to this instant (RFC 3339).
        #[arg(long)]
        at: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Print one credential's whole life.
    History {
        /// The credential id.
        credential: String,
        #[command(flatten)]
        data: DataArg,
        #[arg(long)]
        json: bool,
    },
    /// What changed after event A up to and including event B (the difference between
    /// `state --at-seq A` and `state --at-seq B`): credentials created, rotated,
    /// destroyed; grants; principals and tokens; who used what.
    Diff {
        #[command(flatten)]
        data: DataArg,
        #[arg(long)]
        from_seq: u64,
        #[arg(long)]
        to_seq: u64,
        #[arg(long)]
        json: bool,
    },
    /// One credential's report: its state, use counts by actor, and a timeline with every
    /// use, actor and remote address.
    Report {
        #[command(flatten)]
        data: DataArg,
        /// The credential id.
        #[arg(long)]
        credential: String,
        #[arg(long)]
        json: bool,
    },
}

fn events(
    store: &dyn Backend,
) -> impl Iterator<Item = anyhow::Result<credledger::event::Event>> + '_ {
    store.records(0).map(|r| {
        let (seq, rec) = r?;
        SignedEvent::from_record(&rec)
            .map(SignedEvent::into_event)
            .with_context(|| format!("event {seq} is undecodable; run `credledger replay verify`"))
    })
}

/// Opens the evidence and refuses an incomplete log (every command but `verify`, which
/// reports it).
fn open_complete(data: &DataArg, json: bool) -> anyhow::Result<Evidence> {
    let ev = Evidence::open(&data.data, json)?;
    ev.require_complete()?;
    Ok(ev)
}

pub fn run(cmd: ReplayCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ReplayCommand::Verify { data, key, json } => {
            let pinned = key
                .map(|k| -> anyhow::Result<_> {
                    let bytes: [u8; 32] = hex::decode(&k)
                        .ok()
                        .and_then(|b| b.try_into().ok())
                        .context("--key must be 64 hex digits")?;
                    ed25519_dalek::VerifyingKey::from_bytes(&bytes)
                        .context("--key is not an ed25519 public key")
                })
                .transpose()?;
            let ev = Evidence::open(&data.data, json)?;
            verify(&ev, pinned, json)
        }
        ReplayCommand::Rebuild {
            data,
            in_place,
            json,
        } => rebuild(&data, in_place, json),
        ReplayCommand::State {
            data,
            at_seq,
            at,
            json,
        } => {
            let ev = open_complete(&data, json)?;
            let store = ev.backend();
            let at_ms = at
                .map(|t| {
                    parse_rfc3339(&t)
                        .context("--at must be an RFC 3339 time, e.g. 2026-03-01T00:00:00Z")
                })
                .transpose()?;
            let state = replay::state_until(events(store), |e| {
                at_seq.is_none_or(|s| e.seq <= s) && at_ms.is_none_or(|t| e.at_ms <= t)
            })?;
            let v = replay::render_state(&state);
            if json {
                outln!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print_state(&v);
            }
            Ok(ExitCode::SUCCESS)
        }
        ReplayCommand::History {
            credential,
            data,
            json,
        } => {
            let id: Id = credential
                .parse()
                .context("the credential id must be a UUID")?;
            let ev = open_complete(&data, json)?;
            let store = ev.backend();
            let rows = replay::history(events(store), id)?;
            if rows.is_empty() {
                bail!("no event mentions credential {id}");
            }
            if json {
                outln!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for r in rows {
                    outln!(
                        "{:>8}  {}  {:<14} {:<7} actor={} from={} {}",
                        r.seq,
                        r.at,
                        r.action,
                        r.outcome,
                        r.actor.as_deref().unwrap_or("-"),
                        r.remote_addr.as_deref().unwrap_or("-"),
                        r.details
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ReplayCommand::Diff {
            data,
            from_seq,
            to_seq,
            json,
        } => {
            if from_seq > to_seq {
                bail!("--from-seq {from_seq} is after --to-seq {to_seq}");
            }
            let ev = open_complete(&data, json)?;
            let store = ev.backend();
            let len = store.next_seq()?;
            if to_seq >= len {
                bail!(
                    "--to-seq {to_seq} is beyond the log (it has {len} events, the last is {})",
                    len.saturating_sub(1)
                );
            }
            let v = forensics::diff(events(store), from_seq, to_seq)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                forensics::print_diff(&v);
            }
            Ok(ExitCode::SUCCESS)
        }
        ReplayCommand::Report {
            data,
            credential,
            json,
        } => {
            let id: Id = credential
                .parse()
                .context("the credential id must be a UUID")?;
            let ev = open_complete(&data, json)?;
            let store = ev.backend();
            let Some(v) = forensics::report(events(store), id)? else {
                bail!("no event mentions credential {id}");
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                forensics::print_report(&v);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `replay verify`: the chain, the signatures, the key chain, then the witnesses outside
/// the log (head record, signed checkpoints and their roots).
fn verify(
    ev: &Evidence,
    pinned: Option<ed25519_dalek::VerifyingKey>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let store = ev.backend();
    let total = store.next_seq()?;
    let checkpoints = proof::stored_checkpoints(store)?;
    let mut roots = Roots::new(checkpoints.iter().map(|c| (c.tree_size, c.root)));
    let bar = progress(total, "verifying");
    let records = store.records(0).inspect(|r| {
        if let Ok((_, rec)) = r {
            roots.push(rec);
        }
    });
    let mut report = replay::verify(records, pinned, |n| bar.set_position(n));
    bar.finish_and_clear();
    let (roots_checked, mismatches) = roots.finish();
    if report.ok() {
        report.failure = witness_failure(ev, &report, &checkpoints, &mismatches);
    }
    let latest = checkpoints.last().map(|c| c.tree_size);
    if json {
        let mut v = serde_json::to_value(&report)?;
        v["checkpoints"] = serde_json::json!({"checked": roots_checked, "latest": latest});
        outln!("{}", serde_json::to_string_pretty(&v)?);
    } else if let Some(f) = &report.failure {
        outln!("FAILED at event {}: {}", f.seq, f.problem);
        outln!("{} events before it verified", report.verified);
    } else {
        outln!(
            "ok: {} events, every hash link and signature verified",
            report.verified
        );
        outln!("head hash {}", report.head_hash);
        match latest {
            Some(size) => outln!(
                "the log reaches the ledger's head record and its {} signed checkpoints, whose roots match the log's leaves (the latest covers {size} events)",
                checkpoints.len()
            ),
            None => outln!("the log reaches the ledger's head record (no checkpoint signed yet)"),
        }
        for (from, k) in &report.keys {
            outln!("signing key from event {from}: {k}");
        }
    }
    if let (Some(p), false) = (&report.pending_shred, json) {
        outln!(
            "note: a shred is pending: credential {} was destroyed at event {} and no master_key_rotated follows it; its data keys stay readable from stale copies until the master key is rotated (`serve` does it at start with file-based keys)",
            p.credential,
            p.seq
        );
    }
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The first disagreement between a verified log and its witnesses, as a failure.
fn witness_failure(
    ev: &Evidence,
    report: &replay::Report,
    checkpoints: &[proof::SignedCheckpoint],
    mismatches: &[integrity::RootMismatch],
) -> Option<Failure> {
    let witness = |seq: u64, detail: String| {
        Some(Failure {
            seq,
            problem: Problem::Witness { detail },
        })
    };
    if let Err(e) = ev.check_complete() {
        let seq = match &e {
            integrity::Incomplete::HeadMismatch { seq, .. } => *seq,
            _ => report.verified,
        };
        return witness(seq, e.to_string());
    }
    if let Some(m) = mismatches.first() {
        return witness(
            m.size - 1,
            format!(
                "the signed checkpoint of size {} has root {} but the log's first {} leaves have root {}: the log was altered below event {}",
                m.size, m.signed, m.size, m.log, m.size
            ),
        );
    }
    let chain: Vec<(u64, ed25519_dalek::VerifyingKey)> = report
        .keys
        .iter()
        .filter_map(|(from, k)| {
            let bytes: [u8; 32] = hex::decode(k).ok()?.try_into().ok()?;
            Some((*from, ed25519_dalek::VerifyingKey::from_bytes(&bytes).ok()?))
        })
        .collect();
    let origin = proof::genesis(ev.backend()).ok()?.0;
    integrity::bad_checkpoint_signature(checkpoints, &chain, &origin, report.verified)
        .and_then(|(size, detail)| witness(size.saturating_sub(1), detail))
}

/// `replay rebuild`: on the private copy, catch the projections up, rebuild them from
/// the log and compare; with `in_place`, rebuild the directory's own store.
fn rebuild(data: &DataArg, in_place: bool, json: bool) -> anyhow::Result<ExitCode> {
    if in_place {
        let dir = &data.data;
        if !dir.join("ledger").exists() {
            bail!(
                "no ledger at {} (expected {}/ledger)",
                dir.display(),
                dir.display()
            );
        }
        let store = SledBackend::open(dir)
            .with_context(|| format!("opening the ledger in {}", dir.display()))?;
        evidence::check_store_complete(&store, dir)
            .context("the log is incomplete; refusing to rebuild from it")?;
        let total = store.next_seq()?;
        let bar = progress(total, "rebuilding");
        projection::rebuild(&store, |n| bar.set_position(n))?;
        store.sync()?;
        bar.finish_and_clear();
        if json {
            outln!(
                "{}",
                serde_json::json!({"rebuilt": total, "in_place": true})
            );
        } else {
            outln!(
                "rebuilt the projections of {} from {total} events",
                dir.display()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let ev = open_complete(data, json)?;
    let store = ev.backend();
    projection::catch_up(store, |_| {})?;
    let stored = projection::dump(store.proj())?;
    let total = store.next_seq()?;
    let bar = progress(total, "rebuilding");
    projection::rebuild(store, |n| bar.set_position(n))?;
    bar.finish_and_clear();
    let rebuilt = projection::dump(store.proj())?;
    let differing = count_differences(&stored, &rebuilt);
    if json {
        outln!(
            "{}",
            serde_json::json!({"events": total, "entries": rebuilt.len(), "differing": differing})
        );
    } else if differing == 0 {
        outln!(
            "ok: the stored projections equal a rebuild from the {total} events ({} entries)",
            rebuilt.len()
        );
    } else {
        outln!(
            "DIFFERENT: {differing} projection entries differ from a rebuild from the {total} events; run `credledger replay rebuild --in-place` with the server stopped to replace them"
        );
    }
    Ok(if differing == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Entries present in one dump and not (or with another value) in the other.
fn count_differences(a: &[projection::KeyValue], b: &[projection::KeyValue]) -> usize {
    let a: std::collections::BTreeMap<_, _> = a.iter().map(|(k, v)| (k, v)).collect();
    let b: std::collections::BTreeMap<_, _> = b.iter().map(|(k, v)| (k, v)).collect();
    let missing = a.iter().filter(|(k, v)| b.get(*k) != Some(*v)).count();
    missing + b.keys().filter(|k| !a.contains_key(*k)).count()
}

fn print_state(v: &serde_json::Value) {
    outln!(
        "after {} events (origin {})",
        v["events"],
        v["origin"].as_str().unwrap_or("-")
    );
    for t in v["tenants"].as_array().into_iter().flatten() {
        outln!(
            "tenant {} ({})",
            t["name"].as_str().unwrap_or(""),
            t["id"].as_str().unwrap_or("")
        );
        for p in t["principals"].as_array().into_iter().flatten() {
            outln!(
                "  principal {:<20} {:<8} {:<8} {}",
                p["name"].as_str().unwrap_or(""),
                p["role"].as_str().unwrap_or(""),
                p["kind"].as_str().unwrap_or(""),
                p["id"].as_str().unwrap_or("")
            );
        }
        for c in t["credentials"].as_array().into_iter().flatten() {
            outln!(
                "  credential {:<24} {:<12} v{:<3} {:<9} {}",
                c["name"].as_str().unwrap_or(""),
                c["template"].as_str().unwrap_or(""),
                c["version"],
                c["status"].as_str().unwrap_or(""),
                c["id"].as_str().unwrap_or("")
            );
        }
    }
}
