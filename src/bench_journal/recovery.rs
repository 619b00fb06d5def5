//! Recovery figures — the generated journal rebuilt from Genesis, from the snapshot plus the tail,
//! and by the server's start-up path — and the cost of a snapshot of a million orders.

use serde_json::{Value, json};
use sluice_engine::driver::Driver;
use sluice_engine::{Engine, StateHash};
use sluice_gateway::config::{Config, DEFAULT_CONFIG};
use sluice_journal::{JournalConfig, JournalReader, SnapshotStore};
use sluice_node::recovery::recover;
use sluice_node::replayer::Replayer;
use sluice_protocol::*;
use std::path::Path;
use std::time::Instant;

use super::scenario::{
    Generated, MERCHANTS, START_NS, STEP_NS, acquirer_of, acquirer_sender, channel_sender,
    generate, world_config, world_genesis,
};
use super::{MIB, err, median};
use sluice_workload::Workload;

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

pub(super) fn recovery_figures(
    base: &Path,
    events: u64,
    runs: u32,
    quiet: bool,
) -> Result<Value, String> {
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

/// Builds `orders` succeeded orders through the engine, from the shared workload (payments that
/// risk refuses are left out and do not count).
fn engine_with_orders(orders: u64) -> Result<Driver, String> {
    let genesis = world_genesis(orders + orders / 50 + 16)?;
    let mut d = Driver::new(&genesis, START_NS).map_err(err)?;
    let refusals = d.configure(&world_config());
    if !refusals.is_empty() {
        return Err(format!("configuration refused: {refusals:?}"));
    }
    let mut workload = Workload::new(11, 0);
    let mut built = 0;
    while built < orders {
        d.advance_ns(STEP_NS);
        let p = workload.payment(&MERCHANTS);
        let (session, principal, role) = acquirer_sender(acquirer_of(p.merchant_id));
        let dispatch = d
            .apply(session, principal, role, &p)
            .iter()
            .find_map(|r| decode_frame::<Dispatch>(r.frame).ok());
        let Some(disp) = dispatch else {
            continue;
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
        built += 1;
    }
    Ok(d)
}

pub(super) fn snapshot_figure(orders: u64, runs: u32, quiet: bool) -> Result<Value, String> {
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
