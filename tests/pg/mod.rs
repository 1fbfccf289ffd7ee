//! A throwaway PostgreSQL server for tests, from Debian's `postgresql` package: `initdb`
//! into a temporary directory, `pg_ctl start -w` on a loopback port and a Unix socket
//! in that directory, a login role with a password and its own database; stopped and
//! removed on drop.
//!
//! Use it from a test binary with `mod pg;` and `let pg = pg::Pg::start();`
//! ([`Pg::start_tls`] also serves TLS with a self-signed certificate for `localhost` and
//! 127.0.0.1, made by `openssl`, which the package depends on). Password
//! authentication (SCRAM) applies to TCP and the socket alike, so a wrong password is
//! refused either way. When the tests run as root, the server's commands run as the
//! `postgres` user (PostgreSQL refuses root), and the directory is handed to it.
//!
//! Nothing is skipped: without an installation [`Pg::start`] panics with a message
//! saying how `.ci/run` installs it.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The role the tests log in as, its password and database.
pub const ROLE: &str = "probe_user";
pub const PASSWORD: &str = "pg-Pw-4c1e9b77";
pub const DATABASE: &str = "probe_db";

/// The superuser's password (for setting up only).
const SUPERUSER_PASSWORD: &str = "pg-super-5b20d1";

/// A running server; stopped (immediately) and deleted on drop.
pub struct Pg {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// Whether commands run as the `postgres` user.
    as_postgres: bool,
    /// The TCP port on 127.0.0.1.
    pub port: u16,
    /// The server options `pg_ctl start -o` got (for [`Pg::start_again`]).
    options: String,
}

/// The newest `/usr/lib/postgresql/<version>/bin` with an `initdb`.
fn find_bin() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    match found.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "PostgreSQL is not installed: no /usr/lib/postgresql/*/bin/initdb. The tests need \
             Debian's `postgresql` package; `.ci/run` installs it (`apt-get install -y postgresql`)."
        ),
    }
}

/// The numeric id printed by `id FLAG postgres`.
fn postgres_id(flag: &str) -> u32 {
    let out = Command::new("id")
        .args([flag, "postgres"])
        .output()
        .expect("run id");
    assert!(
        out.status.success(),
        "running as root needs the `postgres` user, which Debian's postgresql package creates"
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn check(what: &str, out: Output) -> Output {
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A loopback port free right now (the server may still lose a race for it; `start`
/// retries).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Pg {
    /// Initializes and starts a server with [`ROLE`], [`PASSWORD`] and [`DATABASE`].
    ///
    /// # Panics
    ///
    /// If PostgreSQL is not installed, or a step fails (with its output).
    pub fn start() -> Pg {
        Pg::start_with(false)
    }

    /// Like [`Pg::start`], with `ssl=on`, a self-signed certificate and connections
    /// logged (the log says whether each used TLS).
    pub fn start_tls() -> Pg {
        Pg::start_with(true)
    }

    /// Like [`Pg::start`], with `fsync = on` (the default [`Pg::start`] turns it off for
    /// speed): for the ledger's durability checks and its benchmarks.
    pub fn start_durable() -> Pg {
        Pg::start_opts(false, true)
    }

    fn start_with(tls: bool) -> Pg {
        Pg::start_opts(tls, false)
    }

    fn start_opts(tls: bool, fsync: bool) -> Pg {
        let bin = find_bin();
        let as_postgres = rustix::process::geteuid().is_root();
        let dir = tempfile::Builder::new()
            .prefix("credledger-pg")
            .tempdir()
            .unwrap();
        if as_postgres {
            let (uid, gid) = (postgres_id("-u"), postgres_id("-g"));
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
        }
        let mut pg = Pg {
            dir,
            bin,
            as_postgres,
            port: 0,
            options: String::new(),
        };
        let pwfile = pg.path("superuser-password");
        std::fs::write(&pwfile, SUPERUSER_PASSWORD).unwrap();
        pg.chown(&pwfile);
        std::fs::create_dir(pg.socket_dir()).unwrap();
        pg.chown(&pg.socket_dir());
        let data = pg.data_dir();
        check(
            "initdb",
            pg.command("initdb")
                .arg("-D")
                .arg(&data)
                .args(["-U", "postgres", "-E", "UTF8", "--no-locale", "--no-sync"])
                .args(["--auth=scram-sha-256"])
                .arg(format!("--pwfile={}", pwfile.display()))
                .output()
                .unwrap(),
        );
        let ssl = if tls {
            let (cert, key) = (pg.path("server.crt"), pg.path("server.key"));
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
                    .expect("openssl (Debian's ssl-cert, a dependency of postgresql, brings it)"),
            );
            std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .unwrap();
            pg.chown(&cert);
            pg.chown(&key);
            format!(
                "-c ssl=on -c ssl_cert_file={} -c ssl_key_file={} -c log_connections=on",
                cert.display(),
                key.display()
            )
        } else {
            "-c ssl=off".to_string()
        };
        let mut last = None;
        for _ in 0..5 {
            let port = free_port();
            let options = format!(
                "-c listen_addresses=127.0.0.1 -p {port} -k {} -c fsync={} {ssl}",
                pg.socket_dir().display(),
                if fsync { "on" } else { "off" }
            );
            let out = pg
                .command("pg_ctl")
                .args(["start", "-w", "-t", "60", "-D"])
                .arg(&data)
                .arg("-l")
                .arg(pg.path("server.log"))
                .arg("-o")
                .arg(&options)
                .output()
                .unwrap();
            if out.status.success() {
                pg.port = port;
                pg.options = options;
                break;
            }
            // A port taken between the check and the bind: try another.
            last = Some(out);
        }
        if pg.port == 0 {
            let log = std::fs::read_to_string(pg.path("server.log")).unwrap_or_default();
            check("pg_ctl start", last.unwrap());
            panic!("pg_ctl start failed: {log}");
        }
        pg.superuser_sql(&format!("CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'"));
        pg.superuser_sql(&format!("CREATE DATABASE {DATABASE} OWNER {ROLE}"));
        pg
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn data_dir(&self) -> PathBuf {
        self.path("data")
    }

    /// The directory of the server's Unix socket (`.s.PGSQL.<port>`).
    pub fn socket_dir(&self) -> PathBuf {
        self.path("socket")
    }

    fn chown(&self, path: &Path) {
        if self.as_postgres {
            let (uid, gid) = (postgres_id("-u"), postgres_id("-g"));
            std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
        }
    }

    /// A server program, run as `postgres` when the tests run as root.
    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    }

    /// Runs one SQL statement as the superuser over the socket (`psql`; `CREATE
    /// DATABASE` cannot share a transaction with others).
    pub fn superuser_sql(&self, sql: &str) {
        check(
            "psql",
            Command::new(self.bin.join("psql"))
                .args([
                    "-X",
                    "-q",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-U",
                    "postgres",
                    "-d",
                    "postgres",
                ])
                .arg("-h")
                .arg(self.socket_dir())
                .args(["-p", &self.port.to_string(), "-c", sql])
                .env("PGPASSWORD", SUPERUSER_PASSWORD)
                .env_remove("PGSERVICEFILE")
                .output()
                .unwrap(),
        );
    }

    /// Runs one query as the superuser and returns its unaligned output (`psql -At`).
    pub fn superuser_query(&self, sql: &str) -> String {
        let out = check(
            "psql",
            Command::new(self.bin.join("psql"))
                .args(["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-U", "postgres"])
                .args(["-d", "postgres", "-h"])
                .arg(self.socket_dir())
                .args(["-p", &self.port.to_string(), "-c", sql])
                .env("PGPASSWORD", SUPERUSER_PASSWORD)
                .env_remove("PGSERVICEFILE")
                .output()
                .unwrap(),
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A URL for [`ROLE`] over TCP with this password.
    pub fn url(&self, password: &str) -> String {
        format!(
            "postgres://{ROLE}:{password}@127.0.0.1:{}/{DATABASE}?sslmode=disable",
            self.port
        )
    }

    /// Stops the server (`pg_ctl stop -m fast`, which still writes its checkpoint).
    pub fn stop(&self) {
        check(
            "pg_ctl stop",
            self.command("pg_ctl")
                .args(["stop", "-m", "fast", "-w", "-D"])
                .arg(self.data_dir())
                .output()
                .unwrap(),
        );
    }

    /// Starts the stopped server again on the same port and options.
    pub fn start_again(&self) {
        check(
            "pg_ctl start",
            self.command("pg_ctl")
                .args(["start", "-w", "-t", "60", "-D"])
                .arg(self.data_dir())
                .arg("-l")
                .arg(self.path("server.log"))
                .arg("-o")
                .arg(&self.options)
                .output()
                .unwrap(),
        );
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path("server.log")).unwrap_or_default()
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        if self.port != 0 {
            let _ = self
                .command("pg_ctl")
                .args(["stop", "-m", "immediate", "-w", "-D"])
                .arg(self.data_dir())
                .output();
        }
    }
}

/// The switch that runs the store-generic suites on PostgreSQL:
/// `CREDLEDGER_TEST_STORE=postgres` (anything else, or unset: the embedded store).
pub const STORE_SWITCH: &str = "CREDLEDGER_TEST_STORE";

/// A URL for a role that may create databases, given to the suites by
/// `tests/both_stores.rs`; without it a switched test binary starts its own server.
pub const URL_VAR: &str = "CREDLEDGER_TEST_PG_URL";

/// Whether this test binary runs its servers and ledgers on PostgreSQL.
pub fn switched() -> bool {
    std::env::var(STORE_SWITCH).is_ok_and(|v| v == "postgres")
}

/// The server a switched test binary started itself (stopped at exit).
static SHARED: std::sync::OnceLock<Pg> = std::sync::OnceLock::new();

extern "C" fn stop_shared() {
    if let Some(pg) = SHARED.get() {
        let _ = pg
            .command("pg_ctl")
            .args(["stop", "-m", "immediate", "-w", "-D"])
            .arg(pg.data_dir())
            .output();
        let _ = std::fs::remove_dir_all(pg.dir.path());
    }
}

/// The URL of the server the switched suites use: [`URL_VAR`], or one started (once per
/// test binary) here, whose role may create databases.
pub fn shared_url() -> String {
    if let Ok(url) = std::env::var(URL_VAR) {
        return url;
    }
    let pg = SHARED.get_or_init(|| {
        let pg = Pg::start();
        pg.superuser_sql(&format!("ALTER ROLE {ROLE} CREATEDB"));
        // Statics are never dropped: stop the server when the process exits.
        #[allow(unsafe_code)]
        // SAFETY: registers a plain function with no arguments, run once at exit.
        unsafe {
            libc::atexit(stop_shared);
        }
        pg
    });
    pg.url(PASSWORD)
}

/// Runs `sql` on `url` (its own thread and runtime: callers may be inside a runtime or
/// not).
fn run_sql(url: &str, sql: String) {
    let b = url.to_string();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let (c, conn) = tokio_postgres::connect(&b, tokio_postgres::NoTls)
                .await
                .expect("connect to the test PostgreSQL");
            let conn = tokio::spawn(conn);
            c.batch_execute(&sql).await.expect(&sql);
            drop(c);
            let _ = conn.await;
        })
    })
    .join()
    .unwrap();
}

/// Frees the writer lease of the ledger at `url` (its holder, a ledger of this test
/// process, is gone), so the directory can be opened again.
pub fn expire_lease(url: &str) {
    run_sql(
        url,
        "UPDATE credledger.lease SET expires_at = now() - interval '1 second'".into(),
    );
}

/// A fresh, empty database on [`shared_url`]'s server: its URL.
pub fn fresh_database() -> String {
    let base = shared_url();
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    run_sql(&base, format!("CREATE DATABASE {name}"));
    let (head, query) = base.split_once('?').unwrap_or((&base, ""));
    let (server, _db) = head.rsplit_once('/').expect("a URL with a database");
    format!("{server}/{name}?{query}")
}
