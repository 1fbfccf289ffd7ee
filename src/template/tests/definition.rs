//! The load-time checks of a template definition and the placeholder syntax.

use super::*;

/// A minimal valid template with one change applied by `edit`.
fn edited(edit: impl FnOnce(&mut Value)) -> String {
    let mut t = json!({
        "name": "t",
        "title": "T",
        "description": "d",
        "fields": [
            {"name": "mode", "type": "select", "options": ["a", "b"], "default": "a"},
            {"name": "url", "type": "text"},
            {"name": "key", "type": "secret", "required": true, "when": {"field": "mode", "equals": "a"}},
            {"name": "token", "type": "secret", "env": "TOKEN"}
        ],
        "verify": [
            {"kind": "http", "when": {"field": "mode", "equals": "a"}, "url": "{{url}}", "auth": {"bearer": "{{key}}"}}
        ]
    });
    edit(&mut t);
    t.to_string()
}

/// One change to the template of [`edited`].
type Edit = Box<dyn FnOnce(&mut Value)>;

#[test]
fn invalid_template_definitions_are_rejected() {
    Template::from_json(&edited(|_| {})).unwrap();
    let cases: Vec<(&str, Edit)> = vec![
        (
            "unknown field `color`",
            Box::new(|t| t["color"] = json!("red")),
        ),
        (
            "unknown field `secrett`",
            Box::new(|t| t["fields"][1]["secrett"] = json!(true)),
        ),
        (
            "unknown field `retries`",
            Box::new(|t| t["verify"][0]["retries"] = json!(3)),
        ),
        (
            "unknown variant `ftp`",
            Box::new(|t| t["verify"][0]["kind"] = json!("ftp")),
        ),
        (
            "not an earlier field",
            Box::new(|t| t["fields"][0]["when"] = json!({"field": "key", "equals": "a"})),
        ),
        (
            "which is not a select",
            Box::new(|t| t["fields"][2]["when"] = json!({"field": "url", "equals": "a"})),
        ),
        (
            "is not an option of mode",
            Box::new(|t| t["fields"][2]["when"] = json!({"field": "mode", "equals": "c"})),
        ),
        (
            "invalid default",
            Box::new(|t| t["fields"][0]["default"] = json!("c")),
        ),
        (
            "a secret field has no default",
            Box::new(|t| t["fields"][3]["default"] = json!("x")),
        ),
        (
            "a select needs options",
            Box::new(|t| t["fields"][0]["options"] = json!([])),
        ),
        (
            "only a select has options",
            Box::new(|t| t["fields"][1]["options"] = json!(["x"])),
        ),
        (
            "only for json and file",
            Box::new(|t| t["fields"][1]["secret"] = json!(true)),
        ),
        (
            "duplicate name",
            Box::new(|t| t["fields"][1]["name"] = json!("mode")),
        ),
        (
            "env must be",
            Box::new(|t| t["fields"][1]["env"] = json!("lower")),
        ),
        (
            "used twice",
            Box::new(|t| t["fields"][1]["env"] = json!("TOKEN")),
        ),
        (
            "placeholder {{nope}} is not a field",
            Box::new(|t| t["verify"][0]["url"] = json!("{{nope}}/x")),
        ),
        (
            "unclosed placeholder",
            Box::new(|t| t["verify"][0]["url"] = json!("{{url}/x")),
        ),
        (
            "not under the same condition",
            Box::new(|t| t["verify"][0]["when"] = json!(null)),
        ),
        (
            "must use a secret field",
            Box::new(|t| t["verify"][0]["auth"] = json!({"bearer": "literal"})),
        ),
        (
            "expect_status",
            Box::new(|t| t["verify"][0]["expect_status"] = json!([42])),
        ),
        (
            "no fields and no verify",
            Box::new(|t| t["free_form"] = json!(true)),
        ),
        (
            "verify needs at least one probe",
            Box::new(|t| t["verify"] = json!([])),
        ),
    ];
    for (reason, edit) in cases {
        let src = edited(edit);
        let err = Template::from_json(&src).unwrap_err();
        assert_eq!(err.code(), "invalid_template", "{src}");
        assert!(err.to_string().contains(reason), "{err} lacks {reason:?}");
    }
    let dup = edited(|_| {});
    let err = Template::from_json(&edited(|t| t["category"] = json!("games"))).unwrap_err();
    assert!(err.to_string().contains("unknown variant `games`"), "{err}");
    let err = Catalog::from_sources([dup.as_str(), dup.as_str()]).unwrap_err();
    assert!(err.to_string().contains("defined twice"));
}

#[test]
fn placeholder_segments() {
    assert_eq!(
        segments("PVEAPIToken={{token_name}}={{token_value}}").unwrap(),
        vec![
            Segment::Literal("PVEAPIToken="),
            Segment::Field("token_name"),
            Segment::Literal("="),
            Segment::Field("token_value"),
        ]
    );
    assert_eq!(
        segments("plain }} text").unwrap(),
        vec![Segment::Literal("plain }} text")]
    );
    assert!(segments("{{Bad}}").is_err());
    assert!(segments("{{open").is_err());
}

/// A template with the fields every new probe kind needs and one probe.
fn with_probe(probe: Value) -> Result<Template, TemplateError> {
    let t = json!({
        "name": "t",
        "title": "T",
        "description": "d",
        "category": "cloud",
        "fields": [
            {"name": "mode", "type": "select", "options": ["a", "b"], "default": "a"},
            {"name": "host", "type": "text"},
            {"name": "user", "type": "text"},
            {"name": "pw", "type": "secret"},
            {"name": "key", "type": "file", "secret": true},
            {"name": "phrase", "type": "secret", "when": {"field": "mode", "equals": "b"}},
            {"name": "region", "type": "text", "default": "us-east-1"}
        ],
        "verify": [probe]
    });
    Template::from_json(&t.to_string())
}

#[test]
fn new_probe_kinds_are_checked_like_the_others() {
    let accepted = [
        json!({"kind": "aws_sts", "access_key_id": "{{user}}", "secret_access_key": "{{pw}}", "region": "{{region}}"}),
        json!({"kind": "aws_sts", "access_key_id": "{{user}}", "secret_access_key": "{{pw}}", "session_token": "{{key}}", "region": "{{region}}", "endpoint": "{{host}}", "timeout_ms": 5000}),
        json!({"kind": "gcp_token", "key": "{{key}}"}),
        json!({"kind": "gcp_token", "key": "{{key}}", "token_uri": "{{host}}", "scope": "https://www.googleapis.com/auth/cloud-platform.read-only"}),
        json!({"kind": "sql", "dsn": "{{pw}}"}),
        json!({"kind": "sql", "host": "{{host}}", "username": "{{user}}", "password": "{{pw}}"}),
        json!({"kind": "sql", "engine": "postgres", "host": "{{host}}", "port": "5433", "database": "app", "username": "{{user}}", "password": "{{pw}}", "sslmode": "require"}),
        json!({"kind": "ssh", "host": "{{host}}", "username": "{{user}}", "password": "{{pw}}"}),
        json!({"kind": "ssh", "host": "{{host}}", "port": "2222", "username": "{{user}}", "private_key": "{{key}}", "host_key_fingerprint": "{{region}}"}),
        json!({"kind": "ssh", "when": {"field": "mode", "equals": "b"}, "host": "{{host}}", "username": "{{user}}", "private_key": "{{key}}", "passphrase": "{{phrase}}"}),
    ];
    for probe in accepted {
        let t = with_probe(probe.clone()).unwrap_or_else(|e| panic!("{probe}: {e}"));
        let back = serde_json::to_string(&t).unwrap();
        assert_eq!(
            Template::from_json(&back).unwrap(),
            t,
            "{probe} round-trips"
        );
    }
    let rejected = [
        (
            json!({"kind": "aws_sts", "access_key_id": "{{user}}", "secret_access_key": "{{host}}", "region": "{{region}}"}),
            "secret_access_key carries a secret but {{host}} is not a secret field",
        ),
        (
            json!({"kind": "aws_sts", "access_key_id": "{{user}}", "secret_access_key": "literal", "region": "{{region}}"}),
            "secret_access_key must be a secret field's placeholder",
        ),
        (
            json!({"kind": "aws_sts", "access_key_id": "{{user}}", "secret_access_key": "{{pw}}"}),
            "missing field `region`",
        ),
        (
            json!({"kind": "aws_sts", "access_key_id": "{{user}}", "secret_access_key": "{{pw}}", "region": "{{nope}}"}),
            "placeholder {{nope}} is not a field",
        ),
        (
            json!({"kind": "aws_sts", "access_key_id": "{{user}}", "secret_access_key": "{{pw}}", "region": "x", "timeout_ms": 0}),
            "timeout_ms must be positive",
        ),
        (
            json!({"kind": "gcp_token", "key": "{{host}}"}),
            "key carries a secret",
        ),
        (
            json!({"kind": "gcp_token", "key": "{{key}}", "audience": "x"}),
            "unknown field `audience`",
        ),
        (
            json!({"kind": "sql", "dsn": "{{host}}"}),
            "dsn carries a secret",
        ),
        (
            json!({"kind": "sql", "dsn": "{{pw}}", "host": "{{host}}"}),
            "not both",
        ),
        (
            json!({"kind": "sql", "host": "{{host}}", "username": "{{user}}"}),
            "needs dsn, or host, username and password",
        ),
        (
            json!({"kind": "sql", "dsn": "{{pw}}", "engine": "oracle"}),
            "unknown variant `oracle`",
        ),
        (
            json!({"kind": "ssh", "host": "{{host}}", "username": "{{user}}"}),
            "exactly one of password and private_key",
        ),
        (
            json!({"kind": "ssh", "host": "{{host}}", "username": "{{user}}", "password": "{{pw}}", "private_key": "{{key}}"}),
            "exactly one of password and private_key",
        ),
        (
            json!({"kind": "ssh", "host": "{{host}}", "username": "{{user}}", "password": "{{pw}}", "passphrase": "{{pw}}"}),
            "passphrase goes with private_key",
        ),
        (
            json!({"kind": "ssh", "host": "{{host}}", "username": "{{user}}", "private_key": "{{key}}", "passphrase": "{{phrase}}"}),
            "not under the same condition",
        ),
        (
            json!({"kind": "ssh", "host": "{{host}}", "username": "{{user}}", "password": "{{user}}"}),
            "password carries a secret",
        ),
    ];
    for (probe, reason) in rejected {
        let err = with_probe(probe.clone()).unwrap_err();
        assert_eq!(err.code(), "invalid_template", "{probe}");
        assert!(
            err.to_string().contains(reason),
            "{probe}: {err} lacks {reason:?}"
        );
    }
}
