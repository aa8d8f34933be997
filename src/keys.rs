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

/// The team's current signing key, replaced in place by a rotation: readers take the key as
/// it is at that moment, and a rotation never leaves them half of one.
#[derive(Debug)]
pub struct KeyCell(std::sync::RwLock<std::sync::Arc<TeamKey>>);

impl KeyCell {
    /// A cell holding `key`.
    pub fn new(key: TeamKey) -> Self {
        KeyCell(std::sync::RwLock::new(std::sync::Arc::new(key)))
    }

    /// The current key.
    pub fn current(&self) -> std::sync::Arc<TeamKey> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Makes `key` the current key.
    pub fn replace(&self, key: TeamKey) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = std::sync::Arc::new(key);
    }
}

/// What a rotation did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Rotated {
    /// The key that was current.
    pub old_kid: String,
    /// The new current key.
    pub new_kid: String,
    /// When the old key stops being valid (RFC 3339).
    pub old_valid_until: String,
    /// The new public key.
    pub public_jwk: serde_json::Value,
}

/// Why a rotation failed.
#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    /// The current key file could not be read.
    #[error(transparent)]
    Key(#[from] KeyFileError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The new key file could not be written.
    #[error("cannot write the new team key `{path}`: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Where a rotation writes the new key before it takes the place of the old one.
fn next_path(key_file: &Path) -> PathBuf {
    let mut p = key_file.as_os_str().to_owned();
    p.push(".next");
    PathBuf::from(p)
}

/// Rotates the team key in `key_file` (DESIGN.md section 11): a new key; a key document
/// listing it and the earlier keys (the old one valid `overlap` longer), signed by both and
/// kept in the store; then the new key takes the old one's file. The new key is written
/// aside first and moved in last, so a crash leaves either rotation done or none
/// ([`finish_rotation`] completes one cut short).
pub fn rotate(
    store: &dyn crate::store::Store,
    key_file: &Path,
    team: &crate::team::TeamId,
    overlap: time::Duration,
    now: time::OffsetDateTime,
) -> Result<(TeamKey, Rotated), RotateError> {
    use crate::exchange::keydoc;
    let old = TeamKey::load(key_file)?;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS has randomness");
    let new = ed25519_dalek::SigningKey::from_bytes(&bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let next = next_path(key_file);
    let _ = std::fs::remove_file(&next);
    write_secret_file(&next, &hex).map_err(|source| RotateError::Write {
        path: next.clone(),
        source,
    })?;
    // Our own documents: the store holds only what we signed.
    let earlier = store
        .key_documents()?
        .last()
        .and_then(|d| d.content().ok())
        .map(|d| d.keys)
        .unwrap_or_default();
    let doc = keydoc::rotated(team, &earlier, &old.0, &new, now, overlap);
    store.put_key_document(&keydoc::sign(&doc, &[&old.0, &new]))?;
    std::fs::rename(&next, key_file).map_err(|source| RotateError::Write {
        path: key_file.to_path_buf(),
        source,
    })?;
    let new = TeamKey(new);
    let rotated = Rotated {
        old_kid: old.kid(),
        new_kid: new.kid(),
        old_valid_until: crate::timestamp::rfc3339(now + overlap),
        public_jwk: crate::envelope::public_jwk(&new.0.verifying_key()),
    };
    Ok((new, rotated))
}

/// Completes a rotation a crash cut short: a new key written aside whose document is in the
/// store takes its place; one whose document is not is dropped (that rotation did not
/// happen).
pub fn finish_rotation(
    store: &dyn crate::store::Store,
    key_file: &Path,
) -> Result<(), RotateError> {
    let next = next_path(key_file);
    if !next.exists() {
        return Ok(());
    }
    let kid = TeamKey::load(&next)?.kid();
    let listed = store.key_documents()?.last().is_some_and(|d| {
        d.content()
            .is_ok_and(|doc| doc.keys.iter().any(|k| k.kid == kid))
    });
    let io = |source| RotateError::Write {
        path: key_file.to_path_buf(),
        source,
    };
    if listed {
        std::fs::rename(&next, key_file).map_err(io)
    } else {
        std::fs::remove_file(&next).map_err(io)
    }
}

/// The SHA-256 (lowercase hex) of a certificate's DER bytes: what a peer's client
/// certificate is pinned by.
pub fn cert_fingerprint(der: &[u8]) -> String {
    crate::envelope::sha256_hex(der)
}

/// The fingerprint of the first certificate of a PEM file.
pub fn cert_fingerprint_file(path: &Path) -> Result<String, KeyFileError> {
    use rustls_pki_types::pem::PemObject as _;
    let bad = |reason: String| KeyFileError::Format {
        path: path.to_path_buf(),
        reason,
    };
    let cert = rustls_pki_types::CertificateDer::from_pem_file(path)
        .map_err(|e| bad(format!("no PEM certificate in it: {e}")))?;
    Ok(cert_fingerprint(&cert))
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
