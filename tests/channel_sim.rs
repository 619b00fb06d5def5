//! `sluice channel-sim` as a real TCP connector, and journal pruning after snapshots.

mod common;

use common::*;
use sluice_protocol::*;
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn channel_sim_connects_answers_dispatches_and_honours_outages() {
    // The server's in-process simulator is off: only the connector process answers.
    let (_dir, server) = start_server("channel-sim", &Settings::default());
    let mut sim = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args([
            "channel-sim",
            "--addr",
            &server.addr.to_string(),
            "--seed",
            "7",
            "--seconds",
            "60",
        ])
        // WeChat Pay fails (retryable) for the first 1000 seconds: its payments fail over.
        .args(["--outage", "1:0-1000:error"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("start channel-sim");
    let mut acquirer = login(server.addr, "acq-a");
    // Wait until the five connectors are logged in (their first dispatch would otherwise time out).
    std::thread::sleep(Duration::from_millis(300));
    let mut results = Vec::new();
    for i in 0..40u64 {
        let method = if i % 2 == 0 {
            PaymentMethod::Wallet
        } else {
            PaymentMethod::Card
        };
        acquirer
            .send(&payment(500 + i, 1001, 1_000 + i as i64, method))
            .unwrap();
    }
    while results.len() < 40 {
        let r = wait_for(&mut acquirer, "PaymentResult", |m| match m {
            AnyMessage::PaymentResult(r) => Some(r.clone()),
            _ => None,
        });
        results.push(r);
    }
    // Every payment got a final answer from the connector process.
    assert_eq!(results.len(), 40);
    let succeeded = results
        .iter()
        .filter(|r| r.status == FinalStatus::Succeeded)
        .count();
    assert!(
        succeeded >= 32,
        "most payments succeed on the simulated channels: {succeeded}/40"
    );
    // No payment succeeded on WeChat Pay during its outage; those routed there failed over.
    assert!(
        results
            .iter()
            .all(|r| !(r.channel_id == 1 && r.status == FinalStatus::Succeeded)),
        "WeChat Pay fails everything during its outage"
    );
    assert!(
        results.iter().any(|r| r.attempts > 1),
        "some payments failed over from WeChat Pay"
    );
    let _ = sim.kill();
    let _ = sim.wait();
}

#[test]
fn covered_journal_segments_are_pruned_after_a_snapshot_when_configured() {
    let settings = Settings {
        simulator: true,
        segment_size_mb: 1,
        snapshot_every_inputs: 2_000,
        set: vec![
            ("covered_segments", "\"delete\"".into()),
            ("snapshots_keep", "1".into()),
        ],
        ..Settings::default()
    };
    let (dir, mut server) = start_server("prune", &settings);
    let mut acquirer = login(server.addr, "acq-a");
    for i in 0..8_000u64 {
        acquirer
            .send(&payment(10_000 + i, 1001, 500, PaymentMethod::Wallet))
            .unwrap();
        if i % 200 == 199 {
            // Keep the pipeline from queueing everything at once.
            wait_for(&mut acquirer, "an answer", |m| {
                matches!(m, AnyMessage::PaymentAck(a) if a.request_id == 10_000 + i).then_some(())
            });
        }
    }
    server.wait_for_line(Duration::from_secs(60), |l| {
        l.contains("journal segment(s) covered by snapshot")
    });
    assert_eq!(server.terminate().code(), Some(0));
    let segments = std::fs::read_dir(dir.join("data/journal"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".seg"))
        .count();
    assert!(segments >= 1);
    // The journal no longer starts at 1, and the server still recovers from the snapshot.
    let first = std::fs::read_dir(dir.join("data/journal"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".seg"))
        .min()
        .unwrap();
    assert_ne!(
        first,
        sluice_journal::segment_file_name(1),
        "the first segment was pruned"
    );
    let config = dir.join("sluice.toml");
    let restarted = ServerProcess::start(&config, &dir.join("data"));
    let mut acquirer = login(restarted.addr, "acq-a");
    let status = query_order(&mut acquirer, 10_000);
    assert_eq!(status.state, OrderState::Succeeded);
}

/// Runs `sluice channel-sim` against `addr` for `seconds` with its book and bills in `dir`.
fn channel_sim_with_bills(addr: std::net::SocketAddr, dir: &std::path::Path, seconds: &str) {
    let status = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args([
            "channel-sim",
            "--addr",
            &addr.to_string(),
            "--seconds",
            seconds,
        ])
        .arg("--book")
        .arg(dir.join("book"))
        .arg("--bills-dir")
        .arg(dir.join("bills"))
        .args(["--bill-discrepancies", "0.05", "--bill-seed", "3"])
        .stderr(Stdio::null())
        .status()
        .expect("run channel-sim");
    assert!(status.success());
}

/// The bills under `dir/bills`, each (path, bytes), sorted by path.
fn bill_files(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for channel in std::fs::read_dir(dir.join("bills")).expect("bills dir") {
        for f in std::fs::read_dir(channel.expect("entry").path()).expect("channel dir") {
            let path = f.expect("entry").path();
            let bytes = std::fs::read(&path).expect("read");
            files.push((path, bytes));
        }
    }
    files.sort();
    files
}

#[test]
fn channel_sim_writes_its_bills_at_shutdown_and_again_the_same_after_a_restart() {
    let (dir, server) = start_server("channel-sim-bills", &Settings::default());
    let addr = server.addr;
    let sim_dir = dir.path.clone();
    let sim = std::thread::spawn(move || channel_sim_with_bills(addr, &sim_dir, "4"));
    let mut acquirer = login(addr, "acq-a");
    std::thread::sleep(Duration::from_millis(500));
    for i in 0..30u64 {
        let method = if i % 2 == 0 {
            PaymentMethod::Wallet
        } else {
            PaymentMethod::Card
        };
        acquirer
            .send(&payment(700 + i, 1001, 1_000 + i as i64, method))
            .unwrap();
    }
    let mut captures = std::collections::BTreeMap::new();
    for _ in 0..30 {
        let r = wait_for(&mut acquirer, "PaymentResult", |m| match m {
            AnyMessage::PaymentResult(r) => Some(r.clone()),
            _ => None,
        });
        if r.status == FinalStatus::Succeeded {
            captures.insert(r.channel_ref.as_str().into_owned(), r.fee_minor);
        }
    }
    sim.join().expect("channel-sim");
    let first = bill_files(&dir.path);
    let mut billed = std::collections::BTreeMap::new();
    for (path, bytes) in first
        .iter()
        .filter(|(p, _)| !p.to_string_lossy().ends_with(".json"))
    {
        let bill = sluice_bills::parse(&path.display().to_string(), bytes, None)
            .unwrap_or_else(|e| panic!("{e}"));
        for l in bill.lines.iter().filter(|l| l.out_trade_no.len() < 12) {
            if l.kind == sluice_bills::LineKind::Payment {
                billed.insert(l.channel_trade_no.clone(), l.fee_minor);
            }
        }
    }
    assert!(!captures.is_empty());
    // Injected discrepancies aside (5 % a class), the captures are billed with the engine's fee.
    let agreeing = captures
        .iter()
        .filter(|(r, fee)| billed.get(*r) == Some(fee))
        .count();
    assert!(
        agreeing * 2 > captures.len(),
        "{agreeing} of {captures:?} in {billed:?}"
    );
    // Restarted on its book, its bills gone: the same files again, byte for byte.
    std::fs::remove_dir_all(dir.path.join("bills")).expect("remove the bills");
    channel_sim_with_bills(addr, &dir.path, "1");
    assert_eq!(bill_files(&dir.path), first);
}
