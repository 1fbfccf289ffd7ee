//! `serve --trusted-proxy`: forwarding headers name the audited client only when the
//! connection comes from a trusted proxy, and the proxy's address is recorded with it.

mod served;

use served::Served;

/// Creates a principal (an event) with `xff` as `X-Forwarded-For`, then returns the audit
/// text.
fn audited_after(s: &Served, name: &str, xff: &str) -> String {
    let c = reqwest::blocking::Client::new();
    let r = c
        .post(format!("{}/v1/principals", s.addr))
        .bearer_auth(&s.admin)
        .header("x-forwarded-for", xff)
        .json(&serde_json::json!({ "name": name, "kind": "service", "role": "resolver" }))
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().unwrap());
    c.get(format!("{}/v1/audit?limit=100", s.addr))
        .bearer_auth(&s.admin)
        .send()
        .unwrap()
        .text()
        .unwrap()
}

#[test]
fn forwarded_for_counts_only_from_trusted_proxies() {
    let dir = tempfile::tempdir().unwrap();
    let s = Served::start(&dir.path().join("a"), &[], &[]);
    let text = audited_after(&s, "plain", "203.0.113.9");
    assert!(
        !text.contains("203.0.113.9"),
        "untrusted header believed: {text}"
    );
    assert!(text.contains("\"127.0.0.1\""), "{text}");

    let t = Served::start(
        &dir.path().join("b"),
        &["--trusted-proxy", "127.0.0.0/8,10.0.0.0/8"],
        &[],
    );
    // A spoofed far entry, the client, an inner trusted proxy.
    let text = audited_after(&t, "proxied", "1.1.1.1, 203.0.113.9, 10.0.0.7");
    assert!(text.contains("203.0.113.9 via 127.0.0.1"), "{text}");
    assert!(!text.contains("1.1.1.1"), "{text}");
}
