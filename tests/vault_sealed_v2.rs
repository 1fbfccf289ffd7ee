//! The golden vector of the version-2 (typed) sealed plaintext of Vault KV data
//! (`schemas/vectors/secret-typed.json`, docs/FORMAT.md "Sealed secrets"): the plaintext
//! is built here by hand from the documented layout, sealed with a fixed data key and
//! nonce, and the library must produce and read exactly those bytes. String-only
//! secrets keep the version-1 bytes (the vectors of `tests/golden.rs` do not change).
//! `CREDLEDGER_REGENERATE_VECTORS=1` rewrites the file (only to add to it).

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use credledger::secret::{self, SecretFields, SecretString};
use serde_json::{json, Value};
use zeroize::Zeroizing;

const TENANT: [u8; 16] = [0x11; 16];
const CREDENTIAL: [u8; 16] = [0x55; 16];
const VERSION: u32 = 1;
const DATA_KEY: [u8; 32] = [0xd2; 32];
const NONCE: [u8; 24] = [0x4f; 24];

/// (key, is JSON, text): sorted by key bytes, as the map is encoded.
const FIELDS: &[(&str, bool, &str)] = &[
    (".dockerconfigjson", false, "{\"auths\":{}}"),
    ("cfg", true, "{\"a\":[1,true,null]}"),
    ("port", true, "5432"),
    ("ratio", true, "1.50"),
];

fn fields() -> SecretFields {
    SecretFields(
        FIELDS
            .iter()
            .map(|(k, json, text)| {
                let v = if *json {
                    SecretString::json(Zeroizing::new(text.to_string()))
                } else {
                    SecretString::from(*text)
                };
                (k.to_string(), v)
            })
            .collect(),
    )
}

fn string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// The documented layout: magic, `u64` LE count, then per entry the key (`u64` LE
/// length + UTF-8), the `u32` LE variant (0 string, 1 JSON text) and the value (`u64` LE
/// length + UTF-8).
fn hand_plaintext() -> Vec<u8> {
    let mut out = b"credledger/secret-fields/v2\n".to_vec();
    out.extend_from_slice(&(FIELDS.len() as u64).to_le_bytes());
    for (k, json, text) in FIELDS {
        string(&mut out, k);
        out.extend_from_slice(&u32::from(*json).to_le_bytes());
        string(&mut out, text);
    }
    out
}

fn ad() -> Vec<u8> {
    let mut ad = b"credledger/secret/v1\n".to_vec();
    ad.extend_from_slice(&TENANT);
    ad.extend_from_slice(&CREDENTIAL);
    ad.extend_from_slice(&VERSION.to_le_bytes());
    ad
}

fn vector() -> Value {
    let plaintext = hand_plaintext();
    let ciphertext = XChaCha20Poly1305::new((&DATA_KEY).into())
        .encrypt(
            XNonce::from_slice(&NONCE),
            Payload {
                msg: &plaintext,
                aad: &ad(),
            },
        )
        .unwrap();
    json!({
        "description": "The version-2 sealed plaintext (docs/FORMAT.md, 'Sealed secrets'): Vault KV data \
                        with non-string values. Magic 'credledger/secret-fields/v2\\n', then the map of \
                        field name to TypedValue (0 String, 1 Json = canonical JSON text). Sealed like \
                        version 1: same cipher and associated data. Data key and nonce are fixed here; the \
                        ledger draws them at random.",
        "tenant": hex::encode(TENANT),
        "credential": hex::encode(CREDENTIAL),
        "version": VERSION,
        "fields": FIELDS.iter().map(|(k, json, text)| json!({"key": k, "json": json, "text": text})).collect::<Vec<_>>(),
        "plaintext_hex": hex::encode(&plaintext),
        "data_key_hex": hex::encode(DATA_KEY),
        "secret_ad_hex": hex::encode(ad()),
        "sealed_nonce_hex": hex::encode(NONCE),
        "sealed_ciphertext_hex": hex::encode(ciphertext),
    })
}

#[test]
fn the_typed_sealed_plaintext_matches_its_vector_and_the_library() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/schemas/vectors/secret-typed.json"
    );
    let expected = vector();
    if std::env::var("CREDLEDGER_REGENERATE_VECTORS").is_ok_and(|v| v == "1") {
        std::fs::write(
            path,
            serde_json::to_string_pretty(&expected).unwrap() + "\n",
        )
        .unwrap();
    }
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(stored, expected, "{path} changed");

    // The library writes and reads exactly the documented bytes.
    let plaintext = secret::plaintext(&fields()).unwrap();
    assert_eq!(hex::encode(&*plaintext), expected["plaintext_hex"]);
    assert_eq!(secret::from_plaintext(&plaintext).unwrap(), fields());
    let opened = XChaCha20Poly1305::new((&DATA_KEY).into())
        .decrypt(
            XNonce::from_slice(&NONCE),
            Payload {
                msg: &hex::decode(expected["sealed_ciphertext_hex"].as_str().unwrap()).unwrap(),
                aad: &ad(),
            },
        )
        .unwrap();
    assert_eq!(secret::from_plaintext(&opened).unwrap(), fields());

    // String-only fields keep the version-1 plaintext (no magic), and read as strings.
    let strings = SecretFields([("api_key".to_string(), SecretString::from("sk-1"))].into());
    let v1 = secret::plaintext(&strings).unwrap();
    assert_eq!(
        hex::encode(&*v1),
        "010000000000000007000000000000006170695f6b65790400000000000000736b2d31"
    );
    let back = secret::from_plaintext(&v1).unwrap();
    assert!(!back.0["api_key"].is_json());
    assert_eq!(back, strings);
}
