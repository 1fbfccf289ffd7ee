//! Copying a store's files for a private, writable copy (forensics), and telling whether
//! another process holds a store's lock. Plain file operations; no backend type.
//!
//! **Invariant:** nothing here writes to the source: files are read and copied into the
//! target with mode 0600 (a read-only source gives a writable copy).

use super::StoreError;
use std::fs::File;
use std::path::Path;

/// Fails with [`StoreError::Locked`] if another process holds the lock on `db`.
pub(super) fn ensure_unlocked(db: &Path) -> Result<(), StoreError> {
    let f = match File::open(db) {
        Ok(f) => f,
        Err(source) => {
            return Err(StoreError::Io {
                path: db.to_path_buf(),
                source,
            })
        }
    };
    match f.try_lock() {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Locked {
            path: db.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(StoreError::Io {
            path: db.to_path_buf(),
            source,
        }),
    }
}

pub(super) fn copy_file(from: &Path, to: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::copy(from, to)
        .and_then(|_| std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o600)))
        .map_err(|source| StoreError::Io {
            path: from.to_path_buf(),
            source,
        })
}

pub(super) fn copy_tree(from: &Path, to: &Path) -> Result<(), StoreError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StoreError::Io { path, source }
    };
    std::fs::create_dir_all(to).map_err(io(to))?;
    for entry in std::fs::read_dir(from).map_err(io(from))? {
        let entry = entry.map_err(io(from))?;
        let ty = entry.file_type().map_err(io(&entry.path()))?;
        let target = to.join(entry.file_name());
        if ty.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if ty.is_file() {
            copy_file(&entry.path(), &target)?;
        }
    }
    Ok(())
}
