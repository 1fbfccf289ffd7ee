//! Tenant templates: service templates an admin defines at run time, in the JSON format
//! of `schemas/templates/`, checked exactly as the builtin ones are
//! ([`Template::from_json`]).
//!
//! **Invariant:** a tenant template never shadows a builtin one (builtin names are
//! refused), is visible to its own tenant only, and is recorded as a `template_defined`
//! event whose definition is the checked template's canonical JSON, so replay rebuilds
//! the same catalog. A template still used by a credential that is not destroyed cannot
//! be deleted.

use super::access::admin_only;
use super::{Caller, Decision, DomainError};
use crate::domain::state::{CredStatus, State};
use crate::event::Body;
use crate::template::{Catalog, Template, TemplateError};

/// The request field a definition problem is about, from the check's reason.
fn field_of(reason: &str) -> Option<String> {
    for parser in ["missing field `", "unknown field `"] {
        if let Some(rest) = reason.split(parser).nth(1) {
            return rest.split('`').next().map(str::to_string);
        }
    }
    if let Some(rest) = reason.strip_prefix("field ") {
        let name = rest.split(':').next().unwrap_or_default();
        return Some(format!("fields.{name}"));
    }
    let prefixes = [
        ("verify", "verify"),
        ("name", "name"),
        ("title", "title"),
        ("a template needs", "fields"),
        ("a free-form", "free_form"),
    ];
    prefixes
        .iter()
        .find(|(p, _)| reason.starts_with(p))
        .map(|(_, f)| (*f).to_string())
}

/// Parses and checks a template definition: a 422 naming the offending part otherwise.
pub fn check_definition(definition: &str) -> Result<Template, DomainError> {
    Template::from_json(definition).map_err(|e| match e {
        TemplateError::InvalidTemplate { reason, .. } => DomainError::Invalid {
            field: field_of(&reason),
            message: format!("invalid template: {reason}"),
        },
        other => DomainError::Invalid {
            field: None,
            message: other.to_string(),
        },
    })
}

/// Defines (or, with `replace`, redefines) a tenant template. Admins only. `path_name`
/// is the name in the request path, which must equal the definition's.
pub fn define_template(
    state: &State,
    caller: &Caller,
    path_name: Option<&str>,
    definition: &str,
    builtin: &Catalog,
    replace: bool,
) -> Decision {
    admin_only(caller, "template_defined", None)?;
    let template = check_definition(definition)?;
    if path_name.is_some_and(|n| n != template.name) {
        return Err(DomainError::invalid(
            "name",
            "the definition's name must equal the name in the path",
        )
        .into());
    }
    if builtin.get(&template.name).is_ok() {
        return Err(DomainError::Conflict(format!(
            "'{}' is a builtin template; choose another name",
            template.name
        ))
        .into());
    }
    if !replace
        && state
            .tenant_template(caller.tenant, &template.name)
            .is_some()
    {
        return Err(DomainError::Conflict(format!(
            "a template named '{}' already exists; PUT /v1/templates/{} replaces it",
            template.name, template.name
        ))
        .into());
    }
    let canonical = serde_json::to_string(&template).map_err(|e| DomainError::Invalid {
        field: None,
        message: format!("the template cannot be stored: {e}"),
    })?;
    Ok(vec![Body::TemplateDefined {
        tenant: caller.tenant,
        name: template.name,
        definition: canonical,
    }])
}

/// Deletes a tenant template that no credential (not destroyed) uses. Admins only.
pub fn delete_template(state: &State, caller: &Caller, name: &str) -> Decision {
    admin_only(caller, "template_deleted", None)?;
    if state.tenant_template(caller.tenant, name).is_none() {
        return Err(DomainError::NotFound("template").into());
    }
    let used = state.credentials.values().any(|c| {
        c.tenant == caller.tenant && c.template == name && c.status != CredStatus::Destroyed
    });
    if used {
        return Err(DomainError::Conflict(format!(
            "credentials still use the template '{name}'; destroy them first"
        ))
        .into());
    }
    Ok(vec![Body::TemplateDeleted {
        tenant: caller.tenant,
        name: name.to_string(),
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_definition_problems_then_the_error_names_the_part() {
        let e = check_definition(r#"{"name":"x","title":"","description":"d","fields":[]}"#)
            .unwrap_err();
        assert!(
            matches!(&e, DomainError::Invalid { field: Some(f), .. } if f == "title"),
            "{e:?}"
        );
        let e = check_definition(
            r#"{"name":"bench","title":"B","description":"d","fields":[{"name":"k","type":"select"}]}"#,
        )
        .unwrap_err();
        assert!(
            matches!(&e, DomainError::Invalid { field: Some(f), .. } if f == "fields.k"),
            "{e:?}"
        );
        let e = check_definition("{not json").unwrap_err();
        assert!(matches!(e, DomainError::Invalid { field: None, .. }));
    }
}
