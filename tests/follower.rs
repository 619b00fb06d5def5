//! A follower of the live journal (`sluice_node::Follower`), against the real server in-process
//! under load, with durability `fsync` and the journaler held back (`journal_delay_us`), so the
//! processor runs ahead of the durable cursor:
//! - the follower never applies past the durable cursor, while the processor does;
//! - killed mid-run (dropped without saving) and opened again, it resumes after its saved
//!   position — records at or before it are not handed to it again — and not from Genesis;
//! - at the end its engine has the live engine's state hash at the same sequence.

mod common;
use sluice_gateway::client::Client;
use sluice_gateway::config::Config;
use sluice_gateway::server::{ServeOptions, Server};
use sluice_node::{DurableCursor, Follower};
use sluice_protocol::*;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(60);
const PAYMENTS: u64 = 12_000;
const WINDOW: u64 = 200;

fn config(dir: &Path) -> Config {
    let mut config = common::in_process_config(dir, 40_000);
    config.durability = sluice_journal::Durability::Fsync;
    config.pipeline.journal_delay_us = 2_000;
    config.pipeline.snapshot_every_inputs = 4_000;
    config
}

fn payment(request_id: u64) -> PaymentRequest {
    PaymentRequest {
        request_id,
        merchant_id: [1001, 1002, 1003, 1004][(request_id % 4) as usize],
        amount_minor: 1_000 + (request_id % 977) as i64,
        currency: 156,
        method: PaymentMethod::Wallet,
        user_id: 10_000 + request_id % 5_000,
        country: Chars::new("CN"),
        ..PaymentRequest::default()
    }
}

/// Sends the payments in windows and waits for each window's acks.
fn drive(addr: std::net::SocketAddr) {
    let mut client =
        Client::login(addr, Role::Acquirer, "acq-a", "sluice-demo-acquirer-a").expect("login");
    let mut next = 1;
    while next <= PAYMENTS {
        let end = (next + WINDOW).min(PAYMENTS + 1);
        for id in next..end {
            client.send(&payment(id)).expect("send");
        }
        let mut acked = 0;
        while acked < end - next {
            client
                .recv_until(WAIT, |m| {
                    matches!(m, AnyMessage::PaymentAck(_)).then_some(())
                })
                .expect("ack");
            acked += 1;
        }
        next = end;
    }
}

/// Polls the follower until `until` says stop; checks the durable-cursor rule after every poll and
/// saves the position every few polls. Returns the records it was handed, in order.
fn follow(
    follower: &mut Follower,
    cursor: &DurableCursor,
    processor_ahead: &AtomicBool,
    shared: &sluice_gateway::pipeline::Shared,
    mut until: impl FnMut(&Follower) -> bool,
) -> Vec<u64> {
    let mut handed = Vec::new();
    let mut polls = 0u64;
    while !until(follower) {
        let applied = follower
            .poll(500, |step| {
                handed.push(step.record.seq);
                Ok(())
            })
            .expect("poll");
        // Read the follower's position first, then the cursor: the cursor only grows.
        let follower_at = follower.applied_seq();
        let durable = cursor.get();
        assert!(
            follower_at <= durable,
            "the follower applied {follower_at}, past the durable cursor {durable}"
        );
        if shared.applied_seq.load(Ordering::Acquire) > cursor.get() {
            processor_ahead.store(true, Ordering::Relaxed);
        }
        polls += 1;
        if polls.is_multiple_of(7) {
            follower.save_position().expect("save position");
        }
        if applied == 0 {
            std::thread::sleep(Duration::from_micros(300));
        }
    }
    handed
}

#[test]
fn a_follower_never_passes_the_durable_cursor_resumes_after_a_kill_and_matches_the_live_state() {
    let test_dir = common::TestDir::new("follower-live");
    let dir = test_dir.path.clone();
    let server = Server::start(config(&dir), ServeOptions::default()).expect("server starts");
    let addr = server.local_addr;
    let stop = server.stop.clone();
    let cursor = server.durable_cursor();
    let shared = server.shared();
    let running = std::thread::spawn(move || server.run());
    let load = std::thread::spawn(move || drive(addr));
    let processor_ahead = AtomicBool::new(false);

    // First life: follow part of the way (about half: each payment brings a channel result),
    // then die without saving the last stretch.
    let mut first = Follower::open(&dir, "test", cursor.clone()).expect("open follower");
    assert_eq!(
        first.applied_seq(),
        1,
        "a new follower starts after Genesis"
    );
    let handed_first = follow(&mut first, &cursor, &processor_ahead, &shared, |f| {
        f.applied_seq() >= PAYMENTS
    });
    assert_eq!(handed_first.first(), Some(&2));
    let saved = first.status().saved_seq;
    let died_at = first.applied_seq();
    assert!(
        saved > 1000 && saved <= died_at,
        "saved {saved}, applied {died_at}"
    );
    drop(first);

    // Second life: resumes after the saved position, rebuilt from a snapshot and the journal.
    let mut second = Follower::open(&dir, "test", cursor.clone()).expect("reopen follower");
    assert_eq!(second.applied_seq(), saved, "resumes at its saved position");
    eprintln!(
        "first life: handed {}..={died_at}, saved {saved}; second life resumes at {saved}",
        handed_first[0]
    );
    load.join().expect("load thread");
    let handed_second = follow(&mut second, &cursor, &processor_ahead, &shared, |f| {
        f.applied_seq() >= shared.applied_seq.load(Ordering::Acquire)
            && f.applied_seq() == cursor.get()
    });
    assert_eq!(
        handed_second.first(),
        Some(&(saved + 1)),
        "nothing at or before the saved position is handed again"
    );
    assert!(
        handed_second.windows(2).all(|w| w[1] == w[0] + 1),
        "records come once each, in order"
    );
    assert!(
        processor_ahead.load(Ordering::Relaxed),
        "the journaler was held back: the processor ran ahead of the durable cursor"
    );

    // The live engine stops; the follower applies what the shutdown made durable and matches it.
    stop.store(true, Ordering::Release);
    let report = running.join().expect("server thread");
    assert!(report.error.is_none(), "{:?}", report.error);
    let deadline = Instant::now() + WAIT;
    while second.applied_seq() < report.last_seq {
        assert!(Instant::now() < deadline, "the follower did not catch up");
        second.poll(4096, |_| Ok(())).expect("poll");
    }
    assert_eq!(second.applied_seq(), report.last_seq);
    assert_eq!(Some(second.engine().state_hash()), report.state_hash);
    eprintln!(
        "live engine and follower at sequence {}: state hash {}; largest lag {} inputs",
        report.last_seq,
        second.engine().state_hash(),
        second.progress().max_lag_inputs()
    );
    second.save_position().expect("save");
    assert_eq!(second.status().saved_seq, report.last_seq);
    assert_eq!(second.status().lag_inputs, 0);
}

#[test]
fn a_follower_refuses_a_bad_name_and_a_damaged_position_file() {
    let test_dir = common::TestDir::new("follower-bad");
    let dir = test_dir.path.clone();
    let mut config = config(&dir);
    config.pipeline.journal_delay_us = 0;
    let server = Server::start(config, ServeOptions::default()).expect("server starts");
    let cursor = server.durable_cursor();
    let stop = server.stop.clone();
    let running = std::thread::spawn(move || server.run());
    let e = Follower::open(&dir, "../escape", cursor.clone())
        .err()
        .expect("refused");
    assert!(e.0.contains("follower name"), "{e}");
    let position = sluice_node::follower::position_path(&dir, "damaged");
    std::fs::create_dir_all(position.parent().expect("parent")).expect("mkdir");
    std::fs::write(&position, b"not a position file at all").expect("write");
    let e = Follower::open(&dir, "damaged", cursor.clone())
        .err()
        .expect("refused");
    assert!(e.0.contains("damaged.pos"), "{e}");
    sluice_node::follower::write_position(&position, u64::MAX / 2).expect("write");
    let e = Follower::open(&dir, "damaged", cursor)
        .err()
        .expect("refused");
    assert!(e.0.contains("past the durable cursor"), "{e}");
    stop.store(true, Ordering::Release);
    let _ = running.join();
}
