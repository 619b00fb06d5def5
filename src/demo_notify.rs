//! What `sluice demo` shows of issue 19 (docs/NOTIFICATIONS.md): merchant notifications delivered
//! over HTTPS to a test merchant (`sluice_notify::receiver`) that fails some attempts and answers
//! some slowly, its secrets set through the admin protocol as `sluice admin notify set` does; and
//! an acquirer connection dropped mid-flow that resumes (`Client::login_resuming`) and gets back
//! every output it missed, once, in order, before `ResumeComplete`.

use serde_json::json;
use sluice_gateway::client::Client;
use sluice_gateway::config::Config;
use sluice_notify::receiver::{Receiver, ReceiverConfig, ReceiverStats};
use sluice_notify::{LatencySummary, Notifier, NotifyStats};
use sluice_protocol::*;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::admin::conn::{AdminConn, Answer};
use crate::admin::notify::{seal_new_secret, text_field};

/// The merchants given a notify URL: two of the four `acq-a` pays (`load_spec`). All four made
/// about 100,000 notifications of the default 200,000 payments, and delivery (idle class, on a
/// 2-core machine) trailed the load by about 12 s; two halve that.
pub(crate) const NOTIFIED: [u32; 2] = [1001, 1002];
/// A drill's retry schedule, so that a failed attempt is retried within the run (production:
/// WeChat Pay's 15 s, 15 s, 30 s, 3 min, ...).
const SCHEDULE_MS: [u64; 10] = [100, 200, 400, 800, 1000, 1000, 1000, 1000, 1000, 1000];
/// How long delivery may trail the load before the demo fails.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The demo's merchant: a real HTTPS server verifying every signature.
pub(crate) struct DemoMerchant {
    receiver: Receiver,
}

impl DemoMerchant {
    /// Starts the merchant and points the server's notifier at its test CA (and at the drill's
    /// retry schedule); with `--no-notify`, turns notifications off instead.
    pub(crate) fn start(no_notify: bool, config: &mut Config) -> Result<Option<Self>, String> {
        if no_notify {
            config.notify.enabled = false;
            return Ok(None);
        }
        let receiver = Receiver::start(ReceiverConfig {
            https: true,
            // The first three attempts of one notification in twenty fail (500), one in a
            // thousand is answered after 200 ms.
            fail_first_attempts: 3,
            fail_modulo: 20,
            slow_ms: 200,
            slow_modulo: 1_000,
            ..ReceiverConfig::default()
        })
        .map_err(|e| format!("the demo's merchant: {e}"))?;
        let ca = receiver
            .ca_file()
            .ok_or("an https merchant has a CA file")?;
        let delivery = &mut config.notify.delivery;
        delivery.ca_file = Some(ca.to_path_buf());
        delivery.schedule_ms = Some(SCHEDULE_MS.to_vec());
        Ok(Some(DemoMerchant { receiver }))
    }

    /// Sets each notified merchant's URL with a new sealed secret through the admin protocol,
    /// and hands the secret to the merchant.
    pub(crate) fn register(&self, addr: SocketAddr, key_file: &Path) -> Result<(), String> {
        let mut conn = AdminConn::login(addr, "admin", "sluice-demo-admin")?;
        for merchant in NOTIFIED {
            let mut m = ConfigMerchantNotify {
                merchant_id: merchant,
                op: NotifyOp::Set,
                rotation_window_ms: 0,
                key_id: Chars::default(),
                url: text_field(&self.receiver.url(merchant), "url")?,
                sealed_secret: Default::default(),
            };
            let secret = seal_new_secret(&mut m, key_file)?;
            match conn.request(&m.into())? {
                Answer::Accepted { .. } => {}
                other => return Err(format!("notify set of merchant {merchant}: {other:?}")),
            }
            let secrets = vec![secret.into_bytes()];
            self.receiver.set_secrets(merchant, secrets);
        }
        Ok(())
    }

    /// Waits (bounded) until the merchant accepted every notification the notifier enqueued and
    /// nothing is pending or in flight, the count steady; returns when that first held.
    fn settle(&self, notifier: &Notifier) -> Option<Instant> {
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        let mut steady: Option<(u64, Instant)> = None;
        loop {
            let (s, r) = (notifier.stats(), self.receiver.stats());
            let now = Instant::now();
            if s.pending > 0 || s.in_flight > 0 || r.accepted < s.enqueued {
                steady = None;
            } else {
                match steady {
                    Some((n, since)) if n == s.enqueued => {
                        // The outputs follower found nothing more to enqueue meanwhile.
                        if now - since >= Duration::from_millis(500) {
                            return Some(since);
                        }
                    }
                    _ => steady = Some((s.enqueued, now)),
                }
            }
            if now >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Notifications as the run ends: the notifier's figures and the merchant's.
pub(crate) struct Notifications {
    notifier: NotifyStats,
    merchant: ReceiverStats,
    latency: LatencySummary,
    /// How long after the load's end the merchant had every notification (None: not in time).
    trailed: Option<Duration>,
}

impl Notifications {
    fn json(&self) -> serde_json::Value {
        let (n, m, l) = (&self.notifier, &self.merchant, &self.latency);
        let ms = |us: u64| (us as f64 / 100.0).round() / 10.0;
        json!({
            "merchants": NOTIFIED,
            "https": true,
            "enqueued": n.enqueued,
            "delivered": m.accepted,
            "bad_signatures": m.bad_signatures,
            "failed_attempts": n.failed_attempts,
            "failures_injected": m.failures_injected,
            "duplicates": m.duplicates,
            "attempts": n.attempts,
            "pending": n.pending,
            "given_up": n.given_up,
            "trailed_load_secs": self.trailed.map(|d| (d.as_secs_f64() * 1000.0).round() / 1000.0),
            "attempt_latency_ms": { "p50": ms(l.p50_us), "p99": ms(l.p99_us), "p999": ms(l.p999_us), "max": ms(l.max_us), "count": l.count },
            "retry_schedule_ms": SCHEDULE_MS,
        })
    }

    fn print(&self) {
        let (n, m, l) = (&self.notifier, &self.merchant, &self.latency);
        let trailed = self.trailed.map_or("NOT within 60 s".to_string(), |d| {
            format!("{:.2} s", d.as_secs_f64())
        });
        println!(
            "notifications {:>9} delivered over HTTPS to merchants {NOTIFIED:?} (a subset of the load's 1001..1004, to keep the demo short; a test merchant on loopback), of {} enqueued; every signature verified: {} bad",
            m.accepted, n.enqueued, m.bad_signatures
        );
        println!(
            "              {:>9} attempts failed by the merchant (500) and retried ({} failed in all, drill schedule {SCHEDULE_MS:?} ms), {} duplicates seen by the merchant, {} pending, {} given up",
            m.failures_injected, n.failed_attempts, m.duplicates, n.pending, n.given_up
        );
        println!(
            "              delivery trailed the load by {trailed}; attempt latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} attempts)",
            l.p50_us as f64 / 1e3,
            l.p99_us as f64 / 1e3,
            l.max_us as f64 / 1e3,
            l.count
        );
    }

    fn error(&self) -> Option<String> {
        let (n, m) = (&self.notifier, &self.merchant);
        if m.bad_signatures > 0 {
            return Some(format!(
                "{} notification signatures failed",
                m.bad_signatures
            ));
        }
        if self.trailed.is_none() || n.given_up > 0 {
            return Some(format!(
                "notifications: {} of {} accepted by the merchant, {} pending, {} given up",
                m.accepted, n.enqueued, n.pending, n.given_up
            ));
        }
        None
    }
}

/// What the demo shows of issue 19, after the load.
pub(crate) struct News {
    notifications: Option<Notifications>,
    resumed: Resumed,
}

/// After the load (which ended at `load_end`): waits for delivery to catch up, then runs the
/// resume vignette (its payments are notified too: a second wait takes them in).
pub(crate) fn after_load(
    merchant: Option<&DemoMerchant>,
    notifier: Option<Arc<Notifier>>,
    load_end: Instant,
    addr: SocketAddr,
) -> Result<News, String> {
    let trailed = match (merchant, &notifier) {
        (Some(m), Some(n)) => m.settle(n).map(|at| at.saturating_duration_since(load_end)),
        _ => None,
    };
    let resumed = resume_vignette(addr)?;
    let notifications = merchant.zip(notifier).map(|(m, n)| {
        let trailed = trailed.filter(|_| m.settle(&n).is_some());
        Notifications {
            notifier: n.stats(),
            merchant: m.receiver.stats(),
            latency: n.attempt_latency(),
            trailed,
        }
    });
    Ok(News {
        notifications,
        resumed,
    })
}

impl News {
    pub(crate) fn json(&self, json: &mut serde_json::Value) {
        json["notifications"] = self.notifications.as_ref().map(Notifications::json).into();
        json["resume"] = self.resumed.json();
    }

    pub(crate) fn print(&self) {
        println!();
        match &self.notifications {
            Some(n) => n.print(),
            None => println!("notifications  off (--no-notify)"),
        }
        self.resumed.print();
    }

    /// Why the demo fails, if it does: a bad signature, delivery not caught up, a resume that
    /// lost or repeated an output.
    pub(crate) fn error(&self) -> Option<String> {
        let notify = self.notifications.as_ref().and_then(Notifications::error);
        notify.or_else(|| self.resumed.error())
    }
}

/// The vignette's acquirer key (the load's `acq-a`) and its payments.
const KEY: (&str, &str) = ("acq-a", "sluice-demo-acquirer-a");
const PAYMENTS: u64 = 40;
/// Request ids far from the load's (the workload numbers its payments from 1).
const FIRST_REQUEST: u64 = 1 << 40;
/// Outputs processed before the connection is dropped: acks come at once, results later.
const PROCESSED_BEFORE_DROP: u64 = 30;

/// What the resume vignette saw.
#[derive(Default)]
pub(crate) struct Resumed {
    /// The acquirer's out_seq when the vignette logged in, and the last it processed.
    first: u64,
    last: u64,
    /// Processed before the drop (the last out_seq then).
    dropped_at: u64,
    /// LoginAccepted.last_out_seq of the resumed session: what was sent while it had none.
    resumed_through: u64,
    retransmitted: u64,
    live_after_resume: u64,
    resume_complete: Option<u64>,
    /// ResumeComplete's last_out_seq was the last output before it.
    complete_in_place: bool,
    /// Out of order: an out_seq not one past the last (a gap), or at most the last (a repeat).
    gaps: u64,
    repeats: u64,
    /// A `retransmission` flag not set exactly on the outputs sent again.
    misflagged: u64,
    /// Final answers per request (a result, or a refusing ack).
    finals: BTreeMap<u64, u32>,
}

impl Resumed {
    /// Processes one output of the recoverable flow; `through` is the resumed session's
    /// LoginAccepted.last_out_seq (0 before the resume).
    fn process(&mut self, m: &AnyMessage, through: u64) {
        let (out_seq, retransmission) = match m {
            AnyMessage::PaymentAck(a) => {
                if a.status == AckStatus::Rejected && !a.duplicate {
                    *self.finals.entry(a.request_id).or_default() += 1;
                }
                (a.out_seq, a.retransmission)
            }
            AnyMessage::PaymentResult(r) => {
                *self.finals.entry(r.request_id).or_default() += 1;
                (r.out_seq, r.retransmission)
            }
            AnyMessage::PaymentReversal(r) => (r.out_seq, r.retransmission),
            _ => return,
        };
        if out_seq <= self.last {
            self.repeats += 1;
            return;
        }
        self.gaps += out_seq - self.last - 1;
        self.misflagged += u64::from(retransmission != (out_seq <= through));
        if through > 0 {
            self.retransmitted += u64::from(retransmission);
            self.live_after_resume += u64::from(!retransmission);
        }
        self.last = out_seq;
    }

    /// Reads outputs until `done`, for at most 30 s.
    fn read(
        &mut self,
        c: &mut Client,
        through: u64,
        done: impl Fn(&Self) -> bool,
    ) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !done(self) {
            let left = deadline.saturating_duration_since(Instant::now());
            match c.recv(left.min(Duration::from_secs(1))) {
                Ok(Some(AnyMessage::ResumeComplete(r))) => {
                    self.resume_complete = Some(r.last_out_seq);
                    self.complete_in_place = r.last_out_seq == self.last;
                }
                Ok(Some(m)) => self.process(&m, through),
                Ok(None) if left.is_zero() => {
                    return Err(format!(
                        "resume vignette: no output after out_seq {} in 30 s",
                        self.last
                    ));
                }
                Ok(None) => {}
                Err(e) => return Err(format!("resume vignette: {e:?}")),
            }
        }
        Ok(())
    }

    fn missed(&self) -> u64 {
        self.resumed_through.saturating_sub(self.dropped_at)
    }

    fn json(&self) -> serde_json::Value {
        json!({
            "acquirer": KEY.0,
            "payments": PAYMENTS,
            "out_seq": { "first": self.first + 1, "last": self.last },
            "processed_before_drop": self.dropped_at - self.first,
            "missed": self.missed(),
            "retransmitted": self.retransmitted,
            "live_after_resume": self.live_after_resume,
            "resume_complete_out_seq": self.resume_complete,
            "gaps": self.gaps,
            "repeats": self.repeats,
            "misflagged": self.misflagged,
            "finals": self.finals.len(),
            "finals_repeated": self.finals.values().filter(|&&n| n > 1).count(),
            "passed": self.error().is_none(),
        })
    }

    fn print(&self) {
        println!(
            "resume        an acquirer ({}) sent {PAYMENTS} payments, processed outputs {}..{} and dropped its connection without a Logout; it missed {} outputs and got back {} marked as retransmissions, then ResumeComplete at out_seq {}, then {} live: out_seq {}..{} gap-free ({} gaps, {} repeats), every final answer once ({} of {PAYMENTS})",
            KEY.0,
            self.first + 1,
            self.dropped_at,
            self.missed(),
            self.retransmitted,
            self.resume_complete
                .map_or("NONE".into(), |n| n.to_string()),
            self.live_after_resume,
            self.first + 1,
            self.last,
            self.gaps,
            self.repeats,
            self.finals.len()
        );
    }

    fn error(&self) -> Option<String> {
        let once = self.finals.len() as u64 == PAYMENTS && self.finals.values().all(|&n| n == 1);
        let complete = self.complete_in_place && self.resume_complete >= Some(self.resumed_through);
        let clean = self.gaps == 0 && self.repeats == 0 && self.misflagged == 0;
        (!(once && complete && clean && self.retransmitted == self.missed())).then(|| {
            format!(
                "the resumed session lost or repeated outputs: {} missed, {} retransmitted, {} gaps, {} repeats, {} misflagged, {} of {PAYMENTS} final answers, ResumeComplete {:?} (after out_seq {} sent again)",
                self.missed(), self.retransmitted, self.gaps, self.repeats, self.misflagged, self.finals.len(), self.resume_complete, self.resumed_through
            )
        })
    }
}

fn payment(request_id: u64, merchant_id: u32) -> PaymentRequest {
    PaymentRequest {
        request_id,
        merchant_id,
        promoter_id: 0,
        amount_minor: 1_000 + (request_id % 1_000) as i64,
        currency: 156,
        method: PaymentMethod::Card,
        scene: Scene::App,
        goods_category: 0,
        // Away from the demo's listed users (666 blocked, 777 allowed) and the load's.
        user_id: 900_000_000 + (request_id % 1_000_000),
        device_id: 0,
        ip: Ip::default(),
        card_fingerprint: Chars::default(),
        card_bin: 0,
        country: Chars::new("CN"),
        installment_count: 0,
        installment_payer_interest: false,
    }
}

/// One extra `acq-a` connection sends payments and is dropped mid-flow, then resumes from the
/// last out_seq it processed.
fn resume_vignette(addr: SocketAddr) -> Result<Resumed, String> {
    let login = |last: Option<u64>| {
        Client::login_resuming(addr, Role::Acquirer, KEY.0, KEY.1, last)
            .map_err(|e| format!("resume vignette: login as {}: {e:?}", KEY.0))
    };
    let mut c = login(None)?;
    let first = c.session.as_ref().map_or(0, |s| s.last_out_seq);
    let mut flow = Resumed {
        first,
        last: first,
        ..Resumed::default()
    };
    for id in FIRST_REQUEST..FIRST_REQUEST + PAYMENTS {
        c.send(&payment(id, 1001 + (id % 4) as u32))
            .map_err(|e| format!("resume vignette: send: {e}"))?;
    }
    flow.read(&mut c, 0, |f| f.last - f.first >= PROCESSED_BEFORE_DROP)?;
    flow.dropped_at = flow.last;
    // Dropped without a Logout: what it had read but not processed is lost with it, and the
    // results still coming go to no session.
    drop(c);
    std::thread::sleep(Duration::from_millis(300));
    let mut c = login(Some(flow.last))?;
    let accepted = c
        .session
        .clone()
        .ok_or("resume vignette: no LoginAccepted")?;
    if accepted.resume_status != ResumeStatus::Resuming {
        return Err(format!(
            "resume vignette: the resume was refused: {accepted:?}"
        ));
    }
    flow.resumed_through = accepted.last_out_seq;
    let through = accepted.last_out_seq;
    flow.read(&mut c, through, |f| {
        f.resume_complete.is_some() && f.finals.len() as u64 >= PAYMENTS
    })?;
    Ok(flow)
}
