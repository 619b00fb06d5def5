//! The finance report on a scripted month whose figures are worked out by hand: a promoter's
//! yield holding (swept, two days' yield, a redemption), two installment plans (one repaid in
//! part and charged a late fee, one defaulted) and a merchant loan (interest on two days, a
//! repayment from a settlement, overdue).

use super::finance::{AccrualDay, Accruals, Installment};
use super::format::{finance_days_table, finance_plans_table, finance_totals_table};
use super::*;
use sluice_node::flow::{Day, FinanceEventRow, Rows};

const D: i32 = 20_500;
const CNY: i32 = 156;
const PLAN: i64 = 1 << 40;
const BAD_PLAN: i64 = 2 << 40;
const LOAN: i64 = 9;

/// (seq, input day) of a row and what it says.
struct Ev<'a> {
    seq: i64,
    day: i32,
    product: &'a str,
    kind: &'a str,
    reference: i64,
    installment: i32,
    amount: i64,
    position: i64,
    accrued: i64,
    business_day: i32,
}

fn ev<'a>(seq: i64, day: i32, product: &'a str, kind: &'a str, reference: i64) -> Ev<'a> {
    Ev {
        seq,
        day,
        product,
        kind,
        reference,
        installment: 0,
        amount: 0,
        position: 0,
        accrued: 0,
        business_day: day,
    }
}

impl Ev<'_> {
    fn money(self, amount: i64, position: i64, accrued: i64) -> Self {
        Ev {
            amount,
            position,
            accrued,
            ..self
        }
    }
    fn on(self, installment: i32, business_day: i32) -> Self {
        Ev {
            installment,
            business_day,
            ..self
        }
    }
}

/// The rows, numbering each input's rows in order.
fn rows_of(events: Vec<Ev<'_>>) -> Rows {
    let mut rows = Rows::default();
    for e in events {
        let ordinal = rows
            .finance_events
            .iter()
            .filter(|r| r.seq == e.seq)
            .count() as i32;
        let (party_kind, party_id) = match (e.product, e.kind) {
            (_, "YieldResidual") => ("None", 0),
            ("Yield", _) => ("Promoter", 77),
            _ => ("Merchant", 1001),
        };
        rows.finance_events.push(FinanceEventRow {
            seq: e.seq,
            ordinal,
            at_ns: e.seq * 1_000,
            day: Day(e.day),
            product: e.product.into(),
            kind: e.kind.into(),
            party_kind: party_kind.into(),
            party_id,
            reference: e.reference,
            installment: e.installment,
            currency: CNY,
            amount_minor: e.amount,
            position_minor: e.position,
            accrued_minor: e.accrued,
            business_day: Day(e.business_day),
        });
    }
    rows
}

fn month() -> Rows {
    let y = |seq, day, kind| ev(seq, day, "Yield", kind, 0);
    let p = |seq, day, kind| ev(seq, day, "Installment", kind, PLAN);
    let q = |seq, day, kind| ev(seq, day, "Installment", kind, BAD_PLAN);
    let l = |seq, day, kind| ev(seq, day, "Loan", kind, LOAN);
    rows_of(vec![
        y(1, D, "YieldTerms").money(1_000, 0, 0),
        y(2, D, "Swept").money(50_000, 50_000, 0),
        // A plan of 30 000 at 300 interest in three installments of 10 100.
        p(2, D, "PlanOpened").money(30_000, 30_300, 300).on(0, D),
        p(2, D, "InstallmentScheduled")
            .money(10_100, 30_300, 300)
            .on(1, D + 30),
        p(2, D, "InstallmentScheduled")
            .money(10_100, 30_300, 300)
            .on(2, D + 61),
        p(2, D, "InstallmentScheduled")
            .money(10_100, 30_300, 300)
            .on(3, D + 91),
        // An interest-free plan of 20 000 in two installments that defaults.
        q(2, D, "PlanOpened").money(20_000, 20_000, 0).on(0, D),
        q(2, D, "InstallmentScheduled")
            .money(10_000, 20_000, 0)
            .on(1, D + 30),
        q(2, D, "InstallmentScheduled")
            .money(10_000, 20_000, 0)
            .on(2, D + 61),
        ev(2, D, "Loan", "CreditLimit", 0).money(100_000, 0, 0),
        l(2, D, "LoanDisbursed").money(60_000, 60_000, 0),
        // The first pulse of D + 1 accrues day D.
        y(3, D + 1, "YieldAccrued").money(7, 50_007, 7).on(0, D),
        y(3, D + 1, "YieldResidual").money(1, 0, 0).on(0, D),
        l(3, D + 1, "InterestAccrued")
            .money(30, 60_030, 30)
            .on(0, D),
        y(4, D + 2, "YieldAccrued")
            .money(8, 50_015, 15)
            .on(0, D + 1),
        l(4, D + 2, "InterestAccrued")
            .money(30, 60_060, 60)
            .on(0, D + 1),
        l(5, D + 2, "LoanRepaid").money(10_000, 50_060, 60),
        y(5, D + 2, "Redeemed").money(20_000, 30_015, 15),
        p(6, D + 31, "InstallmentRepaid")
            .money(10_100, 20_200, 300)
            .on(1, D + 31),
        q(6, D + 31, "PlanDefaulted").money(20_000, 0, 0),
        p(7, D + 62, "LateFee")
            .money(500, 20_700, 800)
            .on(2, D + 62),
        l(7, D + 62, "LoanOverdue").money(0, 50_060, 60),
    ])
}

fn day(d: i32) -> String {
    format_day(Day(d))
}

fn accrual_day(d: i32, a: Accruals) -> AccrualDay {
    AccrualDay {
        day: day(d),
        currency: CNY,
        accruals: a,
    }
}

#[test]
fn positions_are_each_ones_latest_row_with_its_state() {
    let r = finance(&month(), DayRange::default());
    assert_eq!(r.as_of, Some(day(D + 62)));
    type Seen<'a> = (&'a str, i32, i64, i64, i64, &'a str, String, String);
    let got: Vec<Seen<'_>> = r
        .positions
        .iter()
        .map(|p| {
            (
                p.product.as_str(),
                p.party_id,
                p.reference,
                p.position_minor,
                p.accrued_minor,
                p.state.as_str(),
                p.first_day.clone(),
                p.last_day.clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "Installment",
                1001,
                PLAN,
                20_700,
                800,
                "Open",
                day(D),
                day(D + 62)
            ),
            (
                "Installment",
                1001,
                BAD_PLAN,
                0,
                0,
                "Defaulted",
                day(D),
                day(D + 31)
            ),
            (
                "Loan",
                1001,
                LOAN,
                50_060,
                60,
                "Overdue",
                day(D),
                day(D + 62)
            ),
            ("Yield", 77, 0, 30_015, 15, "Holding", day(D), day(D + 2)),
        ]
    );
    assert_eq!(r.positions[3].party_kind, "Promoter");
    assert_eq!(r.credit_limits.len(), 1);
    assert_eq!(
        (r.credit_limits[0].party_id, r.credit_limits[0].limit_minor),
        (1001, 100_000)
    );
}

#[test]
fn accruals_fall_on_their_business_day_and_the_totals_add_up() {
    let r = finance(&month(), DayRange::default());
    let a = |y, res, ii, fees, loan| Accruals {
        yield_accrued_minor: y,
        yield_residual_minor: res,
        installment_interest_minor: ii,
        installment_fees_minor: fees,
        loan_interest_minor: loan,
    };
    assert_eq!(
        r.accruals,
        vec![
            // The plan's interest on the day it opened, not its first due day.
            accrual_day(D, a(7, 1, 300, 0, 30)),
            accrual_day(D + 1, a(8, 0, 0, 0, 30)),
            accrual_day(D + 62, a(0, 0, 0, 500, 0)),
        ]
    );
    assert_eq!(r.accrual_totals.len(), 1);
    assert_eq!(r.accrual_totals[0].accruals, a(15, 1, 300, 500, 60));
    let totals: Vec<(&str, u64, i64, i64, i64, i64)> = r
        .totals
        .iter()
        .map(|t| {
            (
                t.product.as_str(),
                t.positions,
                t.position_minor,
                t.accrued_minor,
                t.accruals_minor,
                t.difference_minor,
            )
        })
        .collect();
    assert_eq!(
        totals,
        vec![
            ("Installment", 2, 20_700, 800, 800, 0),
            ("Loan", 1, 50_060, 60, 60, 0),
            ("Yield", 1, 30_015, 15, 15, 0),
        ]
    );
    let table = finance_totals_table(&r).to_text();
    assert!(table.contains("Installment"), "{table}");
    let days = finance_days_table(&r);
    assert_eq!(days.rows.len(), 4, "three days and `all`");
}

#[test]
fn schedules_show_each_installment_and_the_loan() {
    let r = finance(&month(), DayRange::default());
    assert_eq!(r.plans.len(), 2);
    let plan = &r.plans[0];
    assert_eq!(
        (plan.reference, plan.state.as_str(), plan.financed_minor),
        (PLAN, "Open", 30_000)
    );
    let i = |index, due_day: i32, repaid, fees, outstanding, status: &str| Installment {
        index,
        due_day: day(due_day),
        due_minor: 10_100,
        repaid_minor: repaid,
        late_fees_minor: fees,
        outstanding_minor: outstanding,
        status: status.into(),
    };
    assert_eq!(
        plan.installments,
        vec![
            i(1, D + 30, 10_100, 0, 0, "Repaid"),
            i(2, D + 61, 0, 500, 10_100, "Late"),
            i(3, D + 91, 0, 0, 10_100, "Due"),
        ]
    );
    let bad = &r.plans[1];
    assert_eq!(
        (
            bad.state.as_str(),
            bad.written_off_minor,
            bad.position_minor
        ),
        ("Defaulted", 20_000, 0)
    );
    let statuses: Vec<(&str, i64)> = bad
        .installments
        .iter()
        .map(|i| (i.status.as_str(), i.outstanding_minor))
        .collect();
    assert_eq!(statuses, vec![("Defaulted", 0), ("Defaulted", 0)]);
    assert_eq!(finance_plans_table(&r).rows.len(), 5);
    let loan = &r.loans[0];
    assert_eq!(
        (
            loan.state.as_str(),
            loan.disbursed_day.clone(),
            loan.principal_minor,
            loan.interest_minor,
            loan.repaid_minor,
            loan.outstanding_minor,
            loan.overdue_day.clone(),
        ),
        (
            "Overdue",
            day(D),
            60_000,
            60,
            10_000,
            50_060,
            Some(day(D + 62))
        )
    );
}

#[test]
fn an_earlier_day_shows_the_positions_as_they_were_and_from_picks_accrual_days() {
    let to = DayRange {
        from: None,
        to: Some(Day(D + 1)),
    };
    let r = finance(&month(), to);
    let pos: Vec<(&str, i64, i64)> = r
        .positions
        .iter()
        .map(|p| (p.product.as_str(), p.position_minor, p.accrued_minor))
        .collect();
    assert_eq!(
        pos,
        vec![
            ("Installment", 30_300, 300),
            ("Installment", 20_000, 0),
            ("Loan", 60_030, 30),
            ("Yield", 50_007, 7),
        ]
    );
    assert!(r.totals.iter().all(|t| t.difference_minor == 0));
    assert!(r.plans[0].installments.iter().all(|i| i.status == "Due"));
    let from = DayRange {
        from: Some(Day(D + 30)),
        to: None,
    };
    let r = finance(&month(), from);
    let days: Vec<&str> = r.accruals.iter().map(|a| a.day.as_str()).collect();
    assert_eq!(days, vec![day(D + 62)]);
    assert!(r.totals.iter().all(|t| t.difference_minor == 0), "all days");
}

#[test]
fn an_accrual_its_position_does_not_carry_is_a_difference() {
    let mut rows = month();
    let second = rows
        .finance_events
        .iter_mut()
        .rfind(|r| r.kind == "YieldAccrued")
        .expect("a yield day");
    second.amount_minor += 1;
    let r = finance(&rows, DayRange::default());
    let y = r
        .totals
        .iter()
        .find(|t| t.product == "Yield")
        .expect("yield");
    assert_eq!((y.accrued_minor, y.accruals_minor), (15, 16));
    assert_eq!(y.difference_minor, -1);
}
