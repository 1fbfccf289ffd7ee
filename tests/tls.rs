//! `serve --tls-cert/--tls-key` on the real binary, with a CA and server certificates
//! made at test time (rcgen): HTTPS with the CA, HSTS, a reload (SIGHUP, then a file
//! change) that switches certificates while a keep-alive connection carries on, a failed
//! reload that keeps the certificate, plain HTTP to the TLS port refused cleanly, the
//! handshake timeout, the refusal of plain HTTP beyond loopback, the CLI's
//! `--ca-file`, and two nodes over PostgreSQL that serve HTTPS and forward over it.

mod pg;
mod served;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::CertificateDer;
use served::{Served, BIN};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
    der: CertificateDer<'static>,
}

fn ca() -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "credledger test CA");
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    Ca {
        pem: cert.pem(),
        der: cert.der().clone(),
        issuer: Issuer::new(params, key),
    }
}

/// Writes a new server certificate for localhost/127.0.0.1 and its key; returns its DER.
fn issue(ca: &Ca, dir: &Path, cn: &str) -> Vec<u8> {
    let mut params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    // The key first: a poll between the two writes sees a mismatched pair and keeps the
    // old certificate until both are in place.
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    cert.der().to_vec()
}

fn port(addr: &str) -> u16 {
    addr.rsplit(':').next().unwrap().parse().unwrap()
}

/// A raw HTTP/1.1 keep-alive connection over rustls, to tell one connection from another.
struct Conn {
    tls: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
}

impl Conn {
    fn open(ca: &Ca, port: u16) -> Conn {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.der.clone()).unwrap();
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let conn = rustls::ClientConnection::new(Arc::new(config), "localhost".try_into().unwrap())
            .unwrap();
        let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        Conn {
            tls: rustls::StreamOwned::new(conn, tcp),
        }
    }

    /// `GET /v1/health` on this connection: the status line and the HSTS header.
    fn health(&mut self) -> (String, Option<String>) {
        self.tls
            .write_all(b"GET /v1/health HTTP/1.1\r\nhost: localhost\r\n\r\n")
            .unwrap();
        let mut reader = BufReader::new(&mut self.tls);
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        let (mut len, mut hsts) = (0usize, None);
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (k, v) = line.split_once(':').unwrap();
            match k.to_ascii_lowercase().as_str() {
                "content-length" => len = v.trim().parse().unwrap(),
                "strict-transport-security" => hsts = Some(v.trim().to_string()),
                _ => {}
            }
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
        (status.trim().to_string(), hsts)
    }

    fn leaf(&self) -> Vec<u8> {
        self.tls.conn.peer_certificates().unwrap()[0].to_vec()
    }
}

/// Waits until a new connection is served `leaf`.
fn await_leaf(ca: &Ca, port: u16, leaf: &[u8]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut c = Conn::open(ca, port);
        c.health();
        if c.leaf() == leaf {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate was never served"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn https_with_reloads_that_keep_connections() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca();
    let first = issue(&ca, dir.path(), "first");
    std::fs::write(dir.path().join("ca.pem"), &ca.pem).unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    let s = Served::start(
        &dir.path().join("data"),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
        &[],
    );
    assert!(s.addr.starts_with("https://127.0.0.1:"), "{}", s.addr);
    let port = port(&s.addr);

    // HTTPS works with the CA, and only with it.
    let trusting = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let r = trusting
        .get(format!("{}/v1/health", s.addr))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["strict-transport-security"], "max-age=31536000");
    let plain_client = reqwest::blocking::Client::new();
    assert!(plain_client
        .get(format!("{}/v1/health", s.addr))
        .send()
        .is_err());

    // One keep-alive connection before the reload...
    let mut kept = Conn::open(&ca, port);
    assert!(kept.health().0.ends_with("200 OK"));
    assert_eq!(kept.leaf(), first);

    // ...a SIGHUP reload...
    let second = issue(&ca, dir.path(), "second");
    let hup = Command::new("kill")
        .args(["-HUP", &s.pid().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    await_leaf(&ca, port, &second);
    // ...and the same connection still serves, with the certificate it started with.
    let (status, hsts) = kept.health();
    assert!(status.ends_with("200 OK"), "{status}");
    assert_eq!(hsts.as_deref(), Some("max-age=31536000"));
    assert_eq!(kept.leaf(), first);

    // A file change alone reloads too.
    let third = issue(&ca, dir.path(), "third");
    await_leaf(&ca, port, &third);
    assert!(kept.health().0.ends_with("200 OK"));

    // A broken pair is refused and the certificate in use stays.
    std::fs::write(&key, "not a key").unwrap();
    Command::new("kill")
        .args(["-HUP", &s.pid().to_string()])
        .status()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let mut c = Conn::open(&ca, port);
    assert!(c.health().0.ends_with("200 OK"));
    assert_eq!(c.leaf(), third);

    // Plain HTTP to the TLS port: a short 400 in plain text, then the connection closes.
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    tcp.write_all(b"GET /v1/health HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("HTTPS only"), "{answer}");
    // The server is unharmed.
    let r = trusting
        .get(format!("{}/v1/health", s.addr))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(s.log().contains("TLS certificate reloaded"), "{}", s.log());
    assert!(
        s.log().contains("reload failed"),
        "a failed reload is logged: {}",
        s.log()
    );
    assert!(!s.log().contains("not a key"));

    // The CLI trusts the CA given by --ca-file (or CREDLEDGER_CA_FILE), not without it.
    let whoami = |ca_file: Option<&Path>| {
        let mut cmd = Command::new(BIN);
        cmd.args(["whoami", "--json", "--addr", &s.addr])
            .env("CREDLEDGER_TOKEN", &s.admin)
            .env("CREDLEDGER_CONFIG", dir.path().join("none.json"))
            .env_remove("CREDLEDGER_CA_FILE")
            .stdin(Stdio::null());
        if let Some(f) = ca_file {
            cmd.arg("--ca-file").arg(f);
        }
        cmd.output().unwrap()
    };
    let ok = whoami(Some(&dir.path().join("ca.pem")));
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(!whoami(None).status.success());
}

#[test]
fn a_silent_connection_is_dropped_after_the_handshake_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca();
    issue(&ca, dir.path(), "only");
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    let s = Served::start(
        &dir.path().join("data"),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
            "--tls-handshake-timeout",
            "1",
        ],
        &[],
    );
    let mut tcp = TcpStream::connect(("127.0.0.1", port(&s.addr))).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let start = Instant::now();
    let mut buf = [0u8; 16];
    let n = tcp.read(&mut buf).unwrap_or(0);
    assert_eq!(
        n, 0,
        "the server closes a connection that never shakes hands"
    );
    assert!(start.elapsed() < Duration::from_secs(8));
}

#[test]
fn plain_http_beyond_loopback_is_refused_unless_insecure_http() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--listen", "0.0.0.0:0", "--data"])
        .arg(dir.path().join("data"))
        .arg("--admin-token-file")
        .arg(dir.path().join("t"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refusing to serve plain HTTP"), "{err}");
    assert!(err.contains("--insecure-http"), "{err}");

    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "0.0.0.0:0",
            "--insecure-http",
            "--data",
        ])
        .arg(dir.path().join("data"))
        .arg("--admin-token-file")
        .arg(dir.path().join("t"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let done = line.starts_with("credledger: listening on http://0.0.0.0:");
        seen.push(line);
        if done {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let text = seen.join("\n");
    assert!(text.contains("WARNING: serving plain HTTP"), "{text}");
    assert!(text.contains("listening on http://0.0.0.0:"), "{text}");
}

/// The console's cookies get `Secure` when the request came over the server's own TLS,
/// and not over plain HTTP on loopback (where a browser would drop a Secure cookie).
#[test]
fn console_cookies_are_secure_over_tls() {
    let ca = ca();
    let dir = tempfile::tempdir().unwrap();
    issue(&ca, dir.path(), "console");
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    let tls = Served::start(
        &dir.path().join("data"),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
        &[],
    );
    let client = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let r = client.get(format!("{}/ui/login", tls.addr)).send().unwrap();
    assert_eq!(r.status(), 200);
    let cookies: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert!(!cookies.is_empty(), "the login page sets its CSRF cookie");
    assert!(
        cookies
            .iter()
            .all(|c| c.split(';').any(|a| a.trim() == "Secure")),
        "{cookies:?}"
    );
    drop(tls);

    let plain = Served::start(&dir.path().join("plain"), &[], &[]);
    let r = reqwest::blocking::get(format!("{}/ui/login", plain.addr)).unwrap();
    let cookies: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert!(!cookies.is_empty());
    assert!(
        cookies
            .iter()
            .all(|c| !c.split(';').any(|a| a.trim() == "Secure")),
        "{cookies:?}"
    );
}

/// Two nodes over one PostgreSQL behind TLS: both answer only over HTTPS (with HSTS),
/// the lease names the writer's `https://` address, and a write sent to the follower is
/// forwarded to the writer over HTTPS, trusting the writer's certificate through
/// `--ca-file` and nothing else; failed authentications at the follower are recorded by
/// the writer.
#[test]
fn nodes_over_postgresql_serve_https_and_forward_over_it() {
    let pg = pg::Pg::start();
    pg.superuser_sql(&format!("CREATE DATABASE tlsnodes OWNER {}", pg::ROLE));
    let url = pg.url(pg::PASSWORD).replace(pg::DATABASE, "tlsnodes");
    let dir = tempfile::tempdir().unwrap();
    let ca = ca();
    issue(&ca, dir.path(), "node");
    std::fs::write(dir.path().join("ca.pem"), &ca.pem).unwrap();
    let (cert, key, ca_file) = (
        dir.path().join("cert.pem"),
        dir.path().join("key.pem"),
        dir.path().join("ca.pem"),
    );
    let args = [
        "--store",
        url.as_str(),
        "--accept-lost-commits",
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
        "--ca-file",
        ca_file.to_str().unwrap(),
    ];
    let (d1, d2) = (dir.path().join("n1"), dir.path().join("n2"));
    let n1 = Served::start(&d1, &args, &[]);
    assert!(n1.addr.starts_with("https://127.0.0.1:"), "{}", n1.addr);
    let keys = d2.join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    for e in std::fs::read_dir(d1.join("keys")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), keys.join(e.file_name())).unwrap();
    }
    let n2 = Served::start(&d2, &args, &[]);
    assert!(n2.addr.starts_with("https://127.0.0.1:"), "{}", n2.addr);
    for n in [&n1, &n2] {
        let (status, hsts) = Conn::open(&ca, port(&n.addr)).health();
        assert!(status.contains("200"), "{status}");
        assert!(hsts.is_some(), "HSTS on {}", n.addr);
        let plain = reqwest::blocking::Client::new()
            .get(format!("http://127.0.0.1:{}/v1/health", port(&n.addr)))
            .send();
        assert!(
            plain.map(|r| !r.status().is_success()).unwrap_or(true),
            "plain HTTP is not served on {}",
            n.addr
        );
    }
    let client = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let r = client
        .post(format!("{}/v1/credentials", n2.addr))
        .bearer_auth(&n1.admin)
        .json(&serde_json::json!({"name": "over-tls", "template": "api_key", "fields": {"api_key": "v-tls-1"}}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "{}", n2.log());
    assert_eq!(
        r.headers()
            .get("x-credledger-forwarded-to")
            .and_then(|v| v.to_str().ok()),
        Some(n1.addr.as_str()),
        "the follower forwarded to the writer's https address"
    );
    let id = r.json::<serde_json::Value>().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let got = client
        .get(format!("{}/v1/credentials/{id}", n1.addr))
        .bearer_auth(&n1.admin)
        .send()
        .unwrap();
    assert_eq!(got.status(), 200);
    // A bad token sent to the follower is refused, and the writer records the failures
    // (a follower cannot write): the aggregated `auth_failures` event appears.
    for _ in 0..3 {
        let r = client
            .get(format!("{}/v1/whoami", n2.addr))
            .bearer_auth("not-a-token")
            .send()
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let v: serde_json::Value = client
            .get(format!(
                "{}/v1/audit?scope=system&action=auth_failures",
                n1.addr
            ))
            .bearer_auth(&n1.admin)
            .send()
            .unwrap()
            .json()
            .unwrap();
        let count: u64 = v["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["details"]["count"].as_u64())
            .sum();
        if count >= 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the writer never recorded the follower's failed authentications: {v}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    n1.assert_no_secret_logged(&["v-tls-1"]);
    n2.assert_no_secret_logged(&["v-tls-1"]);
}
