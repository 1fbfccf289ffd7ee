//! Service templates: what fields a credential of a given kind has, and the validation of
//! user input against them.
//!
//! A template is JSON data in `schemas/templates/<name>.json`, embedded at compile time
//! and parsed once into the [`Catalog`]. Each one lists typed fields (text, secret, select,
//! json, file), which may be required, have a default, depend on a select (`when`) and map
//! to an environment variable (`env`), and optionally a connection test (`verify`, run by
//! [`crate::verify`]). The `custom` template is free-form (see [`Template::validate`]).
//!
//! **Invariants:**
//! - Template definitions are checked when loaded: conditions name an earlier select field
//!   and one of its options, defaults are valid, `{{field}}` placeholders in connection
//!   tests name existing fields that are present whenever the test runs. A template that
//!   fails these checks is never in a catalog.
//! - [`Template::validate`] splits a valid input into public and secret values. Secret
//!   values only ever live in [`zeroize::Zeroizing`] strings inside [`Validated`], whose
//!   `Debug` prints `[REDACTED]` for them.
//! - No error of this module contains a supplied value: errors name fields, conditions and
//!   a template's own options only. Field and template names taken from input are
//!   truncated to 64 characters and stripped of control characters before they appear in
//!   an error.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::OnceLock;
use thiserror::Error;
use zeroize::Zeroizing;

/// The longest accepted value of one field, in bytes (after JSON compaction for json
/// fields).
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// The most fields a free-form (`custom`) credential may have.
pub const MAX_FREE_FORM_FIELDS: usize = 64;

/// The key of a free-form input that lists which of its fields are public.
pub const PUBLIC_FIELDS_KEY: &str = "public_fields";

/// The builtin templates by file stem. A unit test checks that every file in
/// `schemas/templates/` is listed here and that its `name` equals its stem.
const BUILTIN: &[(&str, &str)] = &[
    (
        "anthropic",
        include_str!("../schemas/templates/anthropic.json"),
    ),
    ("api_key", include_str!("../schemas/templates/api_key.json")),
    ("aws", include_str!("../schemas/templates/aws.json")),
    ("azure", include_str!("../schemas/templates/azure.json")),
    (
        "bearer_token",
        include_str!("../schemas/templates/bearer_token.json"),
    ),
    ("custom", include_str!("../schemas/templates/custom.json")),
    ("db_dsn", include_str!("../schemas/templates/db_dsn.json")),
    ("gcp", include_str!("../schemas/templates/gcp.json")),
    ("github", include_str!("../schemas/templates/github.json")),
    (
        "http_basic",
        include_str!("../schemas/templates/http_basic.json"),
    ),
    (
        "kubernetes",
        include_str!("../schemas/templates/kubernetes.json"),
    ),
    ("openai", include_str!("../schemas/templates/openai.json")),
    (
        "postgres",
        include_str!("../schemas/templates/postgres.json"),
    ),
    ("proxmox", include_str!("../schemas/templates/proxmox.json")),
    ("ssh", include_str!("../schemas/templates/ssh.json")),
    ("vultr", include_str!("../schemas/templates/vultr.json")),
];

/// Why a template lookup, a template definition or an input was rejected.
///
/// No variant carries a supplied value; names taken from input are sanitized.
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
    /// A value is longer than [`MAX_VALUE_BYTES`]. HTTP 422 (or 413), not retryable.
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
    /// A free-form input has more than [`MAX_FREE_FORM_FIELDS`] fields. HTTP 422, not
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
fn sanitize(name: &str) -> String {
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

/// The kind of value a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    /// A public single-line string.
    Text,
    /// A secret string.
    Secret,
    /// One of the field's `options`; always public.
    Select,
    /// Any JSON value, stored as its compact text. Secret if the field says `secret`.
    Json,
    /// Text content such as a key or a config file. Secret if the field says `secret`.
    File,
}

/// How a field's `env` variable is filled by an `exec`-style consumer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EnvMode {
    /// The variable holds the value itself.
    #[default]
    Value,
    /// The value is written to a private temporary file and the variable holds its path
    /// (as `KUBECONFIG` and `GOOGLE_APPLICATION_CREDENTIALS` expect).
    File,
}

impl EnvMode {
    fn is_value(&self) -> bool {
        *self == EnvMode::Value
    }
}

/// A field or probe applies only when a select field has a given value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// The select field tested.
    pub field: String,
    /// The option that makes the condition hold.
    pub equals: String,
}

impl Condition {
    /// Whether the condition holds for these public values (selects are always public).
    pub fn holds(&self, public: &BTreeMap<String, String>) -> bool {
        public.get(&self.field) == Some(&self.equals)
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.field, self.equals)
    }
}

/// One field of a template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// The key in input and storage: `[a-z][a-z0-9_]*`.
    pub name: String,
    /// The label shown to people; the name when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// Whether a value must be present (when the field's condition holds).
    #[serde(default, skip_serializing_if = "is_false")]
    pub required: bool,
    /// Marks a json or file field as secret; the `secret` type always is.
    #[serde(default, skip_serializing_if = "is_false")]
    pub secret: bool,
    /// The allowed values of a select field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    /// The value used when none is supplied. Not allowed on secret fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// The field exists only when this condition holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<Condition>,
    /// The environment variable this field maps to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// How `env` is filled.
    #[serde(default, skip_serializing_if = "EnvMode::is_value")]
    pub env_mode: EnvMode,
    /// An example value for forms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placeholder: Option<String>,
    /// A help text for forms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl FieldSpec {
    /// Whether the value is stored encrypted and never shown.
    pub fn is_secret(&self) -> bool {
        self.field_type == FieldType::Secret || self.secret
    }

    /// The label, or the name when the template gives none.
    pub fn label(&self) -> &str {
        self.label.as_deref().unwrap_or(&self.name)
    }

    fn err_wrong_type(&self, expected: &'static str) -> TemplateError {
        TemplateError::WrongType {
            field: self.name.clone(),
            expected,
        }
    }

    /// Turns one supplied (non-null) value into its stored string. `Ok(None)` means an
    /// empty value of an optional field, which counts as absent.
    fn convert(&self, value: &Value) -> Result<Option<Zeroizing<String>>, TemplateError> {
        let s = match (self.field_type, value) {
            (_, Value::String(s)) if s.is_empty() => {
                return if self.required {
                    Err(TemplateError::Empty {
                        field: self.name.clone(),
                    })
                } else {
                    Ok(None)
                };
            }
            (_, Value::String(s)) if s.len() > MAX_VALUE_BYTES => {
                return Err(self.too_long());
            }
            (FieldType::Json, Value::String(s)) => {
                let parsed: Value =
                    serde_json::from_str(s).map_err(|e| TemplateError::InvalidJson {
                        field: self.name.clone(),
                        line: e.line(),
                        column: e.column(),
                    })?;
                Zeroizing::new(parsed.to_string())
            }
            (FieldType::Json, other) => Zeroizing::new(other.to_string()),
            (FieldType::Secret | FieldType::File, Value::String(s)) => Zeroizing::new(s.clone()),
            (FieldType::Secret | FieldType::File, _) => return Err(self.err_wrong_type("a string")),
            (FieldType::Text | FieldType::Select, v) => match scalar_to_string(v) {
                Some(s) => Zeroizing::new(s),
                None => return Err(self.err_wrong_type("a string, number or boolean")),
            },
        };
        if s.len() > MAX_VALUE_BYTES {
            return Err(self.too_long());
        }
        if self.field_type == FieldType::Select && !self.options.contains(&*s) {
            return Err(TemplateError::NotAnOption {
                field: self.name.clone(),
                allowed: self.options.clone(),
            });
        }
        Ok(Some(s))
    }

    fn too_long(&self) -> TemplateError {
        TemplateError::TooLong {
            field: self.name.clone(),
            max: MAX_VALUE_BYTES,
        }
    }
}

/// A string, number or boolean as a string; `None` for other JSON values.
fn scalar_to_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Where a probe puts the credential. Every string may hold `{{field}}` placeholders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum AuthPlacement {
    /// `Authorization: Bearer <value>`.
    Bearer(String),
    /// A header with this name and value.
    Header { name: String, value: String },
    /// HTTP Basic authentication.
    Basic { username: String, password: String },
    /// A query parameter with this name and value.
    Query { name: String, value: String },
}

/// The method of an HTTP probe.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    #[default]
    Get,
    Head,
    Post,
}

/// A connection test by HTTP request: it passes when the status is in `expect_status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpProbe {
    /// The probe runs only when this holds (the first applicable probe runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<Condition>,
    #[serde(default)]
    pub method: HttpMethod,
    /// The URL, usually built from a public `base_url` or `host` field.
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthPlacement>,
    /// Extra request headers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// A form body (`application/x-www-form-urlencoded`); none when empty.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub form: BTreeMap<String, String>,
    /// The statuses that mean success.
    #[serde(default = "default_expect_status")]
    pub expect_status: Vec<u16>,
    /// The timeout; 10 s when absent, capped at 30 s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Certificates are not checked when this holds (self-signed Proxmox, test clusters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_tls_verify_when: Option<Condition>,
}

fn default_expect_status() -> Vec<u16> {
    vec![200]
}

/// A connection test by TCP connect: it passes when the connection is accepted. It says
/// nothing about the credential's validity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpProbe {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<Condition>,
    pub host: String,
    pub port: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

/// One connection test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Probe {
    Http(HttpProbe),
    Tcp(TcpProbe),
}

impl Probe {
    /// The probe's condition.
    pub fn when(&self) -> Option<&Condition> {
        match self {
            Probe::Http(p) => p.when.as_ref(),
            Probe::Tcp(p) => p.when.as_ref(),
        }
    }

    /// Every placeholder-bearing string of the probe.
    fn strings(&self) -> Vec<&str> {
        match self {
            Probe::Http(p) => {
                let mut v = vec![p.url.as_str()];
                match &p.auth {
                    Some(AuthPlacement::Bearer(t)) => v.push(t),
                    Some(
                        AuthPlacement::Header { name, value }
                        | AuthPlacement::Query { name, value },
                    ) => {
                        v.push(name);
                        v.push(value);
                    }
                    Some(AuthPlacement::Basic { username, password }) => {
                        v.push(username);
                        v.push(password);
                    }
                    None => {}
                }
                for (k, val) in p.headers.iter().chain(p.form.iter()) {
                    v.push(k);
                    v.push(val);
                }
                v
            }
            Probe::Tcp(p) => vec![p.host.as_str(), p.port.as_str()],
        }
    }
}

/// A template's connection tests: the first probe whose `when` holds (or that has none)
/// runs. In JSON it is an array of probes, each tagged by `kind` (`http` or `tcp`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VerifySpec {
    pub probes: Vec<Probe>,
}

impl VerifySpec {
    /// The probe that applies to a credential with these public values, if any.
    pub fn select(&self, public: &BTreeMap<String, String>) -> Option<&Probe> {
        self.probes
            .iter()
            .find(|p| p.when().is_none_or(|c| c.holds(public)))
    }
}

/// A piece of a string with placeholders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Segment<'a> {
    Literal(&'a str),
    Field(&'a str),
}

/// Splits `s` at `{{field}}` placeholders. Errors describe the template, never a value.
pub(crate) fn segments(s: &str) -> Result<Vec<Segment<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            out.push(Segment::Literal(&rest[..start]));
        }
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("unclosed placeholder in {s:?}"))?;
        let name = &after[..end];
        if !is_field_name(name) {
            return Err(format!("invalid placeholder {{{{{name}}}}}"));
        }
        out.push(Segment::Field(name));
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        out.push(Segment::Literal(rest));
    }
    Ok(out)
}

fn is_field_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z'))
        && s.len() <= 64
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
}

fn is_env_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('A'..='Z' | '_'))
        && chars.all(|c| matches!(c, 'A'..='Z' | '0'..='9' | '_'))
}

fn is_free_form_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('A'..='Z' | 'a'..='z' | '_'))
        && s.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && s != PUBLIC_FIELDS_KEY
}

/// The outcome of a successful validation: every stored value, split by secrecy.
///
/// `Debug` shows public values and only the names of secret ones.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Validated {
    pub public: BTreeMap<String, String>,
    pub secret: BTreeMap<String, Zeroizing<String>>,
}

impl fmt::Debug for Validated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Redacted<'a>(&'a BTreeMap<String, Zeroizing<String>>);
        impl fmt::Debug for Redacted<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_map()
                    .entries(self.0.keys().map(|k| (k, "[REDACTED]")))
                    .finish()
            }
        }
        f.debug_struct("Validated")
            .field("public", &self.public)
            .field("secret", &Redacted(&self.secret))
            .finish()
    }
}

/// A service template. Build it with [`Template::from_json`] (or take it from a
/// [`Catalog`]), which checks the definition; plain deserialization does not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// The identifier: `[a-z][a-z0-9_]*`, equal to the file stem for builtins.
    pub name: String,
    pub title: String,
    /// What the template is for and how (or whether) it is verified.
    pub description: String,
    /// The fields in form order; a condition only refers to an earlier field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<VerifySpec>,
    /// Free-form: no declared fields, any field names accepted (the `custom` template).
    #[serde(default, skip_serializing_if = "is_false")]
    pub free_form: bool,
}

impl Template {
    /// Parses and checks one template definition.
    pub fn from_json(src: &str) -> Result<Template, TemplateError> {
        let t: Template =
            serde_json::from_str(src).map_err(|e| TemplateError::InvalidTemplate {
                template: "(unparsed)".into(),
                reason: e.to_string(),
            })?;
        t.check().map_err(|reason| TemplateError::InvalidTemplate {
            template: t.name.clone(),
            reason,
        })?;
        Ok(t)
    }

    /// The field with this name.
    pub fn field(&self, name: &str) -> Option<&FieldSpec> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// `(field, environment variable)` for every field that maps to one, in field order.
    pub fn env_names(&self) -> Vec<(&str, &str)> {
        self.fields
            .iter()
            .filter_map(|f| f.env.as_deref().map(|e| (f.name.as_str(), e)))
            .collect()
    }

    /// Validates the input of a new credential (or of a full replacement).
    ///
    /// Declared templates: every key must be a field; `null` counts as absent; an empty
    /// string is an error for a required field and counts as absent for an optional one;
    /// defaults fill absent fields; a field whose `when` does not hold must be absent.
    /// Text and select fields take strings, numbers or booleans (the latter two are
    /// stored as their JSON text, so `22` becomes `"22"` and `false` becomes `"false"`);
    /// secret and file fields take strings only; json fields take any value, where a
    /// string is parsed as JSON text, and store it compact.
    ///
    /// Free-form templates (`custom`): any field names matching
    /// `[A-Za-z_][A-Za-z0-9_.-]*` (at most 64 characters, at most 64 fields, at least one);
    /// the optional key `public_fields` is an array of supplied names whose values are
    /// public (strings, numbers or booleans); every other value is secret and must be a
    /// non-empty string.
    pub fn validate(&self, input: &Map<String, Value>) -> Result<Validated, TemplateError> {
        self.validate_inner(input, None)
    }

    /// Validates the input of a rotation: like [`Template::validate`], but a public field
    /// whose key is absent from the input keeps its value from `previous_public` (a key
    /// present with `null` or `""` clears it instead). Secret fields are never carried
    /// over: they must be supplied again. Carried values that no longer apply (their
    /// condition fails, or the field is gone from the template) are dropped silently.
    pub fn validate_update(
        &self,
        previous_public: &BTreeMap<String, String>,
        input: &Map<String, Value>,
    ) -> Result<Validated, TemplateError> {
        self.validate_inner(input, Some(previous_public))
    }

    fn validate_inner(
        &self,
        input: &Map<String, Value>,
        inherited: Option<&BTreeMap<String, String>>,
    ) -> Result<Validated, TemplateError> {
        if self.free_form {
            return validate_free_form(input, inherited);
        }
        if let Some(key) = input.keys().find(|k| self.field(k).is_none()) {
            return Err(TemplateError::UnknownField {
                field: sanitize(key),
            });
        }
        let mut out = Validated::default();
        for f in &self.fields {
            let supplied = input.get(&f.name);
            let applies = f.when.as_ref().is_none_or(|c| c.holds(&out.public));
            if !applies {
                if supplied.is_some_and(|v| !v.is_null()) {
                    return Err(TemplateError::NotApplicable {
                        field: f.name.clone(),
                        condition: f.when.as_ref().map(|c| c.to_string()).unwrap_or_default(),
                    });
                }
                continue;
            }
            let mut value = match supplied {
                Some(Value::Null) | None => None,
                Some(v) => f.convert(v)?,
            };
            if supplied.is_none() && !f.is_secret() {
                if let Some(prev) = inherited.and_then(|p| p.get(&f.name)) {
                    value = f.convert(&Value::String(prev.clone()))?;
                }
            }
            if value.is_none() {
                if let Some(d) = &f.default {
                    value = f.convert(&Value::String(d.clone()))?;
                }
            }
            match value {
                Some(v) if f.is_secret() => {
                    out.secret.insert(f.name.clone(), v);
                }
                Some(v) => {
                    out.public.insert(f.name.clone(), v.to_string());
                }
                None if f.required => {
                    return Err(TemplateError::Missing {
                        field: f.name.clone(),
                        condition: f.when.as_ref().map(|c| c.to_string()),
                    });
                }
                None => {}
            }
        }
        Ok(out)
    }

    /// Checks the definition; the error is a reason naming the offending part.
    fn check(&self) -> Result<(), String> {
        if !is_field_name(&self.name) {
            return Err("name must be [a-z][a-z0-9_]*".into());
        }
        if self.title.trim().is_empty() || self.description.trim().is_empty() {
            return Err("title and description must not be empty".into());
        }
        if self.free_form {
            if !self.fields.is_empty() || self.verify.is_some() {
                return Err("a free-form template has no fields and no verify".into());
            }
            return Ok(());
        }
        if self.fields.is_empty() {
            return Err("a template needs at least one field".into());
        }
        let mut envs = BTreeSet::new();
        for (i, f) in self.fields.iter().enumerate() {
            self.check_field(i, f)
                .map_err(|r| format!("field {}: {r}", f.name))?;
            if let Some(env) = &f.env {
                if !envs.insert(env.as_str()) {
                    return Err(format!("field {}: env {env} is used twice", f.name));
                }
            }
        }
        if let Some(spec) = &self.verify {
            if spec.probes.is_empty() {
                return Err("verify needs at least one probe".into());
            }
            for (i, p) in spec.probes.iter().enumerate() {
                self.check_probe(p)
                    .map_err(|r| format!("verify[{i}]: {r}"))?;
            }
        }
        Ok(())
    }

    fn check_field(&self, index: usize, f: &FieldSpec) -> Result<(), String> {
        if !is_field_name(&f.name) {
            return Err("name must be [a-z][a-z0-9_]* of at most 64 characters".into());
        }
        if self.fields[..index].iter().any(|g| g.name == f.name) {
            return Err("duplicate name".into());
        }
        if f.field_type == FieldType::Select {
            if f.options.is_empty() {
                return Err("a select needs options".into());
            }
            let unique: BTreeSet<_> = f.options.iter().collect();
            if unique.len() != f.options.len() || f.options.iter().any(|o| o.is_empty()) {
                return Err("options must be unique and non-empty".into());
            }
        } else if !f.options.is_empty() {
            return Err("only a select has options".into());
        }
        if f.secret && !matches!(f.field_type, FieldType::Json | FieldType::File) {
            return Err("\"secret\": true is only for json and file fields".into());
        }
        if let Some(d) = &f.default {
            if f.is_secret() {
                return Err("a secret field has no default".into());
            }
            let probe = FieldSpec {
                required: true,
                ..f.clone()
            };
            probe
                .convert(&Value::String(d.clone()))
                .map_err(|e| format!("invalid default ({e})"))?;
        }
        if let Some(c) = &f.when {
            let earlier = &self.fields[..index];
            let target = earlier.iter().find(|g| g.name == c.field).ok_or_else(|| {
                format!(
                    "condition refers to {}, which is not an earlier field",
                    c.field
                )
            })?;
            check_condition_target(target, c)?;
        }
        if let Some(env) = &f.env {
            if !is_env_name(env) {
                return Err("env must be [A-Z_][A-Z0-9_]*".into());
            }
        } else if f.env_mode != EnvMode::Value {
            return Err("env_mode needs env".into());
        }
        Ok(())
    }

    fn check_condition(&self, c: &Condition) -> Result<&FieldSpec, String> {
        let target = self
            .field(&c.field)
            .ok_or_else(|| format!("condition refers to unknown field {}", c.field))?;
        check_condition_target(target, c)?;
        Ok(target)
    }

    fn check_probe(&self, p: &Probe) -> Result<(), String> {
        let when = p.when();
        if let Some(c) = when {
            self.check_condition(c)?;
        }
        // A field used by the probe must exist whenever the probe runs: it is either
        // unconditional or has exactly the probe's condition.
        let present_with_probe = |f: &FieldSpec| f.when.is_none() || f.when.as_ref() == when;
        let mut uses_secret = false;
        for s in p.strings() {
            for seg in segments(s)? {
                if let Segment::Field(name) = seg {
                    let f = self
                        .field(name)
                        .ok_or_else(|| format!("placeholder {{{{{name}}}}} is not a field"))?;
                    if !present_with_probe(f) {
                        return Err(format!(
                            "placeholder {{{{{name}}}}} is conditional but the probe is not under the same condition"
                        ));
                    }
                    uses_secret |= f.is_secret();
                }
            }
        }
        match p {
            Probe::Http(h) => {
                if let Some(c) = &h.skip_tls_verify_when {
                    let f = self.check_condition(c)?;
                    if !present_with_probe(f) {
                        return Err(format!(
                            "skip_tls_verify_when refers to {}, which is not always present with the probe",
                            f.name
                        ));
                    }
                }
                if h.expect_status.is_empty()
                    || h.expect_status.iter().any(|s| !(100..=599).contains(s))
                {
                    return Err("expect_status needs statuses in 100..=599".into());
                }
                if h.timeout_ms == Some(0) {
                    return Err("timeout_ms must be positive".into());
                }
                if !uses_secret {
                    return Err("an http probe must use a secret field".into());
                }
            }
            Probe::Tcp(t) => {
                if t.timeout_ms == Some(0) {
                    return Err("timeout_ms must be positive".into());
                }
            }
        }
        Ok(())
    }
}

fn check_condition_target(target: &FieldSpec, c: &Condition) -> Result<(), String> {
    if target.field_type != FieldType::Select {
        return Err(format!(
            "condition refers to {}, which is not a select",
            c.field
        ));
    }
    if !target.options.contains(&c.equals) {
        return Err(format!(
            "condition value {} is not an option of {}",
            c.equals, c.field
        ));
    }
    Ok(())
}

/// Validation for free-form templates; see [`Template::validate`].
fn validate_free_form(
    input: &Map<String, Value>,
    inherited: Option<&BTreeMap<String, String>>,
) -> Result<Validated, TemplateError> {
    let public_names: BTreeSet<&str> = match input.get(PUBLIC_FIELDS_KEY) {
        None | Some(Value::Null) => BTreeSet::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str())
            .collect::<Option<_>>()
            .ok_or(TemplateError::WrongType {
                field: PUBLIC_FIELDS_KEY.into(),
                expected: "an array of field names",
            })?,
        Some(_) => {
            return Err(TemplateError::WrongType {
                field: PUBLIC_FIELDS_KEY.into(),
                expected: "an array of field names",
            })
        }
    };
    let mut out = Validated::default();
    for (key, value) in input {
        if key == PUBLIC_FIELDS_KEY {
            continue;
        }
        if !is_free_form_name(key) {
            return Err(TemplateError::InvalidFieldName {
                field: sanitize(key),
            });
        }
        let public = public_names.contains(key.as_str());
        let s = match value {
            Value::Null => continue,
            Value::String(s) => {
                if s.len() > MAX_VALUE_BYTES {
                    return Err(TemplateError::TooLong {
                        field: key.clone(),
                        max: MAX_VALUE_BYTES,
                    });
                }
                Zeroizing::new(s.clone())
            }
            v if public => match scalar_to_string(v) {
                Some(s) => Zeroizing::new(s),
                None => {
                    return Err(TemplateError::WrongType {
                        field: key.clone(),
                        expected: "a string, number or boolean",
                    })
                }
            },
            _ => {
                return Err(TemplateError::WrongType {
                    field: key.clone(),
                    expected: "a string",
                })
            }
        };
        if s.is_empty() {
            return Err(TemplateError::Empty { field: key.clone() });
        }
        if public {
            out.public.insert(key.clone(), s.to_string());
        } else {
            out.secret.insert(key.clone(), s);
        }
    }
    if let Some(prev) = inherited {
        for (k, v) in prev {
            if !input.contains_key(k) && is_free_form_name(k) {
                out.public.insert(k.clone(), v.clone());
            }
        }
    }
    if let Some(name) = public_names
        .iter()
        .find(|n| !out.public.contains_key(**n) && !input.get(**n).is_some_and(Value::is_null))
    {
        return Err(TemplateError::PublicFieldNotSupplied {
            field: sanitize(name),
        });
    }
    let count = out.public.len() + out.secret.len();
    if count == 0 {
        return Err(TemplateError::NoFields);
    }
    if count > MAX_FREE_FORM_FIELDS {
        return Err(TemplateError::TooManyFields {
            max: MAX_FREE_FORM_FIELDS,
        });
    }
    Ok(out)
}

/// A set of templates by name.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    templates: BTreeMap<String, Template>,
}

impl Catalog {
    /// The builtin templates, parsed and checked on first use.
    ///
    /// # Panics
    ///
    /// If a builtin template is invalid; the unit tests load every builtin, so this
    /// cannot happen in a tested build.
    pub fn builtin() -> &'static Catalog {
        static CATALOG: OnceLock<Catalog> = OnceLock::new();
        CATALOG.get_or_init(|| {
            Catalog::from_sources(BUILTIN.iter().map(|(_, src)| *src))
                .unwrap_or_else(|e| panic!("builtin templates: {e}"))
        })
    }

    /// A catalog of these template definitions; names must be unique.
    pub fn from_sources<'a>(
        sources: impl IntoIterator<Item = &'a str>,
    ) -> Result<Catalog, TemplateError> {
        let mut templates = BTreeMap::new();
        for src in sources {
            let t = Template::from_json(src)?;
            if templates.contains_key(&t.name) {
                return Err(TemplateError::InvalidTemplate {
                    template: t.name,
                    reason: "defined twice".into(),
                });
            }
            templates.insert(t.name.clone(), t);
        }
        Ok(Catalog { templates })
    }

    /// The template with this name.
    pub fn get(&self, name: &str) -> Result<&Template, TemplateError> {
        self.templates
            .get(name)
            .ok_or_else(|| TemplateError::UnknownTemplate {
                name: sanitize(name),
            })
    }

    /// Every template, by name.
    pub fn iter(&self) -> impl Iterator<Item = &Template> {
        self.templates.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A distinctive secret; no error or debug output may ever contain it.
    const SECRET: &str = "SeKrEt-7f3a9c-do-not-leak";

    /// What a [`check`] expects.
    #[derive(Clone, Copy, Debug)]
    enum Expect {
        Pass,
        Fail {
            code: &'static str,
            field: Option<&'static str>,
            message: &'static str,
        },
    }

    fn fail(code: &'static str, field: Option<&'static str>, message: &'static str) -> Expect {
        Expect::Fail {
            code,
            field,
            message,
        }
    }

    /// Every string inside a JSON value.
    fn strings(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
            Value::Object(o) => o.values().for_each(|v| strings(v, out)),
            _ => {}
        }
    }

    /// Validates `input` against the builtin `template` and checks the result against
    /// `expect`. Always checks that no supplied value (other than the template's own
    /// option names and very short strings) shows up in an error, and that no secret
    /// value shows up in the `Debug` of the result.
    fn check(template: &str, input: Value, expect: Expect) -> Option<Validated> {
        let t = Catalog::builtin().get(template).unwrap();
        let map = input.as_object().expect("input must be an object").clone();
        let result = t.validate(&map);
        check_result(t, &input, result, expect)
    }

    fn check_result(
        t: &Template,
        input: &Value,
        result: Result<Validated, TemplateError>,
        expect: Expect,
    ) -> Option<Validated> {
        let mut supplied = Vec::new();
        strings(input, &mut supplied);
        let options: BTreeSet<&str> = t
            .fields
            .iter()
            .flat_map(|f| f.options.iter().map(String::as_str))
            .collect();
        let sensitive: Vec<&String> = supplied
            .iter()
            .filter(|s| s.len() >= 5 && !options.contains(s.as_str()))
            .collect();
        match (result, expect) {
            (Ok(v), Expect::Pass) => {
                let debug = format!("{v:?}");
                for s in v.secret.values() {
                    assert!(!debug.contains(s.as_str()), "{}: secret in Debug", t.name);
                }
                assert!(!debug.contains(SECRET), "{}: secret in Debug", t.name);
                Some(v)
            }
            (
                Err(e),
                Expect::Fail {
                    code,
                    field,
                    message,
                },
            ) => {
                let (display, debug) = (e.to_string(), format!("{e:?}"));
                assert_eq!(e.code(), code, "{}: {input} gave {display}", t.name);
                assert_eq!(e.field(), field, "{}: {input} gave {display}", t.name);
                assert!(
                    display.contains(message),
                    "{}: {input}: {display:?} lacks {message:?}",
                    t.name
                );
                for s in sensitive {
                    assert!(
                        !display.contains(s.as_str()),
                        "{}: value in {display}",
                        t.name
                    );
                    assert!(!debug.contains(s.as_str()), "{}: value in {debug}", t.name);
                }
                None
            }
            (got, want) => panic!("{}: {input}: expected {want:?}, got {got:?}", t.name),
        }
    }

    fn minimal_inputs() -> Vec<(&'static str, Value)> {
        vec![
            ("anthropic", json!({"api_key": SECRET})),
            ("api_key", json!({"api_key": SECRET})),
            (
                "aws",
                json!({"access_key_id": "AKIAEXAMPLE", "secret_access_key": SECRET}),
            ),
            (
                "azure",
                json!({"tenant_id": "t-1", "client_id": "c-1", "client_secret": SECRET}),
            ),
            ("bearer_token", json!({"token": SECRET})),
            ("custom", json!({"anything": SECRET})),
            (
                "db_dsn",
                json!({"dsn": format!("postgres://u:{SECRET}@db/app")}),
            ),
            (
                "gcp",
                json!({"service_account_json": {"type": "service_account", "private_key": SECRET}}),
            ),
            ("github", json!({"token": SECRET})),
            (
                "http_basic",
                json!({"username": "alice", "password": SECRET}),
            ),
            (
                "kubernetes",
                json!({"kubeconfig": format!("apiVersion: v1\ntoken: {SECRET}\n")}),
            ),
            ("openai", json!({"api_key": SECRET})),
            (
                "postgres",
                json!({"host": "db.example", "database": "app", "username": "app", "password": SECRET}),
            ),
            (
                "proxmox",
                json!({"host": "https://pve.example:8006", "token_name": "root@pam!ci", "token_value": SECRET}),
            ),
            (
                "ssh",
                json!({"host": "server.example", "username": "root", "private_key": SECRET}),
            ),
            ("vultr", json!({"api_key": SECRET})),
        ]
    }

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
                fail("wrong_type", Some("private_key"), "private_key must be a string"),
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
                fail("too_long", Some("kubeconfig"), "kubeconfig exceeds 65536 bytes"),
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
                fail("invalid_field_name", Some("bad name!"), "invalid field name"),
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
}
