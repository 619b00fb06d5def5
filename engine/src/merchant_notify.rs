//! Merchants' result notifications as journaled state (docs/NOTIFICATIONS.md, section 2): where
//! the notifier POSTs a merchant's final results and the secrets it signs them with, *sealed*.
//! The engine never sees a secret in clear: `sluice admin notify` seals it (AES-256-GCM under the
//! notifier's key) before it is sent, and only the notifier opens it. The engine only validates
//! and keeps the entries, so that the notifier — a follower of the journal — finds the same
//! entries at the same sequence on every replay, and a snapshot carries them.

use rkyv::{Archive, Deserialize, Serialize};
use sluice_protocol::{Chars, ConfigMerchantNotify, NotifyOp, ReasonCode};

use crate::config::{Refusal, invalid};
use crate::credentials::from_hex;

/// The longest notify URL, bytes.
pub const NOTIFY_URL_MAX: usize = 256;
/// The shortest sealed secret: a 12-byte nonce, at least one byte of ciphertext, a 16-byte tag.
pub const SEALED_SECRET_MIN: usize = 12 + 1 + 16;
/// The longest sealed secret, bytes (256 hex digits on the wire).
pub const SEALED_SECRET_MAX: usize = 128;
/// The longest rotation window: a week of event time.
pub const NOTIFY_ROTATION_MAX_MS: u32 = 7 * 24 * 3_600_000;

/// A secret as the journal holds it: sealed under the notifier key `key_id`.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct SealedSecret {
    /// The first 8 bytes of SHA-256 of the key that sealed it.
    pub key_id: [u8; 8],
    /// Nonce, ciphertext and tag.
    pub sealed: Vec<u8>,
}

/// One merchant's notification settings.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct NotifyEndpoint {
    pub merchant_id: u32,
    pub url: String,
    pub current: SealedSecret,
    /// The secret before the last rotation, and until when (event time, ns) it still signs.
    pub previous: Option<(SealedSecret, u64)>,
}

impl NotifyEndpoint {
    /// The secrets that sign at event time `now_ns`: the current one first, then the previous
    /// one while its rotation window lasts.
    pub fn signing_secrets(&self, now_ns: u64) -> impl Iterator<Item = &SealedSecret> {
        let previous = self
            .previous
            .as_ref()
            .filter(|(_, until)| *until > now_ns)
            .map(|(s, _)| s);
        std::iter::once(&self.current).chain(previous)
    }
}

/// Every merchant's settings, sorted by merchant id. Bounded by the merchants configured: an
/// entry needs its merchant (`apply` checks it).
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct MerchantNotify {
    pub entries: Vec<NotifyEndpoint>,
}

impl MerchantNotify {
    /// The settings of `merchant_id`, if it has any.
    pub fn get(&self, merchant_id: u32) -> Option<&NotifyEndpoint> {
        let i = self
            .entries
            .binary_search_by_key(&merchant_id, |e| e.merchant_id)
            .ok()?;
        Some(&self.entries[i])
    }

    /// Applies a ConfigMerchantNotify for a configured merchant at event time `now_ns`. Refused
    /// inputs change nothing: everything is checked before the table is touched.
    pub fn apply(&mut self, m: &ConfigMerchantNotify, now_ns: u64) -> Result<(), Refusal> {
        let at = self
            .entries
            .binary_search_by_key(&m.merchant_id, |e| e.merchant_id);
        match (m.op, at) {
            (NotifyOp::Set, at) => {
                let entry = NotifyEndpoint {
                    merchant_id: m.merchant_id,
                    url: url(m.url.as_str())?.to_string(),
                    current: sealed(m)?,
                    previous: None,
                };
                match at {
                    Ok(i) => self.entries[i] = entry,
                    Err(i) => self.entries.insert(i, entry),
                }
            }
            (_, Err(_)) => {
                return Err((
                    ReasonCode::NotFound,
                    "the merchant has no notify settings (Set them first)",
                ));
            }
            (NotifyOp::Rotate, Ok(i)) => {
                if m.rotation_window_ms > NOTIFY_ROTATION_MAX_MS {
                    return invalid("rotation_window_ms must be at most a week (604800000)");
                }
                let new_url = match m.url.as_str() {
                    "" => None,
                    text => Some(url(text)?.to_string()),
                };
                let next = sealed(m)?;
                let e = &mut self.entries[i];
                let until = now_ns.saturating_add(u64::from(m.rotation_window_ms) * 1_000_000);
                let old = std::mem::replace(&mut e.current, next);
                e.previous = (m.rotation_window_ms > 0).then_some((old, until));
                if let Some(u) = new_url {
                    e.url = u;
                }
            }
            (NotifyOp::Remove, Ok(i)) => {
                self.entries.remove(i);
            }
        }
        Ok(())
    }
}

/// A notify URL, checked: http or https, printable ASCII, no spaces, a host after the scheme.
fn url(text: &str) -> Result<&str, Refusal> {
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"));
    let host_ok = rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'));
    if !host_ok || text.len() > NOTIFY_URL_MAX || !text.bytes().all(|b| b.is_ascii_graphic()) {
        return invalid("url must be http:// or https://, a host, printable ASCII, <= 256 bytes");
    }
    Ok(text)
}

/// The sealed secret and key id a Set or Rotate carries, checked.
fn sealed(m: &ConfigMerchantNotify) -> Result<SealedSecret, Refusal> {
    let key_id = from_hex::<8, 16>(&m.key_id)
        .ok_or((ReasonCode::InvalidConfig, "key_id must be 16 hex digits"))?;
    let hex = m.sealed_secret.as_bytes();
    let len = hex.len() / 2;
    if !hex.len().is_multiple_of(2) || !(SEALED_SECRET_MIN..=SEALED_SECRET_MAX).contains(&len) {
        return invalid("sealed_secret must be 58..=256 hex digits");
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let sealed = hex
        .chunks(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect::<Option<Vec<u8>>>()
        .ok_or((ReasonCode::InvalidConfig, "sealed_secret must be hex"))?;
    Ok(SealedSecret { key_id, sealed })
}

/// The key id as the wire carries it.
pub fn key_id_chars(key_id: &[u8; 8]) -> Chars<16> {
    crate::credentials::hex_chars(key_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_protocol::codec::text;

    fn msg(merchant_id: u32, op: NotifyOp, url: &str, byte: u8) -> ConfigMerchantNotify {
        let sealed: String = std::iter::repeat_n(format!("{byte:02x}"), 40).collect();
        ConfigMerchantNotify {
            merchant_id,
            op,
            rotation_window_ms: 60_000,
            key_id: key_id_chars(&[7; 8]),
            url: text(url),
            sealed_secret: text(&sealed),
        }
    }

    #[test]
    fn set_rotate_remove_and_the_secrets_that_sign() {
        let mut t = MerchantNotify::default();
        t.apply(&msg(9, NotifyOp::Set, "https://m9.example/notify", 1), 0)
            .expect("set");
        t.apply(&msg(3, NotifyOp::Set, "http://127.0.0.1:8080/n", 2), 0)
            .expect("set");
        assert_eq!(
            t.entries.iter().map(|e| e.merchant_id).collect::<Vec<_>>(),
            [3, 9]
        );
        t.apply(&msg(9, NotifyOp::Rotate, "", 5), 1_000)
            .expect("rotate");
        let e = t.get(9).expect("entry");
        assert_eq!(e.url, "https://m9.example/notify", "an empty url keeps it");
        let signing = |now| {
            e.signing_secrets(now)
                .map(|s| s.sealed[0])
                .collect::<Vec<_>>()
        };
        assert_eq!(signing(1_000), [5, 1], "both sign during the window");
        assert_eq!(
            signing(1_000 + 60_000_000_000),
            [5],
            "then only the new one"
        );
        assert_eq!(e.current.key_id, [7; 8]);
        t.apply(&msg(9, NotifyOp::Remove, "", 0), 2_000)
            .expect("remove");
        assert!(t.get(9).is_none() && t.get(3).is_some());
    }

    #[test]
    fn refusals_change_nothing() {
        let mut t = MerchantNotify::default();
        t.apply(&msg(1, NotifyOp::Set, "https://a.example/", 1), 0)
            .expect("set");
        let before = t.clone();
        let refused = |t: &mut MerchantNotify, m: ConfigMerchantNotify| {
            t.apply(&m, 0).expect_err("refused").0
        };
        for bad in ["ftp://a", "https://", "http:///path", "https://a b", ""] {
            let r = refused(&mut t, msg(1, NotifyOp::Set, bad, 1));
            assert_eq!(r, ReasonCode::InvalidConfig, "{bad:?}");
        }
        let mut short = msg(1, NotifyOp::Set, "https://a.example/", 1);
        short.sealed_secret = text("abcd");
        assert_eq!(refused(&mut t, short), ReasonCode::InvalidConfig);
        let mut not_hex = msg(1, NotifyOp::Set, "https://a.example/", 1);
        not_hex.key_id = Chars::new("zz");
        assert_eq!(refused(&mut t, not_hex), ReasonCode::InvalidConfig);
        let mut long_window = msg(1, NotifyOp::Rotate, "", 1);
        long_window.rotation_window_ms = NOTIFY_ROTATION_MAX_MS + 1;
        assert_eq!(refused(&mut t, long_window), ReasonCode::InvalidConfig);
        let unknown = msg(2, NotifyOp::Rotate, "", 1);
        assert_eq!(refused(&mut t, unknown), ReasonCode::NotFound);
        assert_eq!(t, before);
    }
}
