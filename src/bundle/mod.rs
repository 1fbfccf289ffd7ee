//! Offline bundles: a self-contained export of a range of events that a third party
//! checks with nothing but the ledger's verifier key — no master key, no database.
//!
//! A bundle is JSON Lines (`docs/FORMAT.md` gives every field): a header (origin,
//! range `[from, to)`, tree size, genesis key, key chain), the signed checkpoint, the
//! *anchors* (event 0 and every `signing_key_rotated` event outside the range, each with
//! its inclusion proof, so the key chain is proven even for a partial range), the
//! *frontier* (the perfect subtree hashes covering `[0, from)`), the consistency proof
//! from `to` to the checkpoint's size, the events of the range, and an end record.
//!
//! [`verify_bundle`] checks, in file order, and stops at the first problem: the header and
//! the trusted key (named after the origin, and one of the ledger's keys); the checkpoint
//! signature (by the key in force at its size); every anchor (inclusion in the signed
//! tree, signature, rotation proof, via `replay`); every event's position, hash link and
//! signature (via `replay::verify`/`verify_from`, batch-parallel); the end record; the key
//! chain; and finally the Merkle root: frontier + leaves give the root at `to`, which the
//! consistency proof ties to the signed root.
//!
//! **Invariant:** a bundle holds only events (ciphertexts at most) and public keys.
//! **Invariant:** the verifier trusts nothing in the bundle except through the key it is
//! given; the header's key chain is only accepted once anchors and events prove it.
//!
//! The files: `format` holds the wire types of `docs/FORMAT.md`, `export` writes a
//! bundle from a store, `read` reads one line by line (and hashes the events into the
//! frontier as they pass), and `verify` checks one stage after another; `event_proof`
//! verifies one event proof (global or tenant log) offline.

pub mod event_proof;
mod export;
mod format;
pub(crate) mod read;
mod verify;

pub use export::{export, ExportError, ExportSummary};
pub use format::KeyEntry;
pub use verify::{verify_bundle, verify_bundle_reader, BundleError, BundleReport};

/// The format name in the header.
pub const FORMAT: &str = "credledger-bundle/v1";
