//! `credledger serve`: resolve the configuration, open (or bootstrap) the ledger, serve.

use super::args::DataArg;
use anyhow::Context;
use clap::Args;
use credledger::api;
use credledger::http::proxy::TrustedProxies;
use credledger::http::tls::Tls;
use credledger::http::ServeOptions;
use credledger::ledger::witnessing::{self, WitnessSpec, Witnessing};
use credledger::ledger::{Config, Ledger};
use credledger::secret::{SecretFields, SecretString};
use credledger::store::select::StoreSpec;
use credledger::template::Catalog;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use zeroize::Zeroizing;

#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    pub data: DataArg,
    /// Address to listen on.
    #[arg(long, env = "CREDLEDGER_LISTEN", default_value = "127.0.0.1:8420")]
    pub listen: String,
    /// On first start, write the bootstrap admin token to this file (mode 0600) instead
    /// of printing it.
    #[arg(long)]
    pub admin_token_file: Option<PathBuf>,
    /// How many versions of a credential keep their data keys.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(2..=1000))]
    pub retain_versions: u32,
    /// The Vault KV v2 mount served under `/v1/{mount}/` (see README, Vault compatibility).
    #[arg(long, env = "CREDLEDGER_VAULT_MOUNT", default_value = "secret")]
    pub vault_mount: String,
    /// The tenants (by name, comma-separated) the environment fallbacks apply to.
    #[arg(
        long,
        env = "CREDLEDGER_FALLBACK_TENANTS",
        default_value = "default",
        value_delimiter = ','
    )]
    pub fallback_tenants: Vec<String>,
    /// Web console: end a session after this many minutes without a request.
    #[arg(long, env = "CREDLEDGER_CONSOLE_IDLE_MINUTES", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=1440))]
    pub console_idle_minutes: u32,
    /// Web console: end a session this many hours after sign-in.
    #[arg(long, env = "CREDLEDGER_CONSOLE_MAX_HOURS", default_value_t = 12, value_parser = clap::value_parser!(u32).range(1..=720))]
    pub console_max_hours: u32,
    /// Web console: mark the session cookie `Secure` (set it when a TLS proxy is in front).
    #[arg(long, env = "CREDLEDGER_CONSOLE_SECURE_COOKIE")]
    pub console_secure_cookie: bool,
    /// Log format: `text` or `json`.
    #[arg(long, env = "CREDLEDGER_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
    /// Log JSON lines (`--log-format json`), as every command's `--json` is for scripts.
    #[arg(long)]
    pub json: bool,
    /// Seconds a shutdown (SIGTERM, Ctrl-C) may take to finish in-flight requests and
    /// close the store before the process exits anyway (nothing unacknowledged is lost).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub shutdown_timeout: u64,
    /// PostgreSQL only: start even when the server runs with `synchronous_commit` or
    /// `fsync` off, accepting that a crash of PostgreSQL loses acknowledged events.
    #[arg(long)]
    pub accept_lost_commits: bool,
    /// PostgreSQL only: the address other nodes and clients reach this node at
    /// (`http://host:port`; default: the bound address), named in the writer lease.
    #[arg(long, env = "CREDLEDGER_ADVERTISE")]
    pub advertise: Option<String>,
    /// PostgreSQL only: the writer lease's duration in milliseconds; a dead writer is
    /// replaced within about this long.
    #[arg(long, default_value_t = 3000, value_parser = clap::value_parser!(u64).range(500..=60000))]
    pub lease_ms: u64,
    /// PostgreSQL only: extra CA certificates (PEM) to trust when forwarding requests to
    /// a writer at an `https://` address.
    #[arg(long, env = "CREDLEDGER_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// Serve HTTPS with this certificate chain (PEM, leaf first); reloaded on SIGHUP and
    /// when the file changes.
    #[arg(long, env = "CREDLEDGER_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of `--tls-cert`.
    #[arg(long, env = "CREDLEDGER_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Seconds a new connection has to finish its TLS handshake.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub tls_handshake_timeout: u64,
    /// Allow plain HTTP on an address other than loopback (tokens and secrets then cross
    /// the network in clear: only behind a TLS-terminating proxy on a trusted network).
    #[arg(long, env = "CREDLEDGER_INSECURE_HTTP")]
    pub insecure_http: bool,
    /// Reverse proxies (addresses or CIDR blocks, comma-separated or repeated) whose
    /// `X-Forwarded-For`/`Forwarded` headers name the client that is audited.
    #[arg(long, env = "CREDLEDGER_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxy: Vec<credledger::http::proxy::Cidr>,
    /// Also serve `GET /metrics` (Prometheus) on this address, without a token; on the
    /// main address it needs a system admin's or system auditor's token.
    #[arg(long, env = "CREDLEDGER_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    /// A witness (c2sp.org/tlog-witness) the writer sends each new checkpoint to, as
    /// `URL=VERIFIER_KEY` (its submission prefix and the key `credledger witness key`
    /// prints). Repeat, or comma-separate in the variable. See docs/WITNESS.md.
    #[arg(
        long = "witness",
        env = "CREDLEDGER_WITNESSES",
        value_delimiter = ',',
        value_name = "URL=VERIFIER_KEY"
    )]
    pub witnesses: Vec<WitnessSpec>,
    /// How often (milliseconds) each witness is offered the latest checkpoint.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(50..=3_600_000))]
    pub witness_interval_ms: u64,
    /// Test every credential whose template has a connection test once per DURATION
    /// (`30m`, `6h`; at least `1s`), spread evenly over it, recorded like a manual test
    /// with the scheduler as the actor. Off by default; on PostgreSQL the writer only.
    #[arg(long, env = "CREDLEDGER_VERIFY_EVERY", value_parser = parse_every)]
    pub verify_every: Option<Duration>,
    /// Let webhook URLs point at loopback, private and link-local addresses (refused by
    /// default, so a tenant admin cannot aim the server at internal hosts).
    #[arg(long, env = "CREDLEDGER_WEBHOOK_ALLOW_PRIVATE")]
    pub webhook_allow_private: bool,
}

/// `--verify-every`: a humantime duration of at least one second.
fn parse_every(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{e} (e.g. 30m, 6h)"))?;
    if d < Duration::from_secs(1) {
        return Err("the interval must be at least 1s".into());
    }
    Ok(d)
}

/// Starts the writer's background tasks: the webhook notifier, and the scheduled
/// connection tests of `--verify-every`. Abort them when the writer ends.
pub(super) fn start_background(
    args: &ServeArgs,
    ledger: &Arc<Ledger>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = vec![credledger::ledger::webhooks::spawn(Arc::downgrade(ledger))];
    if let Some(every) = args.verify_every {
        tracing::info!(every = %humantime::format_duration(every), "scheduled connection tests on");
        tasks.push(credledger::ledger::schedule::spawn(
            Arc::downgrade(ledger),
            every,
        ));
    }
    tasks
}

/// Environment fallbacks: `CREDLEDGER_FALLBACK_<SERVICE>_<FIELD>=value` for any service
/// name. SERVICE and FIELD are split at `__` when there is one (`MY_SVC__TOKEN`); else
/// at the longest built-in template name (`API_KEY_API_KEY` is field `api_key` of
/// service `api_key`); else before the longest field name any built-in template has
/// (`BENCHMARKER_API_KEY` is field `api_key` of service `benchmarker`); else at the first
/// `_`. (`CREDLEDGER_FALLBACK_TENANTS` is the `--fallback-tenants` option, not a fallback.)
pub fn fallbacks_from_env(
    vars: impl Iterator<Item = (String, String)>,
) -> HashMap<String, SecretFields> {
    let catalog = Catalog::builtin();
    let mut services: Vec<String> = catalog.iter().map(|t| t.name.clone()).collect();
    services.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut fields: Vec<String> = catalog
        .iter()
        .flat_map(|t| t.fields.iter().map(|f| f.name.clone()))
        .collect();
    fields.sort_by_key(|f| std::cmp::Reverse(f.len()));
    fields.dedup();
    let mut out: HashMap<String, SecretFields> = HashMap::new();
    for (k, v) in vars {
        let v = Zeroizing::new(v);
        let Some(rest) = k.strip_prefix("CREDLEDGER_FALLBACK_") else {
            continue;
        };
        if rest == "TENANTS" {
            continue;
        }
        let rest = rest.to_ascii_lowercase();
        let split = rest
            .split_once("__")
            .map(|(s, f)| (s.to_string(), f.to_string()))
            .or_else(|| {
                services
                    .iter()
                    .find(|s| rest.starts_with(&format!("{s}_")))
                    .map(|s| (s.clone(), rest[s.len() + 1..].to_string()))
            })
            .or_else(|| {
                fields
                    .iter()
                    .find(|f| rest.ends_with(&format!("_{f}")) && rest.len() > f.len() + 1)
                    .map(|f| (rest[..rest.len() - f.len() - 1].to_string(), f.clone()))
            })
            .or_else(|| {
                rest.split_once('_')
                    .map(|(s, f)| (s.to_string(), f.to_string()))
            });
        let Some((service, field)) = split
            .filter(|(s, f)| !f.is_empty() && credledger::domain::decide::check_service(s).is_ok())
        else {
            tracing::warn!(variable = %k, "ignoring a fallback variable that names no service and field");
            continue;
        };
        out.entry(service)
            .or_default()
            .0
            .insert(field, SecretString::new(v.to_string()));
    }
    out
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    super::logging::init(if args.json { "json" } else { &args.log_format });
    if !api::vault::valid_mount(&args.vault_mount) {
        anyhow::bail!(
            "--vault-mount must be 1-64 characters of a-z, 0-9, '_' or '-' and not a native API path"
        );
    }
    let mut config = Config::new(&args.data.data);
    config.retain_versions = args.retain_versions;
    config.vault_mount = args.vault_mount.clone();
    config.fallbacks = fallbacks_from_env(std::env::vars());
    config.fallback_tenants = args.fallback_tenants.clone();
    config.console.idle_timeout_ms = i64::from(args.console_idle_minutes) * 60_000;
    config.console.absolute_timeout_ms = i64::from(args.console_max_hours) * 3_600_000;
    config.console.secure_cookie = args.console_secure_cookie;
    config.webhook_allow_private = args.webhook_allow_private;
    if let Ok(text) = std::env::var("CREDLEDGER_MASTER_KEYS") {
        config.master_keys_text = Some(Zeroizing::new(text));
    }
    for service in config.fallbacks.keys() {
        tracing::info!(service, tenants = ?config.fallback_tenants, "environment fallback configured");
    }
    // Certificates are read before anything is created, so a typo costs nothing.
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            Some(Tls::load(cert, key).context("loading the TLS certificate")?)
        }
        _ => None,
    };
    // Refused before the ledger is created when the address says so already.
    if let (Ok(addr), false) = (args.listen.parse(), args.insecure_http) {
        check_plain_http(addr, tls.is_some(), false)?;
    }
    // The token of a new ledger must reach its file: check before anything is created.
    if let Some(path) = &args.admin_token_file {
        check_token_destination("--admin-token-file", path)?;
    }
    let options = ServeOptions {
        tls,
        handshake_timeout: Some(Duration::from_secs(args.tls_handshake_timeout)),
        trusted_proxies: TrustedProxies(args.trusted_proxy.clone()),
    };
    if let StoreSpec::Postgres(url) = args.data.spec()? {
        return super::node::run(args, config, &url, options);
    }
    let (ledger, boot) = Ledger::open(config)
        .with_context(|| format!("opening the ledger in {}", args.data.data.display()))?;
    announce(boot, &args, &args.data.data.display().to_string())?;
    let ledger = Arc::new(ledger);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let timeout = Duration::from_secs(args.shutdown_timeout);
    let served = rt.block_on({
        let ledger = ledger.clone();
        async move {
            let listener = tokio::net::TcpListener::bind(&args.listen)
                .await
                .with_context(|| format!("binding {}", args.listen))?;
            let bound = listener.local_addr()?;
            check_plain_http(bound, options.tls.is_some(), args.insecure_http)?;
            let scheme = if options.tls.is_some() {
                "https"
            } else {
                "http"
            };
            tracing::info!(listen = %bound, data = %args.data.data.display(), "credledger serving");
            // A stable line for scripts and tests (with `--listen 127.0.0.1:0`, the port).
            eprintln!("credledger: listening on {scheme}://{bound}");
            let metrics = match &args.metrics_listen {
                Some(addr) => {
                    let l = tokio::net::TcpListener::bind(addr)
                        .await
                        .with_context(|| format!("binding --metrics-listen {addr}"))?;
                    eprintln!("credledger: metrics on http://{}/metrics", l.local_addr()?);
                    let router = api::metrics::unauthenticated_router(ledger.clone());
                    Some(tokio::spawn(async move { axum::serve(l, router).await }))
                }
                None => None,
            };
            let background = start_background(&args, &ledger);
            let watched = Arc::downgrade(&ledger);
            let signal = async move {
                shutdown_signal().await;
                arm_watchdog(watched, timeout);
            };
            let witnessing = start_witnessing(&ledger, &args)?;
            let app = credledger::http::app(credledger::http::AppState {
                ledger: ledger.clone(),
            });
            let served = credledger::http::serve_with(listener, app, ledger, signal, options).await;
            if let Some(m) = metrics {
                m.abort();
            }
            for t in background {
                t.abort();
            }
            drop(witnessing);
            served?;
            anyhow::Ok(())
        }
    });
    // Blocking tasks stuck on a failed disk must not hold the exit.
    rt.shutdown_timeout(Duration::from_secs(1));
    served?;
    let stats = ledger.commit_stats();
    if stats.poisoned {
        // sled's own flush on drop can block forever after a failed write: skip it. Every
        // acknowledged event was made durable before it was acknowledged.
        eprintln!(
            "credledger: stopped after a failed write: {}; nothing after that was acknowledged",
            durable_text(stats.durable)
        );
        std::process::exit(1);
    }
    let _ = FINAL_STATS.set(stats);
    drop(ledger);
    tracing::info!(
        durable = stats.durable,
        "shut down cleanly; every acknowledged event is durable"
    );
    eprintln!(
        "credledger: shut down cleanly: {}",
        durable_text(stats.durable)
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes or prints the bootstrap admin token of a new ledger (`place` names where it
/// lives), or says that an existing ledger wrote none.
pub(super) fn announce(
    boot: Option<credledger::ledger::Bootstrap>,
    args: &ServeArgs,
    place: &str,
) -> anyhow::Result<()> {
    let fresh = boot.is_some();
    if let Some(boot) = boot {
        match &args.admin_token_file {
            Some(path) => {
                credledger::fsutil::write_private_atomic(
                    path,
                    format!("{}\n", boot.token.expose()).as_bytes(),
                )
                .with_context(|| {
                    format!(
                        "writing the bootstrap admin token to {} (the ledger exists now: \
                         issue a new token with `credledger admin recover --data {}`)",
                        path.display(),
                        place
                    )
                })?;
                eprintln!(
                    "credledger: new ledger in {}; bootstrap admin token written to {}",
                    place,
                    path.display()
                );
            }
            None => {
                eprintln!("credledger: new ledger in {}", place);
                eprintln!("credledger: bootstrap admin token (shown once, store it now):");
                println!("{}", boot.token.expose());
            }
        }
    }
    if let (false, Some(path)) = (fresh, &args.admin_token_file) {
        eprintln!(
            "credledger: {} already holds a ledger, so no admin token was written to {} \
             (its token was issued when it was created; `credledger admin recover` issues a new one)",
            place,
            path.display()
        );
    }
    Ok(())
}

/// Starts the background submission of new checkpoints to the `--witness`es (none:
/// nothing runs). Call on the runtime, for the writer's ledger only.
pub(super) fn start_witnessing(
    ledger: &Arc<Ledger>,
    args: &ServeArgs,
) -> anyhow::Result<Option<Witnessing>> {
    if args.witnesses.is_empty() {
        return Ok(None);
    }
    let w = witnessing::spawn(
        Arc::downgrade(ledger),
        &args.witnesses,
        Duration::from_millis(args.witness_interval_ms),
    )
    .context("configuring the witnesses")?;
    eprintln!(
        "credledger: {} witness(es) configured",
        args.witnesses.len()
    );
    Ok(Some(w))
}

/// The commit counters at the end of a shutdown, for the watchdog once the ledger is
/// being dropped.
static FINAL_STATS: std::sync::OnceLock<credledger::commit::CommitStats> =
    std::sync::OnceLock::new();

/// "events 0..=N are durable" for a log of `size` events.
pub(super) fn durable_text(size: u64) -> String {
    match size {
        0 => "no event is durable".into(),
        n => format!(
            "events 0..={} are durable (the last durable sequence number is {})",
            n - 1,
            n - 1
        ),
    }
}

/// After a shutdown signal, ends the process if the shutdown has not finished within
/// `timeout` (a request or the store stuck on a failed disk), saying how far the log is
/// durable. Nothing acknowledged is lost: acknowledgements follow the sync.
pub(super) fn arm_watchdog(ledger: std::sync::Weak<Ledger>, timeout: Duration) {
    let spawned = std::thread::Builder::new()
        .name("credledger-shutdown-watchdog".into())
        .spawn(move || {
            std::thread::sleep(timeout);
            let stats = ledger
                .upgrade()
                .map(|l| l.commit_stats())
                .or_else(|| FINAL_STATS.get().copied())
                .unwrap_or_default();
            eprintln!(
                "credledger: shutdown did not finish within {} s; exiting: {}; requests still in flight were not acknowledged{}",
                timeout.as_secs(),
                durable_text(stats.durable),
                if stats.poisoned { " (a write had failed)" } else { "" }
            );
            std::process::exit(1);
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the shutdown watchdog");
    }
}

/// Plain HTTP beyond loopback puts tokens and secrets on the network in clear: refused
/// unless `--insecure-http`, and then warned about.
fn check_plain_http(bound: std::net::SocketAddr, tls: bool, insecure: bool) -> anyhow::Result<()> {
    if tls || bound.ip().is_loopback() {
        return Ok(());
    }
    if !insecure {
        anyhow::bail!(
            "refusing to serve plain HTTP on {bound}, which is not a loopback address: tokens and \
             secrets would cross the network in clear. Give --tls-cert and --tls-key, or listen on \
             127.0.0.1 behind a TLS-terminating proxy, or pass --insecure-http if the network is \
             trusted"
        );
    }
    tracing::warn!(listen = %bound, "serving PLAIN HTTP beyond loopback (--insecure-http)");
    eprintln!(
        "credledger: WARNING: serving plain HTTP on {bound} (--insecure-http): tokens and secrets \
         cross the network in clear"
    );
    Ok(())
}

/// Refuses a token file that could not be written, before a ledger is bootstrapped: its
/// directory (the current one for a bare name) must exist and be writable, and the path
/// must not be a directory.
pub(super) fn check_token_destination(flag: &str, path: &std::path::Path) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    if path.is_dir() {
        anyhow::bail!("{flag} {} is a directory", path.display());
    }
    let probe = tempfile::Builder::new()
        .prefix(".credledger-probe-")
        .tempfile_in(dir)
        .with_context(|| {
            format!(
                "{flag} {}: cannot create a file in {}",
                path.display(),
                dir.display()
            )
        })?;
    drop(probe);
    Ok(())
}

pub(super) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutdown requested; finishing in-flight requests");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallback_variables_map_to_service_and_field() {
        let vars = [
            ("CREDLEDGER_FALLBACK_OPENAI_API_KEY", "sk-1"),
            ("CREDLEDGER_FALLBACK_API_KEY_API_KEY", "k-2"),
            ("CREDLEDGER_FALLBACK_BENCHMARKER_API_KEY", "b-3"),
            ("CREDLEDGER_FALLBACK_MY_SVC__TOKEN", "t-4"),
            ("CREDLEDGER_FALLBACK_NOPE_X", "z"),
            ("CREDLEDGER_FALLBACK_TENANTS", "default,beta"),
            ("CREDLEDGER_FALLBACK_NOSPLIT", "n"),
            ("OTHER", "y"),
        ];
        let f = fallbacks_from_env(vars.iter().map(|(a, b)| (a.to_string(), b.to_string())));
        assert_eq!(f["openai"].0["api_key"].expose(), "sk-1");
        assert_eq!(f["api_key"].0["api_key"].expose(), "k-2");
        assert_eq!(f["benchmarker"].0["api_key"].expose(), "b-3");
        assert_eq!(f["my_svc"].0["token"].expose(), "t-4");
        assert_eq!(f["nope"].0["x"].expose(), "z");
        assert_eq!(f.len(), 5, "{:?}", f.keys().collect::<Vec<_>>());
    }
}
