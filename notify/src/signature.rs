//! The signature a merchant checks: Stripe's scheme. `t=<unix secs>,v1=<hex>[,v1=<hex>]`, where
//! each `v1` is HMAC-SHA256(secret, "<t>.<body>"). The timestamp is signed so that a captured
//! request cannot be replayed after the tolerance; two `v1` entries let a merchant rotate its
//! secret without a window in which either side rejects the other.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The request header that carries the signature.
pub const SIGNATURE_HEADER: &str = "Sluice-Signature";

type HmacSha256 = Hmac<Sha256>;

/// Why a signature header did not verify. Each variant names one check, so a merchant's log
/// says which side is wrong (the clock, the secret, or the header's shape).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// The header has no `t=` entry, or more than one.
    MissingTimestamp,
    /// `t=` is not a decimal number of seconds.
    BadTimestamp(String),
    /// No `v1=` entry at all.
    MissingSignature,
    /// A `v1=` entry is not 64 hex characters.
    BadSignatureEncoding,
    /// An entry is not `key=value`.
    Malformed(String),
    /// The timestamp is further from `now` than the tolerance (a replay or a skewed clock).
    OutsideTolerance {
        t_secs: u64,
        now_secs: u64,
        tolerance_secs: u64,
    },
    /// Well-formed and fresh, but no `v1` matches HMAC(secret, "t.body").
    Mismatch,
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VerifyError::MissingTimestamp => write!(f, "signature header has no single t= entry"),
            VerifyError::BadTimestamp(t) => write!(f, "signature timestamp {t:?} is not a number"),
            VerifyError::MissingSignature => write!(f, "signature header has no v1= entry"),
            VerifyError::BadSignatureEncoding => write!(f, "a v1= entry is not 64 hex digits"),
            VerifyError::Malformed(part) => {
                write!(f, "signature header entry {part:?} is not key=value")
            }
            VerifyError::OutsideTolerance {
                t_secs,
                now_secs,
                tolerance_secs,
            } => write!(
                f,
                "signature timestamp {t_secs} is more than {tolerance_secs} s from now ({now_secs})"
            ),
            VerifyError::Mismatch => write!(f, "no v1 signature matches the secret"),
        }
    }
}

impl std::error::Error for VerifyError {}

fn mac(secret: &[u8], t_secs: u64, body: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length; the error type exists only for fixed-size MACs.
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(t_secs.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header value: one `v1=` per secret, in the order given (current first).
pub fn sign(secrets: &[Vec<u8>], t_secs: u64, body: &[u8]) -> String {
    let mut header = format!("t={t_secs}");
    for secret in secrets {
        let tag = mac(secret, t_secs, body).finalize().into_bytes();
        header.push_str(",v1=");
        push_hex(&mut header, &tag);
    }
    header
}

/// The merchant's check: parse, check freshness, then compare every `v1` in constant time
/// (hmac's `verify_slice`) against HMAC(secret, "t.body"). Unknown keys (a future `v2=`) are
/// ignored, as Stripe's verifiers do, so the scheme can grow.
pub fn verify(
    header: &str,
    body: &[u8],
    secret: &[u8],
    now_secs: u64,
    tolerance_secs: u64,
) -> Result<(), VerifyError> {
    let (t_secs, signatures) = parse(header)?;
    if t_secs.abs_diff(now_secs) > tolerance_secs {
        return Err(VerifyError::OutsideTolerance {
            t_secs,
            now_secs,
            tolerance_secs,
        });
    }
    let expected = mac(secret, t_secs, body);
    let matched = signatures
        .iter()
        .any(|signature| expected.clone().verify_slice(signature).is_ok());
    if matched {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

fn parse(header: &str) -> Result<(u64, Vec<[u8; 32]>), VerifyError> {
    let mut t_secs = None;
    let mut signatures = Vec::new();
    // A bound on entries: a header is a few entries; a huge one is not worth parsing.
    for part in header.split(',').take(16) {
        let (key, value) = part
            .trim()
            .split_once('=')
            .ok_or_else(|| VerifyError::Malformed(part.to_string()))?;
        match key {
            "t" if t_secs.is_some() => return Err(VerifyError::MissingTimestamp),
            "t" => {
                let t: u64 = value
                    .parse()
                    .map_err(|_| VerifyError::BadTimestamp(value.into()))?;
                t_secs = Some(t);
            }
            "v1" => signatures.push(unhex32(value).ok_or(VerifyError::BadSignatureEncoding)?),
            _ => {}
        }
    }
    let t_secs = t_secs.ok_or(VerifyError::MissingTimestamp)?;
    if signatures.is_empty() {
        return Err(VerifyError::MissingSignature);
    }
    Ok((t_secs, signatures))
}

pub(crate) fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)] as char);
        out.push(DIGITS[usize::from(byte & 0x0f)] as char);
    }
}

fn unhex32(text: &str) -> Option<[u8; 32]> {
    let digits = text.as_bytes();
    if digits.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in digits.chunks_exact(2).enumerate() {
        let high = (pair[0] as char).to_digit(16)?;
        let low = (pair[1] as char).to_digit(16)?;
        out[i] = u8::try_from(high * 16 + low).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_0123456789abcdef0123456789abcdef";
    const BODY: &[u8] = br#"{"id":"ntf_42_0","type":"payment.succeeded","order_id":7}"#;

    #[test]
    fn worked_example_for_the_protocol_document() {
        // The literal is the published example (docs/PROTOCOL.md): a change here breaks merchants.
        let header = sign(&[SECRET.to_vec()], 1_767_225_600, BODY);
        assert_eq!(
            header,
            "t=1767225600,v1=edb88fc89d08741b16f80f5f89cd400774583b19cf4be45266f5285b9c0e0f2f"
        );
        assert_eq!(verify(&header, BODY, SECRET, 1_767_225_600, 300), Ok(()));
    }

    #[test]
    fn rotation_signs_with_both_and_either_verifies() {
        let (old, new) = (b"old-secret".to_vec(), b"new-secret".to_vec());
        let header = sign(&[new.clone(), old.clone()], 1000, BODY);
        assert_eq!(header.matches("v1=").count(), 2);
        assert_eq!(verify(&header, BODY, &old, 1000, 300), Ok(()));
        assert_eq!(verify(&header, BODY, &new, 1000, 300), Ok(()));
        assert_eq!(
            verify(&header, BODY, b"other", 1000, 300),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn tolerance_and_tampering_are_refused() {
        let header = sign(&[SECRET.to_vec()], 1000, BODY);
        assert_eq!(verify(&header, BODY, SECRET, 1300, 300), Ok(()));
        assert!(matches!(
            verify(&header, BODY, SECRET, 1301, 300),
            Err(VerifyError::OutsideTolerance { .. })
        ));
        assert_eq!(
            verify(&header, b"{}", SECRET, 1000, 300),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn malformed_headers_give_clear_errors() {
        let cases: [(&str, VerifyError); 6] = [
            ("", VerifyError::Malformed(String::new())),
            ("v1=00", VerifyError::BadSignatureEncoding),
            ("t=1", VerifyError::MissingSignature),
            ("t=x,v1=00", VerifyError::BadTimestamp("x".into())),
            ("t=1,t=2", VerifyError::MissingTimestamp),
            ("t=1,garbage", VerifyError::Malformed("garbage".into())),
        ];
        for (header, expected) in cases {
            assert_eq!(
                verify(header, BODY, SECRET, 1, 300),
                Err(expected),
                "{header:?}"
            );
        }
        let no_t = format!("v1={}", "0".repeat(64));
        assert_eq!(
            verify(&no_t, BODY, SECRET, 1, 300),
            Err(VerifyError::MissingTimestamp)
        );
    }
}
