//! Credentials as journaled state: who may log in, as what, with which secret's hash. The engine
//! keeps the table — bounded, preallocated — and applies `ConfigCredential` inputs to it; the
//! gateway authenticates against the copy it builds from the table at start and from the
//! `CredentialUpdate` outputs after (docs/OPERATIONS.md). The engine never sees a secret: an admin
//! sends its salted hash.

use rkyv::{Archive, Deserialize, Serialize};
use sluice_protocol::{
    Activity, Chars, ConfigCredential, CredentialOp, CredentialUpdate, ReasonCode, Role, SecretHash,
};

use crate::config::{Refusal, invalid};
use crate::state::wire::{RoleDef, SecretHashDef};

/// Most credentials the table holds (revoked ones included: key ids are never reused).
pub const CREDENTIALS_MAX: usize = 1024;
/// The longest rotation window: a week of event time.
pub const ROTATION_WINDOW_MAX_MS: u32 = 7 * 24 * 3_600_000;

/// A secret's hash.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Secret {
    #[rkyv(with = SecretHashDef)]
    pub algorithm: SecretHash,
    /// Zero for `Sha256` (unsalted).
    pub salt: [u8; 16],
    pub hash: [u8; 32],
}

/// One key.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// NUL-padded, 1..=16 bytes.
    pub key_id: [u8; 16],
    #[rkyv(with = RoleDef)]
    pub role: Role,
    pub principal_id: u32,
    pub active: bool,
    /// Secrets set so far: 1 after Add, +1 per Rotate.
    pub generation: u32,
    pub current: Secret,
    /// The secret before the last rotation, and until when it still logs in (event time, ns).
    pub previous: Option<(Secret, u64)>,
}

impl Credential {
    /// The entry as the gateway receives it after a change made by input `sequence`.
    pub fn update(&self, sequence: u64) -> CredentialUpdate {
        let (previous, until) = match self.previous {
            Some((s, until)) => (Some(s), until),
            None => (None, 0),
        };
        CredentialUpdate {
            key_id: Chars(self.key_id),
            status: if self.active {
                Activity::Active
            } else {
                Activity::Disabled
            },
            role: self.role,
            principal_id: self.principal_id,
            generation: self.generation,
            algorithm: self.current.algorithm,
            salt: hex_chars(&self.current.salt),
            hash: hex_chars(&self.current.hash),
            previous_algorithm: previous.map_or(SecretHash::HmacSha256, |s| s.algorithm),
            previous_salt: previous.map_or_else(Chars::default, |s| hex_chars(&s.salt)),
            previous_hash: previous.map_or_else(Chars::default, |s| hex_chars(&s.hash)),
            previous_until_ns: until,
            sequence,
        }
    }

    /// The entry a CredentialUpdate carries (the gateway's copy of the table).
    pub fn from_update(u: &CredentialUpdate) -> Result<Credential, Refusal> {
        let previous = match u.previous_until_ns {
            0 => None,
            until => {
                let s = Secret::from_hex(u.previous_algorithm, &u.previous_salt, &u.previous_hash)?;
                Some((s, until))
            }
        };
        Ok(Credential {
            key_id: u.key_id.0,
            role: u.role,
            principal_id: u.principal_id,
            active: u.status == Activity::Active,
            generation: u.generation,
            current: Secret::from_hex(u.algorithm, &u.salt, &u.hash)?,
            previous,
        })
    }

    /// The entry as a ConfigCredential (ConfigQuery's answer): Add with the current secret, or
    /// Revoke once revoked.
    pub fn config(&self) -> ConfigCredential {
        ConfigCredential {
            key_id: Chars(self.key_id),
            op: if self.active {
                CredentialOp::Add
            } else {
                CredentialOp::Revoke
            },
            role: self.role,
            principal_id: self.principal_id,
            algorithm: self.current.algorithm,
            rotation_window_ms: 0,
            salt: hex_chars(&self.current.salt),
            hash: hex_chars(&self.current.hash),
        }
    }
}

/// Lowercase hex of `bytes` in a NUL-padded field (`2 * bytes.len() <= N`).
pub fn hex_chars<const N: usize>(bytes: &[u8]) -> Chars<N> {
    assert!(
        2 * bytes.len() <= N,
        "hex of {} bytes fits {N}",
        bytes.len()
    );
    let mut out = [0u8; N];
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in bytes.iter().enumerate() {
        out[2 * i] = DIGITS[usize::from(b >> 4)];
        out[2 * i + 1] = DIGITS[usize::from(b & 15)];
    }
    Chars(out)
}

/// The bytes of exactly `M` bytes' worth of lowercase or uppercase hex in a field, else None.
pub fn from_hex<const M: usize, const N: usize>(field: &Chars<N>) -> Option<[u8; M]> {
    let text = field.trimmed();
    if text.len() != 2 * M {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = [0u8; M];
    for (i, pair) in text.chunks(2).enumerate() {
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

/// The credential table.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Default)]
pub struct Credentials {
    pub entries: Vec<Credential>,
}

impl Credentials {
    pub fn with_capacity() -> Credentials {
        Credentials {
            entries: Vec::with_capacity(CREDENTIALS_MAX),
        }
    }

    /// The entry of a key id, if any.
    pub fn find(&self, key_id: &[u8; 16]) -> Option<&Credential> {
        self.entries.iter().find(|c| &c.key_id == key_id)
    }

    /// Applies a ConfigCredential at event time `now_ns`; on success returns the changed entry.
    /// Refused inputs change nothing. (A linear search: the table is small, and admin inputs are
    /// rare.)
    pub fn apply(&mut self, m: &ConfigCredential, now_ns: u64) -> Result<&Credential, Refusal> {
        let key_id = m.key_id.0;
        let len = m.key_id.trimmed().len();
        if len == 0 || !m.key_id.trimmed().iter().all(|b| b.is_ascii_graphic()) {
            return invalid("key_id must be 1..=16 printable ASCII bytes");
        }
        if key_id[len..].iter().any(|b| *b != 0) {
            return invalid("key_id must be NUL-padded after its text");
        }
        let at = self.entries.iter().position(|c| c.key_id == key_id);
        match (m.op, at) {
            (CredentialOp::Add, Some(_)) => Err((ReasonCode::CredentialExists, "key_id exists")),
            (CredentialOp::Add, None) => self.add(m),
            (_, None) => Err((ReasonCode::UnknownCredential, "no such key_id")),
            (CredentialOp::Rotate, Some(i)) => self.rotate(i, m, now_ns),
            (CredentialOp::Revoke, Some(i)) => {
                let c = &mut self.entries[i];
                c.active = false;
                c.previous = None;
                Ok(&self.entries[i])
            }
        }
    }

    fn add(&mut self, m: &ConfigCredential) -> Result<&Credential, Refusal> {
        if m.principal_id == 0 {
            return invalid("principal_id must be > 0");
        }
        if self.entries.len() >= CREDENTIALS_MAX {
            return Err((
                ReasonCode::CapacityReached,
                "credentials are at their maximum",
            ));
        }
        let current = secret(m)?;
        self.entries.push(Credential {
            key_id: m.key_id.0,
            role: m.role,
            principal_id: m.principal_id,
            active: true,
            generation: 1,
            current,
            previous: None,
        });
        Ok(self.entries.last().expect("just pushed"))
    }

    fn rotate(
        &mut self,
        i: usize,
        m: &ConfigCredential,
        now_ns: u64,
    ) -> Result<&Credential, Refusal> {
        if !self.entries[i].active {
            return Err((ReasonCode::UnknownCredential, "the key is revoked"));
        }
        if m.rotation_window_ms > ROTATION_WINDOW_MAX_MS {
            return invalid("rotation_window_ms must be at most a week (604800000)");
        }
        let next = secret(m)?;
        let c = &mut self.entries[i];
        let until = now_ns.saturating_add(u64::from(m.rotation_window_ms) * 1_000_000);
        c.previous = (m.rotation_window_ms > 0).then_some((c.current, until));
        c.current = next;
        c.generation = c.generation.checked_add(1).ok_or((
            ReasonCode::CapacityReached,
            "the key was rotated 4 billion times",
        ))?;
        Ok(&self.entries[i])
    }
}

/// The secret a ConfigCredential carries, checked.
fn secret(m: &ConfigCredential) -> Result<Secret, Refusal> {
    Secret::from_hex(m.algorithm, &m.salt, &m.hash)
}

impl Secret {
    /// A secret from its wire form, checked: a 64-digit hash, and a 32-digit salt for the keyed
    /// algorithm (none for the legacy one).
    pub fn from_hex(
        algorithm: SecretHash,
        salt: &Chars<32>,
        hash: &Chars<64>,
    ) -> Result<Secret, Refusal> {
        let hash = from_hex::<32, 64>(hash)
            .ok_or((ReasonCode::InvalidConfig, "hash must be 64 hex digits"))?;
        let salt = match algorithm {
            SecretHash::HmacSha256 => from_hex::<16, 32>(salt).ok_or((
                ReasonCode::InvalidConfig,
                "salt must be 32 hex digits for HmacSha256",
            ))?,
            SecretHash::Sha256 if salt.is_empty() => [0; 16],
            SecretHash::Sha256 => return invalid("Sha256 takes no salt"),
        };
        Ok(Secret {
            algorithm,
            salt,
            hash,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(key: &str, op: CredentialOp, hash_byte: u8) -> ConfigCredential {
        ConfigCredential {
            key_id: Chars::new(key),
            op,
            role: Role::Acquirer,
            principal_id: 7,
            algorithm: SecretHash::HmacSha256,
            rotation_window_ms: 60_000,
            salt: hex_chars(&[hash_byte; 16]),
            hash: hex_chars(&[hash_byte; 32]),
        }
    }

    #[test]
    fn hex_round_trips_and_refuses_what_is_not_hex() {
        let bytes = [0x00, 0x0f, 0xa5, 0xff];
        let field: Chars<8> = hex_chars(&bytes);
        assert_eq!(field.as_str(), "000fa5ff");
        assert_eq!(from_hex::<4, 8>(&field), Some(bytes));
        assert_eq!(from_hex::<4, 8>(&Chars::new("000fa5f")), None, "too short");
        assert_eq!(from_hex::<4, 8>(&Chars::new("000fa5fg")), None, "not hex");
    }

    #[test]
    fn add_rotate_revoke_and_their_refusals() {
        let mut t = Credentials::with_capacity();
        let c = t
            .apply(&config("acq-x", CredentialOp::Add, 1), 10)
            .expect("add")
            .clone();
        assert!(c.active && c.generation == 1 && c.previous.is_none());
        let again = t.apply(&config("acq-x", CredentialOp::Add, 2), 10);
        assert_eq!(
            again.map(|_| ()).unwrap_err().0,
            ReasonCode::CredentialExists
        );
        let r = t
            .apply(&config("acq-x", CredentialOp::Rotate, 3), 1_000)
            .expect("rotate");
        assert_eq!(r.generation, 2);
        assert_eq!(r.current.hash, [3; 32]);
        assert_eq!(
            r.previous.map(|(s, until)| (s.hash, until)),
            Some(([1; 32], 1_000 + 60_000_000_000))
        );
        let r = t
            .apply(&config("acq-x", CredentialOp::Revoke, 0), 2_000)
            .expect("revoke");
        assert!(!r.active && r.previous.is_none());
        let rotated = t.apply(&config("acq-x", CredentialOp::Rotate, 4), 3_000);
        assert_eq!(
            rotated.map(|_| ()).unwrap_err().0,
            ReasonCode::UnknownCredential
        );
        let unknown = t.apply(&config("nobody", CredentialOp::Revoke, 0), 3_000);
        assert_eq!(
            unknown.map(|_| ()).unwrap_err().0,
            ReasonCode::UnknownCredential
        );
        let mut bad = config("acq-y", CredentialOp::Add, 5);
        bad.salt = Chars::new("xyz");
        assert_eq!(
            t.apply(&bad, 0).map(|_| ()).unwrap_err().0,
            ReasonCode::InvalidConfig
        );
        assert_eq!(t.entries.len(), 1, "refusals change nothing");
    }
}
