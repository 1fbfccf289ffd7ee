//! Typed secret values: the canonical JSON text of a value of Vault KV data, and the
//! RFC 7396 merge patch over such values.
//!
//! KV data is any JSON object. A value that is a JSON string is kept as its string (a
//! plain [`SecretString`]); any other value (number, boolean, null, array, object) is kept
//! as its **canonical JSON text**: no insignificant whitespace, object members sorted by
//! the UTF-8 bytes of their keys with the last of duplicate keys kept (what Vault's Go
//! maps do), strings escaped as `serde_json` writes them, and **numbers exactly as the
//! client wrote them** (`1.50` stays `1.50`, a 30-digit integer stays exact), so a value
//! reads back with the same type and the same bytes. The input has been validated as JSON
//! by `serde_json` before any of this runs; nothing here does I/O.
//!
//! **Invariant:** the texts built here are secret: they live in [`Zeroizing`] strings
//! (intermediate parser buffers excepted) and no error carries a fragment of a value.

use super::{SecretFields, SecretString};
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use zeroize::Zeroizing;

/// A value that is not valid JSON (never carries the input).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the value is not valid JSON")]
pub struct InvalidJson;

/// The canonical JSON text of one JSON value given as text (see the module doc).
pub fn canonical(raw: &str) -> Result<Zeroizing<String>, InvalidJson> {
    let mut out = Zeroizing::new(String::with_capacity(raw.len()));
    write_canonical(raw.trim(), &mut out)?;
    Ok(out)
}

fn write_canonical(raw: &str, out: &mut String) -> Result<(), InvalidJson> {
    match raw.as_bytes().first() {
        Some(b'{') => {
            let members: BTreeMap<String, Box<RawValue>> =
                serde_json::from_str(raw).map_err(|_| InvalidJson)?;
            out.push('{');
            for (i, (k, v)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k).map_err(|_| InvalidJson)?);
                out.push(':');
                write_canonical(v.get(), out)?;
            }
            out.push('}');
        }
        Some(b'[') => {
            let items: Vec<Box<RawValue>> = serde_json::from_str(raw).map_err(|_| InvalidJson)?;
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v.get(), out)?;
            }
            out.push(']');
        }
        Some(b'"') => {
            let s = Zeroizing::new(serde_json::from_str::<String>(raw).map_err(|_| InvalidJson)?);
            out.push_str(&Zeroizing::new(
                serde_json::to_string(&*s).map_err(|_| InvalidJson)?,
            ));
        }
        Some(_) => {
            // A number or a literal: validated, then kept as written.
            serde_json::from_str::<serde::de::IgnoredAny>(raw).map_err(|_| InvalidJson)?;
            out.push_str(raw);
        }
        None => return Err(InvalidJson),
    }
    Ok(())
}

/// One value of KV data: a string stays a plain secret string; any other value becomes a
/// JSON secret string of its canonical text.
pub fn value(raw: &RawValue) -> Result<SecretString, InvalidJson> {
    let text = raw.get().trim();
    if text.starts_with('"') {
        let s: String = serde_json::from_str(text).map_err(|_| InvalidJson)?;
        return Ok(SecretString::new(s));
    }
    canonical(text).map(SecretString::json)
}

/// KV data (a JSON object's members as raw values) as secret fields.
pub fn fields(data: &BTreeMap<String, Box<RawValue>>) -> Result<SecretFields, InvalidJson> {
    data.iter()
        .map(|(k, v)| Ok((k.clone(), value(v)?)))
        .collect::<Result<_, _>>()
        .map(SecretFields)
}

/// A field value as a JSON value for an answer: a string as a JSON string, a typed value
/// as its JSON text (so numbers keep their bytes).
pub fn raw(v: &SecretString) -> Option<Box<RawValue>> {
    RawValue::from_string(text_of(v).to_string()).ok()
}

/// The canonical JSON text of a field value (a string gets its quotes).
fn text_of(v: &SecretString) -> Zeroizing<String> {
    if v.is_json() {
        Zeroizing::new(v.expose().to_string())
    } else {
        Zeroizing::new(serde_json::to_string(v.expose()).unwrap_or_default())
    }
}

/// A field value from canonical JSON text (a JSON string becomes a plain string).
fn from_text(text: Zeroizing<String>) -> SecretString {
    if text.starts_with('"') {
        if let Ok(s) = serde_json::from_str::<String>(&text) {
            return SecretString::new(s);
        }
    }
    SecretString::json(text)
}

/// The members of a canonical object text, as canonical texts.
fn members(text: &str) -> BTreeMap<String, Zeroizing<String>> {
    serde_json::from_str::<BTreeMap<String, Box<RawValue>>>(text)
        .map(|m| {
            m.into_iter()
                .map(|(k, v)| (k, Zeroizing::new(v.get().to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// RFC 7396 `MergePatch(target, patch)` over canonical texts; `None` = remove the member.
fn merge_text(target: Option<&str>, patch: &str) -> Option<Zeroizing<String>> {
    if patch == "null" {
        return None;
    }
    if !patch.starts_with('{') {
        return Some(Zeroizing::new(patch.to_string()));
    }
    let mut out = match target {
        Some(t) if t.starts_with('{') => members(t),
        _ => BTreeMap::new(),
    };
    for (k, p) in members(patch) {
        match merge_text(out.get(&k).map(|t| t.as_str()), &p) {
            Some(v) => out.insert(k, v),
            None => out.remove(&k),
        };
    }
    let mut text = Zeroizing::new(String::from("{"));
    for (i, (k, v)) in out.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&serde_json::to_string(k).unwrap_or_default());
        text.push(':');
        text.push_str(v);
    }
    text.push('}');
    Some(text)
}

/// The RFC 7396 merge patch of KV data: a `null` removes the key, an object is merged
/// into an object member recursively (its own `null`s removing nested keys), any other
/// value replaces the member.
pub fn merge_patch(current: &SecretFields, patch: &SecretFields) -> SecretFields {
    let mut out = current.clone();
    for (k, p) in &patch.0 {
        let target = out.0.get(k).map(text_of);
        match merge_text(target.as_ref().map(|t| t.as_str()), &text_of(p)) {
            Some(v) => out.0.insert(k.clone(), from_text(v)),
            None => out.0.remove(k),
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        canonical(s).unwrap().to_string()
    }

    fn data(s: &str) -> SecretFields {
        fields(&serde_json::from_str(s).unwrap()).unwrap()
    }

    fn texts(f: &SecretFields) -> Vec<(String, String, bool)> {
        f.0.iter()
            .map(|(k, v)| (k.clone(), v.expose().to_string(), v.is_json()))
            .collect()
    }

    #[test]
    fn numbers_keep_their_literal_and_objects_are_sorted_and_compact() {
        assert_eq!(canon(" 1.50 "), "1.50");
        assert_eq!(
            canon("123456789012345678901234567890"),
            "123456789012345678901234567890"
        );
        assert_eq!(canon("-0.0e+10"), "-0.0e+10");
        assert_eq!(
            canon(r#"{ "b" : [1, {"z": null, "a": true}], "a": "x\u0041" , "a": "last"}"#),
            r#"{"a":"last","b":[1,{"a":true,"z":null}]}"#
        );
        assert_eq!(canon("[ ]"), "[]");
        assert_eq!(canon("{}"), "{}");
        assert_eq!(canonical("01"), Err(InvalidJson));
        assert_eq!(canonical("tru"), Err(InvalidJson));
        assert_eq!(canonical(""), Err(InvalidJson));
    }

    #[test]
    fn strings_stay_strings_and_other_values_become_json_text() {
        let f = data(r#"{"s":"text","n":5432,"b":false,"z":null,"o":{"k":[1]}}"#);
        assert_eq!(
            texts(&f),
            vec![
                ("b".into(), "false".into(), true),
                ("n".into(), "5432".into(), true),
                ("o".into(), r#"{"k":[1]}"#.into(), true),
                ("s".into(), "text".into(), false),
                ("z".into(), "null".into(), true),
            ]
        );
    }

    #[test]
    fn given_a_merge_patch_then_rfc_7396_applies_recursively() {
        let cur = data(r#"{"a":"1","b":"2","o":{"x":1,"y":{"p":true}},"n":7}"#);
        let patch = data(r#"{"a":null,"c":"3","o":{"x":null,"y":{"q":2},"w":{"k":null}},"n":"s"}"#);
        let merged = merge_patch(&cur, &patch);
        assert_eq!(
            texts(&merged),
            vec![
                ("b".into(), "2".into(), false),
                ("c".into(), "3".into(), false),
                ("n".into(), "s".into(), false),
                ("o".into(), r#"{"w":{},"y":{"p":true,"q":2}}"#.into(), true),
            ]
        );
    }
}
