//! The usage report bundle: one JSON document, every field in `docs/FORMAT.md`
//! (Usage report bundles).
//!
//! **Invariant:** these types are the format; changing one changes `docs/FORMAT.md` and
//! [`REPORT_FORMAT`] with it.

use crate::merkle::Hash;
use crate::proof::b64;
use serde::{Deserialize, Serialize};

/// The format name.
pub const REPORT_FORMAT: &str = "credledger-usage-report/v1";

/// A usage report bundle.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UsageReport {
    /// Always [`REPORT_FORMAT`].
    pub format: String,
    /// The tenant log's origin (`<ledger origin>/tenant/<tenant id>`).
    pub origin: String,
    /// The tenant id.
    pub tenant: String,
    /// The credential id.
    pub credential: String,
    /// The interval `[from_ms, to_ms)`, milliseconds since the Unix epoch.
    pub from_ms: i64,
    pub to_ms: i64,
    /// The tenant tree sizes of the two boundary checkpoints: the range is the leaves
    /// `[start, end)`.
    pub start: u64,
    pub end: u64,
    /// The tenant checkpoint of size `start` (absent when `start` is 0), as served, with
    /// any witness cosignatures.
    pub start_checkpoint: Option<String>,
    /// The tenant checkpoint of size `end`, with any witness cosignatures.
    pub end_checkpoint: String,
    /// The perfect subtree hashes covering `[0, start)`, largest first.
    #[serde(with = "b64::hashes")]
    pub frontier: Vec<Hash>,
    /// The RFC 9162 consistency proof from `start` to `end` (empty when `start` is 0).
    #[serde(with = "b64::hashes")]
    pub consistency: Vec<Hash>,
    /// Leaf `start − 1` and its inclusion proof in the start checkpoint (absent when
    /// `start` is 0): the event before the range, which is before `from_ms`.
    pub boundary: Option<Leaf>,
    /// Every leaf of `[start, end)`, in order.
    pub leaves: Vec<Leaf>,
}

/// One tenant leaf: its index in the tenant tree, the event bytes (the stored record)
/// and, for the boundary leaf, its inclusion proof.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Leaf {
    pub index: u64,
    #[serde(with = "b64::bytes")]
    pub leaf: Vec<u8>,
    #[serde(default, with = "b64::hashes", skip_serializing_if = "Vec::is_empty")]
    pub audit_path: Vec<Hash>,
}
