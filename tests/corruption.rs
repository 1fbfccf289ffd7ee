//! Corruption test: damage every file of a real data directory and require that the
//! ledger either refuses it with a clear error or verifies the whole log — never accepts
//! a shorter log, never panics.
//!
//! The ledger is built through the real binary and its HTTP API (creations, rotations,
//! resolves, a signed checkpoint, more writes after it), and the server is killed with
//! SIGKILL. On fresh copies of that directory (as the kill left it, and after a clean
//! reopen that let sled write its snapshot files) each case flips random bytes of one
//! file, truncates it or deletes it, then runs `credledger replay verify` (the real
//! binary) and `Ledger::open` (what `serve` runs). Each run ends as one of:
//!
//! * **verified**: exit 0 / opened, and the whole log (every event the server wrote)
//!   verifies;
//! * **refused**: a non-zero exit (not a panic's 101) or an error, with a message;
//! * a failure of the test: a shorter log accepted, a panic, or a hang.
//!
//! The tally (file × damage → outcomes) is printed. Cases are drawn from a seeded RNG
//! (`CORRUPTION_SEED` to change it); the seed is printed with the tally.

mod util;

use credledger::ledger::{Config, Ledger};
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WORKERS: usize = 3;
const HANG: Duration = Duration::from_secs(30);

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_credledger"))
}

/// Builds a ledger through the HTTP API of a real server, then SIGKILLs it.
fn build(dir: &Path) {
    let mut server = bin()
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .arg("--data")
        .arg(dir)
        .arg("--admin-token-file")
        .arg(dir.with_extension("token"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stderr.take().unwrap()).lines();
    let addr = lines
        .by_ref()
        .find_map(|l| {
            let v: serde_json::Value = serde_json::from_str(&l.ok()?).ok()?;
            v["fields"]["listen"].as_str().map(str::to_string)
        })
        .expect("the server logs its address");
    // Keep reading the log so the server never blocks on a full pipe.
    let drain = std::thread::spawn(move || lines.for_each(drop));
    let token = std::fs::read_to_string(dir.with_extension("token")).unwrap();
    let api = format!("http://{addr}");
    let http = reqwest::blocking::Client::new();
    let call = |method: reqwest::Method, path: &str, body: Option<serde_json::Value>| {
        let mut r = http
            .request(method, format!("{api}{path}"))
            .bearer_auth(token.trim());
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().unwrap();
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
        resp.text().unwrap()
    };
    let post = reqwest::Method::POST;
    let mut ids = Vec::new();
    for i in 0..8 {
        let v: serde_json::Value = serde_json::from_str(&call(
            post.clone(),
            "/v1/credentials",
            Some(
                serde_json::json!({"name": format!("c{i}"), "template": "api_key",
                                     "fields": {"api_key": format!("sk-corrupt-{i}")}}),
            ),
        ))
        .unwrap();
        ids.push(v["id"].as_str().unwrap().to_string());
    }
    for id in &ids[..4] {
        call(
            post.clone(),
            &format!("/v1/credentials/{id}/rotate"),
            Some(serde_json::json!({"fields": {"api_key": "sk-rotated"}})),
        );
    }
    for id in ids.iter().cycle().take(12) {
        call(post.clone(), &format!("/v1/credentials/{id}/resolve"), None);
    }
    call(reqwest::Method::GET, "/v1/ledger/checkpoint", None);
    for id in &ids[4..] {
        call(post.clone(), &format!("/v1/credentials/{id}/resolve"), None);
    }
    server.kill().unwrap();
    server.wait().unwrap();
    drain.join().unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    for file in util::files_under(from) {
        let target = to.join(file.strip_prefix(from).unwrap());
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&file, &target).unwrap();
    }
    std::fs::create_dir_all(to.join("ledger/blobs")).unwrap();
}

/// The number of events `replay verify` finds in an undamaged directory.
fn events_in(dir: &Path) -> u64 {
    let out = bin()
        .args(["replay", "verify", "--json", "--data"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["verified"].as_u64().unwrap()
}

#[derive(Clone, Debug)]
enum Damage {
    Flip(Vec<(usize, u8)>),
    Truncate(usize),
    Delete,
}

impl Damage {
    fn kind(&self) -> &'static str {
        match self {
            Damage::Flip(f) if f.len() == 1 => "flip 1 byte",
            Damage::Flip(_) => "flip 8 bytes",
            Damage::Truncate(0) => "truncate to 0",
            Damage::Truncate(_) => "truncate",
            Damage::Delete => "delete",
        }
    }

    fn apply(&self, path: &Path) {
        match self {
            Damage::Flip(flips) => {
                let mut b = std::fs::read(path).unwrap();
                for (at, x) in flips {
                    b[*at] ^= x;
                }
                std::fs::write(path, b).unwrap();
            }
            Damage::Truncate(n) => {
                let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
                f.set_len(*n as u64).unwrap();
            }
            Damage::Delete => std::fs::remove_file(path).unwrap(),
        }
    }
}

struct Case {
    variant: &'static str,
    file: PathBuf,
    damage: Damage,
}

/// The cases for one variant: for every file, byte flips (many more for the record file,
/// where the log lives, and sled's data file, where the key ring does), truncations and a
/// deletion.
fn cases(variant: &'static str, dir: &Path, rng: &mut impl Rng) -> Vec<Case> {
    let mut out = Vec::new();
    for path in util::files_under(dir) {
        let file = path.strip_prefix(dir).unwrap().to_path_buf();
        let len = std::fs::metadata(&path).unwrap().len() as usize;
        let data = std::fs::read(&path).unwrap();
        let flips = if file.ends_with("db") || file.ends_with("records") {
            70
        } else {
            8
        };
        // Bytes sled actually wrote (a segment's unused tail is zeros).
        let used: Vec<usize> = (0..len).filter(|i| data[*i] != 0).collect();
        let pick = |rng: &mut dyn rand::RngCore| -> usize {
            if used.is_empty() || rng.gen_bool(0.1) {
                rng.gen_range(0..len.max(1))
            } else {
                used[rng.gen_range(0..used.len())]
            }
        };
        let mut push = |damage| {
            out.push(Case {
                variant,
                file: file.clone(),
                damage,
            })
        };
        if len > 0 {
            for i in 0..flips {
                let n = if i % 4 == 3 { 8 } else { 1 };
                let f = (0..n)
                    .map(|_| (pick(rng), rng.gen_range(1..=255u8)))
                    .collect();
                push(Damage::Flip(f));
            }
            push(Damage::Truncate(0));
            push(Damage::Truncate(len / 2));
            push(Damage::Truncate(len - 1));
            push(Damage::Truncate(rng.gen_range(0..len)));
        }
        push(Damage::Delete);
    }
    out
}

/// A row of the tally: file, damage, outcome of `replay verify`, of `Ledger::open`.
type Row = (String, &'static str, Outcome, Outcome);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Verified,
    Refused,
}

/// Runs `replay verify` on `dir` and classifies the result (panics on a test failure).
fn replay_verify(dir: &Path, full: u64, what: &str) -> Outcome {
    let mut child = bin()
        .args(["replay", "verify", "--json", "--data"])
        .arg(dir)
        .env("RUST_BACKTRACE", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > HANG {
            child.kill().unwrap();
            panic!("{what}: replay verify hung");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked") && out.status.code() != Some(101),
        "{what}: replay verify panicked: {stderr}"
    );
    let code = out.status.code().expect("an exit code, not a signal");
    if code == 0 {
        let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(
            v["verified"].as_u64(),
            Some(full),
            "{what}: replay verify accepted a log of {} events instead of {full}",
            v["verified"]
        );
        Outcome::Verified
    } else {
        let message = if code == 1 {
            let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
            v["failure"]["problem"].to_string()
        } else {
            stderr.trim().to_string()
        };
        assert!(
            message.len() > 10,
            "{what}: no clear message (exit {code}): {stdout} {stderr}"
        );
        Outcome::Refused
    }
}

/// Runs `Ledger::open` (what `serve` does) on `dir`, on a thread so a hang is noticed.
/// Returns the outcome and, for a refusal, the message.
fn open_ledger(dir: &Path, full: u64, what: &str) -> (Outcome, String) {
    let dir = dir.to_path_buf();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let r = std::panic::catch_unwind(|| match Ledger::open(Config::new(&dir)) {
            Err(e) => Err(e.to_string()),
            Ok((ledger, _)) => {
                let report = util::verify_store(ledger.store());
                let len = util::log_len(&ledger);
                ledger.shutdown();
                Ok((report.ok(), report.verified, len))
            }
        });
        let _ = tx.send(r.map_err(|_| ()));
    });
    match rx.recv_timeout(HANG) {
        Err(_) => panic!("{what}: Ledger::open hung"),
        Ok(Err(())) => panic!("{what}: Ledger::open panicked"),
        Ok(Ok(Err(message))) => {
            assert!(message.len() > 10, "{what}: no clear message: {message}");
            (Outcome::Refused, message)
        }
        Ok(Ok(Ok((ok, verified, len)))) => {
            assert!(
                ok && verified == full && len == full,
                "{what}: the ledger opened a log of {len} events ({verified} verified) instead of {full}"
            );
            (Outcome::Verified, String::new())
        }
    }
}

#[test]
fn every_damaged_file_is_refused_or_verified_in_full_never_shortened_never_a_panic() {
    let seed: u64 = std::env::var("CORRUPTION_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(14);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let tmp = tempfile::tempdir().unwrap();
    let killed = tmp.path().join("killed");
    build(&killed);
    let full = events_in(&killed);
    assert!(full >= 30, "{full} events");
    // The same directory after a clean open and close: sled writes snapshot files.
    let snapshotted = tmp.path().join("snapshotted");
    copy_dir(&killed, &snapshotted);
    {
        let (ledger, _) = Ledger::open(Config::new(&snapshotted)).unwrap();
        ledger.shutdown();
    }
    let has_snap = |d: &Path| {
        util::files_under(d).iter().any(|f| {
            f.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("snap.")
        })
    };
    assert!(
        has_snap(&snapshotted),
        "a clean close writes a sled snapshot"
    );
    let mut all = cases("after SIGKILL", &killed, &mut rng);
    all.extend(cases("after a clean close", &snapshotted, &mut rng));
    if has_snap(&killed) {
        eprintln!("note: sled had written a snapshot before the kill");
    }
    let source = |c: &Case| {
        if c.variant == "after SIGKILL" {
            killed.clone()
        } else {
            snapshotted.clone()
        }
    };

    let next = AtomicUsize::new(0);
    let tally: Mutex<BTreeMap<Row, usize>> = Mutex::new(BTreeMap::new());
    let samples: Mutex<BTreeMap<String, String>> = Mutex::new(BTreeMap::new());
    let start = Instant::now();
    std::thread::scope(|s| {
        for w in 0..WORKERS {
            let (all, next, tally, samples, tmp) = (&all, &next, &tally, &samples, tmp.path());
            let source = &source;
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(case) = all.get(i) else { break };
                let what = format!(
                    "case {i} ({}, {} of {})",
                    case.variant,
                    case.damage.kind(),
                    case.file.display()
                );
                let dir = tmp.join(format!("case-{w}"));
                let _ = std::fs::remove_dir_all(&dir);
                copy_dir(&source(case), &dir);
                case.damage.apply(&dir.join(&case.file));
                let replay = replay_verify(&dir, full, &what);
                let (opened, message) = open_ledger(&dir, full, &what);
                let group = match case.file.to_string_lossy() {
                    f if f.starts_with("ledger/snap.") => "ledger/snap.*".to_string(),
                    f => f.to_string(),
                };
                if !message.is_empty() {
                    let mut m: String = message.chars().take(150).collect();
                    if m.len() < message.len() {
                        m.push('…');
                    }
                    samples.lock().unwrap().entry(group.clone()).or_insert(m);
                }
                *tally
                    .lock()
                    .unwrap()
                    .entry((group, case.damage.kind(), replay, opened))
                    .or_default() += 1;
                std::fs::remove_dir_all(&dir).unwrap();
            });
        }
    });
    let tally = tally.into_inner().unwrap();
    let mut report = format!(
        "{} cases in {:.1} s (seed {seed}, {full} events), as replay verify / Ledger::open:\n",
        all.len(),
        start.elapsed().as_secs_f64()
    );
    for ((file, kind, replay, opened), n) in &tally {
        report.push_str(&format!(
            "  {file:<22} {kind:<14} {:<9} / {:<9} {n:>4}\n",
            format!("{replay:?}").to_lowercase(),
            format!("{opened:?}").to_lowercase()
        ));
    }
    report.push_str("a refusal message of Ledger::open per file:\n");
    for (file, m) in samples.into_inner().unwrap() {
        report.push_str(&format!("  {file:<22} {m}\n"));
    }
    eprintln!("{report}");
    for file in ["ledger/db", "ledger/records"] {
        let refused: usize = tally
            .iter()
            .filter(|((f, ..), _)| f == file)
            .filter(|((_, _, r, _), _)| *r == Outcome::Refused)
            .map(|(_, n)| n)
            .sum();
        assert!(
            refused > 0,
            "no damage to {file} was ever refused: the cases hit nothing"
        );
    }
}
