//! Credentials: secrets are stored as SHA-256 of "key_id:secret" and compared in constant time.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::Credential;

/// SHA-256 of "key_id:secret", as stored in the configuration.
pub fn secret_hash(key_id: &str, secret: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(key_id.as_bytes());
    h.update(b":");
    h.update(secret.as_bytes());
    h.finalize().into()
}

/// Lower-case hex of a hash.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `secret` is the credential's secret (constant time in the secret's content).
pub fn verify(credential: &Credential, secret: &str) -> bool {
    let candidate = secret_hash(&credential.key_id, secret);
    bool::from(candidate.ct_eq(&credential.secret_sha256))
}

/// Finds the credential for a login, if the key exists, has the role, and the secret matches.
/// Every failure looks the same to the peer.
pub fn authenticate<'a>(
    credentials: &'a [Credential],
    key_id: &str,
    role: sluice_protocol::Role,
    secret: &str,
) -> Option<&'a Credential> {
    let credential = credentials.iter().find(|c| c.key_id == key_id)?;
    let ok = verify(credential, secret) && credential.role == role;
    ok.then_some(credential)
}
