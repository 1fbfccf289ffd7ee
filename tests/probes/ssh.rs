//! The `ssh` template against an in-process SSH server (`russh`, a host key made here):
//! one user with a password, one with a public key. Wrong credentials are rejected, a
//! pinned host-key fingerprint that differs fails before any credential is sent, and the
//! outcome names the server's fingerprint.

use super::{builtin, check, expect, silent_server};
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::ssh_key::LineEnding;
use russh::keys::{HashAlg, PrivateKey};
use russh::server::{self, Auth};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const PASSWORD: &str = "SeKrEt-ssh-pw-51c0";

fn key(seed: u8) -> PrivateKey {
    let mut bytes: [u8; 32] = rand::random();
    bytes[0] = seed;
    PrivateKey::from(Ed25519Keypair::from_seed(&bytes))
}

struct Server {
    client_key: russh::keys::PublicKey,
    attempts: Arc<AtomicUsize>,
}

impl server::Handler for Server {
    type Error = russh::Error;

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        Ok(if user == "pw-user" && password == PASSWORD {
            Auth::Accept
        } else {
            Auth::reject()
        })
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: server::VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        Ok(
            if user == "key-user" && key.public_key.key_data() == self.client_key.key_data() {
                Auth::Accept
            } else {
                Auth::reject()
            },
        )
    }
}

/// Starts the server; returns its port, its host key's fingerprint and the count of
/// authentication attempts it saw.
async fn ssh_server(client_key: russh::keys::PublicKey) -> (u16, String, Arc<AtomicUsize>) {
    let host_key = key(1);
    let fingerprint = host_key
        .public_key()
        .fingerprint(HashAlg::Sha256)
        .to_string();
    let config = Arc::new(server::Config {
        keys: vec![host_key],
        auth_rejection_time: std::time::Duration::from_millis(10),
        auth_rejection_time_initial: Some(std::time::Duration::ZERO),
        ..Default::default()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let attempts = Arc::new(AtomicUsize::new(0));
    let counter = attempts.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let handler = Server {
                client_key: client_key.clone(),
                attempts: counter.clone(),
            };
            let config = config.clone();
            tokio::spawn(async move {
                if let Ok(session) = server::run_stream(config, stream, handler).await {
                    let _ = session.await;
                }
            });
        }
    });
    (port, fingerprint, attempts)
}

#[tokio::test]
async fn ssh_password_and_key_logins_with_host_key_pinning() {
    let client = key(2);
    let stranger = key(3);
    let (port, fp, attempts) = ssh_server(client.public_key().clone()).await;
    let pem = client.to_openssh(LineEnding::LF).unwrap().to_string();
    let stranger_pem = stranger.to_openssh(LineEnding::LF).unwrap().to_string();
    let secrets = [PASSWORD, pem.as_str(), stranger_pem.as_str()];
    let login = |extra: serde_json::Value| {
        let mut v = json!({"host": "127.0.0.1", "port": port});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        v
    };
    let ok = format!("SSH login ok (host key {fp})");
    let rejected = format!("SSH authentication rejected (host key {fp})");

    let out = check(
        builtin("ssh"),
        login(json!({"username": "pw-user", "auth_method": "password", "password": PASSWORD})),
        &secrets,
    )
    .await;
    expect(&out, true, &ok);
    let out = check(
        builtin("ssh"),
        login(
            json!({"username": "pw-user", "auth_method": "password", "password": "SeKrEt-wrong"}),
        ),
        &secrets,
    )
    .await;
    expect(&out, false, &rejected);
    let out = check(
        builtin("ssh"),
        login(json!({"username": "key-user", "private_key": pem})),
        &secrets,
    )
    .await;
    expect(&out, true, &ok);
    let out = check(
        builtin("ssh"),
        login(json!({"username": "key-user", "private_key": stranger_pem})),
        &secrets,
    )
    .await;
    expect(&out, false, &rejected);

    // An encrypted key: the passphrase opens it; a wrong or missing one fails before
    // anything is sent.
    let phrase = "SeKrEt-passphrase-0d";
    let encrypted = client
        .encrypt(&mut rand010::rng(), phrase)
        .unwrap()
        .to_openssh(LineEnding::LF)
        .unwrap()
        .to_string();
    let secrets = [PASSWORD, pem.as_str(), encrypted.as_str(), phrase];
    let out = check(
        builtin("ssh"),
        login(json!({"username": "key-user", "private_key": encrypted, "passphrase": phrase})),
        &secrets,
    )
    .await;
    expect(&out, true, &ok);
    for wrong in [json!({"passphrase": "SeKrEt-not-it"}), json!({})] {
        let mut input = login(json!({"username": "key-user", "private_key": encrypted}));
        input
            .as_object_mut()
            .unwrap()
            .extend(wrong.as_object().unwrap().clone());
        let out = check(builtin("ssh"), input, &secrets).await;
        expect(
            &out,
            false,
            "private_key is not a private key (or the passphrase is wrong)",
        );
        assert_eq!(out.latency_ms, 0);
    }

    // Pinned: the right fingerprint (as ssh-keygen -l prints it) passes.
    let pasted = format!("256 {fp} root@server (ED25519)");
    let out = check(
        builtin("ssh"),
        login(json!({"username": "key-user", "private_key": pem, "host_key_fingerprint": pasted})),
        &secrets,
    )
    .await;
    expect(&out, true, &ok);

    // Pinned to another key: fails before any credential is offered.
    let before = attempts.load(Ordering::SeqCst);
    let other = key(4).public_key().fingerprint(HashAlg::Sha256).to_string();
    let out = check(builtin("ssh"), login(json!({"username": "pw-user", "auth_method": "password", "password": PASSWORD, "host_key_fingerprint": other})), &secrets).await;
    expect(
        &out,
        false,
        &format!("host key mismatch: the server offered {fp}"),
    );
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        before,
        "credentials reached a mismatched host"
    );
    assert!(super::logs().contains("russh"), "no client log captured");
}

#[tokio::test]
async fn ssh_failures_before_and_during_the_handshake() {
    let secret = "SeKrEt-ssh-key-a3";
    let out = check(
        builtin("ssh"),
        json!({"host": "127.0.0.1", "username": "u", "private_key": format!("-----BEGIN OPENSSH PRIVATE KEY-----\n{secret}\n-----END OPENSSH PRIVATE KEY-----\n")}),
        &[secret],
    )
    .await;
    expect(
        &out,
        false,
        "private_key is not a private key (or the passphrase is wrong)",
    );
    assert_eq!(out.latency_ms, 0);
    let out = check(
        builtin("ssh"),
        json!({"host": "127.0.0.1", "username": "u", "auth_method": "password", "password": secret, "host_key_fingerprint": "MD5:16:27:ac"}),
        &[secret],
    )
    .await;
    expect(
        &out,
        false,
        "host_key_fingerprint is not a SHA256 fingerprint (SHA256:…)",
    );

    // Not an SSH server: an HTTP server's greeting.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        while let Ok((mut s, _)) = listener.accept().await {
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
        }
    });
    let out = check(
        builtin("ssh"),
        json!({"host": "127.0.0.1", "port": port, "username": "u", "auth_method": "password", "password": secret}),
        &[secret],
    )
    .await;
    expect(&out, false, "SSH handshake failed");

    // A server that never speaks: the timeout.
    let addr = silent_server().await;
    let t = super::custom_template(
        json!([{"name": "host", "label": "Host", "type": "text", "required": true}, {"name": "pw", "label": "Password", "type": "secret", "required": true}]),
        json!({"kind": "ssh", "host": "{{host}}", "port": addr.port().to_string(), "username": "u", "password": "{{pw}}", "timeout_ms": 400}),
    );
    let out = check(&t, json!({"host": "127.0.0.1", "pw": secret}), &[secret]).await;
    expect(&out, false, "timeout after 400 ms");

    let out = check(
        builtin("ssh"),
        json!({"host": "127.0.0.1", "port": super::closed_port(), "username": "u", "auth_method": "password", "password": secret}),
        &[secret],
    )
    .await;
    expect(&out, false, "connection refused");
}
