//! Every shell block of README.md runs as written, in order, with `credledger` on `PATH`
//! (this build's binary), each scene from a fresh temporary directory against a real
//! server: the set-up's `serve` (on a free port through `CREDLEDGER_LISTEN`; the blocks'
//! `127.0.0.1:8420` is rewritten to it), the API walk-through and the webhook example on
//! it, then, with the server stopped as the README says, the forensics block (`replay
//! verify`, `history`, `state`, `rebuild`, `diff`, `report`, `export`, `verify-bundle`);
//! then the CLI walk-through on a second fresh server started as its prose says. A block
//! is left out only when marked `<!-- readme-test: skip: REASON -->` right after it, and
//! the reasons are few (they need PostgreSQL, PyPI or the `vault` binary, which other
//! tests drive). Bounded in time: each scene is killed after two minutes.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_credledger");
const README: &str = include_str!("../README.md");
/// The CLI walk-through's server, as its prose gives it.
const CLI_SERVE: &str = "credledger serve --data ./cli-data --admin-token-file admin.token";

struct Block {
    line: usize,
    text: String,
    skip: Option<String>,
}

fn blocks() -> Vec<Block> {
    let lines: Vec<&str> = README.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim_start() == "```sh" {
            let start = i + 1;
            let mut j = start;
            while lines[j].trim_start() != "```" {
                j += 1;
            }
            let skip = lines
                .get(j + 1)
                .and_then(|l| l.trim().strip_prefix("<!-- readme-test: skip:"))
                .map(|r| r.trim_end_matches("-->").trim().to_string());
            out.push(Block {
                line: start,
                text: lines[start..j].join("\n"),
                skip,
            });
            i = j;
        }
        i += 1;
    }
    out
}

fn path_env() -> String {
    let dir = Path::new(BIN).parent().unwrap().display().to_string();
    format!("{dir}:{}", std::env::var("PATH").unwrap_or_default())
}

/// Starts `command` (a README `serve` line) in `dir` on a free port; returns the child
/// and `127.0.0.1:PORT`.
fn serve(dir: &Path, command: &str) -> (Child, String) {
    let mut child = Command::new("bash")
        .args(["-c", &format!("exec {command}")])
        .current_dir(dir)
        .env("PATH", path_env())
        .env("HOME", dir)
        .env("CREDLEDGER_LISTEN", "127.0.0.1:0")
        .env_remove("CREDLEDGER_DATA")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(a) = line.strip_prefix("credledger: listening on http://") {
                let _ = tx.send(a.trim().to_string());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("`{command}` did not start"));
    (child, addr)
}

fn stop(mut child: Child) {
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `script` with bash (`-e -o pipefail`) in `dir`; panics with its output on failure.
fn run(dir: &Path, what: &str, script: &str) -> String {
    let mut child = Command::new("bash")
        .args(["-e", "-o", "pipefail", "-c", script])
        .current_dir(dir)
        .env("PATH", path_env())
        .env("HOME", dir)
        .env_remove("CREDLEDGER_DATA")
        .env_remove("CREDLEDGER_TOKEN")
        .env_remove("CREDLEDGER_ADDR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (mut so, mut se) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut so, &mut s).ok();
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut se, &mut s).ok();
        s
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    assert!(
        status.is_some_and(|s| s.success()),
        "{what} failed ({status:?})\nstdout:\n{out}\nstderr:\n{err}"
    );
    out
}

#[test]
fn every_readme_shell_block_runs_as_written() {
    let all = blocks();
    let skipped: Vec<&Block> = all.iter().filter(|b| b.skip.is_some()).collect();
    for b in &skipped {
        assert!(
            b.skip.as_ref().is_some_and(|r| r.len() > 10),
            "README line {}: a skipped block needs a visible reason",
            b.line
        );
    }
    assert!(skipped.len() <= 4, "keep skipped blocks to a minimum");
    let mut runnable = all.iter().filter(|b| b.skip.is_none());
    let setup = runnable.next().expect("the set-up block");
    let serve_line = setup
        .text
        .lines()
        .find(|l| l.trim_start().starts_with("credledger serve"))
        .expect("the set-up starts a server");
    let serve_cmd = serve_line.split('#').next().unwrap().trim();
    // The rest of the set-up installs the binary and runs the whole suite: this test is
    // part of that suite and uses the build's binary instead.
    let rest: Vec<&Block> = runnable.collect();
    let find = |needle: &str| {
        rest.iter()
            .find(|b| b.text.contains(needle))
            .unwrap_or_else(|| panic!("no README block with {needle}"))
    };
    let api = find("ADMIN=$(cat admin.token)");
    let hooks = find("/v1/webhooks");
    let forensics = find("credledger replay verify");
    let cli = find("credledger login");
    for b in &rest {
        let known = [api.line, hooks.line, forensics.line, cli.line];
        assert!(
            known.contains(&b.line),
            "README line {}: a block this test does not run; run it here or mark it skipped",
            b.line
        );
    }
    let flat = README.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains(&format!("`{CLI_SERVE}`")),
        "the CLI walk-through's serve"
    );

    // Scene 1: the set-up's server, the API walk-through and the webhook example in one
    // shell session; then the forensics on the stopped server's directory.
    let one = tempfile::tempdir().unwrap();
    let (server, addr) = serve(one.path(), serve_cmd);
    let local = |t: &str| t.replace("127.0.0.1:8420", &addr);
    let out = run(
        one.path(),
        "the API walk-through and the webhook example",
        &local(&format!(
            "{}\n{}\necho; echo \"readme-test CRED=$CRED\"",
            api.text, hooks.text
        )),
    );
    assert!(out.contains("\"source\":\"tenant_default\""), "{out}");
    assert!(out.contains("\"secret\":\"whsec_"), "{out}");
    stop(server);
    let cred = out
        .lines()
        .find_map(|l| l.strip_prefix("readme-test CRED="))
        .expect("the walk-through's credential id")
        .to_string();
    let out = run(
        one.path(),
        "the forensics block",
        &format!("CRED={cred}\n{}", forensics.text),
    );
    assert!(!out.trim().is_empty());

    // Scene 2: the CLI walk-through on its own server.
    let two = tempfile::tempdir().unwrap();
    let (server, addr) = serve(two.path(), CLI_SERVE);
    let out = run(
        two.path(),
        "the CLI walk-through",
        &cli.text.replace("127.0.0.1:8420", &addr),
    );
    assert!(out.contains("exit 3 = not found"), "{out}");
    stop(server);
}
