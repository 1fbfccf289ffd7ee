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
mod tests;
