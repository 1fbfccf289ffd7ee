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
