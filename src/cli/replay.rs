//! `credledger replay`: verify, rebuild, state, history, diff, report.

use super::args::DataArg;
use super::{forensics, progress};
use anyhow::{bail, Context};
use clap::Subcommand;
use credledger::event::SignedEvent;
use credledger::id::Id;
use credledger::store::Store;
use credledger::time::parse_rfc3339;
use credledger::{projection, replay};
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
    /// Drop every projection and rebuild them from the log.
    Rebuild {
        #[command(flatten)]
        data: DataArg,
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

fn open_store(data: &DataArg) -> anyhow::Result<Store> {
    if !data.data.join("ledger").exists() {
        bail!(
            "no ledger at {} (expected {}/ledger)",
            data.data.display(),
            data.data.display()
        );
    }
    Store::open(&data.data)
        .with_context(|| format!("opening the ledger in {}", data.data.display()))
}

fn events(store: &Store) -> impl Iterator<Item = anyhow::Result<credledger::event::Event>> + '_ {
    store.records(0).map(|r| {
        let (seq, rec) = r?;
        SignedEvent::from_record(&rec)
            .map(SignedEvent::into_event)
            .with_context(|| format!("event {seq} is undecodable; run `credledger replay verify`"))
    })
}

pub fn run(cmd: ReplayCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ReplayCommand::Verify { data, key, json } => {
            let store = open_store(&data)?;
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
            let total = store.len()?;
            let bar = progress(total, "verifying");
            let records = store.records(0).map(|r| r.map(|(s, v)| (s, v.to_vec())));
            let report = replay::verify(records, pinned, |n| bar.set_position(n));
            bar.finish_and_clear();
            if json {
                outln!("{}", serde_json::to_string_pretty(&report)?);
            } else if let Some(f) = &report.failure {
                outln!("FAILED at event {}: {}", f.seq, f.problem);
                outln!("{} events before it verified", report.verified);
            } else {
                outln!(
                    "ok: {} events, every hash link and signature verified",
                    report.verified
                );
                outln!("head hash {}", report.head_hash);
                for (from, k) in &report.keys {
                    outln!("signing key from event {from}: {k}");
                }
            }
            Ok(if report.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        ReplayCommand::Rebuild { data, json } => {
            let store = open_store(&data)?;
            let total = store.len()?;
            let bar = progress(total, "rebuilding");
            projection::rebuild(&store, |n| bar.set_position(n))?;
            store.sync()?;
            bar.finish_and_clear();
            if json {
                outln!("{}", serde_json::json!({"rebuilt": total}));
            } else {
                outln!("rebuilt projections from {total} events");
            }
            Ok(ExitCode::SUCCESS)
        }
        ReplayCommand::State {
            data,
            at_seq,
            at,
            json,
        } => {
            let store = open_store(&data)?;
            let at_ms = at
                .map(|t| {
                    parse_rfc3339(&t)
                        .context("--at must be an RFC 3339 time, e.g. 2026-03-01T00:00:00Z")
                })
                .transpose()?;
            let state = replay::state_until(events(&store), |e| {
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
            let store = open_store(&data)?;
            let rows = replay::history(events(&store), id)?;
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
            let store = open_store(&data)?;
            let len = store.len()?;
            if to_seq >= len {
                bail!(
                    "--to-seq {to_seq} is beyond the log (it has {len} events, the last is {})",
                    len.saturating_sub(1)
                );
            }
            let v = forensics::diff(events(&store), from_seq, to_seq)?;
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
            let store = open_store(&data)?;
            let Some(v) = forensics::report(events(&store), id)? else {
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
