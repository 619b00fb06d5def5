//! The scripted month of consumer installments (issue 24, docs/INSTALLMENTS.md), for the demo's
//! financial month.
//!
//! What the demo should show, day by day (days are the month's indexes 0..=30; the driver sends
//! each day's inputs after that day's first pulse, so a day's late fees are charged before its
//! inputs):
//!
//! - Day 0: merchant 1001 gets weekly terms of its own (`period_days = 7`; interest-free fees
//!   1.5 / 3 / 6 %, payer rates 2 / 4 / 8 % flat, late fee 5 % of an installment, default 7
//!   days after the first unpaid installment fell due).
//! - Day 1: payment `PLAN_REPAID_REQUEST`, 1,200.00 CNY in 3 installments with interest
//!   (24.00 interest: three of 408.00). The merchant is settled at once through the normal split;
//!   accounts 17 (receivable 1,224.00), 18 (funding 1,200.00) and 19 (unearned 24.00) move.
//! - Day 2: payment `PLAN_DEFAULTED_REQUEST`, 600.00 CNY in 3 interest-free installments: the
//!   merchant's line gives 9.00 (1.5 %) to the platform's line; the payer owes three of 200.00.
//! - Day 8: the first plan's installment 1 repaid on its due day (408.00: 8.00 interest earned).
//! - Day 10: the second plan's installment 1 (due day 9) is overdue: a 10.00 late fee.
//! - Day 15: the first plan's installment 2 repaid on schedule.
//! - Day 17: the second plan's installment 2 is overdue too (another 10.00); the plan is
//!   defaulted (day 9 + 7 reached): 600.00 principal and 20.00 late fees written off (account
//!   21), no interest to cancel.
//! - Day 18: the first plan repaid early: 400.00, its last installment's 8.00 interest rebated
//!   (its due day, 22, is after today). The plan ends RepaidEarly.
//! - Day 30: both plans queried (`sluice admin installment show --order ...`): RepaidEarly with
//!   paid 1,216.00; Defaulted with 620.00 written off.
//!
//! The admin inputs name a plan by its payment's *request id* in `order_id`: the driver replaces
//! it with the order id from that payment's PaymentAck (`resolve`) before sending. Payments go out
//! as acquirer 1 (merchant 1001's acquirer); the rest as an admin.

use sluice_engine::installments::{bps_of, schedule};
use sluice_protocol::*;

/// The plan repaid on schedule and then early.
pub const PLAN_REPAID_REQUEST: u64 = 924_000_001;
/// The plan defaulted.
pub const PLAN_DEFAULTED_REQUEST: u64 = 924_000_002;
/// The merchant paid.
const MERCHANT: u32 = 1001;
const CNY: u16 = 156;
const PERIOD_DAYS: u8 = 7;

fn payment(request_id: u64, amount_minor: i64, count: u8, interest: bool) -> PaymentRequest {
    PaymentRequest {
        request_id,
        merchant_id: MERCHANT,
        amount_minor,
        currency: CNY,
        method: PaymentMethod::Wallet,
        scene: Scene::App,
        user_id: request_id,
        device_id: request_id,
        country: Chars::new("CN"),
        installment_count: count,
        installment_payer_interest: interest,
        ..PaymentRequest::default()
    }
}

/// The month's inputs: (day index, message), in sending order.
pub fn month_script() -> Vec<(u32, AnyMessage)> {
    let terms = ConfigInstallments {
        merchant_id: MERCHANT,
        fee_bps_3: 150,
        fee_bps_6: 300,
        fee_bps_12: 600,
        rate_bps_3: 200,
        rate_bps_6: 400,
        rate_bps_12: 800,
        late_fee_bps: 500,
        default_after_days: 7,
        period_days: PERIOD_DAYS,
    };
    // The first plan's schedule, as the engine computes it (the amounts only: the due days
    // follow from the day it opens).
    let (amount, count) = (120_000, 3);
    let interest = bps_of(amount, terms.rate_bps_3);
    let due = schedule(amount, interest, count, (0, PERIOD_DAYS));
    let repay = |index: u16| InstallmentRepayment {
        order_id: PLAN_REPAID_REQUEST,
        index,
        amount_minor: due[usize::from(index) - 1].owed_minor(),
        reference: 7_000 + u64::from(index),
    };
    // Day 18: installment 3 is due on day 22, so its interest is rebated.
    let payoff = due[2].principal_minor;
    vec![
        (0, terms.into()),
        (1, payment(PLAN_REPAID_REQUEST, amount, count, true).into()),
        (2, payment(PLAN_DEFAULTED_REQUEST, 60_000, 3, false).into()),
        (8, repay(1).into()),
        (15, repay(2).into()),
        (
            17,
            InstallmentDefault {
                order_id: PLAN_DEFAULTED_REQUEST,
            }
            .into(),
        ),
        (
            18,
            InstallmentEarlyRepayment {
                order_id: PLAN_REPAID_REQUEST,
                amount_minor: payoff,
                reference: 7_100,
            }
            .into(),
        ),
        (
            30,
            InstallmentQuery {
                order_id: PLAN_REPAID_REQUEST,
            }
            .into(),
        ),
        (
            30,
            InstallmentQuery {
                order_id: PLAN_DEFAULTED_REQUEST,
            }
            .into(),
        ),
    ]
}

/// Replaces the request ids the script's installment inputs carry in `order_id` with the order ids
/// `order_of` gives (from the payments' PaymentAcks); false when one is unknown.
pub fn resolve(script: &mut [(u32, AnyMessage)], order_of: impl Fn(u64) -> Option<u64>) -> bool {
    for (_, m) in script.iter_mut() {
        let id = match m {
            AnyMessage::InstallmentRepayment(x) => &mut x.order_id,
            AnyMessage::InstallmentEarlyRepayment(x) => &mut x.order_id,
            AnyMessage::InstallmentDefault(x) => &mut x.order_id,
            AnyMessage::InstallmentQuery(x) => &mut x.order_id,
            _ => continue,
        };
        match order_of(*id) {
            Some(order_id) => *id = order_id,
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_engine::driver::Driver;
    use sluice_engine::fixture;
    use sluice_engine::installments::PlanStatus;

    /// The script does what its comment says in the fixture world (merchant 1001 is the
    /// fixture's SHOP of acquirer 1): one plan repaid early, one defaulted.
    #[test]
    fn the_month_repays_one_plan_and_defaults_the_other() {
        let mut d = Driver::new(&fixture::genesis(1_000), fixture::START_NS).unwrap();
        assert!(d.configure(&fixture::config_messages()).is_empty());
        let mut script = month_script();
        let mut orders = std::collections::BTreeMap::new();
        let start = d.now_ns();
        let mut day = 0;
        for i in 0..script.len() {
            while day < script[i].0 {
                day += 1;
                d.set_time_ns(start + u64::from(day) * 86_400_000_000_000);
                d.pulse();
            }
            let ok = resolve(&mut script[i..=i], |r| orders.get(&r).copied());
            assert!(ok, "a plan's payment comes first");
            let out = match &script[i].1 {
                AnyMessage::PaymentRequest(p) => d.acquirer(1, p),
                other => {
                    d.apply_any(1, 1, Role::Admin as u8, other);
                    d.decoded()
                }
            };
            for (_, m) in &out {
                match m {
                    AnyMessage::PaymentAck(a) => {
                        orders.insert(a.request_id, a.order_id);
                    }
                    AnyMessage::Dispatch(x) => {
                        let result = ChannelResult {
                            order_id: x.order_id,
                            attempt: x.attempt,
                            outcome: ChannelOutcome::Succeeded,
                            channel_code: 0,
                            latency_us: 1_000,
                            channel_ref: Chars::new("demo"),
                        };
                        d.channel(x.channel_id, &result);
                    }
                    AnyMessage::ConfigAck(a) => {
                        assert_eq!(a.status, AckStatus::Accepted, "{a:?} for {:?}", script[i])
                    }
                    _ => {}
                }
            }
        }
        let plans = d.engine.installments();
        let repaid = plans.plan(orders[&PLAN_REPAID_REQUEST]).unwrap();
        let defaulted = plans.plan(orders[&PLAN_DEFAULTED_REQUEST]).unwrap();
        assert_eq!(repaid.status, PlanStatus::RepaidEarly);
        assert_eq!(repaid.paid_minor, 121_600);
        assert_eq!(defaulted.status, PlanStatus::Defaulted);
        assert_eq!(defaulted.written_off_minor, 62_000);
        assert_eq!(defaulted.fee_minor, 900);
        d.engine.verify_ledger().unwrap();
    }
}
