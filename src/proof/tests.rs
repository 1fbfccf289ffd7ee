//! Unit tests of `proof`: checkpoints and proofs of a fresh ledger, the JSON of the DTOs.

use super::*;
use crate::ledger::{Config, Ledger};

#[test]
fn proofs_and_checkpoints_of_a_fresh_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, _) = Ledger::open(Config::new(dir.path())).unwrap();
    let store = ledger.store();
    let size = tree_size(store).unwrap();
    assert_eq!(size, 4, "bootstrap writes four events");
    let cp = checkpoint(&ledger).unwrap();
    assert_eq!(cp.tree_size, size);
    let vk = verifier_key(&ledger).unwrap();
    let checked = note::verify_checkpoint(&cp.note, &vk).unwrap();
    assert_eq!((checked.size, checked.root), (size, cp.root));
    assert_eq!(stored_checkpoints(store).unwrap(), vec![cp.clone()]);
    for seq in 0..size {
        let p = prove_event(&ledger, seq).unwrap();
        merkle::verify_inclusion(
            &merkle::leaf_hash(&p.leaf),
            seq,
            size,
            &p.audit_path,
            &cp.root,
        )
        .unwrap();
    }
    assert!(matches!(
        inclusion(store, 4, 4),
        Err(ProofError::IndexOutOfRange { index: 4, size: 4 })
    ));
    assert!(matches!(
        inclusion(store, 0, 5),
        Err(ProofError::SizeTooLarge {
            size: 5,
            tree_size: 4
        })
    ));
    assert!(matches!(
        consistency(store, 3, 2),
        Err(ProofError::OldAfterNew { old: 3, new: 2 })
    ));
    assert!(matches!(
        consistency(store, 0, 2),
        Err(ProofError::OldSizeZero)
    ));
    assert!(matches!(
        prove_event(&ledger, 9),
        Err(ProofError::NoSuchEvent {
            seq: 9,
            tree_size: 4
        })
    ));
    let other = SigningKey::from_bytes(&[9; 32]);
    ledger.shutdown();
    drop(ledger);
    // A fresh copy of the same log without its issued checkpoint: a key of another
    // ledger signs nothing.
    let copy = tempfile::tempdir().unwrap();
    let fresh = crate::store::sled::SledBackend::open(copy.path()).unwrap();
    let original = crate::store::sled::SledBackend::open(dir.path()).unwrap();
    let recs: Vec<(u64, Vec<u8>)> = crate::store::records(&original, 0)
        .map(|r| r.unwrap())
        .collect();
    let borrowed: Vec<(u64, &[u8])> = recs.iter().map(|(s, r)| (*s, r.as_slice())).collect();
    fresh
        .append_durable(crate::store::Append {
            keyring: &[],
            records: &borrowed,
        })
        .unwrap();
    projection::catch_up(&fresh, |_| {}).unwrap();
    assert!(matches!(
        checkpoint_with_key(&fresh, &other),
        Err(ProofError::WrongSigningKey { size: 4, .. })
    ));
}

#[test]
fn dto_json_uses_standard_base64() {
    let p = InclusionProof {
        leaf_index: 1,
        tree_size: 2,
        audit_path: vec![[0xff; 32]],
    };
    let v = serde_json::to_value(&p).unwrap();
    assert_eq!(
        v["audit_path"][0],
        "//////////////////////////////////////////8="
    );
    assert_eq!(v["leaf_index"], 1);
}

/// The tenant log of the worked example of `docs/FORMAT.md` (Tenant logs): its origin,
/// verifier key and a checkpoint of three leaves, built from the documented inputs.
fn tenant_worked_example() -> String {
    use crate::merkle::MemoryTree;
    use crate::note::{sign_checkpoint, verifier_key, Checkpoint};
    let origin = "credledger.example/ledger-1";
    let tenant: crate::id::Id = "0190a2f4-6b7e-7c3d-9e51-2f0c4d8a1b63".parse().unwrap();
    let name = super::tenant::tenant_origin(origin, tenant);
    let sk = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let mut tree = MemoryTree::new();
    for i in 0..3 {
        tree.push(format!("record {i}").as_bytes());
    }
    let cp = Checkpoint {
        origin: name.clone(),
        size: 3,
        root: tree.root(),
        extensions: vec![],
    };
    let note = sign_checkpoint(&cp, &name, &sk).unwrap();
    let vkey = verifier_key(&name, &sk.verifying_key()).unwrap();
    format!("origin:       {name}\nverifier key: {vkey}\n\n{note}")
}

#[test]
fn the_documented_tenant_log_example_is_reproduced() {
    let doc = include_str!("../../docs/FORMAT.md");
    let begin = "<!-- worked-example:tenant-log:begin -->\n```text\n";
    let start = doc.find(begin).expect("the worked example's begin marker") + begin.len();
    let end = start
        + doc[start..]
            .find("```\n<!-- worked-example:tenant-log:end -->")
            .unwrap();
    let got = tenant_worked_example();
    assert_eq!(
        &doc[start..end],
        got,
        "docs/FORMAT.md, tenant log example:\n{got}"
    );
    // And it verifies as a tenant checkpoint of that ledger key.
    let note = got.split_once("\n\n").unwrap().1;
    let sk = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let cp = super::tenant::verify_tenant_checkpoint(
        note,
        "credledger.example/ledger-1",
        "0190a2f4-6b7e-7c3d-9e51-2f0c4d8a1b63".parse().unwrap(),
        &sk.verifying_key(),
    )
    .unwrap();
    assert_eq!(cp.size, 3);
}
