//! The `gcp` template against a local token endpoint that verifies the JWT assertion as
//! Google does: RS256 signature by the public key of a test service-account key made
//! here with the `rsa` crate, `kid`, `iss`, `aud` (the endpoint itself), `scope`, and a
//! one-hour `exp`.

use super::{builtin, check, expect};
use axum::http::StatusCode;
use axum::Form;
use base64::Engine as _;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use rsa::signature::Verifier;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

const EMAIL: &str = "probe@credledger-test.iam.gserviceaccount.com";
const ACCESS_TOKEN: &str = "ya29.SeKrEt-access-token-3e7f";

/// Two test keys (made once; RSA key generation is slow): the registered one and a
/// stranger.
fn keys() -> &'static (RsaPrivateKey, RsaPrivateKey) {
    static KEYS: OnceLock<(RsaPrivateKey, RsaPrivateKey)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut rng = rand::thread_rng();
        (
            RsaPrivateKey::new(&mut rng, 2048).unwrap(),
            RsaPrivateKey::new(&mut rng, 2048).unwrap(),
        )
    })
}

/// A service-account key file for `key`.
fn key_file(key: &RsaPrivateKey, token_uri: &str) -> (Value, String) {
    let pem = key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
    let file = json!({
        "type": "service_account",
        "project_id": "credledger-test",
        "private_key_id": "kid-0001",
        "private_key": pem,
        "client_email": EMAIL,
        "client_id": "1234567890",
        "token_uri": token_uri,
    });
    (file, pem)
}

/// What the endpoint checked, per request: `Ok` or why it refused.
type Verdicts = Arc<Mutex<Vec<Result<(), String>>>>;

/// A token endpoint at `/token` (and `/other`, to test the override) that knows one
/// public key.
async fn token_endpoint(public: RsaPublicKey) -> (String, Verdicts) {
    let verdicts: Verdicts = Arc::default();
    let log = verdicts.clone();
    let handler = move |axum::extract::OriginalUri(uri): axum::extract::OriginalUri,
                        Form(form): Form<HashMap<String, String>>| {
        let log = log.clone();
        let public = public.clone();
        async move {
            let verdict = verify_assertion(&form, &public, uri.path());
            let ok = verdict.is_ok();
            log.lock().unwrap().push(verdict);
            if ok {
                (
                    StatusCode::OK,
                    json!({"access_token": ACCESS_TOKEN, "expires_in": 3599, "token_type": "Bearer"})
                        .to_string(),
                )
            } else {
                (
                    StatusCode::BAD_REQUEST,
                    json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
                        .to_string(),
                )
            }
        }
    };
    let app = axum::Router::new()
        .route("/token", axum::routing::post(handler.clone()))
        .route("/other", axum::routing::post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), verdicts)
}

fn verify_assertion(
    form: &HashMap<String, String>,
    public: &RsaPublicKey,
    path: &str,
) -> Result<(), String> {
    if form.get("grant_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        return Err("grant_type".into());
    }
    let jwt = form.get("assertion").ok_or("no assertion")?;
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header, claims, signature] = parts.as_slice() else {
        return Err("not a JWS".into());
    };
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let signature = Signature::try_from(b64.decode(signature).map_err(|_| "b64")?.as_slice())
        .map_err(|_| "signature form")?;
    VerifyingKey::<Sha256>::new(public.clone())
        .verify(format!("{header}.{claims}").as_bytes(), &signature)
        .map_err(|_| "bad signature")?;
    let header: Value = serde_json::from_slice(&b64.decode(header).unwrap()).unwrap();
    let claims: Value = serde_json::from_slice(&b64.decode(claims).unwrap()).unwrap();
    if header["alg"] != "RS256" || header["typ"] != "JWT" || header["kid"] != "kid-0001" {
        return Err(format!("header {header}"));
    }
    if claims["iss"] != EMAIL || claims["scope"] != "https://www.googleapis.com/auth/cloud-platform"
    {
        return Err(format!("claims {claims}"));
    }
    let aud = claims["aud"].as_str().unwrap_or_default();
    if !aud.starts_with("http://127.0.0.1:") || !aud.ends_with(path) {
        return Err(format!("aud {aud} is not this endpoint"));
    }
    let (iat, exp) = (
        claims["iat"].as_u64().unwrap(),
        claims["exp"].as_u64().unwrap(),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    if exp - iat != 3600 || iat.abs_diff(now) > 300 {
        return Err("times".into());
    }
    Ok(())
}

#[tokio::test]
async fn service_account_jwt_is_exchanged_for_a_token() {
    let (good, stranger) = keys();
    let (base, verdicts) = token_endpoint(good.to_public_key()).await;
    let (file, pem) = key_file(good, &format!("{base}/token"));
    let secrets = [pem.as_str(), ACCESS_TOKEN];

    // The key's own token_uri.
    let out = check(
        builtin("gcp"),
        json!({"service_account_json": file}),
        &secrets,
    )
    .await;
    expect(&out, true, "HTTP 200 (access token issued)");
    assert_eq!(verdicts.lock().unwrap()[0], Ok(()));

    // The credential's override wins, and the audience follows it.
    let out = check(
        builtin("gcp"),
        json!({"service_account_json": file, "token_uri": format!("{base}/other")}),
        &secrets,
    )
    .await;
    expect(&out, true, "HTTP 200 (access token issued)");
    assert_eq!(verdicts.lock().unwrap()[1], Ok(()));

    // A key the endpoint does not know.
    let (file, other_pem) = key_file(stranger, &format!("{base}/token"));
    let out = check(
        builtin("gcp"),
        json!({"service_account_json": file}),
        &[pem.as_str(), other_pem.as_str()],
    )
    .await;
    expect(&out, false, "HTTP 400 (expected 200): invalid_grant");
    assert_eq!(verdicts.lock().unwrap()[2], Err("bad signature".into()));
}

#[tokio::test]
async fn malformed_keys_fail_before_sending_and_name_the_field_only() {
    let (good, _) = keys();
    let (mut file, pem) = key_file(good, "http://127.0.0.1:9/token");
    let cases = [
        (
            json!({"type": "authorized_user", "client_secret": "SeKrEt-gcp-1"}),
            "service_account_json is not a service account key (type service_account)",
        ),
        (
            json!({"type": "service_account", "private_key": pem}),
            "service_account_json is not a service account key (client_email missing)",
        ),
        (
            json!({"type": "service_account", "client_email": EMAIL, "private_key": "-----BEGIN PRIVATE KEY-----\nSeKrEt-gcp-1\n-----END PRIVATE KEY-----\n"}),
            "service_account_json is not a service account key (private_key is not an RSA key)",
        ),
        (
            json!(["SeKrEt-gcp-1"]),
            "service_account_json is not a service account key (JSON)",
        ),
    ];
    for (key, reason) in cases {
        let out = check(
            builtin("gcp"),
            json!({"service_account_json": key}),
            &[&pem, "SeKrEt-gcp-1"],
        )
        .await;
        expect(&out, false, reason);
        assert_eq!(out.latency_ms, 0);
    }
    file["token_uri"] = json!("not a url");
    let out = check(
        builtin("gcp"),
        json!({"service_account_json": file}),
        &[&pem],
    )
    .await;
    expect(&out, false, "invalid url");
}
