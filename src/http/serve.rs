//! The server loop: plain HTTP (axum's own loop) or HTTPS (an accept loop with a task
//! per connection, after axum's low-level-rustls example), each until a shutdown signal,
//! then the pending failed authentications are recorded and the ledger drained.
//!
//! Under TLS each connection gets [`HANDSHAKE_TIMEOUT`] (or the configured one) to
//! finish its handshake; a client speaking plain HTTP to the TLS port gets a short
//! `400` in plain text and the connection is closed. Every response carries
//! `Strict-Transport-Security`, and each request carries the [`Secure`] extension so
//! the dialects (the console's session cookie) know the transport. Shutdown stops
//! accepting, lets each open connection finish its request in flight, then returns.

use super::proxy::TrustedProxies;
use super::tls::Tls;
use crate::ledger::Ledger;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderValue, Request};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tower::ServiceExt;

/// How often counted failed authentications whose window is over are recorded.
const AUTH_FAILURE_SWEEP: Duration = Duration::from_secs(10);

/// The default time a connection has to complete its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// `Strict-Transport-Security` sent on every HTTPS response (one year).
pub const HSTS: &str = "max-age=31536000";

/// Marks a request that arrived over TLS (a request extension).
#[derive(Clone, Copy, Debug)]
pub struct Secure;

/// Whether a request arrived over TLS.
pub fn is_secure(extensions: &axum::http::Extensions) -> bool {
    extensions.get::<Secure>().is_some()
}

/// How to serve: TLS or not, the handshake timeout, the proxies trusted for
/// `X-Forwarded-For`/`Forwarded`. (Every served app also counts its requests in
/// [`crate::metrics`].)
#[derive(Clone, Default)]
pub struct ServeOptions {
    pub tls: Option<Arc<Tls>>,
    /// `None`: [`HANDSHAKE_TIMEOUT`].
    pub handshake_timeout: Option<Duration>,
    pub trusted_proxies: TrustedProxies,
}

/// Serves `app` on `listener` (plain HTTP) until `shutdown` completes, then records the
/// pending failed authentications and commits what is queued.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    ledger: Arc<Ledger>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, app, ledger, shutdown, ServeOptions::default()).await
}

/// [`serve`] with options (TLS, trusted proxies).
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    app: Router,
    ledger: Arc<Ledger>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    options: ServeOptions,
) -> std::io::Result<()> {
    let sweeper = {
        let ledger = ledger.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(AUTH_FAILURE_SWEEP);
            loop {
                tick.tick().await;
                ledger.flush_auth_failures(false);
            }
        })
    };
    crate::metrics::install();
    let upkeep = tokio::spawn(async {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            crate::metrics::upkeep();
        }
    });
    let app = app
        .layer(axum::middleware::from_fn(count_request))
        .layer(axum::Extension(options.trusted_proxies.clone()));
    let served = match &options.tls {
        None => {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(shutdown)
            .await
        }
        Some(tls) => {
            let reloader = tls.spawn_reloader();
            let timeout = options.handshake_timeout.unwrap_or(HANDSHAKE_TIMEOUT);
            let r = serve_tls(listener, app, tls.clone(), timeout, shutdown).await;
            reloader.abort();
            r
        }
    };
    sweeper.abort();
    upkeep.abort();
    let l = ledger.clone();
    tokio::task::spawn_blocking(move || {
        l.flush_auth_failures(true);
        l.shutdown()
    })
    .await
    .ok();
    served
}

/// Counts a request by its route template (never its raw path), method and status.
async fn count_request(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    // Methods are bounded to the standard ones; anything else is `other`.
    let method = match req.method().as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        "LIST" => "LIST",
        _ => "other",
    };
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    crate::metrics::http_request(
        &route,
        method,
        resp.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    resp
}

/// The HTTPS accept loop.
async fn serve_tls(
    listener: tokio::net::TcpListener,
    app: Router,
    tls: Arc<Tls>,
    handshake_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let acceptor = tls.acceptor();
        let app = app.clone();
        let watcher = graceful.watcher();
        let builder = builder.clone();
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + handshake_timeout;
            let mut first = [0u8; 1];
            // A TLS connection opens with a handshake record (content type 22).
            match tokio::time::timeout_at(deadline, tcp.peek(&mut first)).await {
                Ok(Ok(1)) if first[0] != 0x16 => {
                    tracing::debug!(%peer, "plain-text request on the TLS port refused");
                    refuse_plain(tcp).await;
                    return;
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "connection failed before its TLS handshake");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            }
            let stream = match tokio::time::timeout_at(deadline, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req.extensions_mut().insert(Secure);
                let app = app.clone();
                async move {
                    let mut resp = app.oneshot(req).await?;
                    resp.headers_mut().insert(
                        header::STRICT_TRANSPORT_SECURITY,
                        HeaderValue::from_static(HSTS),
                    );
                    Ok::<_, std::convert::Infallible>(resp)
                }
            });
            let conn = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .into_owned();
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Answers a plain-HTTP client on the TLS port, then closes.
async fn refuse_plain(mut tcp: tokio::net::TcpStream) {
    let body = "this port speaks HTTPS only\n";
    let msg = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tcp.write_all(msg.as_bytes()).await;
    let _ = tcp.shutdown().await;
}
