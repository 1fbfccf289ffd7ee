//! The OpenAPI document describes the API as served: query parameters are `in: query`,
//! every `{name}` of a path is a declared path parameter, every operation behind a token
//! lists 401/403/429/503, bodies list 400/413/415/422, `GET /v1/principals` answers
//! `{"principals": […]}`, and the operator endpoints and the Vault KV dialect are in it.

use serde_json::Value;

fn doc() -> Value {
    serde_json::to_value(credledger::api::document("secret")).unwrap()
}

fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if ["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                out.push((path.clone(), method.clone(), op.clone()));
            }
        }
    }
    out
}

#[test]
fn parameters_are_where_they_are_sent() {
    let d = doc();
    for (path, method, op) in operations(&d) {
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        for p in &params {
            let name = p["name"].as_str().unwrap();
            if p["in"] == "path" {
                assert!(
                    path.contains(&format!("{{{name}}}")),
                    "{method} {path}: `{name}` is declared in: path but is not in the path"
                );
                assert_eq!(p["required"], true, "{method} {path} {name}");
            }
        }
        for seg in path.split('/') {
            if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                assert!(
                    params
                        .iter()
                        .any(|p| p["name"] == name && p["in"] == "path"),
                    "{method} {path}: path parameter `{name}` is not declared"
                );
            }
        }
    }
    let audit = &d["paths"]["/v1/audit"]["get"]["parameters"];
    for p in audit.as_array().unwrap() {
        assert_eq!(p["in"], "query", "{p}");
        assert_ne!(p["required"], true, "{p}");
    }
    for (path, name) in [
        ("/v1/credentials", None),
        ("/v1/ledger/events", None),
        ("/v1/ledger/proof/inclusion", None),
        ("/v1/ledger/proof/consistency", None),
        ("/v1/usage/summary", None::<&str>),
    ] {
        let ps = d["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap()
            .clone();
        assert!(!ps.is_empty(), "{path}");
        assert!(
            ps.iter().all(|p| p["in"] == "query"),
            "{path}: {ps:?} {name:?}"
        );
    }
}

#[test]
fn error_answers_are_listed() {
    let d = doc();
    for (path, method, op) in operations(&d) {
        let responses = op["responses"].as_object().unwrap();
        if op["tags"][0] == "vault" {
            // Vault's own error shape for every status.
            assert!(
                responses.contains_key("default") || path == "/v1/sys/health",
                "{method} {path}"
            );
            continue;
        }
        let open = op["security"].as_array().is_some_and(|s| {
            s.iter()
                .all(|r| r.as_object().is_some_and(|o| o.is_empty()))
        });
        if !open {
            for status in ["401", "403", "429", "503"] {
                assert!(
                    responses.contains_key(status),
                    "{method} {path} lacks {status}"
                );
            }
        }
        if op.get("requestBody").is_some() {
            for status in ["400", "413", "415", "422"] {
                assert!(
                    responses.contains_key(status),
                    "{method} {path} lacks {status}"
                );
            }
        }
        if path.contains('{') {
            assert!(responses.contains_key("404"), "{method} {path} lacks 404");
        }
    }
}

#[test]
fn shapes_and_operator_endpoints() {
    let d = doc();
    let list = &d["paths"]["/v1/principals"]["get"]["responses"]["200"]["content"]
        ["application/json"]["schema"]["$ref"];
    assert_eq!(list, "#/components/schemas/PrincipalList");
    let schema = &d["components"]["schemas"]["PrincipalList"];
    assert_eq!(
        schema["properties"]["principals"]["type"], "array",
        "{schema}"
    );
    for (path, method) in [
        ("/metrics", "get"),
        ("/v1/admin/backup", "get"),
        ("/v1/admin/keys/rotate-master", "post"),
        ("/v1/admin/keys/rotate-signing", "post"),
    ] {
        assert!(d["paths"][path][method].is_object(), "{method} {path}");
    }
    for (path, method) in [
        ("/v1/secret/data/{path}", "get"),
        ("/v1/secret/data/{path}", "post"),
        ("/v1/secret/metadata/{path}", "delete"),
        ("/v1/secret/destroy/{path}", "post"),
        ("/v1/sys/health", "get"),
    ] {
        assert!(d["paths"][path][method].is_object(), "{method} {path}");
    }
    let moved = serde_json::to_value(credledger::api::document("kv")).unwrap();
    assert!(moved["paths"]["/v1/kv/data/{path}"].is_object());
}
