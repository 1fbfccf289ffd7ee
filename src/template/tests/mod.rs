//! Tests of the template module, by concern: `catalog` (the builtin files and lookups),
//! `validate` (user input, through the data-driven [`check`] helper here) and
//! `definition` (the load-time checks of a template definition).
//!
//! **Invariant:** every check also asserts that no supplied value reaches an error and
//! no secret value reaches a `Debug` output.

mod catalog;
mod definition;
mod validate;

use super::*;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// A distinctive secret; no error or debug output may ever contain it.
const SECRET: &str = "SeKrEt-7f3a9c-do-not-leak";

/// What a [`check`] expects.
#[derive(Clone, Copy, Debug)]
enum Expect {
    Pass,
    Fail {
        code: &'static str,
        field: Option<&'static str>,
        message: &'static str,
    },
}

fn fail(code: &'static str, field: Option<&'static str>, message: &'static str) -> Expect {
    Expect::Fail {
        code,
        field,
        message,
    }
}

/// Every string inside a JSON value.
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
        Value::Object(o) => o.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

/// Validates `input` against the builtin `template` and checks the result against
/// `expect`. Always checks that no supplied value (other than the template's own
/// option names and very short strings) shows up in an error, and that no secret
/// value shows up in the `Debug` of the result.
fn check(template: &str, input: Value, expect: Expect) -> Option<Validated> {
    let t = Catalog::builtin().get(template).unwrap();
    let map = input.as_object().expect("input must be an object").clone();
    let result = t.validate(&map);
    check_result(t, &input, result, expect)
}

fn check_result(
    t: &Template,
    input: &Value,
    result: Result<Validated, TemplateError>,
    expect: Expect,
) -> Option<Validated> {
    let mut supplied = Vec::new();
    strings(input, &mut supplied);
    let options: BTreeSet<&str> = t
        .fields
        .iter()
        .flat_map(|f| f.options.iter().map(String::as_str))
        .collect();
    let sensitive: Vec<&String> = supplied
        .iter()
        .filter(|s| s.len() >= 5 && !options.contains(s.as_str()))
        .collect();
    match (result, expect) {
        (Ok(v), Expect::Pass) => {
            let debug = format!("{v:?}");
            for s in v.secret.values() {
                assert!(!debug.contains(s.as_str()), "{}: secret in Debug", t.name);
            }
            assert!(!debug.contains(SECRET), "{}: secret in Debug", t.name);
            Some(v)
        }
        (
            Err(e),
            Expect::Fail {
                code,
                field,
                message,
            },
        ) => {
            let (display, debug) = (e.to_string(), format!("{e:?}"));
            assert_eq!(e.code(), code, "{}: {input} gave {display}", t.name);
            assert_eq!(e.field(), field, "{}: {input} gave {display}", t.name);
            assert!(
                display.contains(message),
                "{}: {input}: {display:?} lacks {message:?}",
                t.name
            );
            for s in sensitive {
                assert!(
                    !display.contains(s.as_str()),
                    "{}: value in {display}",
                    t.name
                );
                assert!(!debug.contains(s.as_str()), "{}: value in {debug}", t.name);
            }
            None
        }
        (got, want) => panic!("{}: {input}: expected {want:?}, got {got:?}", t.name),
    }
}

fn minimal_inputs() -> Vec<(&'static str, Value)> {
    vec![
        ("anthropic", json!({"api_key": SECRET})),
        ("api_key", json!({"api_key": SECRET})),
        (
            "aws",
            json!({"access_key_id": "AKIAEXAMPLE", "secret_access_key": SECRET}),
        ),
        (
            "azure",
            json!({"tenant_id": "t-1", "client_id": "c-1", "client_secret": SECRET}),
        ),
        ("bearer_token", json!({"token": SECRET})),
        ("custom", json!({"anything": SECRET})),
        (
            "db_dsn",
            json!({"dsn": format!("postgres://u:{SECRET}@db/app")}),
        ),
        (
            "gcp",
            json!({"service_account_json": {"type": "service_account", "private_key": SECRET}}),
        ),
        ("github", json!({"token": SECRET})),
        (
            "http_basic",
            json!({"username": "alice", "password": SECRET}),
        ),
        (
            "kubernetes",
            json!({"kubeconfig": format!("apiVersion: v1\ntoken: {SECRET}\n")}),
        ),
        ("openai", json!({"api_key": SECRET})),
        (
            "postgres",
            json!({"host": "db.example", "database": "app", "username": "app", "password": SECRET}),
        ),
        (
            "proxmox",
            json!({"host": "https://pve.example:8006", "token_name": "root@pam!ci", "token_value": SECRET}),
        ),
        (
            "ssh",
            json!({"host": "server.example", "username": "root", "private_key": SECRET}),
        ),
        ("vultr", json!({"api_key": SECRET})),
        (
            "vmware",
            json!({"host": "https://vcenter.example", "username": "administrator@vsphere.local", "password": SECRET}),
        ),
        (
            "hyperv",
            json!({"host": "hv.example", "username": "admin", "password": SECRET}),
        ),
        (
            "docker",
            json!({"url": "https://registry.example", "username": "ci", "password": SECRET}),
        ),
        (
            "prometheus",
            json!({"url": "https://prom.example", "token": SECRET}),
        ),
        (
            "grafana",
            json!({"url": "https://grafana.example", "token": SECRET}),
        ),
        ("langsmith", json!({"api_key": SECRET})),
        (
            "mysql",
            json!({"host": "db.example", "username": "app", "password": SECRET}),
        ),
    ]
}
