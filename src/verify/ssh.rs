//! The `ssh` probe: connect, check the host key, authenticate by password or private
//! key (`russh`), disconnect. The host key's SHA-256 fingerprint (as `ssh-keygen -l`
//! prints it) is named in the reason; when the credential pins one, any other key fails
//! the test before credentials are sent.
//!
//! **Invariants:** the fingerprint is the server's public data and the only server
//! data in a reason; a private key or passphrase error names the field only; the
//! password and key reach the SSH client as its own strings (outside this module's
//! zeroization) and go only to a server whose key passed the check.

use super::outcome::Failure;
use super::tcp::connect;
use super::values::{field_name, Values};
use super::{timed, VerifyOutcome};
use crate::template::SshProbe;
use russh::client::{self, Handle};
use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::Disconnect;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use zeroize::Zeroizing;

/// How the probe authenticates.
enum Login {
    Password(Zeroizing<String>),
    Key(Arc<PrivateKey>),
}

/// What the host-key check saw: the fingerprint and whether it was accepted.
type Seen = Arc<Mutex<Option<(String, bool)>>>;

/// The client handler: records the host key and accepts it unless a pin differs.
struct HostKeyCheck {
    pinned: Option<String>,
    seen: Seen,
}

impl client::Handler for HostKeyCheck {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let fingerprint = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.fingerprint(HashAlg::Sha256),
            PublicKeyOrCertificate::Certificate(c) => c.public_key().fingerprint(HashAlg::Sha256),
        }
        .to_string();
        let accepted = self.pinned.as_ref().is_none_or(|p| *p == fingerprint);
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some((fingerprint, accepted));
        }
        Ok(accepted)
    }
}

/// The pinned fingerprint in OpenSSH's form (`SHA256:` and 43 unpadded base64
/// characters). Accepts the bare base64 and a pasted `ssh-keygen -l` line.
pub(super) fn normalize_fingerprint(s: &str) -> Option<String> {
    let s = s.trim();
    let token = s
        .split_whitespace()
        .find(|t| t.starts_with("SHA256:"))
        .unwrap_or(s);
    let b64 = token.strip_prefix("SHA256:").unwrap_or(token);
    let valid = b64.len() == 43
        && b64
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
    valid.then(|| format!("SHA256:{b64}"))
}

/// What a login needs: host, port, user, the pinned fingerprint and the credential.
struct Prepared {
    host: String,
    port: u16,
    username: String,
    pinned: Option<String>,
    login: Login,
}

/// Fills the probe's parameters and reads the key: every failure here is before
/// anything is sent.
fn prepare(p: &SshProbe, values: &Values<'_>) -> Result<Prepared, Failure> {
    let host = values.render(&p.host)?.trim().to_string();
    let port = values.port(p.port.as_deref(), 22)?;
    let username = values.render(&p.username)?.trim().to_string();
    let pinned = match values.render_optional(p.host_key_fingerprint.as_deref())? {
        None => None,
        Some(f) => Some(normalize_fingerprint(&f).ok_or(Failure::InvalidValue {
            field: field_name(
                p.host_key_fingerprint.as_deref().unwrap_or_default(),
                "host_key_fingerprint",
            ),
            expected: "a SHA256 fingerprint (SHA256:…)",
        })?),
    };
    let login = match (&p.password, &p.private_key) {
        (Some(password), _) => Login::Password(values.render(password)?),
        (None, Some(key)) => {
            let pem = values.render(key)?;
            let passphrase = values.render_optional(p.passphrase.as_deref())?;
            let passphrase = passphrase.as_ref().map(|s| s.as_str());
            let decoded = russh::keys::decode_secret_key(&pem, passphrase).map_err(|_| {
                Failure::InvalidValue {
                    field: field_name(key, "private_key"),
                    expected: "a private key (or the passphrase is wrong)",
                }
            })?;
            Login::Key(Arc::new(decoded))
        }
        (None, None) => return Err(Failure::BadDefinition),
    };
    Ok(Prepared {
        host,
        port,
        username,
        pinned,
        login,
    })
}

pub(super) async fn run(p: &SshProbe, values: &Values<'_>, timeout_ms: u64) -> VerifyOutcome {
    let Prepared {
        host,
        port,
        username,
        pinned,
        login,
    } = match prepare(p, values) {
        Ok(p) => p,
        Err(f) => return VerifyOutcome::failed(f, 0),
    };
    timed(timeout_ms, async move {
        let stream = connect(&host, port).await?;
        let seen: Seen = Arc::default();
        let handler = HostKeyCheck {
            pinned,
            seen: seen.clone(),
        };
        let config = Arc::new(client::Config {
            inactivity_timeout: Some(Duration::from_millis(timeout_ms)),
            ..Default::default()
        });
        let handshake = client::connect_stream(config, stream, handler).await;
        let fingerprint = seen.lock().ok().and_then(|s| s.clone());
        let (mut handle, host_key) = match (handshake, fingerprint) {
            (Ok(h), Some((fp, true))) => (h, fp),
            (_, Some((fp, false))) => return Err(Failure::HostKeyMismatch(fp)),
            (Ok(_), None) | (Err(_), _) => return Err(Failure::SshHandshake),
        };
        let accepted = authenticate(&mut handle, &username, login).await;
        let _ = handle.disconnect(Disconnect::ByApplication, "", "en").await;
        if accepted? {
            Ok(format!("SSH login ok (host key {host_key})"))
        } else {
            Err(Failure::SshRejected(host_key))
        }
    })
    .await
}

/// Whether the server accepts the login.
async fn authenticate(
    handle: &mut Handle<HostKeyCheck>,
    username: &str,
    login: Login,
) -> Result<bool, Failure> {
    let result = match login {
        Login::Password(password) => {
            handle
                .authenticate_password(username, password.as_str())
                .await
        }
        Login::Key(key) => {
            let hash = if key.algorithm().is_rsa() {
                handle
                    .best_supported_rsa_hash()
                    .await
                    .ok()
                    .flatten()
                    .flatten()
            } else {
                None
            };
            handle
                .authenticate_publickey(username, PrivateKeyWithHashAlg::new(key, hash))
                .await
        }
    };
    result
        .map(|r| r.success())
        .map_err(|_| Failure::SshHandshake)
}

#[cfg(test)]
mod tests {
    use super::normalize_fingerprint;

    #[test]
    fn fingerprints_are_normalized() {
        let b64 = "uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s";
        let want = Some(format!("SHA256:{b64}"));
        assert_eq!(normalize_fingerprint(b64), want);
        assert_eq!(normalize_fingerprint(&format!(" SHA256:{b64} ")), want);
        assert_eq!(
            normalize_fingerprint(&format!("256 SHA256:{b64} root@host (ED25519)")),
            want
        );
        for bad in [
            "",
            "SHA256:short",
            "MD5:16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48",
        ] {
            assert_eq!(normalize_fingerprint(bad), None, "{bad}");
        }
    }
}
