//! Signing secrets at rest. HMAC needs the secret itself (unlike login credentials, which keep a
//! salted hash), so the journal holds it sealed: AES-256-GCM under a key file kept outside the
//! journal. A sealed secret is `nonce(12) || ciphertext || tag(16)` with a fresh random nonce, so
//! sealing the same secret twice gives different bytes and a nonce is never reused under a key.

use crate::NotifyError;
use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::Path;

const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 12;
const TAG_BYTES: usize = 16;

/// The notifier's secret-encryption key (`DATA/keys/notify.key`).
pub struct SecretKey {
    cipher: Aes256Gcm,
    key_id: [u8; 8],
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key itself: only which key it is.
        write!(f, "SecretKey {{ key_id: {:02x?} }}", self.key_id)
    }
}

/// `n` bytes from the operating system's random source (as `src/admin/credential.rs` does).
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], NotifyError> {
    let mut bytes = [0u8; N];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| NotifyError::Io(format!("/dev/urandom: {e}")))?;
    Ok(bytes)
}

/// A fresh signing secret for a merchant: `whsec_` and 32 random bytes in hex.
///
/// Panics only when the operating system has no random source: no secret can be made safely
/// then. [`try_new_signing_secret`] returns that as an error instead.
pub fn new_signing_secret() -> String {
    try_new_signing_secret().expect("the OS random source /dev/urandom is unavailable")
}

/// [`new_signing_secret`], with a missing random source as an error.
pub fn try_new_signing_secret() -> Result<String, NotifyError> {
    let mut secret = String::from("whsec_");
    crate::signature::push_hex(&mut secret, &random_bytes::<32>()?);
    Ok(secret)
}

impl SecretKey {
    fn from_bytes(key: &[u8; KEY_BYTES]) -> SecretKey {
        let digest = Sha256::digest(key);
        let mut key_id = [0u8; 8];
        key_id.copy_from_slice(&digest[..8]);
        SecretKey {
            cipher: Aes256Gcm::new(key.into()),
            key_id,
        }
    }

    /// Loads the key file, or creates it (mode 0600, 32 random bytes) when it does not exist.
    /// `create_new` makes two first starts race safely: one creates, the other loads.
    pub fn load_or_create(path: &Path) -> Result<SecretKey, NotifyError> {
        if path.exists() {
            return SecretKey::load(path);
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io_error(parent, e))?;
        }
        let key = random_bytes::<KEY_BYTES>()?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(path) {
            Ok(mut file) => {
                file.write_all(&key)
                    .and_then(|()| file.sync_all())
                    .map_err(|e| io_error(path, e))?;
                Ok(SecretKey::from_bytes(&key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => SecretKey::load(path),
            Err(e) => Err(io_error(path, e)),
        }
    }

    /// Loads an existing key file: exactly 32 bytes.
    pub fn load(path: &Path) -> Result<SecretKey, NotifyError> {
        let bytes = std::fs::read(path).map_err(|e| io_error(path, e))?;
        let key: [u8; KEY_BYTES] = bytes.as_slice().try_into().map_err(|_| {
            NotifyError::Key(format!(
                "{}: a notifier key is {KEY_BYTES} bytes, this file has {}",
                path.display(),
                bytes.len()
            ))
        })?;
        Ok(SecretKey::from_bytes(&key))
    }

    /// Seals a secret under a fresh random nonce.
    ///
    /// Panics only when the operating system has no random source (a nonce must never be
    /// guessed or reused); [`SecretKey::try_encrypt`] returns that as an error instead.
    pub fn encrypt(&self, secret: &[u8]) -> Vec<u8> {
        self.try_encrypt(secret)
            .expect("the OS random source /dev/urandom is unavailable")
    }

    /// [`SecretKey::encrypt`], with a missing random source as an error.
    pub fn try_encrypt(&self, secret: &[u8]) -> Result<Vec<u8>, NotifyError> {
        let nonce_bytes = random_bytes::<NONCE_BYTES>()?;
        let ciphertext = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce_bytes), secret)
            .map_err(|_| NotifyError::Key("AES-GCM refused to seal the secret".into()))?;
        let mut sealed = Vec::with_capacity(NONCE_BYTES + ciphertext.len());
        sealed.extend_from_slice(&nonce_bytes);
        sealed.extend_from_slice(&ciphertext);
        Ok(sealed)
    }

    /// Opens a sealed secret; a wrong key or altered bytes fail the tag check.
    pub fn decrypt(&self, sealed: &[u8]) -> Result<Vec<u8>, NotifyError> {
        if sealed.len() < NONCE_BYTES + TAG_BYTES {
            return Err(NotifyError::Key(format!(
                "a sealed secret is at least {} bytes, got {}",
                NONCE_BYTES + TAG_BYTES,
                sealed.len()
            )));
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_BYTES);
        self.cipher.decrypt(Nonce::from_slice(nonce), ciphertext).map_err(|_| {
            NotifyError::Key(format!(
                "the sealed secret does not open under key {:02x?} (another key, or altered bytes)",
                self.key_id
            ))
        })
    }

    /// The first 8 bytes of SHA-256 of the key: names which key sealed a secret.
    pub fn key_id(&self) -> [u8; 8] {
        self.key_id
    }
}

fn io_error(path: &Path, e: std::io::Error) -> NotifyError {
    NotifyError::Io(format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("sluice-notify-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn seal_open_and_key_file_mode() {
        let dir = temp_dir("key");
        let path = dir.join("keys/notify.key");
        let key = SecretKey::load_or_create(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let sealed = key.encrypt(b"whsec_abc");
        assert_ne!(sealed, key.encrypt(b"whsec_abc"), "fresh nonce each time");
        assert_eq!(key.decrypt(&sealed).unwrap(), b"whsec_abc");
        let again = SecretKey::load_or_create(&path).unwrap();
        assert_eq!(again.key_id(), key.key_id());
        assert_eq!(again.decrypt(&sealed).unwrap(), b"whsec_abc");
        let mut altered = sealed.clone();
        altered[14] ^= 1;
        assert!(key.decrypt(&altered).is_err());
        assert!(key.decrypt(&[0; 5]).is_err());
        std::fs::write(dir.join("short.key"), [0u8; 7]).unwrap();
        assert!(SecretKey::load(&dir.join("short.key")).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn signing_secret_shape() {
        let secret = new_signing_secret();
        assert!(secret.starts_with("whsec_") && secret.len() == 6 + 64);
    }
}
