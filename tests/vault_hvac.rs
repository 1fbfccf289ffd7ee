//! The real `hvac` Python client against the real binary on a free port:
//! `tests/vault/hvac_test.py` asserts every KV v2 call and then the audit log.
//!
//! The Python with hvac comes from `CREDLEDGER_HVAC_PYTHON` (set by `.ci/run`). Without
//! it the test makes its own virtual environment under `target/hvac-venv` (once, with
//! `python3 -m venv` and `pip install hvac` from PyPI), so `cargo test` works on a fresh
//! machine; if that fails the test fails and says how to set it up. `CREDLEDGER_SKIP_HVAC=1`
//! skips it explicitly.

mod served;

use std::process::Command;

const SETUP: &str = "set CREDLEDGER_HVAC_PYTHON to a Python with hvac installed: \
    python3 -m venv .ci/venv && .ci/venv/bin/pip install -q hvac && \
    export CREDLEDGER_HVAC_PYTHON=$PWD/.ci/venv/bin/python \
    (or set CREDLEDGER_SKIP_HVAC=1 to skip this test)";

/// Creates (once) a virtual environment with hvac under the target directory.
fn bootstrap_venv() -> Result<String, String> {
    let venv = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("hvac-venv");
    let python = venv.join("bin/python");
    let ready = |p: &std::path::Path| {
        Command::new(p)
            .args(["-c", "import hvac"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if !ready(&python) {
        let made = Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&venv)
            .status()
            .map_err(|e| format!("cannot run python3: {e}"))?;
        if !made.success() {
            return Err("python3 -m venv failed (apt-get install python3-venv)".into());
        }
        let pip = Command::new(venv.join("bin/pip"))
            .args(["install", "-q", "hvac"])
            .status()
            .map_err(|e| format!("cannot run pip: {e}"))?;
        if !pip.success() || !ready(&python) {
            return Err("pip install hvac failed".into());
        }
    }
    Ok(python.to_string_lossy().into_owned())
}

#[test]
fn hvac_client_kv_v2_against_the_real_server() {
    let python = match std::env::var("CREDLEDGER_HVAC_PYTHON") {
        Ok(p) if !p.is_empty() => p,
        _ if std::env::var("CREDLEDGER_SKIP_HVAC").is_ok_and(|v| v == "1") => {
            eprintln!("skipped: CREDLEDGER_SKIP_HVAC=1");
            return;
        }
        _ => bootstrap_venv().unwrap_or_else(|why| panic!("{why}; {SETUP}")),
    };
    let dir = tempfile::tempdir().unwrap();
    let server = served::Served::start(&dir.path().join("data"), &[], &[]);
    let (url, token) = (server.addr.clone(), server.admin.clone());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vault/hvac_test.py");
    let out = Command::new(&python)
        .arg(script)
        .arg(&url)
        .arg(&token)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}; {SETUP}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "hvac test failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("checks passed"), "{stdout}");
    server.assert_no_secret_logged(&[
        "hv-secret-Kd83jQ",
        "hv-secret-rotated-P0zx",
        "hv-secret-third-W2m",
        "tok-top-1",
        &token,
    ]);
}
