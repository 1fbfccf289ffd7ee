//! The `sql` probe: log in to a database and run `SELECT 1`, by engine: PostgreSQL
//! (`postgres`, by `tokio-postgres`) or MySQL/MariaDB (`mysql`, by `mysql_async`). A
//! connection string's scheme picks the engine (`postgres://`, `postgresql://` or a
//! `key=value` string; `mysql://`, `mariadb://`); a target by parts names it in the
//! probe's `engine`.
//!
//! **Invariants:** server errors enter the reason as a fixed description and a SQLSTATE
//! code ([`sqlstate`] checks its form), never the server's message; connection-string
//! errors name the field only.

mod mysql;
mod postgres;
mod tls;

use super::outcome::Failure;
use super::values::{field_name, Values};
use super::VerifyOutcome;
use crate::template::{SqlEngine, SqlProbe};

pub(super) async fn run(p: &SqlProbe, values: &Values<'_>, timeout_ms: u64) -> VerifyOutcome {
    match engine(p, values) {
        Ok(SqlEngine::Postgres) => postgres::run(p, values, timeout_ms).await,
        Ok(SqlEngine::Mysql) => mysql::run(p, values, timeout_ms).await,
        Err(f) => VerifyOutcome::failed(f, 0),
    }
}

/// The engine of the probe's target.
fn engine(p: &SqlProbe, values: &Values<'_>) -> Result<SqlEngine, Failure> {
    let Some(template) = &p.dsn else {
        return Ok(p.engine.unwrap_or_default());
    };
    let dsn = values.render(template)?;
    let Some((scheme, _)) = dsn.trim().split_once("://") else {
        return Ok(SqlEngine::Postgres);
    };
    match scheme.to_ascii_lowercase().as_str() {
        "postgres" | "postgresql" => Ok(SqlEngine::Postgres),
        "mysql" | "mariadb" => Ok(SqlEngine::Mysql),
        "sqlserver" | "mssql" => Err(Failure::UnsupportedEngine("SQL Server")),
        _ => Err(Failure::InvalidValue {
            field: field_name(template, "dsn"),
            expected: "a PostgreSQL or MySQL connection string",
        }),
    }
}

/// A SQLSTATE as the server sent it when it has the form (five digits or capitals),
/// else `?????`: the only server text a reason takes.
fn sqlstate(code: &str) -> String {
    if code.len() == 5
        && code
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
    {
        code.to_string()
    } else {
        "?????".to_string()
    }
}
