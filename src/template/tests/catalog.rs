//! The builtin catalog: every file in `schemas/templates/` is embedded and parses,
//! required templates exist with their fixed fields, and definitions round-trip.

use super::*;
use crate::template::catalog::BUILTIN;

#[test]
fn every_json_file_is_embedded_and_parses() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/templates");
    let mut on_disk: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let embedded: Vec<String> = BUILTIN.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(
        on_disk, embedded,
        "schemas/templates/*.json and BUILTIN differ"
    );
    for (stem, src) in BUILTIN {
        let t = Template::from_json(src).unwrap_or_else(|e| panic!("{stem}: {e}"));
        assert_eq!(&t.name, stem);
        let disk = std::fs::read_to_string(format!("{dir}/{stem}.json")).unwrap();
        assert_eq!(&disk, src);
    }
    assert_eq!(Catalog::builtin().iter().count(), BUILTIN.len());
}

#[test]
fn required_templates_exist_with_fixed_fields() {
    let c = Catalog::builtin();
    for name in [
        "proxmox",
        "aws",
        "azure",
        "gcp",
        "openai",
        "anthropic",
        "kubernetes",
        "vultr",
        "ssh",
        "http_basic",
        "bearer_token",
        "db_dsn",
        "api_key",
        "custom",
        "github",
        "postgres",
        "vmware",
        "hyperv",
        "docker",
        "prometheus",
        "grafana",
        "langsmith",
        "mysql",
    ] {
        c.get(name).unwrap();
    }
    for name in ["api_key", "openai", "anthropic"] {
        let f = c.get(name).unwrap().field("api_key").unwrap();
        assert!(f.is_secret() && f.required, "{name}.api_key");
    }
    for (name, default) in [
        ("openai", "https://api.openai.com/v1"),
        ("anthropic", "https://api.anthropic.com"),
    ] {
        let f = c.get(name).unwrap().field("base_url").unwrap();
        assert_eq!(f.field_type, FieldType::Text);
        assert!(!f.required);
        assert_eq!(f.default.as_deref(), Some(default));
    }
    let err = c.get("nope").unwrap_err();
    assert_eq!(err.code(), "unknown_template");
    assert_eq!(err.to_string(), "unknown template: nope");
}

#[test]
fn templates_serialize_back_to_the_same_definition() {
    for t in Catalog::builtin().iter() {
        let json = serde_json::to_string(t).unwrap();
        assert_eq!(&Template::from_json(&json).unwrap(), t);
    }
}

#[test]
fn every_template_accepts_a_minimal_input() {
    let inputs = minimal_inputs();
    for t in Catalog::builtin().iter() {
        assert!(
            inputs.iter().any(|(n, _)| *n == t.name),
            "no minimal input for template {}",
            t.name
        );
    }
    for (name, input) in inputs {
        let v = check(name, input, Expect::Pass).unwrap();
        assert!(!v.secret.is_empty(), "{name} stored no secret");
    }
}

#[test]
fn env_names_map_fields() {
    let c = Catalog::builtin();
    assert_eq!(
        c.get("aws").unwrap().env_names(),
        vec![
            ("access_key_id", "AWS_ACCESS_KEY_ID"),
            ("secret_access_key", "AWS_SECRET_ACCESS_KEY"),
            ("session_token", "AWS_SESSION_TOKEN"),
            ("region", "AWS_DEFAULT_REGION"),
            ("sts_endpoint", "AWS_ENDPOINT_URL_STS"),
        ]
    );
    assert!(c
        .get("openai")
        .unwrap()
        .env_names()
        .contains(&("api_key", "OPENAI_API_KEY")));
    assert!(c
        .get("anthropic")
        .unwrap()
        .env_names()
        .contains(&("api_key", "ANTHROPIC_API_KEY")));
    let kube = c.get("kubernetes").unwrap().field("kubeconfig").unwrap();
    assert_eq!(kube.env_mode, EnvMode::File);
    assert!(c.get("custom").unwrap().env_names().is_empty());
}

#[test]
fn every_builtin_names_its_category_and_serializes_it() {
    for (stem, src) in BUILTIN {
        let raw: Value = serde_json::from_str(src).unwrap();
        let named = raw["category"]
            .as_str()
            .unwrap_or_else(|| panic!("{stem}: no category"));
        let t = Catalog::builtin().get(stem).unwrap();
        assert_eq!(t.category.as_str(), named, "{stem}");
        let json = serde_json::to_value(t).unwrap();
        assert_eq!(
            json["category"], named,
            "{stem}: category not in the template's JSON"
        );
    }
    let by = |c: Category| -> BTreeSet<String> {
        Catalog::builtin()
            .iter()
            .filter(|t| t.category == c)
            .map(|t| t.name.clone())
            .collect()
    };
    let set =
        |names: &[&str]| -> BTreeSet<String> { names.iter().map(|s| s.to_string()).collect() };
    assert_eq!(
        by(Category::Virtualization),
        set(&["hyperv", "proxmox", "vmware"])
    );
    assert_eq!(by(Category::Cloud), set(&["aws", "azure", "gcp", "vultr"]));
    assert_eq!(by(Category::Ai), set(&["anthropic", "langsmith", "openai"]));
    assert_eq!(by(Category::Containers), set(&["docker", "kubernetes"]));
    assert_eq!(
        by(Category::Databases),
        set(&["db_dsn", "mysql", "postgres"])
    );
    assert_eq!(by(Category::Monitoring), set(&["grafana", "prometheus"]));
    assert_eq!(Category::ALL.len(), 7);
    for c in Category::ALL {
        let json = serde_json::to_value(c).unwrap();
        assert_eq!(json, c.as_str());
    }
}

/// The console renders forms from the definitions: every field has a label, and every
/// field a person types (not a select, not one with a default) has a placeholder or a
/// help text.
#[test]
fn every_field_has_a_label_and_a_hint() {
    for t in Catalog::builtin().iter() {
        for f in &t.fields {
            assert!(
                f.label.as_deref().is_some_and(|l| !l.trim().is_empty()),
                "{}.{}: no label",
                t.name,
                f.name
            );
            let typed = f.field_type != FieldType::Select && f.default.is_none();
            let hinted = f.placeholder.is_some() || f.help.is_some();
            assert!(
                !typed || hinted || f.is_secret() && f.required,
                "{}.{}: no placeholder or help",
                t.name,
                f.name
            );
        }
    }
}

#[test]
fn connection_tests_of_the_builtins() {
    let kinds = |name: &str| -> Vec<&'static str> {
        Catalog::builtin()
            .get(name)
            .unwrap()
            .verify
            .as_ref()
            .map(|v| v.probes.iter().map(Probe::kind).collect())
            .unwrap_or_default()
    };
    assert_eq!(kinds("aws"), ["aws_sts"]);
    assert_eq!(kinds("gcp"), ["gcp_token"]);
    assert_eq!(kinds("db_dsn"), ["sql"]);
    assert_eq!(kinds("postgres"), ["sql"]);
    assert_eq!(kinds("mysql"), ["sql"]);
    assert_eq!(kinds("ssh"), ["ssh", "ssh"]);
    assert_eq!(kinds("hyperv"), ["tcp"]);
    for name in ["vmware", "docker", "prometheus", "grafana", "langsmith"] {
        assert!(kinds(name).iter().all(|k| *k == "http"), "{name}");
        assert!(!kinds(name).is_empty(), "{name}");
    }
    assert!(kinds("custom").is_empty());
    let region = Catalog::builtin()
        .get("aws")
        .unwrap()
        .field("region")
        .unwrap();
    assert_eq!(region.field_type, FieldType::Select);
    assert_eq!(region.default.as_deref(), Some("us-east-1"));
    for code in [
        "us-east-1",
        "eu-west-1",
        "ap-southeast-2",
        "cn-north-1",
        "us-gov-west-1",
    ] {
        assert!(region.options.iter().any(|o| o == code), "{code}");
    }
    for name in ["openai", "anthropic"] {
        let model = Catalog::builtin()
            .get(name)
            .unwrap()
            .field("model")
            .unwrap();
        assert!(!model.required && !model.is_secret(), "{name}.model");
    }
}
