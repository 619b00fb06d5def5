//! The merchant notifier as a sink of the outputs follower (docs/NOTIFICATIONS.md, section 2):
//! for every record the follower applies, the notifications it causes
//! (`sluice_node::notifications`) go to the notifier's durable queue, and every change of a
//! merchant's notify settings — a ConfigMerchantNotify, or a rotation window that ended —
//! reaches the notifier as the endpoint it signs and posts with. The sealed secrets are opened
//! here, with the notifier key; they never leave this process in clear.

use rustc_hash::FxHashMap;
use sluice_engine::Engine;
use sluice_engine::merchant_notify::NotifyEndpoint;
use sluice_node::{Applied, Error, notifications};
use sluice_notify::{Endpoint, Notification, Notifier, SecretKey};
use std::sync::Arc;
use tracing::error;

use super::outputs_follower::OutputSink;

/// Feeds the notifier from the outputs follower.
pub struct NotifySink {
    notifier: Arc<Notifier>,
    key: SecretKey,
    /// The settings last handed to the notifier, by merchant, and the secrets' count then.
    known: FxHashMap<u32, (NotifyEndpoint, usize)>,
    /// The earliest event time at which a previous secret stops signing (u64::MAX: none).
    next_expiry_ns: u64,
    /// Merchant settings seen at each refresh, to notice one that was removed.
    seen: Vec<u32>,
}

/// Opens the notifier key (created at the first start) and the notifier's store, and starts its
/// delivery threads in the idle scheduling class.
pub(super) fn start(n: &super::NotifySettings) -> std::io::Result<(NotifySink, Arc<Notifier>)> {
    let io = |what: &str, e: sluice_notify::NotifyError| {
        std::io::Error::other(format!("notifications: {what}: {e}"))
    };
    let key = SecretKey::load_or_create(&n.key_file)
        .map_err(|e| io(&n.key_file.display().to_string(), e))?;
    let hook: sluice_notify::ThreadHook = Arc::new(|| {
        if let Err(e) = sluice_node::follower::background_priority() {
            tracing::warn!("notifier thread: no idle scheduling class: {e}");
        }
    });
    let notifier = Notifier::start_with(n.delivery.clone(), &n.dir, hook)
        .map_err(|e| io(&n.dir.display().to_string(), e))?;
    let notifier = Arc::new(notifier);
    Ok((NotifySink::new(notifier.clone(), key), notifier))
}

impl NotifySink {
    pub fn new(notifier: Arc<Notifier>, key: SecretKey) -> NotifySink {
        NotifySink {
            notifier,
            key,
            known: FxHashMap::default(),
            next_expiry_ns: u64::MAX,
            seen: Vec::new(),
        }
    }

    /// Hands the notifier every endpoint that changed since the last refresh (settings, or the
    /// secrets that sign at the engine's event time).
    fn refresh(&mut self, engine: &Engine) {
        let now_ns = engine.now_ns();
        let entries = &engine.state().merchant_notify.entries;
        self.next_expiry_ns = u64::MAX;
        self.seen.clear();
        for e in entries {
            self.seen.push(e.merchant_id);
            if let Some((_, until)) = &e.previous
                && *until > now_ns
            {
                self.next_expiry_ns = self.next_expiry_ns.min(*until);
            }
            let signing = e.signing_secrets(now_ns).count();
            if self.known.get(&e.merchant_id) == Some(&(e.clone(), signing)) {
                continue;
            }
            let endpoint = self.endpoint(e, now_ns);
            self.notifier.set_endpoint(e.merchant_id, endpoint);
            self.known.insert(e.merchant_id, (e.clone(), signing));
        }
        let seen = &self.seen;
        let removed: Vec<u32> = self
            .known
            .keys()
            .copied()
            .filter(|m| !seen.contains(m))
            .collect();
        for merchant in removed {
            self.known.remove(&merchant);
            self.notifier.set_endpoint(merchant, None);
        }
    }

    /// The endpoint with its secrets opened; None (and an error logged) when a secret was sealed
    /// under another key: its notifications then fail until the merchant's secret is set again.
    fn endpoint(&self, e: &NotifyEndpoint, now_ns: u64) -> Option<Endpoint> {
        let mut secrets = Vec::with_capacity(2);
        for s in e.signing_secrets(now_ns) {
            match self.key.decrypt(&s.sealed) {
                Ok(secret) if s.key_id == self.key.key_id() => secrets.push(secret),
                _ => {
                    let merchant = e.merchant_id;
                    error!(
                        merchant,
                        "merchant {merchant}'s signing secret was not sealed with this notifier's \
                         key: its notifications fail until `sluice admin notify set` runs again"
                    );
                    return None;
                }
            }
        }
        Some(Endpoint {
            url: e.url.clone(),
            secrets,
        })
    }
}

impl OutputSink for NotifySink {
    fn name(&self) -> &'static str {
        "notify"
    }

    fn open(&mut self, engine: &Engine) -> Result<(), Error> {
        self.refresh(engine);
        Ok(())
    }

    fn apply(&mut self, applied: &Applied<'_>) -> Result<(), Error> {
        let template = sluice_protocol::split_sbe(applied.envelope().sbe)
            .map(|(h, _)| h.template_id)
            .unwrap_or(0);
        if template
            == <sluice_protocol::ConfigMerchantNotify as sluice_protocol::Message>::TEMPLATE_ID
            || applied.record.timestamp_ns >= self.next_expiry_ns
        {
            self.refresh(applied.engine);
        }
        let mut failed = None;
        notifications::drafts(applied, |d| {
            let n = Notification {
                id: d.id,
                merchant_id: d.merchant_id,
                order_id: d.order_id,
                kind: d.kind.to_string(),
                body: d.body,
            };
            if let Err(e) = self.notifier.enqueue(n) {
                failed.get_or_insert(e);
            }
        });
        match failed {
            Some(e) => Err(Error::new(format!("notifier: {e}"))),
            None => Ok(()),
        }
    }

    fn sync(&mut self) -> Result<(), Error> {
        self.notifier
            .sync()
            .map_err(|e| Error::new(format!("notifier: {e}")))
    }
}
