//! Merchant notification delivery (issue 19, docs/NOTIFICATIONS.md section 2): everything from
//! "here is a notification" to "the merchant answered 2xx".
//!
//! - [`book`]: the pure core (retry schedule, in-flight caps, fairness), time passed in.
//! - [`store`]: the notifier's own durable log and checkpoint (not the journal; see there why).
//! - [`Notifier`]: the thin tokio shell: hyper client over rustls (ring), one runtime of its own.
//! - [`sign`]/[`verify`]: the Stripe-style signature; [`SecretKey`]: secrets sealed at rest.
//! - [`status`] and [`request_resend`]: the operator's view and lever, offline or live.
//! - [`receiver`]: a real HTTP(S) test receiver with fault injection, for tests and the benchmark.
#![forbid(unsafe_code)]

pub mod book;
mod config;
mod http;
mod latency;
mod notifier;
pub mod receiver;
pub mod record;
mod secret;
mod signature;
mod spool;
mod status;
pub mod store;

pub use config::NotifyConfig;
pub use latency::LatencySummary;
pub use notifier::{Notifier, NotifyStats, ThreadHook};
pub use secret::{SecretKey, new_signing_secret, try_new_signing_secret};
pub use signature::{SIGNATURE_HEADER, VerifyError, sign, verify};
pub use spool::{ResendRequest, request_resend};
pub use status::{StatusEntry, StatusFilter, StatusReport, status};

/// A merchant's endpoint: where to POST, and the secrets to sign with (current first; during a
/// rotation both sign, giving two `v1=` entries).
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub url: String,
    pub secrets: Vec<Vec<u8>>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets stay out of logs.
        write!(
            f,
            "Endpoint {{ url: {:?}, secrets: {} }}",
            self.url,
            self.secrets.len()
        )
    }
}

/// One notification, as the journal side hands it over. `body` is the exact JSON that is signed
/// and POSTed; `id` is what the merchant de-duplicates on (the same on every retry and restart).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub id: String,
    pub merchant_id: u32,
    pub order_id: u64,
    /// "payment.succeeded", "payment.failed", "refund.succeeded", "refund.failed".
    pub kind: String,
    pub body: Vec<u8>,
}

/// Why a notifier call failed. Every variant carries a sentence for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyError {
    /// A file or socket operation failed (the message names the path).
    Io(String),
    /// The store's files are damaged where a crash cannot have left them (file and offset named).
    Corrupt(String),
    /// A configuration value is unusable.
    Config(String),
    /// A key file or a sealed secret is unusable.
    Key(String),
    /// A notification was refused (too large, empty id).
    Invalid(String),
    /// The notifier has stopped.
    Stopped,
}

impl std::fmt::Display for NotifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotifyError::Io(m) => write!(f, "notify I/O: {m}"),
            NotifyError::Corrupt(m) => write!(f, "notify store corrupt: {m}"),
            NotifyError::Config(m) => write!(f, "notify configuration: {m}"),
            NotifyError::Key(m) => write!(f, "notify key: {m}"),
            NotifyError::Invalid(m) => write!(f, "notification refused: {m}"),
            NotifyError::Stopped => write!(f, "the notifier has stopped"),
        }
    }
}

impl std::error::Error for NotifyError {}

/// Milliseconds since the Unix epoch by the wall clock. Retries are outside the deterministic
/// engine and are scheduled for people (the merchant's operators), so wall time is the right one:
/// a due time stored before a restart still means the same instant after it.
pub fn wall_ms() -> u64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}
