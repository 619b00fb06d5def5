//! One engine on the small world, driven as the pipeline drives it (a sequence, an event time and an
//! envelope per input, through `Engine::apply_record`), with the invariants checked after every
//! input and what the outputs say (dispatches pending, payments paid, refunds at a channel) kept
//! in small bounded lists so that the next messages can answer them.

use std::cell::RefCell;
use std::sync::OnceLock;

use sluice_engine::{
    ENVELOPE_LEN, Engine, MAX_OUTPUT_BYTES_PER_INPUT, OutRecord, Outbox, ROLE_SEQUENCER,
    write_envelope,
};
use sluice_protocol::*;

use crate::track::Track;
use crate::world;

/// Event time that passes with every input, ns (pulses move it further).
const STEP_NS: u64 = 100_000;
/// Admin session and principal.
pub const ADMIN_ID: u32 = 1;

/// Who sends an input: the envelope's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sender {
    pub session_id: u64,
    pub principal_id: u32,
    pub role: u8,
}

impl Sender {
    /// Acquirer `id`'s session (`alt` picks its second session).
    pub fn acquirer(id: u32, alt: bool) -> Sender {
        Sender {
            session_id: u64::from(id) * 1_000 + u64::from(alt),
            principal_id: id,
            role: Role::Acquirer as u8,
        }
    }

    pub fn channel(id: u16) -> Sender {
        Sender {
            session_id: 900_000 + u64::from(id),
            principal_id: u32::from(id),
            role: Role::Channel as u8,
        }
    }

    pub fn admin() -> Sender {
        Sender {
            session_id: 1,
            principal_id: ADMIN_ID,
            role: Role::Admin as u8,
        }
    }

    pub fn sequencer() -> Sender {
        Sender {
            session_id: 0,
            principal_id: 0,
            role: ROLE_SEQUENCER,
        }
    }
}

/// Built once per process: the Genesis and every configuration input, already encoded.
struct Setup {
    genesis: Genesis,
    /// Envelope (admin) + SBE of each configuration message.
    config_payloads: Vec<Vec<u8>>,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let admin = Sender::admin();
        let config_payloads = world::config_messages()
            .iter()
            .map(|m| {
                let mut p = vec![0u8; ENVELOPE_LEN + MAX_FRAME_BYTES];
                write_envelope(&mut p, admin.session_id, admin.principal_id, admin.role);
                let n = m
                    .encode_sbe(&mut p[ENVELOPE_LEN..])
                    .expect("a config message fits a frame");
                p.truncate(ENVELOPE_LEN + n);
                p
            })
            .collect();
        Setup {
            genesis: world::genesis(),
            config_payloads,
        }
    })
}

pub struct Harness {
    pub engine: Engine,
    outbox: Outbox,
    payload: Vec<u8>,
    next_seq: u64,
    now_ns: u64,
    pub track: Track,
    /// When set, every input and output is written here (for explaining an input).
    trace: Option<Vec<String>>,
}

impl Harness {
    /// A fresh engine on the configured world.
    pub fn new() -> Harness {
        let mut h = Harness {
            engine: fresh_engine(),
            // Exactly the per-input bound: an input that needs more makes the outbox grow, which
            // `check_outputs` refuses.
            outbox: Outbox::with_capacity(MAX_OUTPUT_BYTES_PER_INPUT),
            payload: vec![0u8; ENVELOPE_LEN + MAX_FRAME_BYTES],
            next_seq: 2,
            now_ns: world::START_NS,
            track: Track::default(),
            trace: None,
        };
        h.configure();
        h
    }

    /// Puts the harness back to a fresh engine on the configured world, keeping its buffers.
    pub fn reset(&mut self) {
        self.engine = fresh_engine();
        self.next_seq = 2;
        self.now_ns = world::START_NS;
        self.configure();
    }

    /// Applies the world's configuration inputs. Configuration moves no money, so the ledger is
    /// verified once at the end, and only the ConfigAcks are read (each must accept).
    fn configure(&mut self) {
        for p in &setup().config_payloads {
            let seq = self.next_seq;
            self.now_ns += STEP_NS;
            self.outbox.clear();
            let applied = self
                .engine
                .apply_record(seq, self.now_ns, p, &mut self.outbox);
            assert_eq!(applied, Ok(()), "configuration input {seq} refused");
            self.next_seq += 1;
            let ack = self
                .outbox
                .iter()
                .next()
                .map(|r| decode_frame::<ConfigAck>(r.frame));
            assert!(
                matches!(
                    ack,
                    Some(Ok(ConfigAck {
                        status: AckStatus::Accepted,
                        ..
                    }))
                ),
                "the world's configuration input {seq} was not accepted: {ack:?}"
            );
        }
        if let Err(why) = self.engine.verify_ledger() {
            panic!("ledger invalid after the configuration: {why}");
        }
        self.track.clear();
    }

    /// Starts writing every input and output to a trace.
    pub fn start_trace(&mut self) {
        self.trace = Some(Vec::new());
    }

    pub fn take_trace(&mut self) -> Vec<String> {
        self.trace.take().unwrap_or_default()
    }

    pub fn now_ns(&self) -> u64 {
        self.now_ns
    }

    /// Moves event time forward.
    pub fn advance_ns(&mut self, ns: u64) {
        self.now_ns = self.now_ns.saturating_add(ns);
    }

    /// Sends a message.
    pub fn send<M: Message>(&mut self, who: Sender, msg: &M) {
        write_envelope(
            &mut self.payload,
            who.session_id,
            who.principal_id,
            who.role,
        );
        let n = encode_sbe(msg, &mut self.payload[ENVELOPE_LEN..]).expect("a message fits a frame");
        self.apply(ENVELOPE_LEN + n);
    }

    /// Sends raw SBE bytes (at most a frame's worth).
    pub fn send_raw(&mut self, who: Sender, sbe: &[u8]) {
        let sbe = &sbe[..sbe.len().min(MAX_FRAME_BYTES)];
        write_envelope(
            &mut self.payload,
            who.session_id,
            who.principal_id,
            who.role,
        );
        self.payload[ENVELOPE_LEN..ENVELOPE_LEN + sbe.len()].copy_from_slice(sbe);
        self.apply(ENVELOPE_LEN + sbe.len());
    }

    /// Sends a payload shorter than an envelope (the engine must refuse it, changing nothing).
    pub fn send_without_envelope(&mut self, bytes: &[u8]) {
        let bytes = &bytes[..bytes.len().min(ENVELOPE_LEN - 1)];
        let before = self.engine.last_seq();
        let got = self
            .engine
            .apply_record(self.next_seq, self.now_ns, bytes, &mut self.outbox);
        assert!(
            got.is_err(),
            "a payload of {} bytes has no envelope",
            bytes.len()
        );
        assert_eq!(
            self.engine.last_seq(),
            before,
            "a refused record changed the sequence"
        );
        if let Some(t) = self.trace.as_mut() {
            t.push(format!(
                "#- a payload of {} bytes, no envelope: {got:?}",
                bytes.len()
            ));
        }
    }

    /// Applies `payload[..len]` as the next input and checks everything that must hold after it.
    fn apply(&mut self, len: usize) {
        let seq = self.next_seq;
        self.now_ns = self.now_ns.saturating_add(STEP_NS);
        self.outbox.clear();
        let applied =
            self.engine
                .apply_record(seq, self.now_ns, &self.payload[..len], &mut self.outbox);
        assert_eq!(applied, Ok(()), "input {seq} refused");
        self.next_seq += 1;
        if let Err(why) = self.engine.verify_ledger() {
            panic!("ledger invalid after input {seq}: {why}");
        }
        if self.trace.is_some() {
            self.trace_input(seq, len);
        }
        self.check_outputs(seq);
    }

    /// Checks the outputs of input `seq` and notes what they say.
    fn check_outputs(&mut self, seq: u64) {
        let used = self.outbox.len_bytes();
        assert!(
            used <= MAX_OUTPUT_BYTES_PER_INPUT,
            "input {seq} produced {used} bytes of output, over the bound of {MAX_OUTPUT_BYTES_PER_INPUT}"
        );
        let mut seen = 0usize;
        for rec in self.outbox.iter() {
            seen += 1;
            let msg = check_record(seq, &rec);
            if let Some(t) = self.trace.as_mut() {
                t.push(format!("    -> {:?}: {msg:?}", rec.dest));
            }
            self.track.observe(&rec, &msg);
        }
        assert_eq!(
            seen,
            self.outbox.len(),
            "input {seq}: unreadable output records"
        );
    }

    fn trace_input(&mut self, seq: u64, len: usize) {
        let payload = &self.payload[..len];
        let env = sluice_engine::read_envelope(payload).expect("the harness writes an envelope");
        let what = match decode_any_sbe(env.sbe) {
            Ok(m) => format!("{m:?}"),
            Err(e) => format!("raw {:02x?} ({e})", env.sbe),
        };
        let ms = (self.now_ns - world::START_NS) as f64 / 1e6;
        let line = format!(
            "#{seq} t+{ms:.1}ms session {} principal {} role {}: {what}",
            env.session_id, env.principal_id, env.role
        );
        if let Some(t) = self.trace.as_mut() {
            t.push(line);
        }
    }
}

impl Default for Harness {
    fn default() -> Self {
        Harness::new()
    }
}

/// An engine built from the world's Genesis (sequence 1), not yet configured.
fn fresh_engine() -> Engine {
    Engine::new(&setup().genesis, world::START_NS).expect("the world's genesis is valid")
}

/// One output: caused by this input, a whole frame that decodes.
fn check_record(seq: u64, rec: &OutRecord<'_>) -> AnyMessage {
    assert_eq!(
        rec.input_seq, seq,
        "an output of input {seq} is tagged {}",
        rec.input_seq
    );
    assert!(
        rec.frame.len() <= MAX_FRAME_BYTES,
        "an output frame of {} bytes",
        rec.frame.len()
    );
    assert_eq!(
        frame_length(rec.frame, MAX_FRAME_BYTES),
        Ok(Some(rec.frame.len())),
        "an output frame's header does not match its length"
    );
    match decode_any_frame(rec.frame) {
        Ok(msg) => msg,
        Err(e) => panic!("input {seq}: an output does not decode: {e}"),
    }
}

/// Runs `f` with this thread's harness, reset to a fresh engine on the configured world.
pub fn with_fresh<R>(f: impl FnOnce(&mut Harness) -> R) -> R {
    thread_local! {
        static HARNESS: RefCell<Option<Harness>> = const { RefCell::new(None) };
    }
    HARNESS.with(|cell| {
        let mut slot = cell.borrow_mut();
        match slot.as_mut() {
            Some(h) => h.reset(),
            None => *slot = Some(Harness::new()),
        }
        f(slot.as_mut().expect("set just above"))
    })
}
