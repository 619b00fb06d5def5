//! Statements with the rolling reserve and payouts (docs/PAYOUTS.md, sections 3–4), over
//! hand-built rows whose every figure is worked out below (CNY, 2026-12).
//!
//! - 12-01: order 100 pays merchant 7 100.00, promoter 3 5.00 and the platform 20.00.
//! - 12-02: merchant 7's 100.00 settles: 10.00 deposit (frozen), 9.00 reserve, 81.00 available;
//!   promoter 3's 5.00 settles.
//! - 12-03: merchant 7 asks payout 1 (30.00 + fee 0.50) and payout 2 (10.00 + 0.50), both Sent;
//!   promoter 3's payout 3 (4.00 + 0.10) waits in Review; the platform sweeps payout 4 (15.00 +
//!   0.20).
//! - 12-04: payout 1 is paid, payout 2 fails, payout 3 is approved (Sent), payout 4 is paid.
//! - 12-05: payout 1 is returned (30.00 back; the fee is not); payout 3 is paid.
//! - 12-06: merchant 7's reserve is released.

use sluice_node::flow::*;

use super::*;
use crate::DayRange;

const CNY: i32 = 156;
const M7: Party = Party {
    role: Role::Merchant,
    id: 7,
};
const P3: Party = Party {
    role: Role::Promoter,
    id: 3,
};
const PLATFORM: Party = Party {
    role: Role::Platform,
    id: 0,
};

fn day(text: &str) -> Day {
    parse_day(text, "test").unwrap()
}

/// An account: kind, owner, role.
type Acct = (&'static str, i32, &'static str);
const CLEARING: Acct = ("clearing", 0, "");
const IN_FLIGHT: Acct = ("payouts_in_flight", 0, "");
const BANK: Acct = ("platform_bank", 0, "");
const REVENUE: Acct = ("platform_revenue", 0, "");

fn m7(kind: &'static str) -> Acct {
    (kind, 7, "Merchant")
}

fn p3(kind: &'static str) -> Acct {
    (kind, 3, "Promoter")
}

struct Build {
    rows: Rows,
    seq: i64,
}

impl Build {
    fn transfer(&mut self, d: &str, phase: &str, debit: Acct, credit: Acct, amount: i64) {
        self.seq += 1;
        self.rows.ledger_transfers.push(LedgerTransfer {
            seq: self.seq,
            ordinal: 0,
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
        });
    }

    fn payout(&mut self, d: &str, id: i64, party: Party, amount: i64, fee: i64, state: &str) {
        self.seq += 1;
        self.rows.payouts.push(Payout {
            seq: self.seq,
            ordinal: 0,
            at_ns: 0,
            day: day(d),
            payout_id: id,
            party_kind: party.role.name().into(),
            party_id: party.id,
            currency: CNY,
            amount_minor: amount,
            fee_minor: fee,
            state: state.into(),
            reason: if state == "Failed" {
                "PayoutFailed"
            } else {
                "None"
            }
            .into(),
            channel_id: 40,
            channel_code: 0,
            withdraw_request_id: if party.role == Role::Merchant { id } else { 0 },
            automatic: false,
        });
    }

    fn line(&mut self, role: &str, party_id: i32, amount: i64) {
        let ordinal = self.rows.split_lines.len() as i32;
        self.rows.split_lines.push(SplitLine {
            seq: 1,
            ordinal,
            day: day("2026-12-01"),
            order_id: 100,
            refund_id: 0,
            role: role.into(),
            party_id,
            amount_minor: amount,
            currency: CNY,
        });
    }
}

fn rows() -> Rows {
    let mut b = Build {
        rows: Rows::default(),
        seq: 0,
    };
    b.rows.orders.push(Order {
        order_id: 100,
        seq: 1,
        at_ns: 0,
        day: day("2026-12-01"),
        acquirer_id: 1,
        request_id: 1,
        merchant_id: 7,
        parent_merchant_id: 0,
        promoter_id: 3,
        amount_minor: 12_500,
        currency: CNY,
        method: "Card".into(),
        scene: "Online".into(),
        goods_category: 0,
        strategy: "Priority".into(),
        ack_status: "Accepted".into(),
        reject_reason: "None".into(),
        risk_action: "Allow".into(),
        risk_rule_id: 0,
        first_channel_id: 1,
        risk_score: 0,
    });
    b.line("Merchant", 7, 10_000);
    b.line("PromoterLevel1", 3, 500);
    b.line("Platform", 0, 2_000);
    let d1 = "2026-12-01";
    b.transfer(d1, "post", CLEARING, m7("pending"), 10_000);
    b.transfer(d1, "post", CLEARING, p3("pending"), 500);
    b.transfer(d1, "post", CLEARING, REVENUE, 2_000);
    let d2 = "2026-12-02";
    b.transfer(d2, "post", m7("pending"), m7("frozen"), 1_000);
    b.transfer(d2, "post", m7("pending"), m7("reserve"), 900);
    b.transfer(d2, "post", m7("pending"), m7("available"), 8_100);
    b.transfer(d2, "post", p3("pending"), p3("available"), 500);
    let d3 = "2026-12-03";
    b.transfer(d3, "reserve", m7("available"), IN_FLIGHT, 3_050);
    b.payout(d3, 1, M7, 3_000, 50, "Sent");
    b.transfer(d3, "reserve", m7("available"), IN_FLIGHT, 1_050);
    b.payout(d3, 2, M7, 1_000, 50, "Sent");
    b.transfer(d3, "reserve", p3("available"), IN_FLIGHT, 410);
    b.payout(d3, 3, P3, 400, 10, "Review");
    b.transfer(d3, "reserve", REVENUE, IN_FLIGHT, 1_520);
    b.payout(d3, 4, PLATFORM, 1_500, 20, "Sent");
    let d4 = "2026-12-04";
    b.transfer(d4, "post_reserved", m7("available"), IN_FLIGHT, 3_050);
    b.transfer(d4, "post", IN_FLIGHT, BANK, 3_050);
    b.payout(d4, 1, M7, 3_000, 50, "Paid");
    b.transfer(d4, "void_reserved", m7("available"), IN_FLIGHT, 1_050);
    b.payout(d4, 2, M7, 1_000, 50, "Failed");
    b.payout(d4, 3, P3, 400, 10, "Sent");
    b.transfer(d4, "post_reserved", REVENUE, IN_FLIGHT, 1_520);
    b.transfer(d4, "post", IN_FLIGHT, BANK, 1_520);
    b.payout(d4, 4, PLATFORM, 1_500, 20, "Paid");
    let d5 = "2026-12-05";
    b.transfer(d5, "post", BANK, m7("available"), 3_000);
    b.payout(d5, 1, M7, 3_000, 50, "Returned");
    b.transfer(d5, "post_reserved", p3("available"), IN_FLIGHT, 410);
    b.transfer(d5, "post", IN_FLIGHT, BANK, 410);
    b.payout(d5, 3, P3, 400, 10, "Paid");
    b.transfer("2026-12-06", "post", m7("reserve"), m7("available"), 900);
    b.rows
}

fn daily(party: Party) -> Vec<Statement> {
    statements(&rows(), party, PeriodKind::Day, DayRange::default()).unwrap()
}

#[test]
fn a_merchants_statements_show_the_reserve_and_every_payout_outcome() {
    let s = daily(M7);
    assert_eq!(s.len(), 6, "12-01 to 12-06");
    let m: Vec<&Movements> = s.iter().map(|s| &s.movements).collect();
    assert_eq!((m[1].reserve_held_minor, m[1].frozen_minor), (900, 1_000));
    assert_eq!(m[1].settled_minor, 8_100);
    assert_eq!(m[2].payouts_requested_minor, 4_100);
    assert_eq!(
        s[2].closing,
        Balances {
            available_minor: 4_000,
            frozen_minor: 1_000,
            reserve_minor: 900,
            payouts_held_minor: 4_100,
            ..Balances::default()
        }
    );
    assert_eq!(
        (
            m[3].payouts_paid_minor,
            m[3].payout_fees_minor,
            m[3].payouts_failed_minor
        ),
        (3_000, 50, 1_050)
    );
    assert_eq!(s[3].closing.available_minor, 5_050);
    assert_eq!(s[3].closing.payouts_held_minor, 0);
    assert_eq!(m[4].payouts_returned_minor, 3_000);
    assert_eq!(m[5].reserve_released_minor, 900);
    assert_eq!(
        s[5].closing,
        Balances {
            available_minor: 8_950,
            frozen_minor: 1_000,
            ..Balances::default()
        }
    );
    ties_out(&s);
    let month = statements(&rows(), M7, PeriodKind::Month, DayRange::default()).unwrap();
    assert_eq!(month[0].closing, s[5].closing);
    assert_eq!(month[0].movements.payouts_paid_minor, 3_000);
    assert_eq!(month[0].movements.payouts_returned_minor, 3_000);
    ties_out(&month);
}

/// Opening + movements = closing, with the new accounts (docs/STORE.md, "Reports").
fn ties_out(statements: &[Statement]) {
    for s in statements {
        assert_eq!(
            s.closing.total_minor() - s.opening.total_minor(),
            s.movements.net_minor(),
            "{:?} {}",
            s.party,
            s.period.label
        );
    }
}

#[test]
fn a_promoters_payout_waits_in_review_then_is_paid() {
    let s = daily(P3);
    let m: Vec<&Movements> = s.iter().map(|s| &s.movements).collect();
    assert_eq!(m[0].commission_minor, 500);
    assert_eq!(m[2].payouts_requested_minor, 410);
    assert_eq!(s[3].closing.payouts_held_minor, 410, "sent, not yet paid");
    assert_eq!((m[4].payouts_paid_minor, m[4].payout_fees_minor), (400, 10));
    assert_eq!(s[4].closing.available_minor, 90);
    assert_eq!(s[4].closing.payouts_held_minor, 0);
    ties_out(&s);
}

#[test]
fn the_platforms_sweep_is_held_out_of_its_revenue_until_paid() {
    let s = daily(PLATFORM);
    assert_eq!(s[0].movements.commission_minor, 2_000);
    assert_eq!(s[2].closing.pending_minor, 480);
    assert_eq!(s[2].closing.payouts_held_minor, 1_520);
    assert_eq!(s[2].movements.payouts_requested_minor, 1_520);
    assert_eq!(
        (
            s[3].movements.payouts_paid_minor,
            s[3].movements.payout_fees_minor
        ),
        (1_500, 20)
    );
    assert_eq!(s[3].closing.pending_minor, 480);
    assert_eq!(s[3].closing.payouts_held_minor, 0);
    ties_out(&s);
}

#[test]
fn the_statement_table_keeps_its_columns_and_adds_the_payouts() {
    let s = daily(M7);
    let table = format::statements_table(&s);
    let old = [
        "party",
        "currency",
        "period",
        "from",
        "to",
        "opening",
        "gross",
        "sales",
        "commission",
        "fees",
        "splits",
        "refunds",
        "settled",
        "frozen_in",
        "released",
        "withdrawn",
        "pending",
        "available",
        "frozen",
        "refunds_held",
        "closing",
    ];
    assert_eq!(table.headers[..old.len()], old.map(String::from));
    let csv = table.to_csv();
    let header = csv.lines().next().unwrap();
    assert!(
        header.ends_with(
            "reserve_held,reserve_released,payouts_requested,payouts_paid,payout_fees,\
             payouts_failed,payouts_returned,reserve,payouts_held"
        ),
        "{header}"
    );
    // 12-04: paid 30.00, fee 0.50, failed 10.50 released; 12-05: 30.00 returned.
    let fourth = csv.lines().nth(4).unwrap();
    assert!(fourth.ends_with(",0,0,0,3000,50,1050,0,900,0"), "{fourth}");
    let text = table.to_text();
    assert!(text.contains("30.00") && text.contains("10.50"), "{text}");
    let json = format::render(&s, &table, format::Format::Json).unwrap();
    assert!(json.contains("\"payouts_returned_minor\": 3000"), "{json}");
    assert!(json.contains("\"reserve_minor\": 900"), "{json}");
}

#[test]
fn the_payouts_report_groups_by_state_party_kind_and_day() {
    let r = payouts(
        &rows(),
        &PayoutDim::parse_list("state,party_kind").unwrap(),
        DayRange::default(),
    )
    .unwrap();
    let got: Vec<(String, u64, i64, i64)> = r
        .rows
        .iter()
        .map(|row| {
            let m = row.measures;
            (row.key.join("/"), m.count, m.amount_minor, m.fees_minor)
        })
        .collect();
    let want = [
        ("Review/Promoter", 1, 400, 10),
        ("Sent/Merchant", 2, 4_000, 100),
        ("Sent/Platform", 1, 1_500, 20),
        ("Sent/Promoter", 1, 400, 10),
        ("Paid/Merchant", 1, 3_000, 50),
        ("Paid/Platform", 1, 1_500, 20),
        ("Paid/Promoter", 1, 400, 10),
        ("Failed/Merchant", 1, 1_000, 50),
        ("Returned/Merchant", 1, 3_000, 50),
    ]
    .map(|(k, c, a, f)| (k.to_owned(), c, a, f));
    assert_eq!(got, want);
    let by_day = payouts(
        &rows(),
        &[PayoutDim::Day],
        DayRange {
            from: Some(day("2026-12-04")),
            to: Some(day("2026-12-04")),
        },
    )
    .unwrap();
    assert_eq!(by_day.rows.len(), 1);
    assert_eq!(by_day.rows[0].key, ["2026-12-04"]);
    assert_eq!(by_day.rows[0].measures.count, 4);
    let table = format::payouts_table(&by_day);
    assert_eq!(
        table.to_csv(),
        "day,count,amount,fees\n2026-12-04,4,5900,130\n"
    );
    let err = PayoutDim::parse_list("state,colour").unwrap_err();
    assert!(err.0.contains("--by `colour`"), "{err}");
}
