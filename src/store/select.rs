//! Which store a command uses: `--store postgres://…` (or `CREDLEDGER_STORE`) selects
//! PostgreSQL; without it (or with `embedded`) the embedded sled store in the data
//! directory is used. The binary resolves the flag; this module only parses it.
//!
//! **Invariant:** a selection is displayed without its password ([`StoreSpec::describe`]),
//! so it can appear in logs and errors.

use super::postgres;

/// The selected store.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreSpec {
    /// The embedded sled store under the data directory (`DIR/ledger`).
    Embedded,
    /// A PostgreSQL database, by libpq-style URL.
    Postgres(String),
}

impl std::fmt::Debug for StoreSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// A `--store` value that names no store.
#[derive(Debug, thiserror::Error)]
#[error("--store must be `embedded` or a postgres:// (postgresql://) URL, not {0:?}")]
pub struct UnknownStore(String);

impl StoreSpec {
    /// Parses a `--store` value; `None` or empty is the embedded store.
    pub fn parse(value: Option<&str>) -> Result<StoreSpec, UnknownStore> {
        match value.map(str::trim) {
            None | Some("") | Some("embedded") | Some("sled") => Ok(StoreSpec::Embedded),
            Some(v) if v.starts_with("postgres://") || v.starts_with("postgresql://") => {
                Ok(StoreSpec::Postgres(v.to_string()))
            }
            Some(v) => {
                let shown: String = v.chars().take(20).collect();
                Err(UnknownStore(shown))
            }
        }
    }

    /// Whether this is PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        matches!(self, StoreSpec::Postgres(_))
    }

    /// The selection for messages: `embedded`, or `postgresql://host:port/db` without
    /// the user's password.
    pub fn describe(&self) -> String {
        match self {
            StoreSpec::Embedded => "embedded".into(),
            StoreSpec::Postgres(url) => match postgres::parse_url(url) {
                Ok(c) => format!("postgresql://{}", postgres::describe(&c)),
                Err(_) => "postgresql://(invalid URL)".into(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_values() {
        assert_eq!(StoreSpec::parse(None).unwrap(), StoreSpec::Embedded);
        assert_eq!(
            StoreSpec::parse(Some("embedded")).unwrap(),
            StoreSpec::Embedded
        );
        let pg = StoreSpec::parse(Some("postgres://u:pw-123@127.0.0.1:5/db")).unwrap();
        assert!(pg.is_postgres());
        assert_eq!(pg.describe(), "postgresql://127.0.0.1:5/db");
        assert!(!format!("{pg:?}").contains("pw-123"));
        let e = StoreSpec::parse(Some("mysql://x")).unwrap_err().to_string();
        assert!(e.contains("mysql://x"), "{e}");
    }
}
