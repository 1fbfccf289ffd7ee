//! Ledger-core benchmark: prints a table of
//!
//! * durable appends/s at concurrency 1, 16 and 256 (resolves by id through `Ledger`, each
//!   one durable `used` event), with the fdatasyncs per event from `commit_stats()`;
//! * the one-fdatasync-per-event rate of the same disk (append + `sync_data` of a small
//!   file in a loop), to show the group-commit factor;
//! * replay-verify events/s over a log of `LEDGER_BENCH_EVENTS` events (default 1M), next
//!   to the **batch-verify ceiling** of the same run: the same signatures, decoded and
//!   hashed beforehand, checked with `ed25519_dalek::verify_batch` in chunks of 4096 on
//!   every core (what replay verify would reach if reading, decoding and the chain checks
//!   cost nothing), the two alternating for `LEDGER_BENCH_VERIFY_ROUNDS` rounds (default
//!   3) with each round's ratio and the median (one run of each swings by ±15 % on a
//!   shared machine);
//! * `Ledger::open` time of that log (start-up) and the resident memory just after it,
//!   from the state snapshot and, with the snapshot replaced by junk, by a full fold;
//! * bytes on disk per event, in all and by file.
//!
//! Run: `cargo bench --bench ledger`. Environment: `LEDGER_BENCH_EVENTS` (log size for
//! replay and start-up, default 1000000; 10000000 for start-up at 10M),
//! `LEDGER_BENCH_SECS` (seconds per append measurement, default 3),
//! `LEDGER_BENCH_VERIFY_ROUNDS` (replay verify / ceiling rounds, default 3),
//! `LEDGER_BENCH_DIR` (where temp dirs go, default the system temp dir),
//! `LEDGER_BENCH_KEEP` (keep the filled data dir), `LEDGER_BENCH_VERIFY_DIR` (only the
//! replay verify and its ceiling, on such a kept data dir).

#[allow(dead_code, reason = "the history bench's helpers; this bench uses two")]
mod common;

use common::build::{du, env_u64};
use credledger::domain::Caller;
use credledger::id::Id;
use credledger::ledger::{Config, CreateInput, Ledger, RequestCtx, ResolveTarget};
use credledger::replay;
use credledger::store::sled::SledBackend;
use credledger::store::{Backend, LogStore};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// CPU seconds (user + system) this process has used, from `/proc/self/stat`.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|u| u.parse::<f64>().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn bench_dir() -> tempfile::TempDir {
    match std::env::var_os("LEDGER_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d),
        None => tempfile::tempdir(),
    }
    .expect("a temp dir")
}

fn open(dir: &Path) -> (Arc<Ledger>, Caller) {
    let (ledger, boot) = Ledger::open(Config::new(dir)).expect("open");
    let caller = ledger
        .authenticate(boot.expect("a fresh ledger").token.expose())
        .expect("admin token");
    (Arc::new(ledger), caller)
}

async fn create(ledger: &Ledger, caller: &Caller) -> Id {
    let mut fields = serde_json::Map::new();
    fields.insert(
        "api_key".into(),
        "sk-bench-0123456789abcdef0123456789abcdef".into(),
    );
    let input = CreateInput {
        name: "bench".into(),
        template: "api_key".into(),
        fields,
        ..Default::default()
    };
    ledger
        .create_credential(&RequestCtx::default(), caller, input)
        .await
        .expect("create")
}

/// Resolves `id` from `concurrency` tasks until `deadline` or until `total` events were
/// appended in all; returns the events appended.
async fn load(
    ledger: &Arc<Ledger>,
    caller: Caller,
    id: Id,
    concurrency: usize,
    deadline: Option<Instant>,
    total: Option<u64>,
) -> u64 {
    let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (ledger, done) = (ledger.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let ctx = RequestCtx {
                request_id: None,
                remote_addr: Some("127.0.0.1".into()),
            };
            loop {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                if total
                    .is_some_and(|t| done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) >= t)
                {
                    break;
                }
                let r = ledger
                    .resolve(&ctx, &caller, ResolveTarget::Id { id, version: None })
                    .await
                    .expect("resolve");
                drop(r);
                if total.is_none() {
                    done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    done.load(std::sync::atomic::Ordering::Relaxed)
        .min(total.unwrap_or(u64::MAX))
}

struct AppendRow {
    concurrency: usize,
    events: u64,
    secs: f64,
    syncs: u64,
    cpu: f64,
}

fn append_rate(rt: &tokio::runtime::Runtime, concurrency: usize, secs: u64) -> AppendRow {
    let dir = bench_dir();
    let (ledger, caller) = open(dir.path());
    let id = rt.block_on(create(&ledger, &caller));
    // Warm up briefly, then measure.
    rt.block_on(load(
        &ledger,
        caller,
        id,
        concurrency,
        Some(Instant::now() + Duration::from_millis(300)),
        None,
    ));
    let before = ledger.commit_stats();
    let cpu0 = cpu_secs();
    let start = Instant::now();
    rt.block_on(load(
        &ledger,
        caller,
        id,
        concurrency,
        Some(start + Duration::from_secs(secs)),
        None,
    ));
    let secs = start.elapsed().as_secs_f64();
    let cpu = cpu_secs() - cpu0;
    let after = ledger.commit_stats();
    ledger.shutdown();
    AppendRow {
        concurrency,
        events: after.events - before.events,
        secs,
        syncs: after.syncs - before.syncs,
        cpu,
    }
}

/// One `fdatasync` per 64-byte record, for `secs`: either appended to a growing file
/// (each sync also commits the new file size) or overwritten in place in a preallocated
/// file (data only, like sled's preallocated segments).
fn raw_sync_rate(secs: u64, preallocated: bool) -> f64 {
    use std::os::unix::fs::FileExt;
    let dir = bench_dir();
    let path = dir.path().join("sync-baseline");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)
        .expect("baseline file");
    let rec = [0x5au8; 64];
    if preallocated {
        f.write_all_at(&vec![0u8; 64 << 20], 0)
            .expect("preallocate");
        f.sync_all().expect("sync");
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(secs) {
        let at = if preallocated {
            (n * 64) % (64 << 20)
        } else {
            n * 64
        };
        f.write_all_at(&rec, at).expect("write");
        f.sync_data().expect("fdatasync");
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// Bytes by file under `dir` (relative paths; sled's `blobs/*` and `snap.*` summed).
fn du_by_file(dir: &Path) -> std::collections::BTreeMap<String, u64> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir").flatten() {
            let m = e.metadata().expect("metadata");
            if m.is_dir() {
                stack.push(e.path());
                continue;
            }
            let rel = e.path();
            let rel = rel
                .strip_prefix(dir)
                .expect("under dir")
                .display()
                .to_string();
            let name = if rel.contains("/blobs/") {
                "ledger/blobs/*".to_string()
            } else if rel.starts_with("ledger/snap.") {
                "ledger/snap.*".to_string()
            } else if rel.starts_with("keys/") {
                "keys/*".to_string()
            } else {
                rel
            };
            *out.entry(name).or_insert(0) += m.len();
        }
    }
    out
}

/// A field of `/proc/self/status` in kB (`VmRSS`, `VmHWM`).
fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Every signature of the log with its message, decoded and hashed beforehand: the
/// batch-verify ceiling's input.
struct Signatures {
    msgs: Vec<Vec<u8>>,
    sigs: Vec<ed25519_dalek::Signature>,
}

fn signatures(store: &dyn Backend) -> Signatures {
    let mut out = Signatures {
        msgs: Vec::new(),
        sigs: Vec::new(),
    };
    for r in store.records(0) {
        let e =
            credledger::event::SignedEvent::from_record(&r.expect("record").1).expect("decodes");
        out.msgs.push(credledger::event::signing_message(e.hash()));
        out.sigs
            .push(ed25519_dalek::Signature::from_bytes(e.signature()));
    }
    out
}

/// What one timed run did: events/s, cores busy, CPU us per event.
struct Run {
    rate: f64,
    busy: f64,
    cpu_us: f64,
}

/// Times `f` (which checks `n` events) on the wall clock and in this process's CPU time.
fn timed(n: u64, f: impl FnOnce()) -> Run {
    let cpu0 = cpu_secs();
    let start = Instant::now();
    f();
    let t = start.elapsed().as_secs_f64();
    let cpu = cpu_secs() - cpu0;
    Run {
        rate: n as f64 / t,
        busy: cpu / t,
        cpu_us: cpu * 1e6 / n.max(1) as f64,
    }
}

/// The batch-verify ceiling: `s` checked in chunks of 4096 with `verify_batch` on all
/// cores.
fn batch_verify_ceiling(s: &Signatures, key: ed25519_dalek::VerifyingKey) -> Run {
    use rayon::prelude::*;
    let keys = vec![key; 4096];
    let mut ok = false;
    let run = timed(s.msgs.len() as u64, || {
        ok = s
            .msgs
            .par_chunks(4096)
            .zip(s.sigs.par_chunks(4096))
            .all(|(m, s)| {
                let m: Vec<&[u8]> = m.iter().map(Vec::as_slice).collect();
                ed25519_dalek::verify_batch(&m, s, &keys[..s.len()]).is_ok()
            });
    });
    assert!(ok, "every signature verifies");
    run
}

fn main() {
    let events = env_u64("LEDGER_BENCH_EVENTS", 1_000_000);
    let secs = env_u64("LEDGER_BENCH_SECS", 3);
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    if let Some(kept) = std::env::var_os("LEDGER_BENCH_VERIFY_DIR") {
        // Only the replay verify and its ceiling, on a data dir kept by an earlier run.
        let store = SledBackend::open(Path::new(&kept)).expect("open the kept store");
        let n = store.next_seq().expect("len");
        verify_section(&store, n, cores);
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "ledger-core benchmark: {cores} cores, temp dirs under {}",
        bench_dir()
            .path()
            .parent()
            .map(PathBuf::from)
            .unwrap_or_default()
            .display()
    );

    let append_sync = raw_sync_rate(secs, false);
    let overwrite_sync = raw_sync_rate(secs, true);
    println!("one fdatasync per event, 64-byte append to a growing file:      {append_sync:>8.0} events/s");
    println!("one fdatasync per event, 64-byte overwrite in a preallocated file: {overwrite_sync:>8.0} events/s");
    let sync_rate = append_sync.max(overwrite_sync);
    println!();
    println!(
        "{:>11} {:>10} {:>9} {:>12} {:>11} {:>10} {:>13}",
        "concurrency",
        "appends/s",
        "events",
        "syncs/event",
        "x one-sync",
        "CPU cores",
        "CPU us/event"
    );
    for c in [1, 16, 256] {
        let r = append_rate(&rt, c, secs);
        let rate = r.events as f64 / r.secs;
        println!(
            "{:>11} {:>10.0} {:>9} {:>12.4} {:>11.1} {:>10.2} {:>13.0}",
            r.concurrency,
            rate,
            r.events,
            r.syncs as f64 / r.events.max(1) as f64,
            rate / sync_rate,
            r.cpu / r.secs,
            r.cpu * 1e6 / r.events.max(1) as f64
        );
    }
    println!(
        "(x one-sync: appends/s over the faster of the two raw one-fdatasync-per-event rates)"
    );
    println!();

    // A log of `events` events, made through the ledger at concurrency 256.
    let dir = bench_dir();
    let (ledger, caller) = open(dir.path());
    let id = rt.block_on(create(&ledger, &caller));
    let have = ledger.store().next_seq().expect("len");
    let start = Instant::now();
    let before = ledger.commit_stats();
    rt.block_on(load(
        &ledger,
        caller,
        id,
        256,
        None,
        Some(events.saturating_sub(have)),
    ));
    let fill = start.elapsed().as_secs_f64();
    let after = ledger.commit_stats();
    let n = ledger.store().next_seq().expect("len");
    println!(
        "filled {n} events in {fill:.1} s ({:.0} appends/s at concurrency 256, {:.4} syncs/event)",
        (after.events - before.events) as f64 / fill,
        (after.syncs - before.syncs) as f64 / (after.events - before.events).max(1) as f64
    );
    ledger.shutdown();
    drop(ledger);

    let bytes = du(dir.path());
    println!("bytes on disk: {bytes} for {n} events = {:.0} bytes/event (log, key ring, projections, keys)", bytes as f64 / n as f64);
    for (file, b) in du_by_file(dir.path()) {
        println!(
            "  {file:<22} {b:>14} bytes  {:>8.1} bytes/event",
            b as f64 / n as f64
        );
    }

    // Start-up: open the filled ledger (fold, checks, projections caught up, committer),
    // first from its state snapshot (the background thread's, the last one written at
    // shutdown), then with the snapshot replaced by junk: refused, the whole log folded
    // (what every open did before snapshots).
    let covers = {
        let store = SledBackend::open(dir.path()).expect("open store");
        LogStore::snapshot(&store).expect("snapshot").map(|b| {
            (
                credledger::snapshot::peek(&b).map_or(0, |(c, _)| c),
                b.len(),
            )
        })
    };
    match covers {
        Some((c, len)) => println!("state snapshot: covers {c} of {n} events, {len} bytes"),
        None => println!("state snapshot: none"),
    }
    for (what, junk) in [
        ("from the state snapshot", false),
        ("full fold, no snapshot", true),
    ] {
        if junk {
            let store = SledBackend::open(dir.path()).expect("open store");
            LogStore::put_snapshot_durable(&store, b"junk").expect("replace the snapshot");
        }
        let rss0 = status_kb("VmRSS");
        let start = Instant::now();
        let mut config = Config::new(dir.path());
        config.snapshot_every = 0;
        let (reopened, _) = Ledger::open(config).expect("reopen");
        let startup = start.elapsed().as_secs_f64();
        let rss1 = status_kb("VmRSS");
        println!(
            "start-up (Ledger::open) at {n} events, {what}: {startup:.2} s (snapshot covered {} events); resident memory {} MB after it ({} MB before, this process)",
            reopened.opened_from_snapshot(),
            rss1 / 1024,
            rss0 / 1024
        );
        reopened.shutdown();
        drop(reopened);
    }

    let store = SledBackend::open(dir.path()).expect("open store");
    verify_section(&store, n, cores);
    if std::env::var_os("LEDGER_BENCH_KEEP").is_some() {
        let kept = dir.keep();
        println!("kept the {n}-event data dir at {}", kept.display());
    }
}

/// Replay verify of the whole log next to the batch-verify ceiling of the same signatures.
fn verify_section(store: &SledBackend, n: u64, cores: usize) {
    let store: &dyn Backend = store;
    let log_bytes: u64 = store
        .records(0)
        .map(|r| r.expect("record").1.len() as u64)
        .sum();
    println!(
        "stored record size: {:.0} bytes/event on average",
        log_bytes as f64 / n as f64
    );
    // Replay verify and its ceiling alternate, round by round: on a shared machine
    // either can be slowed for a second, so each round's ratio and the median are shown.
    let rounds = env_u64("LEDGER_BENCH_VERIFY_ROUNDS", 3).max(1);
    // The ceiling's input and the genesis key, taken once from the first round's report.
    let mut ceiling_input = None;
    let mut ratios = Vec::new();
    for round in 1..=rounds {
        let mut report = None;
        let run = timed(n, || {
            report = Some(replay::verify(store.records(0), None, |_| {}))
        });
        let report = report.expect("ran");
        assert!(report.ok(), "{:?}", report.failure);
        assert_eq!(report.verified, n, "every event verified");
        let (sigs, key) = ceiling_input.get_or_insert_with(|| {
            let key = report
                .keys
                .first()
                .and_then(|(_, k)| hex::decode(k).ok()?.try_into().ok())
                .and_then(|k: [u8; 32]| ed25519_dalek::VerifyingKey::from_bytes(&k).ok())
                .expect("the genesis key");
            (signatures(store), key)
        });
        let ceiling = batch_verify_ceiling(sigs, *key);
        ratios.push(run.rate / ceiling.rate);
        println!(
            "round {round}: replay verify {n} events {:.0} events/s ({:.2} cores busy, {:.1} CPU us/event); \
             batch-verify ceiling {:.0} events/s ({:.2} cores busy, {:.1} CPU us/event; {cores} cores, verify_batch of 4096); \
             replay verify = {:.2} x ceiling",
            run.rate, run.busy, run.cpu_us, ceiling.rate, ceiling.busy, ceiling.cpu_us, run.rate / ceiling.rate
        );
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "replay verify / batch-verify ceiling over {rounds} rounds: median {:.2}, range {:.2}-{:.2}",
        ratios[ratios.len() / 2],
        ratios[0],
        ratios[ratios.len() - 1]
    );
    verify_stages(store, n);
}

/// What replay verify spends per event besides the signatures, one thread, one stage at
/// a time: reading the records, then decoding each (`SignedEvent::from_record`: framing,
/// event, canonical check, hash; the fastest of three passes).
fn verify_stages(store: &dyn Backend, n: u64) {
    let start = Instant::now();
    let records: Vec<Vec<u8>> = store.records(0).map(|r| r.expect("record").1).collect();
    let read = start.elapsed().as_secs_f64();
    let mut decode = f64::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        for r in &records {
            std::hint::black_box(credledger::event::SignedEvent::from_record(r).expect("decodes"));
        }
        decode = decode.min(start.elapsed().as_secs_f64());
    }
    let per = |s: f64| s * 1e6 / n.max(1) as f64;
    println!(
        "replay verify stages, one thread: read {:.2} us/event, decode and hash {:.2} us/event",
        per(read),
        per(decode)
    );
}
