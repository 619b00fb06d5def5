//! `sluice bench pipeline`: the core of the server without the network — input ring, journaler,
//! business-logic processor and output chunks — to separate the core's cost from TCP's.
//!
//! A fresh data directory is bootstrapped with the embedded default configuration (`recover`),
//! the real `Pipeline` is started, and this thread plays the gateway: it publishes pre-encoded
//! payments (acquirer 1, merchants 1001–1004, each payer its own) with `try_publish` into the same
//! `InputSlot` layout the sequencer fills, plus a pulse every 10 ms; it plays egress by draining
//! the output chunks, releasing only outputs whose input is at or below the durable cursor; and it
//! plays the channels by answering every `Dispatch` it drains with a successful `ChannelResult`.
//!
//! Reported: inputs per second, and the latency from publishing an input (or, with `--rate`, from
//! its intended publish time, so a stall is not hidden) to its first output being released,
//! as percentiles. `--journal-before` runs the arrangement where the processor sees an input only
//! after the journal committed it; `--compare` runs both, alternating, and reports the medians.

use clap::Args;
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use sluice_engine::{ENVELOPE_LEN, OutIter, OutRecord, ROLE_SEQUENCER, write_envelope};
use sluice_gateway::config::{Config, DEFAULT_CONFIG, WaitMode};
use sluice_gateway::metrics::{Metrics, Names};
use sluice_gateway::pipeline::{
    Arrangement, InputSlot, OutChunk, OutputQueue, Pipeline, PipelineSettings, Producer,
    RingProducer, Shared,
};
use sluice_journal::Durability;
use sluice_node::{recover, wall_clock_ns};
use sluice_protocol::*;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct PipelineArgs {
    /// Inputs to publish (payments and their channel results; pulses come on top).
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// One JSON line instead of the report.
    #[arg(long)]
    pub json: bool,
    /// The processor consumes the ring after the journaler (instead of in parallel with it).
    #[arg(long)]
    pub journal_before: bool,
    /// Run both arrangements, alternating, `--runs` times each, and report the medians.
    #[arg(long)]
    pub compare: bool,
    /// Runs per arrangement (the median is reported).
    #[arg(long, default_value_t = 1)]
    pub runs: u32,
    /// Inputs per second to offer (0: as fast as the ring takes them).
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Journal durability: none or fsync.
    #[arg(long, default_value = "none")]
    pub durability: String,
    /// How the pipeline threads wait: adaptive (the default configuration's), yield or spin.
    #[arg(long)]
    pub wait: Option<String>,
    /// Parent of the temporary data directory (default: the system's temporary directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// The processor publishes its metrics (inputs by template, the engine's statistics block),
    /// as a server with `[metrics] enabled` does: to measure what that costs.
    #[arg(long)]
    pub metrics: bool,
}

const SBE_STRIDE: usize = 128;
const ACQUIRER: u32 = 1;
const ACQUIRER_SESSION: u64 = 0x5eed_0001;
const MERCHANTS: [u32; 4] = [1001, 1002, 1003, 1004];
const PULSE_EVERY: Duration = Duration::from_millis(10);
/// Inputs published per turn of the loop before egress is drained again.
const PUBLISH_PER_TURN: u32 = 256;

pub fn run(args: PipelineArgs) -> Result<(), String> {
    let arrangements: &[Arrangement] = match (args.compare, args.journal_before) {
        (true, _) => &[Arrangement::Parallel, Arrangement::JournalBefore],
        (false, false) => &[Arrangement::Parallel],
        (false, true) => &[Arrangement::JournalBefore],
    };
    let mut results = Vec::new();
    for _ in 0..args.runs.max(1) {
        for &arrangement in arrangements {
            let r = run_once(&args, arrangement)?;
            if !args.json {
                print_run(&r);
            }
            results.push(r);
        }
    }
    let medians: Vec<Value> = arrangements
        .iter()
        .map(|&a| median_of(a, &results))
        .collect();
    if args.json {
        let line = if args.compare || args.runs > 1 {
            json!({"bench": "pipeline", "runs": results.iter().map(|r| r.json.clone()).collect::<Vec<_>>(), "medians": medians})
        } else {
            results[0].json.clone()
        };
        println!("{line}");
    } else if results.len() > arrangements.len() || arrangements.len() > 1 {
        println!("medians:");
        for m in &medians {
            println!(
                "  {:<15} {:>10.0} inputs/s   p50 {:>8.1} µs   p99 {:>8.1} µs",
                m["arrangement"].as_str().unwrap_or("?"),
                m["events_per_sec"].as_f64().unwrap_or(0.0),
                m["p50_us"].as_f64().unwrap_or(0.0),
                m["p99_us"].as_f64().unwrap_or(0.0)
            );
        }
    }
    Ok(())
}

fn arrangement_name(a: Arrangement) -> &'static str {
    match a {
        Arrangement::Parallel => "parallel",
        Arrangement::JournalBefore => "journal_before",
    }
}

fn median_of(a: Arrangement, results: &[RunResult]) -> Value {
    let mine: Vec<&RunResult> = results.iter().filter(|r| r.arrangement == a).collect();
    let median = |key: &str| {
        let mut v: Vec<f64> = mine.iter().filter_map(|r| r.json[key].as_f64()).collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    json!({
        "arrangement": arrangement_name(a),
        "runs": mine.len(),
        "events_per_sec": median("events_per_sec"),
        "p50_us": median("p50_us"),
        "p99_us": median("p99_us"),
        "p999_us": median("p999_us"),
    })
}

struct RunResult {
    arrangement: Arrangement,
    json: Value,
}

fn print_run(r: &RunResult) {
    let j = &r.json;
    let f = |k: &str| j[k].as_f64().unwrap_or(0.0);
    println!(
        "pipeline ({}, durability {}, wait {}, rate {}): {} inputs ({} payments) in {:.3} s = {:.0} inputs/s; publish -> output released µs: p50 {:.1} p90 {:.1} p99 {:.1} p99.9 {:.1} max {:.1}; ring full {} times",
        arrangement_name(r.arrangement),
        j["durability"].as_str().unwrap_or("?"),
        j["wait"].as_str().unwrap_or("?"),
        if f("rate") > 0.0 {
            format!("{:.0}/s", f("rate"))
        } else {
            "max".into()
        },
        f("events"),
        f("payments"),
        f("seconds"),
        f("events_per_sec"),
        f("p50_us"),
        f("p90_us"),
        f("p99_us"),
        f("p999_us"),
        f("max_us"),
        f("ring_full"),
    );
}

/// The configuration: the embedded default, on a temporary data directory.
fn bench_config(args: &PipelineArgs, data_dir: &Path) -> Result<Config, String> {
    let mut config = Config::parse(DEFAULT_CONFIG).map_err(|e| e.to_string())?;
    config.data_dir = data_dir.to_path_buf();
    config.simulator.enabled = false;
    config.durability = match args.durability.as_str() {
        "none" => Durability::None,
        "fsync" => Durability::Fsync,
        other => return Err(format!("--durability {other:?}: none or fsync")),
    };
    if let Some(w) = &args.wait {
        config.wait = match w.as_str() {
            "adaptive" => WaitMode::Adaptive,
            "yield" => WaitMode::Yield,
            "spin" => WaitMode::Spin,
            other => return Err(format!("--wait {other:?}: adaptive, yield or spin")),
        };
    }
    let payments = args.events / 2 + 1;
    if payments > u64::from(config.world.genesis.orders_max) {
        config.world.genesis.orders_max =
            u32::try_from(payments + 16).map_err(|e| e.to_string())?;
    }
    Ok(config)
}

fn run_once(args: &PipelineArgs, arrangement: Arrangement) -> Result<RunResult, String> {
    let parent = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let data_dir = parent.join(format!("sluice-bench-pipeline-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);
    let result = run_in(args, arrangement, &data_dir);
    let _ = std::fs::remove_dir_all(&data_dir);
    result
}

fn run_in(args: &PipelineArgs, arrangement: Arrangement, dir: &Path) -> Result<RunResult, String> {
    let config = bench_config(args, dir)?;
    let recovered = recover(
        &config.data_dir,
        config.journal_config(),
        &config.world,
        wall_clock_ns(),
    )
    .map_err(|e| e.to_string())?;
    let next_seq = recovered.engine.last_seq() + 1;
    let last_ts = recovered.last_timestamp_ns;
    let shared = Shared::new();
    let p = &config.pipeline;
    let mut pipeline = Pipeline::start_arranged(
        recovered,
        p.ring_size as usize,
        p.output_chunks as usize,
        p.output_chunk_bytes as usize,
        PipelineSettings {
            metrics: args.metrics.then(|| Metrics::new(Names::default())),
            // The pipeline alone: no snapshot follower beside it.
            snapshot_follower: false,
            ..PipelineSettings::from_config(&config, std::sync::Arc::new(sluice_journal::OsStorage))
        },
        shared.clone(),
        arrangement,
    )
    .map_err(|e| format!("pipeline start: {e}"))?;
    let mut driver = Feeder::new(args, next_seq, last_ts)?;
    let outcome = driver.run(&mut pipeline, &shared);
    let engine = pipeline.stop(false);
    outcome?;
    if let Some(e) = shared.fatal_error() {
        return Err(e);
    }
    let succeeded = engine.as_ref().map_or(0, |e| e.counters().succeeded);
    if succeeded != driver.payments_sent {
        return Err(format!(
            "{} payments but {succeeded} succeeded: the bench measured something else",
            driver.payments_sent
        ));
    }
    Ok(RunResult {
        arrangement,
        json: driver.report(args, &config, arrangement),
    })
}

/// Plays the gateway: sequencer, egress and the channels.
struct Feeder {
    payments: Vec<u8>,
    payment_lens: Vec<u8>,
    payments_target: u64,
    payments_sent: u64,
    results_sent: u64,
    pulses_sent: u64,
    next_seq: u64,
    first_seq: u64,
    last_ts: u64,
    /// When each input was published (or meant to be), ns after `origin`, by seq - first_seq.
    published_ns: Vec<u64>,
    answers: VecDeque<(u64, u8, u16)>,
    current: Option<(Box<OutChunk>, usize)>,
    latency_seq: u64,
    inputs_answered: u64,
    latency: Histogram<u64>,
    ring_full: u64,
    rate: u64,
    origin: Instant,
    seconds: f64,
    scratch: [u8; SBE_STRIDE],
}

impl Feeder {
    fn new(args: &PipelineArgs, next_seq: u64, last_ts: u64) -> Result<Feeder, String> {
        let payments_target = (args.events / 2).max(1);
        let mut payments = vec![0u8; payments_target as usize * SBE_STRIDE];
        let mut payment_lens = Vec::with_capacity(payments_target as usize);
        for (i, slot) in payments.chunks_exact_mut(SBE_STRIDE).enumerate() {
            let len = encode_sbe(&payment(i as u64 + 1), slot).map_err(|e| e.to_string())?;
            payment_lens.push(len as u8);
        }
        // Pulses: at most one per 10 ms, at a generous lower bound of 10k inputs/s.
        let capacity = args.events + args.events / 100 + 1_000;
        Ok(Feeder {
            payments,
            payment_lens,
            payments_target,
            payments_sent: 0,
            results_sent: 0,
            pulses_sent: 0,
            next_seq,
            first_seq: next_seq,
            last_ts,
            published_ns: vec![0; capacity as usize],
            answers: VecDeque::with_capacity(1 << 16),
            current: None,
            latency_seq: 0,
            inputs_answered: 0,
            latency: Histogram::new_with_bounds(1, 60_000_000_000, 3).map_err(|e| e.to_string())?,
            ring_full: 0,
            rate: args.rate,
            origin: Instant::now(),
            seconds: 0.0,
            scratch: [0; SBE_STRIDE],
        })
    }

    fn finished(&self) -> bool {
        self.payments_sent == self.payments_target
            && self.answers.is_empty()
            && self.inputs_answered == self.payments_sent + self.results_sent
    }

    fn run(&mut self, pipeline: &mut Pipeline, shared: &Shared) -> Result<(), String> {
        let outputs = pipeline.outputs.clone();
        let waker = pipeline.consumer_waker();
        let Some(producer) = pipeline.producer.as_mut() else {
            return Err("pipeline has no producer".into());
        };
        self.origin = Instant::now();
        let mut last_pulse = Instant::now();
        while !self.finished() {
            if let Some(e) = shared.fatal_error() {
                return Err(e);
            }
            let durable = shared.durable.get();
            let drained = self.drain(&outputs, durable);
            if last_pulse.elapsed() >= PULSE_EVERY {
                last_pulse = Instant::now();
                self.publish_pulse(producer);
            }
            let published = self.publish_some(producer);
            if published || drained {
                // As the gateway does: consumers park when the ring is empty.
                waker.wake();
            } else {
                std::thread::yield_now();
            }
        }
        self.seconds = self.origin.elapsed().as_secs_f64();
        Ok(())
    }

    /// Egress: releases every output whose input is durable; answers dispatches.
    fn drain(&mut self, outputs: &OutputQueue, durable: u64) -> bool {
        let mut progressed = false;
        loop {
            let (chunk, at) = match self.current.take() {
                Some(c) => c,
                None => match outputs.pop() {
                    Some(chunk) => (chunk, 0),
                    None => return progressed,
                },
            };
            let mut iter = OutIter::from_offset(chunk.outbox.bytes(), at);
            while let Some(record) = iter.peek() {
                if record.input_seq > durable {
                    let offset = iter.offset();
                    self.current = Some((chunk, offset));
                    return progressed;
                }
                self.on_output(&record);
                iter.next();
                progressed = true;
            }
            outputs.recycle(chunk);
        }
    }

    fn on_output(&mut self, r: &OutRecord<'_>) {
        if r.input_seq > self.latency_seq {
            self.latency_seq = r.input_seq;
            self.inputs_answered += 1;
            if let Some(&at) = self
                .published_ns
                .get((r.input_seq - self.first_seq) as usize)
            {
                let now = self.origin.elapsed().as_nanos() as u64;
                let _ = self.latency.record(now.saturating_sub(at).max(1));
            }
        }
        let is_dispatch = r
            .frame
            .get(SOFH_LEN..)
            .and_then(|sbe| split_sbe(sbe).ok())
            .is_some_and(|(h, _)| h.template_id == Dispatch::TEMPLATE_ID);
        if is_dispatch && let Ok(d) = decode_frame::<Dispatch>(r.frame) {
            self.answers
                .push_back((d.order_id, d.attempt, d.channel_id));
        }
    }

    /// Publishes channel results first, then payments, until the ring is full or the turn ends.
    fn publish_some(&mut self, producer: &mut RingProducer) -> bool {
        let mut any = false;
        for _ in 0..PUBLISH_PER_TURN {
            let Some(intended_ns) = self.due() else {
                break;
            };
            let sent = if let Some(&(order_id, attempt, channel)) = self.answers.front() {
                self.publish_result(producer, intended_ns, order_id, attempt, channel)
            } else if self.payments_sent < self.payments_target {
                self.publish_payment(producer, intended_ns)
            } else {
                break;
            };
            if !sent {
                self.ring_full += 1;
                break;
            }
            any = true;
        }
        any
    }

    /// When the next input should go (ns after origin), or None if it is not due yet.
    fn due(&self) -> Option<u64> {
        let now = self.origin.elapsed().as_nanos() as u64;
        if self.rate == 0 {
            return Some(now);
        }
        let k = self.payments_sent + self.results_sent;
        let intended = (u128::from(k) * 1_000_000_000 / u128::from(self.rate)) as u64;
        (intended <= now).then_some(intended)
    }

    fn publish_payment(&mut self, producer: &mut RingProducer, intended_ns: u64) -> bool {
        let i = self.payments_sent as usize;
        let at = i * SBE_STRIDE;
        let len = usize::from(self.payment_lens[i]);
        let sent = publish(
            producer,
            (self.next_seq, self.stamp()),
            PaymentRequest::TEMPLATE_ID,
            (ACQUIRER_SESSION, ACQUIRER, Role::Acquirer as u8),
            &self.payments[at..at + len],
        );
        if sent {
            self.mark_published(intended_ns);
            self.payments_sent += 1;
        }
        sent
    }

    fn publish_result(
        &mut self,
        producer: &mut RingProducer,
        intended_ns: u64,
        order_id: u64,
        attempt: u8,
        channel: u16,
    ) -> bool {
        let res = ChannelResult {
            order_id,
            attempt,
            outcome: ChannelOutcome::Succeeded,
            channel_code: 0,
            latency_us: 1_000,
            channel_ref: Chars::new("bench-ref"),
        };
        let len = encode_sbe(&res, &mut self.scratch).unwrap_or(0);
        let sender = (
            0x5eed_1000 + u64::from(channel),
            u32::from(channel),
            Role::Channel as u8,
        );
        let sent = publish(
            producer,
            (self.next_seq, self.stamp()),
            ChannelResult::TEMPLATE_ID,
            sender,
            &self.scratch[..len],
        );
        if sent {
            self.mark_published(intended_ns);
            self.answers.pop_front();
            self.results_sent += 1;
        }
        sent
    }

    fn publish_pulse(&mut self, producer: &mut RingProducer) {
        let len = encode_sbe(&Pulse { flags: 0 }, &mut self.scratch).unwrap_or(0);
        let sender = (0, 0, ROLE_SEQUENCER);
        let stamp = (self.next_seq, self.stamp());
        if publish(
            producer,
            stamp,
            Pulse::TEMPLATE_ID,
            sender,
            &self.scratch[..len],
        ) {
            let now = self.origin.elapsed().as_nanos() as u64;
            self.mark_published(now);
            self.pulses_sent += 1;
        }
    }

    /// The event time of the next input: the wall clock, never going back.
    fn stamp(&mut self) -> u64 {
        self.last_ts = self.last_ts.max(wall_clock_ns());
        self.last_ts
    }

    fn mark_published(&mut self, at_ns: u64) {
        if let Some(slot) = self
            .published_ns
            .get_mut((self.next_seq - self.first_seq) as usize)
        {
            *slot = at_ns;
        }
        self.next_seq += 1;
    }

    fn report(&self, args: &PipelineArgs, config: &Config, arrangement: Arrangement) -> Value {
        let events = self.payments_sent + self.results_sent + self.pulses_sent;
        let us = |q: f64| self.latency.value_at_quantile(q) as f64 / 1e3;
        json!({
            "bench": "pipeline",
            "arrangement": arrangement_name(arrangement),
            "durability": args.durability,
            "metrics": args.metrics,
            "wait": format!("{:?}", config.wait).to_lowercase(),
            "ring_size": config.pipeline.ring_size,
            "rate": args.rate,
            "events": events,
            "payments": self.payments_sent,
            "channel_results": self.results_sent,
            "pulses": self.pulses_sent,
            "seconds": self.seconds,
            "events_per_sec": events as f64 / self.seconds,
            "p50_us": us(0.5),
            "p90_us": us(0.9),
            "p99_us": us(0.99),
            "p999_us": us(0.999),
            "max_us": self.latency.max() as f64 / 1e3,
            "latency_samples": self.latency.len(),
            "ring_full": self.ring_full,
        })
    }
}

/// Publishes one input as the gateway's sequencer does (`Sequencer::publish`): sequence, event
/// time, template id, envelope and SBE into the slot. False when the ring is full.
fn publish(
    producer: &mut RingProducer,
    (seq, timestamp_ns): (u64, u64),
    kind: u16,
    (session_id, principal_id, role): (u64, u32, u8),
    sbe: &[u8],
) -> bool {
    producer
        .try_publish(|slot: &mut InputSlot| {
            slot.seq = seq;
            slot.timestamp_ns = timestamp_ns;
            slot.kind = kind;
            write_envelope(&mut slot.payload, session_id, principal_id, role);
            let end = ENVELOPE_LEN + sbe.len();
            slot.payload[ENVELOPE_LEN..end].copy_from_slice(sbe);
            slot.len = end as u16;
        })
        .is_ok()
}

/// Payment `id`: a CNY wallet payment at one of acquirer 1's merchants, from a payer, device and
/// IP of its own (so velocity rules count but never block).
fn payment(id: u64) -> PaymentRequest {
    PaymentRequest {
        request_id: id,
        merchant_id: MERCHANTS[(id % 4) as usize],
        promoter_id: if id.is_multiple_of(5) { 501 } else { 0 },
        amount_minor: 500 + (id % 997) as i64 * 10,
        currency: 156,
        method: PaymentMethod::Wallet,
        scene: Scene::App,
        goods_category: 0,
        user_id: 1_000_000 + id,
        device_id: 50_000_000 + id,
        ip: Ip::v4([10, (id >> 16) as u8, (id >> 8) as u8, id as u8]),
        card_fingerprint: Chars::default(),
        card_bin: 0,
        country: Chars::new("CN"),
        installment_count: 0,
        installment_payer_interest: false,
    }
}
