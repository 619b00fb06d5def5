//! `sluice bench journal`: what the journal costs and how fast a restart is.
//!
//! 1. Append throughput: a 128-byte payload, one commit per batch of 1, 16 or 256 records, under
//!    durability `none` (page cache) and `fsync` (msync per commit; fewer records, it waits for the
//!    disk). Each configuration runs several times on a fresh directory; the median is reported,
//!    and under `fsync` the commit latency percentiles.
//! 2. Recovery: a realistic engine journal is generated — Genesis and the business world of the
//!    embedded default configuration (`Config::default_config().world`), then payments (wallet and
//!    card, four merchants,
//!    promoters), channel results (mostly successes, some declines, rare retryable errors that fail
//!    over), refunds and their results, order queries and a pulse every 10 ms of event time — each
//!    input journaled exactly as the server does (envelope + SBE, kind = template id) while a live
//!    engine answers it. A snapshot is taken halfway. Then the state is rebuilt from the journal
//!    alone (`Replayer::from_genesis` + `run_to`) and from the snapshot plus the tail, and both are
//!    checked against the generating engine's state hash; `recover()` (the server's start-up path:
//!    open and scan the journal, load the snapshot, replay, hash) is timed too.
//! 3. Snapshot cost: `Engine::snapshot()` of a state holding 1,000,000 orders (built through the
//!    engine: payments and their successful channel results), its size, and the restore.

use clap::Args;
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use sluice_engine::driver::Driver;
use sluice_engine::{ENVELOPE_LEN, Engine, ROLE_SEQUENCER, StateHash};
use sluice_gateway::config::{Config, DEFAULT_CONFIG};
use sluice_journal::{
    Durability, JournalConfig, JournalReader, JournalWriter, RECORD_HEADER_LEN_BYTES, SnapshotStore,
};
use sluice_node::recovery::{encode_input, recover};
use sluice_node::replayer::Replayer;
use sluice_protocol::rng::Rng;
use sluice_protocol::*;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct JournalArgs {
    /// Records per append run under durability `none` (0 skips it).
    #[arg(long, default_value_t = 2_000_000)]
    pub records: u64,
    /// Records per append run under durability `fsync` (every commit waits for the disk; 0 skips
    /// it).
    #[arg(long, default_value_t = 20_000)]
    pub fsync_records: u64,
    /// Runs per append configuration and per recovery figure (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub runs: u32,
    /// Inputs in the generated engine journal for the recovery figures (0 skips them).
    #[arg(long, default_value_t = 2_000_000)]
    pub recovery_events: u64,
    /// Orders in the state whose snapshot serialization is timed (0 skips it).
    #[arg(long, default_value_t = 1_000_000)]
    pub snapshot_orders: u64,
    /// Directory for the temporary journals (default: the system's temporary directory). It must
    /// be on the disk whose fsync you want to measure.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// One JSON line instead of the report.
    #[arg(long)]
    pub json: bool,
}

const PAYLOAD_BYTES: usize = 128;
const BATCHES: [u64; 3] = [1, 16, 256];
const MIB: f64 = 1024.0 * 1024.0;

pub fn run(args: JournalArgs) -> Result<(), String> {
    let runs = args.runs.max(1);
    let base = TempDir::new(args.dir.as_deref())?;
    let mut appends = Vec::new();
    for (durability, records) in [
        (Durability::None, args.records),
        (Durability::Fsync, args.fsync_records),
    ] {
        if records == 0 {
            continue;
        }
        for batch in BATCHES {
            let figure = append_figure(&base.0, durability, batch, records, runs)?;
            if !args.json {
                print_append(&figure, appends.is_empty());
            }
            appends.push(figure);
        }
    }
    let recovery = match args.recovery_events {
        0 => None,
        n => Some(recovery_figures(&base.0, n, runs, args.json)?),
    };
    let snapshot = match args.snapshot_orders {
        0 => None,
        n => Some(snapshot_figure(n, runs, args.json)?),
    };
    if args.json {
        let line = json!({
            "bench": "journal",
            "payload_bytes": PAYLOAD_BYTES,
            "append": appends.iter().map(AppendFigure::to_json).collect::<Vec<_>>(),
            "recovery": recovery,
            "snapshot": snapshot,
        });
        println!("{line}");
    }
    Ok(())
}

/// A temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(parent: Option<&Path>) -> Result<TempDir, String> {
        let parent = parent.map_or_else(std::env::temp_dir, Path::to_path_buf);
        let dir = parent.join(format!("sluice-bench-journal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn err(what: impl std::fmt::Display) -> String {
    what.to_string()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

// ------------------------------------------------------------------------------------------------
// Append throughput
// ------------------------------------------------------------------------------------------------

struct AppendFigure {
    durability: Durability,
    batch: u64,
    records: u64,
    seconds_median: f64,
    /// Commit latency under fsync, µs: p50, p99, max (from all runs).
    commit_us: Option<(f64, f64, f64)>,
    rolls_synchronous: u64,
}

impl AppendFigure {
    fn records_per_sec(&self) -> f64 {
        self.records as f64 / self.seconds_median
    }

    /// Payload MB/s and journal MB/s (record headers and padding included).
    fn mib_per_sec(&self) -> (f64, f64) {
        let per_record = (RECORD_HEADER_LEN_BYTES + PAYLOAD_BYTES as u64).next_multiple_of(8);
        let rate = self.records_per_sec();
        (
            rate * PAYLOAD_BYTES as f64 / MIB,
            rate * per_record as f64 / MIB,
        )
    }

    fn to_json(&self) -> Value {
        let (payload, journal) = self.mib_per_sec();
        json!({
            "durability": durability_name(self.durability),
            "batch": self.batch,
            "records": self.records,
            "seconds": self.seconds_median,
            "records_per_sec": self.records_per_sec(),
            "payload_mib_per_sec": payload,
            "journal_mib_per_sec": journal,
            "commit_p50_us": self.commit_us.map(|c| c.0),
            "commit_p99_us": self.commit_us.map(|c| c.1),
            "commit_max_us": self.commit_us.map(|c| c.2),
            "synchronous_rolls": self.rolls_synchronous,
        })
    }
}

fn durability_name(d: Durability) -> &'static str {
    match d {
        Durability::None => "none",
        Durability::Fsync => "fsync",
    }
}

fn append_figure(
    base: &Path,
    durability: Durability,
    batch: u64,
    records: u64,
    runs: u32,
) -> Result<AppendFigure, String> {
    let mut seconds = Vec::new();
    let mut commits = Histogram::<u64>::new(3).map_err(err)?;
    let mut rolls_synchronous = 0;
    for run in 0..runs {
        let dir = base.join(format!(
            "append-{}-{batch}-{run}",
            durability_name(durability)
        ));
        let (elapsed, sync_rolls) = append_run(&dir, durability, batch, records, &mut commits)?;
        seconds.push(elapsed.as_secs_f64());
        rolls_synchronous += sync_rolls;
        let _ = std::fs::remove_dir_all(&dir);
    }
    let us = |q: f64| commits.value_at_quantile(q) as f64 / 1e3;
    Ok(AppendFigure {
        durability,
        batch,
        records,
        seconds_median: median(seconds),
        commit_us: (durability == Durability::Fsync)
            .then(|| (us(0.5), us(0.99), commits.max() as f64 / 1e3)),
        rolls_synchronous,
    })
}

/// One run: `records` appends, a commit after every `batch`. Returns the time and the rolls that had
/// to prepare a segment synchronously.
fn append_run(
    dir: &Path,
    durability: Durability,
    batch: u64,
    records: u64,
    commits: &mut Histogram<u64>,
) -> Result<(Duration, u64), String> {
    let config = JournalConfig {
        segment_size_bytes: JournalConfig::DEFAULT_SEGMENT_SIZE_BYTES,
        durability,
    };
    let (mut writer, _) = JournalWriter::open(dir, config).map_err(err)?;
    let payload = [0xA5u8; PAYLOAD_BYTES];
    let timed_commits = durability == Durability::Fsync;
    let started = Instant::now();
    let mut seq = 1;
    while seq <= records {
        let end = (seq + batch - 1).min(records);
        for s in seq..=end {
            writer.append(s, s * 1_000, 10, &payload).map_err(err)?;
        }
        if timed_commits {
            let t = Instant::now();
            writer.commit().map_err(err)?;
            let _ = commits.record(t.elapsed().as_nanos() as u64);
        } else {
            writer.commit().map_err(err)?;
        }
        seq = end + 1;
    }
    let elapsed = started.elapsed();
    Ok((elapsed, writer.roll_stats().prepared_synchronously))
}

fn print_append(f: &AppendFigure, header: bool) {
    if header {
        println!(
            "journal append: {PAYLOAD_BYTES}-byte payload, 64 MiB segments, one commit per batch (median of runs)"
        );
        println!(
            "  {:<10} {:>5} {:>9} {:>9} {:>13} {:>12} {:>12}  commit µs p50 / p99 / max",
            "durability",
            "batch",
            "records",
            "seconds",
            "records/s",
            "payload MB/s",
            "journal MB/s"
        );
    }
    let (payload, journal) = f.mib_per_sec();
    let commit = f
        .commit_us
        .map(|(p50, p99, max)| format!("{p50:.1} / {p99:.1} / {max:.1}"))
        .unwrap_or_else(|| "-".into());
    println!(
        "  {:<10} {:>5} {:>9} {:>9.3} {:>13.0} {:>12.1} {:>12.1}  {commit}",
        durability_name(f.durability),
        f.batch,
        f.records,
        f.seconds_median,
        f.records_per_sec(),
        payload,
        journal,
    );
}

// ------------------------------------------------------------------------------------------------
// A realistic engine journal
// ------------------------------------------------------------------------------------------------

/// Event time between inputs: 50,000 inputs per second of event time.
const STEP_NS: u64 = 20_000;
const PULSE_NS: u64 = 10_000_000;
/// Dispatches and refund dispatches left unanswered at any time (in flight at the channels).
const IN_FLIGHT: usize = 32;
const REFUNDS_IN_FLIGHT: usize = 8;
const ACQUIRER_SESSION: u64 = 1_000;
const ADMIN_SESSION: u64 = 1;

/// Inputs of each kind in the generated journal.
#[derive(Default, Debug, Clone, Copy)]
struct Mix {
    payments: u64,
    channel_results: u64,
    refunds: u64,
    refund_results: u64,
    queries: u64,
    pulses: u64,
    config: u64,
}

/// A snapshot taken while generating.
struct MidSnapshot {
    seq: u64,
    hash: StateHash,
    payload: sluice_journal::AlignedVec,
}

/// Generates inputs, journals them and applies them to a live engine whose outputs decide what
/// comes next (channel results answer real dispatches, refunds refer to real successes).
struct Generator {
    driver: Driver,
    writer: JournalWriter,
    buf: Vec<u8>,
    rng: Rng,
    dispatches: VecDeque<Dispatch>,
    refund_dispatches: VecDeque<RefundDispatch>,
    refundable: VecDeque<(u64, i64)>,
    next_request: u64,
    next_refund: u64,
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
            rng: Rng::new(7),
            dispatches: VecDeque::new(),
            refund_dispatches: VecDeque::new(),
            refundable: VecDeque::new(),
            next_request: 0,
            next_refund: 0,
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
                // One success in ten is refunded later (in full or in half).
                Ok(AnyMessage::PaymentResult(p))
                    if p.status == FinalStatus::Succeeded && p.order_id.is_multiple_of(10) =>
                {
                    self.refundable.push_back((p.request_id, p.amount_minor));
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
        if self.refundable.len() > 16 {
            return self.refund();
        }
        if self.rng.next_u64().is_multiple_of(20) && self.next_request > 0 {
            let order_id = 1 + self.rng.next_u64() % self.next_request;
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
        self.next_request += 1;
        self.mix.payments += 1;
        let id = self.next_request;
        let p = bench_payment(id, &mut self.rng);
        self.input(acquirer_sender(acquirer_of(p.merchant_id)), &p)
    }

    fn channel_result(&mut self) -> Result<(), String> {
        let Some(d) = self.dispatches.pop_front() else {
            return Ok(());
        };
        self.mix.channel_results += 1;
        let r = self.rng.next_u64() % 100_000;
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
        let Some((request_id, amount)) = self.refundable.pop_front() else {
            return Ok(());
        };
        self.next_refund += 1;
        self.mix.refunds += 1;
        let r = RefundRequest {
            refund_request_id: self.next_refund,
            payment_request_id: request_id,
            amount_minor: if request_id.is_multiple_of(2) {
                amount
            } else {
                amount / 2
            },
        };
        // Request ids of acquirer B's payments are refunded by acquirer B.
        let acquirer = acquirer_of(bench_merchant(request_id));
        self.input(acquirer_sender(acquirer), &r)
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

fn acquirer_sender(acquirer: u32) -> (u64, u32, u8) {
    (
        ACQUIRER_SESSION * u64::from(acquirer),
        acquirer,
        Role::Acquirer as u8,
    )
}

fn channel_sender(channel: u16) -> (u64, u32, u8) {
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
const MERCHANTS_A: [u32; 4] = [1001, 1002, 1003, 1004];
const OTHER_SHOP: u32 = 2001;
/// The merchants that take USD (the branch and the distributor take CNY and HKD, or CNY only).
const USD_MERCHANTS: [u32; 3] = [1001, 1002, 2001];
const PROMOTER: u32 = 501;
const CNY: u16 = 156;
const USD: u16 = 840;
/// 2026-11-26 00:00:00 UTC+8 in ns since the epoch.
const START_NS: u64 = 1_764_086_400_000_000_000;

/// The default configuration's Genesis, with room for `orders_max` orders (and refunds of half
/// of them).
fn world_genesis(orders_max: u64) -> Result<Genesis, String> {
    let mut genesis = Config::default_config().world.genesis;
    genesis.orders_max = u32::try_from(orders_max).map_err(err)?;
    genesis.refunds_max = genesis.refunds_max.max(genesis.orders_max / 2 + 16);
    Ok(genesis)
}

/// The default configuration's business world as admin inputs.
fn world_config() -> Vec<AnyMessage> {
    let world = Config::default_config().world;
    world.inputs.into_iter().map(|i| i.message).collect()
}

fn acquirer_of(merchant_id: u32) -> u32 {
    if merchant_id == OTHER_SHOP {
        ACQUIRER_B
    } else {
        ACQUIRER_A
    }
}

/// The merchant of payment `id`: the four merchants of acquirer A, and one in eight at acquirer B.
fn bench_merchant(id: u64) -> u32 {
    match id % 8 {
        7 => OTHER_SHOP,
        n => MERCHANTS_A[(n % 4) as usize],
    }
}

/// Payment `id`: a CNY wallet payment, or (one in six, at a merchant that takes USD) a USD card
/// payment; a promoter on one in five; each payer, device, IP and card its own, so velocity rules
/// count without blocking.
fn bench_payment(id: u64, rng: &mut Rng) -> PaymentRequest {
    let amount = 500 + (rng.next_u64() % 50_000) as i64;
    let merchant_id = bench_merchant(id);
    let mut p = PaymentRequest {
        request_id: id,
        merchant_id,
        promoter_id: if id.is_multiple_of(5) { PROMOTER } else { 0 },
        amount_minor: amount,
        currency: CNY,
        method: PaymentMethod::Wallet,
        scene: Scene::App,
        goods_category: 0,
        user_id: 1_000_000 + id,
        device_id: 50_000_000 + id,
        ip: Ip::v4([10, (id >> 16) as u8, (id >> 8) as u8, id as u8]),
        card_fingerprint: Chars::default(),
        card_bin: 0,
        country: Chars::new("CN"),
    };
    if id % 6 == 5 && USD_MERCHANTS.contains(&merchant_id) {
        p.currency = USD;
        p.method = PaymentMethod::Card;
        p.card_bin = 411_111;
        p.card_fingerprint = Chars::new(&format!("fp{id:014}"));
        p.country = Chars::new("US");
    }
    p
}

/// The generated journal: where it is, its last sequence, the final state hash, the snapshot.
struct Generated {
    last_seq: u64,
    final_hash: StateHash,
    mid: MidSnapshot,
    mix: Mix,
    journal_bytes: u64,
    seconds: f64,
}

fn generate(data_dir: &Path, events: u64) -> Result<Generated, String> {
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

// ------------------------------------------------------------------------------------------------
// Recovery
// ------------------------------------------------------------------------------------------------

/// Replays the whole journal from Genesis; returns (inputs replayed, seconds).
fn replay_journal_alone(data_dir: &Path, g: &Generated) -> Result<(u64, f64), String> {
    let started = Instant::now();
    let reader = JournalReader::open(&sluice_journal::journal_dir(data_dir)).map_err(err)?;
    let mut replayer = Replayer::from_genesis(&reader).map_err(err)?;
    let replayed = replayer
        .run_to(&reader, g.last_seq, |_| Ok::<(), sluice_node::Error>(()))
        .map_err(err)?;
    let seconds = started.elapsed().as_secs_f64();
    check_hash(&replayer.engine, g, "journal alone")?;
    Ok((replayed, seconds))
}

/// Loads the snapshot and replays the tail; returns (load s, restore s, tail inputs, tail s).
fn replay_from_snapshot(data_dir: &Path, g: &Generated) -> Result<[f64; 4], String> {
    let store = SnapshotStore::new(&sluice_journal::snapshots_dir(data_dir)).map_err(err)?;
    let t0 = Instant::now();
    let loaded = store.load(g.mid.seq).map_err(err)?;
    let t1 = Instant::now();
    let engine =
        Engine::from_snapshot(&loaded.payload, StateHash(loaded.state_hash)).map_err(err)?;
    let t2 = Instant::now();
    let reader = JournalReader::open(&sluice_journal::journal_dir(data_dir)).map_err(err)?;
    let mut replayer = Replayer::new(engine, sluice_node::Start::Genesis);
    let tail = replayer
        .run_to(&reader, g.last_seq, |_| Ok::<(), sluice_node::Error>(()))
        .map_err(err)?;
    let t3 = Instant::now();
    check_hash(&replayer.engine, g, "snapshot + tail")?;
    Ok([
        (t1 - t0).as_secs_f64(),
        (t2 - t1).as_secs_f64(),
        tail as f64,
        (t3 - t2).as_secs_f64(),
    ])
}

/// The server's start-up path on this data directory; returns seconds.
fn time_recover(data_dir: &Path, g: &Generated) -> Result<f64, String> {
    let mut config = Config::parse(DEFAULT_CONFIG).map_err(err)?;
    config.data_dir = data_dir.to_path_buf();
    config.durability = sluice_journal::Durability::None;
    config.segment_size_bytes = JournalConfig::DEFAULT_SEGMENT_SIZE_BYTES;
    let started = Instant::now();
    let recovered = recover(
        &config.data_dir,
        config.journal_config(),
        &config.world,
        sluice_node::wall_clock_ns(),
    )
    .map_err(err)?;
    let seconds = started.elapsed().as_secs_f64();
    check_hash(&recovered.engine, g, "recover()")?;
    Ok(seconds)
}

fn check_hash(engine: &Engine, g: &Generated, how: &str) -> Result<(), String> {
    let hash = engine.state_hash();
    if engine.last_seq() != g.last_seq || hash != g.final_hash {
        return Err(format!(
            "{how}: rebuilt state {hash} at {} differs from the generated {} at {}",
            engine.last_seq(),
            g.final_hash,
            g.last_seq
        ));
    }
    Ok(())
}

fn recovery_figures(base: &Path, events: u64, runs: u32, quiet: bool) -> Result<Value, String> {
    let data_dir = base.join("recovery");
    let g = generate(&data_dir, events)?;
    let mut alone = Vec::new();
    let mut replayed = 0;
    let mut recover_without = Vec::new();
    for _ in 0..runs {
        let (n, s) = replay_journal_alone(&data_dir, &g)?;
        replayed = n;
        alone.push(s);
        recover_without.push(time_recover(&data_dir, &g)?);
    }
    let store = SnapshotStore::new(&sluice_journal::snapshots_dir(&data_dir)).map_err(err)?;
    let t = Instant::now();
    store
        .write(g.mid.seq, g.mid.hash.0, &g.mid.payload)
        .map_err(err)?;
    let snapshot_write_s = t.elapsed().as_secs_f64();
    let mut parts = Vec::new();
    let mut recover_with = Vec::new();
    for _ in 0..runs {
        parts.push(replay_from_snapshot(&data_dir, &g)?);
        recover_with.push(time_recover(&data_dir, &g)?);
    }
    let part = |i: usize| median(parts.iter().map(|p| p[i]).collect());
    let (load_s, restore_s, tail, tail_s) = (part(0), part(1), part(2), part(3));
    let alone_s = median(alone);
    let figures = json!({
        "events": g.last_seq,
        "journal_mib": g.journal_bytes as f64 / MIB,
        "mix": format!("{:?}", g.mix),
        "generate_seconds": g.seconds,
        "journal_alone_events": replayed,
        "journal_alone_seconds": alone_s,
        "journal_alone_events_per_sec": replayed as f64 / alone_s,
        "snapshot_seq": g.mid.seq,
        "snapshot_bytes": g.mid.payload.len(),
        "snapshot_write_ms": snapshot_write_s * 1e3,
        "snapshot_load_ms": load_s * 1e3,
        "snapshot_restore_ms": restore_s * 1e3,
        "tail_events": tail,
        "tail_seconds": tail_s,
        "tail_events_per_sec": tail / tail_s,
        "snapshot_plus_tail_seconds": load_s + restore_s + tail_s,
        "recover_without_snapshot_seconds": median(recover_without),
        "recover_with_snapshot_seconds": median(recover_with),
    });
    if !quiet {
        print_recovery(&g, &figures);
    }
    Ok(figures)
}

fn print_recovery(g: &Generated, f: &Value) {
    let n = |k: &str| f[k].as_f64().unwrap_or(0.0);
    println!();
    println!(
        "recovery: generated engine journal of {} inputs ({:.1} MiB of records, generated in {:.1} s)",
        g.last_seq,
        n("journal_mib"),
        g.seconds
    );
    println!("  mix: {:?}", g.mix);
    println!(
        "  journal alone (Replayer from genesis): {:.0} inputs in {:.3} s = {:.0} inputs/s (goal >= 1,000,000)",
        n("journal_alone_events"),
        n("journal_alone_seconds"),
        n("journal_alone_events_per_sec")
    );
    println!(
        "  snapshot at sequence {} ({:.1} MiB; written in {:.1} ms): load {:.1} ms + restore {:.1} ms + tail of {:.0} inputs in {:.3} s ({:.0} inputs/s) = {:.3} s",
        g.mid.seq,
        n("snapshot_bytes") / MIB,
        n("snapshot_write_ms"),
        n("snapshot_load_ms"),
        n("snapshot_restore_ms"),
        n("tail_events"),
        n("tail_seconds"),
        n("tail_events_per_sec"),
        n("snapshot_plus_tail_seconds")
    );
    println!(
        "  recover() end to end (open and scan the journal, snapshot, replay, state hash): {:.3} s without the snapshot, {:.3} s with it",
        n("recover_without_snapshot_seconds"),
        n("recover_with_snapshot_seconds")
    );
    println!(
        "  every rebuilt state hash equals the generating engine's: {}",
        g.final_hash
    );
}

// ------------------------------------------------------------------------------------------------
// Snapshot of 1M orders
// ------------------------------------------------------------------------------------------------

/// Builds `orders` succeeded orders through the engine.
fn engine_with_orders(orders: u64) -> Result<Driver, String> {
    let genesis = world_genesis(orders + 16)?;
    let mut d = Driver::new(&genesis, START_NS).map_err(err)?;
    let refusals = d.configure(&world_config());
    if !refusals.is_empty() {
        return Err(format!("configuration refused: {refusals:?}"));
    }
    let mut rng = Rng::new(11);
    for id in 1..=orders {
        d.advance_ns(STEP_NS);
        let p = bench_payment(id, &mut rng);
        let (session, principal, role) = acquirer_sender(acquirer_of(p.merchant_id));
        let dispatch = d
            .apply(session, principal, role, &p)
            .iter()
            .find_map(|r| decode_frame::<Dispatch>(r.frame).ok());
        let Some(disp) = dispatch else {
            return Err(format!("payment {id} was not dispatched"));
        };
        let res = ChannelResult {
            order_id: disp.order_id,
            attempt: disp.attempt,
            outcome: ChannelOutcome::Succeeded,
            channel_code: 0,
            latency_us: 1_000,
            channel_ref: Chars::new("ch-ref-000001"),
        };
        d.advance_ns(STEP_NS);
        let (session, principal, role) = channel_sender(disp.channel_id);
        d.apply(session, principal, role, &res);
    }
    Ok(d)
}

fn snapshot_figure(orders: u64, runs: u32, quiet: bool) -> Result<Value, String> {
    let started = Instant::now();
    let d = engine_with_orders(orders)?;
    let build_s = started.elapsed().as_secs_f64();
    let mut serialize = Vec::new();
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let snapshot = d.engine.snapshot();
        serialize.push(t.elapsed().as_secs_f64());
        last = Some(snapshot);
    }
    let (hash, payload) = last.ok_or("no run")?;
    let t = Instant::now();
    let restored = Engine::from_snapshot(&payload, hash).map_err(err)?;
    let restore_s = t.elapsed().as_secs_f64();
    if restored.state_hash() != hash {
        return Err("restored snapshot has another state hash".into());
    }
    let t = Instant::now();
    let _ = d.engine.state_hash();
    let hash_s = t.elapsed().as_secs_f64();
    let serialize_s = median(serialize);
    let figures = json!({
        "orders": d.engine.summary().orders,
        "bytes": payload.len(),
        "serialize_ms": serialize_s * 1e3,
        "restore_ms": restore_s * 1e3,
        "state_hash_ms": hash_s * 1e3,
        "build_seconds": build_s,
    });
    if !quiet {
        println!();
        println!(
            "snapshot: Engine::snapshot() of {} orders (built through the engine in {build_s:.1} s): {} bytes ({:.1} MiB) serialized in {:.1} ms (median of {runs}); Engine::from_snapshot {:.1} ms; state_hash {:.1} ms",
            d.engine.summary().orders,
            payload.len(),
            payload.len() as f64 / MIB,
            serialize_s * 1e3,
            restore_s * 1e3,
            hash_s * 1e3
        );
    }
    Ok(figures)
}
