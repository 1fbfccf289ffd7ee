//! TLS for `serve`: the certificate and key files (PEM) behind a rustls server
//! configuration whose certificate can be swapped while serving.
//!
//! [`Tls`] owns the two paths and a resolver holding the current certificate. A reload
//! ([`Tls::reload`], run on SIGHUP and when either file's modification time or size
//! changes, see [`Tls::spawn_reloader`]) parses both files and, only when they form a
//! usable pair, replaces the certificate: new handshakes get the new one, connections
//! already established keep theirs (a TLS session never changes certificate), so nothing
//! is dropped. A failed reload keeps the old certificate and is logged.
//!
//! **Invariant:** the private key's bytes are never logged nor put in an error message;
//! errors name the file only.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};
use tokio_rustls::TlsAcceptor;

/// How often the certificate files are checked for a change.
pub const RELOAD_POLL: Duration = Duration::from_secs(2);

/// The current certificate, swapped by a reload.
#[derive(Debug)]
struct Resolver {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }
}

/// What identifies a version of a file (modification time and length).
type Stamp = Option<(SystemTime, u64)>;

fn stamp(p: &Path) -> Stamp {
    let m = std::fs::metadata(p).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// The certificate and key files and the acceptor built on them.
pub struct Tls {
    cert: PathBuf,
    key: PathBuf,
    resolver: Arc<Resolver>,
    acceptor: TlsAcceptor,
    stamps: Mutex<(Stamp, Stamp)>,
}

fn bad(what: &str, path: &Path, why: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{what} {}: {why}", path.display()),
    )
}

/// Reads a certificate chain and its private key into a rustls certified key, checking
/// that the key matches the leaf certificate.
fn load_pair(cert: &Path, key: &Path) -> io::Result<CertifiedKey> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad("TLS certificate file", cert, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad("TLS certificate file", cert, e))?;
    if certs.is_empty() {
        return Err(bad("TLS certificate file", cert, "holds no certificate"));
    }
    // The error of a key parse is not shown: it could quote the key's bytes.
    let der = PrivateKeyDer::from_pem_file(key)
        .map_err(|_| bad("TLS key file", key, "holds no readable PEM private key"))?;
    let signer = rustls::crypto::ring::sign::any_supported_type(&der)
        .map_err(|_| bad("TLS key file", key, "is not a supported private key"))?;
    let pair = CertifiedKey::new(certs, signer);
    pair.keys_match().map_err(|e| {
        bad(
            "TLS key file",
            key,
            format!("does not match the certificate ({e})"),
        )
    })?;
    Ok(pair)
}

impl Tls {
    /// Loads the certificate chain (`cert`, PEM, leaf first) and private key (`key`,
    /// PEM: PKCS#8, PKCS#1 or SEC1) and builds the server configuration (TLS 1.2 and
    /// 1.3, ALPN h2 and http/1.1).
    pub fn load(cert: &Path, key: &Path) -> io::Result<Arc<Tls>> {
        let stamps = (stamp(cert), stamp(key));
        let pair = load_pair(cert, key)?;
        let resolver = Arc::new(Resolver {
            current: RwLock::new(Arc::new(pair)),
        });
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(Tls {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            resolver,
            acceptor: TlsAcceptor::from(Arc::new(config)),
            stamps: Mutex::new(stamps),
        }))
    }

    /// The acceptor for new connections (always the current certificate).
    pub fn acceptor(&self) -> TlsAcceptor {
        self.acceptor.clone()
    }

    /// Reads both files again and switches to them when they form a valid pair; on an
    /// error the certificate in use stays.
    pub fn reload(&self) -> io::Result<()> {
        let stamps = (stamp(&self.cert), stamp(&self.key));
        let pair = load_pair(&self.cert, &self.key)?;
        *self
            .resolver
            .current
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Arc::new(pair);
        *self.stamps.lock().unwrap_or_else(|e| e.into_inner()) = stamps;
        Ok(())
    }

    /// Whether either file changed since the last (attempted) load.
    fn changed(&self) -> bool {
        let now = (stamp(&self.cert), stamp(&self.key));
        let mut seen = self.stamps.lock().unwrap_or_else(|e| e.into_inner());
        if *seen == now {
            return false;
        }
        *seen = now;
        true
    }

    fn reload_logged(&self, why: &str) {
        match self.reload() {
            Ok(()) => tracing::info!(
                cert = %self.cert.display(),
                trigger = why,
                "TLS certificate reloaded; new connections use it"
            ),
            Err(e) => tracing::warn!(
                error = %e,
                trigger = why,
                "TLS certificate reload failed; the previous certificate stays in use"
            ),
        }
    }

    /// Reloads on SIGHUP and when a file changes (checked every [`RELOAD_POLL`]).
    pub fn spawn_reloader(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let tls = self.clone();
        tokio::spawn(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let mut hup = signal(SignalKind::hangup()).ok();
            let mut tick = tokio::time::interval(RELOAD_POLL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let hup_recv = async {
                    match hup.as_mut() {
                        Some(h) => {
                            h.recv().await;
                        }
                        None => std::future::pending::<()>().await,
                    }
                };
                tokio::select! {
                    _ = hup_recv => {
                        tls.changed();
                        tls.reload_logged("SIGHUP");
                    }
                    _ = tick.tick() => {
                        if tls.changed() {
                            tls.reload_logged("file change");
                        }
                    }
                }
            }
        })
    }
}
