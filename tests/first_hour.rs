//! What a new user trips on first: error messages name the request schema's fields (and
//! never echo a value), `serve --json` logs JSON lines, and a data directory a server holds
//! is named as such by the commands that open it.

mod served;

use served::{Served, BIN};
use std::process::Command;

#[test]
fn errors_name_schema_fields_but_never_values() {
    let dir = tempfile::tempdir().unwrap();
    let s = Served::start(&dir.path().join("data"), &["--json"], &[]);
    let c = reqwest::blocking::Client::new();
    let post = |body: &str| {
        let r = c
            .post(format!("{}/v1/principals", s.addr))
            .bearer_auth(&s.admin)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .unwrap();
        (r.status().as_u16(), r.text().unwrap())
    };
    let (st, text) = post(r#"{"kind":"service","role":"resolver"}"#);
    assert!(st == 400 || st == 422, "{st} {text}");
    assert!(text.contains("missing field `name`"), "{text}");
    let (_, text) = post(r#"{"name":"x","kind":"sk-value-Qz9","role":"resolver"}"#);
    assert!(!text.contains("sk-value-Qz9"), "{text}");
    let (_, text) = post(r#"{"name":{"sk-key-Qz9":1},"kind":"service","role":"resolver"}"#);
    assert!(!text.contains("sk-key-Qz9"), "{text}");
    // `serve --json` logs JSON lines.
    let log = s.log();
    assert!(
        log.lines()
            .any(|l| l.starts_with('{') && l.contains("\"credledger serving\"")),
        "{log}"
    );
}

#[test]
fn a_served_directory_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let s = Served::start(&dir.path().join("data"), &[], &[]);
    let out = Command::new(BIN)
        .args(["replay", "verify", "--data"])
        .arg(&s.data)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("a server is using this directory"), "{err}");
    assert_eq!(
        err.matches("a server is using").count(),
        1,
        "said once: {err}"
    );
}
