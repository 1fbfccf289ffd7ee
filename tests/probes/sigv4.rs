//! A reference AWS Signature Version 4 computation, written for tests from the
//! documented steps (canonical request, string to sign, derived signing key, HMAC-SHA256)
//! with `hmac` and `sha2` only. The fake STS of `tests/probes.rs` verifies requests with
//! it, and the unit test of `src/verify/aws.rs` compares a fixed-clock signature to it
//! (each uses part of it).

#![allow(dead_code)]

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// A request as a server sees it.
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// Already canonical (sorted, encoded); empty for none.
    pub query: &'a str,
    /// Every header, any case, as received.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

impl Request<'_> {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The signature of `req` for these signed headers (lowercase names), its date taken
/// from `x-amz-date`.
pub fn signature(
    req: &Request<'_>,
    signed_headers: &[&str],
    secret: &str,
    region: &str,
    service: &str,
) -> String {
    let amz_date = req.header("x-amz-date").unwrap_or_default();
    let date = &amz_date[..amz_date.len().min(8)];
    let mut names: Vec<&str> = signed_headers.to_vec();
    names.sort_unstable();
    let canonical_headers: String = names
        .iter()
        .map(|n| {
            let value = req.header(n).unwrap_or_default();
            let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
            format!("{n}:{value}\n")
        })
        .collect();
    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method,
        req.path,
        req.query,
        canonical_headers,
        names.join(";"),
        sha256_hex(req.body)
    );
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    );
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    let k_signing = hmac(&k_service, b"aws4_request");
    hex::encode(hmac(&k_signing, string_to_sign.as_bytes()))
}

/// The parts of an `Authorization: AWS4-HMAC-SHA256 …` header.
#[derive(Debug, Clone)]
pub struct Authorization {
    pub access_key_id: String,
    pub date: String,
    pub region: String,
    pub service: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

/// Parses the header and checks its shape: the algorithm, a five-part credential
/// scope ending in `aws4_request`, lowercase sorted signed headers, a 64-hex signature.
pub fn parse(header: &str) -> Result<Authorization, String> {
    let rest = header
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or("algorithm is not AWS4-HMAC-SHA256")?;
    let mut credential = None;
    let mut signed = None;
    let mut signature = None;
    for part in rest.split(", ") {
        match part.split_once('=') {
            Some(("Credential", v)) => credential = Some(v),
            Some(("SignedHeaders", v)) => signed = Some(v),
            Some(("Signature", v)) => signature = Some(v),
            _ => return Err(format!("unexpected part {part:?}")),
        }
    }
    let credential = credential.ok_or("no Credential")?;
    let scope: Vec<&str> = credential.split('/').collect();
    let [akid, date, region, service, terminator] = scope.as_slice() else {
        return Err("credential scope is not key/date/region/service/aws4_request".into());
    };
    if *terminator != "aws4_request" || date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit())
    {
        return Err("bad credential scope".into());
    }
    let signed_headers: Vec<String> = signed
        .ok_or("no SignedHeaders")?
        .split(';')
        .map(str::to_string)
        .collect();
    let mut sorted = signed_headers.clone();
    sorted.sort();
    if sorted != signed_headers || signed_headers.iter().any(|h| h.to_lowercase() != *h) {
        return Err("signed headers are not lowercase and sorted".into());
    }
    let signature = signature.ok_or("no Signature")?.to_string();
    if signature.len() != 64
        || !signature
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        return Err("signature is not 64 lowercase hex digits".into());
    }
    Ok(Authorization {
        access_key_id: akid.to_string(),
        date: date.to_string(),
        region: region.to_string(),
        service: service.to_string(),
        signed_headers,
        signature,
    })
}

/// The `Authorization` header a correct signer produces for `req` with these signed
/// headers.
pub fn authorization_for(
    req: &Request<'_>,
    signed_headers: &[&str],
    access_key_id: &str,
    secret: &str,
    region: &str,
    service: &str,
) -> String {
    let amz_date = req.header("x-amz-date").unwrap_or_default();
    let date = &amz_date[..amz_date.len().min(8)];
    let mut names = signed_headers.to_vec();
    names.sort_unstable();
    format!(
        "AWS4-HMAC-SHA256 Credential={access_key_id}/{date}/{region}/{service}/aws4_request, SignedHeaders={}, Signature={}",
        names.join(";"),
        signature(req, &names, secret, region, service)
    )
}

/// The header `req` should carry when signed with the headers it names itself: what a
/// server recomputes. `host` and `x-amz-date` must be among them.
pub fn authorization(
    req: &Request<'_>,
    access_key_id: &str,
    secret: &str,
    region: &str,
    service: &str,
) -> String {
    let named = req
        .header("authorization")
        .and_then(|h| parse(h).ok())
        .map(|a| a.signed_headers)
        .unwrap_or_default();
    let mut names: Vec<&str> = named.iter().map(String::as_str).collect();
    for required in ["host", "x-amz-date"] {
        if !names.contains(&required) {
            names.push(required);
        }
    }
    authorization_for(req, &names, access_key_id, secret, region, service)
}
