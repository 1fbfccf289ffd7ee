//! hvac's own KV v2 integration tests (`tests/integration_tests/api/secrets_engines/
//! test_kv_v2.py` of hvac's source distribution, 84 tests, unchanged) against the real
//! binary, with pytest. Only what talks to Vault's server process and mount management
//! is replaced, by `tests/vault/hvac_suite_harness.py` (a pytest plugin; read its
//! docstring): each test gets a clean `kvv2/` mount in a fresh tenant.
//!
//! The sdist is fetched with pip (`pip download --no-binary :all: --no-deps
//! hvac==2.4.0`), never vendored: `CREDLEDGER_HVAC_SDIST` names an extracted one (set by
//! `.ci/run`), else this test downloads it once under the target directory. The Python
//! is `CREDLEDGER_HVAC_PYTHON` (with hvac, pytest, parameterized, packaging and pyhcl, as
//! `.ci/run` installs them), else a virtual environment this test creates once under the
//! target directory with the pinned versions below, so `cargo test` works on a fresh
//! machine with PyPI. `CREDLEDGER_SKIP_HVAC=1` skips it. The pytest summary is printed
//! on stderr; any failure, error or skip fails the test.

mod served;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The hvac release whose tests run, and the test dependencies it pins (its
/// `pyproject.toml` dev group: pytest ^7.4.2, parameterized ^0.8.1, packaging <24; pyhcl
/// for `tests/utils/server_manager.py`'s import).
const HVAC: &str = "hvac==2.4.0";
const PACKAGES: &[&str] = &[
    HVAC,
    "pytest==7.4.4",
    "parameterized==0.8.1",
    "packaging==23.2",
    "pyhcl==0.4.5",
];
const SUITE: &str = "tests/integration_tests/api/secrets_engines/test_kv_v2.py";
const EXPECTED: usize = 84;

fn target_tmp() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}

fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}

fn has_packages(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import hvac, pytest, parameterized, packaging, hcl"])
        .status()
        .is_ok_and(|s| s.success())
}

/// A virtual environment with the pinned packages, made once under the target directory.
fn bootstrap_venv() -> Result<PathBuf, String> {
    let venv = target_tmp().join("hvac-suite-venv");
    let python = venv.join("bin/python");
    if !has_packages(&python) {
        run(
            Command::new("python3").arg("-m").arg("venv").arg(&venv),
            "python3 -m venv (apt-get install python3-venv)",
        )?;
        run(
            Command::new(&python)
                .args(["-m", "pip", "install", "-q"])
                .args(PACKAGES),
            "pip install of the hvac test dependencies",
        )?;
        if !has_packages(&python) {
            return Err("the virtual environment lacks the hvac test dependencies".into());
        }
    }
    Ok(python)
}

/// hvac's extracted source distribution, downloaded once with pip.
fn bootstrap_sdist(python: &Path) -> Result<PathBuf, String> {
    let dir = target_tmp().join("hvac-sdist");
    let root = dir.join("hvac-2.4.0");
    if root.join(SUITE).is_file() {
        return Ok(root);
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {dir:?}: {e}"))?;
    run(
        Command::new(python)
            .args([
                "-m",
                "pip",
                "download",
                "-q",
                "--no-binary",
                ":all:",
                "--no-deps",
            ])
            .arg(HVAC)
            .arg("-d")
            .arg(&dir),
        "pip download of the hvac sdist",
    )?;
    run(
        Command::new(python)
            .args([
                "-c",
                "import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])",
            ])
            .arg(dir.join("hvac-2.4.0.tar.gz"))
            .arg(&dir),
        "extracting the hvac sdist",
    )?;
    if root.join(SUITE).is_file() {
        Ok(root)
    } else {
        Err(format!("{SUITE} is not in the hvac sdist"))
    }
}

fn setup() -> Option<(PathBuf, PathBuf)> {
    if std::env::var("CREDLEDGER_SKIP_HVAC").is_ok_and(|v| v == "1") {
        eprintln!("skipped: CREDLEDGER_SKIP_HVAC=1");
        return None;
    }
    let how = "set CREDLEDGER_HVAC_PYTHON to a Python with the packages of .ci/run and \
               CREDLEDGER_HVAC_SDIST to an extracted hvac-2.4.0 sdist, or let this test \
               make them (needs python3-venv and PyPI); CREDLEDGER_SKIP_HVAC=1 skips it";
    let python = match std::env::var("CREDLEDGER_HVAC_PYTHON") {
        Ok(p) if !p.is_empty() && has_packages(Path::new(&p)) => PathBuf::from(p),
        _ => bootstrap_venv().unwrap_or_else(|why| panic!("{why}; {how}")),
    };
    let sdist = match std::env::var("CREDLEDGER_HVAC_SDIST") {
        Ok(p) if !p.is_empty() && Path::new(&p).join(SUITE).is_file() => PathBuf::from(p),
        _ => bootstrap_sdist(&python).unwrap_or_else(|why| panic!("{why}; {how}")),
    };
    Some((python, sdist))
}

/// `N passed`-style counts from pytest's last line.
fn count(summary: &str, word: &str) -> usize {
    let words: Vec<&str> = summary
        .split(|c: char| c.is_whitespace() || c == ',' || c == '=')
        .filter(|w| !w.is_empty())
        .collect();
    words
        .windows(2)
        .filter(|w| w[1].trim_end_matches('s') == word.trim_end_matches('s'))
        .filter_map(|w| w[0].parse::<usize>().ok())
        .sum()
}

#[test]
fn hvacs_own_kv_v2_integration_tests_pass_against_the_real_server() {
    let Some((python, sdist)) = setup() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = served::Served::start(&dir.path().join("data"), &["--vault-mount", "kvv2"], &[]);
    let harness = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vault");
    let out = Command::new(&python)
        .args(["-m", "pytest", "-c"])
        .arg(format!("{harness}/pytest.ini"))
        .arg("--rootdir")
        .arg(&sdist)
        .args(["-p", "hvac_suite_harness", SUITE])
        .current_dir(&sdist)
        .env("PYTHONPATH", format!("{harness}:{}", sdist.display()))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("CREDLEDGER_URL", &server.addr)
        .env("CREDLEDGER_TOKEN", &server.admin)
        .output()
        .unwrap_or_else(|e| panic!("cannot run pytest with {}: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let summary = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('=') && (l.contains(" passed") || l.contains(" failed")))
        .unwrap_or("(no pytest summary line)")
        .to_string();
    // Written straight to stderr so it shows even when the test passes.
    let _ = writeln!(
        std::io::stderr(),
        "hvac {HVAC} {SUITE}: {}",
        summary.trim_matches(|c| c == '=' || c == ' ')
    );
    let passed = count(&summary, "passed");
    let bad = count(&summary, "failed")
        + count(&summary, "error")
        + count(&summary, "skipped")
        + count(&summary, "xfailed");
    assert!(
        out.status.success() && passed == EXPECTED && bad == 0,
        "hvac's KV v2 suite: {summary}\n{stdout}\n{stderr}"
    );
    server.assert_no_secret_logged(&[&server.admin, "hi itsame hvac"]);
}
