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
