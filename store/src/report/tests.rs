//! Hand-built rows whose every figure is worked out by hand below.
//!
//! Merchant 7 sells in CNY (156) through channels 1 and 2; the platform takes 1%; the merchant
//! bears the channel fee.
//! - 2026-11-29 (Sunday, week 48, November): order 100, 100.00, fails on channel 1 and succeeds
//!   on channel 2 (a failover), fee 0.60: lines platform 1.00, fee 0.60, merchant 98.40.
//! - 2026-11-30 (Monday, week 49, still November): order 101, 50.00, channel 1 at once, fee
//!   0.30: lines platform 0.50, fee 0.30, merchant 49.20; a shadow hit of rule 9. Order 102,
//!   30.00, blocked by rule 5.
//! - 2026-12-01 (December): order 100's 98.40 settles: 88.56 available, 9.84 frozen. A refund of
//!   20.00 of order 100 is asked: 19.68 reserved from available, 0.20 platform, 0.12 fee.
//! - 2026-12-02: the refund succeeds at channel 2.
//! - 2026-12-07 (Monday, week 50): merchant 7 withdraws 10.00.

use sluice_node::flow::*;

use super::*;
use crate::{DayRange, FlowReader};

const CNY: i32 = 156;

fn day(text: &str) -> Day {
    parse_day(text, "test").unwrap()
}

fn order(order_id: i64, d: &str, amount: i64, first_channel: i32, rejected: bool) -> Order {
    Order {
        order_id,
        seq: order_id,
        at_ns: 0,
        day: day(d),
        acquirer_id: 1,
        request_id: order_id,
        merchant_id: 7,
        parent_merchant_id: 0,
        promoter_id: 0,
        amount_minor: amount,
        currency: CNY,
        method: "Card".into(),
        scene: "Online".into(),
        goods_category: 0,
        strategy: "Priority".into(),
        ack_status: if rejected { "Rejected" } else { "Accepted" }.into(),
        reject_reason: if rejected { "RiskBlocked" } else { "None" }.into(),
        risk_action: if rejected { "Block" } else { "None" }.into(),
        risk_rule_id: if rejected { 5 } else { 0 },
        first_channel_id: first_channel,
        risk_score: 0,
    }
}

fn result(
    order_id: i64,
    d: &str,
    channel: i32,
    attempts: i32,
    amount: i64,
    fee: i64,
) -> PaymentResult {
    PaymentResult {
        order_id,
        seq: order_id + 1000,
        at_ns: 0,
        day: day(d),
        merchant_id: 7,
        status: "Succeeded".into(),
        reason: "None".into(),
        channel_id: channel,
        attempts,
        amount_minor: amount,
        currency: CNY,
        fee_minor: fee,
        channel_ref: "ref".into(),
        settle_day: Day(0),
    }
}

fn line(
    (seq, ordinal): (i64, i32),
    d: &str,
    order_id: i64,
    refund_id: i64,
    role: &str,
    party: i32,
    amount: i64,
) -> SplitLine {
    SplitLine {
        seq,
        ordinal,
        day: day(d),
        order_id,
        refund_id,
        role: role.into(),
        party_id: party,
        amount_minor: amount,
        currency: CNY,
    }
}

/// An account as (kind, owner, role).
type Acct = (&'static str, i32, &'static str);
const CLEARING: Acct = ("clearing", 0, "");
const PLATFORM: Acct = ("platform_revenue", 0, "");
const FEES: Acct = ("fee_expense", 0, "");
const PAYOUTS: Acct = ("payouts", 0, "");
const REVERSALS: Acct = ("reversals_payable", 0, "");
const PENDING7: Acct = ("pending", 7, "Merchant");
const AVAILABLE7: Acct = ("available", 7, "Merchant");
const FROZEN7: Acct = ("frozen", 7, "Merchant");
const RX1: Acct = ("channel_receivable", 1, "");
const RX2: Acct = ("channel_receivable", 2, "");

fn transfer(
    seq: i64,
    ordinal: i32,
    d: &str,
    phase: &str,
    debit: Acct,
    credit: Acct,
    amount: i64,
) -> LedgerTransfer {
    LedgerTransfer {
        seq,
        ordinal,
        at_ns: 0,
        day: day(d),
        phase: phase.into(),
        debit_kind: debit.0.into(),
        debit_owner: debit.1,
        debit_role: debit.2.into(),
        credit_kind: credit.0.into(),
        credit_owner: credit.1,
        credit_role: credit.2.into(),
        amount_minor: amount,
        currency: CNY,
    }
}

fn hit(seq: i64, d: &str, rule_id: i32, shadow: bool, order_id: i64) -> RiskHit {
    RiskHit {
        seq,
        ordinal: 0,
        at_ns: 0,
        day: day(d),
        rule_id,
        shadow,
        action: "Block".into(),
        subject: "payment".into(),
        order_id,
        merchant_id: 7,
        amount_minor: 3_000,
        currency: CNY,
    }
}

fn reversal(seq: i64, d: &str, state: &str) -> Reversal {
    Reversal {
        seq,
        ordinal: 0,
        at_ns: 0,
        day: day(d),
        order_id: 100,
        attempt: 1,
        channel_id: 1,
        amount_minor: 10_000,
        currency: CNY,
        state: state.into(),
        reason: "LateCapture".into(),
    }
}

fn ledger() -> Vec<LedgerTransfer> {
    let (d1, d2, d3, d4) = ("2026-11-29", "2026-11-30", "2026-12-01", "2026-12-02");
    vec![
        transfer(1, 0, d1, "reserve", RX1, CLEARING, 10_000),
        transfer(2, 0, d1, "void_reserved", RX1, CLEARING, 10_000),
        transfer(2, 1, d1, "reserve", RX2, CLEARING, 10_000),
        transfer(3, 0, d1, "post_reserved", RX2, CLEARING, 10_000),
        transfer(3, 1, d1, "post", FEES, RX2, 60),
        transfer(3, 2, d1, "post", CLEARING, PLATFORM, 100),
        transfer(3, 3, d1, "post", CLEARING, FEES, 60),
        transfer(3, 4, d1, "post", CLEARING, PENDING7, 9_840),
        transfer(4, 0, d2, "reserve", RX1, CLEARING, 5_000),
        transfer(5, 0, d2, "post_reserved", RX1, CLEARING, 5_000),
        transfer(5, 1, d2, "post", FEES, RX1, 30),
        transfer(5, 2, d2, "post", CLEARING, PLATFORM, 50),
        transfer(5, 3, d2, "post", CLEARING, FEES, 30),
        transfer(5, 4, d2, "post", CLEARING, PENDING7, 4_920),
        transfer(6, 0, d3, "post", PENDING7, AVAILABLE7, 8_856),
        transfer(6, 1, d3, "post", PENDING7, FROZEN7, 984),
        transfer(7, 0, d3, "reserve", CLEARING, RX2, 2_000),
        transfer(7, 1, d3, "reserve", PLATFORM, CLEARING, 20),
        transfer(7, 2, d3, "reserve", FEES, CLEARING, 12),
        transfer(7, 3, d3, "reserve", AVAILABLE7, CLEARING, 1_968),
        transfer(8, 0, d4, "post_reserved", PLATFORM, CLEARING, 20),
        transfer(8, 1, d4, "post_reserved", FEES, CLEARING, 12),
        transfer(8, 2, d4, "post_reserved", AVAILABLE7, CLEARING, 1_968),
        transfer(8, 3, d4, "post_reserved", CLEARING, RX2, 2_000),
        transfer(9, 0, "2026-12-07", "post", AVAILABLE7, PAYOUTS, 1_000),
        // Channel 1 reports a capture of order 100's abandoned first attempt late, then
        // confirms its reversal.
        transfer(7, 4, d3, "post", RX1, REVERSALS, 10_000),
        transfer(8, 4, d4, "post", REVERSALS, RX1, 10_000),
    ]
}

fn rows() -> Rows {
    let (d1, d2, d4) = ("2026-11-29", "2026-11-30", "2026-12-02");
    Rows {
        orders: vec![
            order(100, d1, 10_000, 1, false),
            order(101, d2, 5_000, 1, false),
            order(102, d2, 3_000, 0, true),
        ],
        payment_results: vec![
            result(100, d1, 2, 2, 10_000, 60),
            result(101, d2, 1, 1, 5_000, 30),
        ],
        split_lines: vec![
            line((3, 0), d1, 100, 0, "Platform", 0, 100),
            line((3, 1), d1, 100, 0, "ChannelFee", 2, 60),
            line((3, 2), d1, 100, 0, "Merchant", 7, 9_840),
            line((5, 0), d2, 101, 0, "Platform", 0, 50),
            line((5, 1), d2, 101, 0, "ChannelFee", 1, 30),
            line((5, 2), d2, 101, 0, "Merchant", 7, 4_920),
            line((8, 0), d4, 100, 1, "Platform", 0, -20),
            line((8, 1), d4, 100, 1, "ChannelFee", 2, -12),
            line((8, 2), d4, 100, 1, "Merchant", 7, -1_968),
        ],
        refund_results: vec![RefundResult {
            refund_id: 1,
            seq: 8,
            at_ns: 0,
            day: day(d4),
            order_id: 100,
            merchant_id: 7,
            channel_id: 2,
            status: "Succeeded".into(),
            reason: "None".into(),
            amount_minor: 2_000,
            currency: CNY,
            fee_returned_minor: 0,
        }],
        withdrawals: vec![Withdrawal {
            seq: 9,
            ordinal: 0,
            at_ns: 0,
            day: day("2026-12-07"),
            withdrawal_id: 1,
            withdraw_request_id: 1,
            merchant_id: 7,
            amount_minor: 1_000,
            currency: CNY,
            status: "Succeeded".into(),
            reason: "None".into(),
            available_after_minor: 5_888,
            message: "WithdrawResult".into(),
            fee_minor: 0,
        }],
        reversals: vec![
            reversal(7, "2026-12-01", "Reversing"),
            reversal(8, "2026-12-02", "Reversed"),
        ],
        ledger_transfers: ledger(),
        risk_hits: vec![hit(4, d2, 9, true, 101), hit(10, d2, 5, false, 102)],
        ..Rows::default()
    }
}

const M7: Party = Party {
    role: Role::Merchant,
    id: 7,
};

fn balances(pending: i64, available: i64, frozen: i64, held: i64) -> Balances {
    Balances {
        pending_minor: pending,
        available_minor: available,
        frozen_minor: frozen,
        refunds_held_minor: held,
        ..Balances::default()
    }
}

#[test]
fn weekly_statements_split_at_monday() {
    let s = statements(&rows(), M7, PeriodKind::Week, DayRange::default()).unwrap();
    let labels: Vec<&str> = s.iter().map(|s| s.period.label.as_str()).collect();
    assert_eq!(labels, ["2026-W48", "2026-W49", "2026-W50"]);
    assert_eq!(s[0].opening, Balances::default());
    assert_eq!(
        s[0].movements,
        Movements {
            gross_minor: 10_000,
            sales_minor: 9_840,
            fees_minor: 60,
            splits_minor: 100,
            ..Movements::default()
        }
    );
    assert_eq!(s[0].closing, balances(9_840, 0, 0, 0));
    // The refund of week 48's payment falls in week 49, where it succeeded.
    assert_eq!(
        s[1].movements,
        Movements {
            gross_minor: 5_000,
            sales_minor: 4_920,
            fees_minor: 30,
            splits_minor: 50,
            refunds_minor: 1_968,
            settled_minor: 8_856,
            frozen_minor: 984,
            ..Movements::default()
        }
    );
    assert_eq!(s[1].closing, balances(4_920, 6_888, 984, 0));
    assert_eq!(s[2].movements.withdrawn_minor, 1_000);
    assert_eq!(s[2].closing, balances(4_920, 5_888, 984, 0));
    assert_eq!(
        (s[2].period.start.as_str(), s[2].period.end.as_str()),
        ("2026-12-07", "2026-12-13")
    );
}

#[test]
fn monthly_statements_split_at_the_first_and_daily_ones_sum_to_them() {
    let rows = rows();
    let months = statements(&rows, M7, PeriodKind::Month, DayRange::default()).unwrap();
    assert_eq!(months.len(), 2);
    assert_eq!(months[0].movements.gross_minor, 15_000);
    assert_eq!(months[0].movements.sales_minor, 14_760);
    assert_eq!(months[0].closing, balances(14_760, 0, 0, 0));
    assert_eq!(months[1].opening, months[0].closing);
    assert_eq!(months[1].movements.refunds_minor, 1_968);
    assert_eq!(months[1].closing, balances(4_920, 5_888, 984, 0));
    let days = statements(&rows, M7, PeriodKind::Day, DayRange::default()).unwrap();
    assert_eq!(days.len(), 9, "2026-11-29 through 2026-12-07");
    // The refund is reserved on 2026-12-01 and held out of available until it succeeds.
    assert_eq!(days[2].period.start, "2026-12-01");
    assert_eq!(days[2].closing, balances(4_920, 6_888, 984, 1_968));
    assert_eq!(days[3].closing, balances(4_920, 6_888, 984, 0));
    for month in &months {
        let inside = days
            .iter()
            .filter(|d| month.period.contains(d.period.start_day));
        let sum = inside.fold(0, |a, d| {
            a + d.movements.sales_minor - d.movements.refunds_minor
        });
        assert_eq!(
            sum,
            month.movements.sales_minor - month.movements.refunds_minor
        );
        let last = days
            .iter()
            .rfind(|d| month.period.contains(d.period.start_day));
        assert_eq!(last.unwrap().closing, month.closing);
    }
}

#[test]
fn platform_statement_falls_out_of_the_same_code() {
    let platform = Party {
        role: Role::Platform,
        id: 0,
    };
    let s = statements(&rows(), platform, PeriodKind::Month, DayRange::default()).unwrap();
    assert_eq!(s[0].movements.commission_minor, 150);
    assert_eq!(s[0].movements.sales_minor, 0);
    assert_eq!(s[1].movements.refunds_minor, 20);
    // Platform revenue 1.50 − 0.20; fee expense: 0.60 + 0.30 + 0.12 paid, 0.90 covered.
    assert_eq!(s[1].closing, balances(130, 12, 0, 0));
}

#[test]
fn channel_statements_show_outstanding_and_no_settlement() {
    let s = channel_statements(&rows(), 2, PeriodKind::Week, DayRange::default()).unwrap();
    assert_eq!(s.len(), 3);
    assert_eq!(s[0].movements.captured_minor, 10_000);
    assert_eq!(s[0].movements.fees_minor, 60);
    assert_eq!(s[0].outstanding_closing_minor, 9_940);
    assert_eq!(s[1].movements.refunded_minor, 2_000);
    assert_eq!(s[1].movements.settled_minor, 0);
    assert_eq!(s[1].outstanding_closing_minor, 7_940);
    assert_eq!(s[1].note, SETTLED_NOTE);
    let s = channel_statements(&rows(), 1, PeriodKind::Month, DayRange::default()).unwrap();
    assert_eq!(s[0].outstanding_closing_minor, 4_970);
    // The late capture is owed by the channel until its reversal is confirmed.
    assert_eq!(
        (
            s[1].movements.reversals_minor,
            s[1].movements.reversed_minor
        ),
        (10_000, 10_000)
    );
    assert_eq!(s[1].outstanding_closing_minor, 4_970);
    let s = channel_statements(&rows(), 1, PeriodKind::Day, DayRange::default()).unwrap();
    // Channel 1's first movement is order 101's capture on 2026-11-30.
    assert_eq!(s[1].period.start, "2026-12-01");
    assert_eq!(s[1].outstanding_closing_minor, 14_970);
    for s in &s {
        let m = &s.movements;
        let moved = m.captured_minor - m.fees_minor - m.refunded_minor + m.reversals_minor
            - m.reversed_minor;
        assert_eq!(
            s.outstanding_closing_minor - s.outstanding_opening_minor,
            moved
        );
    }
}

#[test]
fn unknown_parties_and_empty_stores_are_named() {
    let m9 = Party {
        role: Role::Merchant,
        id: 9,
    };
    let err = statements(&rows(), m9, PeriodKind::Day, DayRange::default()).unwrap_err();
    assert_eq!(
        err.0,
        "merchant 9: no split lines or ledger transfers in the store"
    );
    let err = channel_statements(&rows(), 3, PeriodKind::Day, DayRange::default()).unwrap_err();
    assert!(err.0.starts_with("channel 3: "), "{err}");
    let mut empty = MemoryReader::default();
    let err = load(&mut empty, DayRange::default()).unwrap_err();
    assert!(err.0.contains("holds no rows"), "{err}");
    let mut reader = MemoryReader {
        rows: rows(),
        position: 10,
    };
    let to = Some(day("2026-11-29"));
    let loaded = reader
        .load(REPORT_TABLES, DayRange { from: None, to })
        .unwrap();
    assert_eq!(loaded.orders.len(), 1);
    assert_eq!(loaded.ledger_transfers.len(), 8);
}

#[test]
fn flow_by_channel_counts_failovers_refunds_and_risk() {
    let report = flow(&rows(), &Grouping::by(vec![Dim::Channel])).unwrap();
    let keys: Vec<&str> = report.rows.iter().map(|r| r.key[0].as_str()).collect();
    assert_eq!(keys, ["0", "1", "2"]);
    let blocked = &report.rows[0].measures;
    assert_eq!(
        (blocked.count, blocked.finished, blocked.success_rate),
        (1, 0, None)
    );
    assert_eq!(
        blocked.risk,
        [RuleHits {
            rule_id: 5,
            blocked: 1,
            reviewed: 0,
            shadow: 0
        }]
    );
    let one = &report.rows[1].measures;
    assert_eq!(
        (one.count, one.succeeded, one.volume_minor, one.fees_minor),
        (1, 1, 5_000, 30)
    );
    assert_eq!(one.success_rate_first_attempt, Some(1.0));
    assert_eq!(
        one.risk,
        [RuleHits {
            rule_id: 9,
            blocked: 0,
            reviewed: 0,
            shadow: 1
        }]
    );
    let two = &report.rows[2].measures;
    assert_eq!(
        (two.succeeded, two.failovers, two.volume_minor),
        (1, 1, 10_000)
    );
    assert_eq!(
        (two.success_rate, two.success_rate_first_attempt),
        (Some(1.0), Some(0.0))
    );
    assert_eq!((two.refunds, two.refunds_minor), (1, 2_000));
}

#[test]
fn flow_by_type_and_week_puts_the_refund_in_its_own_week() {
    let grouping = Grouping {
        dims: vec![Dim::Type, Dim::Week],
        types: vec![TxType::Payment, TxType::Refund, TxType::Withdrawal],
        days: DayRange::default(),
    };
    let report = flow(&rows(), &grouping).unwrap();
    let got: Vec<(String, u64, i64)> = report
        .rows
        .iter()
        .map(|r| (r.key.join(" "), r.measures.count, r.measures.volume_minor))
        .collect();
    let want = [
        ("payment 2026-W48", 1, 10_000),
        ("payment 2026-W49", 2, 5_000),
        ("refund 2026-W49", 1, 2_000),
        ("withdrawal 2026-W50", 1, 1_000),
    ];
    let want: Vec<(String, u64, i64)> = want
        .iter()
        .map(|(k, c, v)| (k.to_string(), *c, *v))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn tables_print_two_decimals_and_csv_minor_units() {
    let s = statements(&rows(), M7, PeriodKind::Week, DayRange::default()).unwrap();
    let table = format::statements_table(&s);
    let text = table.to_text();
    assert!(text.contains("98.40"), "{text}");
    let csv = table.to_csv();
    let second = csv.lines().nth(1).unwrap();
    assert!(
        second.starts_with("merchant:7,156,2026-W48,2026-11-23,2026-11-29,0,10000,9840,"),
        "{second}"
    );
    assert_eq!(format::major(-1_234, CNY), "-12.34");
    assert_eq!(format::major(5, 392), "5");
    assert_eq!(format::major(1_005, 48), "1.005");
    let report = flow(&rows(), &Grouping::by(vec![Dim::Channel])).unwrap();
    let picked = ["count".to_string(), "volume".to_string()];
    let t = format::flow_table(&report, &picked).unwrap();
    assert_eq!(
        t.to_csv(),
        "channel,count,volume\n0,1,0\n1,1,5000\n2,1,10000\n"
    );
    let err = format::flow_table(&report, &["speed".to_string()]).unwrap_err();
    assert!(err.0.starts_with("--measures `speed`"), "{err}");
    let json = format::render(&s, &table, format::Format::Json).unwrap();
    assert!(json.contains("\"sales_minor\": 9840"), "{json}");
}

#[test]
fn every_daily_statement_ties_its_movements_to_its_balances() {
    let days = statements(&rows(), M7, PeriodKind::Day, DayRange::default()).unwrap();
    let total =
        |b: &Balances| b.pending_minor + b.available_minor + b.frozen_minor + b.refunds_held_minor;
    for s in &days {
        let m = &s.movements;
        let moved = m.sales_minor + m.commission_minor - m.refunds_minor - m.withdrawn_minor;
        assert_eq!(
            total(&s.closing) - total(&s.opening),
            moved,
            "{}",
            s.period.label
        );
        let pending = m.sales_minor + m.commission_minor - m.settled_minor - m.frozen_minor;
        assert_eq!(
            s.closing.pending_minor - s.opening.pending_minor,
            pending,
            "{}",
            s.period.label
        );
    }
}

#[test]
fn parties_and_channels_are_found_in_the_rows() {
    let rows = rows();
    let platform = Party {
        role: Role::Platform,
        id: 0,
    };
    assert_eq!(parties(&rows), [M7, platform]);
    assert_eq!(channels(&rows), [1, 2]);
    let to_before_from = DayRange {
        from: Some(day("2026-12-02")),
        to: Some(day("2026-12-01")),
    };
    let err = statements(&rows, M7, PeriodKind::Day, to_before_from).unwrap_err();
    assert_eq!(err.0, "--from 2026-12-02 is after --to 2026-12-01");
}

#[test]
fn hierarchy_and_promoter_lines_go_by_their_party_role_names() {
    // Merchant 8 (parent 7, promoter 3) sells 10.00: platform 0.10, promoter 0.20, parent 0.50.
    let d = "2026-12-03";
    let mut o = order(200, d, 1_000, 1, false);
    o.merchant_id = 8;
    let mut r = result(200, d, 1, 1, 1_000, 0);
    r.merchant_id = 8;
    let rows = Rows {
        orders: vec![o],
        payment_results: vec![r],
        split_lines: vec![
            line((20, 0), d, 200, 0, "Platform", 0, 10),
            line((20, 1), d, 200, 0, "PromoterLevel1", 3, 20),
            line((20, 2), d, 200, 0, "MerchantParent", 7, 50),
            line((20, 3), d, 200, 0, "Merchant", 8, 920),
        ],
        ..Rows::default()
    };
    let month = |role, id| {
        let party = Party { role, id };
        let s = statements(&rows, party, PeriodKind::Month, DayRange::default()).unwrap();
        assert_eq!(s.len(), 1);
        s[0].movements
    };
    let seller = month(Role::Merchant, 8);
    assert_eq!(
        (seller.gross_minor, seller.sales_minor, seller.splits_minor),
        (1_000, 920, 80)
    );
    let parent = month(Role::Merchant, 7);
    assert_eq!(
        (
            parent.gross_minor,
            parent.sales_minor,
            parent.commission_minor
        ),
        (0, 0, 50)
    );
    assert_eq!(month(Role::Promoter, 3).commission_minor, 20);
    let promoter = Party {
        role: Role::Promoter,
        id: 3,
    };
    assert!(parties(&rows).contains(&promoter));
}

#[test]
fn flow_days_pick_the_day_each_transaction_counts_on() {
    // Only 2026-12-02: the refund (its result's day), not its payment of 2026-11-29.
    let mut grouping = Grouping::by(vec![Dim::Type]);
    grouping.types = vec![TxType::Payment, TxType::Refund];
    grouping.days = DayRange {
        from: Some(day("2026-12-02")),
        to: Some(day("2026-12-02")),
    };
    let report = flow(&rows(), &grouping).unwrap();
    assert_eq!(report.rows.len(), 1);
    assert_eq!(report.rows[0].key, ["refund"]);
    assert_eq!(
        (
            report.rows[0].measures.count,
            report.rows[0].measures.refunds_minor
        ),
        (1, 2_000)
    );
}

/// The console reads these names: changing one is an API change (docs in `report`'s module).
#[test]
fn json_field_names_are_the_console_contract() {
    let s = statements(&rows(), M7, PeriodKind::Week, DayRange::default()).unwrap();
    let v = serde_json::to_value(&s[1]).unwrap();
    let keys = |v: &serde_json::Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(
        keys(&v),
        [
            "closing",
            "currency",
            "movements",
            "opening",
            "party",
            "period"
        ]
    );
    assert_eq!(v["party"], serde_json::json!({"role": "Merchant", "id": 7}));
    assert_eq!(
        v["period"],
        serde_json::json!({"kind": "week", "start": "2026-11-30", "end": "2026-12-06", "label": "2026-W49"})
    );
    assert_eq!(v["closing"]["available_minor"], 6_888);
    assert_eq!(v["movements"]["refunds_minor"], 1_968);
    let report = flow(&rows(), &Grouping::by(vec![Dim::Channel, Dim::Week])).unwrap();
    let v = serde_json::to_value(&report).unwrap();
    assert_eq!(v["dims"], serde_json::json!(["channel", "week"]));
    assert_eq!(v["types"], serde_json::json!(["payment"]));
    assert_eq!(v["rows"][0]["key"], serde_json::json!(["0", "2026-W49"]));
    assert_eq!(
        v["rows"][0]["measures"]["risk"],
        serde_json::json!([{"rule_id": 5, "blocked": 1, "reviewed": 0, "shadow": 0}])
    );
}
