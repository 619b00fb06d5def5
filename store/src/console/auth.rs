//! Who may look: the admin credential, checked by the server's own authority, then a session.
//!
//! - An [`Authority`] says whether a key id and secret log in as an admin *now*. `sluice
//!   console` asks the server itself (an admin Login over the binary protocol, closed at once):
//!   the one place credentials are defined, rotated and revoked (`[[credentials]]`, `sluice admin
//!   credential`), compared there against the journaled salted hash. The console keeps no copy
//!   of any credential.
//! - A successful login opens a session: 32 bytes from the operating system's random source, sent
//!   as an `HttpOnly; SameSite=Strict` cookie with a lifetime. The console keeps only each
//!   token's SHA-256: the map is looked up by that digest and the digest compared again in
//!   constant time, so neither the lookup's timing nor a memory dump gives a token away.
//! - Sessions are bounded ([`SESSIONS_MAX`]); expired ones are dropped on the way.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Read;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The session cookie's name.
pub const COOKIE: &str = "sluice_console";
/// Sessions open at once, at most (a login past it drops the oldest).
pub const SESSIONS_MAX: usize = 1024;

/// Whether a key id and secret are an admin's, as the server's authority says.
pub trait Authority: Send + Sync {
    /// `Ok(Ok(()))`: an admin. `Ok(Err(why))`: refused (wrong key, wrong secret, not an admin,
    /// revoked). `Err(why)`: the authority could not be asked (the server is down).
    fn check(&self, key_id: &str, secret: &str) -> Result<Result<(), String>, String>;
}

/// Compares two byte strings in time that depends on their lengths only.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// A fresh session token: 32 bytes of `/dev/urandom`, hex.
pub fn new_token() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| format!("/dev/urandom: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

struct Session {
    digest: [u8; 32],
    key_id: String,
    expires: Instant,
}

/// The open sessions.
pub struct Sessions {
    ttl: Duration,
    open: Mutex<HashMap<[u8; 32], Session>>,
}

impl Sessions {
    pub fn new(ttl: Duration) -> Sessions {
        Sessions {
            ttl,
            open: Mutex::new(HashMap::new()),
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Opens a session for `key_id`; returns its token.
    pub fn open(&self, key_id: &str, now: Instant) -> Result<String, String> {
        let token = new_token()?;
        let mut open = self.lock();
        open.retain(|_, s| s.expires > now);
        if open.len() >= SESSIONS_MAX {
            let oldest = open.iter().min_by_key(|(_, s)| s.expires).map(|(k, _)| *k);
            if let Some(k) = oldest {
                open.remove(&k);
            }
        }
        let d = digest(&token);
        let session = Session {
            digest: d,
            key_id: key_id.to_string(),
            expires: now + self.ttl,
        };
        open.insert(d, session);
        Ok(token)
    }

    /// The key id of the live session `token` opened, if any.
    pub fn check(&self, token: &str, now: Instant) -> Option<String> {
        let d = digest(token);
        let open = self.lock();
        let s = open.get(&d)?;
        (ct_eq(&s.digest, &d) && s.expires > now).then(|| s.key_id.clone())
    }

    pub fn close(&self, token: &str) {
        self.lock().remove(&digest(token));
    }
}

/// The session token in a `Cookie` header, if any.
pub fn token_from_cookies(header: &str) -> Option<&str> {
    header.split(';').find_map(|part| {
        let (name, value) = part.trim().split_once('=')?;
        (name == COOKIE && !value.is_empty()).then_some(value)
    })
}

/// The `Set-Cookie` value that hands `token` to the browser for `ttl`.
pub fn set_cookie(token: &str, ttl: Duration) -> String {
    format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        ttl.as_secs()
    )
}

/// The `Set-Cookie` value that removes the cookie.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_lives_until_it_expires_or_closes() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let now = Instant::now();
        let token = sessions.open("admin", now).expect("random");
        assert_eq!(token.len(), 64);
        assert_eq!(sessions.check(&token, now).as_deref(), Some("admin"));
        assert_eq!(sessions.check("not-a-token", now), None);
        assert_eq!(sessions.check(&token, now + Duration::from_secs(61)), None);
        sessions.close(&token);
        assert_eq!(sessions.check(&token, now), None);
        let other = sessions.open("admin", now).expect("random");
        assert_ne!(other, token);
    }

    #[test]
    fn cookies_and_comparisons() {
        assert_eq!(
            token_from_cookies("a=1; sluice_console=abc; b=2"),
            Some("abc")
        );
        assert_eq!(token_from_cookies("sluice_console="), None);
        let c = set_cookie("t", Duration::from_secs(3600));
        assert!(
            c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Max-Age=3600")
        );
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }
}
