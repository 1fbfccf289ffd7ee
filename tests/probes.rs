//! Connection tests against local servers the tests start, never the network: a fake
//! AWS STS that verifies SigV4 signatures independently (`probes/sigv4.rs`), a Google
//! token endpoint that verifies RS256 assertions, a real PostgreSQL and a real MariaDB
//! from Debian's packages (`pg/`, `mysql/`), an in-process SSH server, and stand-ins for the HTTP services of the
//! new templates. Each case checks that no secret reaches the outcome, its `Debug` or
//! any log line (every test runs under a TRACE-level capture that also takes the `log`
//! records of the client libraries).

#[path = "probes/aws.rs"]
mod aws;
#[path = "probes/gcp.rs"]
mod gcp;
#[path = "probes/mariadb.rs"]
mod mariadb;
mod mysql;
mod pg;
#[path = "probes/services.rs"]
mod services;
#[path = "probes/sigv4.rs"]
mod sigv4;
#[path = "probes/sql.rs"]
mod sql;
#[path = "probes/ssh.rs"]
mod ssh;

use credledger::template::{Catalog, Template};
use credledger::verify::{self, VerifyOutcome};
use serde_json::Value;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs (once) a subscriber that records every event at TRACE level, including
/// `log` records of the client libraries.
pub fn capture_logs() {
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = Capture(buf.clone());
        tracing_subscriber::fmt()
            .with_env_filter("trace,sled=warn")
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .try_init()
            .expect("a global subscriber");
        buf
    });
}

/// Everything logged so far in this test binary.
pub fn logs() -> String {
    LOGS.get()
        .map(|b| String::from_utf8_lossy(&b.lock().unwrap()).to_string())
        .unwrap_or_default()
}

/// Asserts that no secret is in the outcome, its `Debug`, or the logs so far.
pub fn assert_clean(outcome: &VerifyOutcome, secrets: &[&str]) {
    let debug = format!("{outcome:?}");
    let logs = logs();
    for s in secrets {
        assert!(!outcome.reason.contains(s), "secret in reason: {outcome:?}");
        assert!(!debug.contains(s), "secret in Debug: {debug}");
        assert!(!logs.contains(s), "a secret was logged");
    }
}

pub fn builtin(name: &str) -> &'static Template {
    Catalog::builtin().get(name).unwrap()
}

/// Runs the template's connection test on unsaved input, as "test before save" does,
/// and checks that none of `secrets` leaks.
pub async fn check(template: &Template, fields: Value, secrets: &[&str]) -> VerifyOutcome {
    capture_logs();
    let client = verify::client().unwrap();
    let outcome = verify::run_input(template, fields.as_object().unwrap(), &client)
        .await
        .unwrap_or_else(|e| panic!("{}: input rejected: {e}", template.name))
        .unwrap_or_else(|| panic!("{} has no connection test", template.name));
    assert_clean(&outcome, secrets);
    outcome
}

/// Asserts `ok` and the reason.
#[track_caller]
pub fn expect(outcome: &VerifyOutcome, ok: bool, reason: &str) {
    assert_eq!(
        (outcome.ok, outcome.reason.as_str()),
        (ok, reason),
        "{outcome:?}"
    );
}

/// A template with one probe and these fields, for cases the builtins do not cover
/// (short timeouts).
pub fn custom_template(fields: Value, probe: Value) -> Template {
    let src = serde_json::json!({
        "name": "probe_test",
        "title": "Probe test",
        "description": "A test template.",
        "fields": fields,
        "verify": [probe]
    });
    Template::from_json(&src.to_string()).unwrap()
}

/// A loopback server that accepts connections and never answers.
pub async fn silent_server() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    addr
}

/// A loopback port nobody listens on.
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn test_before_save_reports_input_errors_by_field_and_templates_without_a_test() {
    let client = verify::client().unwrap();
    let secret = "SeKrEt-input-8d1f";
    let input = serde_json::json!({"access_key_id": "AKIA1", "secret_access_key": secret, "region": "mars-1"});
    let err = verify::run_input(builtin("aws"), input.as_object().unwrap(), &client)
        .await
        .unwrap_err();
    assert_eq!((err.code(), err.field()), ("not_an_option", Some("region")));
    assert!(!err.to_string().contains(secret));
    let none = verify::run_input(
        builtin("custom"),
        serde_json::json!({"token": secret}).as_object().unwrap(),
        &client,
    )
    .await
    .unwrap();
    assert_eq!(none, None);
}
