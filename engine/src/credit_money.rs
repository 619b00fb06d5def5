//! Merchant credit's money (docs/CREDIT.md, sections 3–7): disbursement, daily interest,
//! repayment (from settlements and by hand, interest first), overdue, default and recovery. Every
//! movement is one double-entry transfer between the fixed accounts 22–25 and the merchant's
//! available balance, and updates the running totals `assert_credit` checks.

use sluice_protocol::{LoanRequest, PartyKind};

use crate::core::Engine;
use crate::credit::{CREDIT_PER_PULSE, E6, FlowRing, Loan, LoanStatus};
use crate::finance_events::{FinanceEvent, FinanceEventKind, FinanceProduct};
use crate::ledger::PartyAccount;

/// The interest of `days_normal` days at `rate_e6` and `days_penalty` days at `penalty_e6` on
/// `principal`, added to `carry_e6`: (whole minor units, the new carry). Exact: the total is
/// floor((carry + Σ principal × rate) / 10^6), the fraction carried.
pub(crate) fn accrue_days(
    principal_minor: i64,
    carry_e6: i64,
    (days_normal, rate_e6): (u32, u32),
    (days_penalty, penalty_e6): (u32, u32),
) -> (i64, i64) {
    let p = i128::from(principal_minor);
    let total = i128::from(carry_e6)
        + p * i128::from(days_normal) * i128::from(rate_e6)
        + p * i128::from(days_penalty) * i128::from(penalty_e6);
    let interest = i64::try_from(total / E6).expect("interest within the money limits");
    (interest, (total % E6) as i64)
}

impl Engine {
    /// A finance event of loan `loan_id` of merchant `merchant_id` (its figures when it exists).
    pub(crate) fn loan_event(
        &self,
        kind: FinanceEventKind,
        merchant_id: u32,
        loan_id: u64,
        amount_minor: i64,
    ) -> FinanceEvent {
        let credit = &self.state.credit;
        let loan = credit.get(loan_id);
        let c = credit.policy.map_or(0, |p| p.currency);
        FinanceEvent {
            product: FinanceProduct::Loan,
            kind,
            promoter: false,
            party_id: merchant_id,
            reference: loan_id,
            index: 0,
            currency: loan.map_or(c, |l| {
                self.state.limits.currencies[usize::from(l.currency_slot)]
            }),
            amount_minor,
            position_minor: loan.map_or(0, Loan::owed_minor),
            accrued_minor: loan.map_or(0, |l| l.interest_accrued_minor),
            day: self.today(),
        }
    }

    fn record_loan(&mut self, kind: FinanceEventKind, i: usize, amount_minor: i64) {
        if self.finance_events.is_on() {
            let l = &self.state.credit.loans[i];
            let event = self.loan_event(kind, l.merchant_id, l.loan_id, amount_minor);
            self.finance_events.push(event);
        }
    }

    /// Pays loan `m` (checked) into the merchant's available balance.
    pub(crate) fn disburse_loan(&mut self, m: &LoanRequest, party_slot: u32, c: u8) {
        let today = self.today();
        let credit = &mut self.state.credit;
        let index = credit.loans.len() as u32;
        credit.loans.push(Loan {
            loan_id: m.loan_id,
            merchant_id: m.merchant_id,
            party_slot,
            currency_slot: c,
            status: LoanStatus::Active,
            term_days: m.term_days,
            principal_minor: m.amount_minor,
            principal_outstanding_minor: m.amount_minor,
            interest_outstanding_minor: 0,
            interest_accrued_minor: 0,
            interest_carry_e6: 0,
            repaid_minor: 0,
            written_off_minor: 0,
            disbursed_day: today,
            due_day: today + u32::from(m.term_days),
            accrued_through_day: today.saturating_sub(1),
            last_repayment_id: 0,
        });
        let at = credit.ids.partition_point(|e| e.0 < m.loan_id);
        credit.ids.insert(at, (m.loan_id, index));
        credit.accruing.push(index);
        let ring = self.flow_ring_mut(party_slot);
        ring.open_loan = index + 1;
        ring.latest_loan = index + 1;
        self.state.credit.principal_minor[usize::from(c)] += m.amount_minor;
        let ledger = &mut self.state.ledger;
        let available = ledger.party(c, party_slot, PartyAccount::Available);
        ledger.post(ledger.loans_receivable(c), available, m.amount_minor);
        self.record_loan(
            FinanceEventKind::LoanDisbursed,
            index as usize,
            m.amount_minor,
        );
    }

    /// Party `party_slot`'s flow ring, grown to it (within the room reserved for `parties_max`).
    fn flow_ring_mut(&mut self, party_slot: u32) -> &mut FlowRing {
        let flows = &mut self.state.credit.flows;
        let slot = party_slot as usize;
        if slot >= flows.len() {
            flows.resize(slot + 1, FlowRing::default());
        }
        &mut flows[slot]
    }

    /// Takes `amount` (at most what loan `i` owes) from the merchant's available balance, as far
    /// as it can spend: interest first, then principal; after default, to the write-off. Closes
    /// the loan when it owes nothing more. Returns what it took.
    pub(crate) fn repay_loan(&mut self, i: usize, amount_minor: i64) -> i64 {
        let loan = self.state.credit.loans[i];
        let take = amount_minor
            .min(loan.owed_minor())
            .min(self.spendable(loan.party_slot, loan.currency_slot));
        if take <= 0 {
            return 0;
        }
        let c = loan.currency_slot;
        let cu = usize::from(c);
        let interest = take.min(loan.interest_outstanding_minor);
        let principal = (take - interest).min(loan.principal_outstanding_minor);
        let recovered = take - interest - principal;
        let credit = &mut self.state.credit;
        let l = &mut credit.loans[i];
        l.interest_outstanding_minor -= interest;
        l.principal_outstanding_minor -= principal;
        l.written_off_minor -= recovered;
        l.repaid_minor += take;
        credit.interest_minor[cu] -= interest;
        credit.principal_minor[cu] -= principal;
        credit.written_off_minor[cu] -= recovered;
        let ledger = &mut self.state.ledger;
        let available = ledger.party(c, loan.party_slot, PartyAccount::Available);
        ledger.post(available, ledger.interest_receivable(c), interest);
        ledger.post(available, ledger.loans_receivable(c), principal);
        ledger.post(available, ledger.loan_write_offs(c), recovered);
        self.record_loan(FinanceEventKind::LoanRepaid, i, take);
        if self.state.credit.loans[i].owed_minor() == 0 {
            self.state.credit.loans[i].status = LoanStatus::Closed;
            self.flow_ring_mut(loan.party_slot).open_loan = 0;
            self.record_loan(FinanceEventKind::LoanClosed, i, 0);
        }
        take
    }

    /// The settlement hook (`settle_entry`): `settled` of party `slot`'s income in currency slot
    /// `c` left Pending today, `credited` of it to Available. Counts a merchant's flow in the
    /// credit currency and takes the repayment share for its open loan. O(1).
    pub(crate) fn credit_on_settlement(&mut self, slot: u32, c: u8, settled: i64, credited: i64) {
        let Some(p) = self.state.credit.policy else {
            return;
        };
        if c != p.currency_slot || self.state.parties[slot as usize].kind != PartyKind::Merchant {
            return;
        }
        let today = self.today();
        let ring = self.flow_ring_mut(slot);
        ring.add(today, settled);
        let open = ring.open_loan;
        if open == 0 || credited <= 0 {
            return;
        }
        let share = i128::from(credited) * i128::from(p.repay_share_bps) / 10_000;
        let share = i64::try_from(share).expect("a share of an amount");
        self.repay_loan(open as usize - 1, share);
    }

    /// The day step (docs/CREDIT.md, sections 4 and 6), on the pulse after the settlement: once
    /// per day, over the accruing loans from a cursor, `CREDIT_PER_PULSE` per pulse; the first
    /// pulse of a day finishes yesterday's walk first.
    pub(crate) fn credit_day_step(&mut self) {
        if self.state.credit.policy.is_none() {
            return;
        }
        let today = self.today();
        let mut budget = CREDIT_PER_PULSE;
        for _ in 0..2 {
            let credit = &mut self.state.credit;
            if credit.walk_day == 0 {
                if today <= credit.through_day {
                    return;
                }
                credit.walk_day = today;
                credit.walk_cursor = 0;
            }
            let day = credit.walk_day;
            while budget > 0 {
                let credit = &mut self.state.credit;
                let at = credit.walk_cursor as usize;
                let Some(&i) = credit.accruing.get(at) else {
                    credit.through_day = day;
                    credit.walk_day = 0;
                    break;
                };
                budget -= 1;
                if self.loan_day(i as usize, day) {
                    self.state.credit.walk_cursor += 1;
                } else {
                    // Left the walk for good: the last one takes its place, not walked yet.
                    self.state.credit.accruing.swap_remove(at);
                }
            }
            if budget == 0 {
                return;
            }
        }
    }

    /// Loan `i` on day `day`: interest through yesterday, then overdue and default. Returns
    /// whether it still accrues.
    fn loan_day(&mut self, i: usize, day: u32) -> bool {
        let p = self
            .state
            .credit
            .policy
            .expect("the step runs under a policy");
        let loan = self.state.credit.loans[i];
        if !matches!(loan.status, LoanStatus::Active | LoanStatus::Overdue) {
            return false;
        }
        let through = day - 1;
        if through > loan.accrued_through_day {
            let from = loan.accrued_through_day + 1;
            let normal = loan.due_day.min(through).saturating_sub(from - 1);
            let penalty = through - from + 1 - normal;
            let rates = (
                (normal, p.daily_rate_e6),
                (penalty, p.daily_rate_e6 + p.penalty_rate_e6),
            );
            let (interest, carry) = accrue_days(
                loan.principal_outstanding_minor,
                loan.interest_carry_e6,
                rates.0,
                rates.1,
            );
            self.accrue_loan(i, interest, carry, through);
        }
        let loan = self.state.credit.loans[i];
        if loan.owed_minor() > 0 && day > loan.due_day && loan.status == LoanStatus::Active {
            self.state.credit.loans[i].status = LoanStatus::Overdue;
            self.record_loan(FinanceEventKind::LoanOverdue, i, loan.owed_minor());
        }
        if loan.owed_minor() > 0 && day > loan.due_day + u32::from(p.default_after_days) {
            self.write_off(i);
            return false;
        }
        true
    }

    /// Books `interest` on loan `i`, accrued through `through`, leaving `carry_e6`.
    fn accrue_loan(&mut self, i: usize, interest: i64, carry_e6: i64, through: u32) {
        let credit = &mut self.state.credit;
        let l = &mut credit.loans[i];
        l.interest_carry_e6 = carry_e6;
        l.accrued_through_day = through;
        l.interest_outstanding_minor += interest;
        l.interest_accrued_minor += interest;
        let c = l.currency_slot;
        credit.interest_minor[usize::from(c)] += interest;
        credit.accrued_minor[usize::from(c)] += interest;
        let ledger = &mut self.state.ledger;
        ledger.post(
            ledger.interest_receivable(c),
            ledger.interest_income(c),
            interest,
        );
        if interest > 0 {
            self.record_loan(FinanceEventKind::InterestAccrued, i, interest);
        }
    }

    /// Defaults loan `i`: its principal and interest outstanding are written off and stay owed.
    fn write_off(&mut self, i: usize) {
        let credit = &mut self.state.credit;
        let l = &mut credit.loans[i];
        let (principal, interest) = (l.principal_outstanding_minor, l.interest_outstanding_minor);
        l.principal_outstanding_minor = 0;
        l.interest_outstanding_minor = 0;
        l.written_off_minor += principal + interest;
        l.status = LoanStatus::Defaulted;
        let c = l.currency_slot;
        let cu = usize::from(c);
        credit.principal_minor[cu] -= principal;
        credit.interest_minor[cu] -= interest;
        credit.written_off_minor[cu] += principal + interest;
        let ledger = &mut self.state.ledger;
        let write_offs = ledger.loan_write_offs(c);
        ledger.post(write_offs, ledger.loans_receivable(c), principal);
        ledger.post(write_offs, ledger.interest_receivable(c), interest);
        self.record_loan(FinanceEventKind::LoanDefaulted, i, principal + interest);
    }
}

#[cfg(test)]
mod tests {
    use super::accrue_days;

    #[test]
    fn interest_is_floored_with_the_fraction_carried_exactly() {
        // 1234 minor units at 0.05 %/day: 0.617 a day.
        let (mut posted, mut carry) = (0, 0);
        for _ in 0..10 {
            let (i, c) = accrue_days(1234, carry, (1, 500), (0, 0));
            posted += i;
            carry = c;
        }
        assert_eq!((posted, carry), (6, 170_000));
        // Ten days at once come to the same.
        assert_eq!(accrue_days(1234, 0, (10, 500), (0, 0)), (6, 170_000));
        // Penalty days at the higher rate.
        assert_eq!(accrue_days(1_000_000, 0, (1, 500), (2, 1500)), (3500, 0));
    }
}
