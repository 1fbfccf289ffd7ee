//! Validation of user input against a template: [`Template::validate`] and
//! [`Template::validate_update`], and the free-form rules of the `custom` template.
//!
//! **Invariants:**
//! - A valid input is split into public and secret values; secret values only ever live
//!   in [`Zeroizing`] strings inside [`Validated`], whose `Debug` prints `[REDACTED]` for
//!   them.
//! - No error contains a supplied value; names taken from input are sanitized.

use super::error::sanitize;
use super::{
    FieldSpec, FieldType, Template, TemplateError, MAX_FREE_FORM_FIELDS, MAX_VALUE_BYTES,
    PUBLIC_FIELDS_KEY,
};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use zeroize::Zeroizing;

impl FieldSpec {
    fn err_wrong_type(&self, expected: &'static str) -> TemplateError {
        TemplateError::WrongType {
            field: self.name.clone(),
            expected,
        }
    }

    /// Turns one supplied (non-null) value into its stored string. `Ok(None)` means an
    /// empty value of an optional field, which counts as absent.
    pub(super) fn convert(
        &self,
        value: &Value,
    ) -> Result<Option<Zeroizing<String>>, TemplateError> {
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

impl Template {
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

/// The most keys one version of Vault KV data may have.
pub const MAX_KV_KEYS: usize = 1024;

/// The longest key of Vault KV data, in bytes.
pub const MAX_KV_KEY_BYTES: usize = 1024;

/// Checks the data of a Vault KV write (free-form, every value secret): any JSON value
/// under any non-empty key of at most [`MAX_KV_KEY_BYTES`] bytes without control
/// characters, at most [`MAX_KV_KEYS`] keys; `{}` is allowed. The size of the values is
/// bounded by the request body limit and the sealed payload's. Errors name no value.
pub fn check_kv_data(data: &crate::secret::SecretFields) -> Result<(), TemplateError> {
    if data.0.len() > MAX_KV_KEYS {
        return Err(TemplateError::TooManyFields { max: MAX_KV_KEYS });
    }
    for key in data.0.keys() {
        if key.is_empty() || key.chars().any(char::is_control) {
            return Err(TemplateError::InvalidFieldName {
                field: sanitize(key),
            });
        }
        if key.len() > MAX_KV_KEY_BYTES {
            return Err(TemplateError::TooLong {
                field: sanitize(key),
                max: MAX_KV_KEY_BYTES,
            });
        }
    }
    Ok(())
}
