//! The `mysql` and `db_dsn` templates against a real MariaDB (Debian's package, started
//! by `mysql/`): a right password passes over TCP and the Unix socket, by parts and by
//! URL; a wrong one fails with the server's SQLSTATE (never its message); TLS demanded
//! of a server without it fails; an unreachable server times out.

use super::mysql::{Mysql, DATABASE, PASSWORD, USER};
use super::{builtin, check, custom_template, expect, silent_server};
use serde_json::json;

const WRONG: &str = "my-WRONG-2b8f61";

#[tokio::test]
async fn mysql_logins_against_a_real_mariadb() {
    let db = tokio::task::spawn_blocking(Mysql::start).await.unwrap();
    let port = db.port.to_string();
    let secrets = [PASSWORD, WRONG];
    let parts = |password: &str, extra: serde_json::Value| {
        let mut v = json!({"host": "127.0.0.1", "port": port, "database": DATABASE, "username": USER, "password": password});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        v
    };
    let ok = "MySQL login ok (SELECT 1)";
    let out = check(builtin("mysql"), parts(PASSWORD, json!({})), &secrets).await;
    expect(&out, true, ok);
    let out = check(builtin("mysql"), parts(WRONG, json!({})), &secrets).await;
    expect(&out, false, "access denied (SQLSTATE 28000)");
    let out = check(
        builtin("mysql"),
        parts(PASSWORD, json!({"database": "no_such_db"})),
        &secrets,
    )
    .await;
    expect(
        &out,
        false,
        "access to the database denied (SQLSTATE 42000)",
    );
    let out = check(
        builtin("mysql"),
        parts(PASSWORD, json!({"ssl_mode": "REQUIRED"})),
        &secrets,
    )
    .await;
    expect(&out, false, "the server does not support TLS");

    // The Unix socket.
    let socket = db.socket().display().to_string();
    let out = check(
        builtin("mysql"),
        json!({"host": socket, "username": USER, "password": PASSWORD}),
        &secrets,
    )
    .await;
    expect(&out, true, ok);

    // URLs.
    let out = check(
        builtin("db_dsn"),
        json!({"dsn": db.url(PASSWORD)}),
        &secrets,
    )
    .await;
    expect(&out, true, ok);
    let out = check(builtin("db_dsn"), json!({"dsn": db.url(WRONG)}), &secrets).await;
    expect(&out, false, "access denied (SQLSTATE 28000)");
    let url = format!("mariadb://{USER}:{PASSWORD}@127.0.0.1:{port}/{DATABASE}?ssl-mode=VERIFY_IDENTITY&charset=utf8mb4");
    let out = check(builtin("db_dsn"), json!({"dsn": url}), &secrets).await;
    expect(&out, false, "the server does not support TLS");
    let url = format!("mysql://{USER}:{PASSWORD}@localhost/{DATABASE}?socket={socket}");
    let out = check(builtin("db_dsn"), json!({"dsn": url}), &secrets).await;
    expect(&out, true, ok);

    assert!(
        !db.log().contains(PASSWORD),
        "the server logged the password"
    );
}

#[tokio::test]
async fn mysql_servers_that_do_not_answer_or_refuse() {
    let secret = "SeKrEt-mysql-4e0c";
    let addr = silent_server().await;
    let t = custom_template(
        json!([{"name": "dsn", "label": "DSN", "type": "secret", "required": true}]),
        json!({"kind": "sql", "dsn": "{{dsn}}", "timeout_ms": 400}),
    );
    let dsn = format!("mysql://app:{secret}@127.0.0.1:{}/app", addr.port());
    let out = check(&t, json!({"dsn": dsn}), &[secret]).await;
    expect(&out, false, "timeout after 400 ms");
    let dsn = format!(
        "mysql://app:{secret}@127.0.0.1:{}/app",
        super::closed_port()
    );
    let out = check(builtin("db_dsn"), json!({"dsn": dsn}), &[secret]).await;
    expect(&out, false, "connection refused");
    let out = check(
        builtin("mysql"),
        json!({"host": "credledger-test.invalid", "username": "u", "password": secret}),
        &[secret],
    )
    .await;
    expect(&out, false, "dns failure");
}

#[tokio::test]
async fn mysql_over_tls_with_a_self_signed_certificate() {
    let db = tokio::task::spawn_blocking(Mysql::start_tls).await.unwrap();
    let secrets = [PASSWORD];
    let login = |host: &str, mode: &str| json!({"host": host, "port": db.port.to_string(), "database": DATABASE, "username": USER, "password": PASSWORD, "ssl_mode": mode});
    // The user requires TLS: a plain login is refused, an encrypted one passes.
    let out = check(builtin("mysql"), login("127.0.0.1", "DISABLED"), &secrets).await;
    expect(&out, false, "access denied (SQLSTATE 28000)");
    let out = check(builtin("mysql"), login("127.0.0.1", "REQUIRED"), &secrets).await;
    expect(&out, true, "MySQL login ok (SELECT 1)");
    // Checked against the public roots: a self-signed certificate fails.
    for mode in ["VERIFY_CA", "VERIFY_IDENTITY"] {
        let out = check(builtin("mysql"), login("127.0.0.1", mode), &secrets).await;
        expect(&out, false, "tls error");
    }
}
