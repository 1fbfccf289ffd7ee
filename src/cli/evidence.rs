//! The data directory as evidence: the local forensic commands (`replay *`, `export`)
//! open a private copy of the store, never the directory itself, and check that the log
//! is complete before they trust it.
//!
//! **Invariant:** nothing here writes under the data directory: sled cannot open a store
//! read-only (its recovery writes), so the store is copied to a temporary directory
//! first (which works on a read-only directory, and says so on stderr); a directory a
//! running server holds is refused, as its copy would be torn.

use anyhow::{bail, Context};
use credledger::integrity::{self, Incomplete, HEAD_MARKER};
use credledger::store::head;
use credledger::store::sled::SledBackend;
use credledger::store::Backend;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The private copies open now, so that an early exit (a closed stdout pipe ends a
/// command with `process::exit`, which runs no destructor) can still remove them.
static COPIES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Removes every private copy still open (before an early `process::exit`).
pub fn remove_copies() {
    let copies = std::mem::take(&mut *COPIES.lock().unwrap_or_else(|p| p.into_inner()));
    for c in copies {
        let _ = std::fs::remove_dir_all(c);
    }
}

/// Checks that the log of `store` reaches the head record of data directory `dir` and
/// the latest signed checkpoint (see `integrity::check_length`).
pub fn check_store_complete(store: &dyn Backend, dir: &Path) -> Result<(), Incomplete> {
    let recorded = head::read(dir)?;
    let required = store.meta(HEAD_MARKER)?.is_some();
    integrity::check_length(
        store,
        store.next_seq()?,
        recorded,
        head::path(dir),
        required,
    )
}

/// A private, writable copy of a data directory's store.
pub struct Evidence {
    pub store: SledBackend,
    /// The data directory the copy was taken from (read only).
    pub dir: PathBuf,
    _copy: tempfile::TempDir,
}

impl Drop for Evidence {
    fn drop(&mut self) {
        let path = self._copy.path();
        COPIES
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|c| c != path);
    }
}

impl Evidence {
    /// Copies the store of `dir` and opens the copy, saying so on stderr unless `json`
    /// (machine-readable output stays alone even when a caller merges the streams).
    pub fn open(dir: &Path, json: bool) -> anyhow::Result<Evidence> {
        if !dir.join("ledger").exists() {
            bail!(
                "no ledger at {} (expected {}/ledger)",
                dir.display(),
                dir.display()
            );
        }
        let (store, copy) = SledBackend::open_private_copy(dir)
            .with_context(|| format!("opening the ledger in {}", dir.display()))?;
        if !json {
            eprintln!(
                "credledger: working on a private copy of {} in {} (sled cannot open a store read-only; {} is not modified)",
            dir.join("ledger").display(),
            copy.path().display(),
            dir.display()
            );
        }
        COPIES
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(copy.path().to_path_buf());
        Ok(Evidence {
            store,
            dir: dir.to_path_buf(),
            _copy: copy,
        })
    }

    /// The store as a backend.
    pub fn backend(&self) -> &dyn Backend {
        &self.store
    }

    /// Checks that the log reaches the directory's head record and the latest signed
    /// checkpoint (see `integrity::check_length`).
    pub fn check_complete(&self) -> Result<(), Incomplete> {
        check_store_complete(&self.store, &self.dir)
    }

    /// [`Evidence::check_complete`] as a command error.
    pub fn require_complete(&self) -> anyhow::Result<()> {
        self.check_complete()
            .context("the log is incomplete; refusing to work on it")
    }
}
