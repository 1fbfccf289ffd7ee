//! Validation of user input: coercion, defaults, conditions, every kind of error,
//! free-form rules, rotation carry-over and the redacting `Debug`.

use super::*;

#[test]
fn defaults_coercion_and_storage() {
    let v = check("openai", json!({"api_key": SECRET}), Expect::Pass).unwrap();
    assert_eq!(v.public["base_url"], "https://api.openai.com/v1");
    assert_eq!(v.secret["api_key"].as_str(), SECRET);
    assert!(!v.public.contains_key("organization"));

    let v = check(
        "ssh",
        json!({"host": "h.example", "port": 2222, "username": "u", "private_key": SECRET, "known_hosts": "h ssh-ed25519 AAAA"}),
        Expect::Pass,
    )
    .unwrap();
    assert_eq!(v.public["port"], "2222");
    assert_eq!(v.public["auth_method"], "private_key");
    assert_eq!(v.public["known_hosts"], "h ssh-ed25519 AAAA");
    assert!(v.secret.contains_key("private_key"));

    let v = check(
        "proxmox",
        json!({"host": "https://pve:8006", "token_name": "a@pam!b", "token_value": SECRET, "verify_tls": false}),
        Expect::Pass,
    )
    .unwrap();
    assert_eq!(v.public["verify_tls"], "false");

    // Null and the empty string count as absent for optional fields.
    let v = check(
        "aws",
        json!({"access_key_id": "AKIA1", "secret_access_key": SECRET, "session_token": "", "region": null}),
        Expect::Pass,
    )
    .unwrap();
    assert!(!v.secret.contains_key("session_token"));
    assert_eq!(v.public["region"], "us-east-1");

    // Json fields: objects are stored compact, strings are parsed as JSON text.
    let v = check(
        "gcp",
        json!({"service_account_json": "{ \"type\" : \"service_account\" }", "project_id": "p"}),
        Expect::Pass,
    )
    .unwrap();
    assert_eq!(
        v.secret["service_account_json"].as_str(),
        r#"{"type":"service_account"}"#
    );
    let v = check(
        "gcp",
        json!({"service_account_json": {"b": [1, 2], "a": SECRET}}),
        Expect::Pass,
    )
    .unwrap();
    assert!(!v.secret["service_account_json"].contains(' '));
    assert!(v.secret["service_account_json"].contains(SECRET));
}

#[test]
fn proxmox_conditional_fields_both_ways() {
    let v = check(
        "proxmox",
        json!({"host": "https://pve:8006", "auth_method": "api_token", "token_name": "root@pam!ci", "token_value": SECRET}),
        Expect::Pass,
    )
    .unwrap();
    assert_eq!(v.public["token_name"], "root@pam!ci");
    assert_eq!(v.secret.keys().collect::<Vec<_>>(), ["token_value"]);

    let v = check(
        "proxmox",
        json!({"host": "https://pve:8006", "auth_method": "password", "username": "root@pam", "password": SECRET}),
        Expect::Pass,
    )
    .unwrap();
    assert_eq!(v.public["username"], "root@pam");
    assert_eq!(v.secret.keys().collect::<Vec<_>>(), ["password"]);
    assert!(!v.public.contains_key("token_name"));

    check(
        "proxmox",
        json!({"host": "https://pve:8006", "auth_method": "api_token", "token_value": SECRET}),
        fail(
            "missing",
            Some("token_name"),
            "token_name is required when auth_method=api_token",
        ),
    );
    check(
        "proxmox",
        json!({"host": "https://pve:8006", "auth_method": "password", "username": "root@pam"}),
        fail(
            "missing",
            Some("password"),
            "password is required when auth_method=password",
        ),
    );
    check(
        "proxmox",
        json!({"host": "https://pve:8006", "token_name": "a@pam!b", "token_value": SECRET, "password": SECRET}),
        fail(
            "not_applicable",
            Some("password"),
            "password must not be supplied unless auth_method=password",
        ),
    );
    check(
        "proxmox",
        json!({"host": "https://pve:8006", "auth_method": "password", "username": "root@pam", "password": SECRET, "token_value": SECRET}),
        fail(
            "not_applicable",
            Some("token_value"),
            "token_value must not be supplied unless auth_method=api_token",
        ),
    );
    // A null for a field whose condition fails is the same as leaving it out.
    check(
        "proxmox",
        json!({"host": "https://pve:8006", "auth_method": "password", "username": "root@pam", "password": SECRET, "token_name": null}),
        Expect::Pass,
    );
}

#[test]
fn each_kind_of_error_across_templates() {
    let long = "x".repeat(MAX_VALUE_BYTES + 1);
    let cases: Vec<(&str, Value, Expect)> = vec![
        // Unknown fields.
        (
            "openai",
            json!({"api_key": SECRET, "org": "o"}),
            fail("unknown_field", Some("org"), "unknown field: org"),
        ),
        (
            "aws",
            json!({"access_key_id": "AKIA1", "secret_access_key": SECRET, "region2": "x"}),
            fail("unknown_field", Some("region2"), "unknown field: region2"),
        ),
        (
            "db_dsn",
            json!({"dsn": SECRET, "password": SECRET}),
            fail("unknown_field", Some("password"), "unknown field: password"),
        ),
        // Missing required fields.
        (
            "openai",
            json!({}),
            fail("missing", Some("api_key"), "api_key is required"),
        ),
        (
            "anthropic",
            json!({"api_key": null}),
            fail("missing", Some("api_key"), "api_key is required"),
        ),
        (
            "aws",
            json!({"access_key_id": "AKIA1"}),
            fail(
                "missing",
                Some("secret_access_key"),
                "secret_access_key is required",
            ),
        ),
        (
            "kubernetes",
            json!({"auth_method": "token", "token": SECRET}),
            fail(
                "missing",
                Some("server"),
                "server is required when auth_method=token",
            ),
        ),
        (
            "ssh",
            json!({"host": "h.example", "username": "u", "auth_method": "password"}),
            fail(
                "missing",
                Some("password"),
                "password is required when auth_method=password",
            ),
        ),
        // Fields whose condition does not hold.
        (
            "ssh",
            json!({"host": "h.example", "username": "u", "private_key": SECRET, "password": SECRET}),
            fail(
                "not_applicable",
                Some("password"),
                "password must not be supplied unless auth_method=password",
            ),
        ),
        (
            "kubernetes",
            json!({"kubeconfig": SECRET, "token": SECRET}),
            fail(
                "not_applicable",
                Some("token"),
                "token must not be supplied unless auth_method=token",
            ),
        ),
        (
            "api_key",
            json!({"api_key": SECRET, "placement": "bearer", "header_name": "X-Key"}),
            fail(
                "not_applicable",
                Some("header_name"),
                "header_name must not be supplied unless placement=header",
            ),
        ),
        // Wrong JSON types.
        (
            "openai",
            json!({"api_key": 12345678}),
            fail("wrong_type", Some("api_key"), "api_key must be a string"),
        ),
        (
            "ssh",
            json!({"host": "h.example", "username": "u", "private_key": [SECRET]}),
            fail(
                "wrong_type",
                Some("private_key"),
                "private_key must be a string",
            ),
        ),
        (
            "aws",
            json!({"access_key_id": "AKIA1", "secret_access_key": SECRET, "region": ["eu-west-1"]}),
            fail(
                "wrong_type",
                Some("region"),
                "region must be a string, number or boolean",
            ),
        ),
        (
            "proxmox",
            json!({"host": {"url": "https://pve"}, "token_name": "a@pam!b", "token_value": SECRET}),
            fail(
                "wrong_type",
                Some("host"),
                "host must be a string, number or boolean",
            ),
        ),
        // Select values outside the options.
        (
            "proxmox",
            json!({"host": "https://pve", "auth_method": "kerberos5", "token_value": SECRET}),
            fail(
                "not_an_option",
                Some("auth_method"),
                "auth_method must be one of: api_token, password",
            ),
        ),
        (
            "postgres",
            json!({"host": "db", "database": "d", "username": "u", "password": SECRET, "sslmode": "maybe-please"}),
            fail(
                "not_an_option",
                Some("sslmode"),
                "sslmode must be one of: disable, allow, prefer, require, verify-ca, verify-full",
            ),
        ),
        (
            "proxmox",
            json!({"host": "https://pve", "token_name": "a@pam!b", "token_value": SECRET, "verify_tls": 12345}),
            fail(
                "not_an_option",
                Some("verify_tls"),
                "verify_tls must be one of: true, false",
            ),
        ),
        // Empty strings for required fields.
        (
            "openai",
            json!({"api_key": ""}),
            fail("empty", Some("api_key"), "api_key must not be empty"),
        ),
        (
            "http_basic",
            json!({"username": "", "password": SECRET}),
            fail("empty", Some("username"), "username must not be empty"),
        ),
        // Values over the length limit.
        (
            "openai",
            json!({"api_key": long.clone()}),
            fail("too_long", Some("api_key"), "api_key exceeds 65536 bytes"),
        ),
        (
            "kubernetes",
            json!({"kubeconfig": long.clone()}),
            fail(
                "too_long",
                Some("kubeconfig"),
                "kubeconfig exceeds 65536 bytes",
            ),
        ),
        (
            "gcp",
            json!({"service_account_json": {"k": long.clone()}}),
            fail(
                "too_long",
                Some("service_account_json"),
                "service_account_json exceeds 65536 bytes",
            ),
        ),
        // Invalid JSON text.
        (
            "gcp",
            json!({"service_account_json": format!("{{\"private_key\": \"{SECRET}\"")}),
            fail(
                "invalid_json",
                Some("service_account_json"),
                "service_account_json is not valid JSON (line 1",
            ),
        ),
        // Free-form inputs.
        (
            "custom",
            json!({}),
            fail("no_fields", None, "no fields supplied"),
        ),
        (
            "custom",
            json!({"bad name!": SECRET}),
            fail(
                "invalid_field_name",
                Some("bad name!"),
                "invalid field name",
            ),
        ),
        (
            "custom",
            json!({"pin": 12345678}),
            fail("wrong_type", Some("pin"), "pin must be a string"),
        ),
        (
            "custom",
            json!({"token": ""}),
            fail("empty", Some("token"), "token must not be empty"),
        ),
        (
            "custom",
            json!({"token": SECRET, "public_fields": "token"}),
            fail(
                "wrong_type",
                Some("public_fields"),
                "public_fields must be an array of field names",
            ),
        ),
        (
            "custom",
            json!({"token": SECRET, "public_fields": ["host"]}),
            fail(
                "public_field_not_supplied",
                Some("host"),
                "public_fields names host",
            ),
        ),
        (
            "custom",
            json!({"blob": long}),
            fail("too_long", Some("blob"), "blob exceeds 65536 bytes"),
        ),
    ];
    for (template, input, expect) in cases {
        check(template, input, expect);
    }
}

#[test]
fn unknown_field_names_are_sanitized() {
    let name = format!("{}\n{}", "k".repeat(100), SECRET);
    let mut input = Map::new();
    input.insert(name, json!("v"));
    let err = Catalog::builtin()
        .get("openai")
        .unwrap()
        .validate(&input)
        .unwrap_err();
    let field = err.field().unwrap();
    assert_eq!(field.chars().count(), 65);
    assert!(!field.contains('\n') && !err.to_string().contains(SECRET));
}

#[test]
fn custom_template_rules() {
    let mut many = Map::new();
    for i in 0..=MAX_FREE_FORM_FIELDS {
        many.insert(format!("f{i}"), json!("value"));
    }
    check(
        "custom",
        Value::Object(many),
        fail("too_many_fields", None, "too many fields (at most 64)"),
    );
    let v = check(
        "custom",
        json!({"endpoint": "https://x.example", "port": 8443, "api-key": SECRET, "public_fields": ["endpoint", "port"]}),
        Expect::Pass,
    )
    .unwrap();
    assert_eq!(v.public["endpoint"], "https://x.example");
    assert_eq!(v.public["port"], "8443");
    assert_eq!(v.secret["api-key"].as_str(), SECRET);
    assert!(!v.public.contains_key(PUBLIC_FIELDS_KEY));
}

#[test]
fn rotation_keeps_public_fields_and_requires_secrets() {
    let c = Catalog::builtin();
    let proxmox = c.get("proxmox").unwrap();
    let first = proxmox
        .validate(
            json!({"host": "https://pve:8006", "token_name": "a@pam!b", "token_value": "old-value", "verify_tls": "false"})
                .as_object()
                .unwrap(),
        )
        .unwrap();
    // Only the new secret: public fields carry over.
    let input = json!({"token_value": SECRET});
    let v = proxmox
        .validate_update(&first.public, input.as_object().unwrap())
        .unwrap();
    assert_eq!(v.public, first.public);
    assert_eq!(v.secret["token_value"].as_str(), SECRET);
    // Secrets never carry over.
    let err = proxmox
        .validate_update(&first.public, &Map::new())
        .unwrap_err();
    assert_eq!(err.field(), Some("token_value"));
    // Switching the method drops the carried fields that no longer apply.
    let input = json!({"auth_method": "password", "username": "root@pam", "password": SECRET});
    let v = proxmox
        .validate_update(&first.public, input.as_object().unwrap())
        .unwrap();
    assert!(!v.public.contains_key("token_name"));
    assert_eq!(v.public["host"], "https://pve:8006");
    // A supplied key wins; null clears an optional field back to its default.
    let input = json!({"token_value": SECRET, "host": "https://pve2:8006", "verify_tls": null});
    let v = proxmox
        .validate_update(&first.public, input.as_object().unwrap())
        .unwrap();
    assert_eq!(v.public["host"], "https://pve2:8006");
    assert_eq!(v.public["verify_tls"], "true");
    // Errors still apply to supplied values.
    let input = json!({"token_value": SECRET, "username": "root@pam"});
    let err = proxmox
        .validate_update(&first.public, input.as_object().unwrap())
        .unwrap_err();
    check_result(
        proxmox,
        &input,
        Err(err),
        fail(
            "not_applicable",
            Some("username"),
            "username must not be supplied unless auth_method=password",
        ),
    );

    let openai = c.get("openai").unwrap();
    let prev = BTreeMap::from([
        ("organization".to_string(), "org-1".to_string()),
        ("base_url".to_string(), "http://127.0.0.1:9".to_string()),
        ("removed_field".to_string(), "x".to_string()),
    ]);
    let input = json!({"api_key": SECRET, "organization": ""});
    let v = openai
        .validate_update(&prev, input.as_object().unwrap())
        .unwrap();
    assert_eq!(v.public.get("organization"), None);
    assert_eq!(v.public["base_url"], "http://127.0.0.1:9");
    assert!(!v.public.contains_key("removed_field"));

    let custom = c.get("custom").unwrap();
    let prev = BTreeMap::from([
        ("endpoint".to_string(), "https://x".to_string()),
        ("region".to_string(), "eu".to_string()),
    ]);
    let input = json!({"token": SECRET, "region": null, "public_fields": ["endpoint"]});
    let v = custom
        .validate_update(&prev, input.as_object().unwrap())
        .unwrap();
    assert_eq!(v.public.keys().collect::<Vec<_>>(), ["endpoint"]);
    assert_eq!(v.secret["token"].as_str(), SECRET);
}

#[test]
fn validated_debug_redacts_secrets() {
    let v = check(
        "proxmox",
        json!({"host": "https://pve:8006", "auth_method": "password", "username": "root@pam", "password": SECRET}),
        Expect::Pass,
    )
    .unwrap();
    let debug = format!("{v:?}");
    assert!(debug.contains("root@pam") && debug.contains("[REDACTED]"));
    assert!(!debug.contains(SECRET));
    let alt = format!("{v:#?}");
    assert!(!alt.contains(SECRET));
}

#[test]
fn error_field_accessor() {
    let err = TemplateError::Missing {
        field: "token_name".into(),
        condition: Some("auth_method=api_token".into()),
    };
    assert_eq!(err.field(), Some("token_name"));
    assert_eq!(
        err.to_string(),
        "token_name is required when auth_method=api_token"
    );
    assert_eq!(TemplateError::NoFields.field(), None);
}
