//! The simulated channels' bills end to end (docs/RECONCILIATION.md, section 8): a server with the
//! in-process simulator on a scripted clock pays a few thousand payments across the five
//! channels on 2026-12-06 (UTC) — some in the last minute before each channel's bill day ends
//! (UnionPay 23:00 and WeChat/Alipay midnight Beijing time, Stripe midnight UTC, PayPal midnight
//! Pacific) — refunds some in one or two parts, writes every channel's bills for the days around
//! it, and checks that each bill parses in its layout, states the book's totals, carries each
//! captured payment once with the fee the engine booked, and that injected discrepancies keep
//! every file valid and are listed in its manifest.

mod common;
use sluice_bills::{Bill, BillLine, Format, LineKind, LineStatus};
use sluice_gateway::client::Client;
use sluice_gateway::server::{ServeOptions, Server};
use sluice_gateway::sim_bills_inject::{BillOptions, Class};
use sluice_gateway::sim_bills_write::BillsWritten;
use sluice_gateway::sim_check::{sim_report, write_bills};
use sluice_node::{Clock, ScriptedClock};
use sluice_protocol::*;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);
const NS_PER_S: u64 = 1_000_000_000;
const NS_PER_H: u64 = 3_600 * NS_PER_S;
/// 2026-12-06, days since 1970-01-01 (UTC).
const DAY: u32 = 20_793;
const DAY_NS: u64 = DAY as u64 * 24 * NS_PER_H;

/// What the acquirer learned: per channel_ref, (channel, amount, fee) of each succeeded payment;
/// the request ids of succeeded payments; the succeeded refunds (refund id, amount).
#[derive(Default)]
struct Paid {
    captures: BTreeMap<String, (u16, i64, i64)>,
    requests: Vec<(u64, i64)>,
    refunds: BTreeMap<u64, i64>,
}

/// The payment `id`: the currency and method pick the channels that can take it, so all five
/// get traffic: CNY wallet (WeChat, Alipay), CNY card (UnionPay), USD card (Stripe, PayPal), EUR
/// wallet (PayPal).
fn request(id: u64) -> PaymentRequest {
    let (currency, method) = match id % 6 {
        0 | 1 => (156, PaymentMethod::Wallet),
        2 | 3 => (156, PaymentMethod::Card),
        4 => (840, PaymentMethod::Card),
        _ => (978, PaymentMethod::Wallet),
    };
    PaymentRequest {
        request_id: id,
        // 1003 splits by weight, so WeChat Pay gets its share whatever the scores say.
        merchant_id: match id % 5 {
            0 => 1002,
            1 => 1003,
            _ => 1001,
        },
        amount_minor: 1_000 + (id * 7_919 % 90_000) as i64,
        currency,
        method,
        user_id: id,
        device_id: id,
        ip: Ip::v4([10, (id >> 16) as u8, (id >> 8) as u8, id as u8]),
        country: Chars::new("CN"),
        ..PaymentRequest::default()
    }
}

/// Pays `ids` in groups of 20, the clock at `at_ns` plus 2 s a group and still while a group
/// is answered (a clock moving past the attempts' deadlines would time them out), and waits for
/// every result.
fn pay(
    client: &mut Client,
    clock: &ScriptedClock,
    ids: std::ops::Range<u64>,
    at_ns: u64,
    paid: &mut Paid,
) {
    let ids: Vec<u64> = ids.collect();
    for (group, chunk) in ids.chunks(20).enumerate() {
        clock.advance_to(at_ns + group as u64 * 2 * NS_PER_S);
        for &id in chunk {
            client.send(&request(id)).expect("send");
        }
        collect(client, chunk.len() as u64, paid);
    }
}

/// Waits for `count` acks and the result of every accepted payment.
fn collect(client: &mut Client, count: u64, paid: &mut Paid) {
    let (mut acks, mut accepted, mut results) = (0, 0, 0);
    while acks < count || results < accepted {
        match client.recv(WAIT).expect("recv").expect("a message in time") {
            AnyMessage::PaymentAck(a) => {
                acks += 1;
                accepted += u64::from(a.status == AckStatus::Accepted);
            }
            AnyMessage::PaymentResult(r) => {
                results += 1;
                if r.status == FinalStatus::Succeeded {
                    let channel_ref = r.channel_ref.as_str().into_owned();
                    paid.captures
                        .insert(channel_ref, (r.channel_id, r.amount_minor, r.fee_minor));
                    paid.requests.push((r.request_id, r.amount_minor));
                }
            }
            _ => {}
        }
    }
}

/// Refunds every 9th succeeded payment in one or two parts at `at_ns`.
fn refund(client: &mut Client, clock: &ScriptedClock, at_ns: u64, paid: &mut Paid) {
    clock.advance_to(at_ns);
    let mut sent = 0;
    let mut next_id = 1;
    for &(request_id, amount) in paid.requests.iter().step_by(9) {
        let parts = if request_id % 2 == 0 {
            vec![amount / 3, amount / 4]
        } else {
            vec![amount / 2]
        };
        for part in parts {
            let r = RefundRequest {
                refund_request_id: next_id,
                payment_request_id: request_id,
                amount_minor: part.max(1),
            };
            next_id += 1;
            client.send(&r).expect("send refund");
            sent += 1;
        }
    }
    for _ in 0..sent {
        let r = client
            .recv_until(WAIT, |m| match m {
                AnyMessage::RefundResult(r) => Some(r.clone()),
                _ => None,
            })
            .expect("a refund result");
        if r.status == FinalStatus::Succeeded {
            paid.refunds.insert(r.refund_id, r.amount_minor);
        }
    }
}

/// Waits until the simulator has nothing pending or in flight.
fn settle(control: &crossbeam::channel::Sender<sluice_gateway::server::SimCommand>) {
    let deadline = Instant::now() + WAIT;
    loop {
        let report = sim_report(control).expect("report");
        if report.book.pending == 0 && report.in_flight == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "the simulator does not settle");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn parse(path: &std::path::Path, format: &str) -> Bill {
    let bytes = std::fs::read(path).expect("bill");
    let format = Format::from_name(format).expect("format");
    sluice_bills::parse(&path.display().to_string(), &bytes, Some(format))
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_channels_bills_state_their_books_and_injected_discrepancies_are_listed() {
    let dir = common::TestDir::new("sim-bills");
    let clock = ScriptedClock::starting_at(DAY_NS + NS_PER_H);
    let options = ServeOptions {
        clock: Clock::Scripted(clock.clone()),
        ..ServeOptions::default()
    };
    let server =
        Server::start(common::in_process_config(&dir.path, 20_000), options).expect("server");
    let (addr, stop, control) = (server.local_addr, server.stop.clone(), server.sim_control());
    let running = std::thread::spawn(move || server.run());
    let mut client =
        Client::login(addr, Role::Acquirer, "acq-a", "sluice-demo-acquirer-a").expect("login");
    let mut paid = Paid::default();
    pay(&mut client, &clock, 1..1_201, DAY_NS + NS_PER_H, &mut paid);
    // The last minute of each channel's bill day: PayPal (08:00 UTC), UnionPay (15:00 UTC),
    // WeChat and Alipay (16:00 UTC), Stripe (24:00 UTC).
    let mut next = 1_201;
    for end_h in [8, 15, 16, 24] {
        pay(
            &mut client,
            &clock,
            next..next + 400,
            DAY_NS + end_h * NS_PER_H - 50 * NS_PER_S,
            &mut paid,
        );
        next += 400;
    }
    refund(&mut client, &clock, DAY_NS + 25 * NS_PER_H, &mut paid);
    pay(
        &mut client,
        &clock,
        next..next + 400,
        DAY_NS + 26 * NS_PER_H,
        &mut paid,
    );
    settle(&control);
    let report = sim_report(&control).expect("report");

    let clean_dir = dir.path.join("bills");
    let written = write_bills(
        &control,
        &clean_dir,
        DAY - 1,
        DAY + 1,
        &BillOptions::default(),
    )
    .expect("bills");
    check_clean(&written, &paid, &report.book);

    let injected_dir = dir.path.join("injected");
    let options = BillOptions {
        discrepancy_rate: 0.1,
        seed: 7,
        ..BillOptions::default()
    };
    let injected = write_bills(&control, &injected_dir, DAY - 1, DAY + 1, &options).expect("bills");
    check_injected(&written, &injected);
    eprintln!(
        "{} captures, {} refunds billed; injected {:?}; timing-eligible rows {}",
        paid.captures.len(),
        paid.refunds.len(),
        injected.injected,
        injected
            .bills
            .iter()
            .map(|b| b.manifest.timing_eligible)
            .sum::<u64>()
    );
    stop.store(true, Ordering::Release);
    let report = running.join().expect("server thread");
    assert!(report.error.is_none(), "server: {:?}", report.error);
}

fn check_clean(written: &BillsWritten, paid: &Paid, book: &sluice_gateway::sim_book::BookSummary) {
    let mut per_channel: BTreeMap<u16, u32> = BTreeMap::new();
    for (channel, _, _) in paid.captures.values() {
        *per_channel.entry(*channel).or_default() += 1;
    }
    eprintln!("captures per channel: {per_channel:?}");
    assert_eq!(written.unstatable, 0);
    assert_eq!(written.bills.len(), 15, "5 channels × 3 days");
    assert!(written.injected.is_empty());
    let mut totals: BTreeMap<(u16, u16), (i64, i64)> = BTreeMap::new();
    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    let mut refunds = BTreeMap::new();
    let mut near_midnight: BTreeMap<u16, u32> = BTreeMap::new();
    for w in &written.bills {
        let m = &w.manifest;
        let bill = parse(&w.path, m.format);
        assert_eq!(bill.totals.lines, m.lines);
        assert_eq!(
            (
                bill.totals.paid_minor,
                bill.totals.refunded_minor,
                bill.totals.fees_minor
            ),
            (m.paid_minor, m.refunded_minor, m.fees_minor)
        );
        assert_eq!(m.book_lines, m.lines, "nothing injected, nothing moved");
        for l in &bill.lines {
            assert!(
                l.at_ns >= m.window_start_ns && l.at_ns < m.window_end_ns,
                "{l:?} outside {}",
                m.day
            );
            if l.at_ns >= m.window_end_ns - 60 * NS_PER_S {
                *near_midnight.entry(w.channel_id).or_default() += 1;
            }
            check_line(w.channel_id, l, paid, &mut seen, &mut refunds);
            let t = totals.entry((w.channel_id, l.currency)).or_default();
            match (l.kind, l.status) {
                (LineKind::Payment, LineStatus::Succeeded) => t.0 += l.amount_minor,
                (LineKind::Refund, LineStatus::Succeeded) => t.1 += l.amount_minor,
                _ => {}
            }
        }
    }
    assert_eq!(
        near_midnight.len(),
        5,
        "every channel has rows in its day's last minute: {near_midnight:?}"
    );
    assert_eq!(
        seen.len(),
        paid.captures.len(),
        "every capture the engine kept is billed"
    );
    assert_eq!(
        refunds, paid.refunds,
        "every succeeded refund is billed once, with its amount"
    );
    let from_book: BTreeMap<(u16, u16), (i64, i64)> = book
        .channels
        .iter()
        .map(|(&k, f)| (k, (f.captured_minor - f.reversed_minor, f.refunded_minor)))
        .filter(|(_, v)| *v != (0, 0))
        .collect();
    assert_eq!(totals, from_book, "the bills' totals are the book's");
}

/// One row of a clean bill against what the acquirer was told.
fn check_line(
    channel_id: u16,
    l: &BillLine,
    paid: &Paid,
    seen: &mut BTreeMap<String, u32>,
    refunds: &mut BTreeMap<u64, i64>,
) {
    match (l.kind, l.status) {
        (LineKind::Payment, LineStatus::Succeeded) => {
            let (channel, amount, fee) = paid.captures[&l.channel_trade_no];
            assert_eq!(
                (channel, amount, fee),
                (channel_id, l.amount_minor, l.fee_minor),
                "{l:?}: the engine's fee"
            );
            *seen.entry(l.channel_trade_no.clone()).or_default() += 1;
            assert_eq!(seen[&l.channel_trade_no], 1, "{l:?} billed twice");
        }
        (LineKind::Refund, LineStatus::Succeeded) => {
            assert!(
                refunds.insert(l.refund_id, l.amount_minor).is_none(),
                "{l:?} twice"
            );
        }
        _ => assert_eq!(l.status, LineStatus::Reversed, "{l:?}"),
    }
}

fn check_injected(clean: &BillsWritten, injected: &BillsWritten) {
    for class in Class::ALL {
        let n = injected.injected.get(class.name()).copied().unwrap_or(0);
        assert!(n > 0, "{class:?} injected nowhere: {:?}", injected.injected);
    }
    for (c, w) in clean.bills.iter().zip(&injected.bills) {
        let m = &w.manifest;
        assert_eq!((c.channel_id, c.day), (w.channel_id, w.day));
        let bill = parse(&w.path, m.format);
        assert_eq!(bill.lines.len() as u64, m.lines);
        assert_eq!(bill.totals.paid_minor, m.paid_minor);
        let net: i64 = bill.lines.iter().map(BillLine::net_minor).sum();
        assert_eq!(net, m.net_minor);
        // What the book pays, less what the injected discrepancies take, plus what the day
        // before moved in, is what the injected bill pays.
        let effects: i64 = m.discrepancies.iter().map(|d| d.amount_minor).sum();
        let moved_in: i64 = bill
            .lines
            .iter()
            .take(m.moved_in as usize)
            .map(BillLine::net_minor)
            .sum();
        assert_eq!(
            c.manifest.net_minor - effects + moved_in,
            m.net_minor,
            "{} day {}",
            m.format,
            m.day
        );
        let batches: i64 = m
            .batches
            .iter()
            .filter(|b| b.first_day == b.last_day)
            .map(|b| b.paid_minor)
            .sum();
        if m.format != "stripe" {
            assert_eq!(batches, m.net_minor, "a daily batch is the day's net");
        }
    }
}
