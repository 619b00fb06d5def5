//! The finance report's tables (docs/STORE.md section 7): positions, installment schedules,
//! loans, totals per product, and accruals per business day.

use super::{Cell, Table};
use crate::report::finance::{AccrualDay, FinanceReport};

fn minor(amount: i64, currency: i32) -> Cell {
    Cell::Minor { amount, currency }
}

fn text(t: impl Into<String>) -> Cell {
    Cell::Text(t.into())
}

fn headers(names: &[&str]) -> Vec<String> {
    names.iter().map(|h| (*h).to_owned()).collect()
}

fn party(kind: &str, id: i32) -> Cell {
    text(format!("{kind} {id}"))
}

/// Each holding, plan and loan now.
pub fn finance_positions_table(r: &FinanceReport) -> Table {
    let rows = r
        .positions
        .iter()
        .map(|p| {
            vec![
                text(p.product.clone()),
                party(&p.party_kind, p.party_id),
                text(p.reference.to_string()),
                Cell::Count(p.currency as u64),
                minor(p.position_minor, p.currency),
                minor(p.accrued_minor, p.currency),
                text(p.state.clone()),
                text(p.first_day.clone()),
                text(p.last_day.clone()),
            ]
        })
        .collect();
    Table {
        headers: headers(&[
            "product",
            "party",
            "reference",
            "currency",
            "position",
            "accrued",
            "state",
            "first_day",
            "last_day",
        ]),
        rows,
    }
}

/// A line per installment of every plan.
pub fn finance_plans_table(r: &FinanceReport) -> Table {
    let mut rows = Vec::new();
    for plan in &r.plans {
        for i in &plan.installments {
            let c = plan.currency;
            rows.push(vec![
                text(plan.reference.to_string()),
                party(&plan.party_kind, plan.party_id),
                text(plan.state.clone()),
                Cell::Count(i.index as u64),
                text(i.due_day.clone()),
                minor(i.due_minor, c),
                minor(i.repaid_minor, c),
                minor(i.late_fees_minor, c),
                minor(i.outstanding_minor, c),
                text(i.status.clone()),
            ]);
        }
    }
    Table {
        headers: headers(&[
            "plan",
            "party",
            "plan_state",
            "installment",
            "due_day",
            "due",
            "repaid",
            "late_fees",
            "outstanding",
            "status",
        ]),
        rows,
    }
}

/// A line per loan.
pub fn finance_loans_table(r: &FinanceReport) -> Table {
    let rows = r
        .loans
        .iter()
        .map(|l| {
            let c = l.currency;
            vec![
                text(l.reference.to_string()),
                party(&l.party_kind, l.party_id),
                text(l.state.clone()),
                text(l.disbursed_day.clone()),
                minor(l.principal_minor, c),
                minor(l.interest_minor, c),
                minor(l.repaid_minor, c),
                minor(l.outstanding_minor, c),
                text(l.overdue_day.clone().unwrap_or_else(|| "-".into())),
                minor(l.written_off_minor, c),
            ]
        })
        .collect();
    Table {
        headers: headers(&[
            "loan",
            "party",
            "state",
            "disbursed_day",
            "principal",
            "interest",
            "repaid",
            "outstanding",
            "overdue_since",
            "written_off",
        ]),
        rows,
    }
}

/// Per product and currency: positions, their sums, and the accruals that make up `accrued`.
pub fn finance_totals_table(r: &FinanceReport) -> Table {
    let rows = r
        .totals
        .iter()
        .map(|t| {
            let c = t.currency;
            vec![
                text(t.product.clone()),
                Cell::Count(c as u64),
                Cell::Count(t.positions),
                minor(t.position_minor, c),
                minor(t.accrued_minor, c),
                minor(t.accruals_minor, c),
                minor(t.difference_minor, c),
            ]
        })
        .collect();
    Table {
        headers: headers(&[
            "product",
            "currency",
            "positions",
            "position",
            "accrued",
            "accruals",
            "difference",
        ]),
        rows,
    }
}

fn accrual_cells(d: &AccrualDay) -> Vec<Cell> {
    let (a, c) = (&d.accruals, d.currency);
    vec![
        text(d.day.clone()),
        Cell::Count(c as u64),
        minor(a.yield_accrued_minor, c),
        minor(a.yield_residual_minor, c),
        minor(a.installment_interest_minor, c),
        minor(a.installment_fees_minor, c),
        minor(a.loan_interest_minor, c),
    ]
}

/// A line per business day and currency, then a line `all` per currency.
pub fn finance_days_table(r: &FinanceReport) -> Table {
    let rows = r
        .accruals
        .iter()
        .chain(&r.accrual_totals)
        .map(accrual_cells)
        .collect();
    Table {
        headers: headers(&[
            "day",
            "currency",
            "yield_accrued",
            "yield_residual",
            "installment_interest",
            "installment_fees",
            "loan_interest",
        ]),
        rows,
    }
}
