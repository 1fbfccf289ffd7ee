//! The definition types of a template: [`Template`], its [`FieldSpec`]s and their
//! [`Condition`]s, as read from `schemas/templates/*.json`.
//!
//! **Invariant:** a [`Template`] built by [`Template::from_json`] has passed the checks of
//! `check`; plain deserialization does not run them, so nothing outside this module
//! deserializes a template directly.

use super::probe::VerifySpec;
use super::TemplateError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

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

/// The group a template belongs to, for a console that lists credentials by kind of
/// service. In JSON one of the lowercase names; `generic` when absent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// Hypervisors and their management APIs (Proxmox, vSphere, Hyper-V).
    Virtualization,
    /// Cloud providers (AWS, Azure, Google Cloud, Vultr).
    Cloud,
    /// AI services (OpenAI, Anthropic, LangSmith).
    Ai,
    /// Container platforms and registries (Kubernetes, Docker).
    Containers,
    /// Databases (PostgreSQL, connection strings).
    Databases,
    /// Monitoring (Prometheus, Grafana).
    Monitoring,
    /// Everything else: API keys, tokens, logins, free-form.
    #[default]
    Generic,
}

impl Category {
    /// Every category, in the order a console shows them.
    pub const ALL: [Category; 7] = [
        Category::Virtualization,
        Category::Cloud,
        Category::Ai,
        Category::Containers,
        Category::Databases,
        Category::Monitoring,
        Category::Generic,
    ];

    /// The name used in JSON.
    pub fn as_str(&self) -> &'static str {
        match self {
            Category::Virtualization => "virtualization",
            Category::Cloud => "cloud",
            Category::Ai => "ai",
            Category::Containers => "containers",
            Category::Databases => "databases",
            Category::Monitoring => "monitoring",
            Category::Generic => "generic",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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
}

/// A service template. Build it with [`Template::from_json`] (or take it from a
/// [`Catalog`](super::Catalog)), which checks the definition; plain deserialization does not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// The identifier: `[a-z][a-z0-9_]*`, equal to the file stem for builtins.
    pub name: String,
    pub title: String,
    /// What the template is for and how (or whether) it is verified.
    pub description: String,
    /// The group a console lists it under; `generic` when absent. Always serialized.
    #[serde(default)]
    pub category: Category,
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
}
