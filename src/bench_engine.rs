//! `sluice bench engine`: a generated mixed workload through the engine alone.
//!
//! The workload is generated first, by driving a scratch engine (so channel results answer the
//! dispatches the engine really made, with about 10% retryable failures that fail over); every input
//! is recorded exactly as the journal would hold it. The timed run then applies those recorded inputs
//! to a fresh engine built from the embedded default configuration (5 channels, 10 risk rules): only
//! `Engine::apply` is measured, as replay and the business-logic thread run it.

use clap::Args;
use serde_json::json;
use sluice_engine::{
    ENVELOPE_LEN, Engine, MAX_OUTPUT_BYTES_PER_INPUT, OutIter, Outbox, write_envelope,
};
use sluice_gateway::config::{Config, DEFAULT_CONFIG};
use sluice_node::WorldInput;
use sluice_protocol::rng::Rng;
use sluice_protocol::*;
use std::collections::VecDeque;
use std::time::Instant;

#[derive(Args)]
pub struct EngineArgs {
    /// Inputs to apply (after configuration).
    #[arg(long, default_value_t = 2_000_000)]
    pub events: u64,
    /// One JSON line instead of the report.
    #[arg(long)]
    pub json: bool,
    /// Seed of the generated workload.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Leave the tables cold (the server prefaults them before it listens; this shows what the
    /// first-touch page faults cost when it does not).
    #[arg(long)]
    pub no_prefault: bool,
    /// Configure only the first N channels of the default configuration (the baseline without a
    /// routing choice is 1).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=5))]
    pub channels: u32,
    /// Configure only the first N risk rules of the default configuration; 0 also leaves out the
    /// allow/block list entries, so no risk work is done at all.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(0..=10))]
    pub risk_rules: u32,
}

/// One recorded input: its sequence, event time and where its journal payload (envelope + SBE)
/// is.
#[derive(Clone, Copy)]
struct Recorded {
    seq: u64,
    timestamp_ns: u64,
    at: u32,
    len: u16,
}

/// Inputs as the journal holds them.
struct Workload {
    genesis: Genesis,
    start_ns: u64,
    config: Vec<Recorded>,
    inputs: Vec<Recorded>,
    bytes: Vec<u8>,
    kinds: [u64; 8],
}

const ACQUIRER: u32 = 1;
const SESSION: u64 = 77;
const MERCHANTS: [u32; 4] = [1001, 1002, 1003, 1004];
/// Event time between inputs: 100,000 inputs per second of event time.
const STEP_NS: u64 = 10_000;
/// A pulse every this many inputs (every 10 ms of event time).
const PULSE_EVERY: u64 = 1_000;

struct Generator {
    w: Workload,
    engine: Engine,
    outbox: Outbox,
    seq: u64,
    now: u64,
    rng: Rng,
    pending: VecDeque<(u8, u64, u8, u16)>, // (kind 0 payment / 1 refund, id, attempt, channel)
    refundable: Vec<(u64, i64)>,
    next_request: u64,
    next_refund: u64,
    scratch: Vec<u8>,
}

impl Generator {
    fn record<M: Message>(
        &mut self,
        session: u64,
        principal: u32,
        role: u8,
        msg: &M,
        config: bool,
    ) {
        write_envelope(&mut self.scratch, session, principal, role);
        let n = ENVELOPE_LEN
            + encode_sbe(msg, &mut self.scratch[ENVELOPE_LEN..])
                .expect("a generated input fits the scratch buffer");
        let at = self.w.bytes.len() as u32;
        self.w.bytes.extend_from_slice(&self.scratch[..n]);
        self.seq += 1;
        let rec = Recorded {
            seq: self.seq,
            timestamp_ns: self.now,
            at,
            len: n as u16,
        };
        if config {
            self.w.config.push(rec);
        } else {
            self.w.inputs.push(rec);
        }
        self.outbox.clear();
        let payload = &self.w.bytes[at as usize..at as usize + n];
        // The generator's own engine: its outputs decide the channel results to come.
        let _ = self
            .engine
            .apply_record(rec.seq, rec.timestamp_ns, payload, &mut self.outbox);
        self.collect_outputs();
    }

    fn collect_outputs(&mut self) {
        for r in OutIter::new(self.outbox.bytes()) {
            match decode_any_frame(r.frame) {
                Ok(AnyMessage::Dispatch(d)) => {
                    self.pending
                        .push_back((0, d.order_id, d.attempt, d.channel_id))
                }
                Ok(AnyMessage::RefundDispatch(d)) => {
                    self.pending.push_back((1, d.refund_id, 0, d.channel_id))
                }
                Ok(AnyMessage::PaymentResult(p))
                    if p.status == FinalStatus::Succeeded && self.refundable.len() < 100_000 =>
                {
                    self.refundable.push((p.request_id, p.amount_minor))
                }
                _ => {}
            }
        }
    }

    fn payment(&mut self) {
        self.next_request += 1;
        let r = &mut self.rng;
        let merchant = MERCHANTS[(r.next_u64() % 4) as usize];
        let user = 1 + r.next_u64() % 500_000;
        let card = r.next_u64() % 10 < 3;
        let req = PaymentRequest {
            request_id: self.next_request,
            merchant_id: merchant,
            promoter_id: if r.next_u64() % 10 < 3 { 501 } else { 0 },
            amount_minor: 100 + (r.next_u64() % 200_000) as i64,
            currency: 156,
            method: if card {
                PaymentMethod::Card
            } else {
                PaymentMethod::Wallet
            },
            scene: Scene::App,
            goods_category: if r.next_u64().is_multiple_of(5) {
                5411
            } else {
                5999
            },
            user_id: user,
            device_id: 1_000_000 + user,
            ip: Ip::v4([10, (user >> 16) as u8, (user >> 8) as u8, user as u8]),
            card_fingerprint: if card {
                Chars::new(&format!("fp{user:014}"))
            } else {
                Chars::default()
            },
            card_bin: if card { 622_848 } else { 0 },
            country: Chars::new("CN"),
        };
        self.w.kinds[0] += 1;
        self.record(SESSION, ACQUIRER, Role::Acquirer as u8, &req, false);
    }

    fn refund(&mut self) {
        let i = (self.rng.next_u64() % self.refundable.len() as u64) as usize;
        let (request_id, amount) = self.refundable.swap_remove(i);
        self.next_refund += 1;
        let req = RefundRequest {
            refund_request_id: self.next_refund,
            payment_request_id: request_id,
            amount_minor: (amount / 2).max(1),
        };
        self.w.kinds[2] += 1;
        self.record(SESSION, ACQUIRER, Role::Acquirer as u8, &req, false);
    }

    fn answer(&mut self) {
        let Some((kind, id, attempt, channel)) = self.pending.pop_front() else {
            return;
        };
        let roll = self.rng.next_u64() % 100;
        let outcome = match roll {
            0..=9 => ChannelOutcome::RetryableError,
            10..=11 => ChannelOutcome::Declined,
            _ => ChannelOutcome::Succeeded,
        };
        let latency_us = 300 + (self.rng.next_u64() % 3_000) as u32;
        if kind == 0 {
            let res = ChannelResult {
                order_id: id,
                attempt,
                outcome,
                channel_code: 0,
                latency_us,
                channel_ref: Chars::new("bench"),
            };
            self.w.kinds[1] += 1;
            self.record(
                900 + u64::from(channel),
                u32::from(channel),
                Role::Channel as u8,
                &res,
                false,
            );
        } else {
            let outcome = if outcome == ChannelOutcome::Declined {
                ChannelOutcome::Succeeded
            } else {
                outcome
            };
            let res = RefundChannelResult {
                refund_id: id,
                outcome,
                channel_code: 0,
                latency_us,
                channel_ref: Chars::new("bench"),
            };
            self.w.kinds[3] += 1;
            self.record(
                900 + u64::from(channel),
                u32::from(channel),
                Role::Channel as u8,
                &res,
                false,
            );
        }
    }
}

/// The default configuration's world inputs, cut to the first `channels` channels and the first
/// `risk_rules` risk rules (and no list entries when that is 0).
fn bootstrap(config: &Config, channels: u32, risk_rules: u32) -> Vec<&WorldInput> {
    let (mut ch, mut rules) = (0, 0);
    config
        .world
        .inputs
        .iter()
        .filter(|b| {
            if b.key.starts_with("channels[") {
                ch += 1;
                ch <= channels
            } else if b.key.starts_with("risk_rules[") {
                rules += 1;
                rules <= risk_rules
            } else if b.key.starts_with("lists[") {
                risk_rules > 0
            } else {
                true
            }
        })
        .collect()
}

fn generate(events: u64, seed: u64, channels: u32, risk_rules: u32) -> Result<Workload, String> {
    let config = Config::parse(DEFAULT_CONFIG).map_err(|e| e.to_string())?;
    let mut genesis = config.world.genesis.clone();
    genesis.orders_max = genesis
        .orders_max
        .max((events / 2 + 10_000).min(50_000_000) as u32);
    genesis.refunds_max = genesis.refunds_max.max((events / 20 + 10_000) as u32);
    let start_ns = 1_764_086_400_000_000_000;
    let engine = Engine::new(&genesis, start_ns).map_err(|e| e.to_string())?;
    let mut g = Generator {
        w: Workload {
            genesis,
            start_ns,
            config: Vec::new(),
            inputs: Vec::with_capacity(events as usize),
            bytes: Vec::with_capacity(events as usize * 96),
            kinds: [0; 8],
        },
        engine,
        outbox: Outbox::with_capacity(4 * MAX_OUTPUT_BYTES_PER_INPUT),
        seq: 1,
        now: start_ns,
        rng: Rng::new(seed),
        pending: VecDeque::with_capacity(4096),
        refundable: Vec::with_capacity(100_000),
        next_request: 0,
        next_refund: 0,
        scratch: vec![0u8; ENVELOPE_LEN + MAX_FRAME_BYTES],
    };
    for b in bootstrap(&config, channels, risk_rules) {
        write_envelope(&mut g.scratch, 1, 1, Role::Admin as u8);
        let n = ENVELOPE_LEN
            + b.message
                .encode_sbe(&mut g.scratch[ENVELOPE_LEN..])
                .map_err(|e| e.to_string())?;
        let at = g.w.bytes.len() as u32;
        g.w.bytes.extend_from_slice(&g.scratch[..n]);
        g.seq += 1;
        let rec = Recorded {
            seq: g.seq,
            timestamp_ns: g.now,
            at,
            len: n as u16,
        };
        g.w.config.push(rec);
        g.outbox.clear();
        let payload = &g.w.bytes[at as usize..at as usize + n];
        let _ = g
            .engine
            .apply_record(rec.seq, rec.timestamp_ns, payload, &mut g.outbox);
    }
    for i in 0..events {
        g.now += STEP_NS;
        if i % PULSE_EVERY == PULSE_EVERY - 1 {
            g.w.kinds[4] += 1;
            g.record(0, 0, 0, &Pulse { flags: 0 }, false);
            g.collect_outputs();
            continue;
        }
        // About as many results as requests: the backlog of dispatches stays around a few hundred.
        let answer =
            g.pending.len() > 512 || (!g.pending.is_empty() && g.rng.next_u64().is_multiple_of(2));
        if answer {
            g.answer();
        } else if !g.refundable.is_empty() && g.rng.next_u64().is_multiple_of(50) {
            g.refund();
        } else {
            g.payment();
        }
    }
    Ok(g.w)
}

pub fn run(args: EngineArgs) -> Result<(), String> {
    let started = Instant::now();
    let w = generate(args.events, args.seed, args.channels, args.risk_rules)?;
    let generated_s = started.elapsed().as_secs_f64();
    let mut engine = Engine::new(&w.genesis, w.start_ns).map_err(|e| e.to_string())?;
    let mut outbox = Outbox::with_capacity(4 * MAX_OUTPUT_BYTES_PER_INPUT);
    let payload_of = |r: &Recorded| &w.bytes[r.at as usize..r.at as usize + usize::from(r.len)];
    for r in &w.config {
        outbox.clear();
        engine
            .apply_record(r.seq, r.timestamp_ns, payload_of(r), &mut outbox)
            .map_err(|e| e.to_string())?;
    }
    // As the server does before it listens (untimed).
    let prefault_started = Instant::now();
    let prefaulted = if args.no_prefault {
        0
    } else {
        engine.prefault()
    };
    let prefault_s = prefault_started.elapsed().as_secs_f64();
    let mut output_bytes = 0u64;
    let timed = Instant::now();
    for (i, r) in w.inputs.iter().enumerate() {
        if outbox.remaining() < MAX_OUTPUT_BYTES_PER_INPUT {
            output_bytes += outbox.len_bytes() as u64;
            outbox.clear();
        }
        // As the server's processor does within a ring batch.
        engine.prefetch_payloads(
            w.inputs.get(i + 1).map(payload_of),
            w.inputs.get(i + 2).map(payload_of),
        );
        engine
            .apply_record(r.seq, r.timestamp_ns, payload_of(r), &mut outbox)
            .map_err(|e| e.to_string())?;
    }
    let seconds = timed.elapsed().as_secs_f64();
    output_bytes += outbox.len_bytes() as u64;
    let events = w.inputs.len() as u64;
    let hash = engine.state_hash();
    let stats = engine.stats_report(engine.last_seq());
    let out = json!({
        "events": events,
        "seconds": (seconds * 1e6).round() / 1e6,
        "events_per_sec": (events as f64 / seconds).round(),
        "ns_per_event": (seconds * 1e9 / events as f64 * 10.0).round() / 10.0,
        "payments": w.kinds[0],
        "channel_results": w.kinds[1],
        "refunds": w.kinds[2],
        "refund_results": w.kinds[3],
        "pulses": w.kinds[4],
        "succeeded": stats.succeeded,
        "accepted": stats.accepted,
        "rejected_invalid": stats.rejected_invalid,
        "failed_over": stats.failed_over,
        "rejected_risk": stats.rejected_risk,
        "channels": stats.channels.len(),
        "risk_rules": stats.rules.len(),
        "output_bytes": output_bytes,
        "ledger_balanced": stats.ledger_balanced,
        "state_hash": hash.to_string(),
        "generate_seconds": (generated_s * 1e3).round() / 1e3,
        "prefaulted_mib": prefaulted >> 20,
        "prefault_seconds": (prefault_s * 1e3).round() / 1e3,
    });
    if args.json {
        println!("{out}");
    } else {
        println!(
            "engine alone: {events} inputs in {seconds:.3} s = {:.0} inputs/s ({:.1} ns/input)",
            events as f64 / seconds,
            seconds * 1e9 / events as f64
        );
        if prefaulted > 0 {
            println!(
                "  tables prefaulted before timing: {} MiB in {prefault_s:.3} s (--no-prefault: cold)",
                prefaulted >> 20
            );
        } else {
            println!("  tables cold: first touches are timed");
        }
        println!(
            "  {} payments, {} channel results (~10% retryable, failing over), {} refunds, {} refund results, {} pulses",
            w.kinds[0], w.kinds[1], w.kinds[2], w.kinds[3], w.kinds[4]
        );
        println!(
            "  routing over {} channels, {} risk rules; {} succeeded, {} after failover",
            stats.channels.len(),
            stats.rules.len(),
            stats.succeeded,
            stats.failed_over
        );
        println!(
            "  ledger balanced: {}; state hash {hash}",
            stats.ledger_balanced
        );
    }
    Ok(())
}
