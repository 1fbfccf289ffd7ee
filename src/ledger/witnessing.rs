//! Ledger-side witnessing (c2sp.org/tlog-witness): the writer node submits each new
//! checkpoint, with a consistency proof, to every configured witness in the background,
//! verifies the `cosignature/v1` line each returns and stores it beside the checkpoint
//! (`CheckpointStore::put_cosignatures_durable`), where `Reads::checkpoint` and
//! `Reads::checkpoints` append it to the served note.
//!
//! One task per witness, so a dead witness costs only its own timeout: each task wakes
//! every interval, and if this node is the writer and a checkpoint newer than the last
//! one this witness cosigned was issued, sends it (`WitnessClient::cosign`, which starts
//! from the size the task believes the witness holds and retries once from the size a
//! 409 names). Tasks merge their lines into the store one at a time.
//!
//! **Invariant:** nothing here holds the writer lock or runs on the append path: resolves
//! and appends never wait for a witness. A checkpoint a witness did not cosign simply
//! carries fewer cosignature lines (and `SignedCheckpoint::cosignatures` says how many).
//! **Invariant:** only lines that verify with the witness's configured key are stored.

use super::Ledger;
use crate::id::Id;
use crate::note::cosignature::CosignerKey;
use crate::proof::{self, cosigned, SignedCheckpoint};
use crate::witness::{WitnessClient, WitnessError};
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// One configured witness: its submission URL prefix and its verifier key.
#[derive(Clone, Debug)]
pub struct WitnessSpec {
    /// The submission prefix (`/add-checkpoint` is appended).
    pub url: String,
    /// The witness's cosigner key (`credledger witness key` prints it).
    pub key: CosignerKey,
}

impl FromStr for WitnessSpec {
    type Err = String;

    /// `URL=VERIFIER_KEY`, split at the first `=` (a verifier key's base64 may end in
    /// `=`; a submission URL needs none).
    fn from_str(s: &str) -> Result<WitnessSpec, String> {
        let (url, key) = s
            .split_once('=')
            .ok_or_else(|| format!("{s:?} is not URL=VERIFIER_KEY"))?;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!("witness URL {url:?} is not http(s)://…"));
        }
        let key = CosignerKey::parse(key.trim())
            .map_err(|e| format!("witness key {key:?} of {url}: {e}"))?;
        Ok(WitnessSpec {
            url: url.to_owned(),
            key,
        })
    }
}

/// The running witnessing tasks; dropping it stops them.
pub struct Witnessing {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Witnessing {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Starts one task per witness on the current tokio runtime. The tasks hold the ledger
/// weakly and end when it is gone (or when the returned guard is dropped).
pub fn spawn(
    ledger: Weak<Ledger>,
    witnesses: &[WitnessSpec],
    interval: Duration,
) -> Result<Witnessing, WitnessError> {
    let merge_lock = Arc::new(tokio::sync::Mutex::new(()));
    let mut tasks = Vec::new();
    for w in witnesses {
        let client = WitnessClient::new(&w.url, w.key.clone())?;
        tracing::info!(witness = %w.url, key = %w.key.verifier_key(), "witness configured");
        tasks.push(tokio::spawn(follow(
            ledger.clone(),
            client,
            w.url.clone(),
            interval,
            merge_lock.clone(),
        )));
    }
    Ok(Witnessing { tasks })
}

/// What one task knows about its witness, per origin.
#[derive(Default)]
struct Known {
    /// The size the witness holds, as far as this task knows (0: unknown).
    cosigned: u64,
    /// The size it refused for good (a fork or a bad proof): not sent again.
    refused: u64,
    /// The size whose retryable failure was already logged.
    warned: u64,
}

async fn follow(
    ledger: Weak<Ledger>,
    client: WitnessClient,
    url: String,
    interval: Duration,
    merge_lock: Arc<tokio::sync::Mutex<()>>,
) {
    let mut known: HashMap<String, Known> = HashMap::new();
    loop {
        tokio::time::sleep(interval).await;
        let Some(l) = ledger.upgrade() else { return };
        if l.writable().is_err() {
            continue;
        }
        let pending = match latest_checkpoints(&l).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "witnessing: cannot read the latest checkpoints");
                continue;
            }
        };
        drop(l);
        for (tenant, cp) in pending {
            let origin = cosigned::origin(&cp.note).to_owned();
            let k = known.entry(origin.clone()).or_default();
            if cp.tree_size <= k.cosigned || cp.tree_size == k.refused {
                continue;
            }
            let log = Log {
                origin: &origin,
                tenant,
            };
            submit(&ledger, &client, &url, &merge_lock, log, cp, k).await;
        }
    }
}

/// The latest issued checkpoint of every log this ledger witnesses: the global log
/// (tenant `None`) and each tenant's.
async fn latest_checkpoints(
    l: &Arc<Ledger>,
) -> Result<Vec<(Option<Id>, SignedCheckpoint)>, String> {
    let store = l.store.clone();
    tokio::task::spawn_blocking(move || -> Result<_, proof::ProofError> {
        let mut out: Vec<(Option<Id>, SignedCheckpoint)> = proof::latest_checkpoint(&*store)?
            .into_iter()
            .map(|cp| (None, cp))
            .collect();
        for (tenant, cp) in proof::tenant::latest_tenant_checkpoints(&*store)? {
            out.push((Some(tenant), cp));
        }
        Ok(out)
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())
}

/// Which log a checkpoint belongs to.
#[derive(Clone, Copy)]
struct Log<'a> {
    origin: &'a str,
    /// `None`: the global log.
    tenant: Option<Id>,
}

async fn submit(
    ledger: &Weak<Ledger>,
    client: &WitnessClient,
    url: &str,
    merge_lock: &tokio::sync::Mutex<()>,
    log: Log<'_>,
    cp: SignedCheckpoint,
    k: &mut Known,
) {
    let origin = log.origin;
    let Some(store) = ledger.upgrade().map(|l| l.store.clone()) else {
        return;
    };
    let size = cp.tree_size;
    let proof_store = store.clone();
    let got = client
        .cosign(&cp.note, k.cosigned, |old| {
            match log.tenant {
                None => proof::consistency(&*proof_store, old, size),
                Some(t) => proof::tenant::tenant_consistency(&*proof_store, t, old, size),
            }
            .map(|p| p.consistency)
        })
        .await;
    match got {
        Ok(c) => {
            let _merging = merge_lock.lock().await;
            let origin_owned = origin.to_owned();
            let stored = tokio::task::spawn_blocking(move || -> Result<(), proof::ProofError> {
                let lines = cosigned::lines_of(&*store, &cp)?;
                let merged = cosigned::merge(&lines, &c.line);
                Ok(store.put_cosignatures_durable(&origin_owned, size, &merged)?)
            })
            .await;
            match stored {
                Ok(Ok(())) => {
                    tracing::info!(witness = %url, origin, size, "checkpoint cosigned");
                    k.cosigned = c.witness_size;
                }
                Ok(Err(e)) => {
                    tracing::error!(witness = %url, error = %e, "cannot store a cosignature")
                }
                Err(e) => tracing::error!(witness = %url, error = %e, "cannot store a cosignature"),
            }
        }
        Err(WitnessError::Conflict { witness_size }) if witness_size > size => {
            // The witness has seen a later checkpoint of this origin (another node's):
            // only a newer one can be cosigned.
            tracing::warn!(witness = %url, origin, size, witness_size, "the witness holds a later checkpoint");
            k.cosigned = witness_size;
        }
        Err(e) if e.is_retryable() => {
            if k.warned != size {
                tracing::warn!(witness = %url, origin, size, error = %e, "witness unavailable; the checkpoint carries fewer cosignatures (retrying)");
                k.warned = size;
            }
        }
        Err(e) => {
            tracing::error!(witness = %url, origin, size, error = %e, "the witness REFUSED a checkpoint (a fork, or a misconfigured witness)");
            k.refused = size;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_witness_spec_is_url_equals_key() {
        let key = CosignerKey::new(
            "witness.test/a",
            ed25519_dalek::SigningKey::from_bytes(&[5; 32]).verifying_key(),
        )
        .unwrap();
        let vkey = key.verifier_key();
        let spec: WitnessSpec = format!("http://127.0.0.1:9/={vkey}").parse().unwrap();
        assert_eq!(spec.url, "http://127.0.0.1:9/");
        assert_eq!(spec.key, key);
        for bad in [
            "http://127.0.0.1:9/".to_owned(),
            format!("ftp://x={vkey}"),
            "http://x=not-a-key".to_owned(),
        ] {
            assert!(bad.parse::<WitnessSpec>().is_err(), "{bad}");
        }
    }
}
