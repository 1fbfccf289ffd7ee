//! `credledger serve --store postgres://…`: one node of several over one PostgreSQL.
//!
//! The node binds its address once and then alternates between two phases on it:
//! - **follower**: the log is folded into a follower ledger (`Ledger::open_follower`),
//!   tailed from the store, and served: reads are answered locally, writes and resolves
//!   are forwarded to the writer the lease names (`cluster::forward`; a retryable 503
//!   while there is none). Every lease period it tries to take the writer lease;
//! - **writer**: once it holds the lease (a [`Keeper`] renews it), it opens the writer
//!   ledger afresh from the log and serves everything. If it loses the lease, it stops
//!   serving writes at once (the store refuses its appends anyway) and goes back to
//!   following, so its state is rebuilt before it could ever write again.
//!
//! On an empty store the first node to take the lease bootstraps the ledger; the other
//! nodes wait until it holds an event, and need the same keys (`DIR/keys`, or the
//! environment) — they check them against the store's key check values at start.

use super::serve::{announce, arm_watchdog, shutdown_signal, ServeArgs};
use anyhow::Context;
use credledger::cluster::forward::{self, Forwarder, Refresh};
use credledger::cluster::{self, Keeper};
use credledger::http::ServeOptions;
use credledger::ledger::{Config, Ledger};
use credledger::store::lease::WriterLease;
use credledger::store::postgres::{PgBackend, PgOptions};
use credledger::store::{Backend, LogStore};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often an idle follower looks at the log.
const TAIL_IDLE: Duration = Duration::from_millis(100);

pub fn run(
    args: ServeArgs,
    config: Config,
    url: &str,
    serving: ServeOptions,
) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&args.data.data)
        .with_context(|| format!("creating {}", args.data.data.display()))?;
    let options = PgOptions {
        accept_lost_commits: args.accept_lost_commits,
        // A writer frozen inside a commit loses its locks when it loses its lease.
        idle_in_transaction: Some(Duration::from_millis(args.lease_ms)),
    };
    let cache = args.data.data.join("pg-cache");
    let pg = Arc::new(
        PgBackend::connect(url, Some(&cache), &options).context("opening the PostgreSQL store")?,
    );
    let place = format!("postgresql://{}", pg.place());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let timeout = Duration::from_secs(args.shutdown_timeout);
    let ttl = Duration::from_millis(args.lease_ms);
    let ca = match &args.ca_file {
        Some(p) => {
            Some(std::fs::read(p).with_context(|| format!("reading --ca-file {}", p.display()))?)
        }
        None => None,
    };
    rt.block_on(async move {
        let std_listener = std::net::TcpListener::bind(&args.listen)
            .with_context(|| format!("binding {}", args.listen))?;
        std_listener.set_nonblocking(true)?;
        let bound = std_listener.local_addr()?;
        // The node serves TLS (and trusts proxies) exactly as a single server does.
        let scheme = if serving.tls.is_some() { "https" } else { "http" };
        let address = args
            .advertise
            .clone()
            .unwrap_or_else(|| format!("{scheme}://{bound}"));
        let holder = cluster::node_id();
        let stopping = Arc::new(AtomicBool::new(false));
        let stop_now = Arc::new(tokio::sync::Notify::new());
        let current: Arc<Mutex<Option<std::sync::Weak<Ledger>>>> = Default::default();
        {
            let (stopping, stop_now, current) = (stopping.clone(), stop_now.clone(), current.clone());
            tokio::spawn(async move {
                shutdown_signal().await;
                stopping.store(true, Ordering::Release);
                stop_now.notify_waiters();
                let watched = current.lock().unwrap().clone().unwrap_or_default();
                arm_watchdog(watched, timeout);
            });
        }
        tracing::info!(listen = %bound, store = %place, node = %holder, "credledger node starting");
        // Said once, when the node first serves (as the writer or a follower).
        let listening = std::sync::Once::new();
        let say_listening = || listening.call_once(|| eprintln!("credledger: listening on {scheme}://{bound}"));
        let lease: Arc<dyn WriterLease> = pg.clone();
        loop {
            if stopping.load(Ordering::Acquire) {
                break;
            }
            // Follow until this node holds the lease. A store that is down is waited for.
            let retry = ttl / 4;
            let taken = match take_now(&pg, &holder, &address, ttl).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot reach the store; retrying");
                    tokio::time::sleep(retry).await;
                    continue;
                }
            };
            let keeper = match taken {
                Some(k) => k,
                None => {
                    let followed = follow_until_writer(
                        &pg, &config, &std_listener, &holder, &address, ttl, &stopping, &stop_now, &current,
                        &say_listening, ca.as_deref(), &serving,
                    )
                    .await;
                    match followed {
                        Ok(Some(k)) => k,
                        Ok(None) => break,
                        Err(e) => {
                            tracing::warn!(error = %e, "following the writer failed; retrying");
                            tokio::time::sleep(retry).await;
                            continue;
                        }
                    }
                }
            };
            // The writer.
            let store: Arc<dyn Backend> = pg.clone();
            let cfg = config.clone();
            let opened = tokio::task::spawn_blocking(move || Ledger::open_with_backend(cfg, store))
                .await?;
            let (ledger, boot) = match opened {
                Ok(x) => x,
                Err(e) if keeper.is_lost() || matches!(e, credledger::ledger::LedgerError::Store(_)) => {
                    tracing::warn!(error = %e, "cannot open the writer (store unreachable or lease lost); following again");
                    let l = lease.clone();
                    drop(keeper);
                    let _ = tokio::task::spawn_blocking(move || l.release()).await;
                    tokio::time::sleep(retry).await;
                    continue;
                }
                Err(e) => return Err(anyhow::Error::new(e).context(format!("opening the ledger in {place}"))),
            };
            announce(boot, &args, &place)?;
            say_listening();
            tracing::info!(node = %holder, "this node is the writer");
            eprintln!("credledger: writer (epoch {})", lease.epoch().unwrap_or(0));
            let ledger = Arc::new(ledger);
            *current.lock().unwrap() = Some(Arc::downgrade(&ledger));
            let background = super::serve::start_background(&args, &ledger);
            let witnessing = super::serve::start_witnessing(&ledger, &args)?;
            let listener = tokio::net::TcpListener::from_std(std_listener.try_clone()?)?;
            let until = {
                let stop_now = stop_now.clone();
                let stopping = stopping.clone();
                let keeper = &keeper;
                let watched = ledger.clone();
                async move {
                    if stopping.load(Ordering::Acquire) {
                        return;
                    }
                    // A failed commit (the store went away) poisons the committer: hand
                    // the lease back and start afresh once the store answers again.
                    let poisoned = async {
                        while !watched.commit_stats().poisoned {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    };
                    tokio::select! { _ = stop_now.notified() => {}, _ = keeper.lost() => {}, _ = poisoned => {} }
                }
            };
            // `api::serve` needs a 'static shutdown future: bridge through a Notify.
            let done = Arc::new(tokio::sync::Notify::new());
            let app = node_app(&ledger, ca.as_deref(), None)?;
            let served = {
                let done = done.clone();
                let ledger = ledger.clone();
                let serving = serving.clone();
                tokio::spawn(async move {
                    credledger::http::serve_with(listener, app, ledger, async move { done.notified().await }, serving)
                        .await
                })
            };
            until.await;
            for t in background {
                t.abort();
            }
            done.notify_one();
            served.await??;
            drop(witnessing);
            let stats = ledger.commit_stats();
            drop(ledger);
            if stopping.load(Ordering::Acquire) {
                let l = lease.clone();
                let _ = tokio::task::spawn_blocking(move || l.release()).await;
                drop(keeper);
                eprintln!("credledger: shut down cleanly: {} events durable", stats.durable);
                break;
            }
            drop(keeper);
            if stats.poisoned {
                let l = lease.clone();
                let _ = tokio::task::spawn_blocking(move || l.release()).await;
                eprintln!("credledger: a commit failed; gave the writer lease up, starting afresh");
            } else {
                eprintln!("credledger: lost the writer lease; following again");
            }
        }
        anyhow::Ok(())
    })?;
    rt.shutdown_timeout(Duration::from_secs(1));
    Ok(ExitCode::SUCCESS)
}

fn node_forwarder(
    ledger: &Arc<Ledger>,
    ca: Option<&[u8]>,
    refresh: Option<Refresh>,
) -> anyhow::Result<Arc<Forwarder>> {
    let forwarder = Forwarder::new(ledger.clone(), ca, refresh)
        .context("setting up the client for forwarded requests (--ca-file)")?;
    Ok(Arc::new(forwarder))
}

/// A node's application: every dialect behind the forwarding layer.
fn node_app(
    ledger: &Arc<Ledger>,
    ca: Option<&[u8]>,
    refresh: Option<Refresh>,
) -> anyhow::Result<axum::Router> {
    let app = credledger::http::app(credledger::http::AppState {
        ledger: ledger.clone(),
    });
    Ok(forward::wrap(app, node_forwarder(ledger, ca, refresh)?))
}

/// Tries to take the lease once; on success starts its keeper.
async fn take_now(
    pg: &Arc<PgBackend>,
    holder: &str,
    address: &str,
    ttl: Duration,
) -> anyhow::Result<Option<Keeper>> {
    let (p, h, a) = (pg.clone(), holder.to_string(), address.to_string());
    let taken =
        tokio::task::spawn_blocking(move || cluster::try_become_writer(&*p, &h, &a, ttl)).await??;
    Ok(taken.map(|_| Keeper::start(pg.clone(), ttl)))
}

/// Serves a follower ledger until this node takes the lease (`Some(keeper)`) or the
/// node stops (`None`). On an empty log it waits without serving.
#[allow(clippy::too_many_arguments)]
async fn follow_until_writer(
    pg: &Arc<PgBackend>,
    config: &Config,
    std_listener: &std::net::TcpListener,
    holder: &str,
    address: &str,
    ttl: Duration,
    stopping: &Arc<AtomicBool>,
    stop_now: &Arc<tokio::sync::Notify>,
    current: &Arc<Mutex<Option<std::sync::Weak<Ledger>>>>,
    say_listening: &dyn Fn(),
    ca: Option<&[u8]>,
    serving: &ServeOptions,
) -> anyhow::Result<Option<Keeper>> {
    let poll = ttl / 4;
    // An empty ledger: its writer is bootstrapping it.
    loop {
        let p = pg.clone();
        let len = tokio::task::spawn_blocking(move || p.next_seq()).await??;
        if len > 0 {
            break;
        }
        if stopping.load(Ordering::Acquire) {
            return Ok(None);
        }
        if let Some(k) = take_now(pg, holder, address, ttl).await? {
            return Ok(Some(k));
        }
        tokio::time::sleep(poll).await;
    }
    let (p, cfg) = (pg.clone(), config.clone());
    let follower = tokio::task::spawn_blocking(move || {
        let store: Arc<dyn Backend> = p;
        Ledger::open_follower(cfg, store)
    })
    .await?
    .context("opening the ledger as a follower")?;
    let follower = Arc::new(follower);
    *current.lock().unwrap() = Some(Arc::downgrade(&follower));
    let writer = {
        let p = pg.clone();
        tokio::task::spawn_blocking(move || p.lease()).await??
    };
    tracing::info!(writer = %writer.address, epoch = writer.epoch, "following the writer");
    eprintln!("credledger: following the writer at {}", writer.address);
    follower.set_writer_address(&writer.address);
    let tail_stop = Arc::new(AtomicBool::new(false));
    let tail = {
        let (f, s) = (follower.clone(), tail_stop.clone());
        std::thread::Builder::new()
            .name("credledger-tail".into())
            .spawn(move || cluster::tail(&f, &s, TAIL_IDLE))?
    };
    let listener = tokio::net::TcpListener::from_std(std_listener.try_clone()?)?;
    let done = Arc::new(tokio::sync::Notify::new());
    let refresh: Refresh = {
        let (p, f) = (pg.clone(), Arc::downgrade(&follower));
        Arc::new(move || {
            let (p, f) = (p.clone(), f.clone());
            Box::pin(async move {
                let l = tokio::task::spawn_blocking(move || p.lease())
                    .await
                    .ok()?
                    .ok()?;
                f.upgrade()?.set_writer_address(&l.address);
                Some(l.address)
            })
        })
    };
    let forwarder = node_forwarder(&follower, ca, Some(refresh))?;
    let app = forward::wrap(
        credledger::http::app(credledger::http::AppState {
            ledger: follower.clone(),
        }),
        forwarder.clone(),
    );
    let served = {
        let done = done.clone();
        let follower = follower.clone();
        let serving = serving.clone();
        tokio::spawn(async move {
            credledger::http::serve_with(
                listener,
                app,
                follower,
                async move { done.notified().await },
                serving,
            )
            .await
        })
    };
    say_listening();
    let keeper = loop {
        tokio::select! {
            _ = stop_now.notified() => break None,
            _ = tokio::time::sleep(poll) => {}
        }
        if stopping.load(Ordering::Acquire) {
            break None;
        }
        if follower.take_key_change() {
            // The key files are the operator's to distribute (docs/POSTGRES.md, "Erasure").
            tracing::error!(
                "the writer rotated a key: copy its DIR/keys here before this node takes over"
            );
            eprintln!(
                "credledger: the writer rotated a key (master or signing); copy the writer's keys \
                 (DIR/keys or CREDLEDGER_MASTER_KEYS) to this node: until then it cannot take over"
            );
        }
        match take_now(pg, holder, address, ttl).await {
            Ok(Some(k)) => break Some(k),
            Ok(None) => {
                let p = pg.clone();
                if let Ok(Ok(l)) = tokio::task::spawn_blocking(move || p.lease()).await {
                    follower.set_writer_address(&l.address);
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot look at the writer lease"),
        }
    };
    forwarder.cancel();
    done.notify_one();
    served.await??;
    tail_stop.store(true, Ordering::Release);
    let _ = tokio::task::spawn_blocking(move || tail.join()).await;
    drop(follower);
    Ok(keeper)
}
