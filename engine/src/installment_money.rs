//! Consumer installments' money (docs/INSTALLMENTS.md, sections 2–5): a plan opens with its
//! payment's success, the merchant's fee moves to the platform's split line, repayments, the early
//! repayment, late fees on the day step, the default and refunds move accounts 17–21, and
//! `assert_installments` checks them against the table's running totals after every input.

use sluice_protocol::{PartyRole, PaymentRequest, ReasonCode};

use crate::core::Engine;
use crate::finance_events::{FinanceEvent, FinanceEventKind, FinanceProduct};
use crate::installments::{
    CANCELLED, PLAN_AMOUNT_MAX, PLANS_PER_PULSE, Plan, PlanStatus, REPAID, SETTLED_BY_REFUND,
    UNPAID, bps_of, length_index, schedule,
};
use crate::split::Lines;
use crate::state::Line;

/// A refusal: the reason code and its text.
pub(crate) type Refusal = (ReasonCode, String);

impl Engine {
    /// Checks a payment's plan before its order is made: a length of 3, 6 or 12, an amount of at
    /// most `PLAN_AMOUNT_MAX`, terms for the merchant, room in the table.
    pub(crate) fn check_installment_request(&self, req: &PaymentRequest) -> Result<(), ReasonCode> {
        let t = &self.state.installments;
        if length_index(req.installment_count).is_none() {
            return Err(ReasonCode::InvalidField);
        }
        if req.amount_minor > PLAN_AMOUNT_MAX {
            return Err(ReasonCode::AmountAboveMaximum);
        }
        if t.terms_for(req.merchant_id).is_none() {
            return Err(ReasonCode::InvalidField);
        }
        if !t.has_room() {
            return Err(ReasonCode::CapacityReached);
        }
        Ok(())
    }

    /// The payment of order `slot` was accepted under a plan: the plan waits for its success
    /// (a refused order makes none).
    pub(crate) fn installment_accepted(&mut self, slot: u32, req: &PaymentRequest) {
        let o = &self.state.orders[slot as usize];
        if o.state != sluice_protocol::OrderState::InFlight {
            return;
        }
        let terms = *self
            .state
            .installments
            .terms_for(req.merchant_id)
            .expect("checked before the order was made");
        let at = length_index(req.installment_count).expect("checked before the order was made");
        let plan = Plan {
            order_id: o.id,
            merchant_id: o.merchant_id,
            currency_slot: o.currency_slot,
            count: req.installment_count,
            payer_interest: req.installment_payer_interest,
            status: PlanStatus::Pending,
            fee_or_rate_bps: if req.installment_payer_interest {
                terms.rate_bps[at]
            } else {
                terms.fee_bps[at]
            },
            late_fee_bps: terms.late_fee_bps,
            default_after_days: terms.default_after_days,
            period_days: terms.period_days,
            principal_minor: o.amount_minor,
            interest_minor: 0,
            fee_minor: 0,
            open_day: 0,
            paid_minor: 0,
            interest_paid_minor: 0,
            late_fees_minor: 0,
            written_off_minor: 0,
            recovered_minor: 0,
            schedule: Default::default(),
        };
        self.state.installments.push(plan);
        self.state.installments.pending += 1;
    }

    /// Before a succeeded payment's split is posted: its Pending plan, if any, with an
    /// interest-free plan's fee moved from the merchant's line to the platform's.
    pub(crate) fn installment_fee_lines(
        &mut self,
        order_slot: u32,
        lines: &mut Lines,
    ) -> Option<u32> {
        let order_id = self.state.orders[order_slot as usize].id;
        let t = &mut self.state.installments;
        let plan_slot = t.slot_of(order_id)?;
        let plan = &mut t.plans[plan_slot as usize];
        if plan.status != PlanStatus::Pending {
            return None;
        }
        if !plan.payer_interest {
            let merchant = lines
                .iter()
                .position(|l| l.role == PartyRole::Merchant)
                .expect("a split has the merchant's line");
            let fee = bps_of(plan.principal_minor, plan.fee_or_rate_bps)
                .min(lines[merchant].amount_minor);
            plan.fee_minor = fee;
            if fee > 0 {
                lines[merchant].amount_minor -= fee;
                add_platform_line(lines, fee);
            }
        }
        Some(plan_slot)
    }

    /// Opens plan `plan_slot` when its payment succeeded: the schedule and its books.
    pub(crate) fn open_plan(&mut self, plan_slot: u32) {
        let today = self.today();
        let t = &mut self.state.installments;
        t.pending -= 1;
        let plan = &mut t.plans[plan_slot as usize];
        let p = plan.principal_minor;
        let interest = if plan.payer_interest {
            bps_of(p, plan.fee_or_rate_bps)
        } else {
            0
        };
        plan.status = PlanStatus::Open;
        plan.interest_minor = interest;
        plan.open_day = today;
        plan.schedule = schedule(p, interest, plan.count, (today, plan.period_days));
        let c = plan.currency_slot;
        let totals = &mut t.totals[usize::from(c)];
        totals.principal_out_minor += p;
        totals.interest_out_minor += interest;
        totals.advanced_minor += p;
        let l = &mut self.state.ledger;
        l.post(l.installment_receivable(c), l.installment_funding(c), p);
        l.post(
            l.installment_receivable(c),
            l.installment_unearned_interest(c),
            interest,
        );
        if self.finance_events.is_on() {
            let plan = &self.state.installments.plans[plan_slot as usize];
            let (opened, count) = (plan.open_day, plan.schedule.len());
            self.plan_event(plan_slot, FinanceEventKind::PlanOpened, 0, p, opened);
            for k in 0..count {
                let i = self.state.installments.plans[plan_slot as usize].schedule[k];
                let kind = FinanceEventKind::InstallmentScheduled;
                self.plan_event(plan_slot, kind, k as u16 + 1, i.owed_minor(), i.due_day);
            }
        }
    }

    /// The payment of order `order_slot` failed: its Pending plan is void.
    pub(crate) fn installment_order_failed(&mut self, order_slot: u32) {
        let order_id = self.state.orders[order_slot as usize].id;
        let t = &mut self.state.installments;
        if let Some(s) = t.slot_of(order_id) {
            let plan = &mut t.plans[s as usize];
            if plan.status == PlanStatus::Pending {
                plan.status = PlanStatus::Void;
                t.pending -= 1;
            }
        }
    }

    /// Repays installment `index` (1-based) of plan `order_id` with exactly what it owes.
    pub(crate) fn repay_installment(
        &mut self,
        order_id: u64,
        index: u16,
        amount_minor: i64,
    ) -> Result<(), Refusal> {
        let s = self.open_plan_slot(order_id)?;
        let plan = &self.state.installments.plans[s as usize];
        let k = usize::from(index).wrapping_sub(1);
        let Some(i) = plan.schedule.get(k) else {
            let why = format!("installment {index} is not in a plan of {}", plan.count);
            return Err((ReasonCode::InvalidField, why));
        };
        if i.status != UNPAID {
            let why = format!("installment {index} already repaid or settled");
            return Err((ReasonCode::InvalidField, why));
        }
        if plan.first_unpaid() != Some(k) {
            let first = plan.first_unpaid().map_or(0, |f| f + 1);
            let why = format!("installments are repaid in order: {first} first");
            return Err((ReasonCode::InvalidField, why));
        }
        if amount_minor != i.owed_minor() {
            let why = format!("installment {index} owes {}", i.owed_minor());
            return Err((ReasonCode::InvalidField, why));
        }
        self.pay_installment(s, k);
        let kind = FinanceEventKind::InstallmentRepaid;
        self.plan_event(s, kind, index, amount_minor, self.today());
        self.complete_if_done(s);
        Ok(())
    }

    /// Books the payment of installment `k` (0-based) of plan `s`.
    fn pay_installment(&mut self, s: u32, k: usize) {
        let plan = &mut self.state.installments.plans[s as usize];
        let i = plan.schedule[k];
        plan.schedule[k].status = REPAID;
        plan.paid_minor += i.owed_minor();
        plan.interest_paid_minor += i.interest_minor;
        let c = plan.currency_slot;
        let totals = &mut self.state.installments.totals[usize::from(c)];
        totals.principal_out_minor -= i.principal_minor;
        totals.interest_out_minor -= i.interest_minor;
        totals.late_out_minor -= i.late_fee_minor;
        totals.received_minor += i.owed_minor();
        totals.interest_earned_minor += i.interest_minor;
        let l = &mut self.state.ledger;
        let (rx, funding) = (l.installment_receivable(c), l.installment_funding(c));
        l.post(funding, rx, i.owed_minor());
        l.post(
            l.installment_unearned_interest(c),
            l.installment_income(c),
            i.interest_minor,
        );
    }

    /// Completes plan `s` when nothing is left unpaid.
    fn complete_if_done(&mut self, s: u32) {
        let plan = &mut self.state.installments.plans[s as usize];
        if plan.status == PlanStatus::Open && plan.first_unpaid().is_none() {
            plan.status = PlanStatus::Completed;
            let kind = FinanceEventKind::PlanCompleted;
            self.plan_event(s, kind, 0, 0, self.today());
        }
    }

    /// Repays everything left of plan `order_id`: the amount must be the payoff.
    pub(crate) fn repay_early(&mut self, order_id: u64, amount_minor: i64) -> Result<(), Refusal> {
        let s = self.open_plan_slot(order_id)?;
        let today = self.today();
        let payoff = self.state.installments.plans[s as usize].payoff_minor(today);
        if amount_minor != payoff {
            let why = format!("the payoff today is {payoff}");
            return Err((ReasonCode::InvalidField, why));
        }
        for k in 0..self.state.installments.plans[s as usize].schedule.len() {
            let i = self.state.installments.plans[s as usize].schedule[k];
            if i.status != UNPAID {
                continue;
            }
            if i.due_day > today {
                self.rebate_interest(s, k);
            }
            self.pay_installment(s, k);
        }
        self.state.installments.plans[s as usize].status = PlanStatus::RepaidEarly;
        let kind = FinanceEventKind::PlanRepaidEarly;
        self.plan_event(s, kind, 0, amount_minor, today);
        Ok(())
    }

    /// Cancels the interest of installment `k` of plan `s` (it stays unpaid).
    fn rebate_interest(&mut self, s: u32, k: usize) {
        let plan = &mut self.state.installments.plans[s as usize];
        let interest = plan.schedule[k].interest_minor;
        plan.schedule[k].interest_minor = 0;
        let c = plan.currency_slot;
        self.state.installments.totals[usize::from(c)].interest_out_minor -= interest;
        let l = &mut self.state.ledger;
        l.post(
            l.installment_unearned_interest(c),
            l.installment_receivable(c),
            interest,
        );
    }

    /// Defaults plan `order_id`: allowed once its first unpaid installment is overdue by the
    /// terms' days. Interest is cancelled, principal and late fees written off.
    pub(crate) fn default_plan(&mut self, order_id: u64) -> Result<(), Refusal> {
        let s = self.open_plan_slot(order_id)?;
        let today = self.today();
        let plan = &self.state.installments.plans[s as usize];
        let first = plan
            .first_unpaid()
            .expect("an open plan owes an installment");
        let due = plan.schedule[first].due_day;
        let allowed_from = due + u32::from(plan.default_after_days);
        if today < allowed_from {
            let why = format!(
                "installment {} is due on day {due}: a default from day {allowed_from}",
                first + 1
            );
            return Err((ReasonCode::InvalidField, why));
        }
        let (p, i, late) = plan.outstanding();
        let c = plan.currency_slot;
        let plan = &mut self.state.installments.plans[s as usize];
        for x in plan.schedule.iter_mut().filter(|x| x.status == UNPAID) {
            x.status = CANCELLED;
        }
        plan.status = PlanStatus::Defaulted;
        plan.written_off_minor = p + late;
        let totals = &mut self.state.installments.totals[usize::from(c)];
        totals.principal_out_minor -= p;
        totals.interest_out_minor -= i;
        totals.late_out_minor -= late;
        totals.written_off_minor += p + late;
        let l = &mut self.state.ledger;
        let rx = l.installment_receivable(c);
        l.post(l.installment_unearned_interest(c), rx, i);
        l.post(l.installment_write_offs(c), rx, p + late);
        let kind = FinanceEventKind::PlanDefaulted;
        self.plan_event(s, kind, 0, p + late, today);
        Ok(())
    }

    /// The slot of plan `order_id` when it is Open.
    fn open_plan_slot(&self, order_id: u64) -> Result<u32, Refusal> {
        let t = &self.state.installments;
        let Some(s) = t.slot_of(order_id) else {
            let why = format!("no installment plan for order {order_id}");
            return Err((ReasonCode::NotFound, why));
        };
        let status = t.plans[s as usize].status;
        if status != PlanStatus::Open {
            let why = format!("the plan is {status:?}, not Open");
            return Err((ReasonCode::InvalidField, why));
        }
        Ok(s)
    }

    /// Records a movement of plan `s` (when recording).
    pub(crate) fn plan_event(
        &mut self,
        s: u32,
        kind: FinanceEventKind,
        index: u16,
        amount_minor: i64,
        day: u32,
    ) {
        if !self.finance_events.is_on() {
            return;
        }
        let plan = &self.state.installments.plans[s as usize];
        let (p, i, l) = plan.outstanding();
        let event = FinanceEvent {
            product: FinanceProduct::Installment,
            kind,
            promoter: false,
            party_id: plan.merchant_id,
            reference: plan.order_id,
            index,
            currency: self.state.limits.currencies[usize::from(plan.currency_slot)],
            amount_minor,
            position_minor: p + i + l,
            accrued_minor: plan.interest_paid_minor + plan.late_fees_minor + plan.fee_minor,
            day,
        };
        self.finance_events.push(event);
    }

    /// The daily step (docs/INSTALLMENTS.md, section 5): charges each newly overdue installment
    /// its late fee, once per day, at most `PLANS_PER_PULSE` plans per pulse.
    pub(crate) fn installments_day_step(&mut self) {
        let today = self.today();
        let t = &self.state.installments;
        if today <= t.through_day && t.cursor == 0 {
            return;
        }
        let start = t.cursor as usize;
        let end = (start + PLANS_PER_PULSE as usize).min(t.plans.len());
        for s in start..end {
            if self.state.installments.plans[s].status == PlanStatus::Open {
                self.charge_late_fees(s as u32, today);
            }
        }
        let t = &mut self.state.installments;
        if end == t.plans.len() {
            t.cursor = 0;
            t.through_day = today;
        } else {
            t.cursor = end as u32;
        }
    }

    /// Charges the late fee of every unpaid installment of plan `s` past its due day that has
    /// none yet.
    fn charge_late_fees(&mut self, s: u32, today: u32) {
        for k in 0..self.state.installments.plans[s as usize].schedule.len() {
            let plan = &mut self.state.installments.plans[s as usize];
            let i = &mut plan.schedule[k];
            if i.status != UNPAID || i.late || today <= i.due_day {
                continue;
            }
            i.late = true;
            let fee = bps_of(i.principal_minor + i.interest_minor, plan.late_fee_bps);
            i.late_fee_minor += fee;
            plan.late_fees_minor += fee;
            let c = plan.currency_slot;
            let totals = &mut self.state.installments.totals[usize::from(c)];
            totals.late_out_minor += fee;
            totals.late_charged_minor += fee;
            let l = &mut self.state.ledger;
            l.post(l.installment_receivable(c), l.installment_income(c), fee);
            self.plan_event(s, FinanceEventKind::LateFee, k as u16 + 1, fee, today);
        }
    }

    /// A refund of `amount_minor` of order `order_slot` succeeded (its order's refunded figure
    /// already counts it): the plan's share (docs/INSTALLMENTS.md, section 5).
    pub(crate) fn installment_refunded(&mut self, order_slot: u32, amount_minor: i64) {
        let o = &self.state.orders[order_slot as usize];
        let full = o.refunded_minor == o.amount_minor;
        let Some(s) = self.state.installments.slot_of(o.id) else {
            return;
        };
        let status = self.state.installments.plans[s as usize].status;
        match status {
            PlanStatus::Open => {
                self.refund_principal(s, amount_minor);
                if full {
                    self.unwind(s, amount_minor);
                } else {
                    self.complete_if_done(s);
                }
            }
            PlanStatus::Completed | PlanStatus::RepaidEarly if full => self.unwind(s, amount_minor),
            PlanStatus::Defaulted => self.recover_write_off(s, amount_minor),
            _ => {}
        }
    }

    /// Takes `min(refund, unpaid principal)` off the unpaid principal, last installment first.
    fn refund_principal(&mut self, s: u32, refund_minor: i64) {
        let plan = &mut self.state.installments.plans[s as usize];
        let mut left = refund_minor.min(plan.outstanding().0);
        let x = left;
        for i in plan.schedule.iter_mut().rev() {
            if i.status != UNPAID || left == 0 {
                continue;
            }
            let take = left.min(i.principal_minor);
            i.principal_minor -= take;
            left -= take;
            if i.owed_minor() == 0 {
                i.status = SETTLED_BY_REFUND;
            }
        }
        let c = plan.currency_slot;
        let totals = &mut self.state.installments.totals[usize::from(c)];
        totals.principal_out_minor -= x;
        totals.received_minor += x;
        let l = &mut self.state.ledger;
        l.post(l.installment_funding(c), l.installment_receivable(c), x);
    }

    /// Unwinds plan `s` on its payment's full refund: remaining interest and late fees cancelled,
    /// interest paid returned to the payer.
    fn unwind(&mut self, s: u32, refund_minor: i64) {
        let plan = &mut self.state.installments.plans[s as usize];
        let (p, i, late) = plan.outstanding();
        assert_eq!(p, 0, "a full refund leaves no principal unpaid");
        for x in plan.schedule.iter_mut().filter(|x| x.status == UNPAID) {
            x.status = CANCELLED;
        }
        plan.status = PlanStatus::Unwound;
        let returned = plan.interest_paid_minor;
        let c = plan.currency_slot;
        let totals = &mut self.state.installments.totals[usize::from(c)];
        totals.interest_out_minor -= i;
        totals.late_out_minor -= late;
        totals.late_cancelled_minor += late;
        totals.interest_returned_minor += returned;
        let l = &mut self.state.ledger;
        let (rx, income) = (l.installment_receivable(c), l.installment_income(c));
        l.post(l.installment_unearned_interest(c), rx, i);
        l.post(income, rx, late);
        l.post(income, l.installment_funding(c), returned);
        let kind = FinanceEventKind::PlanUnwound;
        self.plan_event(s, kind, 0, refund_minor, self.today());
    }

    /// A refund of a defaulted plan's payment recovers the write-off first.
    fn recover_write_off(&mut self, s: u32, refund_minor: i64) {
        let plan = &mut self.state.installments.plans[s as usize];
        let x = refund_minor.min(plan.written_off_minor - plan.recovered_minor);
        plan.recovered_minor += x;
        let c = plan.currency_slot;
        let totals = &mut self.state.installments.totals[usize::from(c)];
        totals.recovered_minor += x;
        totals.received_minor += x;
        let l = &mut self.state.ledger;
        l.post(l.installment_funding(c), l.installment_write_offs(c), x);
        if x > 0 {
            let kind = FinanceEventKind::PlanUnwound;
            self.plan_event(s, kind, 0, x, self.today());
        }
    }

    /// What accounts 17–21 hold is exactly what the plans table's running totals say
    /// (docs/INSTALLMENTS.md, section 3), per currency.
    pub(crate) fn assert_installments(&self, seq: u64) {
        // Only this module moves accounts 17-21, and only for a plan: with none ever made there
        // is nothing to check (and the payment path pays nothing for it).
        if self.state.installments.plans.is_empty() {
            return;
        }
        let l = &self.state.ledger;
        for c in 0..self.state.limits.currencies.len() {
            let t = &self.state.installments.totals[c];
            let c8 = c as u8;
            let rx = l.account(l.installment_receivable(c8)).debit_balance();
            let funding = l.account(l.installment_funding(c8)).credit_balance();
            let unearned = l
                .account(l.installment_unearned_interest(c8))
                .credit_balance();
            let income = l.account(l.installment_income(c8)).credit_balance();
            let written = l.account(l.installment_write_offs(c8)).debit_balance();
            let want = [
                t.principal_out_minor + t.interest_out_minor + t.late_out_minor,
                t.advanced_minor - t.received_minor + t.interest_returned_minor,
                t.interest_out_minor,
                t.interest_earned_minor + t.late_charged_minor
                    - t.late_cancelled_minor
                    - t.interest_returned_minor,
                t.written_off_minor - t.recovered_minor,
            ];
            let have = [rx, funding, unearned, income, written];
            assert!(
                have.iter().zip(want).all(|(&h, w)| h == i128::from(w))
                    && t.principal_out_minor >= 0
                    && t.interest_out_minor >= 0
                    && t.late_out_minor >= 0,
                "installments broken at sequence {seq}: currency slot {c}, accounts 17-21 \
                 {have:?}, totals {t:?}"
            );
        }
    }
}

/// Adds `fee` to the platform's line, or makes one (a split has room: at most 7 lines of 8).
fn add_platform_line(lines: &mut Lines, fee: i64) {
    match lines.iter_mut().find(|l| l.role == PartyRole::Platform) {
        Some(line) => line.amount_minor += fee,
        None => lines.insert(
            0,
            Line {
                amount_minor: fee,
                party_slot: None,
                due_day: 0,
                role: PartyRole::Platform,
                held: false,
            },
        ),
    }
}
