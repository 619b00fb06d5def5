//! A scrape: reads what the live path published (`Metrics`) and the pipeline's positions
//! (`Shared`), and encodes them in the Prometheus text format (0.0.4) with `prometheus-client`'s
//! encoder, as a collector called on each scrape: the crate writes the HELP and TYPE lines, the
//! label escaping, `_total`, `_bucket{le=...}` with `+Inf`, `_sum` and `_count`. Its own metric
//! types are not used on the live path (its histogram takes a lock per observation).
//!
//! Every family is prefixed `sluice_`, and its name carries its unit (`_seconds`, `_inputs`,
//! `_seq`, `_bytes`) or `_total` for a counter. `FAMILIES` lists them all with their help text;
//! docs/OPERATIONS.md follows it.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, NoLabelSet};
use prometheus_client::encoding::{EncodeGaugeValue, prometheus_text};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use sluice_node::FollowerStatus;
use sluice_protocol::{ChannelStats, HealthState, ReasonCode, StatsReport, template_name};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{EngineBlock, HistogramReading, Metrics, TEMPLATE_SLOTS};
use crate::pipeline::Shared;

/// Every family the endpoint serves, with its help text, in the order served.
#[rustfmt::skip]
pub const FAMILIES: &[(&str, &str)] = &[
    // The pipeline's positions, read at the scrape.
    ("sluice_sequenced_seq", "The last sequence the gateway published into the input ring."),
    ("sluice_applied_seq", "The last sequence the processor applied to the engine."),
    ("sluice_durable_seq", "The journal's durable cursor: the last sequence made durable."),
    ("sluice_ring_occupancy_inputs", "Inputs sequenced but not yet applied by the processor."),
    ("sluice_journal_durable_lag_inputs", "Inputs sequenced but not yet durable in the journal."),
    // Followers (registered with the server).
    ("sluice_follower_applied_seq", "The last sequence a follower applied."),
    ("sluice_follower_saved_seq", "A follower's durable position (a restart resumes after it)."),
    ("sluice_follower_lag_inputs", "Inputs durable now but not yet applied by a follower."),
    ("sluice_follower_max_lag_inputs", "The largest lag a follower reported since it started, in inputs."),
    // The merchant notifier, when `[notify]` is on (read at the scrape).
    ("sluice_notify_enqueued_total", "Merchant notifications enqueued for delivery."),
    ("sluice_notify_delivered_total", "Merchant notifications a merchant accepted (2xx)."),
    ("sluice_notify_attempts_total", "Delivery attempts made."),
    ("sluice_notify_failed_attempts_total", "Delivery attempts that failed (to be retried, or given up)."),
    ("sluice_notify_pending", "Notifications not delivered yet and not given up."),
    ("sluice_notify_given_up", "Notifications given up after the whole retry schedule."),
    ("sluice_notify_in_flight", "Delivery attempts in flight."),
    // The gateway (stored every 50 ms).
    ("sluice_connections_open", "Client connections open."),
    ("sluice_connections_accepted_total", "Client connections accepted."),
    ("sluice_connections_refused_total", "Client connections refused at the connection cap."),
    ("sluice_logins_total", "Logins accepted."),
    ("sluice_login_failures_total", "Logins refused."),
    ("sluice_gateway_rejects_total", "Messages the gateway refused itself (undecodable, before login, not allowed for the role), by reason."),
    ("sluice_ring_full_stalls_total", "Times a connection's reading stopped because the input ring was full."),
    ("sluice_slow_consumers_total", "Connections closed because they stopped reading."),
    ("sluice_outputs_sent_total", "Frames queued to client connections, by template."),
    ("sluice_outputs_dropped_total", "Outputs for a session or channel no longer connected."),
    ("sluice_simulator_replies_total", "Replies of the in-process channel simulator sequenced."),
    ("sluice_resumes_started_total", "Acquirer logins whose resume was started (PROTOCOL.md section 3, Resume)."),
    ("sluice_resumes_refused_total", "Acquirer logins whose resume was refused (ResumeTooOld, ResumeAhead, ResumeUnavailable)."),
    ("sluice_resumes_completed_total", "Resumes that reached ResumeComplete."),
    ("sluice_outputs_retransmitted_total", "Outputs sent again by resumes (retransmission = 1)."),
    ("sluice_ack_latency_seconds", "From an input's sequencing (the loop turn that read it) to its first output handed to its connection."),
    ("sluice_ack_latency_unmatched_total", "Inputs sequenced whose first output was not seen while their sequencing time was kept."),
    // The processor (stored at the end of each batch).
    ("sluice_inputs_total", "Inputs applied by the processor, by template."),
    ("sluice_processor_longest_input_seconds", "The longest time the processor spent on one input since start: the live path's longest pause."),
    ("sluice_processor_longest_input_seq", "The sequence of that input."),
    // Snapshots.
    ("sluice_snapshot_serialize_seconds", "The snapshot follower serializing its engine for a snapshot (off the live path: the ring does not wait)."),
    ("sluice_snapshot_write_seconds", "Writing, syncing and renaming a snapshot file (off the live path)."),
    ("sluice_snapshot_bytes", "Size of the last snapshot serialized."),
    ("sluice_snapshot_write_failures_total", "Snapshots that could not be written."),
    // The engine's statistics block (published by the processor at most every 250 ms).
    ("sluice_engine_stats_seq", "The sequence the engine statistics are as of."),
    ("sluice_engine_stats_age_seconds", "How long ago the processor published the engine statistics."),
    ("sluice_orders", "Orders in the order table (retired ones are receipts: sluice_receipts)."),
    ("sluice_payments_accepted_total", "Payments accepted (dispatched to a channel)."),
    ("sluice_payments_rejected_total", "Payments rejected: by validation (including no channel available, orders full, duplicate mismatch) or by risk."),
    ("sluice_payments_succeeded_total", "Payments that succeeded."),
    ("sluice_payments_failed_total", "Payments that failed."),
    ("sluice_payments_failed_over_total", "Payments that succeeded after more than one attempt."),
    ("sluice_payments_reviewed_total", "Payments accepted with a risk Review verdict."),
    ("sluice_refunds_succeeded_total", "Refunds that succeeded."),
    ("sluice_refunds_failed_total", "Refunds that failed or were rejected."),
    ("sluice_attempt_timeouts_total", "Channel attempts that timed out."),
    ("sluice_withdrawals_total", "Withdrawals that succeeded."),
    ("sluice_unknown_attempts", "Attempts whose outcome is unknown now (Unknown or Closing): their channels are being asked."),
    ("sluice_unknown_attempts_resolved_total", "Unknown attempts resolved by their channel's answer."),
    ("sluice_late_captures_total", "Captures no payment kept (late or second captures), each reversed."),
    ("sluice_reversals_total", "Reversals of captures not kept that the channel confirmed."),
    ("sluice_unknown_refunds", "Refunds whose outcome is unknown now: their channels are being asked."),
    ("sluice_receipts", "Retired orders' receipts in memory now (docs/ENGINE.md, Retention)."),
    ("sluice_orders_retired_total", "Orders retired from the order table to receipts."),
    ("sluice_orders_revived_total", "Retired orders brought back into the table by a refund or a late capture."),
    ("sluice_receipts_expired_total", "Receipts forgotten at the end of their windows, with their refunds."),
    ("sluice_retire_blocked_total", "Times orders due to retire stayed in the table because the receipts were full."),
    ("sluice_ledger_balanced", "1 while total debits equal total credits."),
    ("sluice_channel_health", "A channel's health state (1 for the state it is in)."),
    ("sluice_channel_attempts_total", "Attempts dispatched to a channel."),
    ("sluice_channel_attempt_outcomes_total", "Attempts at a channel by how they ended."),
    ("sluice_channel_recent_success_ratio", "Success rate of a channel's recent attempts."),
    ("sluice_channel_latency_avg_seconds", "A channel's latency, moving average."),
    ("sluice_channel_latency_p99_seconds", "A channel's latency p99 over recent attempts."),
    ("sluice_channel_health_changes_total", "Health state changes of a channel."),
    ("sluice_risk_rule_hits_total", "Risk rule hits, enforced or in shadow mode (counted, not enforced)."),
    ("sluice_routing_decisions_total", "Payments routed, by the merchant's routing strategy."),
    ("sluice_routing_failovers_total", "Attempts after the first, by routing strategy."),
];

/// The scrape function the endpoint calls: one registry with the collector, encoded afresh.
pub fn render(metrics: Arc<Metrics>, shared: Arc<Shared>) -> Box<dyn FnMut() -> String + Send> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Sources { metrics, shared }));
    Box::new(move || {
        let mut text = String::with_capacity(64 * 1024);
        prometheus_text::encode(&mut text, &registry).expect("writing to a String cannot fail");
        text
    })
}

/// What a scrape reads.
struct Sources {
    metrics: Arc<Metrics>,
    shared: Arc<Shared>,
}

impl fmt::Debug for Sources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sluice metrics")
    }
}

impl Collector for Sources {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        let mut out = Out(&mut enc);
        self.positions(&mut out)?;
        self.followers(&mut out)?;
        self.notifier(&mut out)?;
        self.gateway(&mut out)?;
        let m = &self.metrics;
        out.counters(
            "sluice_inputs_total",
            by_template(&m.inputs_by_template[..]),
        )?;
        let longest_ns = load(&m.processor_longest_input_ns);
        out.gauge(
            "sluice_processor_longest_input_seconds",
            longest_ns as f64 / 1e9,
        )?;
        out.gauge(
            "sluice_processor_longest_input_seq",
            load(&m.processor_longest_input_seq),
        )?;
        out.histogram(
            "sluice_snapshot_serialize_seconds",
            &m.snapshot_serialize.read(),
        )?;
        out.histogram("sluice_snapshot_write_seconds", &m.snapshot_write.read())?;
        out.gauge("sluice_snapshot_bytes", load(&m.snapshot_bytes))?;
        out.counter(
            "sluice_snapshot_write_failures_total",
            load(&m.snapshot_write_failures),
        )?;
        // A copy, so the processor's `try_lock` finds the block free again at once.
        let block = m.engine.lock().ok().and_then(|b| b.clone());
        if let Some(block) = block {
            engine(&mut out, &block)?;
            channels(&mut out, &block.report, m)?;
            rules_and_strategies(&mut out, &block.report, m)?;
        }
        Ok(())
    }
}

/// The encoder, with the help text looked up in `FAMILIES`.
struct Out<'a, 'e>(&'a mut DescriptorEncoder<'e>);

fn help(name: &str) -> &'static str {
    let found = FAMILIES.iter().find(|(n, _)| *n == name);
    found.map(|(_, h)| *h).expect("every family is in FAMILIES")
}

impl Out<'_, '_> {
    fn counter(&mut self, name: &'static str, v: u64) -> fmt::Result {
        self.counters(name, [(NO_LABELS, v)])
    }

    fn gauge(&mut self, name: &'static str, v: impl EncodeGaugeValue) -> fmt::Result {
        self.gauges(name, [(NO_LABELS, v)])
    }

    fn counters<L: EncodeLabelSet>(
        &mut self,
        name: &'static str,
        samples: impl IntoIterator<Item = (L, u64)>,
    ) -> fmt::Result {
        // The encoder appends `_total` to a counter's name.
        let base = name
            .strip_suffix("_total")
            .expect("a counter's name ends in _total");
        let mut m = self
            .0
            .encode_descriptor(base, help(name), None, MetricType::Counter)?;
        for (labels, v) in samples {
            m.encode_family(&labels)?
                .encode_counter::<NoLabelSet, _, u64>(&v, None)?;
        }
        Ok(())
    }

    fn gauges<L: EncodeLabelSet, V: EncodeGaugeValue>(
        &mut self,
        name: &'static str,
        samples: impl IntoIterator<Item = (L, V)>,
    ) -> fmt::Result {
        let mut m = self
            .0
            .encode_descriptor(name, help(name), None, MetricType::Gauge)?;
        for (labels, v) in samples {
            m.encode_family(&labels)?.encode_gauge(&v)?;
        }
        Ok(())
    }

    fn histogram(&mut self, name: &'static str, h: &HistogramReading) -> fmt::Result {
        let mut m = self
            .0
            .encode_descriptor(name, help(name), None, MetricType::Histogram)?;
        m.encode_histogram::<NoLabelSet>(h.sum_seconds, h.count, &h.buckets, None)
    }
}

/// The label set of a family without labels.
const NO_LABELS: [(&str, &str); 0] = [];

fn load(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

/// A template slot's label: the message's name, its id when unknown, "other" for the last slot.
fn template_label(slot: usize) -> String {
    match template_name(slot as u16) {
        _ if slot == TEMPLATE_SLOTS - 1 => "other".into(),
        Some(name) => name.into(),
        None => slot.to_string(),
    }
}

type Labels<const N: usize> = [(&'static str, String); N];

/// The nonzero slots of a by-template array, labelled.
fn by_template(slots: &[AtomicU64]) -> Vec<(Labels<1>, u64)> {
    let counted = slots.iter().map(load).enumerate().filter(|(_, n)| *n > 0);
    counted
        .map(|(slot, n)| ([("template", template_label(slot))], n))
        .collect()
}

impl Sources {
    fn positions(&self, out: &mut Out) -> fmt::Result {
        // The consumers' positions first: the sequencer's only grows past them.
        let applied = self.shared.applied_seq.load(Ordering::Acquire);
        let durable = self.shared.durable.get();
        // Published when the gateway wakes the consumers, which may already have run ahead.
        let sequenced = load(&self.metrics.sequenced_seq).max(applied).max(durable);
        out.gauge("sluice_sequenced_seq", sequenced)?;
        out.gauge("sluice_applied_seq", applied)?;
        out.gauge("sluice_durable_seq", durable)?;
        out.gauge("sluice_ring_occupancy_inputs", sequenced - applied)?;
        out.gauge("sluice_journal_durable_lag_inputs", sequenced - durable)
    }

    fn followers(&self, out: &mut Out) -> fmt::Result {
        let durable = self.shared.durable.get();
        let followers: Vec<(String, FollowerStatus, u64)> = match self.metrics.followers.lock() {
            Ok(list) => list
                .iter()
                .map(|(name, p)| (name.clone(), p.status(), p.max_lag_inputs()))
                .collect(),
            Err(_) => Vec::new(),
        };
        if followers.is_empty() {
            return Ok(());
        }
        let each = |f: &dyn Fn(&FollowerStatus, u64) -> u64| -> Vec<(Labels<1>, u64)> {
            let samples = followers.iter();
            samples
                .map(|(name, s, max)| ([("follower", name.clone())], f(s, *max)))
                .collect()
        };
        out.gauges("sluice_follower_applied_seq", each(&|s, _| s.applied_seq))?;
        out.gauges("sluice_follower_saved_seq", each(&|s, _| s.saved_seq))?;
        let lag = each(&|s, _| durable.saturating_sub(s.applied_seq));
        out.gauges("sluice_follower_lag_inputs", lag)?;
        out.gauges("sluice_follower_max_lag_inputs", each(&|_, max| max))
    }

    /// The merchant notifier's delivery counters (docs/NOTIFICATIONS.md, section 2).
    fn notifier(&self, out: &mut Out) -> fmt::Result {
        let notifier = self.metrics.notifier.lock().ok().and_then(|n| n.clone());
        let Some(n) = notifier else {
            return Ok(());
        };
        let s = n.stats();
        out.counter("sluice_notify_enqueued_total", s.enqueued)?;
        out.counter("sluice_notify_delivered_total", s.delivered)?;
        out.counter("sluice_notify_attempts_total", s.attempts)?;
        out.counter("sluice_notify_failed_attempts_total", s.failed_attempts)?;
        out.gauge("sluice_notify_pending", s.pending)?;
        out.gauge("sluice_notify_given_up", s.given_up)?;
        out.gauge("sluice_notify_in_flight", s.in_flight)
    }

    fn gateway(&self, out: &mut Out) -> fmt::Result {
        let g = &self.metrics.gateway;
        out.gauge("sluice_connections_open", load(&g.connections_open))?;
        out.counter(
            "sluice_connections_accepted_total",
            load(&g.connections_accepted),
        )?;
        out.counter(
            "sluice_connections_refused_total",
            load(&g.connections_refused),
        )?;
        out.counter("sluice_logins_total", load(&g.logins))?;
        out.counter("sluice_login_failures_total", load(&g.login_failures))?;
        let rejects = g.rejects_by_reason.iter().map(load).enumerate();
        let rejects = rejects.filter(|(_, n)| *n > 0).map(|(code, n)| {
            let reason = ReasonCode::from_wire(code as u16).map(|r| r.name().to_string());
            ([("reason", reason.unwrap_or_else(|| code.to_string()))], n)
        });
        out.counters("sluice_gateway_rejects_total", rejects)?;
        out.counter("sluice_ring_full_stalls_total", load(&g.ring_full))?;
        out.counter("sluice_slow_consumers_total", load(&g.slow_consumers))?;
        out.counters(
            "sluice_outputs_sent_total",
            by_template(&g.outputs_by_template),
        )?;
        out.counter("sluice_outputs_dropped_total", load(&g.outputs_dropped))?;
        out.counter("sluice_simulator_replies_total", load(&g.sim_replies))?;
        out.counter("sluice_resumes_started_total", load(&g.resumes_started))?;
        out.counter("sluice_resumes_refused_total", load(&g.resumes_refused))?;
        out.counter("sluice_resumes_completed_total", load(&g.resumes_completed))?;
        let retransmitted = load(&g.outputs_retransmitted);
        out.counter("sluice_outputs_retransmitted_total", retransmitted)?;
        out.histogram(
            "sluice_ack_latency_seconds",
            &self.metrics.ack_latency.read(),
        )?;
        out.counter("sluice_ack_latency_unmatched_total", load(&g.ack_unmatched))
    }
}

fn engine(out: &mut Out, block: &EngineBlock) -> fmt::Result {
    let r = &block.report;
    out.gauge("sluice_engine_stats_seq", r.sequence)?;
    let age = block.published.elapsed().as_secs_f64();
    out.gauge("sluice_engine_stats_age_seconds", age)?;
    out.gauge("sluice_orders", r.orders)?;
    out.counter("sluice_payments_accepted_total", r.accepted)?;
    let rejected = [
        ("validation", r.rejected_invalid),
        ("risk", r.rejected_risk),
    ];
    let rejected = rejected.map(|(cause, n)| ([("cause", cause)], n));
    out.counters("sluice_payments_rejected_total", rejected)?;
    out.counter("sluice_payments_succeeded_total", r.succeeded)?;
    out.counter("sluice_payments_failed_total", r.failed)?;
    out.counter("sluice_payments_failed_over_total", r.failed_over)?;
    out.counter("sluice_payments_reviewed_total", r.reviews)?;
    out.counter("sluice_refunds_succeeded_total", r.refunds_succeeded)?;
    out.counter("sluice_refunds_failed_total", r.refunds_failed)?;
    out.counter("sluice_attempt_timeouts_total", r.timeouts)?;
    out.counter("sluice_withdrawals_total", r.withdrawals)?;
    out.gauge("sluice_unknown_attempts", r.unknown_attempts)?;
    out.counter("sluice_unknown_attempts_resolved_total", r.unknown_resolved)?;
    out.counter("sluice_late_captures_total", r.late_captures)?;
    out.counter("sluice_reversals_total", r.reversals)?;
    out.gauge("sluice_unknown_refunds", r.unknown_refunds)?;
    out.gauge("sluice_receipts", r.receipts)?;
    out.counter("sluice_orders_retired_total", r.orders_retired)?;
    out.counter("sluice_orders_revived_total", r.orders_revived)?;
    out.counter("sluice_receipts_expired_total", r.receipts_expired)?;
    out.counter("sluice_retire_blocked_total", r.retire_blocked)?;
    out.gauge("sluice_ledger_balanced", u64::from(r.ledger_balanced))
}

/// A channel's labels: its id and configured name.
fn channel_labels(id: u16, metrics: &Metrics) -> Labels<2> {
    let name = metrics.names.channels.get(&id).cloned().unwrap_or_default();
    [("channel", id.to_string()), ("name", name)]
}

/// A channel's labels and one more.
fn channel_labels_and(id: u16, metrics: &Metrics, key: &'static str, value: &str) -> Labels<3> {
    let [channel, name] = channel_labels(id, metrics);
    [channel, name, (key, value.to_string())]
}

fn channels(out: &mut Out, r: &StatsReport, metrics: &Metrics) -> fmt::Result {
    let per = |f: &dyn Fn(&ChannelStats) -> u64| -> Vec<(Labels<2>, u64)> {
        let each = r.channels.iter();
        each.map(|c| (channel_labels(c.channel_id, metrics), f(c)))
            .collect()
    };
    // Microseconds to seconds, parts per million to a ratio.
    let millionths = |f: fn(&ChannelStats) -> u32| -> Vec<(Labels<2>, f64)> {
        let each = r.channels.iter();
        each.map(|c| (channel_labels(c.channel_id, metrics), f64::from(f(c)) / 1e6))
            .collect()
    };
    let health = r.channels.iter().flat_map(|c| {
        HealthState::all().map(move |state| {
            let name = state.name().to_lowercase();
            let labels = channel_labels_and(c.channel_id, metrics, "state", &name);
            (labels, u64::from(c.health == state))
        })
    });
    out.gauges("sluice_channel_health", health)?;
    out.counters("sluice_channel_attempts_total", per(&|c| c.attempts))?;
    let outcomes = r.channels.iter().flat_map(|c| {
        let by = [
            ("success", c.successes),
            ("decline", c.declines),
            ("retryable_error", c.retryable_errors),
            ("timeout", c.timeouts),
        ];
        by.map(|(outcome, n)| {
            (
                channel_labels_and(c.channel_id, metrics, "outcome", outcome),
                n,
            )
        })
    });
    out.counters("sluice_channel_attempt_outcomes_total", outcomes)?;
    let ratio = millionths(|c| c.recent_success_rate_ppm);
    out.gauges("sluice_channel_recent_success_ratio", ratio)?;
    out.gauges(
        "sluice_channel_latency_avg_seconds",
        millionths(|c| c.latency_avg_us),
    )?;
    out.gauges(
        "sluice_channel_latency_p99_seconds",
        millionths(|c| c.latency_p99_us),
    )?;
    let changes = per(&|c| u64::from(c.health_changes));
    out.counters("sluice_channel_health_changes_total", changes)
}

fn rules_and_strategies(out: &mut Out, r: &StatsReport, metrics: &Metrics) -> fmt::Result {
    let hits = r.rules.iter().flat_map(|rule| {
        let name = metrics
            .names
            .rules
            .get(&rule.rule_id)
            .cloned()
            .unwrap_or_default();
        let by = [
            ("enforced", rule.enforced_hits),
            ("shadow", rule.shadow_hits),
        ];
        by.map(|(mode, n)| {
            let id = rule.rule_id.to_string();
            (
                [("rule", id), ("name", name.clone()), ("mode", mode.into())],
                n,
            )
        })
    });
    out.counters("sluice_risk_rule_hits_total", hits)?;
    let by_strategy = |f: fn(&sluice_protocol::StrategyStats) -> u64| -> Vec<_> {
        let each = r.strategies.iter();
        each.map(|s| ([("strategy", s.strategy.name().to_string())], f(s)))
            .collect()
    };
    out.counters(
        "sluice_routing_decisions_total",
        by_strategy(|s| s.decisions),
    )?;
    out.counters(
        "sluice_routing_failovers_total",
        by_strategy(|s| s.failovers),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{EngineBlock, Names};
    use sluice_node::follower::Progress;
    use sluice_protocol::{ChannelStats, RuleStats};
    use std::time::Instant;

    #[test]
    fn a_scrape_serves_every_family_once_with_help_type_and_escaped_labels() {
        let mut names = Names::default();
        names.channels.insert(7, "odd \"name\"\\".into());
        let metrics = Metrics::new(names);
        let shared = Shared::new();
        metrics.register_follower("notifier", Arc::new(Progress::default()));
        let mut report = StatsReport {
            accepted: 5,
            ..StatsReport::default()
        };
        report.channels.push(ChannelStats {
            channel_id: 7,
            health: HealthState::Open,
            ..ChannelStats::default()
        });
        report.rules.push(RuleStats {
            rule_id: 3,
            enforced_hits: 2,
            shadow_hits: 0,
        });
        let published = Instant::now();
        *metrics.engine.lock().unwrap() = Some(EngineBlock { report, published });
        metrics.inputs_by_template[10].store(4, Ordering::Relaxed);
        metrics.snapshot_write.observe(3_000_000);
        let text = render(metrics, shared)();
        // No notifier here: its families are served only with `[notify]` on.
        let served = FAMILIES
            .iter()
            .filter(|(name, _)| !name.starts_with("sluice_notify_"));
        for (name, _) in served.clone() {
            let help = format!("# HELP {name} ");
            assert_eq!(text.matches(&help).count(), 1, "{name} once:\n{text}");
            assert!(text.contains(&format!("# TYPE {name} ")), "{name}");
        }
        assert_eq!(text.matches("# HELP ").count(), served.count());
        assert!(
            text.contains("sluice_payments_accepted_total 5\n"),
            "{text}"
        );
        assert!(text.contains("sluice_inputs_total{template=\"PaymentRequest\"} 4\n"));
        let open =
            "sluice_channel_health{channel=\"7\",name=\"odd \\\"name\\\"\\\\\",state=\"open\"} 1\n";
        assert!(text.contains(open), "{text}");
        assert!(text.contains("sluice_snapshot_write_seconds_bucket{le=\"0.005\"} 1\n"));
        assert!(text.contains("sluice_snapshot_write_seconds_bucket{le=\"+Inf\"} 1\n"));
        assert!(text.contains("sluice_snapshot_write_seconds_count 1\n"));
        assert!(text.contains("sluice_follower_lag_inputs{follower=\"notifier\"} 0\n"));
    }
}
