//! Consumer installments (docs/INSTALLMENTS.md): the plans table, the terms, the running totals
//! per currency that `assert_installments` checks the ledger against, and the pure arithmetic of
//! a schedule. The money moves in `installment_money.rs`, the admin inputs in
//! `installment_admin.rs`.

use arrayvec::ArrayVec;
use rkyv::{Archive, Deserialize, Serialize};
use rustc_hash::FxHashMap;

use crate::state::CURRENCIES_MAX;

/// The plans table's size when Genesis leaves it 0.
pub const DEFAULT_PLANS_MAX: u32 = 16_384;
/// The most Genesis may ask for (2^20: with `PLAN_AMOUNT_MAX` every running total stays below
/// 2^62, whatever the plans do).
pub const PLANS_MAX_LIMIT: u32 = 1 << 20;
/// The largest payment a plan finances, minor units (2^40: 11 billion in a currency of cents).
/// Interest adds at most the amount and late fees at most twice that, so a plan's figures stay
/// within 4 × 2^40 = 2^42.
pub const PLAN_AMOUNT_MAX: i64 = 1 << 40;
/// Merchants with their own terms, plus the default.
pub const TERMS_MAX: usize = 65;
/// Plans the day step looks at per pulse (the rest on the next pulses).
pub const PLANS_PER_PULSE: u32 = 4_096;
/// Installment k is due `k × period` days after the plan opened: 30 unless the terms say.
pub const DEFAULT_PERIOD_DAYS: u8 = 30;
/// The longest period.
pub const PERIOD_DAYS_MAX: u8 = 31;
/// The longest plan.
pub const INSTALLMENTS_MAX: usize = 12;
/// Basis points in one.
const BPS_ONE: i128 = 10_000;

/// What is wrong with a ConfigInstallments' figures, if anything (the engine refuses it; the
/// configuration file's check says the same with the line).
pub fn terms_error(m: &sluice_protocol::ConfigInstallments) -> Option<&'static str> {
    let rates = [
        m.fee_bps_3,
        m.fee_bps_6,
        m.fee_bps_12,
        m.rate_bps_3,
        m.rate_bps_6,
        m.rate_bps_12,
        m.late_fee_bps,
    ];
    if rates.iter().any(|&r| i128::from(r) > BPS_ONE) {
        return Some("fees and rates are at most 10000 bps");
    }
    if m.default_after_days == 0 {
        return Some("default_after_days must be at least 1");
    }
    if m.period_days > PERIOD_DAYS_MAX {
        return Some("period_days is at most 31 (0: 30)");
    }
    None
}

/// Where a plan is in its life (docs/INSTALLMENTS.md, section 5).
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum PlanStatus {
    /// The payment is accepted and not yet succeeded: no money moved.
    Pending = 0,
    Open = 1,
    Completed = 2,
    RepaidEarly = 3,
    Defaulted = 4,
    /// Fully refunded.
    Unwound = 5,
    /// The payment failed.
    Void = 6,
}

/// An installment's status (`Installment::status`, and `InstallmentEntry.status` on the wire).
pub const UNPAID: u8 = 0;
pub const REPAID: u8 = 1;
/// A refund reduced it to nothing.
pub const SETTLED_BY_REFUND: u8 = 2;
/// Rebated (early repayment), written off (default) or cancelled (unwind).
pub const CANCELLED: u8 = 3;

/// One installment: what it still owes.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Installment {
    pub due_day: u32,
    pub principal_minor: i64,
    pub interest_minor: i64,
    pub late_fee_minor: i64,
    pub status: u8,
    /// A late fee was charged (at most once).
    pub late: bool,
}

impl Installment {
    /// What it owes: principal, interest and late fee.
    pub fn owed_minor(&self) -> i64 {
        self.principal_minor + self.interest_minor + self.late_fee_minor
    }
}

/// A merchant's terms (merchant 0: the default).
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Terms {
    pub merchant_id: u32,
    /// Interest-free plans of 3, 6, 12: the merchant's fee, bps of the amount.
    pub fee_bps: [u16; 3],
    /// Plans with interest of 3, 6, 12: the payer's flat rate, bps of the amount.
    pub rate_bps: [u16; 3],
    pub late_fee_bps: u16,
    pub default_after_days: u16,
    /// Days between installments (1..=31).
    pub period_days: u8,
}

/// A plan: the payment it finances and its schedule.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The payment's order id: the plan's id.
    pub order_id: u64,
    pub merchant_id: u32,
    pub currency_slot: u8,
    /// 3, 6 or 12.
    pub count: u8,
    pub payer_interest: bool,
    pub status: PlanStatus,
    /// The terms at the payment (a later ConfigInstallments does not change them).
    pub fee_or_rate_bps: u16,
    pub late_fee_bps: u16,
    pub default_after_days: u16,
    /// Days between installments.
    pub period_days: u8,
    /// Financed principal: the payment's amount.
    pub principal_minor: i64,
    /// Total interest at opening.
    pub interest_minor: i64,
    /// The merchant's fee (interest-free plans).
    pub fee_minor: i64,
    pub open_day: u32,
    /// What the payer paid: repayments and the early repayment.
    pub paid_minor: i64,
    /// Of that, interest.
    pub interest_paid_minor: i64,
    /// Late fees charged.
    pub late_fees_minor: i64,
    /// Written off by a default.
    pub written_off_minor: i64,
    /// Of the write-off, what refunds recovered.
    pub recovered_minor: i64,
    pub schedule: ArrayVec<Installment, INSTALLMENTS_MAX>,
}

impl Plan {
    /// Unpaid principal, interest and late fees.
    pub fn outstanding(&self) -> (i64, i64, i64) {
        let unpaid = self.schedule.iter().filter(|i| i.status == UNPAID);
        unpaid.fold((0, 0, 0), |(p, i, l), x| {
            (
                p + x.principal_minor,
                i + x.interest_minor,
                l + x.late_fee_minor,
            )
        })
    }

    /// What an early repayment takes on `today`: unpaid principal and late fees, and the
    /// interest of the unpaid installments due by `today` (the rest is rebated).
    pub fn payoff_minor(&self, today: u32) -> i64 {
        let unpaid = self.schedule.iter().filter(|i| i.status == UNPAID);
        unpaid
            .map(|i| {
                let interest = if i.due_day <= today {
                    i.interest_minor
                } else {
                    0
                };
                i.principal_minor + i.late_fee_minor + interest
            })
            .sum()
    }

    /// The first unpaid installment (0-based).
    pub fn first_unpaid(&self) -> Option<usize> {
        self.schedule.iter().position(|i| i.status == UNPAID)
    }
}

/// Running totals of one currency: what accounts 17–21 must hold (`assert_installments`).
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Unpaid principal, interest and late fees of the plans.
    pub principal_out_minor: i64,
    pub interest_out_minor: i64,
    pub late_out_minor: i64,
    /// Principal advanced when plans opened.
    pub advanced_minor: i64,
    /// Cash the funding partner received: repayments, refunds' recoveries.
    pub received_minor: i64,
    pub interest_earned_minor: i64,
    pub late_charged_minor: i64,
    pub late_cancelled_minor: i64,
    /// Interest paid and returned to payers by unwinds.
    pub interest_returned_minor: i64,
    pub written_off_minor: i64,
    pub recovered_minor: i64,
}

/// The installments table.
#[derive(Archive, Serialize, Deserialize, Debug, Clone)]
pub struct Installments {
    pub plans: Vec<Plan>,
    pub plans_max: u32,
    /// Sorted by merchant id (0, the default, first).
    pub terms: Vec<Terms>,
    /// Plans Pending: while 0 the payment path looks no further.
    pub pending: u32,
    pub totals: [Totals; CURRENCIES_MAX],
    /// The last day the day step finished.
    pub through_day: u32,
    /// The day step's next plan while a day's work is under way (0 when none).
    pub cursor: u32,
    /// Plans by order id: not state, rebuilt on load (`rebuild_index`).
    #[rkyv(with = rkyv::with::Skip)]
    by_order: FxHashMap<u64, u32>,
}

impl Installments {
    /// An empty table of room for `plans_max` plans (0: the default).
    pub fn with_max(plans_max: u32) -> Self {
        let plans_max = if plans_max == 0 {
            DEFAULT_PLANS_MAX
        } else {
            plans_max
        };
        Installments {
            plans: Vec::with_capacity(plans_max as usize),
            plans_max,
            terms: Vec::with_capacity(TERMS_MAX),
            pending: 0,
            totals: [Totals::default(); CURRENCIES_MAX],
            through_day: 0,
            cursor: 0,
            by_order: FxHashMap::with_capacity_and_hasher(plans_max as usize, Default::default()),
        }
    }

    /// Rebuilds the order index after a snapshot load.
    pub fn rebuild_index(&mut self) {
        self.by_order.clear();
        self.by_order.reserve(self.plans_max as usize);
        for (slot, p) in self.plans.iter().enumerate() {
            self.by_order.insert(p.order_id, slot as u32);
        }
    }

    /// The plan of order `order_id`.
    pub fn slot_of(&self, order_id: u64) -> Option<u32> {
        if self.plans.is_empty() {
            return None;
        }
        self.by_order.get(&order_id).copied()
    }

    /// The plan of order `order_id`.
    pub fn plan(&self, order_id: u64) -> Option<&Plan> {
        self.slot_of(order_id).map(|s| &self.plans[s as usize])
    }

    pub(crate) fn push(&mut self, plan: Plan) {
        assert!(
            self.plans.len() < self.plans_max as usize,
            "plans past the table"
        );
        let slot = self.plans.len() as u32;
        let fresh = self.by_order.insert(plan.order_id, slot).is_none();
        assert!(fresh, "one plan per order");
        self.plans.push(plan);
    }

    /// Whether another plan fits.
    pub fn has_room(&self) -> bool {
        self.plans.len() < self.plans_max as usize
    }

    /// The terms for `merchant_id`: its own, else the default.
    pub fn terms_for(&self, merchant_id: u32) -> Option<&Terms> {
        let find = |id: u32| {
            self.terms
                .binary_search_by_key(&id, |t| t.merchant_id)
                .ok()
                .map(|i| &self.terms[i])
        };
        find(merchant_id).or_else(|| find(0))
    }

    /// Sets `terms` (replacing the merchant's); false when the table is full.
    pub(crate) fn set_terms(&mut self, terms: Terms) -> bool {
        match self
            .terms
            .binary_search_by_key(&terms.merchant_id, |t| t.merchant_id)
        {
            Ok(i) => self.terms[i] = terms,
            Err(_) if self.terms.len() >= TERMS_MAX => return false,
            Err(i) => self.terms.insert(i, terms),
        }
        true
    }
}

/// The index of a plan length in the terms' arrays: 3, 6, 12 → 0, 1, 2.
pub fn length_index(count: u8) -> Option<usize> {
    match count {
        3 => Some(0),
        6 => Some(1),
        12 => Some(2),
        _ => None,
    }
}

/// `floor(amount × bps / 10000)`, for 0 <= amount and bps <= 10000 (then at most `amount`).
pub fn bps_of(amount_minor: i64, bps: u16) -> i64 {
    assert!(amount_minor >= 0, "a rate of a negative amount");
    let part = i128::from(amount_minor) * i128::from(bps) / BPS_ONE;
    i64::try_from(part).expect("at most 10000 bps of an i64 amount fits an i64")
}

/// The schedule of `principal` and `interest` over `count` installments from `open_day`, one
/// every `period_days`: equal parts rounded down, the last absorbing both remainders
/// (docs/INSTALLMENTS.md, section 4).
pub fn schedule(
    principal_minor: i64,
    interest_minor: i64,
    count: u8,
    (open_day, period_days): (u32, u8),
) -> ArrayVec<Installment, INSTALLMENTS_MAX> {
    assert!(length_index(count).is_some(), "a plan of 3, 6 or 12");
    let n = i64::from(count);
    let (p, i) = (principal_minor / n, interest_minor / n);
    let mut out = ArrayVec::new();
    for k in 1..=u32::from(count) {
        let last = k == u32::from(count);
        out.push(Installment {
            due_day: open_day + u32::from(period_days) * k,
            principal_minor: if last {
                principal_minor - (n - 1) * p
            } else {
                p
            },
            interest_minor: if last {
                interest_minor - (n - 1) * i
            } else {
                i
            },
            late_fee_minor: 0,
            status: UNPAID,
            late: false,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_installment_absorbs_both_remainders() {
        let s = schedule(1000, bps_of(1000, 750), 3, (100, 30));
        let parts: Vec<_> = s
            .iter()
            .map(|i| (i.due_day, i.principal_minor, i.interest_minor))
            .collect();
        assert_eq!(parts, vec![(130, 333, 25), (160, 333, 25), (190, 334, 25)]);
        let s = schedule(1001, 11, 12, (0, 7));
        assert_eq!(s[11].due_day, 84);
        assert_eq!(s.iter().map(|i| i.principal_minor).sum::<i64>(), 1001);
        assert_eq!(s.iter().map(|i| i.interest_minor).sum::<i64>(), 11);
        assert_eq!((s[11].principal_minor, s[11].interest_minor), (88, 11));
    }

    #[test]
    fn bps_round_down_and_stay_within_the_amount() {
        assert_eq!(bps_of(999, 150), 14);
        assert_eq!(bps_of(i64::MAX, 10_000), i64::MAX);
        assert_eq!(bps_of(1, 9_999), 0);
    }

    #[test]
    fn the_payoff_rebates_the_interest_not_yet_due() {
        let mut plan = Plan {
            order_id: 1,
            merchant_id: 1,
            currency_slot: 0,
            count: 3,
            payer_interest: true,
            status: PlanStatus::Open,
            fee_or_rate_bps: 600,
            late_fee_bps: 0,
            default_after_days: 30,
            period_days: 30,
            principal_minor: 900,
            interest_minor: 54,
            fee_minor: 0,
            open_day: 0,
            paid_minor: 0,
            interest_paid_minor: 0,
            late_fees_minor: 0,
            written_off_minor: 0,
            recovered_minor: 0,
            schedule: schedule(900, 54, 3, (0, 30)),
        };
        assert_eq!(plan.payoff_minor(29), 900);
        assert_eq!(plan.payoff_minor(30), 918);
        plan.schedule[0].status = REPAID;
        assert_eq!(plan.payoff_minor(60), 618);
        assert_eq!(plan.outstanding(), (600, 36, 0));
    }
}
