//! History benchmark (issue 13): how the cost of serving grows with the log. It builds
//! ONE sled ledger in a kept directory, grows it by durable resolves to each stage
//! (10,000, 1,000,000 and, with `HISTORY_BENCH_MAX=10000000`, 10,000,000 events), and at
//! each stage closes it and measures a fresh `credledger serve` process on it:
//!
//! * start-up: spawn to the first `200` of `GET /v1/ready` (the ledger is open and
//!   writable: `serve` opens it before it binds);
//! * the server's resident memory (VmRSS, VmHWM) right after start and after the load;
//! * durable resolves/s over HTTP at 16 and 64 connections with p50/p99 (wrk when it is on
//!   PATH, a random credential and token per request; else an in-process reqwest load),
//!   with events per fdatasync and the server's CPU per request;
//! * the audit query by credential, first page (`GET /v1/audit?credential=ID&limit=50`)
//!   for 500 random credentials one after the other (p50/p99/max), and for the hot one;
//! * bytes on disk per event (every file of the data dir over the events).
//!
//! Layout of `HISTORY_BENCH_DIR` (default `target/history-bench`): `data/` is the ledger;
//! `admin-token` (mode 0600) the bootstrap admin's token; `tokens` the bench principals'
//! tokens; `credentials` the credential ids, the hot one first (written last: a directory
//! without it is an unfinished setup and is rebuilt); `serve-*.log` the servers' logs.
//! A later run reuses the directory ("reusing") and only grows it; a stage below what the
//! log already holds is measured at the log's size (100,000 credentials alone exceed the
//! 10,000-event stage), and a stage already passed in this run is skipped.
//!
//! The fill: `HISTORY_BENCH_CREDENTIALS` (100,000) credentials created concurrently
//! through `Ledger::create_credential`, 32 service principals with the admin role (so
//! they may resolve every tenant credential without a grant per credential) each with a
//! token, then `Ledger::resolve` from 256 tasks, each resolve by a random one of the 33
//! callers, of the hot credential one time in 16 and of a uniformly random one otherwise.
//!
//! Run: `cargo bench --bench history`. Environment: `HISTORY_BENCH_DIR`,
//! `HISTORY_BENCH_CREDENTIALS`, `HISTORY_BENCH_MAX` (largest stage, default 1000000),
//! `HISTORY_BENCH_SECS` (seconds per HTTP load, default 5), `HISTORY_BENCH_LOAD=client`
//! (the in-process load even when wrk is there). No timing is asserted.

mod common;

use common::build::{self, du, env_u64, loadavg, Bench};
use common::load::{self, Rate};
use common::server::Server;
use credledger::id::Id;
use rand::seq::SliceRandom;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const AUDIT_SAMPLE: usize = 500;
const HOT_QUERIES: usize = 50;
/// Credentials the wrk script picks from.
const WRK_IDS: usize = 20_000;

/// One HTTP load at `conns` connections and what the server spent on it.
struct Load {
    conns: usize,
    rate: Rate,
    events_per_sync: f64,
    cpu_us_per_req: f64,
}

/// One stage's figures.
struct Row {
    stage: u64,
    events: u64,
    startup: f64,
    rss_start: f64,
    rss_after: f64,
    hwm_after: f64,
    loads: Vec<Load>,
    audit: [f64; 3],
    hot: [f64; 2],
    bytes_per_event: f64,
    load_before: String,
    load_after: String,
}

fn resolve_loads(
    rt: &tokio::runtime::Runtime,
    server: &Server,
    bench: &Bench,
    script: &Path,
    secs: u64,
) -> Vec<Load> {
    let client = reqwest::Client::new();
    let mut rng = rand::thread_rng();
    let ids: Vec<String> = bench
        .ids
        .choose_multiple(&mut rng, WRK_IDS)
        .map(Id::to_string)
        .collect();
    let mut out = Vec::new();
    for conns in [16, 64] {
        let (e0, s0) = rt.block_on(load::ready_stats(&client, &server.base));
        let cpu0 = server.cpu_secs();
        let rate = if load::use_wrk() {
            load::wrk(&server.base, script, conns, secs)
        } else {
            rt.block_on(load::client_load(
                &server.base,
                &ids,
                &bench.tokens,
                conns,
                secs,
            ))
        };
        let cpu = server.cpu_secs() - cpu0;
        let (e1, s1) = rt.block_on(load::ready_stats(&client, &server.base));
        let l = Load {
            conns,
            events_per_sync: (e1 - e0) as f64 / (s1 - s0).max(1) as f64,
            cpu_us_per_req: cpu * 1e6 / rate.requests.max(1) as f64,
            rate,
        };
        println!(
            "  resolve c={:<3} {:>7.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  errors {}  events/sync {:.1}  server CPU {:.0} us/req",
            l.conns,
            l.rate.per_sec(),
            l.rate.p50_ms,
            l.rate.p99_ms,
            l.rate.errors,
            l.events_per_sync,
            l.cpu_us_per_req
        );
        out.push(l);
    }
    out
}

/// Audit first pages of `AUDIT_SAMPLE` random credentials and `HOT_QUERIES` of the hot
/// one: ([p50, p99, max], [hot p50, hot max]) in ms.
fn audit_queries(
    rt: &tokio::runtime::Runtime,
    server: &Server,
    bench: &Bench,
) -> ([f64; 3], [f64; 2]) {
    let client = reqwest::Client::new();
    let mut rng = rand::thread_rng();
    let sample: Vec<String> = bench.ids[1..]
        .choose_multiple(&mut rng, AUDIT_SAMPLE)
        .map(Id::to_string)
        .collect();
    let hot = vec![bench.ids[0].to_string(); HOT_QUERIES];
    let (mut lat, entries) = rt.block_on(load::audit_first_pages(
        &client,
        &server.base,
        &bench.admin_token,
        &sample,
    ));
    let (mut hot_lat, hot_entries) = rt.block_on(load::audit_first_pages(
        &client,
        &server.base,
        &bench.admin_token,
        &hot,
    ));
    lat.sort_by(f64::total_cmp);
    hot_lat.sort_by(f64::total_cmp);
    let a = [
        load::quantile(&lat, 0.5),
        load::quantile(&lat, 0.99),
        *lat.last().unwrap_or(&0.0),
    ];
    let h = [
        load::quantile(&hot_lat, 0.5),
        *hot_lat.last().unwrap_or(&0.0),
    ];
    println!(
        "  audit by credential, first page: {} random credentials p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms ({:.1} entries/page); hot credential x{}: p50 {:.2} ms  max {:.2} ms ({} entries)",
        lat.len(),
        a[0],
        a[1],
        a[2],
        entries.iter().sum::<usize>() as f64 / entries.len().max(1) as f64,
        hot_lat.len(),
        h[0],
        h[1],
        hot_entries.first().copied().unwrap_or(0)
    );
    (a, h)
}

/// Serves the closed ledger from a fresh process and measures it; returns the row
/// without the event count (read after the server stopped).
fn measure(rt: &tokio::runtime::Runtime, bench: &Bench, stage: u64, secs: u64) -> Row {
    let load_before = loadavg();
    let log = bench.dir.join(format!("serve-{stage}.log"));
    let timeout = Duration::from_secs(env_u64("HISTORY_BENCH_READY_TIMEOUT", 300));
    let server = Server::start(
        env!("CARGO_BIN_EXE_credledger"),
        &bench.data(),
        &log,
        timeout,
    );
    let rss_start = server.status_mb("VmRSS");
    println!(
        "  serve start-up {:.3} s (spawn to the first 200 of /v1/ready); resident {:.0} MB (peak {:.0} MB)",
        server.startup_secs,
        rss_start,
        server.status_mb("VmHWM")
    );
    let script = bench.dir.join("resolve.lua");
    let loads = resolve_loads(rt, &server, bench, &script, secs);
    let (audit, hot) = audit_queries(rt, &server, bench);
    let (rss_after, hwm_after) = (server.status_mb("VmRSS"), server.status_mb("VmHWM"));
    println!("  resident after the load {rss_after:.0} MB (peak {hwm_after:.0} MB)");
    let startup = server.startup_secs;
    if !server.stop(Duration::from_secs(120)) {
        println!("  (the server did not exit cleanly; see {})", log.display());
    }
    Row {
        stage,
        events: 0,
        startup,
        rss_start,
        rss_after,
        hwm_after,
        loads,
        audit,
        hot,
        bytes_per_event: du(&bench.data()) as f64,
        load_before,
        load_after: loadavg(),
    }
}

fn stages(max: u64) -> Vec<u64> {
    let mut s: Vec<u64> = [10_000, 1_000_000, 10_000_000]
        .into_iter()
        .filter(|&n| n < max)
        .collect();
    s.push(max);
    s
}

fn summary(rows: &[Row], credentials: usize, generator: &str) {
    println!();
    println!(
        "summary: {credentials} credentials; resolves by {generator}; audit = GET /v1/audit?credential=ID&limit=50"
    );
    println!(
        "{:>9} {:>10} {:>8} {:>9} {:>9} {:>9} {:>17} {:>17} {:>20} {:>8} {:>9} {:>15}",
        "stage",
        "events",
        "start s",
        "RSS0 MB",
        "RSS1 MB",
        "HWM MB",
        "c16 req/s (p99)",
        "c64 req/s (p99)",
        "audit p50/p99/max",
        "hot p50",
        "bytes/ev",
        "load avg"
    );
    for r in rows {
        let rate = |i: usize| {
            r.loads.get(i).map_or(String::from("-"), |l| {
                format!("{:.0} ({:.1})", l.rate.per_sec(), l.rate.p99_ms)
            })
        };
        println!(
            "{:>9} {:>10} {:>8.3} {:>9.0} {:>9.0} {:>9.0} {:>17} {:>17} {:>20} {:>8.2} {:>9.0} {:>15}",
            r.stage,
            r.events,
            r.startup,
            r.rss_start,
            r.rss_after,
            r.hwm_after,
            rate(0),
            rate(1),
            format!("{:.2}/{:.2}/{:.2}", r.audit[0], r.audit[1], r.audit[2]),
            r.hot[0],
            r.bytes_per_event,
            format!("{}>{}", r.load_before.split(' ').next().unwrap_or(""), r.load_after.split(' ').next().unwrap_or(""))
        );
    }
    println!("(stage: the requested size, measured at the log's size when that is larger; RSS0 just after start, RSS1/HWM after the loads; load avg: 1-minute before > after the stage)");
}

fn main() {
    let dir = std::env::var_os("HISTORY_BENCH_DIR")
        .map_or_else(|| PathBuf::from("target/history-bench"), PathBuf::from);
    let credentials = env_u64("HISTORY_BENCH_CREDENTIALS", 100_000).max(1) as usize;
    let max = env_u64("HISTORY_BENCH_MAX", 1_000_000);
    let secs = env_u64("HISTORY_BENCH_SECS", 5);
    let generator = if load::use_wrk() {
        "wrk (2 threads, random credential and token per request)"
    } else {
        "the in-process reqwest load (wrk not on PATH)"
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "history benchmark: {} cores, dir {}, {credentials} credentials, stages {:?}, {secs} s per HTTP load, load by {generator}, load average {}",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        dir.display(),
        stages(max),
        loadavg()
    );
    let (mut ledger, mut bench) = match Bench::load(&dir) {
        Some(b) => {
            let l = build::open(&b.data());
            println!(
                "reusing {}: {} credentials, {} events",
                dir.display(),
                b.ids.len(),
                l.store().next_seq().expect("log size")
            );
            (l, b)
        }
        None => build::bootstrap(&rt, &dir),
    };
    build::top_up_credentials(&rt, &ledger, &mut bench, credentials);
    let mut rng = rand::thread_rng();
    let sample: Vec<String> = bench
        .ids
        .choose_multiple(&mut rng, WRK_IDS)
        .map(Id::to_string)
        .collect();
    load::write_wrk_script(&dir.join("resolve.lua"), &sample, &bench.tokens);

    let mut rows: Vec<Row> = Vec::new();
    // The log's size when the last measurement began (its HTTP load adds events).
    let mut measured_at = None;
    for stage in stages(max) {
        let have = ledger.store().next_seq().expect("log size");
        if measured_at.is_some_and(|m| m >= stage) {
            println!("stage {stage}: passed already ({have} events); skipped");
            continue;
        }
        println!("stage {stage}: the log holds {have} events");
        build::fill(&rt, &ledger, &bench, stage.saturating_sub(have));
        measured_at = Some(stage.max(have));
        ledger.shutdown();
        drop(Arc::into_inner(ledger).expect("the only handle of the ledger"));
        let mut row = measure(&rt, &bench, stage, secs);
        ledger = build::open(&bench.data());
        row.events = ledger.store().next_seq().expect("log size");
        row.bytes_per_event /= row.events.max(1) as f64;
        println!(
            "  {} events, {:.0} bytes on disk per event (every file of {})",
            row.events,
            row.bytes_per_event,
            bench.data().display()
        );
        rows.push(row);
    }
    ledger.shutdown();
    drop(ledger);
    summary(&rows, bench.ids.len(), generator);
}
