//! The real `credledger serve` as a child process, for every test that starts the binary:
//! port 0 with the bound address read back from the server's own line (no port picked
//! by bind-and-release), the bootstrap token from `--admin-token-file`, and every line
//! the process writes to stderr captured at `trace` level, so tests can check that no
//! secret ever reaches the real server's log output.

#![allow(dead_code)]

pub mod api;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_credledger");

#[allow(
    clippy::duplicate_mod,
    reason = "each harness module includes the PostgreSQL helper; a test binary may use several"
)]
#[path = "../pg/mod.rs"]
mod pg;

/// With `CREDLEDGER_TEST_STORE=postgres`, the `--store` arguments for `data`: a fresh
/// database the first time, the same one when the directory is served again (its URL
/// is kept beside the directory).
pub fn store_args(data: &Path, extra: &[&str]) -> Vec<String> {
    if !pg::switched() || extra.contains(&"--store") {
        return vec![];
    }
    let kept = data.with_extension("pg-url");
    let url = match std::fs::read_to_string(&kept) {
        Ok(u) => u,
        Err(_) => {
            let u = pg::fresh_database();
            std::fs::write(&kept, &u).unwrap();
            u
        }
    };
    vec!["--store".into(), url, "--accept-lost-commits".into()]
}

/// A running server; killed on drop.
pub struct Served {
    child: Option<Child>,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
    /// `http://127.0.0.1:PORT`.
    pub addr: String,
    /// The data directory.
    pub data: PathBuf,
    /// The bootstrap admin token (empty when the directory already held a ledger).
    pub admin: String,
}

impl Served {
    /// Starts `serve` on `data` (created when missing) with `extra` arguments and
    /// environment variables, and waits until it listens.
    pub fn start(data: &Path, extra: &[&str], env: &[(&str, &str)]) -> Served {
        let token_file = data.with_extension("admin.token");
        let _ = std::fs::remove_file(&token_file);
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .arg("--admin-token-file")
            .arg(&token_file)
            .args(extra)
            .args(store_args(data, extra))
            .env("CREDLEDGER_LOG", "trace")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn credledger serve");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().expect("piped stderr");
        let sink = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("credledger: listening on ") {
                    let _ = tx.send(addr.trim().to_string());
                }
                sink.lock().unwrap().push(line);
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the server did not start:\n{}",
                    lines.lock().unwrap().join("\n")
                );
            }
        };
        let admin = std::fs::read_to_string(&token_file)
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        Served {
            child: Some(child),
            lines,
            reader: Some(reader),
            addr,
            data: data.to_path_buf(),
            admin,
        }
    }

    /// Every stderr line so far.
    pub fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Sends SIGTERM and waits (at most `limit`) for the process to end.
    pub fn terminate(&mut self, limit: Duration) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                self.join_reader();
                return Some(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                self.join_reader();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, then wait.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.join_reader();
    }

    fn join_reader(&mut self) {
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }

    /// Asserts that the server logged something (so the search means something) and that
    /// none of `secrets` appears in any line it wrote.
    #[track_caller]
    pub fn assert_no_secret_logged(&self, secrets: &[&str]) {
        let lines = self.lines.lock().unwrap();
        assert!(
            lines.len() >= 3,
            "too few server log lines captured ({}) for the search to mean anything",
            lines.len()
        );
        for s in secrets {
            assert!(!s.is_empty());
            if let Some(l) = lines.iter().find(|l| l.contains(s)) {
                panic!("the server logged a secret ({s}): {l}");
            }
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.kill();
    }
}
