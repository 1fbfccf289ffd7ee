//! Forensics never touch the evidence: every `replay` command, `export` and
//! `verify-bundle` leave the data directory byte for byte as it was (every file hashed
//! before and after), work on a read-only copy, and refuse a directory a running server
//! holds with one clear sentence.

mod util;

use credledger::ledger::RequestCtx;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use util::{api_key, api_key_input, dir_fingerprint, open, Open};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_credledger"))
}

/// A closed ledger with creations, a rotation, resolves, a destroy and a checkpoint.
fn build(dir: &Path) -> (credledger::id::Id, u64) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let Open { ledger, admin } = open(dir);
    let ctx = RequestCtx::default();
    let id = rt.block_on(async {
        let id = ledger
            .create_credential(&ctx, &admin, api_key_input("f1", "sk-f1"))
            .await
            .unwrap();
        let gone = ledger
            .create_credential(&ctx, &admin, api_key_input("f2", "sk-f2"))
            .await
            .unwrap();
        ledger
            .rotate(&ctx, &admin, id, api_key("sk-f1-v2"))
            .await
            .unwrap();
        ledger
            .resolve(
                &ctx,
                &admin,
                credledger::ledger::ResolveTarget::Id { id, version: None },
            )
            .await
            .unwrap();
        ledger.destroy(&ctx, &admin, gone).await.unwrap();
        id
    });
    credledger::proof::checkpoint(&ledger).unwrap();
    let n = util::log_len(&ledger);
    ledger.shutdown();
    (id, n)
}

/// Every local forensic command, with the exit code it must end with.
fn commands(dir: &Path, cred: &str, n: u64, out: &Path) -> Vec<(Vec<String>, i32)> {
    let d = dir.display().to_string();
    let last = (n - 1).to_string();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    vec![
        (s(&["replay", "verify", "--data", &d]), 0),
        (s(&["replay", "verify", "--json", "--data", &d]), 0),
        (s(&["replay", "rebuild", "--data", &d]), 0),
        (s(&["replay", "state", "--at-seq", "5", "--data", &d]), 0),
        (s(&["replay", "history", cred, "--data", &d]), 0),
        (
            s(&[
                "replay",
                "diff",
                "--from-seq",
                "3",
                "--to-seq",
                &last,
                "--data",
                &d,
            ]),
            0,
        ),
        (
            s(&["replay", "report", "--credential", cred, "--data", &d]),
            0,
        ),
        (
            s(&["export", "--data", &d, "--out", &out.display().to_string()]),
            0,
        ),
    ]
}

fn run(args: &[String]) -> (i32, String, String) {
    run_in(args, &std::env::temp_dir())
}

/// Runs with `tmp` as the temporary directory (where private copies go).
fn run_in(args: &[String], tmp: &Path) -> (i32, String, String) {
    let o = bin().args(args).env("TMPDIR", tmp).output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into(),
        String::from_utf8_lossy(&o.stderr).into(),
    )
}

/// `replay verify` used to write sled snapshot files and compact `db` in the evidence.
#[test]
fn regression_forensics_changed_the_data_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let (cred, n) = build(&dir);
    let bundle = tmp.path().join("audit.bundle");
    let before = dir_fingerprint(&dir);
    let copies = tmp.path().join("copies");
    std::fs::create_dir(&copies).unwrap();
    let mut key = String::new();
    for (args, code) in commands(&dir, &cred.to_string(), n, &bundle) {
        let (got, stdout, stderr) = run_in(&args, &copies);
        assert_eq!(got, code, "{args:?}: {stdout} {stderr}");
        if args[0] == "replay" && !args.contains(&"--json".to_string()) {
            assert!(
                stderr.contains("working on a private copy"),
                "{args:?} says it works on a copy: {stderr}"
            );
        }
        if let Some(k) = stdout
            .lines()
            .find_map(|l| l.strip_prefix("verifier key: "))
        {
            key = k.to_string();
        }
        assert_eq!(
            dir_fingerprint(&dir),
            before,
            "{args:?} changed the data directory"
        );
    }
    let (code, stdout, stderr) = run(&[
        "verify-bundle".into(),
        bundle.display().to_string(),
        "--key".into(),
        key,
    ]);
    assert_eq!(code, 0, "{stdout} {stderr}");
    assert_eq!(
        dir_fingerprint(&dir),
        before,
        "verify-bundle changed the directory"
    );
    // No private copy is left behind, also when stdout closes early.
    let mut head = bin()
        .args(["replay", "verify", "--data"])
        .arg(&dir)
        .env("TMPDIR", &copies)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    drop(head.stdout.take());
    head.wait().unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(&copies).unwrap().flatten().collect();
    assert!(leftovers.is_empty(), "copies left behind: {leftovers:?}");
}

#[test]
fn forensics_work_on_a_read_only_copy() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let (cred, n) = build(&dir);
    let bundle = tmp.path().join("audit.bundle");
    // chmod -R a-w (as root this does not stop writes, so the hashes below still check).
    let mut paths = util::files_under(&dir);
    paths.extend(walk_dirs(&dir).into_iter().rev().collect::<Vec<_>>());
    for p in &paths {
        let mode = std::fs::metadata(p).unwrap().permissions().mode();
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode & !0o222)).unwrap();
    }
    let before = dir_fingerprint(&dir);
    for (args, code) in commands(&dir, &cred.to_string(), n, &bundle) {
        let (got, stdout, stderr) = run(&args);
        assert_eq!(got, code, "{args:?} on a read-only copy: {stdout} {stderr}");
    }
    assert_eq!(dir_fingerprint(&dir), before);
    for p in &paths {
        let mode = std::fs::metadata(p).unwrap().permissions().mode();
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode | 0o200)).unwrap();
    }
}

fn walk_dirs(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        for e in std::fs::read_dir(&out[i]).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                out.push(e.path());
            }
        }
        i += 1;
    }
    out
}

/// sled's raw lock error used to be printed twice; now one sentence says what is wrong.
#[test]
fn a_directory_held_by_a_server_is_refused_with_one_clear_sentence() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let (cred, n) = build(&dir);
    let mut server = bin()
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&dir)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stderr.take().unwrap()).lines();
    for line in lines.by_ref() {
        if line.unwrap().contains("credledger serving") {
            break;
        }
    }
    let bundle = tmp.path().join("b");
    let mut cmds = commands(&dir, &cred.to_string(), n, &bundle);
    cmds.push((
        vec![
            "serve".into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--data".into(),
            dir.display().to_string(),
        ],
        2,
    ));
    for (args, _) in cmds {
        let (code, stdout, stderr) = run(&args);
        assert_eq!(code, 2, "{args:?}: {stdout} {stderr}");
        assert_eq!(
            stderr.matches("a server is using this directory").count(),
            1,
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("could not acquire lock"), "{stderr}");
    }
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    server.wait().unwrap();
    drop(lines);
}
