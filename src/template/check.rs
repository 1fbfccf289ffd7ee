//! The checks of a template definition, run once when it is loaded
//! ([`Template::from_json`]).
//!
//! **Invariant:** a template in a catalog has conditions that name an earlier select
//! field and one of its options, valid defaults, and `{{field}}` placeholders in its
//! connection tests that name existing fields present whenever the test runs; a probe
//! parameter that carries a secret (a password, a secret key, a private key, a key
//! file, a DSN) names secret fields only, so a template cannot make a secret public.

use super::probe::{segments, Probe, Segment};
use super::{Condition, EnvMode, FieldSpec, FieldType, Template};
use serde_json::Value;
use std::collections::BTreeSet;

pub(super) fn is_field_name(s: &str) -> bool {
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

impl Template {
    /// Checks the definition; the error is a reason naming the offending part.
    pub(super) fn check(&self) -> Result<(), String> {
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
        for param in p.params() {
            let mut fields = 0;
            for seg in segments(param.value)? {
                if let Segment::Field(name) = seg {
                    let f = self
                        .field(name)
                        .ok_or_else(|| format!("placeholder {{{{{name}}}}} is not a field"))?;
                    if !present_with_probe(f) {
                        return Err(format!(
                            "placeholder {{{{{name}}}}} is conditional but the probe is not under the same condition"
                        ));
                    }
                    if param.secret && !f.is_secret() {
                        return Err(format!(
                            "{} carries a secret but {{{{{name}}}}} is not a secret field",
                            param.name
                        ));
                    }
                    uses_secret |= f.is_secret();
                    fields += 1;
                }
            }
            if param.secret && fields == 0 {
                return Err(format!(
                    "{} must be a secret field's placeholder",
                    param.name
                ));
            }
        }
        if p.timeout_ms() == Some(0) {
            return Err("timeout_ms must be positive".into());
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
                if !uses_secret {
                    return Err("an http probe must use a secret field".into());
                }
            }
            Probe::Sql(s) => s.check_shape()?,
            Probe::Ssh(s) => s.check_shape()?,
            Probe::Tcp(_) | Probe::AwsSts(_) | Probe::GcpToken(_) => {}
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
