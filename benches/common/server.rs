//! A `credledger serve` child process for a benchmark: spawned on a free loopback port
//! with its log in a file, timed from spawn to its first successful `GET /v1/ready`,
//! read from `/proc/PID/*` (resident memory, CPU ticks), stopped by SIGTERM, and killed
//! by its guard's `Drop` when the benchmark panics or fails on the way.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server; dropping it kills the process (SIGKILL) if it is still running.
pub struct Server {
    child: Child,
    pub base: String,
    pub log: PathBuf,
    /// Spawn to the first `200` of `/v1/ready`, seconds.
    pub startup_secs: f64,
}

/// A port on loopback that was free a moment ago (bound and released).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    l.local_addr().expect("local addr").port()
}

/// The last `lines` lines of a file (for failure messages).
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

impl Server {
    /// Spawns `bin serve --data data` on a free loopback port, its stdout and stderr to
    /// `log`, and waits (polling every 5 ms) until `GET /v1/ready` answers 200 — the
    /// ledger is open and writable then (`serve` opens it before it binds). Panics with
    /// the log's tail when the process exits or `timeout` passes first.
    ///
    /// A ledger this process just closed may still be held for a moment by its
    /// background threads (the link check below a state snapshot reads the whole log);
    /// while the server refuses the directory as locked, it is spawned again every
    /// 0.5 s (for at most `timeout`), and the start-up is that of the spawn that served.
    pub fn start(bin: &str, data: &Path, log: &Path, timeout: Duration) -> Server {
        let waiting = Instant::now();
        loop {
            match Server::try_start(bin, data, log, timeout) {
                Some(server) => {
                    let waited = waiting.elapsed().as_secs_f64() - server.startup_secs;
                    if waited > 0.5 {
                        println!("  (waited {waited:.1} s for the closed ledger to release the directory)");
                    }
                    return server;
                }
                None if waiting.elapsed() < timeout => {
                    std::thread::sleep(Duration::from_millis(500));
                }
                None => panic!("the data directory stayed locked for {timeout:?}"),
            }
        }
    }

    /// One spawn; `None` when the server exited because the directory is locked.
    fn try_start(bin: &str, data: &Path, log: &Path, timeout: Duration) -> Option<Server> {
        let port = free_port();
        let out = std::fs::File::create(log).expect("server log file");
        let err = out.try_clone().expect("server log file");
        let started = Instant::now();
        let child = Command::new(bin)
            .arg("serve")
            .arg("--data")
            .arg(data)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .env("CREDLEDGER_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn credledger serve");
        let mut server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log: log.to_path_buf(),
            startup_secs: 0.0,
        };
        let ready = format!("{}/v1/ready", server.base);
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("http client");
        loop {
            if let Ok(r) = client.get(&ready).send() {
                if r.status().is_success() {
                    break;
                }
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                if std::fs::read_to_string(log)
                    .is_ok_and(|l| l.contains("locked by another process"))
                {
                    return None;
                }
                panic!(
                    "credledger serve exited ({status}) before it was ready; log tail:\n{}",
                    tail(log, 30)
                );
            }
            if started.elapsed() > timeout {
                panic!(
                    "credledger serve was not ready within {timeout:?}; log tail:\n{}",
                    tail(log, 30)
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        server.startup_secs = started.elapsed().as_secs_f64();
        Some(server)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A field of `/proc/PID/status` in MB (`VmRSS`, `VmHWM`).
    pub fn status_mb(&self, field: &str) -> f64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    }

    /// User + system CPU seconds the server has used (`/proc/PID/stat`).
    pub fn cpu_secs(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let f: Vec<&str> = after.split_whitespace().collect();
        let ticks: f64 = [11, 12]
            .iter()
            .filter_map(|&i| f.get(i)?.parse::<f64>().ok())
            .sum();
        ticks / 100.0
    }

    /// SIGTERM, then waits up to `grace` for a clean exit (the ledger flushes and writes
    /// its state snapshot); kills it after that. Returns whether it exited by itself.
    pub fn stop(mut self, grace: Duration) -> bool {
        let pid = rustix::process::Pid::from_child(&self.child);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let start = Instant::now();
        while start.elapsed() < grace {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!(
            "credledger serve did not stop within {grace:?}; killing it. Log tail:\n{}",
            tail(&self.log, 10)
        );
        false
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
