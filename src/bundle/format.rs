//! The wire types of a bundle, one per JSON line; `docs/FORMAT.md` documents every
//! field.
//!
//! **Invariant:** these types are the format: changing one changes `docs/FORMAT.md`
//! and the format name [`FORMAT`](super::FORMAT) with it.

use crate::merkle::Hash;
use crate::proof::b64;
use serde::{Deserialize, Serialize};

/// One signing key of the chain: it signs events from `from_seq` on.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct KeyEntry {
    pub from_seq: u64,
    /// The ed25519 public key, lowercase hex.
    pub key: String,
}

/// The first line of a bundle.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub(super) struct Header {
    pub(super) format: String,
    pub(super) origin: String,
    pub(super) from: u64,
    pub(super) to: u64,
    pub(super) tree_size: u64,
    pub(super) genesis_key: String,
    pub(super) verifier_key: String,
    pub(super) keys: Vec<KeyEntry>,
}

/// Every line after the header.
#[derive(Serialize, Deserialize, Debug)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum Line {
    Checkpoint {
        note: String,
    },
    Anchor {
        seq: u64,
        #[serde(with = "b64::bytes")]
        leaf: Vec<u8>,
        #[serde(with = "b64::hashes")]
        audit_path: Vec<Hash>,
    },
    Frontier {
        #[serde(with = "b64::hashes")]
        hashes: Vec<Hash>,
    },
    Consistency {
        old_size: u64,
        new_size: u64,
        #[serde(with = "b64::hashes")]
        consistency: Vec<Hash>,
    },
    Event {
        seq: u64,
        #[serde(with = "b64::bytes")]
        leaf: Vec<u8>,
    },
    End {
        events: u64,
    },
}

/// The event line, written without copying the record into a `Line`.
#[derive(Serialize)]
pub(super) struct EventOut {
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    pub(super) seq: u64,
    pub(super) leaf: String,
}
