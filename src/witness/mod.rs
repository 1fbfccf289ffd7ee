//! Witnesses (C2SP tlog-witness) for credledger's checkpoints, and the
//! client a log uses to get their cosignatures (C2SP tlog-cosignature).
//!
//! A witness keeps, for each log it is configured for (an origin and the
//! log's public keys), the latest checkpoint it cosigned. It cosigns a new
//! checkpoint only if the log signed it and it provably extends that one
//! (RFC 9162 consistency proof), so a log cannot show two histories to two
//! parties that both check a quorum of witnesses: no honest witness cosigns
//! both. `credledger witness serve` runs one (see `docs/WITNESS.md`).
//!
//! The files, one concept each:
//!
//! - `protocol`: the `add-checkpoint` request and response bytes (pure).
//! - `check`: the one rule — extend, or the same head again; never a
//!   rollback or a fork (pure).
//! - `state`: the durable latest head per origin, and evidence of refusals.
//! - `key`: the witness's name and signing key file.
//! - `service`: [`Witness`] — configured logs, per-origin serialisation,
//!   verify → check → durable write → cosign.
//! - `server`: the axum router (`POST /add-checkpoint`).
//! - `client`: [`WitnessClient`] and [`add_checkpoint`] for the log side.
//!
//! The cosignature format itself (key IDs, lines, signed message, the quorum
//! check) is in [`crate::note::cosignature`] and re-exported here.
//!
//! **Invariant:** the witness answers 200 only after the new head is durable
//! (written, fsynced, renamed, directory fsynced), and answers nothing for an
//! origin whose state write failed until it restarts.
//! **Invariant:** `protocol`, `check` and the cosignature format do no I/O
//! and read no clock; the service reads the clock through a function it is
//! given, under the origin's lock.
//!
//! # Integrating witnesses into the ledger
//!
//! The ledger side is `crate::ledger::witnessing` (`serve --witness`); in
//! short:
//!
//! 1. **Configuration.** For each witness: its submission URL prefix and its
//!    verifier key (`credledger witness key --data DIR` prints it), parsed
//!    with [`CosignerKey::parse`]; build one [`WitnessClient::new`] each at
//!    start-up. Keep per witness the last size it cosigned (`known_size`,
//!    0 when unknown: the first answer's 409 tells).
//! 2. **Each new checkpoint** (global and per tenant): after the signed note
//!    is durable, for every witness, without holding the writer lock and
//!    with a bounded time (the client's timeouts):
//!
//!    ```ignore
//!    let got = client
//!        .cosign(&note, known_size, |old| proof::consistency(store, old, size))
//!        .await;
//!    match got {
//!        Ok(c) => { store_cosignature(size, c.line); known_size = c.witness_size; }
//!        Err(e) if e.is_retryable() => { /* count it missing; the next checkpoint retries */ }
//!        Err(e) => { tracing::error!(%e, "witness refused a checkpoint"); /* alert on RootConflict/BadProof */ }
//!    }
//!    ```
//!
//!    A missing witness never blocks a resolve: the checkpoint simply
//!    carries fewer cosignatures.
//! 3. **Serving cosigned checkpoints.** Store the lines next to the note
//!    (by size) and serve [`add_cosignatures`]`(note, &lines)`: the log's
//!    signature lines first, then one line per witness. Old verifiers that
//!    only know the log key still accept it (they ignore unknown keys).
//! 4. **Verifying offline** (`verify-bundle --witness KEY --quorum K`):
//!    [`verify_cosigned`]`(note, &log_keys, &witness_keys, k)` on each
//!    boundary checkpoint; it returns which witnesses signed and when, or
//!    `QuorumNotMet` naming how many did.

mod check;
mod client;
mod key;
mod protocol;
mod server;
mod service;
mod state;

pub use check::{check, Refusal, TreeHead};
pub use client::{
    add_checkpoint, Cosignature, WitnessClient, WitnessError, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_TIMEOUT,
};
pub use key::{
    default_name, load as load_key, load_or_create as load_or_create_key, KeyError, WitnessKey,
    KEY_FILE,
};
pub use protocol::{
    parse_decimal, parse_hash, AddCheckpoint, ADD_CHECKPOINT_PATH, MAX_PROOF_LINES,
    MAX_REQUEST_BYTES, SIZE_CONTENT_TYPE,
};
pub use server::{router, serve};
pub use service::{AddCheckpointError, LogConfig, OpenError, Witness};
pub use state::{Latest, StateError, StateStore};

pub use crate::note::cosignature::{
    add_cosignatures, verify_cosigned, CosignatureError, CosignatureLine, Cosigned,
    CosignedCheckpoint, CosignerKey,
};

#[cfg(test)]
mod tests;
