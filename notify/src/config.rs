//! The `[notify]` configuration. `Default` is production: WeChat Pay's retry schedule.

use serde::Deserialize;
use std::path::PathBuf;

/// WeChat Pay's retry delays in seconds: 15 s, 15 s, 30 s, 3 min, 10 min, 20 min, 30 min ×3,
/// 60 min, 3 h ×3, 6 h ×2, then give up (about 24 h 4 min in all, 16 attempts).
pub const WECHAT_SCHEDULE_SECS: [u64; 15] = [
    15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600,
];

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// Delay before the next attempt after each failed one; after the last, give up.
    pub schedule_secs: Vec<u64>,
    /// The same in milliseconds, overriding `schedule_secs` when set: for tests and drills, so
    /// that a whole schedule runs in seconds while the production setting reads in seconds.
    pub schedule_ms: Option<Vec<u64>>,
    pub connect_timeout_ms: u64,
    /// The whole request: connect, send, status line and body.
    pub response_timeout_ms: u64,
    /// Concurrent requests (hence keep-alive connections) per host.
    pub per_host_connections: u32,
    /// Deliveries in flight at once, all merchants.
    pub max_in_flight: u32,
    /// Deliveries in flight per merchant, so that a slow merchant cannot starve the others.
    pub per_merchant_in_flight: u32,
    /// An extra trusted CA (PEM) for https, beside the built-in web roots.
    pub ca_file: Option<PathBuf>,
    /// The signature tolerance documented to merchants (used by `verify`).
    pub tolerance_secs: u64,
    /// Compact the store's log into a checkpoint when it passes this size.
    pub log_compact_bytes: u64,
    /// Runtime worker threads (named sluice-notify-*).
    pub worker_threads: u32,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            schedule_secs: WECHAT_SCHEDULE_SECS.to_vec(),
            schedule_ms: None,
            connect_timeout_ms: 5_000,
            response_timeout_ms: 10_000,
            per_host_connections: 16,
            max_in_flight: 1024,
            per_merchant_in_flight: 64,
            ca_file: None,
            tolerance_secs: 300,
            log_compact_bytes: 64 << 20,
            worker_threads: 2,
        }
    }
}

impl NotifyConfig {
    /// The retry delays in milliseconds, whichever way they were given.
    pub fn schedule_delays_ms(&self) -> Vec<u64> {
        match &self.schedule_ms {
            Some(ms) => ms.clone(),
            None => self
                .schedule_secs
                .iter()
                .map(|s| s.saturating_mul(1000))
                .collect(),
        }
    }

    /// Rejects values that would stall delivery rather than fail loudly later.
    pub fn validate(&self) -> Result<(), crate::NotifyError> {
        let bad = |what: &str| {
            Err(crate::NotifyError::Config(format!(
                "{what} must be at least 1"
            )))
        };
        if self.per_host_connections == 0 {
            return bad("per_host_connections");
        }
        if self.max_in_flight == 0 {
            return bad("max_in_flight");
        }
        if self.per_merchant_in_flight == 0 {
            return bad("per_merchant_in_flight");
        }
        if self.worker_threads == 0 {
            return bad("worker_threads");
        }
        if self.response_timeout_ms == 0 || self.connect_timeout_ms == 0 {
            return bad("connect_timeout_ms and response_timeout_ms");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_wechat_and_unknown_fields_are_refused() {
        let config = NotifyConfig::default();
        assert_eq!(config.schedule_secs.len(), 15);
        assert_eq!(config.schedule_delays_ms()[3], 180_000);
        let parsed: NotifyConfig = serde_json::from_str(r#"{"max_in_flight": 8}"#).unwrap();
        assert_eq!(parsed.max_in_flight, 8);
        assert_eq!(parsed.schedule_secs, WECHAT_SCHEDULE_SECS.to_vec());
        assert!(serde_json::from_str::<NotifyConfig>(r#"{"max_inflight": 8}"#).is_err());
        let fast: NotifyConfig = serde_json::from_str(r#"{"schedule_ms": [1, 2]}"#).unwrap();
        assert_eq!(fast.schedule_delays_ms(), vec![1, 2]);
    }
}
