//! [`Values`]: the public and secret values a probe's `{{field}}` placeholders are filled
//! from.
//!
//! **Invariant:** rendered strings are [`Zeroizing`]; errors name the field, never its
//! value.

use super::outcome::Failure;
use crate::template::{segments, Segment};
use std::collections::BTreeMap;
use zeroize::Zeroizing;

/// The values placeholders are filled from.
pub(super) struct Values<'a> {
    pub public: &'a BTreeMap<String, String>,
    secret: &'a BTreeMap<String, Zeroizing<String>>,
}

impl<'a> Values<'a> {
    pub(super) fn new(
        public: &'a BTreeMap<String, String>,
        secret: &'a BTreeMap<String, Zeroizing<String>>,
    ) -> Values<'a> {
        Values { public, secret }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.public
            .get(name)
            .map(String::as_str)
            .or_else(|| self.secret.get(name).map(|s| s.as_str()))
            .filter(|v| !v.is_empty())
    }

    /// Fills the placeholders of `template`. An absent or empty value is an error naming
    /// the field.
    pub(super) fn render(&self, template: &str) -> Result<Zeroizing<String>, Failure> {
        let mut out = Zeroizing::new(String::with_capacity(template.len()));
        for seg in segments(template).map_err(|_| Failure::BadDefinition)? {
            match seg {
                Segment::Literal(s) => out.push_str(s),
                Segment::Field(name) => {
                    let value = self
                        .get(name)
                        .ok_or_else(|| Failure::MissingValue(name.to_string()))?;
                    out.push_str(value);
                }
            }
        }
        Ok(out)
    }

    /// Fills an optional parameter: `None` when the parameter is absent or one of its
    /// fields is empty (an unset session token, the default port).
    pub(super) fn render_optional(
        &self,
        template: Option<&str>,
    ) -> Result<Option<Zeroizing<String>>, Failure> {
        let Some(template) = template else {
            return Ok(None);
        };
        match self.render(template) {
            Ok(s) if s.trim().is_empty() => Ok(None),
            Ok(s) => Ok(Some(s)),
            Err(Failure::MissingValue(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A rendered port, or `default` when the parameter is unset.
    pub(super) fn port(&self, template: Option<&str>, default: u16) -> Result<u16, Failure> {
        match self.render_optional(template)? {
            None => Ok(default),
            Some(p) => p.trim().parse().map_err(|_| Failure::InvalidPort),
        }
    }
}

/// The field behind a probe parameter, for messages: its first placeholder's name, or
/// `fallback` when it has none.
pub(super) fn field_name(template: &str, fallback: &str) -> String {
    segments(template)
        .ok()
        .and_then(|s| {
            s.into_iter().find_map(|seg| match seg {
                Segment::Field(f) => Some(f.to_string()),
                Segment::Literal(_) => None,
            })
        })
        .unwrap_or_else(|| fallback.to_string())
}
