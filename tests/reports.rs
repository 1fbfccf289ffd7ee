//! Complete usage reports: `GET /v1/credentials/{id}/usage-report` on a real ledger behind
//! the real router, checked offline by `report::verify_report` and by the real
//! `credledger verify-bundle` binary. A used credential's report lists the use and cannot
//! be turned into "unused"; a removed event, a shortened or stretched interval and a
//! swapped checkpoint fail, naming why; a witness quorum is enforced offline.

mod support;

use axum::http::StatusCode;
use credledger::note::cosignature::{add_cosignatures, cosign, CosignerKey};
use credledger::report::{verify_report, ReportError};
use ed25519_dalek::SigningKey;
use serde_json::{json, Value};
use std::time::Duration;
use support::TestApp;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn rfc(ms: i64) -> String {
    credledger::time::rfc3339(ms)
}

async fn create(app: &TestApp, name: &str) -> String {
    let (s, v) = app
        .call(
            "POST",
            "/v1/credentials",
            Some(&app.admin),
            Some(json!({"name": name, "template": "api_key", "fields": {"api_key": "sk-report-7Hq"}})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v["id"].as_str().unwrap().to_string()
}

async fn resolve(app: &TestApp, id: &str) {
    let (s, _) = app
        .call(
            "POST",
            &format!("/v1/credentials/{id}/resolve"),
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
}

async fn report(app: &TestApp, id: &str, from: i64, to: i64) -> (StatusCode, Value) {
    app.call(
        "GET",
        &format!(
            "/v1/credentials/{id}/usage-report?from={}&to={}",
            rfc(from),
            rfc(to)
        ),
        Some(&app.admin),
        None,
    )
    .await
}

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

fn fails(v: &Value, key: &str) -> ReportError {
    verify_report(&bytes(v), key, &[], 0).expect_err("the tampered report must not verify")
}

async fn pause() {
    tokio::time::sleep(Duration::from_millis(5)).await;
}

#[tokio::test]
async fn usage_reports_are_complete_and_tampering_is_named() {
    let app = TestApp::new().await;
    let used = create(&app, "used").await;
    let other = create(&app, "other").await;
    let idle = create(&app, "idle").await;
    // A tenant checkpoint before the interval.
    let (s, _) = app
        .call_raw(
            "GET",
            "/v1/ledger/tenant/checkpoint",
            Some(&app.admin),
            None,
            "",
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    pause().await;
    let from = now_ms();
    pause().await;
    resolve(&app, &used).await;
    resolve(&app, &other).await;
    pause().await;
    let to = now_ms();
    pause().await;
    // The interval is not over until the tenant has an event at or after its end.
    let (s, v) = report(&app, &used, from, to).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    resolve(&app, &other).await;
    let (_, key) = app
        .call_raw(
            "GET",
            "/v1/ledger/publickey?which=genesis",
            Some(&app.admin),
            None,
            "",
        )
        .await;
    let key = key.trim().to_string();

    // The used credential: exactly its one use.
    let (s, r) = report(&app, &used, from, to).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let ok = verify_report(&bytes(&r), &key, &[], 0).unwrap();
    assert_eq!(ok.uses.len(), 1, "{:?}", ok.uses);
    assert_eq!(ok.uses[0].action, "used");
    assert_eq!(ok.uses[0].outcome, "ok");
    assert!(ok.uses[0].principal.is_some());
    assert!(
        ok.start > 0,
        "the range starts after the earlier checkpoint"
    );
    // Nobody used the idle one; the other was used once in the interval (not after).
    let (_, idle_r) = report(&app, &idle, from, to).await;
    assert!(verify_report(&bytes(&idle_r), &key, &[], 0)
        .unwrap()
        .uses
        .is_empty());
    let (_, other_r) = report(&app, &other, from, to).await;
    assert_eq!(
        verify_report(&bytes(&other_r), &key, &[], 0)
            .unwrap()
            .uses
            .len(),
        1
    );
    // No plaintext secret is in any report.
    for rep in [&r, &idle_r, &other_r] {
        assert!(!rep.to_string().contains("sk-report-7Hq"));
    }

    // "Unused" cannot be made of a used credential: removing the use is caught.
    let use_seq = ok.uses[0].seq;
    let leaves = r["leaves"].as_array().unwrap();
    let pos = leaves
        .iter()
        .position(|l| {
            let rec = credledger::proof::b64::decode(l["leaf"].as_str().unwrap()).unwrap();
            credledger::event::SignedEvent::from_record(&rec)
                .unwrap()
                .seq()
                == use_seq
        })
        .unwrap();
    let mut removed = r.clone();
    removed["leaves"].as_array_mut().unwrap().remove(pos);
    let e = fails(&removed, &key);
    assert!(matches!(e, ReportError::Range(_)), "{e}");
    // ... also when the indexes are renumbered to hide the gap.
    for (i, l) in removed["leaves"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .enumerate()
    {
        l["index"] = (r["start"].as_u64().unwrap() + i as u64).into();
    }
    removed["end"] = (r["end"].as_u64().unwrap() - 1).into();
    let e = fails(&removed, &key);
    assert!(
        matches!(e, ReportError::Checkpoint { which: "end", .. }),
        "{e}"
    );
    // A shortened range (the last leaves cut, the header's end moved) is caught.
    let mut cut = r.clone();
    cut["leaves"].as_array_mut().unwrap().pop();
    cut["end"] = (r["end"].as_u64().unwrap() - 1).into();
    let e = fails(&cut, &key);
    assert!(e.to_string().contains("size"), "{e}");
    // A stretched interval: the boundary events no longer enclose it.
    let mut later = r.clone();
    later["to_ms"] = (to + 3_600_000).into();
    let e = fails(&later, &key);
    assert!(matches!(e, ReportError::Interval(_)), "{e}");
    let mut earlier = r.clone();
    earlier["from_ms"] = (from - 3_600_000).into();
    let e = fails(&earlier, &key);
    assert!(matches!(e, ReportError::Interval(_)), "{e}");
    // A swapped checkpoint (the start one in place of the end one).
    let mut swapped = r.clone();
    swapped["end_checkpoint"] = r["start_checkpoint"].clone();
    let e = fails(&swapped, &key);
    assert!(
        matches!(e, ReportError::Checkpoint { which: "end", .. }),
        "{e}"
    );
    // Another credential's report is not this one's.
    let mut relabelled = idle_r.clone();
    relabelled["credential"] = used.clone().into();
    let v = verify_report(&bytes(&relabelled), &key, &[], 0).unwrap();
    assert_eq!(
        v.uses.len(),
        1,
        "relabelling shows the use instead of hiding it"
    );

    // Quorum, offline: no cosignature yet, then one of two witnesses.
    let w1 = SigningKey::from_bytes(&[41; 32]);
    let w2 = SigningKey::from_bytes(&[42; 32]);
    let k1 = CosignerKey::new("witness.test/one", w1.verifying_key()).unwrap();
    let k2 = CosignerKey::new("witness.test/two", w2.verifying_key()).unwrap();
    let e = verify_report(&bytes(&r), &key, std::slice::from_ref(&k1), 1).unwrap_err();
    assert!(
        e.to_string()
            .contains("0 of the required 1 witness cosignatures"),
        "{e}"
    );
    let mut witnessed = r.clone();
    for field in ["start_checkpoint", "end_checkpoint"] {
        let note = r[field].as_str().unwrap();
        let text = &note[..=note.find("\n\n").unwrap()];
        let line = cosign(text, "witness.test/one", &w1, 1_700_000_000).unwrap();
        witnessed[field] = add_cosignatures(note, &[line]).unwrap().into();
    }
    let v = verify_report(&bytes(&witnessed), &key, &[k1.clone(), k2.clone()], 1).unwrap();
    assert_eq!(v.witnesses, vec!["witness.test/one".to_string()]);
    let e = verify_report(&bytes(&witnessed), &key, &[k1, k2], 2).unwrap_err();
    assert!(
        e.to_string()
            .contains("1 of the required 2 witness cosignatures"),
        "{e}"
    );

    // The binary prints who used it, and fails a tampered file naming why.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.json");
    std::fs::write(&file, bytes(&r)).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_credledger"))
        .args(["verify-bundle"])
        .arg(&file)
        .args(["--key", &key])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("used") && text.contains(ok.uses[0].principal.as_deref().unwrap()),
        "{text}"
    );
    std::fs::write(&file, bytes(&idle_r)).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_credledger"))
        .args(["verify-bundle"])
        .arg(&file)
        .args(["--key", &key])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("nobody used it"));
    std::fs::write(&file, bytes(&cut)).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_credledger"))
        .args(["verify-bundle"])
        .arg(&file)
        .args(["--key", &key])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.starts_with("FAILED: end checkpoint"), "{text}");
    app.assert_never_leaked("sk-report-7Hq");
}
