//! The Vault KV v2 dialect in the OpenAPI document: the KV paths on the default mount
//! (`secret`; `serve --vault-mount` moves them, and the served document follows it) and
//! the `sys/` and `auth/token/` endpoints it answers. Bodies are Vault's envelope
//! (`{"request_id", "data": {…}, …}`) and errors Vault's `{"errors": […]}`; `LIST` (a
//! method OpenAPI cannot name) is also accepted as `GET …/metadata/{path}?list=true`.

use serde_json::{json, Value};

fn op(summary: &str, body: bool, ok: &str) -> Value {
    let mut o = json!({
        "tags": ["vault"],
        "summary": summary,
        "parameters": [{"name": "path", "in": "path", "required": true, "schema": {"type": "string"}}],
        "responses": {
            ok: {"description": "Vault's envelope", "content": {"application/json": {"schema": {"type": "object"}}}},
            "default": {"description": "Vault's error shape: `{\"errors\": [\"…\"]}`",
                "content": {"application/json": {"schema": {"type": "object",
                    "properties": {"errors": {"type": "array", "items": {"type": "string"}}}}}}}
        }
    });
    if ok == "204" {
        o["responses"]["204"] = json!({"description": "done"});
    }
    if body {
        o["requestBody"] = json!({"content": {"application/json": {"schema": {"type": "object"}}}});
    }
    o
}

fn without_path(mut v: Value) -> Value {
    v.as_object_mut().unwrap().remove("parameters");
    v
}

/// The dialect's paths for `mount`, as OpenAPI path items.
pub(super) fn paths(mount: &str) -> Vec<(String, Value)> {
    let kv = |rest: &str| format!("/v1/{mount}/{rest}");
    vec![
        (
            kv("data/{path}"),
            json!({
                "get": op("Read a secret version (`?version=n`)", false, "200"),
                "post": op("Write a new version (`{\"data\": {…}, \"options\": {\"cas\": n}}`)", true, "200"),
                "put": op("Write a new version", true, "200"),
                "delete": op("Soft-delete the latest version", false, "204"),
            }),
        ),
        (
            kv("metadata/{path}"),
            json!({
                "get": op("Read the metadata and versions (`?list=true` lists keys)", false, "200"),
                "post": op("Write the metadata (`max_versions`, `cas_required`, `delete_version_after`, `custom_metadata`)", true, "204"),
                "delete": op("Delete every version and the metadata", false, "204"),
            }),
        ),
        (
            kv("delete/{path}"),
            json!({"post": op("Soft-delete versions (`{\"versions\": […]}`)", true, "204")}),
        ),
        (
            kv("undelete/{path}"),
            json!({"post": op("Undelete versions", true, "204")}),
        ),
        (
            kv("destroy/{path}"),
            json!({"post": op("Destroy versions (crypto-shred)", true, "204")}),
        ),
        (
            kv("config"),
            json!({
                "get": without_path(op("The mount's KV configuration", false, "200")),
                "post": without_path(op("Set the mount's KV configuration", true, "204")),
            }),
        ),
        (
            "/v1/sys/health".into(),
            json!({"get": {"tags": ["vault"], "summary": "Vault's health answer", "security": [{}],
            "responses": {"200": {"description": "initialized, unsealed, active",
                "content": {"application/json": {"schema": {"type": "object"}}}}}}}),
        ),
        (
            "/v1/sys/seal-status".into(),
            json!({"get": without_path(op("Vault's seal status (always unsealed)", false, "200"))}),
        ),
        (
            "/v1/auth/token/lookup-self".into(),
            json!({"get": without_path(op("The calling token", false, "200"))}),
        ),
    ]
}

/// Adds the dialect's paths for `mount` to `doc`.
pub fn add(doc: &mut utoipa::openapi::OpenApi, mount: &str) {
    for (path, item) in paths(mount) {
        match serde_json::from_value::<utoipa::openapi::PathItem>(item) {
            Ok(item) => {
                doc.paths.paths.insert(path, item);
            }
            Err(e) => tracing::error!(error = %e, path, "a Vault path item does not parse"),
        }
    }
}
