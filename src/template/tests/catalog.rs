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
