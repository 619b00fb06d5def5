//! The sequencer: the ring's single producer. It gives every input its sequence number and its
//! event time — `max(last stamp, clock)`, so time never goes back, also across restarts — and
//! publishes it; it injects a Pulse every `pulse_interval_ms`, and at once when a scripted clock
//! jumps (docs/ARCHITECTURE.md, "The clock").

use std::time::{Duration, Instant};

use sluice_engine::{ENVELOPE_LEN, ROLE_SEQUENCER, write_envelope};
use sluice_node::Clock;
use sluice_protocol::{Message, Pulse, encode_sbe};

use crate::pipeline::{InputSlot, RingProducer, SLOT_PAYLOAD_BYTES};

/// Bytes of a Pulse's SBE message.
const PULSE_SBE_MAX: usize = 16;

pub struct Sequencer {
    /// The sequence the next input gets.
    pub next_seq: u64,
    last_ts: u64,
    /// Inputs published since start.
    pub published: u64,
    clock: Clock,
    /// `clock.jumps()` when the sequencer last pulsed.
    clock_jumps: u64,
    pulse_every: Duration,
    last_pulse: Instant,
    pulse: ([u8; PULSE_SBE_MAX], usize),
}

impl Sequencer {
    /// A sequencer whose next input is `next_seq`, after a journal whose last stamp is `last_ts`.
    pub fn new(next_seq: u64, last_ts: u64, clock: Clock, pulse_every: Duration) -> Sequencer {
        let mut pulse = [0u8; PULSE_SBE_MAX];
        let len = encode_sbe(&Pulse { flags: 0 }, &mut pulse).expect("a Pulse fits 16 bytes");
        Sequencer {
            next_seq,
            last_ts,
            published: 0,
            clock_jumps: clock.jumps(),
            clock,
            pulse_every,
            last_pulse: Instant::now(),
            pulse: (pulse, len),
        }
    }

    /// The event time an input published now would carry (the clock, never behind the last
    /// stamp): what logins and rotation windows are judged by, as the engine judges them.
    pub fn event_time_ns(&self) -> u64 {
        self.last_ts.max(self.clock.now_ns())
    }

    /// Publishes one input (its SBE message, from a sender). False when the ring is full
    /// (nothing was consumed: the caller retries later).
    pub fn publish(
        &mut self,
        producer: &mut RingProducer,
        sbe: &[u8],
        session_id: u64,
        principal: u32,
        role: u8,
        kind: u16,
    ) -> bool {
        // The gateway refuses frames over the inbound maximum before they get here.
        assert!(
            sbe.len() + ENVELOPE_LEN <= SLOT_PAYLOAD_BYTES,
            "an input of {} bytes does not fit a ring slot",
            sbe.len()
        );
        let seq = self.next_seq;
        let ts = self.event_time_ns();
        let published = disruptor::Producer::try_publish(producer, |slot: &mut InputSlot| {
            slot.seq = seq;
            slot.timestamp_ns = ts;
            slot.kind = kind;
            write_envelope(&mut slot.payload, session_id, principal, role);
            let end = ENVELOPE_LEN + sbe.len();
            slot.payload[ENVELOPE_LEN..end].copy_from_slice(sbe);
            slot.len = end as u16;
        });
        if published.is_err() {
            return false;
        }
        self.next_seq += 1;
        self.last_ts = ts;
        self.published += 1;
        true
    }

    /// Publishes a Pulse if one is due at `now`: the interval has passed, or the clock jumped.
    pub fn maybe_pulse(&mut self, producer: &mut RingProducer, now: Instant) {
        let jumps = self.clock.jumps();
        if now.saturating_duration_since(self.last_pulse) < self.pulse_every
            && jumps == self.clock_jumps
        {
            return;
        }
        let (pulse, len) = self.pulse;
        if self.publish(
            producer,
            &pulse[..len],
            0,
            0,
            ROLE_SEQUENCER,
            Pulse::TEMPLATE_ID,
        ) {
            self.last_pulse = now;
            self.clock_jumps = jumps;
        }
    }

    /// How long until the next periodic pulse is due.
    pub fn until_pulse(&self, now: Instant) -> Duration {
        self.pulse_every
            .saturating_sub(now.saturating_duration_since(self.last_pulse))
    }
}
