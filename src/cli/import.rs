//! `credledger import-env`: migrate `.env` files into credentials of matching templates.
//!
//! Each variable is mapped to `template.field` by the templates' `env` properties (e.g.
//! `OPENAI_API_KEY` → `openai.api_key`) or by a `--mapping` file; the variables of one
//! file that map to one template become one credential named `{template}-{stem}` (or the
//! mapping's `name` pattern). A conditional field selects its condition (PROXMOX_TOKEN_*
//! → `auth_method=api_token`). A credential whose name exists is skipped, so a re-run
//! imports nothing twice; `--dry-run` only reads. The tenant's own templates map their
//! `env` names too. `--service S` sets the service the imports answer for (one template
//! only); `--default` makes each import the default of its service (the tenant default,
//! or with `--owner me` the selected profile), so `exec --service …` finds it.
//!
//! Mapping file, JSON or TOML: `{"name": "{template}-{stem}", "vars": {"MY_KEY":
//! "openai.api_key", "IGNORED": ""}}`.
//!
//! **Invariant:** the report names variables, templates and credentials, never a value.

use super::client::{seg, Client};
use super::config::ConnArgs;
use super::error::{CliError, EXIT_CODES, FAILED};
use super::lookup::tenant_templates;
use super::output::{cell, Out};
use clap::Args;
use credledger::template::{Catalog, Template};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Args, Debug)]
#[command(after_long_help = EXIT_CODES)]
pub struct ImportArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// The .env files.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Extra variable → template.field mappings and a name pattern (JSON or TOML).
    #[arg(long, value_name = "MAP")]
    pub mapping: Option<PathBuf>,
    /// Credential name pattern: {template} and {stem} (the file name without .env).
    #[arg(long, value_name = "PATTERN")]
    pub name: Option<String>,
    /// Owner of the new credentials: `tenant` (default), `me` or a principal id.
    #[arg(long)]
    pub owner: Option<String>,
    /// The service the new credentials answer for in `resolve --service` / `exec
    /// --service` (default: the template's name). The import must map to one template.
    #[arg(long)]
    pub service: Option<String>,
    /// Make each new credential the default of its service (unsetting the previous one).
    #[arg(long)]
    pub default: bool,
    /// Print the plan; write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Mapping {
    name: Option<String>,
    #[serde(default)]
    vars: BTreeMap<String, String>,
}

fn load_mapping(path: &Path) -> Result<Mapping, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))?;
    let parsed =
        if path.extension().is_some_and(|e| e == "json") || text.trim_start().starts_with('{') {
            serde_json::from_str(&text).map_err(|e| e.to_string())
        } else {
            toml::from_str(&text).map_err(|e| e.to_string())
        };
    parsed.map_err(|e| CliError::usage(format!("{} is not a valid mapping: {e}", path.display())))
}

/// One credential to create.
struct Plan {
    file: String,
    template: String,
    name: String,
    vars: Vec<String>,
    fields: Map<String, Value>,
}

/// Something not imported, and why.
#[derive(serde::Serialize)]
struct Skip {
    file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    variable: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    template: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    reason: String,
}

/// `{template}-{stem}` with the stem of `prod.env`, `.env.prod` or `.env` (= `env`).
fn credential_name(pattern: &str, template: &str, path: &Path) -> String {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().to_string())
        .unwrap_or_default();
    let stem = file.trim_start_matches('.');
    let stem = stem
        .strip_suffix(".env")
        .or_else(|| stem.strip_prefix("env."))
        .unwrap_or(stem);
    let stem: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    pattern
        .replace("{template}", template)
        .replace("{stem}", &stem)
}

fn plan_file(
    path: &Path,
    templates: &[Template],
    mapping: &Mapping,
    pattern: &str,
    plans: &mut Vec<Plan>,
    skips: &mut Vec<Skip>,
) -> Result<(), CliError> {
    let file = path.display().to_string();
    let iter = dotenvy::from_path_iter(path)
        .map_err(|e| CliError::usage(format!("cannot read {file}: {}", io_reason(&e))))?;
    let mut index: BTreeMap<&str, (String, String)> = BTreeMap::new();
    for t in templates {
        for (field, env) in t.env_names() {
            index.insert(env, (t.name.clone(), field.to_string()));
        }
    }
    let mut groups: BTreeMap<String, (Vec<String>, Map<String, Value>)> = BTreeMap::new();
    for (n, item) in iter.enumerate() {
        let (var, value) = item.map_err(|e| {
            CliError::usage(format!(
                "cannot parse {file} at entry {} ({}; the line is not shown, it may hold a secret)",
                n + 1,
                io_reason(&e)
            ))
        })?;
        let target = match mapping.vars.get(&var) {
            Some(t) if t.is_empty() => {
                skips.push(Skip {
                    file: file.clone(),
                    variable: Some(var),
                    template: None,
                    name: None,
                    reason: "ignored by the mapping".into(),
                });
                continue;
            }
            Some(t) => t
                .split_once('.')
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .ok_or_else(|| {
                    CliError::usage(format!(
                        "mapping for {var}: expected template.field, got '{t}'"
                    ))
                })?,
            None => match index.get(var.as_str()) {
                Some(t) => t.clone(),
                None => {
                    skips.push(Skip {
                        file: file.clone(),
                        reason: format!("no template maps {var}"),
                        variable: Some(var),
                        template: None,
                        name: None,
                    });
                    continue;
                }
            },
        };
        let g = groups.entry(target.0).or_default();
        g.0.push(var);
        g.1.insert(target.1, Value::String(value));
    }
    for (template, (vars, mut fields)) in groups {
        let name = credential_name(pattern, &template, path);
        let Some(t) = templates.iter().find(|t| t.name == template) else {
            skips.push(Skip {
                file: file.clone(),
                variable: None,
                reason: format!("unknown template: {template}"),
                template: Some(template),
                name: Some(name),
            });
            continue;
        };
        let conditions: Vec<_> = fields
            .keys()
            .filter_map(|f| t.field(f).and_then(|s| s.when.clone()))
            .collect();
        for c in conditions {
            fields.entry(c.field).or_insert(Value::String(c.equals));
        }
        if let Err(e) = t.validate(&fields) {
            skips.push(Skip {
                file: file.clone(),
                variable: Some(vars.join(",")),
                template: Some(template),
                name: Some(name),
                reason: format!("incomplete: {e}"),
            });
            continue;
        }
        plans.push(Plan {
            file: file.clone(),
            template,
            name,
            vars,
            fields,
        });
    }
    Ok(())
}

fn io_reason(e: &dotenvy::Error) -> String {
    match e {
        dotenvy::Error::Io(io) => io.to_string(),
        dotenvy::Error::LineParse(_, at) => format!("syntax error at character {at}"),
        dotenvy::Error::EnvVar(_) => "an environment variable could not be read".into(),
        _ => "unreadable".into(),
    }
}

/// Whether the owner of the import already has an active credential of that name (names
/// are unique per owner).
fn exists(c: &Client, name: &str, owner: Option<&str>) -> Result<bool, CliError> {
    let owner = owner.unwrap_or("tenant").to_string();
    let v = c.get_query(
        "/v1/credentials",
        &[("name", name.to_string()), ("owner", owner)],
    )?;
    Ok(v["credentials"].as_array().is_some_and(|a| !a.is_empty()))
}

pub fn run(a: ImportArgs) -> anyhow::Result<ExitCode> {
    let (c, out) = Client::connect(&a.conn)?;
    let mapping = a
        .mapping
        .as_deref()
        .map(load_mapping)
        .transpose()?
        .unwrap_or_default();
    let pattern = a
        .name
        .clone()
        .or(mapping.name.clone())
        .unwrap_or_else(|| "{template}-{stem}".into());
    let mut templates: Vec<Template> = Catalog::builtin().iter().cloned().collect();
    templates.extend(tenant_templates(&c)?);
    let (mut plans, mut skips) = (Vec::new(), Vec::new());
    for f in &a.files {
        plan_file(f, &templates, &mapping, &pattern, &mut plans, &mut skips)?;
    }
    if a.service.is_some() {
        let kinds: BTreeSet<&str> = plans.iter().map(|p| p.template.as_str()).collect();
        if kinds.len() > 1 {
            return Err(CliError::usage(format!(
                "--service names one service, but this import maps to several templates ({}); import them separately",
                kinds.into_iter().collect::<Vec<_>>().join(", ")
            ))
            .into());
        }
    }
    let bar = super::progress(
        plans.len() as u64,
        if a.dry_run { "checking" } else { "importing" },
    );
    let (mut done, mut failed) = (Vec::new(), Vec::new());
    let mut seen = BTreeSet::new();
    for p in plans {
        bar.inc(1);
        let mut entry =
            json!({"file": p.file, "template": p.template, "name": p.name, "variables": p.vars});
        if !seen.insert(p.name.clone()) || exists(&c, &p.name, a.owner.as_deref())? {
            skips.push(Skip {
                file: p.file,
                variable: Some(p.vars.join(",")),
                template: Some(p.template),
                name: Some(p.name),
                reason: "exists".into(),
            });
            continue;
        }
        if a.dry_run {
            done.push(entry);
            continue;
        }
        let mut body = json!({"name": p.name, "template": p.template, "fields": p.fields});
        if let Some(o) = &a.owner {
            body["owner"] = o.clone().into();
        }
        if let Some(s) = &a.service {
            body["service"] = s.clone().into();
        }
        match c.post("/v1/credentials", &body) {
            Ok(v) => {
                entry["id"] = v["id"].clone();
                if a.default {
                    let made =
                        c.post_empty(&format!("/v1/credentials/{}/default", seg(&cell(&v["id"]))));
                    entry["default"] = made.is_ok().into();
                    if let Err(e) = made {
                        entry["default_error"] = e.message.into();
                    }
                }
                done.push(entry);
            }
            Err(e) if e.code == FAILED => {
                entry["reason"] = e.message.into();
                failed.push(entry);
            }
            Err(e) => return Err(e.into()),
        }
    }
    bar.finish_and_clear();
    report(out, a.dry_run, &done, &skips, &failed);
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(FAILED)
    })
}

fn report(out: Out, dry_run: bool, done: &[Value], skips: &[Skip], failed: &[Value]) {
    let key = if dry_run { "would_import" } else { "imported" };
    if out.json {
        out.print_json(&json!({"dry_run": dry_run, key: done, "skipped": skips, "failed": failed}));
        return;
    }
    let vars = |v: &Value| {
        v["variables"]
            .as_array()
            .map(|a| a.iter().map(cell).collect::<Vec<_>>().join(","))
            .unwrap_or_default()
    };
    let mut rows: Vec<Vec<String>> = Vec::new();
    let verb = if dry_run { "would import" } else { "imported" };
    for d in done {
        let result = match (&d["default"], &d["default_error"]) {
            (Value::Bool(true), _) => format!("{verb} (default)"),
            (_, Value::String(why)) => format!("{verb} (not made default: {why})"),
            _ => verb.to_string(),
        };
        rows.push(vec![
            cell(&d["file"]),
            vars(d),
            cell(&d["template"]),
            cell(&d["name"]),
            result,
        ]);
    }
    for s in skips {
        let o = |x: &Option<String>| x.clone().unwrap_or_default();
        rows.push(vec![
            s.file.clone(),
            o(&s.variable),
            o(&s.template),
            o(&s.name),
            format!("skipped: {}", s.reason),
        ]);
    }
    for f in failed {
        rows.push(vec![
            cell(&f["file"]),
            vars(f),
            cell(&f["template"]),
            cell(&f["name"]),
            format!("failed: {}", cell(&f["reason"])),
        ]);
    }
    out.table(&["FILE", "VARIABLES", "TEMPLATE", "NAME", "RESULT"], rows);
    println!(
        "{} {verb}, {} skipped, {} failed{}",
        done.len(),
        skips.len(),
        failed.len(),
        if dry_run {
            " (dry run: nothing written)"
        } else {
            ""
        }
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_file_stems() {
        let n = |f: &str| credential_name("{template}-{stem}", "openai", Path::new(f));
        assert_eq!(n("/x/prod.env"), "openai-prod");
        assert_eq!(n(".env.Staging"), "openai-staging");
        assert_eq!(n(".env"), "openai-env");
        assert_eq!(n("my app.env"), "openai-my-app");
    }

    #[test]
    fn plans_group_by_template_and_pick_conditions() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("lab.env");
        std::fs::write(&f, "OPENAI_API_KEY=sk-x\nPROXMOX_HOST=https://pve:8006\nPROXMOX_TOKEN_NAME=root@pam!ci\nPROXMOX_TOKEN_VALUE=t0k\nUNRELATED=1\nANTHROPIC_BASE_URL=https://a\n").unwrap();
        let builtin: Vec<Template> = Catalog::builtin().iter().cloned().collect();
        let (mut plans, mut skips) = (Vec::new(), Vec::new());
        plan_file(
            &f,
            &builtin,
            &Mapping::default(),
            "{template}-{stem}",
            &mut plans,
            &mut skips,
        )
        .unwrap();
        let got: Vec<_> = plans
            .iter()
            .map(|p| (p.name.as_str(), p.vars.len()))
            .collect();
        assert_eq!(got, vec![("openai-lab", 1), ("proxmox-lab", 3)]);
        assert_eq!(plans[1].fields["auth_method"], "api_token");
        let reasons: Vec<_> = skips.iter().map(|s| s.reason.as_str()).collect();
        assert_eq!(
            reasons,
            vec![
                "no template maps UNRELATED",
                "incomplete: api_key is required"
            ]
        );
        let m = Mapping {
            name: Some("{stem}-{template}".into()),
            vars: [("UNRELATED".to_string(), "api_key.api_key".to_string())].into(),
        };
        let (mut plans, mut skips) = (Vec::new(), Vec::new());
        plan_file(
            &f,
            &builtin,
            &m,
            "{stem}-{template}",
            &mut plans,
            &mut skips,
        )
        .unwrap();
        assert!(plans
            .iter()
            .any(|p| p.name == "lab-api_key" && p.vars == ["UNRELATED"]));
    }
}
