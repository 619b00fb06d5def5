//! Logins: the gateway's copy of the engine's credential table (`Keys`), built from the recovered
//! state at start and kept current by the engine's `CredentialUpdate` outputs once durable, and
//! the hash checks. Secrets are never stored: a key holds the salted hash of its secret
//! (`HMAC-SHA256(key = salt, "key_id:secret")`, or the unsalted SHA-256 of configuration files of
//! earlier versions), compared in constant time. docs/OPERATIONS.md has the design.

use hmac::{Hmac, Mac};
use rustc_hash::FxHashMap;
use sha2::{Digest, Sha256};
use sluice_engine::Engine;
use sluice_engine::credentials::{Credential, Secret};
use sluice_protocol::{CredentialUpdate, Role, SecretHash};
use subtle::ConstantTimeEq;

/// SHA-256 of "key_id:secret": the unsalted form of earlier configuration files.
pub fn secret_hash(key_id: &str, secret: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(key_id.as_bytes());
    h.update(b":");
    h.update(secret.as_bytes());
    h.finalize().into()
}

/// HMAC-SHA256 keyed by `salt` of "key_id:secret": how a secret is stored.
pub fn keyed_hash(salt: &[u8; 16], key_id: &str, secret: &str) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(salt).expect("HMAC takes a key of any length");
    mac.update(key_id.as_bytes());
    mac.update(b":");
    mac.update(secret.as_bytes());
    mac.finalize().into_bytes().into()
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `secret` is the secret `stored` hashes (constant time in the secret's content).
pub fn verify(stored: &Secret, key_id: &str, secret: &str) -> bool {
    let candidate = match stored.algorithm {
        SecretHash::Sha256 => secret_hash(key_id, secret),
        SecretHash::HmacSha256 => keyed_hash(&stored.salt, key_id, secret),
    };
    bool::from(candidate.ct_eq(&stored.hash))
}

/// The key id field as bytes (NUL-padded to 16), or None when it does not fit.
pub fn key_bytes(key_id: &str) -> Option<[u8; 16]> {
    let bytes = key_id.as_bytes();
    if bytes.is_empty() || bytes.len() > 16 {
        return None;
    }
    let mut out = [0u8; 16];
    out[..bytes.len()].copy_from_slice(bytes);
    Some(out)
}

/// Who a login authenticated as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authenticated {
    pub role: Role,
    pub principal_id: u32,
    /// The secret generation it used (the previous one's during a rotation window).
    pub generation: u32,
}

/// What an update did to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyChange {
    Added,
    Rotated,
    Revoked,
}

/// The login table.
#[derive(Debug, Default)]
pub struct Keys {
    keys: FxHashMap<[u8; 16], Credential>,
}

impl Keys {
    /// The table of a recovered engine.
    pub fn from_engine(engine: &Engine) -> Keys {
        let mut keys = Keys::default();
        for c in &engine.state().credentials.entries {
            keys.keys.insert(c.key_id, c.clone());
        }
        keys
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Applies an update from the engine; None when it carries an unreadable hash (the engine
    /// checks them, so that would be a bug: the key is then left as it was).
    pub fn apply(&mut self, u: &CredentialUpdate) -> Option<KeyChange> {
        let key = Credential::from_update(u).ok()?;
        let change = match (self.keys.get(&u.key_id.0), key.active) {
            (_, false) => KeyChange::Revoked,
            (None, true) => KeyChange::Added,
            (Some(_), true) => KeyChange::Rotated,
        };
        self.keys.insert(u.key_id.0, key);
        Some(change)
    }

    /// Authenticates a login at event time `now_ns`: the key exists, is active, has the role, and
    /// the secret matches its current secret or, during a rotation window, the previous one.
    /// Every failure looks the same to the peer.
    pub fn authenticate(
        &self,
        key_id: &str,
        role: Role,
        secret: &str,
        now_ns: u64,
    ) -> Option<Authenticated> {
        let key = self.keys.get(&key_bytes(key_id)?)?;
        if !key.active || key.role != role {
            return None;
        }
        let generation = if verify(&key.current, key_id, secret) {
            key.generation
        } else {
            match key.previous {
                Some((old, until)) if now_ns < until && verify(&old, key_id, secret) => {
                    key.generation - 1
                }
                _ => return None,
            }
        };
        Some(Authenticated {
            role: key.role,
            principal_id: key.principal_id,
            generation,
        })
    }

    /// Whether the key exists and is not revoked.
    pub fn is_active(&self, key_id: &[u8; 16]) -> bool {
        self.keys.get(key_id).is_some_and(|k| k.active)
    }

    /// Whether a session that logged in with `key_id`'s secret `generation` may go on at
    /// `now_ns`: the key is active, and the secret is the current one or still in its window.
    pub fn still_valid(&self, key_id: &[u8; 16], generation: u32, now_ns: u64) -> bool {
        let Some(key) = self.keys.get(key_id) else {
            return false;
        };
        key.active
            && (generation == key.generation
                || (generation + 1 == key.generation
                    && key.previous.is_some_and(|(_, until)| now_ns < until)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_engine::credentials::hex_chars;
    use sluice_protocol::{Activity, Chars};

    fn update(
        key: &str,
        generation: u32,
        current: (&[u8; 16], &str),
        previous: Option<(&[u8; 16], &str, u64)>,
    ) -> CredentialUpdate {
        let (salt, secret) = current;
        let (psalt, phash, until) = match previous {
            Some((s, secret, until)) => {
                (hex_chars(s), hex_chars(&keyed_hash(s, key, secret)), until)
            }
            None => (Chars::default(), Chars::default(), 0),
        };
        CredentialUpdate {
            key_id: Chars::new(key),
            status: Activity::Active,
            role: Role::Acquirer,
            principal_id: 9,
            generation,
            algorithm: SecretHash::HmacSha256,
            salt: hex_chars(salt),
            hash: hex_chars(&keyed_hash(salt, key, secret)),
            previous_algorithm: SecretHash::HmacSha256,
            previous_salt: psalt,
            previous_hash: phash,
            previous_until_ns: until,
            sequence: 1,
        }
    }

    #[test]
    fn the_keyed_hash_is_salted_and_verified_in_either_form() {
        let (a, b) = ([1u8; 16], [2u8; 16]);
        assert_ne!(keyed_hash(&a, "k", "s"), keyed_hash(&b, "k", "s"), "salted");
        assert_ne!(
            keyed_hash(&a, "k", "s"),
            keyed_hash(&a, "k2", "s"),
            "keyed by the key id too"
        );
        let keyed = Secret {
            algorithm: SecretHash::HmacSha256,
            salt: a,
            hash: keyed_hash(&a, "k", "s"),
        };
        let legacy = Secret {
            algorithm: SecretHash::Sha256,
            salt: [0; 16],
            hash: secret_hash("k", "s"),
        };
        for stored in [keyed, legacy] {
            assert!(verify(&stored, "k", "s"));
            assert!(!verify(&stored, "k", "t"));
            assert!(!verify(&stored, "j", "s"));
        }
    }

    #[test]
    fn a_rotation_lets_both_secrets_in_during_its_window_and_revocation_stops_everything() {
        let mut keys = Keys::default();
        let (old_salt, new_salt) = ([3u8; 16], [4u8; 16]);
        assert_eq!(
            keys.apply(&update("acq", 1, (&old_salt, "old"), None)),
            Some(KeyChange::Added)
        );
        let auth = keys
            .authenticate("acq", Role::Acquirer, "old", 0)
            .expect("login");
        assert_eq!((auth.principal_id, auth.generation), (9, 1));
        assert!(
            keys.authenticate("acq", Role::Admin, "old", 0).is_none(),
            "wrong role"
        );
        let rotated = update(
            "acq",
            2,
            (&new_salt, "new"),
            Some((&old_salt, "old", 1_000)),
        );
        assert_eq!(keys.apply(&rotated), Some(KeyChange::Rotated));
        let key = key_bytes("acq").expect("key");
        assert_eq!(
            keys.authenticate("acq", Role::Acquirer, "new", 999)
                .map(|a| a.generation),
            Some(2)
        );
        assert_eq!(
            keys.authenticate("acq", Role::Acquirer, "old", 999)
                .map(|a| a.generation),
            Some(1)
        );
        assert!(keys.still_valid(&key, 1, 999) && keys.still_valid(&key, 2, 999));
        // The window ends: the old secret and the sessions it opened are done; the new go on.
        assert!(
            keys.authenticate("acq", Role::Acquirer, "old", 1_000)
                .is_none()
        );
        assert!(!keys.still_valid(&key, 1, 1_000) && keys.still_valid(&key, 2, 1_000));
        let mut revoked = update("acq", 2, (&new_salt, "new"), None);
        revoked.status = Activity::Disabled;
        assert_eq!(keys.apply(&revoked), Some(KeyChange::Revoked));
        assert!(
            keys.authenticate("acq", Role::Acquirer, "new", 1_000)
                .is_none()
        );
        assert!(!keys.still_valid(&key, 2, 1_000));
        assert!(
            keys.authenticate("nobody", Role::Acquirer, "new", 0)
                .is_none()
        );
        assert!(
            keys.authenticate("a-key-id-longer-than-16", Role::Acquirer, "x", 0)
                .is_none()
        );
    }
}
