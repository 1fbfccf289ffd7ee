//! A throwaway MariaDB server for tests, from Debian's `mariadb-server` package:
//! `mariadb-install-db` into a temporary directory, `mariadbd` on a loopback port and a
//! Unix socket in that directory, a user with a password and its own database; killed
//! and removed on drop.
//!
//! Use it from a test binary with `mod mysql;` and `let db = mysql::Mysql::start();`
//! ([`Mysql::start_tls`] also serves TLS with a self-signed certificate made by
//! `openssl`, and makes the user require it).
//! When the tests run as root, the server runs as the `mysql` user (`--user=mysql`),
//! and the directory is handed to it.
//!
//! Nothing is skipped: without an installation [`Mysql::start`] panics with a message
//! saying how `.ci/run` installs it.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The user the tests log in as, its password and database.
pub const USER: &str = "probe_user";
pub const PASSWORD: &str = "my-Pw-0e7a55c2";
pub const DATABASE: &str = "probe_db";

/// A running server; killed and deleted on drop.
pub struct Mysql {
    dir: tempfile::TempDir,
    child: Child,
    /// The TCP port on 127.0.0.1.
    pub port: u16,
}

const SERVER: &str = "/usr/sbin/mariadbd";
const INSTALL: &str = "/usr/bin/mariadb-install-db";
const CLIENT: &str = "/usr/bin/mariadb";

fn check(what: &str, out: Output) -> Output {
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn id(flag: &str, user: &str) -> u32 {
    let out = check(
        "id",
        Command::new("id").args([flag, user]).output().unwrap(),
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Mysql {
    /// Initializes and starts a server with [`USER`], [`PASSWORD`] and [`DATABASE`].
    ///
    /// # Panics
    ///
    /// If MariaDB is not installed, or a step fails (with its output).
    pub fn start() -> Mysql {
        Mysql::start_with(false)
    }

    /// Like [`Mysql::start`], with a self-signed certificate; the user must connect
    /// over TLS (`REQUIRE SSL`).
    pub fn start_tls() -> Mysql {
        Mysql::start_with(true)
    }

    fn start_with(tls: bool) -> Mysql {
        for program in [SERVER, INSTALL, CLIENT] {
            assert!(
                Path::new(program).exists(),
                "MariaDB is not installed: no {program}. The tests need Debian's \
                 `mariadb-server` package; `.ci/run` installs it (`apt-get install -y mariadb-server`)."
            );
        }
        let root = rustix::process::geteuid().is_root();
        let dir = tempfile::Builder::new()
            .prefix("credledger-mysql")
            .tempdir()
            .unwrap();
        if root {
            std::os::unix::fs::chown(dir.path(), Some(id("-u", "mysql")), Some(id("-g", "mysql")))
                .unwrap();
        }
        let data = dir.path().join("data");
        // Each server its own temporary directory: bootstraps running side by side in
        // the shared /tmp removed each other's temporary tables.
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&tmp).unwrap();
        if root {
            std::os::unix::fs::chown(&tmp, Some(id("-u", "mysql")), Some(id("-g", "mysql")))
                .unwrap();
        }
        let mut install = Command::new(INSTALL);
        install
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--tmpdir={}", tmp.display()))
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
            .args(["--skip-name-resolve", "--innodb-buffer-pool-size=16M"]);
        if root {
            install.arg("--user=mysql");
        }
        check("mariadb-install-db", install.output().unwrap());

        let mut ssl = Vec::new();
        if tls {
            let (cert, key) = (dir.path().join("server.crt"), dir.path().join("server.key"));
            check(
                "openssl",
                Command::new("openssl")
                    .args([
                        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    ])
                    .args(["-subj", "/CN=localhost"])
                    .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
                    .arg("-keyout")
                    .arg(&key)
                    .arg("-out")
                    .arg(&cert)
                    .output()
                    .expect("openssl"),
            );
            if root {
                for f in [&cert, &key] {
                    std::os::unix::fs::chown(f, Some(id("-u", "mysql")), Some(id("-g", "mysql")))
                        .unwrap();
                }
            }
            ssl.push(format!("--ssl-cert={}", cert.display()));
            ssl.push(format!("--ssl-key={}", key.display()));
        }
        let mut last_log = String::new();
        for _ in 0..5 {
            let port = free_port();
            let mut server = Command::new(SERVER);
            server
                .arg("--no-defaults")
                .arg(format!("--datadir={}", data.display()))
                .arg(format!("--tmpdir={}", tmp.display()))
                .arg(format!(
                    "--socket={}",
                    dir.path().join("mysqld.sock").display()
                ))
                .arg(format!(
                    "--pid-file={}",
                    dir.path().join("mysqld.pid").display()
                ))
                .arg(format!(
                    "--log-error={}",
                    dir.path().join("error.log").display()
                ))
                .arg(format!("--port={port}"))
                .args([
                    "--bind-address=127.0.0.1",
                    "--skip-name-resolve",
                    "--skip-log-bin",
                ])
                .args([
                    "--innodb-buffer-pool-size=16M",
                    "--innodb-flush-log-at-trx-commit=0",
                ])
                .args(&ssl)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            if root {
                server.arg("--user=mysql");
            }
            let mut child = server.spawn().unwrap();
            let mut db = None;
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // exited: most likely the port was taken
                }
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
                    && dir.path().join("mysqld.sock").exists()
                {
                    db = Some(port);
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            match db {
                Some(port) => {
                    let db = Mysql { dir, child, port };
                    db.root_sql(&format!(
                        "CREATE USER '{USER}'@'%' IDENTIFIED BY '{PASSWORD}'; \
                         CREATE DATABASE {DATABASE}; \
                         GRANT ALL ON {DATABASE}.* TO '{USER}'@'%';"
                    ));
                    if tls {
                        db.root_sql(&format!("ALTER USER '{USER}'@'%' REQUIRE SSL;"));
                    }
                    return db;
                }
                None => {
                    let _ = child.kill();
                    let _ = child.wait();
                    last_log =
                        std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
                }
            }
        }
        panic!("mariadbd did not start: {last_log}");
    }

    /// Runs SQL as root over the socket.
    pub fn root_sql(&self, sql: &str) {
        check(
            "mariadb",
            Command::new(CLIENT)
                .arg("--no-defaults")
                .arg(format!("--socket={}", self.socket().display()))
                .args(["-u", "root", "-e", sql])
                .output()
                .unwrap(),
        );
    }

    /// The server's Unix socket file.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("mysqld.sock")
    }

    /// A URL for [`USER`] over TCP with this password.
    pub fn url(&self, password: &str) -> String {
        format!(
            "mysql://{USER}:{password}@127.0.0.1:{}/{DATABASE}",
            self.port
        )
    }

    /// The server's error log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Mysql {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
