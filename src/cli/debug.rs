//! Hidden load generators: `credledger debug append-load` drives concurrent durable
//! appends (credential creations) and prints `ack <name>` for every acknowledged one. The
//! crash test kills it with SIGKILL; the benchmark reads its summary.

use super::args::DataArg;
use clap::Subcommand;
use credledger::domain::Caller;
use credledger::event::PrincipalKind;
use credledger::id::Id;
use credledger::ledger::{Config, CreateInput, Ledger, RequestCtx};
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
    } = cmd;
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
                    fields.insert(
                        "api_key".into(),
                        serde_json::Value::String(format!("k-{name}")),
                    );
                    let input = CreateInput {
                        name: name.clone(),
                        template: "api_key".into(),
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
