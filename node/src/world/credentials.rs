//! `[[credentials]]`: the keys of a first start, journaled with the rest of the world as
//! `ConfigCredential` (Add) inputs. A file holds hashes, never secrets: `salt` and
//! `secret_hmac_sha256` (HMAC-SHA256 keyed by the salt, of "key_id:secret"), or the unsalted
//! `secret_sha256` of configuration files of earlier versions.

use serde::Deserialize;
use sluice_protocol::{Chars, ConfigCredential, CredentialOp, Role, SecretHash};

use super::{ConfigError, err, named};

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct CredentialEntry {
    key_id: String,
    role: String,
    principal_id: u32,
    /// 32 hex digits, with `secret_hmac_sha256`.
    #[serde(default)]
    salt: Option<String>,
    /// 64 hex digits: HMAC-SHA256 keyed by the salt, of "key_id:secret".
    #[serde(default)]
    secret_hmac_sha256: Option<String>,
    /// 64 hex digits: SHA-256 of "key_id:secret" (earlier versions; unsalted).
    #[serde(default)]
    secret_sha256: Option<String>,
}

fn is_hex(s: &str, digits: usize) -> bool {
    s.len() == digits && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The Add input of a `[[credentials]]` entry.
pub(super) fn credential(
    c: &CredentialEntry,
    line: Option<usize>,
    key: &str,
) -> Result<ConfigCredential, ConfigError> {
    let k = |f: &str| format!("{key}.{f}");
    if c.key_id.is_empty() || c.key_id.len() > 16 || !c.key_id.bytes().all(|b| b.is_ascii_graphic())
    {
        return err(line, k("key_id"), "must be 1..=16 printable ASCII bytes");
    }
    let what = "role (acquirer, channel, admin)";
    let role = named(&c.role, Role::from_name, line, &k("role"), what)?;
    if c.principal_id == 0 {
        return err(line, k("principal_id"), "must be > 0");
    }
    let (algorithm, salt, hash) = match (&c.salt, &c.secret_hmac_sha256, &c.secret_sha256) {
        (Some(salt), Some(hash), None) => (SecretHash::HmacSha256, salt.as_str(), hash.as_str()),
        (None, None, Some(hash)) => (SecretHash::Sha256, "", hash.as_str()),
        _ => {
            let what = "give salt and secret_hmac_sha256, or (earlier versions) secret_sha256";
            return err(line, key.to_string(), what);
        }
    };
    if algorithm == SecretHash::HmacSha256 && !is_hex(salt, 32) {
        return err(line, k("salt"), "must be 32 hex digits");
    }
    if !is_hex(hash, 64) {
        return err(
            line,
            key.to_string(),
            "the secret's hash must be 64 hex digits",
        );
    }
    Ok(ConfigCredential {
        key_id: Chars::new(&c.key_id),
        op: CredentialOp::Add,
        role,
        principal_id: c.principal_id,
        algorithm,
        rotation_window_ms: 0,
        salt: Chars::new(&salt.to_ascii_lowercase()),
        hash: Chars::new(&hash.to_ascii_lowercase()),
    })
}
