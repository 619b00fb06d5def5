//! What the live threads keep for the metrics, in plain fields of their own, and how they publish
//! it: the gateway's probe (counters, and the ack latency: when each input was sequenced, until
//! its first output) and the processor's (inputs by template, the engine's statistics block).

use sluice_engine::Engine;
use sluice_protocol::ReasonCode;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use super::{
    ACK_LATENCY_BOUNDS_NS, EngineBlock, LocalHistogram, Metrics, REASON_SLOTS, TEMPLATE_SLOTS,
    template_slot,
};
use crate::net::frame_template_id;
use crate::server::GatewayStats;

/// Inputs whose sequencing time the gateway keeps until their first output, by sequence modulo
/// this (a power of two). An input still unanswered when its slot is reused (65 536 inputs
/// later, far beyond the ring and the output chunks in flight) is counted as unmatched.
const SEQUENCED_SLOTS: usize = 1 << 16;
const _: () = assert!(SEQUENCED_SLOTS.is_power_of_two());

/// Inputs (sequenced or answered) one clock reading serves at most before the next is taken.
/// A reading also never outlives the loop turn or the egress drain it was taken in (`tick`): so a
/// stamp is late or early by the handling of 63 inputs at most (microseconds), for a clock read
/// per 64 inputs instead of one per input.
const STAMP_USES: u32 = 64;

/// How often the processor publishes the engine's statistics block, at most.
pub const ENGINE_STATS_EVERY: Duration = Duration::from_millis(250);

/// When an input was sequenced; `seq` 0 marks a free slot (sequences start at 1).
#[derive(Clone, Copy, Default)]
struct Sequenced {
    seq: u64,
    at_ns: u64,
}

/// The gateway's side. Everything here is touched by the gateway thread only; `publish` copies
/// it into `Metrics` (relaxed stores) at the gateway's timer turn.
pub struct GatewayProbe {
    metrics: Arc<Metrics>,
    origin: Instant,
    /// The last clock reading, ns since `origin`, and how many more inputs it may stamp.
    stamp_ns: u64,
    stamp_uses: u32,
    sequenced_at: Box<[Sequenced]>,
    latency: LocalHistogram,
    unmatched: u64,
    rejects_by_reason: Box<[u64; REASON_SLOTS]>,
    outputs_by_template: Box<[u64; TEMPLATE_SLOTS]>,
}

impl GatewayProbe {
    pub fn new(metrics: Arc<Metrics>) -> GatewayProbe {
        GatewayProbe {
            metrics,
            origin: Instant::now(),
            stamp_ns: 0,
            stamp_uses: 0,
            sequenced_at: vec![Sequenced::default(); SEQUENCED_SLOTS].into_boxed_slice(),
            latency: LocalHistogram::new(&ACK_LATENCY_BOUNDS_NS),
            unmatched: 0,
            rejects_by_reason: Box::new([0; REASON_SLOTS]),
            outputs_by_template: Box::new([0; TEMPLATE_SLOTS]),
        }
    }

    /// Now, ns since `origin`: the last reading while it may still be used.
    #[inline]
    fn stamp(&mut self) -> u64 {
        if self.stamp_uses == 0 {
            self.stamp_ns = self.origin.elapsed().as_nanos() as u64;
            self.stamp_uses = STAMP_USES;
        }
        self.stamp_uses -= 1;
        self.stamp_ns
    }

    /// A loop turn (its poll returned) or an egress drain begins: the next stamp reads the clock.
    #[inline]
    pub fn tick(&mut self) {
        self.stamp_uses = 0;
    }

    /// Input `seq` was published into the ring in this turn.
    #[inline]
    pub fn sequenced(&mut self, seq: u64) {
        let i = seq as usize & (SEQUENCED_SLOTS - 1);
        let at_ns = self.stamp();
        self.unmatched += u64::from(self.sequenced_at[i].seq != 0);
        self.sequenced_at[i] = Sequenced { seq, at_ns };
    }

    /// An output of input `seq` is handed to its connection (or the simulator): the first one
    /// is the answer, and its latency is observed.
    #[inline]
    pub fn answered(&mut self, seq: u64) {
        let i = seq as usize & (SEQUENCED_SLOTS - 1);
        if self.sequenced_at[i].seq != seq {
            return;
        }
        self.sequenced_at[i].seq = 0;
        let waited = self.stamp().saturating_sub(self.sequenced_at[i].at_ns);
        self.latency.observe(waited);
    }

    /// A frame is queued to a connection.
    #[inline]
    pub fn sent(&mut self, frame: &[u8]) {
        self.outputs_by_template[template_slot(frame_template_id(frame))] += 1;
    }

    /// The gateway refused a message itself.
    pub fn rejected(&mut self, reason: ReasonCode) {
        self.rejects_by_reason[usize::from(reason.to_wire()).min(REASON_SLOTS - 1)] += 1;
    }

    /// The last sequence published into the ring (whenever the gateway wakes the consumers).
    #[inline]
    pub fn publish_sequenced(&self, seq: u64) {
        self.metrics.sequenced_seq.store(seq, Relaxed);
    }

    /// Copies the gateway's counters and histogram into `Metrics` (relaxed stores; one writer).
    pub fn publish(&self, stats: &GatewayStats, connections_open: usize) {
        let g = &self.metrics.gateway;
        g.connections_open.store(connections_open as u64, Relaxed);
        g.connections_accepted.store(stats.accepted, Relaxed);
        g.connections_refused
            .store(stats.refused_connections, Relaxed);
        g.logins.store(stats.logins, Relaxed);
        g.login_failures.store(stats.login_failures, Relaxed);
        g.ring_full.store(stats.ring_full, Relaxed);
        g.slow_consumers.store(stats.slow_consumers, Relaxed);
        g.outputs_dropped.store(stats.outputs_dropped, Relaxed);
        g.sim_replies.store(stats.sim_replies, Relaxed);
        g.resumes_started.store(stats.resumes_started, Relaxed);
        g.resumes_refused.store(stats.resumes_refused, Relaxed);
        g.resumes_completed.store(stats.resumes_completed, Relaxed);
        g.outputs_retransmitted
            .store(stats.outputs_retransmitted, Relaxed);
        g.ack_unmatched.store(self.unmatched, Relaxed);
        for (shared, &n) in g
            .rejects_by_reason
            .iter()
            .zip(self.rejects_by_reason.iter())
        {
            shared.store(n, Relaxed);
        }
        for (shared, &n) in g
            .outputs_by_template
            .iter()
            .zip(self.outputs_by_template.iter())
        {
            shared.store(n, Relaxed);
        }
        self.metrics.ack_latency.store(&self.latency);
    }
}

/// The processor's side: inputs by template in a plain array, stored into `Metrics` at the end
/// of each batch (only the templates the batch saw), and the engine's statistics block at most
/// every `ENGINE_STATS_EVERY`.
pub struct ProcessorProbe {
    metrics: Arc<Metrics>,
    counts: [u64; TEMPLATE_SLOTS],
    /// Bit i: template slot i was counted since the last store.
    touched: u128,
    stats_due: Instant,
}

const _: () = assert!(TEMPLATE_SLOTS <= u128::BITS as usize);

impl ProcessorProbe {
    pub fn new(metrics: Arc<Metrics>) -> ProcessorProbe {
        ProcessorProbe {
            metrics,
            counts: [0; TEMPLATE_SLOTS],
            touched: 0,
            stats_due: Instant::now(),
        }
    }

    /// One input of template `kind` was applied.
    #[inline]
    pub fn count(&mut self, kind: u16) {
        let slot = template_slot(kind);
        self.counts[slot] += 1;
        self.touched |= 1 << slot;
    }

    /// The end of a batch: stores the counts it changed, and the statistics block when due.
    #[inline]
    pub fn end_batch(&mut self, engine: &Engine) {
        let mut touched = std::mem::take(&mut self.touched);
        while touched != 0 {
            let slot = touched.trailing_zeros() as usize;
            touched &= touched - 1;
            self.metrics.inputs_by_template[slot].store(self.counts[slot], Relaxed);
        }
        let now = Instant::now();
        if now >= self.stats_due {
            self.publish_stats(engine, now);
        }
    }

    /// Puts the engine's statistics block where the metrics thread reads it, unless that thread
    /// holds it now (then the next batch tries again): the processor never waits for a scrape.
    #[cold]
    fn publish_stats(&mut self, engine: &Engine, now: Instant) {
        let Ok(mut block) = self.metrics.engine.try_lock() else {
            return;
        };
        *block = Some(EngineBlock {
            report: engine.stats_counters(engine.last_seq()),
            published: now,
        });
        self.stats_due = now + ENGINE_STATS_EVERY;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Names;

    #[test]
    fn the_first_output_of_an_input_is_its_answer_and_a_reused_slot_is_unmatched() {
        let metrics = Metrics::new(Names::default());
        let mut probe = GatewayProbe::new(metrics.clone());
        probe.tick();
        probe.sequenced(1);
        probe.sequenced(2);
        probe.answered(1);
        probe.answered(1);
        probe.answered(3);
        assert_eq!(
            probe.latency.count(),
            1,
            "one answer per input, none for the unknown"
        );
        probe.sequenced(2 + SEQUENCED_SLOTS as u64);
        probe.answered(2);
        assert_eq!((probe.latency.count(), probe.unmatched), (1, 1));
        probe.answered(2 + SEQUENCED_SLOTS as u64);
        probe.publish(&GatewayStats::default(), 3);
        assert_eq!(metrics.ack_latency.read().count, 2);
        assert_eq!(metrics.gateway.ack_unmatched.load(Relaxed), 1);
        assert_eq!(metrics.gateway.connections_open.load(Relaxed), 3);
    }
}
