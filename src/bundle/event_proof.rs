//! Offline verification of one event proof ("prove this audit entry",
//! `GET /v1/audit/{seq}/proof`, the console's proof download): the leaf is an event the
//! ledger key signed, and it is in the tree of the signed checkpoint that comes with it.
//! The checkpoint is the global log's (system reviewers) or a tenant log's (a tenant's
//! reviewers: origin `<ledger origin>/tenant/<tenant id>`, signed by the same key under
//! that name); for a tenant log the event must be that tenant's.
//!
//! **Invariant:** nothing in the file is trusted except through the key given.

use crate::event::SignedEvent;
use crate::id::Id;
use crate::merkle::{self, Hash};
use crate::proof::b64;
use serde::Deserialize;

/// The proof file (`proof::EventProof` as served).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventProofFile {
    seq: u64,
    #[serde(with = "b64::bytes")]
    leaf: Vec<u8>,
    leaf_index: u64,
    tree_size: u64,
    #[serde(with = "b64::hashes")]
    audit_path: Vec<Hash>,
    checkpoint: String,
}

/// What a verified event proof establishes.
#[derive(Clone, Debug, serde::Serialize)]
pub struct VerifiedEventProof {
    pub seq: u64,
    pub action: &'static str,
    pub at_ms: i64,
    /// The checkpoint's origin (the global log's or a tenant log's).
    pub origin: String,
    /// The tenant whose log it is, for a tenant checkpoint.
    pub tenant: Option<String>,
    pub leaf_index: u64,
    pub tree_size: u64,
}

/// Whether `bytes` is an event proof file (rather than a usage report or an export).
pub fn is_event_proof(bytes: &[u8]) -> bool {
    serde_json::from_slice::<EventProofFile>(bytes).is_ok()
}

/// Verifies an event proof with the ledger's verifier key (`origin+keyid+base64`).
pub fn verify_event_proof(bytes: &[u8], ledger_key: &str) -> Result<VerifiedEventProof, String> {
    let p: EventProofFile =
        serde_json::from_slice(bytes).map_err(|e| format!("not an event proof: {e}"))?;
    let (name, _, key) =
        crate::note::parse_verifier_key(ledger_key).map_err(|e| format!("the ledger key: {e}"))?;
    let body = p
        .checkpoint
        .split_once("\n\n")
        .map(|(b, _)| format!("{b}\n"));
    let origin = body
        .as_deref()
        .and_then(|b| crate::note::Checkpoint::parse_body(b).ok())
        .map(|c| c.origin)
        .ok_or("the checkpoint is not a checkpoint note")?;
    let tenant = if origin == name {
        None
    } else {
        let id = origin
            .strip_prefix(&format!("{name}/tenant/"))
            .and_then(|t| t.parse::<Id>().ok())
            .ok_or_else(|| format!("the checkpoint's origin {origin} is neither this ledger's log nor one of its tenant logs"))?;
        Some(id)
    };
    let cp = crate::note::verify_checkpoint_with(&p.checkpoint, &[(origin.clone(), key)])
        .map_err(|e| format!("the checkpoint does not verify with the ledger key: {e}"))?;
    if cp.size != p.tree_size {
        return Err(format!(
            "the proof is for a tree of {} leaves, the checkpoint's has {}",
            p.tree_size, cp.size
        ));
    }
    merkle::verify_inclusion(
        &merkle::leaf_hash(&p.leaf),
        p.leaf_index,
        p.tree_size,
        &p.audit_path,
        &cp.root,
    )
    .map_err(|e| format!("the leaf is not in the checkpoint's tree: {e}"))?;
    let e = SignedEvent::from_record(&p.leaf).map_err(|e| format!("the leaf: {e}"))?;
    if !e.verify_signature(&key) {
        return Err("the event's signature does not verify with the ledger key".into());
    }
    if e.seq() != p.seq {
        return Err(format!("the leaf is event {}, not {}", e.seq(), p.seq));
    }
    if tenant.is_some() && crate::projection::tree_tenant(e.event()) != tenant {
        return Err("the event is not of the tenant whose log the checkpoint is".into());
    }
    if tenant.is_none() && p.leaf_index != p.seq {
        return Err("in the global log a leaf's index is its sequence number".into());
    }
    Ok(VerifiedEventProof {
        seq: p.seq,
        action: e.event().body.action(),
        at_ms: e.event().at_ms,
        origin,
        tenant: tenant.map(|t| t.to_string()),
        leaf_index: p.leaf_index,
        tree_size: p.tree_size,
    })
}
