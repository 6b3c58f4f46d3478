//! Encryption at rest of third-party secrets the server stores (a workspace's IBM
//! Quantum API key), and private files in the data directory.
//!
//! A stored value is `enc:v1:<key id>:<base64(nonce ‖ ciphertext)>`, sealed with
//! XChaCha20-Poly1305 under a 256-bit key and bound to its row by the associated data
//! (e.g. the workspace id). The key id is derived from the key itself, so a value
//! names the key that opens it: a rotation adds a new current key, keeps the old one as
//! "previous" until `qollab admin rotate-secrets` has re-sealed every value, then drops it.

use std::path::Path;

use anyhow::{Context, bail};
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

/// The generated key's file in the data dir (mode 0600), used when `QOLLAB_SECRET_KEY`
/// is not set.
pub const KEY_FILE: &str = "secret_key";
const PREFIX: &str = "enc:v1:";

/// One key: its id (16 hex digits of a hash of it) and the cipher.
#[derive(Clone)]
struct Key {
    id: String,
    cipher: XChaCha20Poly1305,
}

impl Key {
    /// Any secret string of at least 32 characters; the key is its SHA-256.
    fn from_secret(secret: &str) -> anyhow::Result<Key> {
        let secret = secret.trim();
        if secret.len() < 32 {
            bail!("a secret key must be at least 32 characters (e.g. `openssl rand -hex 32`)");
        }
        let key: [u8; 32] = Sha256::new()
            .chain_update(b"qollab secret key v1\0")
            .chain_update(secret.as_bytes())
            .finalize()
            .into();
        let id: [u8; 32] = Sha256::new()
            .chain_update(b"qollab key id\0")
            .chain_update(key)
            .finalize()
            .into();
        Ok(Key {
            id: hex::encode(&id[..8]),
            cipher: XChaCha20Poly1305::new(&chacha20poly1305::Key::from(key)),
        })
    }
}

/// Where the current key came from, for the banner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySource {
    Environment,
    DataDir,
    Generated,
}

/// Why a stored value cannot be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error(
        "it was sealed with key {0}, which is neither QOLLAB_SECRET_KEY nor in QOLLAB_SECRET_KEY_PREVIOUS"
    )]
    UnknownKey(String),
    #[error("it does not decrypt (corrupted, or moved to another row)")]
    Corrupt,
}

/// The current key (seals and opens) and previous keys (open only).
#[derive(Clone)]
pub struct Secrets {
    current: Key,
    previous: Vec<Key>,
    pub source: KeySource,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("current", &self.current.id)
            .field(
                "previous",
                &self.previous.iter().map(|k| &k.id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Secrets {
    /// `current` (else the data dir's key file, generated once with mode 0600) and the
    /// comma-separated `previous` keys.
    pub fn load(
        current: Option<&str>,
        previous: Option<&str>,
        data_dir: &Path,
    ) -> anyhow::Result<Secrets> {
        let (current, source) = match current {
            Some(s) => (
                Key::from_secret(s).context("QOLLAB_SECRET_KEY")?,
                KeySource::Environment,
            ),
            None => {
                let path = data_dir.join(KEY_FILE);
                match std::fs::read_to_string(&path) {
                    Ok(s) if s.trim().len() >= 32 => (Key::from_secret(&s)?, KeySource::DataDir),
                    _ => {
                        let secret = hex::encode(rand::random::<[u8; 32]>());
                        write_private(&path, &secret).with_context(|| {
                            format!("cannot write the secret key to {}", path.display())
                        })?;
                        (Key::from_secret(&secret)?, KeySource::Generated)
                    }
                }
            }
        };
        let mut prev = Vec::new();
        for s in previous
            .unwrap_or("")
            .split(',')
            .filter(|s| !s.trim().is_empty())
        {
            let k = Key::from_secret(s).context("QOLLAB_SECRET_KEY_PREVIOUS")?;
            if k.id != current.id {
                prev.push(k);
            }
        }
        Ok(Secrets {
            current,
            previous: prev,
            source,
        })
    }

    /// A key for tests and tools that need no file.
    pub fn from_secret(secret: &str) -> anyhow::Result<Secrets> {
        Ok(Secrets {
            current: Key::from_secret(secret)?,
            previous: Vec::new(),
            source: KeySource::Environment,
        })
    }

    pub fn current_id(&self) -> &str {
        &self.current.id
    }

    pub fn previous_ids(&self) -> Vec<&str> {
        self.previous.iter().map(|k| k.id.as_str()).collect()
    }

    /// Seals `plain` under the current key, bound to `aad` (the row it belongs to).
    pub fn seal(&self, plain: &str, aad: &[u8]) -> String {
        let nonce: [u8; 24] = rand::random();
        let ct = self
            .current
            .cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plain.as_bytes(),
                    aad,
                },
            )
            // Encryption fails only for messages beyond 256 GiB.
            .unwrap_or_default();
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&ct);
        format!(
            "{PREFIX}{}:{}",
            self.current.id,
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(blob)
        )
    }

    /// True when `stored` is sealed (not legacy plain text).
    pub fn is_sealed(stored: &str) -> bool {
        stored.starts_with(PREFIX)
    }

    /// The key id a stored value was sealed with (`None` for plain text).
    pub fn key_id(stored: &str) -> Option<&str> {
        stored.strip_prefix(PREFIX)?.split_once(':').map(|(k, _)| k)
    }

    /// Opens a stored value; plain text (stored before encryption) is returned as is.
    pub fn open(&self, stored: &str, aad: &[u8]) -> Result<String, OpenError> {
        let Some(rest) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_string());
        };
        let (kid, b64) = rest.split_once(':').ok_or(OpenError::Corrupt)?;
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == kid)
            .ok_or_else(|| OpenError::UnknownKey(kid.to_string()))?;
        let blob = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(b64)
            .map_err(|_| OpenError::Corrupt)?;
        if blob.len() < 24 {
            return Err(OpenError::Corrupt);
        }
        let (nonce, ct) = blob.split_at(24);
        let nonce: [u8; 24] = nonce.try_into().map_err(|_| OpenError::Corrupt)?;
        let plain = key
            .cipher
            .decrypt(&XNonce::from(nonce), Payload { msg: ct, aad })
            .map_err(|_| OpenError::Corrupt)?;
        String::from_utf8(plain).map_err(|_| OpenError::Corrupt)
    }

    /// True when `stored` should be (re-)sealed: plain text, or under another key.
    pub fn needs_reseal(&self, stored: &str) -> bool {
        Self::key_id(stored) != Some(self.current.id.as_str())
    }
}

/// Writes a file only its owner can read (0600 on Unix).
#[cfg(unix)]
pub fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    // An existing file keeps its mode through `open`: tighten it.
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
pub fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

/// Creates the data dir as 0700, and tightens it and the private files in it (the
/// SQLite database and its WAL, the generated secrets) when they are readable by
/// others, saying so in the log. Returns what was tightened.
pub fn secure_data_dir(dir: &Path) -> anyhow::Result<Vec<String>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        let mut changed = Vec::new();
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .with_context(|| format!("cannot create data dir {}", dir.display()))?;
        }
        let mut tighten = |path: &Path, mode: u32| -> anyhow::Result<()> {
            let Ok(meta) = std::fs::metadata(path) else {
                return Ok(());
            };
            let old = meta.permissions().mode() & 0o777;
            if old & 0o077 != 0 {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
                    .with_context(|| format!("cannot restrict {}", path.display()))?;
                changed.push(format!("{} {:o} -> {:o}", path.display(), old, mode));
            }
            Ok(())
        };
        tighten(dir, 0o700)?;
        for name in [
            "qollab.db",
            "qollab.db-wal",
            "qollab.db-shm",
            crate::config::SECRET_FILE,
            KEY_FILE,
        ] {
            tighten(&dir.join(name), 0o600)?;
        }
        Ok(changed)
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create data dir {}", dir.display()))?;
        Ok(Vec::new())
    }
}

/// The file of a `sqlite://PATH?…` URL (`None` for other databases and in-memory ones).
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or("");
    (!path.is_empty() && !path.contains(":memory:")).then(|| std::path::PathBuf::from(path))
}

/// Creates the SQLite file as 0600 before SQLite does (it would use the umask, and
/// its WAL and shared-memory files copy the database file's mode), and tightens an
/// existing one, its WAL and shared-memory files. Returns what was tightened.
pub fn secure_sqlite(url: &str) -> anyhow::Result<Vec<String>> {
    let Some(path) = sqlite_file(url) else {
        return Ok(Vec::new());
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        if !path.exists() {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
                && !parent.exists()
            {
                secure_data_dir(parent)?;
            }
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .with_context(|| format!("cannot create {}", path.display()))?;
        }
        let mut changed = Vec::new();
        for suffix in ["", "-wal", "-shm"] {
            let mut p = path.clone().into_os_string();
            p.push(suffix);
            let p = std::path::PathBuf::from(p);
            let Ok(meta) = std::fs::metadata(&p) else {
                continue;
            };
            let old = meta.permissions().mode() & 0o777;
            if old & 0o077 != 0 {
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))
                    .with_context(|| format!("cannot restrict {}", p.display()))?;
                changed.push(format!("{} {:o} -> 600", p.display(), old));
            }
        }
        Ok(changed)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_row() {
        let a = Secrets::from_secret(&"a".repeat(32)).unwrap_or_else(|e| panic!("{e}"));
        let b = Secrets::from_secret(&"b".repeat(32)).unwrap_or_else(|e| panic!("{e}"));
        let sealed = a.seal("ibm-key-123", b"row1");
        assert!(Secrets::is_sealed(&sealed) && !sealed.contains("ibm-key-123"));
        assert_eq!(a.open(&sealed, b"row1").as_deref(), Ok("ibm-key-123"));
        assert_eq!(a.open(&sealed, b"row2"), Err(OpenError::Corrupt));
        assert!(matches!(
            b.open(&sealed, b"row1"),
            Err(OpenError::UnknownKey(_))
        ));
        assert_eq!(a.open("legacy", b"row1").as_deref(), Ok("legacy"));
        assert!(a.needs_reseal("legacy") && !a.needs_reseal(&sealed) && b.needs_reseal(&sealed));
        // Two seals of one value differ (random nonce).
        assert_ne!(sealed, a.seal("ibm-key-123", b"row1"));
    }

    #[test]
    fn previous_keys_open_what_they_sealed() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let old = "o".repeat(40);
        let new = "n".repeat(40);
        let before = Secrets::load(Some(&old), None, dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let sealed = before.seal("k", b"r");
        let after =
            Secrets::load(Some(&new), Some(&old), dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(after.open(&sealed, b"r").as_deref(), Ok("k"));
        assert!(after.needs_reseal(&sealed));
        assert!(Secrets::load(Some("short"), None, dir.path()).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn the_generated_key_is_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let a = Secrets::load(None, None, dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.source, KeySource::Generated);
        let b = Secrets::load(None, None, dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (b.source, b.current_id()),
            (KeySource::DataDir, a.current_id())
        );
        let mode = std::fs::metadata(dir.path().join(KEY_FILE))
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0);
        assert_eq!(mode, 0o600);
    }
}
