//! The bills' tests: the day window, the fee and the returned fee in the book, Stripe's payouts,
//! each injected class, and the files read back.

use super::*;
use crate::config::SimChannel;
use crate::sim::Simulator;
use crate::sim_bills_inject::{BillOptions, Class, PHANTOM_ORDER_BASE};
use crate::sim_bills_write::{ChannelBills, write_bills};
use crate::sim_book::{AttemptEntry, Record, RefundEntry};
use sluice_bills::Totals;
use sluice_protocol::{ChannelControl, ChannelOp, Chars, Dispatch, RefundDispatch, Scene};

const CNY: u16 = 156;
const USD: u16 = 840;
/// 2026-12-06, days since 1970-01-01.
const DAY: u32 = 20_793;
const S: u64 = 1_000_000_000;

fn channel(format: Format) -> BillChannel {
    let (id, offset, cutoff, refund_fee, settlement, delay) = match format {
        Format::WechatAll => (
            1,
            480,
            0,
            RefundFeePolicy::ProRata,
            SettlementSchedule::Daily,
            1,
        ),
        Format::AlipayDetail => (
            2,
            480,
            0,
            RefundFeePolicy::ProRata,
            SettlementSchedule::Daily,
            1,
        ),
        Format::UnionPay => (
            3,
            480,
            1380,
            RefundFeePolicy::ProRata,
            SettlementSchedule::Daily,
            1,
        ),
        Format::Stripe => (
            4,
            0,
            0,
            RefundFeePolicy::Keep,
            SettlementSchedule::Rolling,
            2,
        ),
        Format::PayPal => (
            5,
            -480,
            0,
            RefundFeePolicy::Keep,
            SettlementSchedule::Daily,
            1,
        ),
    };
    BillChannel {
        channel_id: id,
        format,
        account: sluice_bills::sample::account(format).to_string(),
        refund_fee,
        utc_offset_min: offset,
        cutoff_min: cutoff,
        settlement,
        settlement_delay_days: delay,
        methods: vec![MethodFee {
            method: PaymentMethod::Wallet,
            fee_bps: 60,
            fee_fixed_minor: 0,
        }],
    }
}

fn currency(format: Format) -> u16 {
    match format {
        Format::Stripe | Format::PayPal => USD,
        _ => CNY,
    }
}

/// A book with `n` captures of `c` at `start_ns + i × step_ns`, amount 1000 + 7i, and a partial
/// refund of every third, a reversal of every tenth.
fn book_of(c: &BillChannel, n: u64, start_ns: u64, step_ns: u64) -> Book {
    let mut book = Book::new(false);
    let cur = currency(c.format);
    for i in 0..n {
        let (order_id, at) = (100 + i, start_ns + i * step_ns);
        let amount_minor = 1_000 + 7 * i as i64;
        book.record(Record::Attempt {
            order_id,
            attempt: 1,
            entry: AttemptEntry {
                channel_id: c.channel_id,
                currency: cur,
                amount_minor,
                decided: Decided::Capture,
                effective_ns: 0,
                closed: false,
                reversed: false,
                channel_at_ns: at,
                fee_minor: c.fee_minor(PaymentMethod::Wallet, amount_minor),
                reversed_at_ns: 0,
            },
        });
        if i % 10 == 9 {
            book.record(Record::Reverse {
                channel_id: c.channel_id,
                order_id,
                attempt: 1,
                at_ns: at + S,
            });
        } else if i % 3 == 0 {
            book.record(Record::Refund {
                refund_id: 5_000 + i,
                entry: RefundEntry {
                    channel_id: c.channel_id,
                    order_id,
                    attempt: 1,
                    currency: cur,
                    amount_minor: 300,
                    paid: true,
                    effective_ns: 0,
                    channel_at_ns: at + 2 * S,
                    fee_returned_minor: 2,
                },
            });
        }
    }
    book
}

#[test]
fn bill_days_follow_the_offset_and_the_cutoff() {
    let h = 60 * NS_PER_MIN;
    let midnight = u64::from(DAY) * NS_PER_DAY;
    // WeChat: Beijing day D is [D−1 16:00, D 16:00) UTC.
    assert_eq!(
        day_window(DAY, 480, 0),
        (midnight - 8 * h, midnight + 16 * h)
    );
    // UnionPay: the clearing day ends at 23:00 Beijing time: [D−1 15:00, D 15:00) UTC.
    assert_eq!(
        day_window(DAY, 480, 1380),
        (midnight - 9 * h, midnight + 15 * h)
    );
    // Stripe (UTC) and PayPal (UTC−8).
    assert_eq!(day_window(DAY, 0, 0), (midnight, midnight + 24 * h));
    assert_eq!(
        day_window(DAY, -480, 0),
        (midnight + 8 * h, midnight + 32 * h)
    );
    for (offset, cutoff) in [(480, 0), (480, 1380), (0, 0), (-480, 0), (330, 60)] {
        let (start, end) = day_window(DAY, offset, cutoff);
        assert_eq!(day_of(start, offset, cutoff), DAY, "{offset} {cutoff}");
        assert_eq!(day_of(end - 1, offset, cutoff), DAY);
        assert_eq!(day_of(end, offset, cutoff), DAY + 1);
        assert_eq!(day_of(start - 1, offset, cutoff), DAY - 1);
    }
    // 23:30 Beijing on D belongs to UnionPay's D+1 and to WeChat's D.
    let late = midnight - 8 * h + 23 * h + 30 * NS_PER_MIN;
    assert_eq!(day_of(late, 480, 1380), DAY + 1);
    assert_eq!(day_of(late, 480, 0), DAY);
    assert_eq!(
        (yyyymmdd(DAY), iso_day(DAY)),
        ("20261206".into(), "2026-12-06".into())
    );
}

#[test]
fn the_returned_fee_adds_up_to_the_fee_in_any_parts() {
    let fee_returned = sluice_engine::money::fee_returned;
    assert_eq!(fee_returned(7, 1_000, 0, 1_000), 7);
    for parts in [vec![333, 333, 334], vec![1, 998, 1], vec![500, 500]] {
        let mut before = 0;
        let total: i64 = parts
            .iter()
            .map(|&p| {
                let r = fee_returned(7, 1_000, before, p);
                before += p;
                r
            })
            .sum();
        assert_eq!(total, 7, "{parts:?}");
    }
    assert_eq!(fee_returned(7, 1_000, 0, 500), 4, "3.5 rounds half up");
    assert_eq!(fee_returned(0, 1_000, 0, 500), 0);
}

fn sim_channel(id: u16) -> SimChannel {
    SimChannel {
        channel_id: id,
        success_rate: 1.0,
        decline_rate: 0.0,
        latency_us_min: 1_000,
        latency_us_max: 1_000,
        outages: Vec::new(),
        faults: None,
        bill_format: None,
        bill_account: None,
    }
}

fn dispatch(order_id: u64, amount_minor: i64, at_ns: u64) -> Dispatch {
    Dispatch {
        order_id,
        attempt: 1,
        channel_id: 1,
        merchant_id: 1,
        amount_minor,
        currency: CNY,
        method: PaymentMethod::Wallet,
        scene: Scene::App,
        deadline_ns: u64::MAX,
        at_ns,
    }
}

fn refund(refund_id: u64, order_id: u64, amount_minor: i64, at_ns: u64) -> RefundDispatch {
    RefundDispatch {
        refund_id,
        order_id,
        channel_id: 1,
        amount_minor,
        currency: CNY,
        deadline_ns: u64::MAX,
        payment_channel_ref: Chars::new(""),
        at_ns,
    }
}

#[test]
fn the_book_keeps_the_fee_the_channel_time_and_the_fee_returned() {
    let c = channel(Format::WechatAll);
    let mut sim = Simulator::new(&[sim_channel(1)], 3, 0, 64).with_bill_channels(vec![c.clone()]);
    let at = u64::from(DAY) * NS_PER_DAY;
    // The simulator's own clock (10 s) is not the server's (at): the bill takes the server's.
    sim.on_dispatch(&dispatch(7, 12_345, at), 10 * S);
    let e = *sim.book().attempt(7, 1).unwrap();
    assert_eq!(
        e.fee_minor, 74,
        "60 bps of 123.45 = 0.7407, rounded half up"
    );
    assert_eq!(e.fee_minor, c.fee_minor(PaymentMethod::Wallet, 12_345));
    assert_eq!(
        e.channel_at_ns,
        at + 1_000_000,
        "at_ns + the 1 ms latency drawn"
    );
    while sim.due(u64::MAX).is_some() {}
    let parts = [(1, 4_000), (2, 4_000), (3, 4_345)];
    for (refund_id, amount) in parts {
        sim.on_refund(&refund(refund_id, 7, amount, at + refund_id * S), 20 * S);
    }
    let returned: Vec<i64> = parts
        .iter()
        .map(|&(id, _)| sim.book().refund(id).unwrap().fee_returned_minor)
        .collect();
    assert_eq!(returned, vec![24, 24, 26]);
    assert_eq!(returned.iter().sum::<i64>(), e.fee_minor);
    let r = sim.book().refund(2).unwrap();
    assert_eq!((r.attempt, r.channel_at_ns), (1, at + 2 * S + 1_000_000));
    // Keep: nothing returned.
    let mut keep = c.clone();
    keep.refund_fee = RefundFeePolicy::Keep;
    let mut sim = Simulator::new(&[sim_channel(1)], 3, 0, 64).with_bill_channels(vec![keep]);
    sim.on_dispatch(&dispatch(8, 10_000, at), 0);
    sim.on_refund(&refund(9, 8, 10_000, at + S), S);
    assert_eq!(sim.book().refund(9).unwrap().fee_returned_minor, 0);
    // A reversal is timed by the ChannelControl's at_ns.
    let reverse = ChannelControl {
        op: ChannelOp::Reverse,
        order_id: 8,
        attempt: 1,
        refund_id: 0,
        channel_id: 1,
        amount_minor: 10_000,
        currency: CNY,
        channel_ref: Chars::new(""),
        at_ns: at + 5 * S,
    };
    sim.on_control(&reverse, 50 * S);
    while sim.due(u64::MAX).is_some() {}
    assert_eq!(sim.book().attempt(8, 1).unwrap().reversed_at_ns, at + 5 * S);
}

#[test]
fn a_stripe_payout_mixes_the_charges_of_two_days_before_and_the_refunds_of_its_day() {
    let c = channel(Format::Stripe);
    let start = u64::from(DAY) * NS_PER_DAY;
    // A capture every 2 h for three days: days D, D+1, D+2.
    let book = book_of(&c, 36, start + NS_PER_MIN, 2 * 60 * NS_PER_MIN);
    let options = BillOptions::default();
    let mut bills = ChannelBills::new(&book, &c, &options, u64::MAX);
    let d2 = bills.day(DAY + 2);
    let payout = payout_id(4, DAY + 2);
    assert_eq!(payout, "po_4_20261208");
    let d0 = bills.day(DAY);
    let charges: i64 = d0
        .bill
        .lines
        .iter()
        .filter(|l| l.kind == LineKind::Payment)
        .inspect(|l| assert_eq!(l.batch, payout))
        .map(BillLine::net_minor)
        .sum();
    let refunds: Vec<&BillLine> = d2.bill.lines.iter().filter(|l| l.batch == payout).collect();
    assert!(refunds.iter().all(|l| l.kind == LineKind::Refund) && !refunds.is_empty());
    let refunded: i64 = refunds.iter().map(|l| l.net_minor()).sum();
    let batches = &d2.manifest.batches;
    assert_eq!(batches.len(), 1, "{batches:?}");
    let b = &batches[0];
    assert_eq!(
        (b.batch.as_str(), b.paid_minor),
        (payout.as_str(), charges + refunded)
    );
    assert_eq!(
        (b.first_day.as_str(), b.last_day.as_str()),
        ("2026-12-06", "2026-12-08")
    );
    assert!(charges > 0 && refunded < 0);
}

#[test]
fn a_daily_bill_is_one_batch_of_its_net() {
    let c = channel(Format::UnionPay);
    let (start, _) = c.window(DAY);
    let book = book_of(&c, 20, start + S, 60 * NS_PER_MIN);
    let options = BillOptions::default();
    let day = ChannelBills::new(&book, &c, &options, u64::MAX).day(DAY);
    let net: i64 = day.bill.lines.iter().map(BillLine::net_minor).sum();
    assert_eq!(day.manifest.batches.len(), 1);
    assert_eq!(day.manifest.batches[0].batch, "2026-12-06");
    assert_eq!(day.manifest.batches[0].paid_minor, net);
    assert_eq!(day.manifest.net_minor, net);
    // 20 captures, 6 refunds (every third but the reversed), 2 reversed rows.
    assert_eq!(day.bill.lines.len(), 20 + 6);
}

/// Bills every row of `format` with only `class` injected, at the highest rate.
fn injected(format: Format, class: Class) -> (Vec<BillLine>, crate::sim_bills_write::DayBill) {
    let c = channel(format);
    let (start, end) = c.window(DAY);
    // Rows spread over the day, the last within 100 s of its end.
    let book = book_of(&c, 41, start + S, (end - start - 101 * S) / 40);
    let options = BillOptions {
        discrepancy_rate: 1.0,
        seed: 9,
        classes: vec![class],
        timing_tolerance_s: 600,
        timing_rate: None,
    };
    let rows = book_rows(&book, &c, u64::MAX).days.remove(&DAY).unwrap();
    let day = ChannelBills::new(&book, &c, &options, u64::MAX).day(DAY);
    (rows, day)
}

#[test]
fn each_class_changes_what_it_says_and_the_manifest_lists_it() {
    for class in Class::ALL {
        let (rows, day) = injected(Format::WechatAll, class);
        let lines = &day.bill.lines;
        let listed = &day.manifest.discrepancies;
        assert!(!listed.is_empty(), "{class:?}");
        assert!(listed.iter().all(|d| d.class == class.name()), "{class:?}");
        let succeeded = rows
            .iter()
            .filter(|l| l.status == LineStatus::Succeeded)
            .count();
        let net = |ls: &[BillLine]| ls.iter().map(BillLine::net_minor).sum::<i64>();
        let effect: i64 = listed.iter().map(|d| d.amount_minor).sum();
        assert_eq!(
            net(&rows) - net(lines),
            effect,
            "{class:?}: the effects add up"
        );
        match class {
            Class::MissingOnChannel => {
                // Every succeeded row but those in the reconciler's timing zone (the tolerance
                // and a minute before the day's end), which would be carried, not missing.
                let zone = channel(Format::WechatAll).window(DAY).1 - 660 * S;
                let kept = rows
                    .iter()
                    .filter(|l| l.status == LineStatus::Succeeded && l.at_ns >= zone)
                    .count();
                assert!(kept > 0, "some rows fall in the zone");
                assert_eq!(lines.len(), rows.len() - succeeded + kept);
            }
            Class::MissingOnPlatform => {
                assert_eq!(lines.len(), rows.len() + succeeded);
                assert!(listed.iter().all(|d| d.order_id >= PHANTOM_ORDER_BASE));
            }
            Class::Duplicate => assert_eq!(lines.len(), rows.len() + succeeded),
            Class::Timing => {
                assert!(day.manifest.timing_eligible > 0);
                assert_eq!(listed.len() as u64, day.manifest.timing_eligible);
                assert_eq!(lines.len(), rows.len() - listed.len());
            }
            Class::AmountMismatch | Class::FeeMismatch | Class::StatusMismatch => {
                assert_eq!(lines.len(), rows.len());
                let changed = rows.iter().zip(lines).filter(|(a, b)| a != b).count();
                assert_eq!(changed, listed.len(), "{class:?}");
                for (a, b) in rows.iter().zip(lines).filter(|(a, b)| a != b) {
                    let same_but = |x: &BillLine| BillLine {
                        amount_minor: 0,
                        fee_minor: 0,
                        status: LineStatus::Succeeded,
                        ..x.clone()
                    };
                    assert_eq!(same_but(a), same_but(b));
                    match class {
                        Class::AmountMismatch => assert_ne!(a.amount_minor, b.amount_minor),
                        Class::FeeMismatch => {
                            assert_eq!((a.amount_minor, a.status), (b.amount_minor, b.status));
                            assert_ne!(a.fee_minor, b.fee_minor);
                        }
                        _ => assert_ne!(a.status, b.status),
                    }
                }
            }
        }
        assert_eq!(Totals::of(lines), day.bill.totals);
    }
}

#[test]
fn a_moved_row_is_in_the_next_days_bill_and_a_duplicate_refund_repeats_its_refund_id() {
    let c = channel(Format::WechatAll);
    let (start, end) = c.window(DAY);
    let book = book_of(&c, 41, start + S, (end - start - 101 * S) / 40);
    let options = BillOptions {
        discrepancy_rate: 1.0,
        seed: 9,
        classes: vec![Class::Timing],
        timing_tolerance_s: 600,
        timing_rate: None,
    };
    let mut bills = ChannelBills::new(&book, &c, &options, u64::MAX);
    let today = bills.day(DAY);
    let tomorrow = bills.day(DAY + 1);
    assert_eq!(
        tomorrow.manifest.moved_in as usize,
        today.manifest.discrepancies.len()
    );
    for d in &today.manifest.discrepancies {
        let moved = tomorrow
            .bill
            .lines
            .iter()
            .find(|l| l.out_trade_no == d.out_trade_no);
        assert!(moved.is_some_and(|l| l.at_ns > end && l.at_ns <= end + S));
    }
    let (rows, day) = injected(Format::WechatAll, Class::Duplicate);
    let refunds = day
        .manifest
        .discrepancies
        .iter()
        .filter(|d| d.refund_id != 0);
    for d in refunds {
        let n = day
            .bill
            .lines
            .iter()
            .filter(|l| l.refund_id == d.refund_id)
            .count();
        assert_eq!(n, 2);
    }
    assert!(rows.iter().any(|l| l.kind == LineKind::Refund));
}

#[test]
fn a_layout_without_the_words_for_a_status_gets_no_status_mismatch() {
    // Alipay's bill states only money that moved; PayPal and UnionPay state no failed refund.
    let (_, day) = injected(Format::AlipayDetail, Class::StatusMismatch);
    assert!(day.manifest.discrepancies.is_empty());
    let (_, day) = injected(Format::PayPal, Class::StatusMismatch);
    assert!(day.manifest.discrepancies.iter().all(|d| d.refund_id == 0));
    assert!(!day.manifest.discrepancies.is_empty());
}

#[test]
fn injection_is_seeded_and_rates_are_bounded() {
    let c = channel(Format::UnionPay);
    let (start, _) = c.window(DAY);
    let book = book_of(&c, 200, start + S, 400 * S);
    let options = BillOptions {
        discrepancy_rate: 0.05,
        seed: 4,
        ..BillOptions::default()
    };
    let a = ChannelBills::new(&book, &c, &options, u64::MAX).day(DAY);
    let b = ChannelBills::new(&book, &c, &options, u64::MAX).day(DAY);
    assert_eq!(a, b);
    assert!(!a.manifest.discrepancies.is_empty());
    let other = BillOptions {
        seed: 5,
        ..options.clone()
    };
    assert_ne!(a, ChannelBills::new(&book, &c, &other, u64::MAX).day(DAY));
    let too_high = BillOptions {
        discrepancy_rate: 0.2,
        ..options
    };
    assert!(too_high.check().is_err());
}

#[test]
fn every_layout_writes_bills_that_parse_back_to_the_book() {
    let dir = std::env::temp_dir().join(format!("sluice-bills-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let channels: Vec<BillChannel> = Format::ALL.into_iter().map(channel).collect();
    for c in &channels {
        let (start, _) = c.window(DAY);
        let book = book_of(c, 60, start + S + 123_456_789, 1_000 * S);
        let written = write_bills(
            &book,
            std::slice::from_ref(c),
            &dir,
            (DAY, DAY + 1),
            &BillOptions::default(),
            u64::MAX,
        )
        .unwrap();
        assert_eq!(written.bills.len(), 2);
        let rows = book_rows(&book, c, u64::MAX);
        for w in &written.bills {
            let bytes = std::fs::read(&w.path).unwrap();
            let name = w.path.file_name().unwrap().to_string_lossy().into_owned();
            // The layout is given: an empty UnionPay file has no line to detect it by.
            let parsed = sluice_bills::parse(&name, &bytes, Some(c.format))
                .unwrap_or_else(|e| panic!("{:?}: {e}", c.format));
            assert_eq!(parsed.format, c.format);
            let expected = rows.days.get(&w.day).cloned().unwrap_or_default();
            let normal = |l: &BillLine| BillLine {
                line_no: 0,
                at_ns: l.at_ns / S * S,
                ..l.clone()
            };
            let got: Vec<BillLine> = parsed.lines.iter().map(normal).collect();
            let want: Vec<BillLine> = expected.iter().map(normal).collect();
            assert_eq!(got, want, "{:?} day {}", c.format, w.day);
            assert_eq!(parsed.totals, Totals::of(&expected));
            let manifest: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&w.manifest_path).unwrap()).unwrap();
            assert_eq!(manifest["paid_minor"], parsed.totals.paid_minor);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
