//! The client side of c2sp.org/tlog-witness: send a checkpoint with a
//! consistency proof to a witness and get its cosignature back.
//!
//! Two levels:
//!
//! - [`add_checkpoint`] / [`WitnessClient::add_checkpoint`]: one request,
//!   the raw answer (every Ed25519 cosignature/v1 line, not verified), and
//!   each non-200 answer as a [`WitnessError`] variant; a 409 carries the
//!   witness's size so the caller can retry with the right proof.
//! - [`WitnessClient::cosign`]: what a log calls for each new checkpoint. It
//!   sends from the size it believes the witness holds, retries once from
//!   the size a 409 names, and returns the one line that verifies with the
//!   witness's configured key.
//!
//! **Invariant:** every request has a connect and a total timeout; nothing
//! here retries more than once or sleeps, so a dead witness costs one
//! timeout and never blocks the caller for longer.

use super::protocol::{
    parse_signature_lines, parse_size, AddCheckpoint, ADD_CHECKPOINT_PATH, SIZE_CONTENT_TYPE,
};
use crate::merkle::Hash;
use crate::note::cosignature::{CosignatureLine, CosignerKey};
use crate::note::{parse_note, Checkpoint};
use std::time::Duration;

/// The default total timeout of one request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The default connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The longest error message kept from a witness's answer.
const MAX_MESSAGE: usize = 200;

/// Why a witness did not cosign. Each variant says what the caller should do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WitnessError {
    /// 409: the witness's latest cosigned size for this origin is
    /// `witness_size`, not the old size sent. Retry with a consistency proof
    /// from `witness_size` ([`WitnessClient::cosign`] does this once). If
    /// `witness_size` is above the checkpoint's size, the witness has seen a
    /// later checkpoint: send that one or a newer one.
    #[error("the witness holds size {witness_size}, not the old size sent")]
    Conflict {
        /// The size the witness holds.
        witness_size: u64,
    },
    /// 409 naming the very size sent: the witness cosigned a checkpoint of
    /// this size with another root. A fork (or two logs sharing an origin);
    /// do not retry, alert.
    #[error("the witness cosigned another root at size {size}: fork")]
    RootConflict {
        /// The size of both checkpoints.
        size: u64,
    },
    /// 422: the witness found the consistency proof invalid. A bug in the
    /// proof, or a checkpoint not extending what the witness saw (a fork):
    /// do not retry, alert.
    #[error("the witness rejected the consistency proof: {0}")]
    BadProof(String),
    /// 403: the witness does not accept the log's signature (it is
    /// configured with another key for this origin). Fix its configuration.
    #[error("the witness does not trust the checkpoint's signature: {0}")]
    Forbidden(String),
    /// 404: the witness does not know this origin. Fix its configuration.
    #[error("the witness does not know this log: {0}")]
    UnknownLog(String),
    /// 400: the witness found the request malformed (or the old size larger
    /// than the checkpoint's). A bug on this side; do not retry as is.
    #[error("the witness refused the request as malformed: {0}")]
    BadRequest(String),
    /// 5xx, 429 or another unexpected status. Retry later.
    #[error("the witness answered {status}: {message}")]
    Unavailable {
        /// The HTTP status.
        status: u16,
        /// The start of the answer's body.
        message: String,
    },
    /// No answer: connection refused, timeout, TLS failure. Retry later.
    #[error("the witness is unreachable: {0}")]
    Transport(#[from] reqwest::Error),
    /// The answer is not what the spec says (a 200 body that is not
    /// signature lines, a 409 body that is not a size). Treat the witness as
    /// broken; retry later.
    #[error("the witness's answer is malformed: {0}")]
    InvalidResponse(&'static str),
    /// The answer holds no cosignature that verifies with the witness's
    /// configured key: the key pinned for this witness is wrong, or the
    /// witness misbehaves. Do not count it.
    #[error("no cosignature in the answer verifies with the witness's key {0}")]
    NoValidCosignature(String),
    /// The caller's proof source failed for the size a 409 named (or the
    /// note it gave is not a checkpoint). Nothing was cosigned.
    #[error("cannot build the request: {0}")]
    Request(String),
}

impl WitnessError {
    /// Whether trying again later may succeed (the witness is down, busy or
    /// answered oddly), as opposed to a refusal that will not change.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            WitnessError::Unavailable { .. }
                | WitnessError::Transport(_)
                | WitnessError::InvalidResponse(_)
                | WitnessError::Conflict { .. }
        )
    }
}

/// A cosignature obtained by [`WitnessClient::cosign`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosignature {
    /// The witness's verified cosignature line, to add to the note
    /// (`note::cosignature::add_cosignatures`).
    pub line: CosignatureLine,
    /// The size the witness now holds (the checkpoint's): the old size to
    /// send with the next checkpoint.
    pub witness_size: u64,
}

/// A client for one witness: its submission URL prefix and its key.
#[derive(Debug, Clone)]
pub struct WitnessClient {
    http: reqwest::Client,
    url: String,
    key: CosignerKey,
}

impl WitnessClient {
    /// A client for the witness at `prefix` (its submission prefix, e.g.
    /// `https://witness.example/`; `/add-checkpoint` is appended) whose
    /// cosignatures verify with `key`, with the default timeouts.
    pub fn new(prefix: &str, key: CosignerKey) -> Result<WitnessClient, WitnessError> {
        Self::with_timeouts(prefix, key, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT)
    }

    /// Like [`WitnessClient::new`] with explicit timeouts.
    pub fn with_timeouts(
        prefix: &str,
        key: CosignerKey,
        connect: Duration,
        total: Duration,
    ) -> Result<WitnessClient, WitnessError> {
        let http = reqwest::Client::builder()
            .connect_timeout(connect)
            .timeout(total)
            .build()?;
        Ok(WitnessClient {
            http,
            url: endpoint(prefix),
            key,
        })
    }

    /// The witness's key.
    pub fn key(&self) -> &CosignerKey {
        &self.key
    }

    /// Sends one `add-checkpoint` request and returns the cosignature/v1
    /// lines of a 200 answer, unverified (lines of other signature types are
    /// skipped).
    pub async fn add_checkpoint(
        &self,
        old_size: u64,
        proof: &[Hash],
        note: &str,
    ) -> Result<Vec<CosignatureLine>, WitnessError> {
        send(&self.http, &self.url, old_size, proof, note).await
    }

    /// Gets this witness's cosignature of `note`, a checkpoint signed by the
    /// log.
    ///
    /// `known_size` is the size this witness last cosigned, as far as the
    /// caller knows (0 if it does not know); `proof(old)` must return the
    /// consistency proof from size `old` to the checkpoint's size (it is
    /// never called with 0). On a 409 the request is sent once more from the
    /// size the witness names, if that size is not above the checkpoint's.
    /// The answer must hold a line that verifies with the witness's key.
    pub async fn cosign<E: std::fmt::Display>(
        &self,
        note: &str,
        known_size: u64,
        mut proof: impl FnMut(u64) -> Result<Vec<Hash>, E>,
    ) -> Result<Cosignature, WitnessError> {
        let text = parse_note(note)
            .map_err(|e| WitnessError::Request(e.to_string()))?
            .text;
        let size = Checkpoint::parse_body(&text)
            .map_err(|e| WitnessError::Request(e.to_string()))?
            .size;
        let mut proof_from = |old: u64| -> Result<Vec<Hash>, WitnessError> {
            if old == 0 {
                Ok(Vec::new())
            } else {
                proof(old).map_err(|e| WitnessError::Request(e.to_string()))
            }
        };
        let old = known_size.min(size);
        let lines = match self.add_checkpoint(old, &proof_from(old)?, note).await {
            Err(WitnessError::Conflict { witness_size }) if witness_size <= size => {
                self.add_checkpoint(witness_size, &proof_from(witness_size)?, note)
                    .await?
            }
            other => other?,
        };
        let line = lines
            .into_iter()
            .find(|l| l.is_by(&self.key) && l.verify(&text, &self.key).is_ok())
            .ok_or_else(|| WitnessError::NoValidCosignature(self.key.verifier_key()))?;
        Ok(Cosignature {
            line,
            witness_size: size,
        })
    }
}

/// Sends one `add-checkpoint` request to the witness at `prefix` with a
/// one-off client (default timeouts) and returns the cosignature/v1 lines
/// of a 200 answer, unverified. Prefer [`WitnessClient`], which keeps its
/// connections alive.
pub async fn add_checkpoint(
    prefix: &str,
    old_size: u64,
    proof: &[Hash],
    note: &str,
) -> Result<Vec<CosignatureLine>, WitnessError> {
    let http = reqwest::Client::builder()
        .connect_timeout(DEFAULT_CONNECT_TIMEOUT)
        .timeout(DEFAULT_TIMEOUT)
        .build()?;
    send(&http, &endpoint(prefix), old_size, proof, note).await
}

fn endpoint(prefix: &str) -> String {
    format!("{}{ADD_CHECKPOINT_PATH}", prefix.trim_end_matches('/'))
}

async fn send(
    http: &reqwest::Client,
    url: &str,
    old_size: u64,
    proof: &[Hash],
    note: &str,
) -> Result<Vec<CosignatureLine>, WitnessError> {
    let body = AddCheckpoint {
        old_size,
        proof: proof.to_vec(),
        note: note.to_owned(),
    }
    .encode();
    let resp = http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(body)
        .send()
        .await?;
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = resp.text().await?;
    match status {
        200 => {
            let lines = parse_signature_lines(&text).map_err(WitnessError::InvalidResponse)?;
            // Lines of other types (another length) are not ours to read.
            Ok(lines
                .iter()
                .filter_map(|l| CosignatureLine::from_signature_line(l).ok())
                .collect())
        }
        409 => {
            if !content_type.starts_with(SIZE_CONTENT_TYPE) {
                return Err(WitnessError::InvalidResponse(
                    "a 409 answer is not text/x.tlog.size",
                ));
            }
            let witness_size = parse_size(&text)
                .ok_or(WitnessError::InvalidResponse("a 409 answer is not a size"))?;
            if witness_size == old_size {
                Err(WitnessError::RootConflict { size: old_size })
            } else {
                Err(WitnessError::Conflict { witness_size })
            }
        }
        400 => Err(WitnessError::BadRequest(message(&text))),
        403 => Err(WitnessError::Forbidden(message(&text))),
        404 => Err(WitnessError::UnknownLog(message(&text))),
        422 => Err(WitnessError::BadProof(message(&text))),
        _ => Err(WitnessError::Unavailable {
            status,
            message: message(&text),
        }),
    }
}

/// The first line of an answer, shortened, without control characters.
fn message(body: &str) -> String {
    body.lines()
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_MESSAGE)
        .collect()
}
