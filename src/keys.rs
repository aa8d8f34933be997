//! Secret key files: read only when their mode is 0600 or stricter (as Garage does), never
//! shown in errors or logs. This is I/O, outside the core.

use std::path::{Path, PathBuf};

use crate::anonymize::Key;

/// Why a key file could not be used. No variant carries key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// The file could not be read.
    #[error("cannot read key file `{path}`: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Group or others may read it.
    #[error("key file `{path}` has mode {mode:o}; others may read it. Run `chmod 600 {path}`")]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The content is not a key.
    #[error("key file `{path}`: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong (never the content).
        reason: String,
    },
}

/// Reads a 32-byte key written as 64 hex digits from a file with mode 0600 or stricter.
pub fn read_key_file(path: &Path) -> Result<Key, KeyFileError> {
    check_mode(path)?;
    let text = std::fs::read_to_string(path).map_err(|source| KeyFileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Key::from_hex(&text).map_err(|e| KeyFileError::Format {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

#[cfg(unix)]
fn check_mode(path: &Path) -> Result<(), KeyFileError> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = std::fs::metadata(path).map_err(|source| KeyFileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::Permissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_mode(_path: &Path) -> Result<(), KeyFileError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn loose_modes_are_refused_and_errors_hide_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        let secret = "5e".repeat(32);
        std::fs::write(&p, &secret).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = read_key_file(&p).unwrap_err().to_string();
        assert!(e.contains("chmod 600"), "{e}");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(read_key_file(&p).is_ok());
        std::fs::write(&p, "5e5e-not-a-key").unwrap();
        let e = read_key_file(&p).unwrap_err().to_string();
        assert!(!e.contains("5e5e"), "{e}");
    }
}
