//! Runs the README walk-through (`tools/walkthrough.sh`) against the real binary on a
//! real socket: serve, create from a template, resolve, rotate, resolve again, audit as
//! an auditor, then `replay verify`, `history` and `state` on the same data directory.

use std::process::Command;

#[test]
fn readme_walkthrough_runs_against_the_real_binary() {
    let out = Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tools/walkthrough.sh"))
        .env("CREDLEDGER_BIN", env!("CARGO_BIN_EXE_credledger"))
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "walkthrough failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("walkthrough ok"));
}
