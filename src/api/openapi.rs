//! Completes the generated OpenAPI document where per-handler annotations would repeat
//! themselves: every `{name}` of a path template is declared as a required path
//! parameter, and every operation lists the error answers the shared layers give —
//! 401 and 429 (authentication, throttling) for operations behind a token, 403 for
//! those a role can be refused, 404 where a path names an object, 400/413/415/422 where
//! a body is read, 503 when the ledger cannot be written — each with the JSON error body.
//! Annotations still win: a status an operation declares itself is kept as declared.

use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::{ContentBuilder, Ref, Required, ResponseBuilder, Type};

pub(super) struct Complete;

fn error(description: &str) -> utoipa::openapi::RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
        .into()
}

fn needs_token(op: &Operation) -> bool {
    match &op.security {
        None => true,
        Some(reqs) => reqs
            .iter()
            .any(|r| serde_json::to_value(r).map_or(true, |v| v != serde_json::json!({}))),
    }
}

fn complete(path: &str, op: &mut Operation) {
    let names: Vec<String> = path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .map(str::to_string)
        .collect();
    let params = op.parameters.get_or_insert_with(Vec::new);
    for name in &names {
        if !params
            .iter()
            .any(|p| p.name == *name && p.parameter_in == ParameterIn::Path)
        {
            params.push(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .schema(Some(
                        utoipa::openapi::ObjectBuilder::new().schema_type(Type::String),
                    ))
                    .build(),
            );
        }
    }
    if params.is_empty() {
        op.parameters = None;
    }
    let has_body = op.request_body.is_some();
    let token = needs_token(op);
    let mut add = |status: &str, description: &str| {
        op.responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| error(description));
    };
    if has_body {
        add("400", "the body is not valid JSON, or a value is malformed");
        add("413", "the body is larger than the limit");
        add("415", "the body is not `application/json`");
        add("422", "a field breaks a rule (`error.field` names it)");
    }
    if !names.is_empty() {
        add("404", "no such object (in the caller's tenant)");
    }
    if token {
        add("401", "no token, or an invalid, expired or revoked one");
        add("403", "the caller's role or grants do not allow this");
        add(
            "429",
            "too many failed authentications from this address (`Retry-After`)",
        );
        add("503", "the ledger cannot be written (see the server log)");
    }
}

impl utoipa::Modify for Complete {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                complete(path, op);
            }
        }
    }
}
