//! [`TemplateError`]: why a template lookup, a template definition or an input was
//! rejected, with stable [`TemplateError::code`] and [`TemplateError::field`] accessors
//! for an HTTP layer.
//!
//! **Invariant:** no variant carries a supplied value. Field and template names taken
//! from input pass through [`sanitize`] (at most 64 characters, no control characters)
//! before they are put into an error.

use thiserror::Error;

/// Why a template lookup, a template definition or an input was rejected.
///
/// No variant carries a supplied value; names taken from input are sanitized.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TemplateError {
    /// No template has this name. HTTP 404 on a lookup, 422 when named in a request body;
    /// not retryable.
    #[error("unknown template: {name}")]
    UnknownTemplate { name: String },
    /// A template definition is invalid. Builtin templates are checked by tests, so at run
    /// time this is a bug: HTTP 500, not retryable.
    #[error("invalid template {template}: {reason}")]
    InvalidTemplate { template: String, reason: String },
    /// The input has a field the template does not define. HTTP 422, not retryable.
    #[error("unknown field: {field}")]
    UnknownField { field: String },
    /// A required field is missing (or null); `condition` is set for conditional fields.
    /// HTTP 422, not retryable.
    #[error("{field} is required{}", when_suffix(.condition))]
    Missing {
        field: String,
        condition: Option<String>,
    },
    /// A conditional field was supplied although its condition does not hold. HTTP 422,
    /// not retryable.
    #[error("{field} must not be supplied unless {condition}")]
    NotApplicable { field: String, condition: String },
    /// A value has the wrong JSON type. HTTP 422, not retryable.
    #[error("{field} must be {expected}")]
    WrongType {
        field: String,
        expected: &'static str,
    },
    /// A select value is not one of the template's options. HTTP 422, not retryable.
    #[error("{field} must be one of: {}", .allowed.join(", "))]
    NotAnOption { field: String, allowed: Vec<String> },
    /// A value is the empty string where one is required. HTTP 422, not retryable.
    #[error("{field} must not be empty")]
    Empty { field: String },
    /// A value is longer than [`MAX_VALUE_BYTES`](super::MAX_VALUE_BYTES). HTTP 422 (or 413), not retryable.
    #[error("{field} exceeds {max} bytes")]
    TooLong { field: String, max: usize },
    /// A json field's text does not parse; only the position is reported. HTTP 422, not
    /// retryable.
    #[error("{field} is not valid JSON (line {line}, column {column})")]
    InvalidJson {
        field: String,
        line: usize,
        column: usize,
    },
    /// A free-form field name is not `[A-Za-z_][A-Za-z0-9_.-]*` of at most 64 characters.
    /// HTTP 422, not retryable.
    #[error("invalid field name: {field}")]
    InvalidFieldName { field: String },
    /// A free-form input has more than [`MAX_FREE_FORM_FIELDS`](super::MAX_FREE_FORM_FIELDS) fields. HTTP 422, not
    /// retryable.
    #[error("too many fields (at most {max})")]
    TooManyFields { max: usize },
    /// A free-form input lists a public field that it does not supply. HTTP 422, not
    /// retryable.
    #[error("public_fields names {field}, which is not supplied")]
    PublicFieldNotSupplied { field: String },
    /// A free-form input has no fields at all. HTTP 422, not retryable.
    #[error("no fields supplied")]
    NoFields,
}

fn when_suffix(condition: &Option<String>) -> String {
    match condition {
        Some(c) => format!(" when {c}"),
        None => String::new(),
    }
}

impl TemplateError {
    /// The field this error is about, for an HTTP layer's JSON error body.
    pub fn field(&self) -> Option<&str> {
        match self {
            TemplateError::UnknownField { field }
            | TemplateError::Missing { field, .. }
            | TemplateError::NotApplicable { field, .. }
            | TemplateError::WrongType { field, .. }
            | TemplateError::NotAnOption { field, .. }
            | TemplateError::Empty { field }
            | TemplateError::TooLong { field, .. }
            | TemplateError::InvalidJson { field, .. }
            | TemplateError::InvalidFieldName { field }
            | TemplateError::PublicFieldNotSupplied { field } => Some(field),
            TemplateError::UnknownTemplate { .. }
            | TemplateError::InvalidTemplate { .. }
            | TemplateError::TooManyFields { .. }
            | TemplateError::NoFields => None,
        }
    }

    /// A stable machine-readable code for the error kind.
    pub fn code(&self) -> &'static str {
        match self {
            TemplateError::UnknownTemplate { .. } => "unknown_template",
            TemplateError::InvalidTemplate { .. } => "invalid_template",
            TemplateError::UnknownField { .. } => "unknown_field",
            TemplateError::Missing { .. } => "missing",
            TemplateError::NotApplicable { .. } => "not_applicable",
            TemplateError::WrongType { .. } => "wrong_type",
            TemplateError::NotAnOption { .. } => "not_an_option",
            TemplateError::Empty { .. } => "empty",
            TemplateError::TooLong { .. } => "too_long",
            TemplateError::InvalidJson { .. } => "invalid_json",
            TemplateError::InvalidFieldName { .. } => "invalid_field_name",
            TemplateError::TooManyFields { .. } => "too_many_fields",
            TemplateError::PublicFieldNotSupplied { .. } => "public_field_not_supplied",
            TemplateError::NoFields => "no_fields",
        }
    }
}

/// Makes a name taken from input safe to show: at most 64 characters, control
/// characters replaced by `?`.
pub(super) fn sanitize(name: &str) -> String {
    let mut out: String = name
        .chars()
        .take(64)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if name.chars().count() > 64 {
        out.push('…');
    }
    out
}
