//! Drives an engine the way the pipeline does: stamps sequences and times, wraps messages in the
//! input envelope, collects outputs. Used by tests, benchmarks and tools; the live server has its
//! own pipeline but feeds the engine exactly the same bytes.

use sluice_protocol::{AnyMessage, Genesis, Message, Pulse, Role, decode_any_frame, encode_sbe};

use crate::core::{ApplyError, Engine};
use crate::input::{ENVELOPE_LEN, ROLE_SEQUENCER, write_envelope};
use crate::outbox::{Dest, Outbox};

/// Outbox reserve for a driver (plenty for one input).
const OUTBOX_BYTES: usize = 1 << 20;

/// An engine with a sequencer of its own.
pub struct Driver {
    pub engine: Engine,
    next_seq: u64,
    now_ns: u64,
    outbox: Outbox,
    payload: Vec<u8>,
}

impl Driver {
    /// A new engine from `genesis` at event time `start_ns` (Genesis is sequence 1).
    pub fn new(genesis: &Genesis, start_ns: u64) -> Result<Driver, ApplyError> {
        Ok(Driver {
            engine: Engine::new(genesis, start_ns)?,
            next_seq: 2,
            now_ns: start_ns,
            outbox: Outbox::with_capacity(OUTBOX_BYTES),
            payload: vec![0u8; ENVELOPE_LEN + sluice_protocol::MAX_FRAME_BYTES],
        })
    }

    /// A driver over `engine` (this one's state restored from a snapshot, say), at this one's
    /// next sequence and event time.
    pub fn twin(&self, engine: Engine) -> Driver {
        Driver {
            engine,
            next_seq: self.next_seq,
            now_ns: self.now_ns,
            outbox: Outbox::with_capacity(OUTBOX_BYTES),
            payload: vec![0u8; ENVELOPE_LEN + sluice_protocol::MAX_FRAME_BYTES],
        }
    }

    /// Event time of the next input.
    pub fn now_ns(&self) -> u64 {
        self.now_ns
    }

    /// Moves event time forward (never back).
    pub fn advance_ns(&mut self, ns: u64) {
        self.now_ns += ns;
    }

    /// Sets event time (not before the current time).
    pub fn set_time_ns(&mut self, ns: u64) {
        self.now_ns = self.now_ns.max(ns);
    }

    /// The sequence the next input will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Applies a message from a sender; the outputs stay in `outbox()` until the next input.
    pub fn apply<M: Message>(
        &mut self,
        session_id: u64,
        principal_id: u32,
        role: u8,
        msg: &M,
    ) -> &Outbox {
        write_envelope(&mut self.payload, session_id, principal_id, role);
        // The payload has room for MAX_FRAME_BYTES after the envelope: any message fits.
        let len = encode_sbe(msg, &mut self.payload[ENVELOPE_LEN..])
            .expect("a message fits the driver's payload buffer");
        self.apply_payload(ENVELOPE_LEN + len)
    }

    /// Applies `payload[..len]` (envelope + SBE) as the next input.
    fn apply_payload(&mut self, len: usize) -> &Outbox {
        self.outbox.clear();
        // The driver sequences inputs itself and writes the envelope, so a gap or a missing
        // envelope would be a bug in the driver.
        let applied = self.engine.apply_record(
            self.next_seq,
            self.now_ns,
            &self.payload[..len],
            &mut self.outbox,
        );
        assert!(applied.is_ok(), "driver input refused: {applied:?}");
        self.next_seq += 1;
        &self.outbox
    }

    /// Applies a decoded message of any kind (configuration lists, replays of captured traffic).
    pub fn apply_any(
        &mut self,
        session_id: u64,
        principal_id: u32,
        role: u8,
        msg: &AnyMessage,
    ) -> &Outbox {
        let mut sbe = [0u8; sluice_protocol::MAX_FRAME_BYTES];
        let len = msg
            .encode_sbe(&mut sbe)
            .expect("a message fits MAX_FRAME_BYTES");
        self.apply_raw(session_id, principal_id, role, &sbe[..len])
    }

    /// Applies every configuration message as an admin; returns the refusals (template, text).
    pub fn configure(&mut self, messages: &[AnyMessage]) -> Vec<String> {
        let mut refusals = Vec::new();
        for m in messages {
            self.apply_any(1, 1, Role::Admin as u8, m);
            for (_, out) in self.decoded() {
                if let AnyMessage::ConfigAck(ack) = out
                    && ack.status != sluice_protocol::AckStatus::Accepted
                {
                    refusals.push(format!(
                        "{} {}: {:?} {}",
                        m.name(),
                        ack.object_id,
                        ack.reason,
                        ack.text
                    ));
                }
            }
        }
        refusals
    }

    /// Applies raw SBE bytes (for malformed-input tests; at most `MAX_FRAME_BYTES`).
    pub fn apply_raw(
        &mut self,
        session_id: u64,
        principal_id: u32,
        role: u8,
        sbe: &[u8],
    ) -> &Outbox {
        write_envelope(&mut self.payload, session_id, principal_id, role);
        let len = ENVELOPE_LEN + sbe.len();
        self.payload[ENVELOPE_LEN..len].copy_from_slice(sbe);
        self.apply_payload(len)
    }

    /// A pulse from the sequencer.
    pub fn pulse(&mut self) -> &Outbox {
        self.apply(0, 0, ROLE_SEQUENCER, &Pulse { flags: 0 })
    }

    /// The last input's outputs.
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// The last input's outputs, decoded (allocates: tests and tools only).
    pub fn decoded(&self) -> Vec<(Dest, AnyMessage)> {
        self.outbox
            .iter()
            .filter_map(|r| decode_any_frame(r.frame).ok().map(|m| (r.dest, m)))
            .collect()
    }

    /// Applies a message as an acquirer and returns the decoded outputs.
    pub fn acquirer<M: Message>(&mut self, acquirer_id: u32, msg: &M) -> Vec<(Dest, AnyMessage)> {
        self.apply(
            u64::from(acquirer_id) * 1000,
            acquirer_id,
            Role::Acquirer as u8,
            msg,
        );
        self.decoded()
    }

    /// Applies a message as a channel connector and returns the decoded outputs.
    pub fn channel<M: Message>(&mut self, channel_id: u16, msg: &M) -> Vec<(Dest, AnyMessage)> {
        self.apply(
            900_000 + u64::from(channel_id),
            u32::from(channel_id),
            Role::Channel as u8,
            msg,
        );
        self.decoded()
    }

    /// Applies a message as an admin and returns the decoded outputs.
    pub fn admin<M: Message>(&mut self, msg: &M) -> Vec<(Dest, AnyMessage)> {
        self.apply(1, 1, Role::Admin as u8, msg);
        self.decoded()
    }
}
