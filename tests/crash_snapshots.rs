//! Crashes with the snapshot follower and retention at work: the real `sluice serve` (channel
//! simulator on) with snapshots every 5,000 inputs and every second, a small order table whose
//! final orders retire 100 ms after their last change (docs/ENGINE.md, "Retention"), payments over
//! TCP, SIGKILL at seeded random moments — some of them while the follower is serializing or the
//! writer is writing — and a restart on the same data directory each time.
//!
//! What it checks:
//! - each restart recovers the state a clean replay of the journal gives (the hash it logs);
//! - after the first cycles, restarts start from a snapshot the follower took (not from Genesis);
//! - after the last restart every payment that was acknowledged as accepted is still there
//!   (QueryOrder: in flight or final, with the amount and merchant it was sent with), most of them
//!   as receipts of retired orders;
//! - a clean stop takes its snapshot at the last durable sequence (the follower caught up), and
//!   `sluice replay check` passes on the data directory.
//!
//! Run: `cargo test --test crash_snapshots` (6 kills, 10-15 s in the debug profile on 2 cores);
//! `cargo test --test crash_snapshots -- --ignored` for 40 (`SLUICE_SOAK_CYCLES=N` for N).
//! `SLUICE_TEST_SEED=<seed>` repeats its random choices (the thread timing is the machine's).

mod common;

use common::*;
use sluice_gateway::client::Client;
use sluice_node::Replayer;
use sluice_protocol::*;
use sluice_workload::Workload;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Kills (and so restarts) in a run.
const CYCLES: u32 = 6;
/// The follower snapshots at every multiple of this sequence.
const SNAPSHOT_EVERY_INPUTS: u64 = 5_000;

/// Payments sent and the accepted acks received, by request id.
#[derive(Default)]
struct Seen {
    sent: BTreeMap<u64, PaymentRequest>,
    accepted: BTreeMap<u64, PaymentAck>,
}

/// One acquirer connection pipelining payments (at most `WINDOW` unanswered) until `stop` or the
/// server goes away.
fn drive(addr: SocketAddr, first_request_id: u64, seed: u64, stop: &AtomicBool) -> Seen {
    const WINDOW: usize = 4;
    let mut seen = Seen::default();
    let Ok(mut c) = Client::login(addr, Role::Acquirer, "acq-a", "sluice-demo-acquirer-a") else {
        return seen;
    };
    let mut workload = Workload::new(seed, first_request_id - 1);
    let mut unanswered = 0usize;
    loop {
        while !stop.load(Ordering::Relaxed) && unanswered < WINDOW {
            let request = workload.payment(&[1001, 1002, 1003, 1004]);
            if c.send(&request).is_err() {
                return seen;
            }
            unanswered += 1;
            seen.sent.insert(request.request_id, request);
        }
        match c.recv(Duration::from_millis(20)) {
            Ok(Some(AnyMessage::PaymentAck(a))) => {
                unanswered = unanswered.saturating_sub(1);
                assert!(seen.sent.contains_key(&a.request_id), "{a:?}");
                if a.status != AckStatus::Rejected && a.order_id != 0 {
                    seen.accepted.insert(a.request_id, a);
                }
            }
            Ok(Some(_)) | Ok(None) => {}
            Err(_) => return seen,
        }
    }
}

/// Every accepted payment is known to the server, in flight or final, as it was sent; returns how
/// many are retired.
fn verify_accepted(addr: SocketAddr, seen: &Seen) -> usize {
    let mut retired = 0;
    let mut c = login(addr, "acq-a");
    let ids: Vec<u64> = seen.accepted.keys().copied().collect();
    for chunk in ids.chunks(256) {
        for &id in chunk {
            c.send(&query(id)).expect("send QueryOrder");
        }
        let mut statuses = BTreeMap::new();
        while statuses.len() < chunk.len() {
            if let AnyMessage::OrderStatus(s) = next(&mut c, "OrderStatus") {
                statuses.insert(s.request_id, s);
            }
        }
        for &id in chunk {
            let (s, ack, sent) = (&statuses[&id], &seen.accepted[&id], &seen.sent[&id]);
            let known = !matches!(s.state, OrderState::NotFound | OrderState::Rejected);
            assert!(
                known,
                "payment {id} was accepted ({ack:?}) but is now {s:?}"
            );
            assert_eq!(s.order_id, ack.order_id, "payment {id}");
            assert_eq!(s.amount_minor, sent.amount_minor, "payment {id}");
            assert_eq!(s.merchant_id, sent.merchant_id, "payment {id}");
            retired += usize::from(s.retired);
        }
    }
    retired
}

/// The hash of a clean replay of the journal in `data` to `seq`, carried over cycles.
fn clean_hash(replayer: &mut Option<Replayer>, data: &Path, seq: u64) -> String {
    let reader = sluice_journal::JournalReader::open(&sluice_journal::journal_dir(data))
        .unwrap_or_else(|e| panic!("open the journal: {e}"));
    let replayer = match replayer.as_mut() {
        Some(r) => r,
        None => replayer.insert(Replayer::from_genesis(&reader).expect("genesis")),
    };
    replayer
        .run_to(&reader, seq, |_| Ok::<(), sluice_node::Error>(()))
        .unwrap_or_else(|e| panic!("replay to {seq}: {e}"));
    replayer.engine.state_hash().to_string()
}

/// Loads the server from two connections for a random while, then SIGKILLs it.
fn load_and_kill(server: &mut ServerProcess, rng: &mut Rng, next_id: &mut u64, seen: &mut Seen) {
    let stop = Arc::new(AtomicBool::new(false));
    let drivers: Vec<_> = (0..2u64)
        .map(|i| {
            let (stop, addr) = (stop.clone(), server.addr);
            let (first, seed) = (*next_id + i * 1_000_000, rng.next_u64());
            std::thread::spawn(move || drive(addr, first, seed, &stop))
        })
        .collect();
    *next_id += 2_000_000;
    std::thread::sleep(Duration::from_millis(rng.inclusive(300, 1_000)));
    server.kill();
    stop.store(true, Ordering::Relaxed);
    for d in drivers {
        let s = d.join().expect("load thread");
        seen.sent.extend(s.sent);
        seen.accepted.extend(s.accepted);
    }
}

/// The sequence of the snapshot the server loaded at start, if it loaded one.
fn loaded_snapshot(server: &ServerProcess) -> Option<u64> {
    server.log_lines().iter().find_map(|l| {
        let m = log_message(l);
        let (_, after) = m.split_once(" loaded (sequence ")?;
        let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    })
}

#[test]
fn kills_with_follower_snapshots_lose_no_accepted_payment() {
    run_kills("crash-snapshots", CYCLES);
}

#[test]
#[ignore = "long: `cargo test --test crash_snapshots -- --ignored` (SLUICE_SOAK_CYCLES=N)"]
fn many_kills_with_follower_snapshots() {
    let cycles = std::env::var("SLUICE_SOAK_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    run_kills("crash-snapshots-soak", cycles);
}

fn run_kills(name: &str, cycles: u32) {
    let seed = seed_from_env();
    eprintln!("crash_snapshots: seed {seed} (SLUICE_TEST_SEED={seed} repeats it)");
    let mut rng = Rng::new(seed);
    let dir = TestDir::new(name);
    let settings = Settings {
        simulator: true,
        segment_size_mb: 1,
        snapshot_every_inputs: SNAPSHOT_EVERY_INPUTS,
        orders_max: 20_000,
        set: vec![
            ("snapshot_every_secs", "1".into()),
            ("snapshots_keep", "2".into()),
            ("order_retention_ms", "100".into()),
            ("receipts_max", "200000".into()),
        ],
        ..Settings::default()
    };
    let config = write_config(&dir.path, &settings);
    let data = dir.join("data");
    let (mut seen, mut replayer) = (Seen::default(), None);
    let (mut next_id, mut from_snapshots) = (1u64, 0u32);
    let started = Instant::now();
    for cycle in 0..=cycles {
        let mut server = ServerProcess::start(&config, &data);
        let logged = server.recovered_hash();
        assert_eq!(
            clean_hash(&mut replayer, &data, logged.seq),
            logged.hash,
            "cycle {cycle}: the recovered state differs from a clean replay"
        );
        let loaded = loaded_snapshot(&server);
        from_snapshots += u32::from(loaded.is_some());
        eprintln!(
            "cycle {cycle}: recovered at {}, from {loaded:?}",
            logged.seq
        );
        if cycle == cycles {
            let retired = verify_accepted(server.addr, &seen);
            assert!(retired > 0, "no accepted payment retired");
            eprintln!(
                "{retired} of {} accepted payments retired",
                seen.accepted.len()
            );
            assert!(server.terminate().success(), "a clean stop exits 0");
            let stopped = server.stopped_hash();
            let last_snapshot = server.wait_for_line(START_WAIT, |l| {
                says(l, &format!("snapshot at sequence {}:", stopped.seq))
            });
            assert!(last_snapshot.contains("serialized by the snapshot follower"));
            break;
        }
        load_and_kill(&mut server, &mut rng, &mut next_id, &mut seen);
    }
    assert!(
        from_snapshots >= cycles / 2,
        "only {from_snapshots} of {} restarts started from a snapshot",
        cycles + 1
    );
    assert!(!seen.accepted.is_empty(), "no payment was accepted");
    let (ok, report) = replay_check(&data);
    assert!(ok, "sluice replay check failed:\n{report}");
    eprintln!(
        "crash_snapshots: {cycles} kills, {} payments accepted, {from_snapshots} restarts from a \
         snapshot, in {:?}",
        seen.accepted.len(),
        started.elapsed()
    );
}
