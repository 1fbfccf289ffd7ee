//! Hidden load generators: `credledger debug append-load` drives concurrent durable
//! appends (credential creations) and prints `ack <name>` for every acknowledged one. The
//! crash test kills it with SIGKILL; the benchmark reads its summary.

use super::args::DataArg;
use clap::Subcommand;
use credledger::domain::Caller;
use credledger::event::PrincipalKind;
use credledger::id::Id;
use credledger::ledger::{Config, CreateInput, Ledger, RequestCtx};
use credledger::store::sled::SledBackend;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Subcommand, Debug)]
pub enum DebugCommand {
    /// Create credentials concurrently, printing `ack NAME` after each durable create.
    AppendLoad {
        #[command(flatten)]
        data: DataArg,
        /// Concurrent appenders.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Creations per appender (0 = until killed).
        #[arg(long, default_value_t = 0)]
        count: u64,
        /// A prefix for credential names, so runs do not collide.
        #[arg(long, default_value = "load")]
        prefix: String,
        /// Every `--large-every`-th creation carries a secret of this many bytes (as a
        /// `custom` credential), so records larger than sled's inline limit are written.
        #[arg(long, default_value_t = 0)]
        large_bytes: usize,
        #[arg(long, default_value_t = 10)]
        large_every: u64,
        /// Create a new store with this sled segment size (a power of two) instead of
        /// the default, to test stores made by earlier versions (512 KiB segments).
        #[arg(long)]
        segment_size: Option<usize>,
    },
}

/// A caller acting as the bootstrap system admin, for local tools only.
pub fn system_caller(ledger: &Ledger) -> anyhow::Result<Caller> {
    ledger.with_state(|s| {
        s.principals
            .iter()
            .find(|(_, p)| p.system_admin)
            .map(|(id, p)| Caller {
                tenant: p.tenant,
                principal: *id,
                token: Id::NIL,
                role: p.role,
                kind: PrincipalKind::User,
                system_admin: true,
            })
            .ok_or_else(|| anyhow::anyhow!("the ledger has no system admin"))
    })
}

pub fn run(cmd: DebugCommand) -> anyhow::Result<ExitCode> {
    let DebugCommand::AppendLoad {
        data,
        concurrency,
        count,
        prefix,
        large_bytes,
        large_every,
        segment_size,
    } = cmd;
    if let Some(size) = segment_size {
        std::fs::create_dir_all(&data.data)?;
        drop(SledBackend::open_with_segment_size(&data.data, size)?);
    }
    let (ledger, _) = Ledger::open(Config::new(&data.data))?;
    let ledger = Arc::new(ledger);
    let caller = system_caller(&ledger)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut tasks = Vec::new();
        for worker in 0..concurrency {
            let ledger = ledger.clone();
            let prefix = prefix.clone();
            tasks.push(tokio::spawn(async move {
                let mut i = 0u64;
                while count == 0 || i < count {
                    let name = format!("{prefix}-{worker}-{i}");
                    let mut fields = serde_json::Map::new();
                    let large = large_bytes > 0 && i.is_multiple_of(large_every.max(1));
                    let template = if large {
                        // Several file-sized values: one record over sled's inline limit.
                        for part in 0..large_bytes.div_ceil(60_000) {
                            let len = 60_000.min(large_bytes - part * 60_000);
                            fields.insert(
                                format!("blob_{part}"),
                                serde_json::Value::String("x".repeat(len)),
                            );
                        }
                        "custom"
                    } else {
                        fields.insert(
                            "api_key".into(),
                            serde_json::Value::String(format!("k-{name}")),
                        );
                        "api_key"
                    };
                    let input = CreateInput {
                        name: name.clone(),
                        template: template.into(),
                        fields,
                        ..Default::default()
                    };
                    ledger
                        .create_credential(&RequestCtx::default(), &caller, input)
                        .await?;
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ack {name}")?;
                    out.flush()?;
                    i += 1;
                }
                anyhow::Ok(())
            }));
        }
        for t in tasks {
            t.await??;
        }
        anyhow::Ok(())
    })?;
    let stats = ledger.commit_stats();
    eprintln!("events {} syncs {}", stats.events, stats.syncs);
    ledger.shutdown();
    Ok(ExitCode::SUCCESS)
}
