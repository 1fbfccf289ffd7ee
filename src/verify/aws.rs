//! The `aws_sts` probe: `POST Action=GetCallerIdentity` to the region's STS endpoint (or
//! the credential's override), SigV4-signed by `aws-sigv4` (the signer of the official
//! SDK) for the service `sts`. It passes on HTTP 200 with a `GetCallerIdentityResult`.
//!
//! **Invariants:** the signature is made by the crate, never here; the signed headers
//! (`authorization`, `x-amz-security-token`) are marked sensitive; an error code from
//! the answer enters the reason only if it is one of [`STS_ERROR_CODES`].

use super::http::{parse_url, send_and_read, sensitive_value};
use super::outcome::{known_code, Failure};
use super::values::{field_name, Values};
use super::{timed, VerifyOutcome};
use crate::template::AwsStsProbe;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use reqwest::header::{CONTENT_TYPE, HOST};
use std::time::{Duration, SystemTime};

/// The request body: the action and the STS API version.
pub(super) const BODY: &str = "Action=GetCallerIdentity&Version=2011-06-15";

const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";

/// The STS error codes a reason may name.
pub(super) const STS_ERROR_CODES: &[&str] = &[
    "AccessDenied",
    "ExpiredToken",
    "IncompleteSignature",
    "InvalidAccessKeyId",
    "InvalidClientTokenId",
    "InvalidParameterValue",
    "MissingAuthenticationToken",
    "RegionDisabledException",
    "RequestExpired",
    "SignatureDoesNotMatch",
    "Throttling",
    "UnrecognizedClientException",
];

/// The largest answer read.
const MAX_BODY: usize = 64 * 1024;

pub(super) async fn run(
    p: &AwsStsProbe,
    values: &Values<'_>,
    client: &reqwest::Client,
    timeout_ms: u64,
) -> VerifyOutcome {
    let (request, https) = match signed_request(p, values, client, SystemTime::now()) {
        Ok(r) => r,
        Err(f) => return VerifyOutcome::failed(f, 0),
    };
    let request = request.timeout(Duration::from_millis(timeout_ms));
    timed(timeout_ms, async {
        let (status, body) = send_and_read(request, https, timeout_ms, MAX_BODY).await?;
        let body = String::from_utf8_lossy(&body);
        if status != 200 {
            let code = xml_element(&body, "Code").and_then(|c| known_code(c, STS_ERROR_CODES));
            return Err(Failure::Status {
                status,
                expected: 200,
                code,
            });
        }
        if !body.contains("<GetCallerIdentityResult>") {
            return Err(Failure::UnexpectedBody(status));
        }
        Ok("HTTP 200 (GetCallerIdentity)".to_string())
    })
    .await
}

/// The region's public STS endpoint.
pub(super) fn default_endpoint(region: &str) -> String {
    if region.starts_with("cn-") {
        format!("https://sts.{region}.amazonaws.com.cn/")
    } else {
        format!("https://sts.{region}.amazonaws.com/")
    }
}

/// Whether `s` looks like a region code (`us-east-1`): lowercase letters, digits and
/// dashes, so it can go into a host name and a credential scope.
fn is_region(s: &str) -> bool {
    (3..=32).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
}

/// The signed request, as of `now`, and whether it goes over TLS.
pub(super) fn signed_request(
    p: &AwsStsProbe,
    values: &Values<'_>,
    client: &reqwest::Client,
    now: SystemTime,
) -> Result<(reqwest::RequestBuilder, bool), Failure> {
    let access_key_id = values.render(&p.access_key_id)?;
    let secret_access_key = values.render(&p.secret_access_key)?;
    let session_token = values.render_optional(p.session_token.as_deref())?;
    let region = values.render(&p.region)?;
    let region = region.trim();
    if !is_region(region) {
        return Err(Failure::InvalidValue {
            field: field_name(&p.region, "region"),
            expected: "a region code",
        });
    }
    let endpoint = match values.render_optional(p.endpoint.as_deref())? {
        Some(e) => e.trim().to_string(),
        None => default_endpoint(region),
    };
    let (url, https) = parse_url(&endpoint)?;
    let host = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_string(),
    };

    let identity = Credentials::new(
        access_key_id.as_str(),
        secret_access_key.as_str(),
        session_token.as_ref().map(|t| t.to_string()),
        None,
        "credledger-verify",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(now)
        .settings(SigningSettings::default())
        .build()
        .map_err(|_| Failure::Signing)?
        .into();
    let headers = [
        (HOST.as_str(), host.as_str()),
        (CONTENT_TYPE.as_str(), FORM),
    ];
    let signable = SignableRequest::new(
        "POST",
        url.as_str(),
        headers.iter().copied(),
        SignableBody::Bytes(BODY.as_bytes()),
    )
    .map_err(|_| Failure::Signing)?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|_| Failure::Signing)?
        .into_parts();
    let (signed, _query) = instructions.into_parts();

    let mut request = client
        .post(url)
        .header(HOST, host.as_str())
        .header(CONTENT_TYPE, FORM)
        .body(BODY);
    for h in signed {
        request = request.header(h.name(), sensitive_value(h.value())?);
    }
    Ok((request, https))
}

/// The text of the first `<name>…</name>` element of an XML answer.
fn xml_element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{name}>"))?;
    Some(xml[start..start + end].trim())
}

#[cfg(test)]
#[path = "../../tests/probes/sigv4.rs"]
mod sigv4_reference;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use zeroize::Zeroizing;

    fn probe() -> AwsStsProbe {
        AwsStsProbe {
            when: None,
            access_key_id: "{{access_key_id}}".into(),
            secret_access_key: "{{secret_access_key}}".into(),
            session_token: Some("{{session_token}}".into()),
            region: "{{region}}".into(),
            endpoint: Some("{{sts_endpoint}}".into()),
            timeout_ms: None,
        }
    }

    /// Signs for a fixed clock and checks the header against the reference SigV4
    /// computation of `tests/probes/sigv4.rs` (HMAC-SHA256 by the documented steps).
    #[test]
    fn signature_matches_the_documented_algorithm_at_a_fixed_time() {
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        for token in [None, Some("FQoGZXIvYXdzEXAMPLETOKEN")] {
            let mut public = BTreeMap::from([
                ("access_key_id".to_string(), "AKIDEXAMPLE".to_string()),
                ("region".to_string(), "eu-west-3".to_string()),
            ]);
            public.insert("sts_endpoint".into(), "http://127.0.0.1:8443/".to_string());
            let mut secrets = BTreeMap::from([(
                "secret_access_key".to_string(),
                Zeroizing::new(secret.to_string()),
            )]);
            if let Some(t) = token {
                secrets.insert("session_token".into(), Zeroizing::new(t.to_string()));
            }
            let values = Values::new(&public, &secrets);
            let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160); // 2015-08-30T12:36:00Z
            let client = reqwest::Client::new();
            let (builder, https) = signed_request(&probe(), &values, &client, now).unwrap();
            assert!(!https);
            let request = builder.build().unwrap();
            let header = |n: &str| {
                request
                    .headers()
                    .get(n)
                    .map(|v| v.to_str().unwrap().to_string())
            };
            assert_eq!(header("x-amz-date").as_deref(), Some("20150830T123600Z"));
            assert_eq!(header("x-amz-security-token").as_deref(), token);
            let auth = header("authorization").unwrap();
            assert!(request.headers()["authorization"].is_sensitive());
            let headers: Vec<(String, String)> = request
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap().to_string()))
                .collect();
            let expected = sigv4_reference::authorization(
                &sigv4_reference::Request {
                    method: "POST",
                    path: "/",
                    query: "",
                    headers: &headers,
                    body: BODY.as_bytes(),
                },
                "AKIDEXAMPLE",
                secret,
                "eu-west-3",
                "sts",
            );
            assert_eq!(auth, expected);
            assert!(auth.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/eu-west-3/sts/aws4_request, SignedHeaders="
            ));
        }
    }

    #[test]
    fn endpoints_and_region_codes() {
        assert_eq!(
            default_endpoint("us-east-1"),
            "https://sts.us-east-1.amazonaws.com/"
        );
        assert_eq!(
            default_endpoint("cn-north-1"),
            "https://sts.cn-north-1.amazonaws.com.cn/"
        );
        assert!(is_region("ap-southeast-7") && is_region("us-gov-west-1"));
        for bad in ["", "US-EAST-1", "us east", "evil.example/x", "-x1"] {
            assert!(!is_region(bad), "{bad}");
        }
        assert_eq!(
            xml_element("<E><Code> Throttling </Code></E>", "Code"),
            Some("Throttling")
        );
        assert_eq!(xml_element("<E></E>", "Code"), None);
    }
}
