//! The store-generic suites on PostgreSQL too, as part of `cargo test`: starts one real
//! PostgreSQL (tests/pg), lets its test role create databases, and runs the test
//! binaries `api` and `server` (built by the same `cargo test`, found beside this one)
//! again with `CREDLEDGER_TEST_STORE=postgres` and the server's URL, so every ledger
//! they open (`tests/support::open_ledger`) and every server they start
//! (`tests/served`) runs on its own fresh database. Each must pass as it does on the
//! embedded store.
//!
//! Run one suite on PostgreSQL by hand with
//! `CREDLEDGER_TEST_STORE=postgres cargo test --test api` (the binary then starts its
//! own server).

mod pg;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The newest test binary `name-<hash>` in `dir` (cargo builds every test binary of a
/// `cargo test` before it runs any).
fn sibling(dir: &Path, name: &str) -> PathBuf {
    let prefix = format!("{name}-");
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let file = e.file_name().to_str()?.to_string();
            let hash = file.strip_prefix(&prefix)?;
            let is_hash = hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit());
            let meta = e.metadata().ok()?;
            let exec = std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o111 != 0;
            let modified = meta.modified().ok()?;
            (is_hash && exec && meta.is_file()).then(|| (modified, e.path()))
        })
        .collect();
    found.sort();
    match found.pop() {
        Some((_, p)) => p,
        None => panic!(
            "no test binary {name}-<hash> beside {}: run the whole `cargo test` (or `cargo test --test {name}` first)",
            dir.display()
        ),
    }
}

/// How many ledgers the switched suites opened on `pg` so far (their databases, with
/// the log table the store creates).
fn ledgers(pg: &pg::Pg) -> usize {
    pg.superuser_query("SELECT count(*) FROM pg_database WHERE datname LIKE 't\\_%'")
        .parse()
        .unwrap()
}

/// Runs the test binary `suite` on `pg`; returns how many databases it created.
fn run_on_postgres(pg: &pg::Pg, suite: &str) -> usize {
    let before = ledgers(pg);
    let here = std::env::current_exe().unwrap();
    let bin = sibling(here.parent().unwrap(), suite);
    let started = std::time::Instant::now();
    let out = Command::new(&bin)
        .env(pg::STORE_SWITCH, "postgres")
        .env(pg::URL_VAR, pg.url(pg::PASSWORD))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = text
        .lines()
        .filter(|l| l.starts_with("test result:"))
        .collect::<Vec<_>>()
        .join("; ");
    eprintln!(
        "{suite} on PostgreSQL: {summary} ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    assert!(
        out.status.success() && summary.contains("passed"),
        "tests/{suite}.rs failed on PostgreSQL:\n{text}"
    );
    ledgers(pg) - before
}

#[test]
fn the_api_ledger_and_server_suites_pass_on_postgresql() {
    let pg = pg::Pg::start();
    pg.superuser_sql(&format!("ALTER ROLE {} CREATEDB", pg::ROLE));
    // Each suite opened its ledgers on PostgreSQL (a database each), not on sled.
    for (suite, at_least) in [("api", 10), ("server", 2), ("ledger", 8)] {
        let made = run_on_postgres(&pg, suite);
        assert!(
            made >= at_least,
            "tests/{suite}.rs opened {made} ledgers on PostgreSQL, expected at least {at_least}"
        );
    }
}
