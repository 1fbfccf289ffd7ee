//! Where the client connects and with which token: flags > environment > config file.
//!
//! Two stages, as in ripgrep: [`ConnArgs`] holds what was typed, [`Connection::resolve`]
//! turns it, the environment and the config file into one resolved value. The config file
//! is JSON (`{"addr","token"}`) at `$CREDLEDGER_CONFIG`, else
//! `$XDG_CONFIG_HOME/credledger/config.json`, else `~/.config/credledger/config.json`.
//!
//! **Invariant:** the config file is written with mode 0600 by an atomic rename, and one
//! readable by group or others is refused.
//!
//! This module only resolves and saves; the commands that use it (`login`, `logout`,
//! `whoami`) are in `session`, and the HTTP client built from a [`Connection`] is in
//! `client`.

use super::error::CliError;
use super::output::Out;
use clap::Args;
use credledger::fsutil::write_private_atomic;
use serde::{Deserialize, Serialize};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The address used when no flag, variable or config file names one.
pub const DEFAULT_ADDR: &str = "http://127.0.0.1:8420";

/// Connection and output options shared by every client command.
#[derive(Args, Debug, Clone, Default)]
pub struct ConnArgs {
    /// Server address [env: CREDLEDGER_ADDR] [default: http://127.0.0.1:8420].
    #[arg(long, global = true, value_name = "URL", help_heading = "Connection")]
    pub addr: Option<String>,
    /// API token [env: CREDLEDGER_TOKEN]; prefer the variable or `credledger login`, a
    /// token on the command line shows in shell history and ps.
    #[arg(long, global = true, value_name = "TOKEN", help_heading = "Connection")]
    pub token: Option<String>,
    /// Config file [env: CREDLEDGER_CONFIG].
    #[arg(long, global = true, value_name = "FILE", help_heading = "Connection")]
    pub config: Option<PathBuf>,
    /// Trust the CA certificates (PEM) in this file for an `https://` server, besides the
    /// public roots [env: CREDLEDGER_CA_FILE].
    #[arg(long, global = true, value_name = "FILE", help_heading = "Connection")]
    pub ca_file: Option<PathBuf>,
    /// Print JSON for scripts instead of tables.
    #[arg(long, global = true, help_heading = "Output")]
    pub json: bool,
}

/// The saved connection.
#[derive(Serialize, Deserialize, Default)]
struct ConfigFile {
    addr: Option<String>,
    token: Option<String>,
}

/// The resolved connection.
pub struct Connection {
    pub addr: String,
    pub token: Option<Zeroizing<String>>,
    pub out: Out,
    /// Extra CA certificates to trust (`--ca-file`, `CREDLEDGER_CA_FILE`).
    pub ca_file: Option<PathBuf>,
}

/// Normalizes an address: `host:port` gets `http://`.
pub fn normalize_addr(addr: &str) -> String {
    let a = addr.trim().trim_end_matches('/');
    if a.starts_with("http://") || a.starts_with("https://") {
        a.to_string()
    } else {
        format!("http://{a}")
    }
}

/// The config file path: flag, `CREDLEDGER_CONFIG`, XDG, home.
pub fn config_path(flag: Option<&Path>, env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(p) = flag {
        return Some(p.to_path_buf());
    }
    let nonempty = |k: &str| env(k).filter(|v| !v.is_empty());
    if let Some(p) = nonempty("CREDLEDGER_CONFIG") {
        return Some(PathBuf::from(p));
    }
    if let Some(x) = nonempty("XDG_CONFIG_HOME") {
        return Some(Path::new(&x).join("credledger/config.json"));
    }
    nonempty("HOME").map(|h| Path::new(&h).join(".config/credledger/config.json"))
}

fn read_config(path: &Path) -> Result<ConfigFile, CliError> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ConfigFile::default()),
        Err(e) => {
            return Err(CliError::usage(format!(
                "cannot read {}: {e}",
                path.display()
            )))
        }
    };
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(CliError::usage(format!(
            "{} holds a token but is readable by others (mode {:o}); run `chmod 600 {}`",
            path.display(),
            meta.permissions().mode() & 0o777,
            path.display()
        )));
    }
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))?,
    );
    serde_json::from_str(&text).map_err(|e| {
        CliError::usage(format!(
            "{} is not a valid config file: {e}",
            path.display()
        ))
    })
}

/// Saves the connection's address and token to the config file at `path` (mode 0600,
/// by an atomic rename), creating its directory with mode 0700 when missing.
pub fn save_config(path: &Path, conn: &Connection) -> std::io::Result<()> {
    let saved = ConfigFile {
        addr: Some(conn.addr.clone()),
        token: conn.token.as_ref().map(|t| t.to_string()),
    };
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() && !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
        }
    }
    let bytes = Zeroizing::new(serde_json::to_vec_pretty(&saved)?);
    write_private_atomic(path, &bytes)
}

impl Connection {
    /// Flags win over the environment, which wins over the config file.
    pub fn resolve(
        args: &ConnArgs,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, CliError> {
        let nonempty = |k: &str| env(k).filter(|v| !v.is_empty());
        let path = config_path(args.config.as_deref(), env);
        let file = match &path {
            Some(p) => read_config(p)?,
            None => ConfigFile::default(),
        };
        let addr = args
            .addr
            .clone()
            .or_else(|| nonempty("CREDLEDGER_ADDR"))
            .or(file.addr)
            .unwrap_or_else(|| DEFAULT_ADDR.into());
        if args.token.is_some() {
            eprintln!("warning: a token on the command line can leak through shell history and ps; use CREDLEDGER_TOKEN or `credledger login`");
        }
        let token = args
            .token
            .clone()
            .or_else(|| nonempty("CREDLEDGER_TOKEN"))
            .or(file.token)
            .map(|t| Zeroizing::new(t.trim().to_string()));
        Ok(Connection {
            addr: normalize_addr(&addr),
            token,
            out: Out { json: args.json },
            ca_file: args
                .ca_file
                .clone()
                .or_else(|| nonempty("CREDLEDGER_CA_FILE").map(PathBuf::from)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn flags_beat_env_beat_file() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("c.json");
        write_private_atomic(&cfg, br#"{"addr":"file:1","token":"tf"}"#).unwrap();
        let cfg_s = cfg.to_str().unwrap();
        let e = env(&[("CREDLEDGER_CONFIG", cfg_s)]);
        let c = Connection::resolve(&ConnArgs::default(), &e).unwrap();
        assert_eq!(
            (c.addr.as_str(), c.token.as_deref().map(String::as_str)),
            ("http://file:1", Some("tf"))
        );
        let e = env(&[
            ("CREDLEDGER_CONFIG", cfg_s),
            ("CREDLEDGER_ADDR", "https://env:2/"),
            ("CREDLEDGER_TOKEN", "te"),
        ]);
        let c = Connection::resolve(&ConnArgs::default(), &e).unwrap();
        assert_eq!(
            (c.addr.as_str(), c.token.as_deref().map(String::as_str)),
            ("https://env:2", Some("te"))
        );
        let flags = ConnArgs {
            addr: Some("flag:3".into()),
            token: Some("tk".into()),
            ..Default::default()
        };
        let c = Connection::resolve(&flags, &e).unwrap();
        assert_eq!(
            (c.addr.as_str(), c.token.as_deref().map(String::as_str)),
            ("http://flag:3", Some("tk"))
        );
        let c = Connection::resolve(&ConnArgs::default(), &env(&[])).unwrap();
        assert_eq!((c.addr.as_str(), c.token.is_none()), (DEFAULT_ADDR, true));
    }

    #[test]
    fn config_path_order_and_private_mode() {
        let p = config_path(None, &env(&[("XDG_CONFIG_HOME", "/x"), ("HOME", "/h")]));
        assert_eq!(p, Some(PathBuf::from("/x/credledger/config.json")));
        let p = config_path(None, &env(&[("HOME", "/h")]));
        assert_eq!(p, Some(PathBuf::from("/h/.config/credledger/config.json")));
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.json");
        write_private_atomic(&f, b"{}").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = read_config(&f).err().unwrap();
        assert!(e.message.contains("chmod 600"), "{}", e.message);
    }

    #[test]
    fn saved_config_resolves_back() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("sub/dir/config.json");
        let conn = Connection {
            addr: "http://saved:1".into(),
            token: Some(Zeroizing::new("ts".into())),
            out: Out { json: false },
            ca_file: None,
        };
        save_config(&cfg, &conn).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode(&cfg), mode(cfg.parent().unwrap())), (0o600, 0o700));
        let e = env(&[("CREDLEDGER_CONFIG", cfg.to_str().unwrap())]);
        let c = Connection::resolve(&ConnArgs::default(), &e).unwrap();
        assert_eq!(
            (c.addr.as_str(), c.token.as_deref().map(String::as_str)),
            ("http://saved:1", Some("ts"))
        );
    }
}
