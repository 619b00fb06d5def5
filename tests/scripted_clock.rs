//! A simulated month in seconds: the real server in-process with a scripted clock
//! (`sluice_node::ScriptedClock`), driven over TCP day by day. Each day's payments are stamped
//! with that day's event time; a jump of the clock is pulsed at once, so T+1 income settles and
//! 7-day deposits are released on their days. The journal then passes `sluice replay check`
//! (the real binary): a scripted run replays byte for byte like any other.

mod common;
use sluice_gateway::client::Client;
use sluice_gateway::config::Config;
use sluice_gateway::server::{ServeOptions, Server};
use sluice_node::{Clock, ScriptedClock};
use sluice_protocol::*;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);
const DAYS: u64 = 31;
const PAYMENTS_PER_DAY: u64 = 60;
const NS_PER_DAY: u64 = 86_400_000_000_000;
/// 2026-12-01 00:00:00 in UTC+8 (the default configuration's settlement calendar).
const START_NS: u64 = 1_796_054_400_000_000_000;
const SHOP: u32 = 1001;

fn config(dir: &Path) -> Config {
    common::in_process_config(dir, 10_000)
}

/// Pays `PAYMENTS_PER_DAY` at the shop and waits for every ack and result; returns the event
/// time the acks carry (all the same: the clock stands still within a day).
fn pay_a_day(client: &mut Client, day: u64) -> u64 {
    let first = day * PAYMENTS_PER_DAY + 1;
    for id in first..first + PAYMENTS_PER_DAY {
        let request = PaymentRequest {
            request_id: id,
            merchant_id: SHOP,
            amount_minor: 10_000 + (id % 50) as i64 * 100,
            currency: 156,
            method: PaymentMethod::Wallet,
            user_id: 1 + id % 40,
            country: Chars::new("CN"),
            ..PaymentRequest::default()
        };
        client.send(&request).expect("send");
    }
    let (mut acks, mut accepted, mut results) = (0, 0, 0);
    let mut stamp = 0;
    while acks < PAYMENTS_PER_DAY || results < accepted {
        match client.recv(WAIT).expect("recv").expect("a message in time") {
            AnyMessage::PaymentAck(a) => {
                acks += 1;
                accepted += u64::from(a.status == AckStatus::Accepted);
                stamp = a.timestamp_ns;
            }
            AnyMessage::PaymentResult(_) => results += 1,
            _ => {}
        }
    }
    stamp
}

fn cny_balance(client: &mut Client) -> BalanceEntry {
    client
        .send(&BalanceQuery {
            party_kind: PartyKind::Merchant,
            party_id: SHOP,
        })
        .expect("send");
    let report = client
        .recv_until(WAIT, |m| match m {
            AnyMessage::BalanceReport(r) => Some(r.clone()),
            _ => None,
        })
        .expect("balance");
    report
        .balances
        .iter()
        .find(|b| b.currency == 156)
        .copied()
        .unwrap_or_default()
}

/// Advances the clock to `instant_ns` and waits for the pulse that the jump causes to settle
/// everything due: the shop's CNY balance once nothing is pending (T+1, so everything earned
/// before this day). Fails if that never happens.
fn advance_and_settle(clock: &ScriptedClock, client: &mut Client, instant_ns: u64) -> BalanceEntry {
    clock.advance_to(instant_ns);
    let deadline = Instant::now() + WAIT;
    loop {
        let balance = cny_balance(client);
        if balance.pending_minor == 0 {
            return balance;
        }
        assert!(
            Instant::now() < deadline,
            "income still pending after the clock moved to {instant_ns}: {balance:?}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_simulated_month_runs_in_seconds_settles_by_event_time_and_replays() {
    let test_dir = common::TestDir::new("clock-month");
    let dir = test_dir.path.clone();
    let clock = ScriptedClock::starting_at(START_NS);
    let options = ServeOptions {
        clock: Clock::Scripted(clock.clone()),
        ..ServeOptions::default()
    };
    let started = Instant::now();
    let server = Server::start(config(&dir), options).expect("server starts");
    let addr = server.local_addr;
    let stop = server.stop.clone();
    let running = std::thread::spawn(move || server.run());
    let mut client =
        Client::login(addr, Role::Acquirer, "acq-a", "sluice-demo-acquirer-a").expect("login");
    let mut frozen_max = 0;
    for day in 0..DAYS {
        // Business hours: 10:00 on the day.
        let opening = START_NS + day * NS_PER_DAY + 10 * 3_600_000_000_000;
        // T+1: everything earned before today settles at the pulse of the day's first jump.
        advance_and_settle(&clock, &mut client, opening);
        let stamp = pay_a_day(&mut client, day);
        assert_eq!(stamp, opening, "day {day}: stamped with the scripted time");
        let after = cny_balance(&mut client);
        assert!(
            after.pending_minor > 0,
            "day {day}: today's income is pending"
        );
        frozen_max = frozen_max.max(after.frozen_minor);
    }
    let end = advance_and_settle(
        &clock,
        &mut client,
        START_NS + DAYS * NS_PER_DAY + 60_000_000_000,
    );
    assert!(end.available_minor > 0);
    // 5% of each settled day is held 7 days: only the last week's deposits are still frozen,
    // about 7/31 of all the deposits the month took.
    let deposits_total = (end.available_minor + end.frozen_minor) / 20;
    assert!(
        end.frozen_minor > 0 && end.frozen_minor < deposits_total / 3,
        "only the last week's deposits are still frozen: {end:?}"
    );
    assert!(frozen_max >= end.frozen_minor);
    stop.store(true, Ordering::Release);
    let report = running.join().expect("server thread");
    assert!(report.error.is_none(), "{:?}", report.error);
    let elapsed = started.elapsed();
    eprintln!(
        "{DAYS} simulated days, {} payments, {} inputs in {:.2} s of wall time",
        DAYS * PAYMENTS_PER_DAY,
        report.last_seq,
        elapsed.as_secs_f64()
    );

    // The journal spans the month of event time.
    let reader =
        sluice_journal::JournalReader::open(&sluice_journal::journal_dir(&dir)).expect("reader");
    let mut records = reader.iter_from(1);
    let first = records.next().expect("genesis").expect("record");
    let last = records.last().expect("records").expect("record");
    assert_eq!(first.timestamp_ns, START_NS);
    assert!(last.timestamp_ns - first.timestamp_ns >= DAYS * NS_PER_DAY);

    // And replays exactly: the real binary's determinism check.
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["replay", "check", "--data"])
        .arg(&dir)
        .output()
        .expect("run sluice replay check");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "replay check failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("OK"), "{stdout}");
}
