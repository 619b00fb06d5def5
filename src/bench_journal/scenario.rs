//! A realistic engine journal: Genesis and the business world of the embedded default
//! configuration, then payments from the shared workload (`sluice-workload`), channel results
//! (mostly successes, some declines, rare retryable errors that fail over), refunds and their
//! results, order queries and a pulse every 10 ms of event time — each input journaled exactly as
//! the server does while a live engine answers it, and a snapshot taken halfway.

use sluice_engine::driver::Driver;
use sluice_engine::{ENVELOPE_LEN, ROLE_SEQUENCER, StateHash};
use sluice_gateway::config::Config;
use sluice_journal::{Durability, JournalConfig, JournalWriter, RECORD_HEADER_LEN_BYTES};
use sluice_node::recovery::encode_input;
use sluice_protocol::*;
use sluice_workload::Workload;
use std::collections::VecDeque;
use std::path::Path;
use std::time::Instant;

use super::err;

/// Event time between inputs: 50,000 inputs per second of event time.
pub(super) const STEP_NS: u64 = 20_000;
const PULSE_NS: u64 = 10_000_000;
/// Dispatches and refund dispatches left unanswered at any time (in flight at the channels).
const IN_FLIGHT: usize = 32;
const REFUNDS_IN_FLIGHT: usize = 8;
const ACQUIRER_SESSION: u64 = 1_000;
const ADMIN_SESSION: u64 = 1;

/// Inputs of each kind in the generated journal.
#[derive(Default, Debug, Clone, Copy)]
pub(super) struct Mix {
    pub payments: u64,
    pub channel_results: u64,
    pub refunds: u64,
    pub refund_results: u64,
    pub queries: u64,
    pub pulses: u64,
    pub config: u64,
}

/// A snapshot taken while generating.
pub(super) struct MidSnapshot {
    pub seq: u64,
    pub hash: StateHash,
    pub payload: sluice_journal::AlignedVec,
}

/// Generates inputs, journals them and applies them to a live engine whose outputs decide what
/// comes next (channel results answer real dispatches, refunds refer to real successes).
struct Generator {
    driver: Driver,
    writer: JournalWriter,
    buf: Vec<u8>,
    /// The shared payment workload (its generator also decides outcomes and queries).
    workload: Workload,
    dispatches: VecDeque<Dispatch>,
    refund_dispatches: VecDeque<RefundDispatch>,
    /// Succeeded payments waiting to be refunded.
    refundable: u64,
    next_pulse_ns: u64,
    mix: Mix,
    /// Journal bytes written (record headers and padding included).
    journal_bytes: u64,
}

impl Generator {
    fn new(journal_dir: &Path, orders_max: u64) -> Result<Generator, String> {
        let config = JournalConfig {
            segment_size_bytes: JournalConfig::DEFAULT_SEGMENT_SIZE_BYTES,
            durability: Durability::None,
        };
        let (mut writer, _) = JournalWriter::open(journal_dir, config).map_err(err)?;
        let genesis = world_genesis(orders_max)?;
        let driver = Driver::new(&genesis, START_NS).map_err(err)?;
        let mut buf = vec![0u8; ENVELOPE_LEN + MAX_FRAME_BYTES];
        let len = encode_input(&mut buf, 0, 0, ROLE_SEQUENCER, &genesis);
        writer
            .append(1, START_NS, Genesis::TEMPLATE_ID, &buf[..len])
            .map_err(err)?;
        Ok(Generator {
            driver,
            writer,
            buf,
            workload: Workload::new(7, 0),
            dispatches: VecDeque::new(),
            refund_dispatches: VecDeque::new(),
            refundable: 0,
            next_pulse_ns: START_NS + PULSE_NS,
            mix: Mix::default(),
            journal_bytes: record_bytes(len),
        })
    }

    /// Journals the SBE bytes in `self.buf` (after the envelope) and applies them.
    fn journal_and_apply(
        &mut self,
        kind: u16,
        len: usize,
        sender: (u64, u32, u8),
    ) -> Result<(), String> {
        let (seq, now) = (self.driver.next_seq(), self.driver.now_ns());
        self.writer
            .append(seq, now, kind, &self.buf[..len])
            .map_err(err)?;
        self.journal_bytes += record_bytes(len);
        let (session, principal, role) = sender;
        let sbe = &self.buf[ENVELOPE_LEN..len];
        let out = self.driver.apply_raw(session, principal, role, sbe);
        for r in out.iter() {
            match decode_any_frame(r.frame) {
                Ok(AnyMessage::Dispatch(d)) => self.dispatches.push_back(d),
                Ok(AnyMessage::RefundDispatch(d)) => self.refund_dispatches.push_back(d),
                // One success in ten is refunded later (in full or for 30%), by its acquirer.
                Ok(AnyMessage::PaymentResult(p))
                    if p.status == FinalStatus::Succeeded && p.order_id.is_multiple_of(10) =>
                {
                    let acquirer = r.dest.principal_id as usize;
                    self.workload
                        .succeeded(p.request_id, p.amount_minor, acquirer);
                    self.refundable += 1;
                }
                _ => {}
            }
        }
        self.driver.advance_ns(STEP_NS);
        if seq.is_multiple_of(64) {
            self.writer.commit().map_err(err)?;
        }
        Ok(())
    }

    fn input<M: Message>(&mut self, sender: (u64, u32, u8), msg: &M) -> Result<(), String> {
        let len = encode_input(&mut self.buf, sender.0, sender.1, sender.2, msg);
        self.journal_and_apply(M::TEMPLATE_ID, len, sender)
    }

    fn configure(&mut self) -> Result<(), String> {
        for m in world_config() {
            let sender = (ADMIN_SESSION, 1, Role::Admin as u8);
            sluice_engine::write_envelope(&mut self.buf, sender.0, sender.1, sender.2);
            let len = ENVELOPE_LEN + m.encode_sbe(&mut self.buf[ENVELOPE_LEN..]).map_err(err)?;
            self.journal_and_apply(m.template_id(), len, sender)?;
            self.mix.config += 1;
        }
        Ok(())
    }

    /// The next input of the mix.
    fn step(&mut self) -> Result<(), String> {
        if self.driver.now_ns() >= self.next_pulse_ns {
            self.next_pulse_ns += PULSE_NS;
            self.mix.pulses += 1;
            return self.input((0, 0, ROLE_SEQUENCER), &Pulse { flags: 0 });
        }
        if self.dispatches.len() > IN_FLIGHT {
            return self.channel_result();
        }
        if self.refund_dispatches.len() > REFUNDS_IN_FLIGHT {
            return self.refund_result();
        }
        if self.refundable > 16 {
            return self.refund();
        }
        let payments = self.workload.payments();
        if self.workload.rng().next_u64().is_multiple_of(20) && payments > 0 {
            let order_id = 1 + self.workload.rng().below(payments);
            self.mix.queries += 1;
            let q = QueryOrder {
                order_id,
                request_id: 0,
            };
            return self.input((ADMIN_SESSION, 1, Role::Admin as u8), &q);
        }
        self.payment()
    }

    fn payment(&mut self) -> Result<(), String> {
        self.mix.payments += 1;
        let p = self.workload.payment(&MERCHANTS);
        self.input(acquirer_sender(acquirer_of(p.merchant_id)), &p)
    }

    fn channel_result(&mut self) -> Result<(), String> {
        let Some(d) = self.dispatches.pop_front() else {
            return Ok(());
        };
        self.mix.channel_results += 1;
        let r = self.workload.rng().below(100_000);
        // 96% succeed, 4% are declined; one in 50,000 is a retryable error that fails over (rare
        // enough that the channels stay healthy, as in production).
        let outcome = match r {
            0 => ChannelOutcome::RetryableError,
            1..4_000 => ChannelOutcome::Declined,
            _ => ChannelOutcome::Succeeded,
        };
        let res = ChannelResult {
            order_id: d.order_id,
            attempt: d.attempt,
            outcome,
            channel_code: 0,
            latency_us: 800 + (r % 2_000) as u32,
            channel_ref: Chars::new("ch-ref-000001"),
        };
        self.input(channel_sender(d.channel_id), &res)
    }

    fn refund(&mut self) -> Result<(), String> {
        let Some((r, acquirer)) = self.workload.refund() else {
            return Ok(());
        };
        self.refundable -= 1;
        self.mix.refunds += 1;
        self.input(acquirer_sender(acquirer as u32), &r)
    }

    fn refund_result(&mut self) -> Result<(), String> {
        let Some(d) = self.refund_dispatches.pop_front() else {
            return Ok(());
        };
        self.mix.refund_results += 1;
        let res = RefundChannelResult {
            refund_id: d.refund_id,
            outcome: ChannelOutcome::Succeeded,
            channel_code: 0,
            latency_us: 900,
            channel_ref: Chars::new("rf-ref-000001"),
        };
        self.input(channel_sender(d.channel_id), &res)
    }
}

/// Bytes a record of `payload_len` takes in a segment.
fn record_bytes(payload_len: usize) -> u64 {
    (RECORD_HEADER_LEN_BYTES + payload_len as u64).next_multiple_of(8)
}

pub(super) fn acquirer_sender(acquirer: u32) -> (u64, u32, u8) {
    (
        ACQUIRER_SESSION * u64::from(acquirer),
        acquirer,
        Role::Acquirer as u8,
    )
}

pub(super) fn channel_sender(channel: u16) -> (u64, u32, u8) {
    (
        900_000 + u64::from(channel),
        u32::from(channel),
        Role::Channel as u8,
    )
}

// The business world of the embedded default configuration (gateway/src/default_config.toml):
// acquirer 1's shop 1001 and retail chain 1002 (headquarters) → 1003 (branch) → 1004
// (distributor), acquirer 2's shop 2001, promoter 501 (brought by 502).
const ACQUIRER_A: u32 = 1;
const ACQUIRER_B: u32 = 2;
const OTHER_SHOP: u32 = 2001;
/// The merchants paid: acquirer A's four and acquirer B's shop.
pub(super) const MERCHANTS: [u32; 5] = [1001, 1002, 1003, 1004, OTHER_SHOP];
/// 2026-11-26 00:00:00 UTC+8 in ns since the epoch.
pub(super) const START_NS: u64 = 1_764_086_400_000_000_000;

/// The default configuration's Genesis, with room for `orders_max` orders (and refunds of half
/// of them).
pub(super) fn world_genesis(orders_max: u64) -> Result<Genesis, String> {
    let mut genesis = Config::default_config().world.genesis;
    genesis.orders_max = u32::try_from(orders_max).map_err(err)?;
    genesis.refunds_max = genesis.refunds_max.max(genesis.orders_max / 2 + 16);
    Ok(genesis)
}

/// The default configuration's business world as admin inputs.
pub(super) fn world_config() -> Vec<AnyMessage> {
    let world = Config::default_config().world;
    world.inputs.into_iter().map(|i| i.message).collect()
}

pub(super) fn acquirer_of(merchant_id: u32) -> u32 {
    if merchant_id == OTHER_SHOP {
        ACQUIRER_B
    } else {
        ACQUIRER_A
    }
}

/// The generated journal: where it is, its last sequence, the final state hash, the snapshot.
pub(super) struct Generated {
    pub last_seq: u64,
    pub final_hash: StateHash,
    pub mid: MidSnapshot,
    pub mix: Mix,
    pub journal_bytes: u64,
    pub seconds: f64,
}

pub(super) fn generate(data_dir: &Path, events: u64) -> Result<Generated, String> {
    let started = Instant::now();
    let journal_dir = sluice_journal::journal_dir(data_dir);
    // About 40% of the inputs are payments; leave room for all of them.
    let mut g = Generator::new(&journal_dir, events / 2 + 1_000)?;
    g.configure()?;
    let mut mid = None;
    while g.driver.next_seq() <= events {
        if mid.is_none() && g.driver.next_seq() > events / 2 {
            let (hash, payload) = g.driver.engine.snapshot();
            let seq = g.driver.engine.last_seq();
            mid = Some(MidSnapshot { seq, hash, payload });
        }
        g.step()?;
    }
    g.writer.commit().map_err(err)?;
    let mid = mid.ok_or("too few events for a snapshot halfway")?;
    let summary = g.driver.engine.summary();
    if summary.orders < g.mix.payments * 9 / 10 {
        return Err(format!(
            "generated journal is unrealistic: {} payments made only {} orders",
            g.mix.payments, summary.orders
        ));
    }
    let journal_bytes = g.journal_bytes;
    Ok(Generated {
        last_seq: g.driver.engine.last_seq(),
        final_hash: g.driver.engine.state_hash(),
        mid,
        mix: g.mix,
        journal_bytes,
        seconds: started.elapsed().as_secs_f64(),
    })
}
