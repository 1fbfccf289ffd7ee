//! The `postgres` and `db_dsn` templates against a real PostgreSQL (Debian's package,
//! started by `pg/`): a right password passes over TCP and the Unix socket, by parts and
//! by connection string; a wrong one fails with the server's SQLSTATE (never its
//! message); TLS modes; an unreachable server times out; strings of other engines are
//! refused before anything is sent.

use super::pg::{Pg, DATABASE, PASSWORD, ROLE};
use super::{builtin, check, custom_template, expect, silent_server};
use serde_json::json;

const WRONG: &str = "pg-WRONG-9e3d0a";

#[tokio::test]
async fn postgresql_logins_against_a_real_server() {
    let pg = tokio::task::spawn_blocking(Pg::start).await.unwrap();
    let port = pg.port.to_string();
    let secrets = [PASSWORD, WRONG];
    let socket = pg.socket_dir().display().to_string();

    // By parts, over TCP (sslmode defaults to prefer: the server has no TLS, so plain).
    let parts = |password: &str, extra: serde_json::Value| {
        let mut v = json!({"host": "127.0.0.1", "port": port, "database": DATABASE, "username": ROLE, "password": password});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        v
    };
    let out = check(builtin("postgres"), parts(PASSWORD, json!({})), &secrets).await;
    expect(&out, true, "PostgreSQL login ok (SELECT 1)");
    let out = check(builtin("postgres"), parts(WRONG, json!({})), &secrets).await;
    expect(
        &out,
        false,
        "password authentication failed (SQLSTATE 28P01)",
    );
    let out = check(
        builtin("postgres"),
        parts(PASSWORD, json!({"database": "no_such_db"})),
        &secrets,
    )
    .await;
    // PostgreSQL checks the password before the database.
    expect(&out, false, "database does not exist (SQLSTATE 3D000)");
    let out = check(
        builtin("postgres"),
        parts(PASSWORD, json!({"sslmode": "disable"})),
        &secrets,
    )
    .await;
    expect(&out, true, "PostgreSQL login ok (SELECT 1)");
    for mode in ["require", "verify-full"] {
        let out = check(
            builtin("postgres"),
            parts(PASSWORD, json!({"sslmode": mode})),
            &secrets,
        )
        .await;
        expect(&out, false, "the server does not support TLS");
    }

    // By parts, over the Unix socket (TLS does not apply).
    let out = check(
        builtin("postgres"),
        json!({"host": socket, "port": port, "database": DATABASE, "username": ROLE, "password": PASSWORD, "sslmode": "require"}),
        &secrets,
    )
    .await;
    expect(&out, true, "PostgreSQL login ok (SELECT 1)");
    let out = check(
        builtin("postgres"),
        json!({"host": socket, "port": port, "database": DATABASE, "username": ROLE, "password": WRONG}),
        &secrets,
    )
    .await;
    expect(
        &out,
        false,
        "password authentication failed (SQLSTATE 28P01)",
    );

    // A connection string: URL and key=value forms.
    let out = check(
        builtin("db_dsn"),
        json!({"dsn": pg.url(PASSWORD)}),
        &secrets,
    )
    .await;
    expect(&out, true, "PostgreSQL login ok (SELECT 1)");
    let out = check(builtin("db_dsn"), json!({"dsn": pg.url(WRONG)}), &secrets).await;
    expect(
        &out,
        false,
        "password authentication failed (SQLSTATE 28P01)",
    );
    let kv = format!("host={socket} port={port} user={ROLE} password={PASSWORD} dbname={DATABASE}");
    let out = check(builtin("db_dsn"), json!({"dsn": kv}), &secrets).await;
    expect(&out, true, "PostgreSQL login ok (SELECT 1)");
    let url =
        format!("postgresql://{ROLE}:{PASSWORD}@127.0.0.1:{port}/{DATABASE}?sslmode=verify-full");
    let out = check(builtin("db_dsn"), json!({"dsn": url}), &secrets).await;
    expect(&out, false, "the server does not support TLS");
    let url = format!("postgresql://{ROLE}:{PASSWORD}@127.0.0.1:{port}/{DATABASE}?sslmode=allow");
    let out = check(builtin("db_dsn"), json!({"dsn": url}), &secrets).await;
    expect(&out, true, "PostgreSQL login ok (SELECT 1)");

    assert!(
        !pg.log().contains(PASSWORD),
        "the server logged the password"
    );
    // The capture takes the client library's `log` records too, so the checks above
    // covered them.
    assert!(
        super::logs().contains("tokio_postgres"),
        "no client log captured"
    );
}

#[tokio::test]
async fn connection_strings_that_cannot_be_tested_and_unreachable_servers() {
    let secret = "SeKrEt-dsn-77b1";
    let cases = [
        (
            format!("sqlserver://app:{secret}@db.example/app"),
            "cannot verify: SQL Server connection strings are not supported (PostgreSQL and MySQL only)",
        ),
        (
            format!("redis://:{secret}@cache.example"),
            "dsn is not a PostgreSQL or MySQL connection string",
        ),
        (
            format!("mysql://app:{secret}@db.example/app?ssl-mode=SOMETIMES"),
            "dsn is not a MySQL URL with a known ssl-mode",
        ),
        (
            format!("postgres://app:{secret}@db.example/app?sslmode=sometimes"),
            "dsn is not a connection string with a known sslmode",
        ),
        (
            format!("host=db.example password={secret} port=notaport"),
            "dsn is not a valid PostgreSQL connection string",
        ),
    ];
    for (dsn, reason) in cases {
        let out = check(builtin("db_dsn"), json!({"dsn": dsn}), &[secret]).await;
        expect(&out, false, reason);
        assert_eq!(out.latency_ms, 0);
    }

    // A server that accepts and never speaks: the probe's timeout ends it cleanly.
    let addr = silent_server().await;
    let t = custom_template(
        json!([{"name": "dsn", "label": "DSN", "type": "secret", "required": true}]),
        json!({"kind": "sql", "dsn": "{{dsn}}", "timeout_ms": 400}),
    );
    let dsn = format!("postgres://app:{secret}@127.0.0.1:{}/app", addr.port());
    let out = check(&t, json!({"dsn": dsn}), &[secret]).await;
    expect(&out, false, "timeout after 400 ms");
    assert!(out.latency_ms >= 350, "{out:?}");

    let port = super::closed_port();
    let dsn = format!("postgres://app:{secret}@127.0.0.1:{port}/app");
    let out = check(builtin("db_dsn"), json!({"dsn": dsn}), &[secret]).await;
    expect(&out, false, "connection refused");
}

#[tokio::test]
async fn postgresql_over_tls_with_a_self_signed_certificate() {
    let pg = tokio::task::spawn_blocking(Pg::start_tls).await.unwrap();
    let secrets = [PASSWORD];
    let login = |host: &str, sslmode: &str| json!({"host": host, "port": pg.port.to_string(), "database": DATABASE, "username": ROLE, "password": PASSWORD, "sslmode": sslmode});
    // Encrypted without checking the certificate, as libpq does.
    for mode in ["require", "prefer"] {
        let out = check(builtin("postgres"), login("127.0.0.1", mode), &secrets).await;
        expect(&out, true, "PostgreSQL login ok (SELECT 1)");
    }
    let log = pg.log();
    assert_eq!(
        log.matches("SSL enabled").count(),
        2,
        "both logins used TLS: {log}"
    );
    // Checked against the public roots: a self-signed certificate fails.
    for host in ["127.0.0.1", "localhost"] {
        let out = check(builtin("postgres"), login(host, "verify-full"), &secrets).await;
        expect(&out, false, "tls error");
    }
    let out = check(builtin("postgres"), login("127.0.0.1", "disable"), &secrets).await;
    expect(&out, true, "PostgreSQL login ok (SELECT 1)");
}
