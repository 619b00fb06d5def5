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
use sluice_protocol::*;
use sluice_workload::Workload as Payments;
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
    /// Configure the risk rules as text: `rules/default.rules` (the same ten rules in the rule
    /// language, docs/RISK_RULES.md) instead of the configuration's struct rules (with
    /// --risk-rules N, the first N of them).
    #[arg(long)]
    pub text_rules: bool,
    /// Load this risk-score model (a `sluice risk train` model file) after the configuration, so
    /// that every payment is scored before the rules run (docs/RISK_SCORE.md).
    #[arg(long, value_name = "FILE")]
    pub risk_model: Option<std::path::PathBuf>,
}

/// The default configuration's rules in the rule language.
const DEFAULT_TEXT_RULES: &str = include_str!("../rules/default.rules");

/// The configuration's struct rules replaced by the text rules of `rules/default.rules`, each
/// where the struct rule of the same position was (they are the same rules, in the same order).
fn with_text_rules(inputs: Vec<&WorldInput>) -> Result<Vec<AnyMessage>, String> {
    let rules = sluice_engine::risk::lang::parse_rules_file(DEFAULT_TEXT_RULES)
        .map_err(|e| format!("rules/default.rules: {e:?}"))?;
    let mut texts = rules.iter();
    let mut out = Vec::with_capacity(inputs.len());
    for input in inputs {
        if !input.key.starts_with("risk_rules[") {
            out.push(input.message.clone());
            continue;
        }
        let r = texts
            .next()
            .ok_or("rules/default.rules has fewer rules than the configuration")?;
        out.push(crate::admin::risk::message(r).into());
    }
    Ok(out)
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
    /// The shared payment workload; its generator also decides the channels' answers.
    payments: Payments,
    pending: VecDeque<(u8, u64, u8, u16)>, // (kind 0 payment / 1 refund, id, attempt, channel)
    /// Succeeded payments waiting to be refunded.
    refundable: u64,
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
                    if p.status == FinalStatus::Succeeded && self.refundable < 100_000 =>
                {
                    self.payments.succeeded(p.request_id, p.amount_minor, 0);
                    self.refundable += 1;
                }
                _ => {}
            }
        }
    }

    fn payment(&mut self) {
        let req = self.payments.payment(&MERCHANTS);
        self.w.kinds[0] += 1;
        self.record(SESSION, ACQUIRER, Role::Acquirer as u8, &req, false);
    }

    fn refund(&mut self) {
        let Some((req, _)) = self.payments.refund() else {
            return;
        };
        self.refundable -= 1;
        self.w.kinds[2] += 1;
        self.record(SESSION, ACQUIRER, Role::Acquirer as u8, &req, false);
    }

    fn answer(&mut self) {
        let Some((kind, id, attempt, channel)) = self.pending.pop_front() else {
            return;
        };
        let rng = self.payments.rng();
        let outcome = match rng.below(100) {
            0..=9 => ChannelOutcome::RetryableError,
            10..=11 => ChannelOutcome::Declined,
            _ => ChannelOutcome::Succeeded,
        };
        let latency_us = 300 + rng.below(3_000) as u32;
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

impl Generator {
    /// A generator on the default configuration's Genesis, with room for `events` inputs.
    fn new(config: &Config, events: u64, seed: u64) -> Result<Generator, String> {
        let mut genesis = config.world.genesis.clone();
        genesis.orders_max = genesis
            .orders_max
            .max((events / 2 + 10_000).min(50_000_000) as u32);
        genesis.refunds_max = genesis.refunds_max.max((events / 20 + 10_000) as u32);
        let start_ns = 1_764_086_400_000_000_000;
        let engine = Engine::new(&genesis, start_ns).map_err(|e| e.to_string())?;
        Ok(Generator {
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
            payments: Payments::new(seed, 0),
            pending: VecDeque::with_capacity(4096),
            refundable: 0,
            scratch: vec![0u8; ENVELOPE_LEN + MAX_FRAME_BYTES],
        })
    }

    /// Records and applies a configuration input from the admin.
    fn configure(&mut self, message: &AnyMessage) -> Result<(), String> {
        write_envelope(&mut self.scratch, 1, 1, Role::Admin as u8);
        let n = ENVELOPE_LEN
            + message
                .encode_sbe(&mut self.scratch[ENVELOPE_LEN..])
                .map_err(|e| e.to_string())?;
        let at = self.w.bytes.len() as u32;
        self.w.bytes.extend_from_slice(&self.scratch[..n]);
        self.seq += 1;
        let rec = Recorded {
            seq: self.seq,
            timestamp_ns: self.now,
            at,
            len: n as u16,
        };
        self.w.config.push(rec);
        self.outbox.clear();
        let payload = &self.w.bytes[at as usize..at as usize + n];
        let _ = self
            .engine
            .apply_record(rec.seq, rec.timestamp_ns, payload, &mut self.outbox);
        Ok(())
    }

    /// Input `i` of the workload.
    fn step(&mut self, i: u64) {
        self.now += STEP_NS;
        if i % PULSE_EVERY == PULSE_EVERY - 1 {
            self.w.kinds[4] += 1;
            self.record(0, 0, 0, &Pulse { flags: 0 }, false);
            self.collect_outputs();
            return;
        }
        // About as many results as requests: the backlog of dispatches stays around a few hundred.
        let backlog = self.pending.len();
        let answer =
            backlog > 512 || (backlog > 0 && self.payments.rng().next_u64().is_multiple_of(2));
        if answer {
            self.answer();
        } else if self.refundable > 0 && self.payments.rng().next_u64().is_multiple_of(50) {
            self.refund();
        } else {
            self.payment();
        }
    }
}

fn generate(args: &EngineArgs) -> Result<Workload, String> {
    let (events, seed) = (args.events, args.seed);
    let config = Config::parse(DEFAULT_CONFIG).map_err(|e| e.to_string())?;
    let mut g = Generator::new(&config, events, seed)?;
    let inputs = bootstrap(&config, args.channels, args.risk_rules);
    let mut messages = match args.text_rules {
        true => with_text_rules(inputs)?,
        false => inputs.into_iter().map(|b| b.message.clone()).collect(),
    };
    if let Some(path) = &args.risk_model {
        let model = sluice_train::model_file::read(path)?;
        messages.push(AnyMessage::ConfigRiskModel(model));
    }
    for m in &messages {
        g.configure(m)?;
    }
    if args.risk_model.is_some() && g.engine.state().risk.model.is_none() {
        return Err(
            "the engine refused the risk model (sluice admin risk model load names why)".into(),
        );
    }
    for i in 0..events {
        g.step(i);
    }
    Ok(g.w)
}

/// What the timed run measured.
struct Timed {
    seconds: f64,
    output_bytes: u64,
    prefaulted: usize,
    prefault_s: f64,
}

impl Workload {
    fn payload(&self, r: &Recorded) -> &[u8] {
        &self.bytes[r.at as usize..r.at as usize + usize::from(r.len)]
    }
}

/// Applies the workload to a fresh engine: the configuration and the prefault untimed, then the
/// inputs timed, as the server's processor applies them (prefetching two ahead).
fn timed_run(w: &Workload, prefault: bool) -> Result<(Engine, Timed), String> {
    let mut engine = Engine::new(&w.genesis, w.start_ns).map_err(|e| e.to_string())?;
    let mut outbox = Outbox::with_capacity(4 * MAX_OUTPUT_BYTES_PER_INPUT);
    for r in &w.config {
        outbox.clear();
        engine
            .apply_record(r.seq, r.timestamp_ns, w.payload(r), &mut outbox)
            .map_err(|e| e.to_string())?;
    }
    // As the server does before it listens (untimed).
    let prefault_started = Instant::now();
    let prefaulted = if prefault { engine.prefault() } else { 0 };
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
            w.inputs.get(i + 1).map(|n| w.payload(n)),
            w.inputs.get(i + 2).map(|f| w.payload(f)),
        );
        engine
            .apply_record(r.seq, r.timestamp_ns, w.payload(r), &mut outbox)
            .map_err(|e| e.to_string())?;
    }
    let seconds = timed.elapsed().as_secs_f64();
    output_bytes += outbox.len_bytes() as u64;
    let timed = Timed {
        seconds,
        output_bytes,
        prefaulted,
        prefault_s,
    };
    Ok((engine, timed))
}

pub fn run(args: EngineArgs) -> Result<(), String> {
    let started = Instant::now();
    let w = generate(&args)?;
    let generated_s = started.elapsed().as_secs_f64();
    let (engine, timed) = timed_run(&w, !args.no_prefault)?;
    let out = report_json(&w, &engine, &timed, generated_s);
    if args.json {
        println!("{out}");
    } else {
        print_report(&w, &engine, &timed);
    }
    Ok(())
}

fn report_json(w: &Workload, engine: &Engine, t: &Timed, generated_s: f64) -> serde_json::Value {
    let (seconds, output_bytes, prefaulted, prefault_s) =
        (t.seconds, t.output_bytes, t.prefaulted, t.prefault_s);
    let events = w.inputs.len() as u64;
    let hash = engine.state_hash();
    let stats = engine.stats_report(engine.last_seq());
    json!({
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
    })
}

fn print_report(w: &Workload, engine: &Engine, t: &Timed) {
    let (seconds, prefaulted, prefault_s) = (t.seconds, t.prefaulted, t.prefault_s);
    let events = w.inputs.len() as u64;
    let hash = engine.state_hash();
    let stats = engine.stats_report(engine.last_seq());
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
