//! The `aws` template against a fake STS that verifies each request as AWS does: the
//! `Authorization` header's shape (algorithm, credential scope with today's date, the
//! credential's region and `sts`, lowercase sorted signed headers, a 64-hex signature),
//! then the signature itself, recomputed by the reference SigV4 of `sigv4.rs`.

use super::{builtin, check, expect, sigv4};
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

const KEY_ID: &str = "AKIAPROBETEST0001";
const SECRET: &str = "SeKrEt/aws+wJalrXUtnFEMI0K7MDENGbPxRfiCY";
const SESSION_TOKEN: &str = "FwoGZXIvYXdzEXAMPLE-session-token-7a1c";

/// What the fake STS saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    authorization: sigv4::Authorization,
    security_token: Option<String>,
    verdict: Result<(), String>,
}

/// A fake STS: `POST /` verifies the signature for the keys it knows and answers the
/// STS XML, or 403 with the STS error code.
async fn fake_sts(keys: BTreeMap<&'static str, &'static str>) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let app = axum::Router::new().route(
        "/",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let log = log.clone();
            let keys = keys.clone();
            async move {
                let headers: Vec<(String, String)> = headers
                    .iter()
                    .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
                    .collect();
                let req = sigv4::Request {
                    method: "POST",
                    path: "/",
                    query: "",
                    headers: &headers,
                    body: &body,
                };
                let authorization = match req.header("authorization").map(sigv4::parse) {
                    Some(Ok(a)) => a,
                    Some(Err(e)) => panic!("malformed Authorization: {e}"),
                    None => panic!("no Authorization header"),
                };
                let verdict = (|| {
                    let amz_date = req.header("x-amz-date").ok_or("no x-amz-date")?;
                    let today = time::OffsetDateTime::now_utc();
                    let signed_at = time::PrimitiveDateTime::parse(
                        amz_date,
                        time::macros::format_description!("[year][month][day]T[hour][minute][second]Z"),
                    )
                    .map_err(|_| "bad x-amz-date")?
                    .assume_utc();
                    if (today - signed_at).abs() > time::Duration::minutes(15) {
                        return Err("x-amz-date is not now".to_string());
                    }
                    if authorization.date != amz_date[..8] {
                        return Err("scope date differs from x-amz-date".into());
                    }
                    if authorization.service != "sts" {
                        return Err("service is not sts".into());
                    }
                    for h in ["host", "x-amz-date"] {
                        if !authorization.signed_headers.iter().any(|s| s == h) {
                            return Err(format!("{h} is not signed"));
                        }
                    }
                    if req.header("x-amz-security-token").is_some()
                        && !authorization.signed_headers.iter().any(|s| s == "x-amz-security-token")
                    {
                        return Err("the session token is not signed".into());
                    }
                    if body.as_ref() != b"Action=GetCallerIdentity&Version=2011-06-15" {
                        return Err("not a GetCallerIdentity".into());
                    }
                    Ok(())
                })();
                let key = keys.get(authorization.access_key_id.as_str()).copied();
                let names: Vec<&str> = authorization.signed_headers.iter().map(String::as_str).collect();
                let code = match (&verdict, key) {
                    (Err(_), _) => Some("IncompleteSignature"),
                    (Ok(()), None) => Some("InvalidClientTokenId"),
                    (Ok(()), Some(secret)) => {
                        let expected = sigv4::signature(&req, &names, secret, &authorization.region, "sts");
                        (expected != authorization.signature).then_some("SignatureDoesNotMatch")
                    }
                };
                log.lock().unwrap().push(Seen {
                    authorization: sigv4::parse(req.header("authorization").unwrap()).unwrap(),
                    security_token: req.header("x-amz-security-token").map(str::to_string),
                    verdict,
                });
                match code {
                    None => (
                        StatusCode::OK,
                        "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/probe</Arn><UserId>AIDAEXAMPLE</UserId><Account>123456789012</Account></GetCallerIdentityResult></GetCallerIdentityResponse>".to_string(),
                    ),
                    Some(code) => (
                        StatusCode::FORBIDDEN,
                        format!("<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>no</Message></Error></ErrorResponse>"),
                    ),
                }
            }
        }),
    ).route("/portal", axum::routing::post(|| async { "<html>welcome</html>" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/"), seen)
}

#[tokio::test]
async fn sigv4_signed_get_caller_identity_passes_and_a_wrong_secret_fails() {
    let (endpoint, seen) = fake_sts(BTreeMap::from([(KEY_ID, SECRET)])).await;
    let secrets = [SECRET, SESSION_TOKEN];

    let out = check(
        builtin("aws"),
        json!({"access_key_id": KEY_ID, "secret_access_key": SECRET, "region": "eu-central-1", "sts_endpoint": endpoint}),
        &secrets,
    )
    .await;
    expect(&out, true, "HTTP 200 (GetCallerIdentity)");
    let first = seen.lock().unwrap()[0].clone();
    assert_eq!(first.verdict, Ok(()));
    assert_eq!(first.authorization.region, "eu-central-1");
    assert_eq!(first.authorization.access_key_id, KEY_ID);
    assert_eq!(first.security_token, None);

    // Temporary credentials: the token is sent and signed.
    let out = check(
        builtin("aws"),
        json!({"access_key_id": KEY_ID, "secret_access_key": SECRET, "session_token": SESSION_TOKEN, "region": "ap-southeast-2", "sts_endpoint": endpoint}),
        &secrets,
    )
    .await;
    expect(&out, true, "HTTP 200 (GetCallerIdentity)");
    let second = seen.lock().unwrap()[1].clone();
    assert_eq!(second.verdict, Ok(()));
    assert_eq!(second.security_token.as_deref(), Some(SESSION_TOKEN));
    assert_eq!(second.authorization.region, "ap-southeast-2");

    // A wrong secret: the shape is right, the signature differs, STS says 403.
    let wrong = "SeKrEt/aws+WRONGwJalrXUtnFEMI0K7MDENGbPx";
    let out = check(
        builtin("aws"),
        json!({"access_key_id": KEY_ID, "secret_access_key": wrong, "region": "eu-central-1", "sts_endpoint": endpoint}),
        &[SECRET, wrong],
    )
    .await;
    expect(
        &out,
        false,
        "HTTP 403 (expected 200): SignatureDoesNotMatch",
    );
    let third = seen.lock().unwrap()[2].clone();
    assert_eq!(third.verdict, Ok(()));
    assert_ne!(third.authorization.signature, first.authorization.signature);

    // An unknown key.
    let out = check(
        builtin("aws"),
        json!({"access_key_id": "AKIAUNKNOWN00000", "secret_access_key": SECRET, "sts_endpoint": endpoint}),
        &secrets,
    )
    .await;
    expect(&out, false, "HTTP 403 (expected 200): InvalidClientTokenId");
    assert_eq!(seen.lock().unwrap()[3].authorization.region, "us-east-1");

    // A 200 that is not STS's answer.
    let out = check(
        builtin("aws"),
        json!({"access_key_id": KEY_ID, "secret_access_key": SECRET, "sts_endpoint": format!("{endpoint}portal")}),
        &secrets,
    )
    .await;
    expect(&out, false, "HTTP 200 with an unexpected body");
}

#[tokio::test]
async fn aws_failures_before_and_after_sending() {
    let secrets = [SECRET];
    let out = check(
        builtin("aws"),
        json!({"access_key_id": KEY_ID, "secret_access_key": SECRET, "sts_endpoint": "ftp://sts.example/"}),
        &secrets,
    )
    .await;
    expect(&out, false, "invalid url");
    assert_eq!(out.latency_ms, 0);
    let port = super::closed_port();
    let out = check(
        builtin("aws"),
        json!({"access_key_id": KEY_ID, "secret_access_key": SECRET, "sts_endpoint": format!("http://127.0.0.1:{port}/")}),
        &secrets,
    )
    .await;
    expect(&out, false, "connection refused");
}
