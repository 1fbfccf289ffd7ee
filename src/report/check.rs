//! Verifying a usage report offline, with the ledger's verifier key and optionally a
//! witness quorum. The checks, in order, each failing with the [`ReportError`] that names
//! it: the format; the origin (a tenant log of the trusted ledger); both boundary
//! checkpoints (signed by the trusted key, sizes as the header says, and K cosignatures
//! of the given witnesses when a quorum is asked); the leaves (one per index of
//! `[start, end)`, no more, no fewer); the frontier (it hashes to the start root); the
//! leaves (with the frontier they hash to the end root); the consistency proof; the
//! boundary leaf (in the start tree, before `from`); every event (decodes, signed by the
//! trusted key, of this tenant, in log order, times never decreasing) and the last one (at
//! or after `to`). Then it lists the credential's events inside the interval.
//!
//! **Invariant:** nothing in the report is trusted except through the given keys.

use super::format::{UsageReport, REPORT_FORMAT};
use crate::bundle::read::Frontier;
use crate::event::SignedEvent;
use crate::merkle::{self, Hash};
use crate::note::cosignature::{verify_cosigned, CosignerKey};
use crate::note::parse_verifier_key;
use ed25519_dalek::VerifyingKey;
use serde::Serialize;

/// Why a report did not verify. Every variant but [`ReportError::BadKey`] means "not
/// proven" (CLI exit 1); `BadKey` is a usage error (exit 2).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// A `--key` or `--witness` argument is malformed.
    #[error("malformed key: {0}")]
    BadKey(String),
    /// The file is not a usage report of this format.
    #[error("malformed report: {0}")]
    Malformed(String),
    /// The report is not about a tenant log of the trusted ledger.
    #[error("wrong ledger: {0}")]
    WrongLedger(String),
    /// A boundary checkpoint is not validly signed (or not cosigned by the quorum), or
    /// not the one the header names.
    #[error("{which} checkpoint: {detail}")]
    Checkpoint { which: &'static str, detail: String },
    /// The leaves are not exactly one per index of the range.
    #[error("incomplete range: {0}")]
    Range(String),
    /// The hashes do not tie the leaves to the signed roots: a leaf was removed, added or
    /// changed, or a checkpoint was swapped.
    #[error("Merkle root mismatch: {0}")]
    RootMismatch(String),
    /// An event of the range fails.
    #[error("leaf {index}: {detail}")]
    Leaf { index: u64, detail: String },
    /// The boundary events do not enclose the interval (a shortened or stretched
    /// interval).
    #[error("the range does not cover the interval: {0}")]
    Interval(String),
}

/// One event of the credential inside the interval.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ReportUse {
    /// The global sequence number.
    pub seq: u64,
    pub at_ms: i64,
    /// The event's action (`used`, `use_denied`, `rotated`, …).
    pub action: &'static str,
    /// `ok`, `denied` or `failed`.
    pub outcome: &'static str,
    /// The principal who acted, if any.
    pub principal: Option<String>,
    /// The client address recorded with the request, if any.
    pub remote_addr: Option<String>,
}

/// What a verified report proves.
#[derive(Clone, Debug, Serialize)]
pub struct VerifiedReport {
    pub origin: String,
    pub tenant: String,
    pub credential: String,
    pub from_ms: i64,
    pub to_ms: i64,
    pub start: u64,
    pub end: u64,
    /// The leaves checked (the whole range).
    pub events: u64,
    /// Every event of the credential in `[from_ms, to_ms)`: all of them.
    pub uses: Vec<ReportUse>,
    /// The witnesses that cosigned both boundary checkpoints.
    pub witnesses: Vec<String>,
}

fn parse_key(ledger_key: &str) -> Result<(String, VerifyingKey), ReportError> {
    let (name, _, key) =
        parse_verifier_key(ledger_key).map_err(|e| ReportError::BadKey(e.to_string()))?;
    Ok((name, key))
}

/// A boundary checkpoint: verified, of the expected size; its root and cosigners.
fn checkpoint(
    which: &'static str,
    note: &str,
    origin: &str,
    key: &VerifyingKey,
    witnesses: &[CosignerKey],
    quorum: usize,
    size: u64,
) -> Result<(Hash, Vec<String>), ReportError> {
    let err = |detail: String| ReportError::Checkpoint { which, detail };
    let keys = [(origin.to_owned(), *key)];
    let c = verify_cosigned(note, &keys, witnesses, quorum).map_err(|e| err(e.to_string()))?;
    if c.checkpoint.origin != origin {
        return Err(err(format!(
            "origin {:?}, not {origin:?}",
            c.checkpoint.origin
        )));
    }
    if c.checkpoint.size != size {
        return Err(err(format!(
            "size {} where the report says {size}",
            c.checkpoint.size
        )));
    }
    Ok((
        c.checkpoint.root,
        c.cosigners.into_iter().map(|w| w.name).collect(),
    ))
}

/// Verifies a usage report: see the module documentation for the checks.
pub fn verify_report(
    bytes: &[u8],
    ledger_key: &str,
    witnesses: &[CosignerKey],
    quorum: usize,
) -> Result<VerifiedReport, ReportError> {
    let r: UsageReport =
        serde_json::from_slice(bytes).map_err(|e| ReportError::Malformed(e.to_string()))?;
    if r.format != REPORT_FORMAT {
        return Err(ReportError::Malformed(format!(
            "format {:?}, expected {REPORT_FORMAT:?}",
            r.format
        )));
    }
    let (ledger_origin, key) = parse_key(ledger_key)?;
    let origin = format!("{ledger_origin}/tenant/{}", r.tenant);
    if r.origin != origin {
        return Err(ReportError::WrongLedger(format!(
            "the report is about {:?}, not a tenant log of {ledger_origin:?}",
            r.origin
        )));
    }
    if r.start >= r.end {
        return Err(ReportError::Range(format!(
            "start {} is not below end {}",
            r.start, r.end
        )));
    }
    let (end_root, end_w) = checkpoint(
        "end",
        &r.end_checkpoint,
        &origin,
        &key,
        witnesses,
        quorum,
        r.end,
    )?;
    let start_root = match (&r.start_checkpoint, r.start) {
        (None, 0) => None,
        (Some(note), s) if s > 0 => {
            let (root, start_w) = checkpoint("start", note, &origin, &key, witnesses, quorum, s)?;
            let _ = start_w;
            Some(root)
        }
        _ => {
            return Err(ReportError::Checkpoint {
                which: "start",
                detail: "present exactly when the range does not start at leaf 0".into(),
            })
        }
    };
    check_hashes(&r, start_root.as_ref(), &end_root)?;
    let uses = check_events(&r, &key)?;
    Ok(VerifiedReport {
        origin,
        tenant: r.tenant.clone(),
        credential: r.credential.clone(),
        from_ms: r.from_ms,
        to_ms: r.to_ms,
        start: r.start,
        end: r.end,
        events: r.leaves.len() as u64,
        uses,
        witnesses: end_w,
    })
}

/// The leaves are the whole range and, with the frontier, hash to both signed roots.
fn check_hashes(
    r: &UsageReport,
    start_root: Option<&Hash>,
    end_root: &Hash,
) -> Result<(), ReportError> {
    for (i, leaf) in r.leaves.iter().enumerate() {
        let want = r.start + i as u64;
        if leaf.index != want {
            return Err(ReportError::Range(format!(
                "leaf {want} is missing (found leaf {} in its place)",
                leaf.index
            )));
        }
    }
    if r.leaves.len() as u64 != r.end - r.start {
        return Err(ReportError::Range(format!(
            "{} leaves for the range [{}, {}) of {} leaves",
            r.leaves.len(),
            r.start,
            r.end,
            r.end - r.start
        )));
    }
    let positions = merkle::frontier_positions(r.start);
    if positions.len() != r.frontier.len() {
        return Err(ReportError::RootMismatch(format!(
            "{} frontier hashes for a start of {} leaves (need {})",
            r.frontier.len(),
            r.start,
            positions.len()
        )));
    }
    let mut frontier = Frontier {
        size: r.start,
        nodes: positions
            .iter()
            .zip(&r.frontier)
            .map(|((l, i), h)| (*l, *i, *h))
            .collect(),
    };
    if let Some(root) = start_root {
        if frontier.root() != *root {
            return Err(ReportError::RootMismatch(
                "the frontier does not hash to the start checkpoint's root".into(),
            ));
        }
        merkle::verify_consistency(r.start, r.end, root, end_root, &r.consistency).map_err(
            |e| ReportError::RootMismatch(format!("the checkpoints are not consistent: {e}")),
        )?;
        let b = r
            .boundary
            .as_ref()
            .ok_or_else(|| ReportError::Interval("no boundary leaf before the range".into()))?;
        if b.index != r.start - 1 {
            return Err(ReportError::Interval(format!(
                "the boundary leaf is {}, not {}",
                b.index,
                r.start - 1
            )));
        }
        merkle::verify_inclusion(
            &merkle::leaf_hash(&b.leaf),
            b.index,
            r.start,
            &b.audit_path,
            root,
        )
        .map_err(|e| {
            ReportError::RootMismatch(format!(
                "the boundary leaf is not in the start checkpoint: {e}"
            ))
        })?;
    }
    for leaf in &r.leaves {
        frontier.push(merkle::leaf_hash(&leaf.leaf));
    }
    if frontier.root() != *end_root {
        return Err(ReportError::RootMismatch(format!(
            "the leaves [{}, {}) do not hash to the end checkpoint's root: a leaf was removed, added or changed, or a checkpoint swapped",
            r.start, r.end
        )));
    }
    Ok(())
}

/// Every event decodes, is signed by `key`, belongs to the tenant, and the boundary
/// events enclose the interval; returns the credential's events inside it.
fn check_events(r: &UsageReport, key: &VerifyingKey) -> Result<Vec<ReportUse>, ReportError> {
    let decode = |index: u64, bytes: &[u8]| -> Result<SignedEvent, ReportError> {
        let e = SignedEvent::from_record(bytes).map_err(|e| ReportError::Leaf {
            index,
            detail: e.to_string(),
        })?;
        if !e.verify_signature(key) {
            return Err(ReportError::Leaf {
                index,
                detail: "the event's signature does not verify with the ledger key".into(),
            });
        }
        if e.event().body.tenant().map(|t| t.to_string()).as_deref() != Some(r.tenant.as_str()) {
            return Err(ReportError::Leaf {
                index,
                detail: "the event is not of the report's tenant".into(),
            });
        }
        Ok(e)
    };
    let mut last: Option<(u64, i64)> = None;
    if let Some(b) = &r.boundary {
        let e = decode(b.index, &b.leaf)?;
        if e.event().at_ms >= r.from_ms {
            return Err(ReportError::Interval(format!(
                "the event before the range (leaf {}, at {} ms) is not before the interval's start ({} ms)",
                b.index,
                e.event().at_ms,
                r.from_ms
            )));
        }
        last = Some((e.seq(), e.event().at_ms));
    }
    let mut uses = Vec::new();
    for leaf in &r.leaves {
        let e = decode(leaf.index, &leaf.leaf)?;
        let ev = e.event();
        if let Some((seq, at)) = last {
            if ev.seq <= seq || ev.at_ms < at {
                return Err(ReportError::Leaf {
                    index: leaf.index,
                    detail: "out of log order (sequence or time goes backwards)".into(),
                });
            }
        }
        last = Some((ev.seq, ev.at_ms));
        let of_it =
            ev.body.credential().map(|c| c.to_string()).as_deref() == Some(r.credential.as_str());
        if of_it && ev.at_ms >= r.from_ms && ev.at_ms < r.to_ms {
            uses.push(ReportUse {
                seq: ev.seq,
                at_ms: ev.at_ms,
                action: ev.body.action(),
                outcome: ev.body.outcome().as_str(),
                principal: ev.actor.principal.map(|p| p.to_string()),
                remote_addr: ev.context.remote_addr.clone(),
            });
        }
    }
    let (_, last_at) = last.expect("the range holds at least one leaf");
    if last_at < r.to_ms {
        return Err(ReportError::Interval(format!(
            "the range ends with an event at {last_at} ms, before the interval's end ({} ms)",
            r.to_ms
        )));
    }
    Ok(uses)
}
