//! Building and growing a kept benchmark ledger (sled, through `Ledger` like a real
//! client): the bootstrap admin and a few dozen service principals with tokens, written
//! next to the data dir so later runs and a `serve` process can use them; credentials
//! created concurrently; durable resolves spread over the credentials and callers.

use credledger::domain::Caller;
use credledger::event::{PrincipalKind, Role};
use credledger::id::Id;
use credledger::ledger::{Config, CreateInput, Ledger, RequestCtx, ResolveTarget};
use rand::seq::SliceRandom;
use rand::Rng;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PRINCIPALS: usize = 32;
/// One resolve in `HOT_EVERY` is of the hot credential.
const HOT_EVERY: u32 = 16;
pub const FILL_CONCURRENCY: usize = 256;
pub const CREATE_CONCURRENCY: usize = 64;

pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn ctx() -> RequestCtx {
    RequestCtx {
        request_id: None,
        remote_addr: Some("127.0.0.1".into()),
    }
}

/// The bench's own files next to the ledger.
pub struct Bench {
    pub dir: PathBuf,
    pub admin_token: String,
    /// The admin's token first, then the principals'.
    pub tokens: Vec<String>,
    /// The hot credential first.
    pub ids: Vec<Id>,
}

impl Bench {
    pub fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    pub fn load(dir: &Path) -> Option<Bench> {
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).ok();
        let ids = read("credentials")?
            .lines()
            .map(|l| l.parse().expect("a credential id"))
            .collect();
        let admin_token = read("admin-token")?.trim().to_string();
        let mut tokens = vec![admin_token.clone()];
        tokens.extend(read("tokens")?.lines().map(str::to_string));
        Some(Bench {
            dir: dir.to_path_buf(),
            admin_token,
            tokens,
            ids,
        })
    }

    fn save_ids(&self) {
        let text: String = self.ids.iter().map(|id| format!("{id}\n")).collect();
        let tmp = self.dir.join("credentials.tmp");
        std::fs::write(&tmp, text).expect("write credentials");
        std::fs::rename(tmp, self.dir.join("credentials")).expect("rename credentials");
    }

    fn callers(&self, ledger: &Ledger) -> Vec<Caller> {
        self.tokens
            .iter()
            .map(|t| ledger.authenticate(t).expect("a bench token"))
            .collect()
    }
}

fn write_private(path: &Path, text: &str) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .expect("create a token file");
    f.write_all(text.as_bytes()).expect("write a token file");
}

pub fn open(data: &Path) -> Arc<Ledger> {
    let (ledger, boot) = Ledger::open(Config::new(data)).expect("open the ledger");
    assert!(boot.is_none(), "an existing ledger");
    Arc::new(ledger)
}

/// A fresh ledger with its bootstrap admin and the bench principals and their tokens.
pub fn bootstrap(rt: &tokio::runtime::Runtime, dir: &Path) -> (Arc<Ledger>, Bench) {
    let data = dir.join("data");
    if data.exists() {
        assert!(
            dir.join("admin-token").exists(),
            "{} holds a data dir this bench did not make; remove it or set HISTORY_BENCH_DIR",
            dir.display()
        );
        println!("{}: an unfinished setup; building it again", dir.display());
        std::fs::remove_dir_all(&data).expect("remove the unfinished data dir");
    }
    std::fs::create_dir_all(dir).expect("create the bench dir");
    let (ledger, boot) = Ledger::open(Config::new(&data)).expect("open a new ledger");
    let admin_token = boot.expect("a new ledger").token.expose().to_string();
    write_private(&dir.join("admin-token"), &format!("{admin_token}\n"));
    let admin = ledger.authenticate(&admin_token).expect("admin token");
    let mut tokens = vec![admin_token.clone()];
    rt.block_on(async {
        for i in 0..PRINCIPALS {
            let name = format!("history-svc-{i:02}");
            let p = ledger
                .create_principal(&ctx(), &admin, &name, PrincipalKind::Service, Role::Admin)
                .await
                .expect("create a principal");
            let t = ledger
                .issue_token(&ctx(), &admin, p, None)
                .await
                .expect("issue a token");
            tokens.push(t.token.expose().to_string());
        }
    });
    let text: String = tokens[1..].iter().map(|t| format!("{t}\n")).collect();
    write_private(&dir.join("tokens"), &text);
    let bench = Bench {
        dir: dir.to_path_buf(),
        admin_token,
        tokens,
        ids: Vec::new(),
    };
    (Arc::new(ledger), bench)
}

/// Creates credentials until there are `want`, `CREATE_CONCURRENCY` at a time.
pub fn top_up_credentials(
    rt: &tokio::runtime::Runtime,
    ledger: &Arc<Ledger>,
    bench: &mut Bench,
    want: usize,
) {
    let have = bench.ids.len();
    if have >= want {
        return;
    }
    let admin = ledger
        .authenticate(&bench.admin_token)
        .expect("admin token");
    let next = Arc::new(AtomicU64::new(have as u64));
    let start = Instant::now();
    let made = rt.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..CREATE_CONCURRENCY {
            let (ledger, next) = (ledger.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                let mut made = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                    if i >= want {
                        return made;
                    }
                    let mut fields = serde_json::Map::new();
                    fields.insert(
                        "api_key".into(),
                        format!("sk-history-{i:08}-0123456789abcdef").into(),
                    );
                    let input = CreateInput {
                        name: format!("history-{i:08}"),
                        template: "api_key".into(),
                        fields,
                        ..Default::default()
                    };
                    let id = ledger
                        .create_credential(&ctx(), &admin, input)
                        .await
                        .expect("create a credential");
                    made.push((i, id));
                }
            }));
        }
        let mut made = Vec::new();
        for t in tasks {
            made.extend(t.await.expect("create task"));
        }
        made
    });
    let mut made = made;
    made.sort_unstable_by_key(|(i, _)| *i);
    bench.ids.extend(made.into_iter().map(|(_, id)| id));
    let secs = start.elapsed().as_secs_f64();
    println!(
        "created {} credentials in {secs:.1} s ({:.0}/s at concurrency {CREATE_CONCURRENCY}); {} in all",
        want - have,
        (want - have) as f64 / secs,
        bench.ids.len()
    );
    bench.save_ids();
}

/// Appends `n` `used` events by resolves from `FILL_CONCURRENCY` tasks; prints progress
/// every 30 s and the rate at the end.
pub fn fill(rt: &tokio::runtime::Runtime, ledger: &Arc<Ledger>, bench: &Bench, n: u64) {
    if n == 0 {
        return;
    }
    let callers = Arc::new(bench.callers(ledger));
    let ids = Arc::new(bench.ids.clone());
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..FILL_CONCURRENCY {
            let (ledger, callers, ids, done) =
                (ledger.clone(), callers.clone(), ids.clone(), done.clone());
            tasks.push(tokio::spawn(async move {
                let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::from_entropy();
                while done.fetch_add(1, Ordering::Relaxed) < n {
                    let caller = *callers.choose(&mut rng).expect("callers");
                    let id = if rng.gen_ratio(1, HOT_EVERY) {
                        ids[0]
                    } else {
                        *ids.choose(&mut rng).expect("ids")
                    };
                    let target = ResolveTarget::Id { id, version: None };
                    drop(
                        ledger
                            .resolve(&ctx(), &caller, target)
                            .await
                            .expect("resolve"),
                    );
                }
            }));
        }
        let progress = {
            let done = done.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    let d = done.load(Ordering::Relaxed).min(n);
                    let s = start.elapsed().as_secs_f64();
                    println!(
                        "  fill: {d} of {n} events in {s:.0} s ({:.0}/s, load average {})",
                        d as f64 / s,
                        loadavg()
                    );
                }
            })
        };
        for t in tasks {
            t.await.expect("fill task");
        }
        progress.abort();
    });
    let secs = start.elapsed().as_secs_f64();
    println!(
        "filled {n} events in {secs:.1} s ({:.0} resolves/s at concurrency {FILL_CONCURRENCY}, load average {})",
        n as f64 / secs,
        loadavg()
    );
}

/// All bytes under `dir`.
pub fn du(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir").flatten() {
            let m = e.metadata().expect("metadata");
            if m.is_dir() {
                stack.push(e.path());
            } else {
                total += m.len();
            }
        }
    }
    total
}
