//! Three `credledger serve --store postgres://…` nodes over one real PostgreSQL
//! (tests/pg): one writer elected by the lease, two followers serving reads and naming
//! the writer in their 503s; `kill -9` of the writer under load: another node takes over
//! within the lease (+ its fold), every acknowledged write is there, the chain verifies
//! (`replay verify --store`), the projections equal a rebuild; a writer paused under
//! write load (SIGSTOP past its lease, often inside a commit's transaction, holding the
//! head row's lock) is replaced, and wakes up unable to commit.

mod pg;
mod served;

use serde_json::{json, Value};
use served::Served;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const LEASE_MS: &str = "1500";

/// The loopback address the test's "remote" client connects from.
const CLIENT_IP: &str = "127.0.0.2";

/// The recorded addresses of the `used` events of credential `id`, oldest first.
async fn used_from(client: &reqwest::Client, node: &str, token: &str, id: &str) -> Vec<String> {
    let v: Value = client
        .get(format!("{node}/v1/audit?credential={id}&action=used"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut rows: Vec<(u64, String)> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["seq"].as_u64().unwrap(),
                e["remote_addr"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    rows.sort();
    rows.into_iter().map(|(_, a)| a).collect()
}

fn copy_keys(from: &std::path::Path, to: &std::path::Path) {
    let (src, dst) = (from.join("keys"), to.join("keys"));
    std::fs::create_dir_all(&dst).unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
    }
}

/// The writer a 503 names ("the writer is at http://…").
fn named_writer(body: &str) -> Option<String> {
    let rest = body.split("the writer is at ").nth(1)?;
    Some(
        rest.split(':')
            .take(3)
            .collect::<Vec<_>>()
            .join(":")
            .trim()
            .to_string(),
    )
}

/// Creates a credential through any node: follows the writer a 503 names, tries the
/// others when a node is down. `Some(id)` once acknowledged.
async fn create(
    client: &reqwest::Client,
    nodes: &[String],
    hint: &Mutex<Option<String>>,
    token: &str,
    name: &str,
    deadline: Instant,
) -> Option<String> {
    let mut k = 0;
    while Instant::now() < deadline {
        let addr = hint
            .lock()
            .unwrap()
            .clone()
            .unwrap_or_else(|| nodes[k % nodes.len()].clone());
        k += 1;
        let sent = client
            .post(format!("{addr}/v1/credentials"))
            .bearer_auth(token)
            .timeout(Duration::from_secs(5))
            .json(&json!({"name": name, "template": "api_key", "fields": {"api_key": format!("v-{name}")}}))
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => {
                // The writer: the one a follower forwarded to, else the node itself.
                let writer = r
                    .headers()
                    .get("x-credledger-forwarded-to")
                    .and_then(|v| v.to_str().ok())
                    .map_or(addr, str::to_string);
                *hint.lock().unwrap() = Some(writer);
                let v: Value = r.json().await.ok()?;
                return v["id"].as_str().map(str::to_string);
            }
            // An earlier try of this name was committed but its answer was lost (a
            // timeout during the takeover): it was never acknowledged; give the name up.
            Ok(r) if r.status() == reqwest::StatusCode::CONFLICT => return None,
            Ok(r) => {
                let body = r.text().await.unwrap_or_default();
                let named = named_writer(&body).filter(|w| nodes.contains(w) && *w != addr);
                *hint.lock().unwrap() = named;
            }
            Err(_) => *hint.lock().unwrap() = None,
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// The names of the active credentials `node` lists (none when it does not answer).
async fn names_on(client: &reqwest::Client, node: &str, token: &str) -> Vec<String> {
    let listed: Value = match client
        .get(format!("{node}/v1/credentials"))
        .bearer_auth(token)
        .timeout(Duration::from_secs(10))
        .send()
        .await
    {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(_) => Value::Null,
    };
    listed["credentials"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect()
}

async fn status(client: &reqwest::Client, url: String, token: &str) -> u16 {
    match client
        .get(url)
        .bearer_auth(token)
        .timeout(Duration::from_secs(5))
        .send()
        .await
    {
        Ok(r) => r.status().as_u16(),
        Err(_) => 0,
    }
}

/// Polls until `GET url` is 200 (a follower catching up), at most `limit`.
async fn eventually_ok(
    client: &reqwest::Client,
    url: String,
    token: &str,
    limit: Duration,
) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if status(client, url.clone(), token).await == 200 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

fn credledger(args: &[&str]) -> (bool, String) {
    let out = Command::new(served::BIN).args(args).output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn signal(pid: u32, sig: &str) {
    assert!(Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success());
}

/// The two tests start four servers and two PostgreSQL instances between them: one at a
/// time, so neither starves the other's lease keepers on a 2-core machine.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_failover_without_losing_an_acknowledged_write() {
    let _one = ONE_AT_A_TIME.lock().await;
    let pg = pg::Pg::start();
    pg.superuser_sql(&format!("CREATE DATABASE cluster OWNER {}", pg::ROLE));
    let url = pg.url(pg::PASSWORD).replace(pg::DATABASE, "cluster");
    let args = [
        "--store",
        url.as_str(),
        "--accept-lost-commits",
        "--lease-ms",
        LEASE_MS,
    ];
    let root = tempfile::tempdir().unwrap();
    let dirs: Vec<_> = (1..=3).map(|i| root.path().join(format!("n{i}"))).collect();
    let n1 = Served::start(&dirs[0], &args, &[]);
    let token = n1.admin.clone();
    assert!(!token.is_empty(), "{}", n1.log());
    copy_keys(&dirs[0], &dirs[1]);
    copy_keys(&dirs[0], &dirs[2]);
    let n2 = Served::start(&dirs[1], &args, &[]);
    let n3 = Served::start(&dirs[2], &args, &[]);
    let mut nodes = [n1, n2, n3];
    let addrs: Vec<String> = nodes.iter().map(|n| n.addr.clone()).collect();
    let client = reqwest::Client::new();

    // A client on its own loopback address, so the audited address tells it apart from
    // the nodes (which forward from 127.0.0.1).
    let far_client = reqwest::Client::builder()
        .local_address(CLIENT_IP.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();

    // A follower forwards a write to the writer and returns its answer.
    let r = far_client
        .post(format!("{}/v1/credentials", addrs[1]))
        .bearer_auth(&token)
        .json(&json!({"name": "direct", "template": "api_key", "fields": {"api_key": "v-direct"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(
        r.headers()
            .get("x-credledger-forwarded-to")
            .and_then(|v| v.to_str().ok()),
        Some(addrs[0].as_str()),
        "node 2 forwarded to the writer"
    );
    let seq: u64 = r.headers()["x-credledger-seq"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let direct = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Read-your-writes: the forwarding node serves the write at once; another follower
    // once told the sequence number.
    assert_eq!(
        status(
            &client,
            format!("{}/v1/credentials/{direct}", addrs[1]),
            &token
        )
        .await,
        200,
        "node 2 answered before applying its own forwarded write"
    );
    let r = client
        .get(format!("{}/v1/credentials/{direct}", addrs[2]))
        .bearer_auth(&token)
        .header("x-credledger-min-seq", seq.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "node 3 with X-Credledger-Min-Seq");
    let applied: u64 = r.headers()["x-credledger-seq"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(applied >= seq);
    // A sequence number far ahead: a retryable 503, nothing done.
    let r = client
        .get(format!("{}/v1/credentials/{direct}", addrs[2]))
        .bearer_auth(&token)
        .header("x-credledger-min-seq", (seq + 1_000_000).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.text().await.unwrap().contains("\"behind\""));

    // Writes and resolves through every node, reads on every node.
    let hint = Mutex::new(None);
    let far = Instant::now() + Duration::from_secs(30);
    let mut acked = vec![direct.clone()];
    for i in 0..9 {
        let only = [addrs[i % 3].clone()];
        let id = create(&client, &only, &hint, &token, &format!("first-{i}"), far)
            .await
            .expect("acknowledged through every node");
        acked.push(id);
    }
    for a in &addrs {
        for id in &acked {
            assert!(
                eventually_ok(
                    &client,
                    format!("{a}/v1/credentials/{id}"),
                    &token,
                    Duration::from_secs(5)
                )
                .await,
                "{a} does not serve {id}"
            );
        }
    }
    for a in &addrs {
        let r = far_client
            .post(format!("{a}/v1/credentials/{}/resolve", acked[1]))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "a resolve through {a}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["fields"]["api_key"], "v-first-0");
    }
    // The audit rows of the resolves name the real client: bare at the writer, "via"
    // the forwarding node at the followers.
    let used = used_from(&client, &addrs[0], &token, &acked[1]).await;
    assert_eq!(used.len(), 3, "{used:?}");
    assert_eq!(
        used.iter().filter(|a| *a == CLIENT_IP).count(),
        1,
        "{used:?}"
    );
    assert_eq!(
        used.iter()
            .filter(|a| **a == format!("{CLIENT_IP} via 127.0.0.1"))
            .count(),
        2,
        "{used:?}"
    );

    // The Vault dialect through followers: a write through node 3, a read (which records
    // its use, so the writer answers it) through node 2.
    let r = client
        .post(format!("{}/v1/secret/data/team/db", addrs[2]))
        .header("x-vault-token", &token)
        .json(&json!({"data": {"password": "v-vault-pw"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "a Vault write through a follower");
    let written = r.headers()["x-credledger-seq"]
        .to_str()
        .unwrap()
        .to_string();
    // Another node: with the write's sequence number, so it has applied it.
    let r = client
        .get(format!("{}/v1/secret/data/team/db", addrs[1]))
        .header("x-vault-token", &token)
        .header("x-credledger-min-seq", written)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "a Vault read through a follower");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["data"]["data"]["password"], "v-vault-pw", "{v}");
    // The console is the writer's: a follower forwards its pages.
    let r = client
        .get(format!("{}/ui/login", addrs[1]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()
            .get("x-credledger-forwarded-to")
            .and_then(|v| v.to_str().ok()),
        Some(addrs[0].as_str())
    );

    // A forged forwarding header without a valid MAC is not believed, neither by the
    // writer nor by a follower (which forwards it as an ordinary request).
    for a in &addrs[..2] {
        let r = far_client
            .post(format!("{a}/v1/credentials/{}/resolve", acked[2]))
            .bearer_auth(&token)
            .header("x-credledger-forwarded-for", "198.51.100.7")
            .header(
                "x-credledger-forwarded-at",
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_millis()
                    .to_string(),
            )
            .header("x-credledger-forwarded-mac", "00".repeat(32))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let used = used_from(&client, &addrs[0], &token, &acked[2]).await;
    assert_eq!(
        used,
        vec![CLIENT_IP.to_string(), format!("{CLIENT_IP} via 127.0.0.1")],
        "a forged client address was recorded"
    );

    // Bounded load; kill -9 of the writer in the middle of it.
    let acked = Arc::new(Mutex::new(acked));
    let stop = Arc::new(AtomicBool::new(false));
    let after_kill: Arc<Mutex<Option<Instant>>> = Default::default();
    let killed_at: Arc<Mutex<Option<Instant>>> = Default::default();
    let load = {
        let (client, addrs, token) = (client.clone(), addrs.clone(), token.clone());
        let (acked, stop, after_kill, killed_at) = (
            acked.clone(),
            stop.clone(),
            after_kill.clone(),
            killed_at.clone(),
        );
        tokio::spawn(async move {
            let hint = Mutex::new(None);
            let mut i = 0;
            while !stop.load(Ordering::Acquire) {
                let deadline = Instant::now() + Duration::from_secs(30);
                // Round robin over every node: followers forward.
                let mut order = addrs.clone();
                order.rotate_left(i % 3);
                *hint.lock().unwrap() = Some(order[0].clone());
                if let Some(id) = create(
                    &client,
                    &order,
                    &hint,
                    &token,
                    &format!("load-{i}"),
                    deadline,
                )
                .await
                {
                    acked.lock().unwrap().push(id);
                    if killed_at.lock().unwrap().is_some() {
                        after_kill.lock().unwrap().get_or_insert_with(Instant::now);
                    }
                }
                i += 1;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(800)).await;
    nodes[0].kill();
    *killed_at.lock().unwrap() = Some(Instant::now());
    let t0 = Instant::now();
    // Bounded, not timed: the takeover is printed; on a loaded machine it can take long.
    while after_kill.lock().unwrap().is_none() && t0.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let taken = after_kill.lock().unwrap().map(|t| t - t0);
    let tail = |l: String| {
        let lines: Vec<&str> = l.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    };
    let Some(takeover) = taken else {
        panic!(
            "no node took over within 120 s; node 2:\n{}\nnode 3:\n{}",
            tail(nodes[1].log()),
            tail(nodes[2].log())
        );
    };
    eprintln!("takeover: the first write acknowledged {takeover:?} after kill -9 of the writer");
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Release);
    load.await.unwrap();
    let acked = acked.lock().unwrap().clone();
    let unique: std::collections::BTreeSet<&String> = acked.iter().collect();
    assert_eq!(unique.len(), acked.len(), "an id acknowledged twice");

    // Every acknowledged write is there, on both remaining nodes.
    for a in &addrs[1..] {
        for id in &acked {
            assert!(
                eventually_ok(
                    &client,
                    format!("{a}/v1/credentials/{id}"),
                    &token,
                    Duration::from_secs(10)
                )
                .await,
                "{a} lost {id}"
            );
        }
    }
    let data2 = dirs[1].to_str().unwrap();
    let (ok, text) = credledger(&["replay", "verify", "--data", data2, "--store", &url]);
    assert!(ok, "{text}");
    let (ok, text) = credledger(&["replay", "rebuild", "--data", data2, "--store", &url]);
    assert!(ok, "{text}");

    // Split brain: pause the writer past its lease; the other takes over; the paused one
    // wakes up and cannot commit.
    let hint = Mutex::new(None);
    let soon = Instant::now() + Duration::from_secs(30);
    create(&client, &addrs[1..], &hint, &token, "who-writes", soon)
        .await
        .expect("a writer");
    let writer = hint.lock().unwrap().clone().unwrap();
    let (w, other) = if writer == addrs[1] { (1, 2) } else { (2, 1) };
    // Writes keep the writer busy when it is paused: often it stops inside a commit's
    // transaction, holding the head row's lock, which the store must not let it keep.
    let busy_stop = Arc::new(AtomicBool::new(false));
    let busy_acked: Arc<Mutex<Vec<String>>> = Default::default();
    let busy: Vec<_> = (0..4)
        .map(|k| {
            let (client, url, token) = (
                client.clone(),
                format!("{}/v1/credentials", addrs[w]),
                token.clone(),
            );
            let (busy_stop, busy_acked) = (busy_stop.clone(), busy_acked.clone());
            tokio::spawn(async move {
                let mut i = 0;
                while !busy_stop.load(Ordering::Acquire) {
                    let name = format!("busy-{k}-{i}");
                    let sent = client
                        .post(&url)
                        .bearer_auth(&token)
                        .timeout(Duration::from_secs(60))
                        .json(&json!({"name": name, "template": "api_key", "fields": {"api_key": "v"}}))
                        .send()
                        .await;
                    if let Ok(r) = sent {
                        if r.status() == 201 {
                            let v: Value = r.json().await.unwrap();
                            busy_acked.lock().unwrap().push(v["id"].as_str().unwrap().to_string());
                        }
                    }
                    i += 1;
                }
            })
        })
        .collect();
    // At least 300 ms of load, and a write acknowledged (bounded, on a slow machine).
    let loading = Instant::now();
    while loading.elapsed() < Duration::from_millis(300)
        || (busy_acked.lock().unwrap().is_empty() && loading.elapsed() < Duration::from_secs(30))
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    signal(nodes[w].pid(), "-STOP");
    // Requests that reach the paused writer wait in its socket until it wakes.
    let waiters: Vec<_> = (0..3)
        .map(|i| {
            let (client, url, token) = (
                client.clone(),
                format!("{}/v1/credentials", addrs[w]),
                token.clone(),
            );
            tokio::spawn(async move {
                let r = client
                    .post(url)
                    .bearer_auth(&token)
                    .timeout(Duration::from_secs(60))
                    .json(&json!({"name": format!("zombie-{i}"), "template": "api_key", "fields": {"api_key": "v"}}))
                    .send()
                    .await
                    .ok()?;
                let to = r
                    .headers()
                    .get("x-credledger-forwarded-to")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                Some((r.status().as_u16(), to))
            })
        })
        .collect();
    let only_other = [addrs[other].clone()];
    let hint = Mutex::new(None);
    let deadline = Instant::now() + Duration::from_secs(30);
    let id = create(&client, &only_other, &hint, &token, "after-pause", deadline).await;
    // None after a 409: a try that timed out while the node was becoming the writer was
    // committed by it after all (the paused writer commits nothing).
    let committed = id.is_some()
        || names_on(&client, &addrs[other], &token)
            .await
            .iter()
            .any(|n| n == "after-pause");
    if !committed {
        // What each session of PostgreSQL was doing (a lock the paused writer holds?).
        let sessions = pg.superuser_query(
            "SELECT state, wait_event_type, wait_event, left(query, 80) FROM pg_stat_activity \
             WHERE datname = 'cluster'",
        );
        panic!(
            "the other node did not take over from the paused writer\nsessions:\n{sessions}\n\
             node {}:\n{}",
            other + 1,
            tail(nodes[other].log())
        );
    }
    busy_stop.store(true, Ordering::Release);
    signal(nodes[w].pid(), "-CONT");
    for b in busy {
        b.await.unwrap();
    }
    let busy_acked = busy_acked.lock().unwrap().clone();
    assert!(
        !busy_acked.is_empty(),
        "no write was acknowledged before the pause"
    );
    // Printed, not asserted (a pause between two transactions is fine as well).
    let woke = nodes[w].log();
    eprintln!(
        "pause: {} writes acknowledged before it; the paused writer was caught inside a \
         commit (PostgreSQL ended its session): {}",
        busy_acked.len(),
        woke.contains("PostgreSQL: connection closed")
    );
    // What waited at the paused writer is answered 503 (its commit is fenced), or, once
    // it follows, forwarded to the new writer; never committed by the old one.
    let mut forwarded = vec![];
    for (i, waiter) in waiters.into_iter().enumerate() {
        let Some((status, to)) = waiter.await.unwrap() else {
            continue;
        };
        assert!(
            status == 503 || (to.as_deref() == Some(addrs[other].as_str()) && status < 500),
            "the paused writer answered {status} itself after waking up (forwarded to {to:?})"
        );
        if status == 201 {
            forwarded.push(format!("zombie-{i}"));
        }
    }
    let names = names_on(&client, &addrs[other], &token).await;
    assert!(
        names.iter().any(|n| n == "after-pause"),
        "the new writer's list did not answer, or lacks what it acknowledged: {names:?}"
    );
    for n in names.iter().filter(|n| n.starts_with("zombie-")) {
        assert!(
            forwarded.contains(n),
            "{n} is in the log but was not acknowledged through the new writer"
        );
    }
    let (ok, text) = credledger(&["replay", "verify", "--data", data2, "--store", &url]);
    assert!(ok, "{text}");
    for id in acked.iter().chain(&busy_acked) {
        assert!(
            eventually_ok(
                &client,
                format!("{}/v1/credentials/{id}", addrs[other]),
                &token,
                Duration::from_secs(10)
            )
            .await,
            "the new writer lost {id}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_restart_during_load_answers_retryable_503s_and_loses_nothing() {
    let _one = ONE_AT_A_TIME.lock().await;
    let pg = pg::Pg::start();
    pg.superuser_sql(&format!("CREATE DATABASE restart OWNER {}", pg::ROLE));
    let url = pg.url(pg::PASSWORD).replace(pg::DATABASE, "restart");
    let args = [
        "--store",
        url.as_str(),
        "--accept-lost-commits",
        "--lease-ms",
        LEASE_MS,
    ];
    let root = tempfile::tempdir().unwrap();
    let node = Served::start(&root.path().join("n"), &args, &[]);
    let (addr, token) = (node.addr.clone(), node.admin.clone());
    let client = reqwest::Client::new();
    let stop = Arc::new(AtomicBool::new(false));
    let restarted: Arc<Mutex<Option<Instant>>> = Default::default();
    let load = {
        let (client, addr, token, stop, restarted) = (
            client.clone(),
            addr.clone(),
            token.clone(),
            stop.clone(),
            restarted.clone(),
        );
        tokio::spawn(async move {
            let (mut acked, mut unavailable, mut after) = (vec![], 0, 0);
            let mut i = 0;
            while !stop.load(Ordering::Acquire) {
                i += 1;
                let r = client
                    .post(format!("{addr}/v1/credentials"))
                    .bearer_auth(&token)
                    .timeout(Duration::from_secs(15))
                    .json(&json!({"name": format!("r-{i}"), "template": "api_key", "fields": {"api_key": "v"}}))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status().is_success() => {
                        let v: Value = r.json().await.unwrap();
                        acked.push(v["id"].as_str().unwrap().to_string());
                        if restarted.lock().unwrap().is_some() {
                            after += 1;
                        }
                    }
                    Ok(r) => {
                        assert_eq!(
                            r.status(),
                            503,
                            "only retryable refusals while the store is away"
                        );
                        unavailable += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
            (acked, unavailable, after)
        })
    };
    tokio::time::sleep(Duration::from_millis(600)).await;
    pg.stop();
    tokio::time::sleep(Duration::from_secs(2)).await;
    pg.start_again();
    *restarted.lock().unwrap() = Some(Instant::now());
    tokio::time::sleep(Duration::from_secs(8)).await;
    stop.store(true, Ordering::Release);
    let (acked, unavailable, after) = load.await.unwrap();
    eprintln!("restart: {} acknowledged, {unavailable} retryable 503s, {after} acknowledged after the restart", acked.len());
    assert!(unavailable > 0, "the store's absence was answered 503");
    assert!(
        after > 0,
        "writes are acknowledged again after the restart:\n{}",
        node.log()
    );
    for id in &acked {
        assert!(
            eventually_ok(
                &client,
                format!("{addr}/v1/credentials/{id}"),
                &token,
                Duration::from_secs(10)
            )
            .await,
            "lost {id}"
        );
    }
    let (ok, text) = credledger(&[
        "replay",
        "verify",
        "--data",
        root.path().join("n").to_str().unwrap(),
        "--store",
        &url,
    ]);
    assert!(ok, "{text}");
}
