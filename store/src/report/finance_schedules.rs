//! The schedules of the finance report (docs/STORE.md section 7): each installment plan with its
//! installments, and each merchant loan, from `finance_events` rows in journal order.

use std::collections::BTreeMap;

use sluice_node::flow::{Day, FinanceEventRow};

use super::{Installment, Key, LoanSchedule, Open, PlanSchedule, key};
use crate::report::calendar::format_day;

/// An installment while the rows are read.
#[derive(Default)]
struct Due {
    due_day: Day,
    due_minor: i64,
    repaid_minor: i64,
    late_fees_minor: i64,
}

/// The rows of `product` that belong to a party's position.
fn of<'a>(
    events: &'a [&'a FinanceEventRow],
    product: &'a str,
) -> impl Iterator<Item = &'a FinanceEventRow> {
    events
        .iter()
        .copied()
        .filter(move |r| r.product == product && r.party_id != 0 && r.kind != "CreditLimit")
}

/// Every plan and its schedule; `as_of` is the last day the rows include (an installment due
/// before it and not repaid is late).
pub(super) fn plans(
    events: &[&FinanceEventRow],
    open: &BTreeMap<Key, Open>,
    as_of: Day,
) -> Vec<PlanSchedule> {
    let mut found: BTreeMap<Key, (PlanSchedule, BTreeMap<i32, Due>)> = BTreeMap::new();
    for r in of(events, "Installment") {
        let (plan, dues) = found.entry(key(r)).or_insert_with(|| {
            let plan = PlanSchedule {
                party_kind: r.party_kind.clone(),
                party_id: r.party_id,
                reference: r.reference,
                currency: r.currency,
                ..PlanSchedule::default()
            };
            (plan, BTreeMap::new())
        });
        match r.kind.as_str() {
            "PlanOpened" => plan.financed_minor += r.amount_minor,
            "PlanDefaulted" => plan.written_off_minor += r.amount_minor,
            "InstallmentScheduled" => {
                let d = dues.entry(r.installment).or_default();
                d.due_day = r.business_day;
                d.due_minor = r.amount_minor;
            }
            "InstallmentRepaid" => {
                dues.entry(r.installment).or_default().repaid_minor += r.amount_minor;
            }
            "LateFee" => {
                dues.entry(r.installment).or_default().late_fees_minor += r.amount_minor;
            }
            _ => {}
        }
    }
    found
        .into_iter()
        .map(|(k, (mut plan, dues))| {
            if let Some(p) = open.get(&k) {
                plan.state = p.state.to_owned();
                plan.position_minor = p.position_minor;
                plan.accrued_minor = p.accrued_minor;
            }
            plan.installments = dues
                .into_iter()
                .filter(|(index, _)| *index > 0)
                .map(|(index, d)| installment(index, &d, &plan.state, as_of))
                .collect();
            plan
        })
        .collect()
}

/// One installment as the plan's state and the day leave it.
fn installment(index: i32, d: &Due, plan_state: &str, as_of: Day) -> Installment {
    let owed = (d.due_minor - d.repaid_minor).max(0);
    let (status, outstanding_minor) = if owed == 0 && d.due_minor > 0 {
        ("Repaid", 0)
    } else {
        match plan_state {
            "Completed" => ("Repaid", 0),
            "RepaidEarly" | "Defaulted" | "Unwound" => (plan_state, 0),
            _ if d.late_fees_minor > 0 || d.due_day < as_of => ("Late", owed),
            _ => ("Due", owed),
        }
    };
    Installment {
        index,
        due_day: format_day(d.due_day),
        due_minor: d.due_minor,
        repaid_minor: d.repaid_minor,
        late_fees_minor: d.late_fees_minor,
        outstanding_minor,
        status: status.to_owned(),
    }
}

/// Every loan: principal, interest, repaid, outstanding and its state.
pub(super) fn loans(events: &[&FinanceEventRow], open: &BTreeMap<Key, Open>) -> Vec<LoanSchedule> {
    let mut found: BTreeMap<Key, LoanSchedule> = BTreeMap::new();
    for r in of(events, "Loan") {
        let loan = found.entry(key(r)).or_insert_with(|| LoanSchedule {
            party_kind: r.party_kind.clone(),
            party_id: r.party_id,
            reference: r.reference,
            currency: r.currency,
            ..LoanSchedule::default()
        });
        match r.kind.as_str() {
            "LoanDisbursed" => {
                if loan.principal_minor == 0 {
                    loan.disbursed_day = format_day(r.business_day);
                }
                loan.principal_minor += r.amount_minor;
            }
            "LoanRepaid" => loan.repaid_minor += r.amount_minor,
            "LoanOverdue" if loan.overdue_day.is_none() => {
                loan.overdue_day = Some(format_day(r.business_day));
            }
            "LoanDefaulted" => loan.written_off_minor += r.amount_minor,
            _ => {}
        }
    }
    found
        .into_iter()
        .map(|(k, mut loan)| {
            if let Some(p) = open.get(&k) {
                loan.state = p.state.to_owned();
                loan.outstanding_minor = p.position_minor;
                loan.interest_minor = p.accrued_minor;
            }
            loan
        })
        .collect()
}
