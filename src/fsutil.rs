//! Private files: the one way this crate and its binary write a file that may hold a
//! secret (key files, the client's config file, materialized credentials, the bootstrap
//! admin token).
//!
//! **Invariant:** [`write_private_atomic`] never leaves a partly written or wider-mode
//! file at the target: the bytes go to a fresh temporary file with mode 0600 in the same
//! directory, which is synced and then renamed over the target, and the directory is
//! synced after the rename. A crash leaves the old file or the new one.

use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` with mode 0600 by an atomic rename in the same directory.
/// The directory must exist.
pub fn write_private_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".credledger-")
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile_in(&dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    std::fs::File::open(&dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn writes_mode_0600_replaces_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.json");
        write_private_atomic(&f, b"{}").unwrap();
        assert_eq!(mode(&f), 0o600);
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private_atomic(&f, b"second").unwrap();
        assert_eq!(std::fs::read(&f).unwrap(), b"second");
        assert_eq!(mode(&f), 0o600);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_missing_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("missing/c.json");
        assert!(write_private_atomic(&f, b"{}").is_err());
        assert!(!f.exists());
    }
}
