#![allow(clippy::field_reassign_with_default)]
use std::path::PathBuf;

use sluice_bills::{Bill, BillLine, Format, LineKind, LineStatus, Totals};
use sluice_node::flow::{Day, PaymentResult, RefundResult, Reversal, Rows};

use super::*;
use crate::memory::MemoryReader;

/// 2026-12-06, days since 1970-01-01.
const D: u32 = 20_793;
const SEC: u64 = 1_000_000_000;

fn options() -> Options {
    Options::new(3)
}

fn window(day: u32) -> Window {
    Window::of(day, 480, 0)
}

/// A time `secs` seconds into bill day `day` (WeChat's, +480).
fn at(day: u32, secs: i64) -> u64 {
    (window(day).start_ns as i64 + secs * SEC as i64) as u64
}

fn pay(order_id: u64, attempt: u8, amount: i64, fee: i64, at_ns: u64) -> Record {
    Record {
        key: Key::Payment { order_id, attempt },
        order_id,
        seq: order_id * 10,
        at_ns,
        amount_minor: amount,
        fee_minor: fee,
        fee_known: true,
        currency: 156,
        reversed: false,
        channel_ref: format!("T{order_id}"),
    }
}

fn refund(refund_id: u64, order_id: u64, amount: i64, at_ns: u64) -> Record {
    Record {
        key: Key::Refund { refund_id },
        order_id,
        seq: refund_id * 10 + 1,
        at_ns,
        amount_minor: amount,
        fee_minor: 0,
        fee_known: true,
        currency: 156,
        reversed: false,
        channel_ref: String::new(),
    }
}

fn line_of(r: &Record) -> BillLine {
    let (kind, out_trade_no, refund_id) = match r.key {
        Key::Payment { order_id, attempt } => (
            LineKind::Payment,
            sluice_bills::out_trade_no(order_id, attempt),
            0,
        ),
        Key::Refund { refund_id } => (
            LineKind::Refund,
            sluice_bills::out_trade_no(r.order_id, 1),
            refund_id,
        ),
    };
    BillLine {
        line_no: 0,
        kind,
        status: r.status(),
        channel_trade_no: format!("T{}", r.order_id),
        out_trade_no,
        refund_id,
        channel_refund_no: String::new(),
        amount_minor: r.amount_minor,
        fee_minor: r.fee_minor,
        currency: r.currency,
        at_ns: r.at_ns,
        batch: String::new(),
    }
}

fn numbered(mut lines: Vec<BillLine>) -> Vec<BillLine> {
    for (i, l) in lines.iter_mut().enumerate() {
        l.line_no = i as u32 + 2;
    }
    lines
}

fn run(lines: &[BillLine], records: &[Record], state: &State, day: u32) -> Outcome {
    let refs: Vec<&BillLine> = lines.iter().collect();
    matcher::classify(&refs, records, state, window(day), &options())
}

fn classes(outcome: &Outcome) -> Vec<(Class, String, i64)> {
    outcome
        .discrepancies
        .iter()
        .map(|d| (d.class, d.key.clone(), d.amount_minor))
        .collect()
}

#[test]
fn windows_follow_the_offset_and_the_cutoff() {
    let wechat = Window::of(D, 480, 0);
    // 2026-12-06 00:00 +08:00 is 2026-12-05T16:00Z.
    assert_eq!(
        report::format_ns(wechat.start_ns),
        "2026-12-05T16:00:00.000000000Z"
    );
    assert_eq!(wechat.end_ns - wechat.start_ns, NS_PER_DAY);
    let unionpay = Window::of(D, 480, 1380);
    // UnionPay's day ends at 23:00 Beijing time: 2026-12-06T15:00Z.
    assert_eq!(
        report::format_ns(unionpay.end_ns),
        "2026-12-06T15:00:00.000000000Z"
    );
    let paypal = Window::of(D, -480, 0);
    assert_eq!(
        report::format_ns(paypal.start_ns),
        "2026-12-06T08:00:00.000000000Z"
    );
}

#[test]
fn equal_rows_match_exactly_and_nothing_is_reported() {
    let records = vec![
        pay(1, 1, 10_000, 60, at(D, 100)),
        pay(2, 2, 5_000, 30, at(D, 200)),
        refund(7, 1, 4_000, at(D, 300)),
    ];
    let lines: Vec<BillLine> = records.iter().map(line_of).collect();
    let out = run(&lines, &records, &State::default(), D);
    assert_eq!(classes(&out), vec![]);
    assert_eq!(out.matched.rows, 3);
    assert_eq!(out.matched.exact, 3);
    assert!(out.carried.is_empty());
}

#[test]
fn every_class_is_found_in_order_with_its_signed_amount() {
    let records = vec![
        pay(1, 1, 10_000, 60, at(D, 100)), // duplicate on the bill
        pay(2, 1, 10_000, 60, at(D, 100)), // status: the bill says reversed
        pay(3, 1, 10_000, 60, at(D, 100)), // amount: the bill says 9,000
        pay(4, 1, 10_000, 60, at(D, 100)), // fee: the bill charges 70
        pay(5, 1, 10_000, 60, at(D, 100)), // not on the bill: missing on channel
    ];
    let mut lines: Vec<BillLine> = records[..4].iter().map(line_of).collect();
    lines.push(line_of(&records[0]));
    lines[1].status = LineStatus::Reversed;
    lines[2].amount_minor = 9_000;
    lines[3].fee_minor = 70;
    lines.push(line_of(&pay(6, 1, 2_000, 12, at(D, 100)))); // missing on platform
    let mut foreign = line_of(&pay(7, 1, 1_000, 6, at(D, 100)));
    foreign.out_trade_no = "ORDER-7".into();
    lines.push(foreign);
    let out = run(&numbered(lines), &records, &State::default(), D);
    assert_eq!(
        classes(&out),
        vec![
            (Class::Duplicate, "S1A1#2".into(), -9_940),
            (Class::MissingOnPlatform, "S6A1".into(), -1_988),
            (Class::MissingOnPlatform, "ORDER-7".into(), -994),
            (Class::StatusMismatch, "S2A1".into(), 9_940),
            (Class::AmountMismatch, "S3A1".into(), 1_000),
            (Class::FeeMismatch, "S4A1".into(), 10),
            (Class::MissingOnChannel, "S5A1".into(), 9_940),
        ]
    );
    let fee = &out.discrepancies[5];
    assert_eq!(
        (fee.bill_fee_minor, fee.platform_fee_minor, fee.line_no),
        (Some(70), Some(60), 5)
    );
    assert_eq!(
        fee.id,
        matcher::discrepancy_id(3, Class::FeeMismatch, "S4A1")
    );
    assert_eq!(fee.id.len(), 16);
    assert_ne!(
        fee.id,
        matcher::discrepancy_id(3, Class::AmountMismatch, "S4A1")
    );
    assert_eq!(out.matched.rows, 4);
}

#[test]
fn failed_rows_without_a_record_are_not_discrepancies_but_with_one_they_are() {
    let records = vec![pay(1, 1, 10_000, 60, at(D, 100))];
    let mut closed = line_of(&records[0]);
    closed.status = LineStatus::Failed;
    let mut declined = line_of(&pay(2, 1, 500, 3, at(D, 100)));
    declined.status = LineStatus::Failed;
    let out = run(&[closed, declined], &records, &State::default(), D);
    assert_eq!(
        classes(&out),
        vec![(Class::StatusMismatch, "S1A1".into(), 9_940)]
    );
    assert_eq!(out.matched.failed_ignored, 1);
}

#[test]
fn a_confirmed_reversal_matches_a_reversed_row() {
    let mut reversed = pay(1, 2, 10_000, 0, at(D, 100));
    reversed.reversed = true;
    reversed.fee_known = false;
    let mut line = line_of(&reversed);
    line.fee_minor = 60; // the channel's fee on a reversed capture is not compared
    let out = run(&[line.clone()], &[reversed.clone()], &State::default(), D);
    assert_eq!(classes(&out), vec![]);
    line.status = LineStatus::Succeeded;
    let out = run(&[line], &[reversed], &State::default(), D);
    assert_eq!(
        classes(&out),
        vec![(Class::StatusMismatch, "S1A2".into(), -9_940)]
    );
}

#[test]
fn partial_refunds_are_keyed_on_the_refund_id_and_a_repeated_one_is_a_duplicate() {
    let records = vec![
        pay(1, 1, 10_000, 60, at(D, 10)),
        refund(21, 1, 3_000, at(D, 100)),
        refund(22, 1, 2_000, at(D, 200)),
    ];
    let mut lines: Vec<BillLine> = records.iter().map(line_of).collect();
    lines.push(line_of(&records[2]));
    let out = run(&numbered(lines), &records, &State::default(), D);
    assert_eq!(
        classes(&out),
        vec![(Class::Duplicate, "R22#2".into(), 2_000)]
    );
    let d = &out.discrepancies[0];
    assert_eq!((d.refund_id, d.order_id, d.line_no), (22, 1, 5));
    assert_eq!(out.matched.exact, 3);
}

#[test]
fn a_refunds_returned_fee_is_compared() {
    let mut returned = refund(21, 1, 3_000, at(D, 100));
    returned.fee_minor = 30;
    let mut line = line_of(&returned);
    line.fee_minor = 36;
    let out = run(&[line], &[returned], &State::default(), D);
    // The bill returns 6 more than the platform booked: the channel pays 6 more.
    assert_eq!(classes(&out), vec![(Class::FeeMismatch, "R21".into(), -6)]);
}

#[test]
fn a_timing_carry_is_resolved_by_the_next_days_bill() {
    // Captured 2 minutes before the day's end on the platform's clock; the channel booked it on
    // the next day.
    let late = pay(1, 1, 10_000, 60, at(D, 86_400 - 120));
    let out = run(&[], std::slice::from_ref(&late), &State::default(), D);
    assert_eq!(classes(&out), vec![]);
    assert_eq!(out.carried.len(), 1);
    assert_eq!(out.next.timing[0].since_day, D);
    // Next day: the record is in the window's margin and the bill has it.
    let out2 = run(
        &[line_of(&late)],
        std::slice::from_ref(&late),
        &out.next,
        D + 1,
    );
    assert_eq!(classes(&out2), vec![]);
    assert_eq!(out2.resolved.len(), 1);
    assert_eq!(out2.resolved[0].since_day, D);
    assert!(out2.next.timing.is_empty());
    // Also when the next window does not hold the record (the carried copy is used).
    let out3 = run(&[line_of(&late)], &[], &out.next, D + 1);
    assert_eq!((classes(&out3), out3.resolved.len()), (vec![], 1));
}

#[test]
fn a_timing_carry_absent_for_timing_max_days_is_missing_on_channel() {
    let late = pay(1, 1, 10_000, 60, at(D, 86_400 - 120));
    let day1 = run(&[], std::slice::from_ref(&late), &State::default(), D);
    let day2 = run(&[], std::slice::from_ref(&late), &day1.next, D + 1);
    assert_eq!(classes(&day2), vec![]);
    assert_eq!(day2.next.timing.len(), 1, "still carried after one day");
    let day3 = run(&[], &[], &day2.next, D + 2);
    assert_eq!(
        classes(&day3),
        vec![(Class::MissingOnChannel, "S1A1".into(), 9_940)]
    );
    assert!(day3.next.timing.is_empty());
}

#[test]
fn matched_ahead_is_not_reported_the_next_day_and_a_repeat_is_a_duplicate() {
    // The platform's time is 2 minutes after the day's end; the channel put it on day D.
    let early = pay(1, 1, 10_000, 60, at(D, 86_400 + 120));
    let out = run(
        &[line_of(&early)],
        std::slice::from_ref(&early),
        &State::default(),
        D,
    );
    assert_eq!((classes(&out), out.matched.exact), (vec![], 1));
    assert_eq!(out.next.matched_ahead.len(), 1);
    // Next day, its record lies in [start, end − T): without the memory it would be missing.
    let next = run(&[], std::slice::from_ref(&early), &out.next, D + 1);
    assert_eq!(classes(&next), vec![]);
    assert_eq!(next.matched.ahead_skipped, 1);
    let forgot = run(&[], std::slice::from_ref(&early), &State::default(), D + 1);
    assert_eq!(classes(&forgot)[0].0, Class::MissingOnChannel);
    let again = run(
        &[line_of(&early)],
        std::slice::from_ref(&early),
        &out.next,
        D + 1,
    );
    assert_eq!(
        classes(&again),
        vec![(Class::Duplicate, "S1A1#2".into(), -9_940)]
    );
}

#[test]
fn records_of_neighbouring_days_are_left_to_them() {
    let before = pay(1, 1, 10_000, 60, at(D, -100));
    let after = pay(2, 1, 10_000, 60, at(D, 86_400 + 100));
    let out = run(&[], &[before, after], &State::default(), D);
    assert_eq!((classes(&out), out.carried.len()), (vec![], 0));
}

fn stripe_line(r: &Record, payout: &str) -> BillLine {
    BillLine {
        batch: payout.into(),
        ..line_of(r)
    }
}

#[test]
fn daily_batches_sum_the_bills_net_and_fee_differences() {
    let records = vec![
        pay(1, 1, 10_000, 60, at(D, 10)),
        pay(2, 1, 20_000, 120, at(D, 20)),
    ];
    let mut lines: Vec<BillLine> = records.iter().map(line_of).collect();
    lines[1].fee_minor = 125;
    let refs: Vec<&BillLine> = lines.iter().collect();
    let mut out = run(&lines, &records, &State::default(), D);
    let next = std::mem::take(&mut out.next);
    let (batches, _) = batches::complete(&refs, &out.discrepancies, window(D), &options(), next);
    assert_eq!(batches.len(), 1);
    let b = &batches[0];
    assert_eq!(
        (b.batch_ref.as_str(), b.batch_id),
        ("2026-12-06", u64::from(D))
    );
    assert_eq!(b.paid_minor, 9_940 + 19_875);
    assert_eq!(b.fee_difference_minor, 5);
    assert_eq!(b.lines, 2);
}

#[test]
fn a_stripe_payout_completes_across_days() {
    let mut options = options();
    options.settlement = Settlement::Rolling;
    options.settlement_delay_days = 2;
    let utc = |day: u32| Window::of(day, 0, 0).start_ns + 10 * SEC;
    let p1 = pay(1, 1, 10_000, 320, utc(D));
    let p2 = pay(2, 1, 5_000, 175, utc(D + 1));
    let r1 = refund(9, 1, 1_000, utc(D + 2));
    // Payout po_A (paid out on D + 2) takes p1 (created D) and r1 (created D + 2); po_B takes p2.
    let mut state = State::default();
    let mut paid = Vec::new();
    let days = [
        (D, vec![stripe_line(&p1, "po_A")]),
        (D + 1, vec![stripe_line(&p2, "po_B")]),
        (D + 2, vec![stripe_line(&r1, "po_A")]),
    ];
    for (day, lines) in days {
        let refs: Vec<&BillLine> = lines.iter().collect();
        let records = [p1.clone(), p2.clone(), r1.clone()];
        let mut out = matcher::classify(&refs, &records, &state, Window::of(day, 0, 0), &options);
        assert_eq!(classes(&out), vec![], "day {day}");
        let next = std::mem::take(&mut out.next);
        let (batches, next) = batches::complete(
            &refs,
            &out.discrepancies,
            Window::of(day, 0, 0),
            &options,
            next,
        );
        paid.push(batches);
        state = next;
    }
    assert!(paid[0].is_empty() && paid[1].is_empty());
    assert_eq!(paid[2].len(), 1);
    let po_a = &paid[2][0];
    assert_eq!((po_a.batch_ref.as_str(), po_a.lines), ("po_A", 2));
    assert_eq!(po_a.batch_id, batches::payout_batch_id("po_A"));
    assert_eq!(po_a.last_day, D + 2);
    assert_eq!(po_a.paid_minor, 10_000 - 320 - 1_000);
    assert_eq!(po_a.first_day, D);
    assert_eq!(state.payouts.len(), 1);
    assert_eq!(
        (state.payouts[0].id.as_str(), state.payouts[0].effective_day),
        ("po_B", D + 3)
    );
}

// ---- Through a reader and files ----

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sluice-recon-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn payment_row(order_id: i64, attempts: i32, amount: i64, fee: i64, at_ns: u64) -> PaymentResult {
    PaymentResult {
        order_id,
        seq: order_id * 10,
        at_ns: at_ns as i64,
        day: Day((at_ns / NS_PER_DAY) as i32),
        merchant_id: 1001,
        status: "Succeeded".into(),
        reason: "None".into(),
        channel_id: 3,
        attempts,
        amount_minor: amount,
        currency: 156,
        fee_minor: fee,
        channel_ref: format!("T{order_id}"),
        settle_day: Day(0),
    }
}

fn refund_row(refund_id: i64, order_id: i64, amount: i64, at_ns: u64) -> RefundResult {
    RefundResult {
        refund_id,
        seq: refund_id * 10 + 1,
        at_ns: at_ns as i64,
        day: Day((at_ns / NS_PER_DAY) as i32),
        order_id,
        merchant_id: 1001,
        channel_id: 3,
        status: "Succeeded".into(),
        reason: "None".into(),
        amount_minor: amount,
        currency: 156,
        fee_returned_minor: 0,
    }
}

/// A day of channel 3 (and a payment of channel 4, which must not count) and a row past the
/// window's end plus the tolerance, so the store is far enough.
fn day_rows() -> Rows {
    let mut rows = Rows::default();
    rows.payment_results = vec![
        payment_row(1, 1, 10_000, 60, at(D, 100)),
        payment_row(2, 2, 20_000, 120, at(D, 200)),
        payment_row(3, 1, 30_000, 180, at(D, 300)),
        payment_row(4, 1, 40_000, 240, at(D, 86_400 - 60)),
        payment_row(90, 1, 1, 0, at(D, 86_400 + 1_000)),
    ];
    let mut other = payment_row(5, 1, 7_000, 42, at(D, 400));
    other.channel_id = 4;
    rows.payment_results.push(other);
    rows.refund_results = vec![refund_row(11, 1, 2_500, at(D, 500))];
    rows.reversals = vec![Reversal {
        seq: 500,
        ordinal: 0,
        at_ns: at(D, 600) as i64,
        day: Day((at(D, 600) / NS_PER_DAY) as i32),
        order_id: 2,
        attempt: 1,
        channel_id: 3,
        amount_minor: 20_000,
        currency: 156,
        state: "Reversed".into(),
        reason: "LateCapture".into(),
    }];
    rows
}

/// The bill of [`day_rows`] with a fee mismatch (order 1), a missing row (order 3) and a row
/// the channel books on the next day (order 4).
fn day_bill() -> Bill {
    let platform = platform::from_rows(&day_rows(), 3, 0, u64::MAX).expect("rows");
    let mut lines: Vec<BillLine> = platform
        .records
        .iter()
        .filter(|r| ![3, 4, 90].contains(&r.order_id))
        .map(line_of)
        .collect();
    for l in &mut lines {
        if l.out_trade_no == "S1A1" && l.kind == LineKind::Payment {
            l.fee_minor = 66;
        }
    }
    let lines = numbered(lines);
    Bill {
        format: Format::WechatAll,
        account: "1900000109".into(),
        day: D,
        utc_offset_min: 480,
        totals: Totals::of(&lines),
        lines,
    }
}

fn check_day_report(report: &Report) {
    assert_eq!(report.count(Class::FeeMismatch), 1);
    assert_eq!(report.count(Class::MissingOnChannel), 1);
    assert_eq!(report.discrepancies_total.count, 2);
    // Order 4 is within the tolerance of the day's end: carried, not missing.
    assert_eq!(report.timing_carried.len(), 1);
    assert_eq!(report.timing_carried[0].key, "S4A1");
    // S1A1, S2A2, S2A1 (the reversal), R11 matched.
    assert_eq!(report.matched.rows, 4);
    assert_eq!(report.batches.len(), 1);
    assert_eq!(report.batches[0].fee_difference_minor, 6);
    assert_eq!(report.batches[0].paid_minor, report.bill_net_minor);
}

#[test]
fn reconcile_day_writes_reports_and_state_and_refuses_a_second_run_unless_rerun() {
    let dir = temp_dir("memory");
    let mut reader = MemoryReader::new(day_rows(), 1_000);
    let bill = day_bill();
    let written =
        reconcile_day(&mut reader, std::slice::from_ref(&bill), &options(), &dir).unwrap();
    check_day_report(&written.report);
    let state_path = dir.join("3").join("state.json");
    let first_state = std::fs::read(&state_path).unwrap();
    let again = reconcile_day(&mut reader, std::slice::from_ref(&bill), &options(), &dir);
    assert!(again.unwrap_err().0.contains("already reconciled"));
    let mut rerun = options();
    rerun.rerun = true;
    let second = reconcile_day(&mut reader, &[bill], &rerun, &dir).unwrap();
    assert_eq!(second.report, written.report, "a rerun is exact");
    assert_eq!(std::fs::read(&state_path).unwrap(), first_state);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_input_changes_nothing() {
    let dir = temp_dir("refused");
    // A store that stops before the window's end plus the tolerance.
    let mut rows = day_rows();
    rows.payment_results.retain(|p| p.order_id != 90);
    let mut behind = MemoryReader::new(rows, 900);
    let err = reconcile_day(&mut behind, &[day_bill()], &options(), &dir).unwrap_err();
    assert!(err.0.contains("not exported far enough"), "{err}");
    // Bills of two days in one run.
    let mut other = day_bill();
    other.day = D + 1;
    let mut reader = MemoryReader::new(day_rows(), 1_000);
    let err = reconcile_day(&mut reader, &[day_bill(), other], &options(), &dir).unwrap_err();
    assert!(err.0.contains("one day"), "{err}");
    assert!(reconcile_day(&mut reader, &[], &options(), &dir).is_err());
    assert!(!dir.exists(), "nothing was written");
}

#[test]
fn reconcile_reads_a_parquet_store_and_writes_the_three_files() {
    let data = temp_dir("parquet");
    let mut store = crate::ParquetStore::open(&data).unwrap();
    crate::FlowStore::commit(&mut store, &day_rows(), 1_000).unwrap();
    let mut reader = crate::ParquetStore::open_read_only(&data).unwrap();
    let dir = data.join("reconcile");
    let written = reconcile_day(&mut reader, &[day_bill()], &options(), &dir).unwrap();
    check_day_report(&written.report);
    let day_dir = dir.join("3").join("2026-12-06");
    assert_eq!(written.day_dir, day_dir);
    let csv = std::fs::read_to_string(day_dir.join("discrepancies.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0], report::CSV_COLUMNS);
    assert!(
        lines[1].contains(",fee_mismatch,3,1,1,0,S1A1,"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].contains(",missing_on_channel,3,3,1,0,S3A1,"),
        "{}",
        lines[2]
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(day_dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["classes"]["fee_mismatch"]["count"], 1);
    assert_eq!(json["discrepancies"][1]["amount_minor"], 29_820);
    let summary = std::fs::read_to_string(day_dir.join("summary.txt")).unwrap();
    assert!(summary.contains("missing_on_channel"), "{summary}");
    assert!(day_dir.join("state_before.json").is_file());
    let _ = std::fs::remove_dir_all(&data);
}
