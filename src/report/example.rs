//! The worked example of `docs/FORMAT.md` (Usage report bundles), rebuilt byte for byte
//! from the golden event vectors (`schemas/vectors/events/`, signed by the test key):
//! the report of credential `4444…` of tenant `1111…` over the tenant leaves around its
//! `used` event (seq 9), among the events before the vectors' signing-key rotation.

use super::format::{Leaf, UsageReport, REPORT_FORMAT};
use crate::event::{Body, SignedEvent};
use crate::merkle::{self, MemoryTree, NodeReader};
use crate::note::{sign_checkpoint, verifier_key, Checkpoint};
use ed25519_dalek::SigningKey;

/// The vectors' records, by sequence number.
fn vector_records() -> Vec<(u64, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/vectors/events");
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap();
        let rec = hex::decode(v["record_hex"].as_str().unwrap()).unwrap();
        out.push((v["event"]["seq"].as_u64().unwrap(), rec));
    }
    out.sort();
    out
}

/// The documented report, and the ledger verifier key that checks it.
fn example() -> (String, String) {
    let sk = SigningKey::from_bytes(&[7; 32]);
    let events: Vec<(SignedEvent, Vec<u8>)> = vector_records()
        .into_iter()
        .map(|(_, r)| (SignedEvent::from_record(&r).unwrap(), r))
        .take_while(|(e, _)| !matches!(e.event().body, Body::SigningKeyRotated { .. }))
        .collect();
    let Body::LedgerInitialized { origin, .. } = &events[0].0.event().body else {
        panic!("event 0 is the genesis");
    };
    let tenant = crate::id::Id([0x11; 16]);
    let name = crate::proof::tenant::tenant_origin(origin, tenant);
    let leaves: Vec<&(SignedEvent, Vec<u8>)> = events
        .iter()
        .filter(|(e, _)| crate::projection::tree_tenant(e.event()) == Some(tenant))
        .collect();
    let mut tree = MemoryTree::new();
    for (_, r) in &leaves {
        tree.push(r);
    }
    // The range: the `used` event (seq 9) with one leaf on either side.
    let used = leaves.iter().position(|(e, _)| e.event().seq == 9).unwrap() as u64;
    let (start, end) = (used - 1, used + 2);
    let note = |size: u64| {
        let cp = Checkpoint {
            origin: name.clone(),
            size,
            root: merkle::root(size, &tree).unwrap(),
            extensions: vec![],
        };
        sign_checkpoint(&cp, &name, &sk).unwrap()
    };
    let at = |i: u64| leaves[i as usize].0.event().at_ms;
    let report = UsageReport {
        format: REPORT_FORMAT.into(),
        origin: name.clone(),
        tenant: tenant.to_string(),
        credential: crate::id::Id([0x44; 16]).to_string(),
        from_ms: at(start - 1) + 1,
        to_ms: at(end - 1),
        start,
        end,
        start_checkpoint: Some(note(start)),
        end_checkpoint: note(end),
        frontier: merkle::frontier_positions(start)
            .into_iter()
            .map(|(l, i)| tree.node(l, i).unwrap())
            .collect(),
        consistency: merkle::consistency_proof(start, end, &tree).unwrap(),
        boundary: Some(Leaf {
            index: start - 1,
            leaf: leaves[start as usize - 1].1.clone(),
            audit_path: merkle::inclusion_proof(start - 1, start, &tree).unwrap(),
        }),
        leaves: (start..end)
            .map(|i| Leaf {
                index: i,
                leaf: leaves[i as usize].1.clone(),
                audit_path: vec![],
            })
            .collect(),
    };
    let key = verifier_key(origin, &sk.verifying_key()).unwrap();
    (serde_json::to_string_pretty(&report).unwrap() + "\n", key)
}

#[test]
fn the_documented_report_bundle_is_reproduced_and_verifies() {
    let (got, key) = example();
    let v = super::verify_report(got.as_bytes(), &key, &[], 0).unwrap();
    assert!(
        v.uses.iter().any(|u| u.action == "used"),
        "the example shows a use: {:?}",
        v.uses
    );
    let doc = include_str!("../../docs/FORMAT.md");
    let begin = "<!-- worked-example:usage-report:begin -->\n```json\n";
    let start = doc.find(begin).expect("the worked example's begin marker") + begin.len();
    let end = start
        + doc[start..]
            .find("```\n<!-- worked-example:usage-report:end -->")
            .unwrap();
    assert_eq!(
        &doc[start..end],
        got,
        "docs/FORMAT.md, usage report example (key {key}):\n{got}"
    );
}
