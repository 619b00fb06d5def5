//! The financial extension's figures (issue 24; docs/STORE.md section 7), in one place for
//! `sluice report finance` and the console's Finance page: positions now, accruals per business
//! day, schedules (installment plans and merchant loans) and totals per product that add up.
//!
//! Everything comes from `finance_events` rows in journal order (`seq`, `ordinal`). A position is
//! (`product`, party, `reference`, `currency`); rows of party 0 are the product's own (a yield
//! day's rounding residual) and count as accruals only.

use std::collections::BTreeMap;

use serde::Serialize;
use sluice_node::flow::{Day, FinanceEventRow, Rows};

use super::calendar::format_day;
use crate::{DayRange, StoreError};

/// How `sluice report finance` lays the report out: positions, schedules and totals per product,
/// or the accruals a line per business day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FinanceBy {
    Product,
    Day,
}

impl FinanceBy {
    pub fn parse(text: &str) -> Result<FinanceBy, StoreError> {
        match text {
            "product" => Ok(FinanceBy::Product),
            "day" => Ok(FinanceBy::Day),
            _ => Err(StoreError::new(format!(
                "--by `{text}`: expected product or day"
            ))),
        }
    }
}

/// One holding, plan or loan as its latest row leaves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Position {
    /// `Yield`, `Installment` or `Loan`.
    pub product: String,
    /// `Merchant` or `Promoter`.
    pub party_kind: String,
    pub party_id: i32,
    /// The plan's order id, the loan's id; 0 for a yield holding.
    pub reference: i64,
    pub currency: i32,
    /// The holding, or the plan's or loan's outstanding, after its latest row.
    pub position_minor: i64,
    /// Yield, or interest and fees, accrued so far.
    pub accrued_minor: i64,
    /// `Holding`; `Open`, `Completed`, `RepaidEarly`, `Defaulted`, `Unwound`; `Open`,
    /// `Overdue`, `Defaulted`, `Closed`.
    pub state: String,
    /// Business day of its first and latest rows, YYYY-MM-DD.
    pub first_day: String,
    pub last_day: String,
}

/// What accrued, minor units of one currency.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Accruals {
    /// Σ `YieldAccrued`: the holders' shares of the fund's days.
    pub yield_accrued_minor: i64,
    /// Σ `YieldResidual`: what rounding left of the fund's day totals.
    pub yield_residual_minor: i64,
    /// The rise of the plans' `accrued_minor` over their rows other than `LateFee`.
    pub installment_interest_minor: i64,
    /// Σ `LateFee`.
    pub installment_fees_minor: i64,
    /// Σ `InterestAccrued`.
    pub loan_interest_minor: i64,
}

impl Accruals {
    fn add(&mut self, o: &Accruals) {
        self.yield_accrued_minor += o.yield_accrued_minor;
        self.yield_residual_minor += o.yield_residual_minor;
        self.installment_interest_minor += o.installment_interest_minor;
        self.installment_fees_minor += o.installment_fees_minor;
        self.loan_interest_minor += o.loan_interest_minor;
    }

    /// What accrued to the positions of `product` (the residual is the product's own).
    pub fn of_product(&self, product: &str) -> i64 {
        match product {
            "Yield" => self.yield_accrued_minor,
            "Installment" => self.installment_interest_minor + self.installment_fees_minor,
            "Loan" => self.loan_interest_minor,
            _ => 0,
        }
    }

    fn is_zero(&self) -> bool {
        *self == Accruals::default()
    }
}

/// One business day's accruals in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccrualDay {
    /// The business day, YYYY-MM-DD.
    pub day: String,
    pub currency: i32,
    #[serde(flatten)]
    pub accruals: Accruals,
}

/// One installment of a plan's schedule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Installment {
    /// Its number, 1-based.
    pub index: i32,
    /// Its due day, YYYY-MM-DD.
    pub due_day: String,
    /// Due, repaid (Σ `InstallmentRepaid`), late fees charged on it, and still owed (due −
    /// repaid, 0 once the plan ended).
    pub due_minor: i64,
    pub repaid_minor: i64,
    pub late_fees_minor: i64,
    pub outstanding_minor: i64,
    /// `Repaid`, `Late`, `Due`, or how the plan ended: `RepaidEarly`, `Defaulted`, `Unwound`.
    pub status: String,
}

/// An installment plan and its schedule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PlanSchedule {
    pub party_kind: String,
    pub party_id: i32,
    /// The plan's order id.
    pub reference: i64,
    pub currency: i32,
    pub state: String,
    /// Financed when opened (`PlanOpened`).
    pub financed_minor: i64,
    /// The plan's outstanding after its latest row.
    pub position_minor: i64,
    /// Interest and fees accrued.
    pub accrued_minor: i64,
    /// Written off at default.
    pub written_off_minor: i64,
    pub installments: Vec<Installment>,
}

/// A merchant loan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LoanSchedule {
    pub party_kind: String,
    pub party_id: i32,
    /// The loan's id.
    pub reference: i64,
    pub currency: i32,
    /// `Open`, `Overdue`, `Defaulted` or `Closed`.
    pub state: String,
    /// Business day disbursed, YYYY-MM-DD.
    pub disbursed_day: String,
    pub principal_minor: i64,
    pub interest_minor: i64,
    pub repaid_minor: i64,
    pub outstanding_minor: i64,
    /// The business day it became overdue.
    pub overdue_day: Option<String>,
    pub written_off_minor: i64,
}

/// A party's latest credit limit (`CreditLimit`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreditLimitNow {
    pub party_kind: String,
    pub party_id: i32,
    pub currency: i32,
    pub limit_minor: i64,
    /// The business day it was computed.
    pub day: String,
}

/// Per product and currency: the positions' sums, and the accruals that must make up their
/// accrued.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProductTotals {
    pub product: String,
    pub currency: i32,
    /// Positions counted.
    pub positions: u64,
    /// Σ `position_minor` of the positions.
    pub position_minor: i64,
    /// Σ `accrued_minor` of the positions.
    pub accrued_minor: i64,
    /// Σ of the product's accruals over every business day (`Accruals::of_product`).
    pub accruals_minor: i64,
    /// accrued − accruals: 0 when every accrual raised its position's accrued by its amount.
    pub difference_minor: i64,
}

/// The finance report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FinanceReport {
    /// The last input day the figures include, YYYY-MM-DD (none without rows).
    pub as_of: Option<String>,
    /// By product, party kind, party, reference, currency.
    pub positions: Vec<Position>,
    /// By business day and currency, within the days asked.
    pub accruals: Vec<AccrualDay>,
    /// The accruals' sums over those days, per currency.
    pub accrual_totals: Vec<AccrualDay>,
    pub plans: Vec<PlanSchedule>,
    pub loans: Vec<LoanSchedule>,
    pub credit_limits: Vec<CreditLimitNow>,
    /// By product and currency.
    pub totals: Vec<ProductTotals>,
}

/// (product, party kind, party, reference, currency).
type Key = (String, String, i32, i64, i32);

fn key(r: &FinanceEventRow) -> Key {
    (
        r.product.clone(),
        r.party_kind.clone(),
        r.party_id,
        r.reference,
        r.currency,
    )
}

/// A position while the rows are read.
#[derive(Debug, Clone)]
struct Open {
    position_minor: i64,
    accrued_minor: i64,
    state: &'static str,
    first: Day,
    last: Day,
}

/// The state after `kind`; a terminal state stays.
fn next_state(product: &str, now: &'static str, kind: &str) -> &'static str {
    if matches!(
        now,
        "Completed" | "RepaidEarly" | "Defaulted" | "Unwound" | "Closed"
    ) {
        return now;
    }
    match (product, kind) {
        ("Yield", _) => "Holding",
        (_, "PlanCompleted") => "Completed",
        (_, "PlanRepaidEarly") => "RepaidEarly",
        (_, "PlanDefaulted" | "LoanDefaulted") => "Defaulted",
        (_, "PlanUnwound") => "Unwound",
        (_, "LoanClosed") => "Closed",
        (_, "LoanOverdue") => "Overdue",
        _ if now.is_empty() => "Open",
        _ => now,
    }
}

/// What one row accrued; `before` is its position's accrued before it.
fn accrual_of(r: &FinanceEventRow, before: i64) -> Accruals {
    let mut a = Accruals::default();
    match (r.product.as_str(), r.kind.as_str()) {
        (_, "YieldAccrued") => a.yield_accrued_minor = r.amount_minor,
        (_, "YieldResidual") => a.yield_residual_minor = r.amount_minor,
        (_, "InterestAccrued") => a.loan_interest_minor = r.amount_minor,
        (_, "LateFee") => a.installment_fees_minor = r.amount_minor,
        ("Installment", _) if r.party_id != 0 => {
            a.installment_interest_minor = r.accrued_minor - before;
        }
        _ => {}
    }
    a
}

/// The finance figures of `rows` as of the end of `days` (rows whose input day is after
/// `days.to` are left out); accruals per business day within `days`.
pub fn finance(rows: &Rows, days: DayRange) -> FinanceReport {
    let mut events: Vec<&FinanceEventRow> = rows
        .finance_events
        .iter()
        .filter(|r| days.to.is_none_or(|to| r.day <= to))
        .collect();
    events.sort_by_key(|r| (r.seq, r.ordinal));
    let as_of = events.iter().map(|r| r.day).max();
    let mut open: BTreeMap<Key, Open> = BTreeMap::new();
    let mut per_day: BTreeMap<(Day, i32), Accruals> = BTreeMap::new();
    let mut all_days: BTreeMap<(String, i32), i64> = BTreeMap::new();
    let mut limits: BTreeMap<(String, i32, i32), CreditLimitNow> = BTreeMap::new();
    for r in &events {
        if r.kind == "CreditLimit" {
            limits.insert((r.party_kind.clone(), r.party_id, r.currency), limit(r));
            continue;
        }
        let before = open.get(&key(r)).map_or(0, |p| p.accrued_minor);
        let a = accrual_of(r, before);
        if !a.is_zero() {
            *all_days.entry((r.product.clone(), r.currency)).or_default() +=
                a.of_product(&r.product);
            if days.contains(r.business_day) {
                per_day
                    .entry((r.business_day, r.currency))
                    .or_default()
                    .add(&a);
            }
        }
        if r.party_id != 0 {
            track(&mut open, r);
        }
    }
    let positions = positions(&open);
    let totals = totals(&positions, &all_days);
    let (accruals, accrual_totals) = accrual_days(per_day);
    FinanceReport {
        as_of: as_of.map(format_day),
        plans: plans(&events, &open, as_of.unwrap_or_default()),
        loans: loans(&events, &open),
        credit_limits: limits.into_values().collect(),
        positions,
        accruals,
        accrual_totals,
        totals,
    }
}

fn limit(r: &FinanceEventRow) -> CreditLimitNow {
    CreditLimitNow {
        party_kind: r.party_kind.clone(),
        party_id: r.party_id,
        currency: r.currency,
        limit_minor: r.amount_minor,
        day: format_day(r.business_day),
    }
}

/// Moves a position to after row `r`.
fn track(open: &mut BTreeMap<Key, Open>, r: &FinanceEventRow) {
    let p = open.entry(key(r)).or_insert(Open {
        position_minor: 0,
        accrued_minor: 0,
        state: "",
        first: r.business_day,
        last: r.business_day,
    });
    p.position_minor = r.position_minor;
    p.accrued_minor = r.accrued_minor;
    p.state = next_state(&r.product, p.state, &r.kind);
    // A scheduled installment's business day is its due day, not a day the plan moved.
    if r.kind != "InstallmentScheduled" {
        p.first = p.first.min(r.business_day);
        p.last = p.last.max(r.business_day);
    }
}

fn positions(open: &BTreeMap<Key, Open>) -> Vec<Position> {
    open.iter()
        .map(
            |((product, party_kind, party_id, reference, currency), p)| Position {
                product: product.clone(),
                party_kind: party_kind.clone(),
                party_id: *party_id,
                reference: *reference,
                currency: *currency,
                position_minor: p.position_minor,
                accrued_minor: p.accrued_minor,
                state: p.state.to_owned(),
                first_day: format_day(p.first),
                last_day: format_day(p.last),
            },
        )
        .collect()
}

fn totals(positions: &[Position], accruals: &BTreeMap<(String, i32), i64>) -> Vec<ProductTotals> {
    let mut out: BTreeMap<(String, i32), ProductTotals> = BTreeMap::new();
    for p in positions {
        let t = total_of(&mut out, &p.product, p.currency);
        t.positions += 1;
        t.position_minor += p.position_minor;
        t.accrued_minor += p.accrued_minor;
    }
    for ((product, currency), &sum) in accruals {
        total_of(&mut out, product, *currency).accruals_minor += sum;
    }
    out.into_values()
        .map(|mut t| {
            t.difference_minor = t.accrued_minor - t.accruals_minor;
            t
        })
        .collect()
}

fn total_of<'a>(
    out: &'a mut BTreeMap<(String, i32), ProductTotals>,
    product: &str,
    currency: i32,
) -> &'a mut ProductTotals {
    out.entry((product.to_owned(), currency))
        .or_insert_with(|| ProductTotals {
            product: product.to_owned(),
            currency,
            ..ProductTotals::default()
        })
}

fn accrual_days(per_day: BTreeMap<(Day, i32), Accruals>) -> (Vec<AccrualDay>, Vec<AccrualDay>) {
    let mut sums: BTreeMap<i32, Accruals> = BTreeMap::new();
    let days = per_day
        .into_iter()
        .map(|((day, currency), accruals)| {
            sums.entry(currency).or_default().add(&accruals);
            AccrualDay {
                day: format_day(day),
                currency,
                accruals,
            }
        })
        .collect();
    let totals = sums
        .into_iter()
        .map(|(currency, accruals)| AccrualDay {
            day: "all".into(),
            currency,
            accruals,
        })
        .collect();
    (days, totals)
}

#[path = "finance_schedules.rs"]
mod schedules;
use schedules::{loans, plans};
