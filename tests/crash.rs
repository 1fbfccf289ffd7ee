//! Crash test: a child process appends under concurrency and is killed with SIGKILL at
//! random moments. After every kill the ledger reopens with every acknowledged append
//! present, a chain that verifies, and projections equal to replay(log).

mod util;

use credledger::ledger::RequestCtx;
use credledger::projection;
use rand::Rng;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const ROUNDS: usize = 6;

/// Starts `debug append-load` and a thread collecting its acknowledged names. Only
/// complete lines count: a line cut by the kill was never fully acknowledged.
fn spawn_load(dir: &Path, prefix: &str) -> (Child, std::thread::JoinHandle<Vec<String>>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_credledger"))
        .args([
            "debug",
            "append-load",
            "--concurrency",
            "16",
            "--prefix",
            prefix,
            "--data",
        ])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn credledger");
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut acks = Vec::new();
        let mut r = BufReader::new(stdout);
        let mut line = String::new();
        loop {
            line.clear();
            match r.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) if line.ends_with('\n') => {
                    let name = line
                        .trim_end()
                        .strip_prefix("ack ")
                        .unwrap_or_else(|| panic!("unexpected output line {line:?}"));
                    acks.push(name.to_string());
                }
                Ok(_) => break,
            }
        }
        acks
    });
    (child, reader)
}

#[test]
fn sigkilled_appender_loses_no_acknowledged_append() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand::thread_rng();
    let mut all_acked: Vec<String> = Vec::new();
    let mut summary = String::new();
    let mut mirror = util::Mirror::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for round in 0..ROUNDS {
        let (mut child, reader) = spawn_load(dir.path(), &format!("r{round}"));
        let wait = rng.gen_range(100..=800);
        // The first round also bootstraps: give it time to reach the load.
        std::thread::sleep(Duration::from_millis(if round == 0 {
            wait + 300
        } else {
            wait
        }));
        if let Ok(Some(status)) = child.try_wait() {
            let mut stderr = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
            panic!("the appender exited early with {status}: {stderr}");
        }
        child.kill().expect("SIGKILL the appender");
        let status = child.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9),
            "killed by SIGKILL"
        );
        let acked = reader.join().unwrap();
        all_acked.extend(acked.iter().cloned());

        let open = util::open(dir.path());
        let ledger = &open.ledger;
        let tenant = open.admin.tenant;
        let missing: Vec<&String> = all_acked
            .iter()
            .filter(|n| !ledger.with_state(|s| s.names.contains_key(&(tenant, n.to_string()))))
            .collect();
        assert!(
            missing.is_empty(),
            "round {round}: {} acknowledged creations missing, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(5)]
        );
        let views: std::collections::HashSet<String> =
            projection::credentials(ledger.store().proj(), tenant)
                .map(|v| v.unwrap().name)
                .collect();
        assert!(
            all_acked.iter().all(|n| views.contains(n)),
            "round {round}: an acknowledged creation has no view"
        );
        let report = util::verify_store(ledger.store());
        assert!(report.ok(), "round {round}: {:?}", report.failure);
        assert_eq!(report.verified, util::log_len(ledger));
        util::assert_projections_equal_replay(
            ledger.store(),
            &mut mirror,
            &format!("after kill {round}"),
        );
        // Every data key left in the key ring belongs to a logged version, and the master
        // key can be rotated (which rewraps every one of them).
        let live = ledger.with_state(|s| {
            s.credentials
                .values()
                .map(|c| c.versions.len())
                .sum::<usize>()
        });
        assert_eq!(
            ledger.store().keyring().unwrap().len(),
            live,
            "round {round}: key ring and log disagree"
        );
        rt.block_on(ledger.rotate_master_key(&RequestCtx::default(), &open.admin))
            .unwrap_or_else(|e| panic!("round {round}: master-key rotation after a crash: {e}"));
        summary.push_str(&format!(
            "round {round}: killed after {wait} ms, {} acked, {} events\n",
            acked.len(),
            report.verified
        ));
        ledger.shutdown();
    }
    assert!(
        !all_acked.is_empty(),
        "no append was ever acknowledged: the test proved nothing"
    );
    eprintln!("{summary}");
}

// ---- shutdown: bounded, and nothing acknowledged is lost ------------------------------

/// A `credledger serve` child with its address, its stderr lines (collected on a thread)
/// and its admin token.
struct Server {
    child: Child,
    addr: String,
    token: String,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Server {
    fn start(dir: &Path, envs: &[(&str, &std::ffi::OsStr)]) -> Server {
        let token_file = dir.with_extension("token");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_credledger"));
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
            .args(["--shutdown-timeout", "3", "--data"])
            .arg(dir)
            .arg("--admin-token-file")
            .arg(&token_file)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn the server");
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                    if let Some(a) = v["fields"]["listen"].as_str() {
                        let _ = tx.send(a.to_string());
                    }
                }
                sink.lock().unwrap().push(line);
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the server logs its address");
        let token = std::fs::read_to_string(&token_file)
            .expect("the bootstrap token file")
            .trim()
            .to_string();
        Server {
            child,
            addr,
            token,
            log,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Sends SIGTERM and waits at most `bound` for the exit; returns the exit code, the
    /// time it took and the whole stderr.
    fn terminate(mut self, bound: Duration) -> (Option<i32>, Duration, String) {
        let start = std::time::Instant::now();
        let kill = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if start.elapsed() > bound {
                self.child.kill().unwrap();
                self.child.wait().unwrap();
                panic!(
                    "the server did not exit within {bound:?} of SIGTERM: {}",
                    self.log.lock().unwrap().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        // Let the reader thread take the last lines.
        std::thread::sleep(Duration::from_millis(100));
        let log = self.log.lock().unwrap().join("\n");
        (status.code(), start.elapsed(), log)
    }
}

fn create(http: &reqwest::blocking::Client, s: &Server, name: &str) -> reqwest::StatusCode {
    http.post(s.url("/v1/credentials"))
        .bearer_auth(&s.token)
        .json(&serde_json::json!({"name": name, "template": "api_key", "fields": {"api_key": format!("sk-{name}")}}))
        .send()
        .map(|r| r.status())
        .unwrap_or(reqwest::StatusCode::SERVICE_UNAVAILABLE)
}

/// The request ids of every `used` event in the log of the closed ledger in `dir`.
fn used_request_ids(dir: &Path) -> std::collections::HashSet<String> {
    let open = util::open(dir);
    let ids = open
        .ledger
        .store()
        .records(0)
        .map(|r| credledger::event::SignedEvent::from_record(&r.unwrap().1).unwrap())
        .filter(|e| e.event().body.action() == "used")
        .filter_map(|e| e.event().context.request_id.clone())
        .collect();
    open.ledger.shutdown();
    ids
}

#[test]
fn sigterm_with_resolves_in_flight_loses_no_acknowledged_resolve() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let server = Server::start(&dir, &[]);
    let http = reqwest::blocking::Client::new();
    assert_eq!(create(&http, &server, "inflight"), 201);
    let id: String = {
        let v: serde_json::Value = http
            .get(server.url("/v1/credentials"))
            .bearer_auth(&server.token)
            .send()
            .unwrap()
            .json()
            .unwrap();
        v["credentials"][0]["id"].as_str().unwrap().to_string()
    };
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let url = server.url(&format!("/v1/credentials/{id}/resolve"));
    let workers: Vec<_> = (0..12)
        .map(|w| {
            let (url, token, stop) = (url.clone(), server.token.clone(), stop.clone());
            std::thread::spawn(move || {
                let http = reqwest::blocking::Client::new();
                let mut answers = Vec::new();
                for i in 0.. {
                    let rid = format!("inflight-{w}-{i}");
                    let r = http
                        .post(&url)
                        .bearer_auth(&token)
                        .header("x-request-id", &rid)
                        .send();
                    let ok = matches!(&r, Ok(resp) if resp.status() == 200);
                    answers.push((rid, ok));
                    if r.is_err() || stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                }
                answers
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(400));
    let (code, took, log) = server.terminate(Duration::from_secs(20));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let answers: Vec<(String, bool)> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("shut down cleanly"), "{log}");
    let logged = used_request_ids(&dir);
    let acknowledged: Vec<&String> = answers
        .iter()
        .filter(|(_, ok)| *ok)
        .map(|(r, _)| r)
        .collect();
    let lost: Vec<&&String> = acknowledged
        .iter()
        .filter(|r| !logged.contains(**r))
        .collect();
    assert!(
        acknowledged.len() > 10,
        "too few resolves before the signal ({}): the test proved nothing",
        acknowledged.len()
    );
    assert!(
        lost.is_empty(),
        "acknowledged resolves missing from the log: {lost:?}"
    );
    eprintln!(
        "SIGTERM with 12 resolvers: exited in {:.2} s; {} resolves acknowledged, all in the log; {} refused or cut off",
        took.as_secs_f64(),
        acknowledged.len(),
        answers.len() - acknowledged.len()
    );
}

/// After a disk-full write failure, SIGTERM never completed (sled's flush in its drop
/// blocked) and needed SIGKILL. Now the process exits within the shutdown timeout and
/// says how far the log is durable.
/// Compiles `tests/powercut/diskfull.c` into `tmp`.
fn diskfull_shim(tmp: &Path) -> std::path::PathBuf {
    let so = tmp.join("libdiskfull.so");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/powercut/diskfull.c");
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-o"])
        .arg(&so)
        .arg(&src)
        .arg("-ldl")
        .status()
        .expect("a C compiler (cc) is needed to build the disk-full shim");
    assert!(status.success());
    so
}

#[test]
fn regression_sigterm_after_a_failed_write_hung_in_sleds_flush() {
    let tmp = tempfile::tempdir().unwrap();
    let so = diskfull_shim(tmp.path());
    let dir = tmp.path().join("data");
    let flag = tmp.path().join("disk-is-full");
    let server = Server::start(
        &dir,
        &[
            ("LD_PRELOAD", so.as_os_str()),
            ("DISKFULL_DIR", dir.as_os_str()),
            ("DISKFULL_FLAG", flag.as_os_str()),
        ],
    );
    let http = reqwest::blocking::Client::new();
    assert_eq!(create(&http, &server, "before"), 201);
    std::fs::write(&flag, b"").unwrap();
    let failed = create(&http, &server, "during");
    assert_eq!(failed, 503, "a write on a full disk fails");
    assert_eq!(
        create(&http, &server, "after"),
        503,
        "and so does every later one"
    );
    let (code, took, log) = server.terminate(Duration::from_secs(15));
    assert_ne!(code, Some(0), "{log}");
    assert!(
        log.contains("the last durable sequence number is"),
        "says what is durable: {log}"
    );
    std::fs::remove_file(&flag).unwrap();
    let open = util::open(&dir);
    let names = open
        .ledger
        .with_state(|s| s.names.keys().map(|(_, n)| n.clone()).collect::<Vec<_>>());
    assert!(names.contains(&"before".to_string()), "{names:?}");
    let durable: u64 = log
        .split("the last durable sequence number is ")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .expect("a sequence number");
    assert!(
        util::log_len(&open.ledger) > durable,
        "the log reaches what was reported durable"
    );
    assert!(util::verify_store(open.ledger.store()).ok());
    open.ledger.shutdown();
    eprintln!(
        "SIGTERM after a disk-full failure: exited in {:.2} s",
        took.as_secs_f64()
    );
}

/// A disk that stops answering: the sync of a write never returns, so the request is in
/// flight forever. SIGTERM still ends the process within the shutdown timeout (3 s
/// here), saying how far the log is durable; the stuck request is never acknowledged.
#[test]
fn sigterm_ends_the_process_in_bounded_time_when_a_sync_never_returns() {
    let tmp = tempfile::tempdir().unwrap();
    let so = diskfull_shim(tmp.path());
    let dir = tmp.path().join("data");
    let flag = tmp.path().join("disk-is-stuck");
    let one = std::ffi::OsStr::new("1");
    let server = Server::start(
        &dir,
        &[
            ("LD_PRELOAD", so.as_os_str()),
            ("DISKFULL_DIR", dir.as_os_str()),
            ("DISKFULL_FLAG", flag.as_os_str()),
            ("DISKFULL_HANG", one),
        ],
    );
    let http = reqwest::blocking::Client::new();
    assert_eq!(create(&http, &server, "before"), 201);
    std::fs::write(&flag, b"").unwrap();
    let (url, token) = (server.url("/v1/credentials"), server.token.clone());
    let stuck = std::thread::spawn(move || {
        reqwest::blocking::Client::new()
            .post(url)
            .bearer_auth(token)
            .json(&serde_json::json!({"name": "stuck", "template": "api_key", "fields": {"api_key": "sk-stuck"}}))
            .send()
            .map(|r| r.status().as_u16())
    });
    std::thread::sleep(Duration::from_millis(500));
    let (code, took, log) = server.terminate(Duration::from_secs(15));
    assert_eq!(code, Some(1), "{log}");
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(10),
        "{took:?}"
    );
    assert!(
        log.contains("shutdown did not finish within 3 s")
            && log.contains("the last durable sequence number is"),
        "{log}"
    );
    let answer = stuck.join().unwrap();
    assert!(
        !matches!(answer, Ok(201)),
        "the stuck creation was acknowledged: {answer:?}"
    );
    std::fs::remove_file(&flag).unwrap();
    let open = util::open(&dir);
    assert!(util::verify_store(open.ledger.store()).ok());
    open.ledger.shutdown();
}
