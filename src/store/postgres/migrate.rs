//! Versioned schema migrations, refinery-style: each migration is a file
//! `migrations/V<version>__<name>.sql`, embedded in the binary, applied once and in
//! order, and recorded in `credledger.schema_migrations` with a checksum of its text.
//!
//! **Invariants:** migrations run in one transaction under an advisory lock, so nodes
//! starting together apply each exactly once and a failed migration leaves nothing
//! behind; an applied migration whose file changed, or a database migrated by a newer
//! binary (a version this one does not know), is refused before anything is written;
//! read-only openers ([`check`]) never migrate.

use super::db::PgError;
use super::sql;
use tokio_postgres::Client;

/// One migration: version, name and SQL text.
pub struct Migration {
    pub version: i32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration this binary knows, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "ledger",
        sql: include_str!("migrations/V1__ledger.sql"),
    },
    Migration {
        version: 2,
        name: "cosignatures",
        sql: include_str!("migrations/V2__cosignatures.sql"),
    },
    Migration {
        version: 3,
        name: "snapshot",
        sql: include_str!("migrations/V3__snapshot.sql"),
    },
];

/// The newest schema version this binary knows.
pub fn latest() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

fn checksum(sql: &str) -> Vec<u8> {
    blake3::hash(sql.as_bytes()).as_bytes()[..16].to_vec()
}

/// Why the schema cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error(transparent)]
    Pg(#[from] PgError),
    /// A recorded migration is not the file this binary has.
    #[error("schema migration {version} ({name}) was applied from a different file than this binary's (checksum mismatch): refusing to use the database")]
    Changed { version: i32, name: String },
    /// The database was migrated by a newer credledger.
    #[error("the database has schema version {found}, newer than this binary's {known}: upgrade credledger")]
    Newer { found: i32, known: i32 },
    /// A read-only opener found no schema.
    #[error("the database holds no credledger schema (start `credledger serve --store …` or run `credledger migrate` to create one)")]
    Missing,
    /// A read-only opener found an older schema.
    #[error("the database has schema version {found}; this binary needs {known}: start `credledger serve --store …` once to migrate it")]
    Older { found: i32, known: i32 },
}

/// Checks the applied migrations against [`MIGRATIONS`]; returns the applied version.
fn verify(applied: &[(i32, String, Vec<u8>)]) -> Result<i32, SchemaError> {
    let mut version = 0;
    for (v, name, sum) in applied {
        match MIGRATIONS.iter().find(|m| m.version == *v) {
            None => {
                return Err(SchemaError::Newer {
                    found: *v,
                    known: latest(),
                })
            }
            Some(m) if checksum(m.sql) != *sum => {
                return Err(SchemaError::Changed {
                    version: *v,
                    name: name.clone(),
                })
            }
            Some(_) => version = *v,
        }
    }
    Ok(version)
}

async fn applied(
    client: &impl tokio_postgres::GenericClient,
) -> Result<Vec<(i32, String, Vec<u8>)>, PgError> {
    Ok(client
        .query(sql::APPLIED_MIGRATIONS, &[])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
}

/// Creates or migrates the schema to [`latest`]; returns the versions applied now.
pub async fn run(client: &mut Client) -> Result<Vec<i32>, SchemaError> {
    let tx = client.transaction().await.map_err(PgError::from)?;
    tx.batch_execute(sql::LOCK_MIGRATIONS)
        .await
        .map_err(PgError::from)?;
    tx.batch_execute(sql::CREATE_MIGRATIONS)
        .await
        .map_err(PgError::from)?;
    let done = applied(&tx).await?;
    let current = verify(&done)?;
    let mut now = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        tx.batch_execute(m.sql).await.map_err(PgError::from)?;
        tx.execute(
            sql::RECORD_MIGRATION,
            &[&m.version, &m.name, &checksum(m.sql)],
        )
        .await
        .map_err(PgError::from)?;
        now.push(m.version);
    }
    tx.commit().await.map_err(PgError::from)?;
    Ok(now)
}

/// Checks, without writing, that the schema is this binary's.
pub async fn check(client: &Client) -> Result<(), SchemaError> {
    let exists: bool = client
        .query_one(sql::SCHEMA_EXISTS, &[])
        .await
        .map_err(PgError::from)?
        .get(0);
    if !exists {
        return Err(SchemaError::Missing);
    }
    let found = verify(&applied(client).await?)?;
    if found < latest() {
        return Err(SchemaError::Older {
            found,
            known: latest(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order_and_named_after_their_files() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i32 + 1);
            assert!(m.sql.contains("credledger."), "{}", m.name);
        }
        let files: Vec<String> = std::fs::read_dir(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src/store/postgres/migrations"
        ))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
        assert_eq!(files.len(), MIGRATIONS.len(), "{files:?}");
        for m in MIGRATIONS {
            let name = format!("V{}__{}.sql", m.version, m.name);
            assert!(files.contains(&name), "{name} missing among {files:?}");
        }
    }

    #[test]
    fn a_changed_or_newer_migration_is_refused() {
        let m = &MIGRATIONS[0];
        let ok = vec![(1, m.name.to_string(), checksum(m.sql))];
        assert_eq!(verify(&ok).unwrap(), 1);
        let changed = vec![(1, m.name.to_string(), vec![0; 16])];
        assert!(matches!(verify(&changed), Err(SchemaError::Changed { .. })));
        let newer = vec![
            (1, m.name.to_string(), checksum(m.sql)),
            (99, "x".into(), vec![]),
        ];
        assert!(matches!(
            verify(&newer),
            Err(SchemaError::Newer { found: 99, .. })
        ));
    }
}
