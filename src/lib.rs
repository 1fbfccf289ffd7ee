//! credledger: an event-sourced, audit-first credential ledger.
//!
//! See `docs/ARCHITECTURE.md` for the bird's-eye view and the codemap. In short:
//! `codec` and `event` define the signed, chained bytes; `secret` the envelope
//! encryption; `domain` the rules (no I/O); `store`, `commit` and `projection` the
//! storage traits (sled behind them), the group commit and the read models;
//! `integrity` whether the stored log is complete; `ledger` orchestrates a request;
//! `http` is the shared web layer under which `api` (JSON, and its Vault dialect)
//! serves it; `replay` and `audit` serve forensics and reviewers;
//! `console` is the web console beside `api`; `merkle`, `note`, `proof` and `bundle`
//! prove the log to outsiders; `witness` runs and calls C2SP witnesses that cosign its
//! checkpoints.

#![forbid(unsafe_code)]
// The library keeps functions short and matches over its own enums exhaustive (a new
// event kind or error must be handled everywhere); each exception says why inline.
#![cfg_attr(
    not(test),
    warn(clippy::too_many_lines, clippy::wildcard_enum_match_arm)
)]

pub mod api;
pub mod audit;
pub mod bundle;
pub mod cluster;
pub mod codec;
pub mod commit;
pub mod console;
pub mod domain;
pub mod event;
pub mod fsutil;
pub mod http;
pub mod id;
pub mod integrity;
pub mod keys;
pub mod ledger;
pub mod merkle;
pub mod metrics;
pub mod migrate;
pub mod note;
pub mod projection;
pub mod proof;
pub mod replay;
pub mod report;
pub mod secret;
pub mod snapshot;
pub mod store;
pub mod template;
pub mod time;
pub mod verify;
pub mod webhook;
pub mod witness;
