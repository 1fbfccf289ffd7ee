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
        rt.block_on(ledger.rotate_master_key(&RequestCtx::default(), Some(&open.admin)))
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
