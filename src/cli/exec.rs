//! `credledger exec` and `credledger materialize`: hand a credential's fields to a program.
//!
//! `exec` resolves afresh at every run (so a rotation is seen by the next run) and passes
//! the fields as environment variables named by the template's `env` properties, or by
//! `--env NAME=field`. It writes nothing to disk: a field whose template says
//! `env_mode: file` (KUBECONFIG, GOOGLE_APPLICATION_CREDENTIALS) is written to a private
//! directory (0700, file 0600) on a memory file system (`$XDG_RUNTIME_DIR`, else
//! `/dev/shm`) that is removed when the command exits; with neither, the field is skipped
//! with a warning. Without such a field the CLI replaces itself with the command (exec),
//! so signals and the exit status are the command's own.
//!
//! `materialize` writes a file (mode 0600, atomic rename) for programs that read one: env
//! lines, the resolve answer as JSON, or one field's exact content (`--field NAME
//! --format raw`, for files such as a `.credentials.json` restored before each run).
//!
//! Environment names come from the credential's template: a builtin one, or the
//! tenant's (fetched from the server).
//!
//! **Invariant:** values go only to the child's environment or the requested file; they
//! are never printed and never part of an error message.

use super::client::Client;
use super::config::ConnArgs;
use super::error::{CliError, EXIT_CODES, USAGE};
use super::lookup::{resolve, template};
use clap::Args;
use credledger::fsutil::write_private_atomic;
use credledger::template::{EnvMode, Template};
use serde_json::{Map, Value};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use zeroize::Zeroizing;

/// Which credential to resolve.
#[derive(Args, Debug)]
pub struct Target {
    /// The credential's id or name.
    #[arg(long, required_unless_present = "service", conflicts_with = "service")]
    pub cred: Option<String>,
    /// Resolve by service instead (own → granted → tenant default → fallback).
    #[arg(long)]
    pub service: Option<String>,
    /// Resolve for this user (with --service; resolver services and admins).
    #[arg(long, requires = "service")]
    pub for_user: Option<String>,
}

#[derive(Args, Debug)]
#[command(after_long_help = EXIT_CODES)]
pub struct ExecArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub target: Target,
    /// Also (or instead of the template's name) export FIELD as NAME. Repeatable.
    #[arg(long = "env", value_name = "NAME=FIELD", value_parser = parse_env_arg)]
    pub env: Vec<(String, String)>,
    /// Print the names (never the values) of the variables set, on stderr.
    #[arg(long, short)]
    pub verbose: bool,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
#[command(after_long_help = EXIT_CODES)]
pub struct MaterializeArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub target: Target,
    /// The file to write (mode 0600, replaced atomically).
    #[arg(long, short)]
    pub out: PathBuf,
    /// `env` (NAME=value lines, dotenv quoting; the default), `json` (the resolve
    /// answer) or `raw` (one field's exact content; the default with --field).
    #[arg(long, value_parser = ["env", "json", "raw"])]
    pub format: Option<String>,
    /// The field to write with `--format raw`, byte for byte.
    #[arg(long, value_name = "NAME")]
    pub field: Option<String>,
    /// Also (or instead of the template's name) write FIELD as NAME (env format).
    #[arg(long = "env", value_name = "NAME=FIELD", value_parser = parse_env_arg)]
    pub env: Vec<(String, String)>,
}

fn parse_env_arg(s: &str) -> Result<(String, String), String> {
    let (n, f) = s.split_once('=').ok_or("expected NAME=FIELD")?;
    if !is_env_name(n) || f.is_empty() {
        return Err("expected NAME=FIELD with NAME of [A-Za-z_][A-Za-z0-9_]*".into());
    }
    Ok((n.to_string(), f.to_string()))
}

fn is_env_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

/// One variable: its name, its value, and whether it must be passed as a file path.
pub struct Var {
    pub name: String,
    pub value: Zeroizing<String>,
    pub file: bool,
}

/// The variables for a resolve answer: the template's `env` names (for free-form
/// credentials, each field name in upper case), with `--env NAME=FIELD` added or
/// replacing the template's name for that field.
pub fn env_vars(
    answer: &Value,
    template: Option<&Template>,
    overrides: &[(String, String)],
) -> Result<Vec<Var>, CliError> {
    let empty = Map::new();
    let fields = answer["fields"].as_object().unwrap_or(&empty);
    // A typed value (a number, boolean, array or object of Vault KV data) becomes its
    // JSON text where a string is needed.
    let text = |v: &Value| match v {
        Value::String(s) => Zeroizing::new(s.clone()),
        other => Zeroizing::new(other.to_string()),
    };
    let value = |f: &str| fields.get(f).map(text);
    let mut out = Vec::new();
    for (name, field) in overrides {
        let v = value(field).ok_or_else(|| {
            CliError::usage(format!(
                "--env {name}={field}: the credential has no field '{field}'"
            ))
        })?;
        let file = template
            .and_then(|t| t.field(field))
            .is_some_and(|f| f.env_mode == EnvMode::File);
        out.push(Var {
            name: name.clone(),
            value: v,
            file,
        });
    }
    let overridden = |f: &str| overrides.iter().any(|(_, o)| o == f);
    match template {
        Some(t) if !t.free_form => {
            for spec in &t.fields {
                if let (Some(env), Some(v)) = (&spec.env, value(&spec.name)) {
                    if !overridden(&spec.name) {
                        out.push(Var {
                            name: env.clone(),
                            value: v,
                            file: spec.env_mode == EnvMode::File,
                        });
                    }
                }
            }
        }
        _ => {
            for (k, v) in fields {
                let name = k.to_ascii_uppercase();
                if is_env_name(&name) && !overridden(k) {
                    out.push(Var {
                        name,
                        value: text(v),
                        file: false,
                    });
                }
            }
        }
    }
    Ok(out)
}

/// A memory-backed directory for file-mode values, if there is one.
fn private_base() -> Option<PathBuf> {
    std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_dir())
        .or_else(|| Some(PathBuf::from("/dev/shm")).filter(|p| p.is_dir()))
}

pub fn exec(a: ExecArgs) -> anyhow::Result<ExitCode> {
    let (c, _) = Client::connect(&a.conn)?;
    let t = &a.target;
    let answer = resolve(
        &c,
        t.cred.as_deref(),
        t.service.as_deref(),
        t.for_user.as_deref(),
        None,
    )?;
    let def = answer["template"].as_str().and_then(|t| template(&c, t));
    let vars = env_vars(&answer, def.as_ref(), &a.env)?;
    drop(answer);
    if vars.is_empty() {
        return Err(CliError::new(
            USAGE,
            "the credential has no field with an environment variable name; \
             name one with --env NAME=FIELD",
        )
        .into());
    }
    let mut cmd = Command::new(&a.command[0]);
    cmd.args(&a.command[1..]);
    // The child gets the credential, never the caller's own access: no API token, no
    // config path, no other CREDLEDGER_* setting.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("CREDLEDGER_") {
            cmd.env_remove(&name);
        }
    }
    let mut dir = None;
    let mut names = Vec::new();
    for v in &vars {
        if v.file {
            if dir.is_none() {
                let Some(base) = private_base() else {
                    eprintln!("warning: {} skipped: no memory file system ($XDG_RUNTIME_DIR or /dev/shm) to hold it", v.name);
                    continue;
                };
                dir = Some(
                    tempfile::Builder::new()
                        .prefix("credledger-exec-")
                        .permissions(std::fs::Permissions::from_mode(0o700))
                        .tempdir_in(base)?,
                );
            }
            let path = dir
                .as_ref()
                .map(|d| d.path().join(v.name.to_ascii_lowercase()))
                .unwrap_or_default();
            write_private_atomic(&path, v.value.as_bytes())?;
            cmd.env(&v.name, &path);
        } else {
            cmd.env(&v.name, v.value.as_str());
        }
        names.push(v.name.as_str());
    }
    if a.verbose {
        eprintln!(
            "credledger: exec {} with {}",
            a.command[0],
            names.join(", ")
        );
    }
    match dir {
        None => {
            use std::os::unix::process::CommandExt;
            let e = cmd.exec();
            Err(spawn_error(&a.command[0], &e).into())
        }
        Some(dir) => {
            let code = run_and_wait(cmd, &a.command[0]);
            drop(dir);
            code
        }
    }
}

fn spawn_error(program: &str, e: &std::io::Error) -> CliError {
    let code = if e.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    };
    CliError::new(code, format!("cannot run {program}: {e}"))
}

/// Runs the child, forwarding SIGTERM and SIGHUP to it and outliving SIGINT (which the
/// terminal sends the child too), so the private directory is removed afterwards.
fn run_and_wait(mut cmd: Command, program: &str) -> anyhow::Result<ExitCode> {
    use tokio::signal::unix::{signal, SignalKind};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (mut int, mut term, mut hup) = {
        let _guard = rt.enter();
        (
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
            signal(SignalKind::hangup())?,
        )
    };
    let mut child = cmd.spawn().map_err(|e| spawn_error(program, &e))?;
    let pid = rustix::process::Pid::from_child(&child);
    std::thread::spawn(move || {
        use rustix::process::{kill_process, Signal};
        rt.block_on(async move {
            loop {
                let sig = tokio::select! {
                    _ = int.recv() => None,
                    _ = term.recv() => Some(Signal::TERM),
                    _ = hup.recv() => Some(Signal::HUP),
                };
                if let Some(s) = sig {
                    let _ = kill_process(pid, s);
                }
            }
        })
    });
    let status = child.wait()?;
    use std::os::unix::process::ExitStatusExt;
    let code = status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1);
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}

/// Quotes a value for a dotenv file: bare when plain, else double quotes with `\`, `"`,
/// `$` and newlines escaped.
pub fn dotenv_quote(v: &str) -> String {
    let plain = !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:@+,=%".contains(c));
    if plain {
        return v.to_string();
    }
    let mut s = String::from("\"");
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '$' => s.push_str("\\$"),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

pub fn materialize(a: MaterializeArgs) -> anyhow::Result<ExitCode> {
    let format = match (a.format.as_deref(), &a.field) {
        (None | Some("raw"), Some(_)) => "raw",
        (Some("raw"), None) => {
            return Err(CliError::usage("--format raw needs --field NAME").into())
        }
        (Some(_), Some(_)) => {
            return Err(
                CliError::usage("--field writes one field: use it with --format raw").into(),
            )
        }
        (Some(f), None) => f,
        (None, None) => "env",
    };
    let (c, _) = Client::connect(&a.conn)?;
    let t = &a.target;
    let answer = resolve(
        &c,
        t.cred.as_deref(),
        t.service.as_deref(),
        t.for_user.as_deref(),
        None,
    )?;
    let text = Zeroizing::new(if format == "raw" {
        let name = a.field.as_deref().unwrap_or_default();
        answer["fields"][name]
            .as_str()
            .ok_or_else(|| CliError::not_found(format!("the credential has no field '{name}'")))?
            .to_string()
    } else if format == "json" {
        serde_json::to_string_pretty(&answer)? + "\n"
    } else {
        let def = answer["template"].as_str().and_then(|t| template(&c, t));
        let mut s = String::new();
        for v in env_vars(&answer, def.as_ref(), &a.env)? {
            if v.file {
                eprintln!(
                    "warning: {} skipped: it must be a file path (use --format json, or exec)",
                    v.name
                );
                continue;
            }
            s.push_str(&format!("{}={}\n", v.name, dotenv_quote(&v.value)));
        }
        s
    });
    drop(answer);
    check_parent(&a.out)?;
    write_private_atomic(&a.out, text.as_bytes())
        .map_err(|e| CliError::new(USAGE, format!("cannot write {}: {e}", a.out.display())))?;
    eprintln!("wrote {} (mode 0600)", a.out.display());
    Ok(ExitCode::SUCCESS)
}

fn check_parent(p: &Path) -> Result<(), CliError> {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() && !d.is_dir() => Err(CliError::usage(format!(
            "{} is not a directory",
            d.display()
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names(vars: &[Var]) -> Vec<(String, String, bool)> {
        vars.iter()
            .map(|v| (v.name.clone(), v.value.to_string(), v.file))
            .collect()
    }

    fn env_vars(a: &Value, overrides: &[(String, String)]) -> Result<Vec<Var>, CliError> {
        let t = a["template"]
            .as_str()
            .and_then(|t| credledger::template::Catalog::builtin().get(t).ok());
        super::env_vars(a, t, overrides)
    }

    #[test]
    fn template_env_names_and_overrides() {
        let a = json!({"template": "openai", "fields": {"api_key": "k", "base_url": "u"}});
        assert_eq!(
            names(&env_vars(&a, &[]).unwrap()),
            vec![
                ("OPENAI_API_KEY".into(), "k".into(), false),
                ("OPENAI_BASE_URL".into(), "u".into(), false)
            ]
        );
        let o = [("MY_KEY".to_string(), "api_key".to_string())];
        assert_eq!(
            names(&env_vars(&a, &o).unwrap()),
            vec![
                ("MY_KEY".into(), "k".into(), false),
                ("OPENAI_BASE_URL".into(), "u".into(), false)
            ]
        );
        let bad = [("X".to_string(), "nope".to_string())];
        assert_eq!(env_vars(&a, &bad).err().unwrap().code, USAGE);
        let k = json!({"template": "kubernetes", "fields": {"auth_method": "kubeconfig", "kubeconfig": "apiVersion: v1"}});
        assert!(names(&env_vars(&k, &[]).unwrap()).contains(&(
            "KUBECONFIG".into(),
            "apiVersion: v1".into(),
            true
        )));
        let c = json!({"template": "custom", "fields": {"db_pass": "p", "bad-name": "x"}});
        assert_eq!(
            names(&env_vars(&c, &[]).unwrap()),
            vec![("DB_PASS".into(), "p".into(), false)]
        );
    }

    #[test]
    fn dotenv_quoting_round_trips_through_dotenvy() {
        let values = [
            "plain-1",
            "with space",
            "q\"uote",
            "dollar$HOME",
            "back\\slash",
            "multi\nline",
            "",
            "a'b",
        ];
        let text: String = values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("V{i}={}\n", dotenv_quote(v)))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join(".env");
        std::fs::write(&f, text).unwrap();
        let parsed: Vec<(String, String)> = dotenvy::from_path_iter(&f)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for (i, v) in values.iter().enumerate() {
            assert_eq!(parsed[i], (format!("V{i}"), v.to_string()));
        }
    }
}
