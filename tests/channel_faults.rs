//! Channel faults end to end (issue 17, the channel's side). Over TCP: the server and
//! `sluice channel-sim` as a separate process with a fault profile and a book file; the channel-sim
//! is killed mid-run and started again on the same book; at the end every payment has its result,
//! the channels' book matches the engine's figures to the minor unit, and nobody paid twice.
//! In-process: the demo's fault run, and the same run with the engine's automatic reversals
//! switched off (test-support), where the same check must fail.

mod common;

use common::*;
use sluice_engine::Engine;
use sluice_gateway::client::Client;
use sluice_gateway::server::{ServeOptions, Server};
use sluice_gateway::sim_book::{Book, BookSummary};
use sluice_gateway::sim_check;
use sluice_gateway::sim_faults::Faults;
use sluice_node::wall_clock_ns;
use sluice_protocol::*;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The test configuration with a short query window on every channel (3 s instead of 60 s), so
/// that attempts the channel never saw (dispatched while it was down) are closed and fail over
/// within the test.
fn config_with_short_windows(dir: &Path) -> std::path::PathBuf {
    let text = config_text(&Settings::default());
    let mut out = String::with_capacity(text.len() + 1024);
    // Payment channels only ([[channels]]); payout channels have no query window.
    let mut section = "";
    for line in text.lines() {
        out.push_str(line);
        out.push('\n');
        if line.starts_with('[') {
            section = line.trim();
        }
        if section == "[[channels]]" && line.starts_with("timeout_ms =") {
            out.push_str("query_window_ms = 3000\n");
        }
    }
    sluice_gateway::config::Config::parse(&out).expect("the test configuration parses");
    let path = dir.join("sluice.toml");
    std::fs::write(&path, out).expect("write the configuration");
    path
}

/// `sluice channel-sim` with a fault profile and a book file; returns once its five channels are
/// logged in, with the number of records its book held at start.
fn start_channel_sim(addr: std::net::SocketAddr, book: &Path, seed: u64) -> (Child, u64) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["channel-sim", "--addr", &addr.to_string()])
        .args(["--seed", &seed.to_string(), "--book"])
        .arg(book)
        .args([
            "--faults",
            "late=0.04,lost=0.04,duplicate=0.05,disconnect=0.01,disconnect-ms=800,slow-queries=0.2,silent-queries=0.1,late-ms=3000",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .expect("start channel-sim");
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = crossbeam::channel::unbounded();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("[channel-sim] {line}");
            let _ = tx.send(line);
        }
    });
    let (mut logged_in, mut records) = (0, None);
    while logged_in < 5 {
        let line = rx
            .recv_timeout(START_WAIT)
            .expect("channel-sim logs its channels in");
        logged_in += usize::from(line.contains("logged in as"));
        if let Some(rest) = line.split(" (").nth(1).filter(|_| line.contains(" book ")) {
            records = rest.split_whitespace().next().and_then(|n| n.parse().ok());
        }
    }
    (child, records.expect("channel-sim names its book"))
}

/// What the book file says now.
fn book_summary(path: &Path) -> BookSummary {
    let mut book = Book::new(false);
    for r in sluice_gateway::sim_book_file::read(path).expect("the book reads") {
        book.apply(&r);
    }
    book.summary(wall_clock_ns())
}

/// How each payment ended: its PaymentResult, or None when it was refused (PaymentAck Rejected,
/// e.g. NoChannelAvailable while the channels are out of rotation).
type Finals = BTreeMap<u64, Option<PaymentResult>>;

/// Sends `range` of payments, 10 every 20 ms, keeping how those that ended did.
fn send_payments(acquirer: &mut Client, range: std::ops::Range<u64>, results: &mut Finals) {
    for id in range {
        let method = if id % 2 == 0 {
            PaymentMethod::Wallet
        } else {
            PaymentMethod::Card
        };
        let merchant = [1001, 1002, 1003, 1004][(id % 4) as usize];
        let amount_minor = 1_000 + (id as i64 * 37) % 50_000;
        acquirer
            .send(&payment(id, merchant, amount_minor, method))
            .expect("send a payment");
        if id % 10 == 9 {
            collect(acquirer, Duration::from_millis(20), results);
        }
    }
}

/// Keeps the final answers that arrive within `wait` (and checks each payment has at most one).
fn collect(acquirer: &mut Client, wait: Duration, results: &mut Finals) {
    let until = Instant::now() + wait;
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        let (request_id, end) = match acquirer.recv(left) {
            Ok(Some(AnyMessage::PaymentResult(r))) => (r.request_id, Some(r)),
            Ok(Some(AnyMessage::PaymentAck(a))) if a.status == AckStatus::Rejected => {
                (a.request_id, None)
            }
            Ok(_) => continue,
            Err(e) => panic!("acquirer: {e}"),
        };
        let first = results.insert(request_id, end).is_none();
        assert!(first, "payment {request_id} ended twice");
    }
}

/// Waits until nothing is unknown, in flight or pending, three times in a row.
fn settle(addr: std::net::SocketAddr, book: &Path) -> (StatsReport, BookSummary) {
    let mut admin = login(addr, "admin");
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut calm = 0;
    loop {
        let stats = sim_check::stats(&mut admin).expect("StatsReport");
        let summary = book_summary(book);
        let settled = stats.unknown_attempts == 0
            && stats.unknown_refunds == 0
            && stats.late_captures == stats.reversals
            && stats.in_flight == 0
            && summary.pending == 0;
        calm = if settled { calm + 1 } else { 0 };
        if calm == 3 {
            return (stats, summary);
        }
        assert!(
            Instant::now() < deadline,
            "the run did not settle: {stats:?}\n{summary:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn a_channel_sim_killed_and_restarted_keeps_its_book_and_nobody_pays_twice() {
    const PAYMENTS: u64 = 300;
    let dir = TestDir::new("channel-faults-tcp");
    let config = config_with_short_windows(&dir.path);
    let mut server = ServerProcess::start(&config, &dir.join("data"));
    let book = dir.join("channels.book");
    let (mut sim, records) = start_channel_sim(server.addr, &book, 7);
    assert_eq!(records, 0, "a new book");
    let mut acquirer = login(server.addr, "acq-a");
    let mut results = Finals::new();
    send_payments(&mut acquirer, 0..150, &mut results);
    // Until the channels have booked 60 attempts and answered 60 payments.
    let until = Instant::now() + Duration::from_secs(60);
    while (book_summary(&book).attempts < 60 || results.len() < 60) && Instant::now() < until {
        collect(&mut acquirer, Duration::from_millis(50), &mut results);
    }
    let booked = book_summary(&book).attempts;
    // Killed mid-run (SIGKILL: no goodbye), with answers in flight; payments keep coming.
    sim.kill().expect("kill channel-sim");
    let _ = sim.wait();
    send_payments(&mut acquirer, 150..200, &mut results);
    let (mut sim, records) = start_channel_sim(server.addr, &book, 8);
    assert!(
        records >= booked && booked >= 60,
        "the restarted channel-sim read its book back: {records} records, {booked} attempts before"
    );
    send_payments(&mut acquirer, 200..PAYMENTS, &mut results);
    let deadline = Instant::now() + Duration::from_secs(120);
    while (results.len() as u64) < PAYMENTS && Instant::now() < deadline {
        collect(&mut acquirer, Duration::from_millis(200), &mut results);
    }
    // Every payment ended, once (`collect` checks once).
    assert_eq!(results.len() as u64, PAYMENTS, "payments that ended");
    let (stats, summary) = settle(server.addr, &book);
    stop_gracefully(&mut sim);
    assert_eq!(server.terminate().code(), Some(0));
    // The engine's figures, rebuilt from the journal.
    let parsed = sluice_gateway::config::Config::parse(&std::fs::read_to_string(&config).unwrap())
        .expect("configuration");
    let recovered = sluice_node::recovery::recover(
        &dir.join("data"),
        parsed.journal_config(),
        &parsed.world,
        wall_clock_ns(),
    )
    .expect("recover the engine");
    let ledger = sim_check::ledger_figures(&recovered.engine);
    let check = sim_check::check(&summary, &ledger);
    assert!(check.passed(), "{:?}\n{stats:?}", check.mismatches);
    assert_eq!(check.double_charges, 0);
    let succeeded = results
        .values()
        .flatten()
        .filter(|r| r.status == FinalStatus::Succeeded)
        .count() as u64;
    assert_eq!(
        summary.payments_captured, succeeded,
        "each succeeded payment captured once, and no failed one captured"
    );
    assert!(summary.closed > 0, "some attempts were closed: {summary:?}");
    assert!(
        stats.unknown_resolved > 0,
        "some attempts were resolved by asking"
    );
    eprintln!(
        "tcp: {} payments ({succeeded} succeeded), {} attempts booked ({} closed, {} captured once), unknown resolved {}, late captures {}, reversals {}, double charges {}",
        results.len(),
        summary.attempts,
        summary.closed,
        summary.payments_captured,
        stats.unknown_resolved,
        stats.late_captures,
        stats.reversals,
        check.double_charges
    );
}

/// Stops channel-sim with SIGTERM (it logs out and prints its summary).
fn stop_gracefully(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// The demo's fault run in-process (`configure_fault_run`: faults on every channel, alipay on
/// FailOver and slow to answer queries), `payments` payments, settled; returns the check of the
/// channels' book against the engine's figures as the server stopped.
fn in_process_fault_run(
    name: &str,
    (reversals, failover_lost): (bool, f64),
    (profile, payments): (&str, u64),
) -> (TestDir, sim_check::BookCheck) {
    let dir = TestDir::new(name);
    let mut config = in_process_config(&dir.path, 20_000);
    let faults = Faults::parse(profile).expect("profile");
    sim_check::configure_fault_run(&mut config, &faults, failover_lost);
    // The in-process simulator keeps its book in a file too: it must say what the live one does.
    let book = dir.join("channels.book");
    config.simulator.book = Some(book.clone());
    let options = ServeOptions {
        prepare_engine: (!reversals)
            .then_some(Engine::disable_reversals_for_tests as fn(&mut Engine)),
        ..ServeOptions::default()
    };
    let server = Server::start(config, options).expect("server starts");
    let (addr, stop, control) = (server.local_addr, server.stop.clone(), server.sim_control());
    let thread = std::thread::spawn(move || server.run());
    let mut acquirer = login(addr, "acq-a");
    let mut results = Finals::new();
    send_payments(&mut acquirer, 0..payments, &mut results);
    let deadline = Instant::now() + Duration::from_secs(120);
    while (results.len() as u64) < payments && Instant::now() < deadline {
        collect(&mut acquirer, Duration::from_millis(200), &mut results);
    }
    assert_eq!(results.len() as u64, payments, "payments that ended");
    let mut admin = login(addr, "admin");
    let (standing, settled) =
        sim_check::settle(&mut admin, &control, Duration::from_secs(60)).expect("settle");
    assert!(settled, "the run settles: {standing:?}");
    stop.store(true, std::sync::atomic::Ordering::Release);
    let report = thread.join().expect("server thread");
    assert!(report.error.is_none(), "{:?}", report.error);
    let s = &standing.stats;
    eprintln!(
        "{name}: unknown resolved {}, late captures {}, reversals {}; faults {:?}",
        s.unknown_resolved, s.late_captures, s.reversals, standing.sim.faults
    );
    let mut from_file = book_summary(&book);
    from_file.pending = standing.sim.book.pending;
    assert_eq!(
        from_file, standing.sim.book,
        "the book file says what the live book says"
    );
    let check = sim_check::check(&standing.sim.book, &report.channel_figures);
    (dir, check)
}

#[test]
fn the_books_check_fails_when_the_engine_does_not_reverse_captures_it_does_not_keep() {
    // The same run twice, only the engine's automatic reversals differ (test-support switch).
    // Half the answers late and half the FailOver channel's answers lost: its abandoned attempts
    // capture after the window, their answers lost, some fifty times a run (a run with the
    // FailOver channel's answers never lost had none in some draws). Without reversals those
    // payers keep paying for payments the platform failed: the channel's book holds captures the
    // ledger lacks. Whether a payer is also charged twice depends on the draw (a failed-over
    // attempt must capture elsewhere): it is reported, and the summary's double-charge count has
    // its own test (`sim_book`'s `the_summary_counts_double_charges_net_of_reversals`).
    let run = ("late=0.5,lost=0.05,duplicate", 1_500);
    let (_dir, with) = in_process_fault_run("channel-faults-reversing", (true, 0.5), run);
    assert!(with.passed(), "{:?}", with.mismatches);
    let (_dir, without) = in_process_fault_run("channel-faults-not-reversing", (false, 0.5), run);
    assert!(!without.passed(), "the check must be able to fail");
    eprintln!(
        "without reversals: {} payers charged twice; {:?}",
        without.double_charges, without.mismatches
    );
    let failover = without
        .rows
        .iter()
        .filter(|r| r.channel_id == sim_check::FAILOVER_CHANNEL)
        .map(|r| i128::from(r.book.captured_minor) - r.ledger.captured_minor)
        .sum::<i128>();
    assert!(
        failover > 0,
        "the FailOver channel's book holds captures the ledger lacks: {:?}",
        without.mismatches
    );
}

/// Under FailOver an attempt whose capture takes effect after the window (a late payer: its
/// answers to the questions in the window said NotPaid, or came after the window) and whose own
/// answer is lost must still be found: the engine keeps closing an abandoned attempt until the
/// channel answers Closed or Paid (then reversed). Before it did, the payer was charged for a
/// payment that failed, or a second time (found by this test).
#[test]
fn a_late_capture_whose_answer_is_lost_after_failover_is_still_found() {
    // Every attempt late (its capture up to 5 s past the deadline), half the answers lost.
    let run = ("late=1,lost=0.5", 600);
    let (_dir, check) = in_process_fault_run("channel-faults-failover-lost", (true, 0.5), run);
    assert!(check.passed(), "{:?}", check.mismatches);
}
