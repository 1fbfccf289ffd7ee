//! The rule of a partial rotation ("update without the secrets"): the fields a caller
//! gives replace the current version's; every other field, public or secret, is carried
//! over from the current version, and the whole is validated against the template like
//! a new credential's input.
//!
//! A key given as `null` clears that field. A carried field whose condition no longer
//! holds (a select changed) is dropped; a *given* one is an error, as on create.
//!
//! **Invariant:** carried secret values never enter a JSON value or an error: the
//! validation sees a placeholder in their place (they passed validation when they were
//! stored), and the placeholder is replaced by the carried [`Zeroizing`] value in the
//! result.

use crate::template::{FieldType, Template, TemplateError, Validated, PUBLIC_FIELDS_KEY};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use zeroize::Zeroizing;

/// Stands for a carried secret during validation: valid for every secret field type
/// (secret and file strings, and json text).
const PLACEHOLDER: &str = "0";

/// A select value as the condition of a later field sees it.
fn as_select(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A validated partial rotation.
#[derive(Debug)]
pub struct Merged {
    /// The new version's values.
    pub validated: Validated,
    /// The secret fields carried over from the current version.
    pub carried: Vec<String>,
    /// Whether a public value differs from the current version's.
    pub public_changed: bool,
}

/// The input of a rotation that changes only the `given` fields of a credential whose
/// current version holds `public` and `secret`. Errors name fields, never values.
pub fn partial_rotation(
    template: &Template,
    public: &BTreeMap<String, String>,
    secret: &BTreeMap<String, Zeroizing<String>>,
    given: &Map<String, Value>,
) -> Result<Merged, TemplateError> {
    let mut merged = Map::new();
    let mut carried: Vec<String> = Vec::new();
    if template.free_form {
        let public_names: Vec<Value> = match given.get(PUBLIC_FIELDS_KEY) {
            Some(list) => list.as_array().cloned().unwrap_or_default(),
            None => public
                .keys()
                .filter(|k| !given.get(*k).is_some_and(Value::is_null))
                .map(|k| Value::String(k.clone()))
                .collect(),
        };
        for (k, v) in public {
            merged.insert(k.clone(), Value::String(v.clone()));
        }
        for k in secret.keys() {
            if !given.contains_key(k) {
                merged.insert(k.clone(), Value::String(PLACEHOLDER.into()));
                carried.push(k.clone());
            }
        }
        for (k, v) in given {
            merged.insert(k.clone(), v.clone());
        }
        merged.insert(PUBLIC_FIELDS_KEY.into(), Value::Array(public_names));
    } else {
        // Unknown keys stay in, so validation names them.
        for (k, v) in given {
            if template.field(k).is_none() {
                merged.insert(k.clone(), v.clone());
            }
        }
        let mut selects: BTreeMap<String, String> = BTreeMap::new();
        for f in &template.fields {
            let applies = f.when.as_ref().is_none_or(|c| c.holds(&selects));
            let value = match given.get(&f.name) {
                Some(v) => Some(v.clone()),
                None if !applies => None,
                None if f.is_secret() && secret.contains_key(&f.name) => {
                    carried.push(f.name.clone());
                    Some(Value::String(PLACEHOLDER.into()))
                }
                None => public.get(&f.name).map(|v| Value::String(v.clone())),
            };
            if f.field_type == FieldType::Select {
                let chosen = value
                    .as_ref()
                    .filter(|v| !v.is_null())
                    .and_then(as_select)
                    .or_else(|| f.default.clone());
                if let (true, Some(c)) = (applies, chosen) {
                    selects.insert(f.name.clone(), c);
                }
            }
            if let Some(v) = value {
                merged.insert(f.name.clone(), v);
            }
        }
    }
    let mut validated = template.validate(&merged)?;
    carried.retain(|name| validated.secret.contains_key(name));
    for name in &carried {
        if let (Some(slot), Some(real)) = (validated.secret.get_mut(name), secret.get(name)) {
            *slot = real.clone();
        }
    }
    let public_changed = &validated.public != public;
    Ok(Merged {
        validated,
        carried,
        public_changed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::Catalog;
    use serde_json::json;

    fn given(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn given_a_proxmox_token_when_only_the_host_changes_then_the_secret_is_kept() {
        let t = Catalog::builtin().get("proxmox").unwrap();
        let input = given(
            json!({"host": "https://pve:8006", "auth_method": "api_token", "token_name": "root@pam!ci", "token_value": "pve-1"}),
        );
        let v1 = t.validate(&input).unwrap();
        let m = partial_rotation(
            t,
            &v1.public,
            &v1.secret,
            &given(json!({"host": "https://pve2:8006"})),
        )
        .unwrap();
        assert_eq!(
            (m.carried.as_slice(), m.public_changed),
            (&["token_value".to_string()][..], true)
        );
        let v2 = m.validated;
        assert_eq!(v2.public["host"], "https://pve2:8006");
        assert_eq!(v2.public["token_name"], "root@pam!ci");
        assert_eq!(v2.secret["token_value"].as_str(), "pve-1");
    }

    #[test]
    fn given_a_changed_select_then_fields_of_the_old_condition_are_dropped() {
        let t = Catalog::builtin().get("proxmox").unwrap();
        let input = given(
            json!({"host": "h", "auth_method": "password", "username": "u", "password": "pw-1"}),
        );
        let v1 = t.validate(&input).unwrap();
        // Switching to a token needs the token fields; the old password is not carried.
        let e = partial_rotation(
            t,
            &v1.public,
            &v1.secret,
            &given(json!({"auth_method": "api_token", "token_name": "n"})),
        )
        .unwrap_err();
        assert_eq!(e.field(), Some("token_value"));
        let v2 = partial_rotation(
            t,
            &v1.public,
            &v1.secret,
            &given(json!({"auth_method": "api_token", "token_name": "n", "token_value": "tv"})),
        )
        .unwrap()
        .validated;
        assert!(!v2.secret.contains_key("password") && !v2.public.contains_key("username"));
        // A field given for a condition that does not hold is an error, as on create.
        let e = partial_rotation(
            t,
            &v1.public,
            &v1.secret,
            &given(json!({"token_name": "n"})),
        )
        .unwrap_err();
        assert_eq!(e.field(), Some("token_name"));
    }

    #[test]
    fn given_a_free_form_credential_then_public_and_secret_fields_are_kept() {
        let t = Catalog::builtin().get("custom").unwrap();
        let v1 = t
            .validate(&given(
                json!({"url": "https://x", "key": "k-1", "public_fields": ["url"]}),
            ))
            .unwrap();
        let m = partial_rotation(t, &v1.public, &v1.secret, &given(json!({"other": "o"}))).unwrap();
        assert!(!m.public_changed);
        let v2 = m.validated;
        assert_eq!(v2.public["url"], "https://x");
        assert_eq!(v2.secret["key"].as_str(), "k-1");
        assert_eq!(v2.secret["other"].as_str(), "o");
        let v3 = partial_rotation(t, &v2.public, &v2.secret, &given(json!({"key": null})))
            .unwrap()
            .validated;
        assert!(!v3.secret.contains_key("key"));
        let e = partial_rotation(t, &v1.public, &v1.secret, &given(json!({"bad name": "x"})))
            .unwrap_err();
        assert!(matches!(e, TemplateError::InvalidFieldName { .. }));
    }

    #[test]
    fn errors_never_carry_a_secret_value() {
        let t = Catalog::builtin().get("api_key").unwrap();
        let v1 = t
            .validate(&given(json!({"api_key": "sk-carried-1"})))
            .unwrap();
        let e = partial_rotation(
            t,
            &v1.public,
            &v1.secret,
            &given(json!({"placement": "nope"})),
        )
        .unwrap_err();
        assert!(!e.to_string().contains("sk-carried-1"));
        assert!(!format!("{e:?}").contains("sk-carried-1"));
    }
}
