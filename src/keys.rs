//! Secret key files: read only when their mode is 0600 or stricter (as Garage does), never
//! shown in errors or logs. This is I/O, outside the core.

use std::path::{Path, PathBuf};

use crate::anonymize::{Key, KeyRing};

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

/// Why a directory may not hold the gateway's data.
#[derive(Debug, thiserror::Error)]
pub enum DirError {
    /// It could not be created or read.
    #[error("data directory `{path}`: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Group or others may enter it.
    #[error("data directory `{path}` has mode {mode:o}; others may read what it holds (TLP:RED content among it). Run `chmod 700 {path}`")]
    Permissions {
        /// The directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

/// Makes a directory (and its missing parents) readable by its owner only (mode 0700).
pub fn create_private_dir(path: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        b.mode(0o700);
    }
    b.create(path)
}

/// Checks that a directory exists and only its owner may enter it (mode 0700 or stricter).
pub fn check_private_dir(path: &Path) -> Result<(), DirError> {
    let meta = std::fs::metadata(path).map_err(|source| DirError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(DirError::Permissions {
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    Ok(())
}

/// Creates (or truncates) a file only its owner may read (mode 0600), for what leaves the
/// store: ledger exports, backups.
pub fn create_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let f = opts.open(path)?;
    // An existing file keeps its mode when truncated: tighten it.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(f)
}

/// Writes a new secret file with mode 0600; refuses to overwrite one.
pub fn write_secret_file(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(content.as_bytes())?;
    f.sync_all()
}

/// 32 random bytes from the operating system, as 64 hex digits.
pub fn random_hex32() -> String {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).expect("the OS has randomness");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Reads a secret text file (a token) with mode 0600 or stricter, trimmed.
pub fn read_secret_text(path: &Path) -> Result<String, KeyFileError> {
    check_mode(path)?;
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|source| KeyFileError::Read {
            path: path.to_path_buf(),
            source,
        })
}

/// The team's Ed25519 signing key. Its `Debug` shows only the key id.
pub struct TeamKey(pub ed25519_dalek::SigningKey);

impl std::fmt::Debug for TeamKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TeamKey(kid {})",
            crate::envelope::thumbprint(&self.0.verifying_key())
        )
    }
}

impl TeamKey {
    /// Reads the team key (64 hex digits, mode 0600 or stricter).
    pub fn load(path: &Path) -> Result<Self, KeyFileError> {
        let k = read_key_file(path)?;
        Ok(TeamKey(ed25519_dalek::SigningKey::from_bytes(k.bytes())))
    }

    /// The RFC 7638 thumbprint: the `kid` of everything this key signs.
    pub fn kid(&self) -> String {
        crate::envelope::thumbprint(&self.0.verifying_key())
    }
}

/// The anonymization key ring from its files (each 64 hex digits, mode 0600): this team's own
/// secret and the federation's shared key, either of which may be absent.
pub fn key_ring(own: Option<&Path>, federation: Option<&Path>) -> Result<KeyRing, KeyFileError> {
    Ok(KeyRing {
        own: own.map(read_key_file).transpose()?,
        federation: federation.map(read_key_file).transpose()?,
    })
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
