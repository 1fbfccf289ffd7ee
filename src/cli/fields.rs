//! Field values from the command line: `--field k=v`, `k=@file`, `k=-` (stdin), and
//! prompts for what is missing when a person is at a terminal (secrets without echo).
//!
//! **Invariant:** a value is never printed; a secret given as a bare argument earns a
//! warning on stderr that names the field, not the value.

use super::error::CliError;
use credledger::template::{FieldType, Template};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::PathBuf;
use zeroize::Zeroizing;

/// Where one `--field` value comes from.
#[derive(Clone, Debug)]
pub enum Source {
    Literal(String),
    File(PathBuf),
    Stdin,
}

/// One parsed `--field NAME=VALUE|@FILE|-`.
#[derive(Clone, Debug)]
pub struct FieldArg {
    pub name: String,
    pub source: Source,
}

/// The clap value parser of `--field`.
pub fn parse_field_arg(s: &str) -> Result<FieldArg, String> {
    let (name, value) = s
        .split_once('=')
        .ok_or_else(|| "expected NAME=VALUE, NAME=@FILE or NAME=- (stdin)".to_string())?;
    if name.is_empty() {
        return Err("the field name is empty".into());
    }
    let source = if value == "-" {
        Source::Stdin
    } else if let Some(path) = value.strip_prefix('@') {
        Source::File(PathBuf::from(path))
    } else {
        Source::Literal(value.to_string())
    };
    Ok(FieldArg {
        name: name.to_string(),
        source,
    })
}

/// Whether a field of this template holds a secret (free-form: all but `public_fields`).
fn is_secret(t: Option<&Template>, name: &str) -> bool {
    match t {
        Some(t) if t.free_form => name != "public_fields",
        Some(t) => t.field(name).is_none_or(|f| f.is_secret()),
        None => true,
    }
}

/// Strips one trailing newline, except for file and json fields whose content is kept.
fn trim_value(t: Option<&Template>, name: &str, mut v: String) -> String {
    let keep = t
        .and_then(|t| t.field(name))
        .is_some_and(|f| matches!(f.field_type, FieldType::File | FieldType::Json));
    if !keep {
        if v.ends_with('\n') {
            v.pop();
        }
        if v.ends_with('\r') {
            v.pop();
        }
    }
    v
}

/// Reads the `--field` values into a request's `fields` object.
pub fn read_args(t: Option<&Template>, args: &[FieldArg]) -> Result<Map<String, Value>, CliError> {
    let mut out = Map::new();
    if args
        .iter()
        .filter(|a| matches!(a.source, Source::Stdin))
        .count()
        > 1
    {
        return Err(CliError::usage("only one --field may read stdin (NAME=-)"));
    }
    for a in args {
        let raw = match &a.source {
            Source::Literal(v) => {
                if is_secret(t, &a.name) {
                    eprintln!(
                        "warning: a secret on the command line can leak through shell history and ps; use {n}=- or {n}=@file",
                        n = a.name
                    );
                }
                v.clone()
            }
            Source::File(p) => std::fs::read_to_string(p).map_err(|e| {
                CliError::usage(format!(
                    "--field {}: cannot read {}: {e}",
                    a.name,
                    p.display()
                ))
            })?,
            Source::Stdin => {
                let mut s = String::new();
                std::io::stdin().read_to_string(&mut s).map_err(|e| {
                    CliError::usage(format!("--field {}: cannot read stdin: {e}", a.name))
                })?;
                s
            }
        };
        out.insert(a.name.clone(), Value::String(trim_value(t, &a.name, raw)));
    }
    Ok(out)
}

/// Prompts, on a terminal, for the fields a person still has to give: on create the
/// required fields without default, on rotate every secret field. Secrets are read
/// without echo; file and json fields are never prompted (use `NAME=@FILE`).
pub fn prompt_missing(
    t: &Template,
    fields: &mut Map<String, Value>,
    previous_public: Option<&BTreeMap<String, String>>,
    rotate: bool,
    used_stdin: bool,
) -> Result<(), CliError> {
    if t.free_form || used_stdin || !std::io::stdin().is_terminal() {
        return Ok(());
    }
    for f in &t.fields {
        if fields.contains_key(&f.name) || matches!(f.field_type, FieldType::File | FieldType::Json)
        {
            continue;
        }
        if let Some(c) = &f.when {
            let current = fields
                .get(&c.field)
                .and_then(Value::as_str)
                .map(str::to_string)
                .or_else(|| previous_public.and_then(|p| p.get(&c.field).cloned()))
                .or_else(|| t.field(&c.field).and_then(|s| s.default.clone()));
            if current.as_deref() != Some(c.equals.as_str()) {
                continue;
            }
        }
        let wanted = if rotate {
            f.is_secret()
        } else {
            f.required && f.default.is_none()
        };
        if !wanted {
            continue;
        }
        let value = if f.is_secret() {
            Zeroizing::new(
                rpassword::prompt_password(format!("{} ({}, hidden): ", f.label(), f.name))
                    .map_err(|e| CliError::usage(format!("cannot read {}: {e}", f.name)))?,
            )
        } else {
            let hint = if f.options.is_empty() {
                String::new()
            } else {
                format!(" [{}]", f.options.join("|"))
            };
            eprint!("{} ({}){hint}: ", f.label(), f.name);
            std::io::stderr().flush().ok();
            let mut line = Zeroizing::new(String::new());
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| CliError::usage(format!("cannot read {}: {e}", f.name)))?;
            Zeroizing::new(line.trim_end_matches(['\n', '\r']).to_string())
        };
        if !value.is_empty() {
            fields.insert(f.name.clone(), Value::String(value.to_string()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use credledger::template::Catalog;
    use std::path::Path;

    #[test]
    fn field_args_parse() {
        let a = parse_field_arg("api_key=-").unwrap();
        assert!(matches!(a.source, Source::Stdin));
        let a = parse_field_arg("k=@/tmp/x").unwrap();
        assert!(matches!(a.source, Source::File(p) if p == Path::new("/tmp/x")));
        let a = parse_field_arg("host=https://a=b").unwrap();
        assert!(matches!(a.source, Source::Literal(v) if v == "https://a=b"));
        assert!(parse_field_arg("novalue").is_err());
        assert!(parse_field_arg("=x").is_err());
    }

    #[test]
    fn files_are_read_and_trimmed_by_type() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("k");
        std::fs::write(&f, "sk-1\n").unwrap();
        let cat = Catalog::builtin();
        let openai = cat.get("openai").unwrap();
        let args = [parse_field_arg(&format!("api_key=@{}", f.display())).unwrap()];
        let m = read_args(Some(openai), &args).unwrap();
        assert_eq!(m["api_key"], "sk-1");
        let ssh = cat.get("ssh").unwrap();
        let args = [parse_field_arg(&format!("private_key=@{}", f.display())).unwrap()];
        assert_eq!(
            read_args(Some(ssh), &args).unwrap()["private_key"],
            "sk-1\n"
        );
        let missing = [parse_field_arg("api_key=@/nonexistent/x").unwrap()];
        assert_eq!(read_args(Some(openai), &missing).unwrap_err().code, 2);
    }

    #[test]
    fn secrecy_follows_the_template() {
        let cat = Catalog::builtin();
        assert!(is_secret(Some(cat.get("openai").unwrap()), "api_key"));
        assert!(!is_secret(Some(cat.get("openai").unwrap()), "base_url"));
        assert!(is_secret(Some(cat.get("custom").unwrap()), "anything"));
        assert!(is_secret(None, "x"));
    }
}
