//! Settlement in event time (docs/PAYOUTS.md, section 3): income waits in each party's Pending
//! account until its due day, which the party's schedule gives, then moves on the first pulse of
//! that day: the deposit share to Frozen until its release day, the rolling reserve's share of the
//! rest to Reserve until its release day, and the rest to Available. A `Manual` party's income is
//! held (its `held` queue, by the day it was earned) until an admin's `ReleaseSettlement`.
//! Per-party queues are in day order and aggregated per (day, currency).

use std::collections::VecDeque;

use crate::core::Engine;
use crate::input::InputMeta;
use crate::ledger::PartyAccount;
use crate::money::apply_rate_floor;
use crate::outbox::Outbox;
use crate::state::{DueEntry, Party};
use sluice_protocol::PartySchedule;

/// Adds `amount` to the entry for (day, currency) at the back of `queue`, or appends one, and returns
/// the day used. Days are
/// kept in order: an entry never goes before the last one (a shorter settlement delay configured
/// later settles new income no earlier than income already waiting).
fn push_due(queue: &mut VecDeque<DueEntry>, day: u32, currency_slot: u8, amount: i64) -> u32 {
    let day = queue.back().map_or(day, |b| day.max(b.day));
    for e in queue.iter_mut().rev() {
        if e.day != day {
            break;
        }
        if e.currency_slot == currency_slot {
            e.amount_minor = add_due_minor(e.amount_minor, amount);
            return day;
        }
    }
    queue.push_back(DueEntry {
        day,
        currency_slot,
        amount_minor: amount,
    });
    day
}

/// Income waiting for one day in one currency, plus `amount`: part of the party's total, so
/// within the largest balance (the money limits refuse what would pass it).
fn add_due_minor(due_minor: i64, amount_minor: i64) -> i64 {
    due_minor
        .checked_add(amount_minor)
        .expect("income due on one day is within the party's total, within i64")
}

fn find_in(queue: &VecDeque<DueEntry>, day: u32, currency_slot: u8) -> Option<usize> {
    queue
        .iter()
        .position(|e| e.day == day && e.currency_slot == currency_slot)
}

/// How many days' entries a party's pending queue holds at most under `schedule` with a delay of
/// `days` (per currency): every day whose income is still waiting, and a little over for a
/// calendar's days off (the queue grows, off the hot path, past a long holiday).
fn pending_days(schedule: PartySchedule, days: u8) -> usize {
    let days = usize::from(days);
    match schedule {
        PartySchedule::CalendarDays => days + 1,
        PartySchedule::BusinessDays => 2 * days + 10,
        PartySchedule::Weekly => days + 8,
        PartySchedule::Monthly | PartySchedule::Manual => days + 32,
    }
}

impl Party {
    fn queue(&self, held: bool) -> &VecDeque<DueEntry> {
        if held { &self.held } else { &self.pending }
    }

    fn queue_mut(&mut self, held: bool) -> &mut VecDeque<DueEntry> {
        if held {
            &mut self.held
        } else {
            &mut self.pending
        }
    }

    /// Reserves every queue's room for its settings (configuration and snapshot load only).
    pub(crate) fn reserve_queues(&mut self, currencies: usize) {
        let reserve = |q: &mut VecDeque<DueEntry>, days: usize| {
            q.reserve((days * currencies).saturating_sub(q.len()));
        };
        let pending = pending_days(self.schedule, self.settlement_days);
        reserve(&mut self.pending, pending);
        reserve(&mut self.frozen, usize::from(self.deposit_hold_days) + 2);
        reserve(&mut self.reserved, usize::from(self.reserve_days) + 2);
        if self.schedule == PartySchedule::Manual {
            reserve(&mut self.held, pending);
        }
    }

    /// Income due on `day` (or later, see `push_due`), or earned on `day` and `held`; returns the
    /// day it is kept under.
    pub(crate) fn add_due(&mut self, day: u32, held: bool, currency_slot: u8, amount: i64) -> u32 {
        if amount <= 0 {
            return day;
        }
        push_due(self.queue_mut(held), day, currency_slot, amount)
    }

    /// What is still waiting for (day, currency) in the pending or the held queue; `None` when
    /// nothing is (its day settled or was released).
    pub(crate) fn due_amount(&self, day: u32, held: bool, currency_slot: u8) -> Option<i64> {
        let queue = self.queue(held);
        find_in(queue, day, currency_slot).map(|i| queue[i].amount_minor)
    }

    /// Takes a refund's part out of the waiting income (validation checked it is there). The
    /// entry stays, even at zero, until its day settles or is released, so a failed refund finds
    /// it again.
    pub(crate) fn take_due(&mut self, day: u32, held: bool, currency_slot: u8, amount: i64) {
        if amount == 0 {
            return;
        }
        let queue = self.queue_mut(held);
        let i = find_in(queue, day, currency_slot);
        let e = &mut queue[i.expect("a refund's pending part is waiting in its queue")];
        assert!(e.amount_minor >= amount, "refund takes more than is due");
        e.amount_minor -= amount;
    }
}

/// Where a settling amount goes: the deposit, the reserve and what is left (all within the
/// amount, each rate being within 0..=1).
fn split_settlement(amount_minor: i64, deposit_ppb: i64, reserve_ppb: i64) -> [i64; 3] {
    let share = |amount: i64, ppb: i64| {
        apply_rate_floor(amount, ppb)
            .filter(|d| (0..=amount).contains(d))
            .expect("a rate of 0..=1 takes 0..=the amount")
    };
    let deposit = share(amount_minor, deposit_ppb);
    let reserve = share(amount_minor - deposit, reserve_ppb);
    [deposit, reserve, amount_minor - deposit - reserve]
}

impl Engine {
    /// When income that party `party_slot` earns on `today` becomes due, and whether it is held
    /// for a manual release instead (then the day is `today`, the day it is earned).
    pub(crate) fn due_of(&self, party_slot: u32, today: u32) -> (u32, bool) {
        let p = &self.state.parties[party_slot as usize];
        let cal = &self.state.calendar;
        let from = today + u32::from(p.settlement_days);
        let day = match p.schedule {
            PartySchedule::CalendarDays => from,
            PartySchedule::BusinessDays => {
                cal.nth_working_day_after(today, p.settlement_days.into())
            }
            PartySchedule::Weekly => cal.weekly_due(from, p.schedule_anchor),
            PartySchedule::Monthly => cal.monthly_due(from, p.schedule_anchor),
            PartySchedule::Manual => return (today, true),
        };
        (day, false)
    }

    /// Whether the income of a split line (party `party_slot`, day `day`, `held`) still waits
    /// in its queue, so that a refund takes it from Pending rather than Available.
    pub(crate) fn still_pending(&self, party_slot: u32, day: u32, held: bool, c: u8) -> bool {
        if held {
            let party = &self.state.parties[party_slot as usize];
            return party.due_amount(day, true, c).is_some();
        }
        day > self.state.settled_through_day
    }

    /// Gives a failed refund's part back: to its queue while its day is still waiting, else
    /// straight to Available (its day settled, or was released, while the refund was at the
    /// channel).
    pub(crate) fn restore_due(
        &mut self,
        party_slot: u32,
        day: u32,
        held: bool,
        currency_slot: u8,
        amount: i64,
    ) {
        if self.still_pending(party_slot, day, held, currency_slot) {
            let party = &mut self.state.parties[party_slot as usize];
            let queue = party.queue_mut(held);
            match find_in(queue, day, currency_slot) {
                Some(i) => {
                    let e = &mut queue[i];
                    e.amount_minor = add_due_minor(e.amount_minor, amount);
                }
                None => {
                    push_due(queue, day, currency_slot, amount);
                }
            }
            return;
        }
        let ledger = &mut self.state.ledger;
        let pending = ledger.party(currency_slot, party_slot, PartyAccount::Pending);
        let available = ledger.party(currency_slot, party_slot, PartyAccount::Available);
        ledger.post(pending, available, amount);
    }

    /// The pulse: time advances, channels come out of cooldown, deadlines expire, days settle.
    pub(crate) fn handle_pulse(&mut self, meta: &InputMeta, out: &mut Outbox) {
        let now = self.state.now_ns;
        for slot in 0..self.state.channels.len() {
            let change = crate::routing::on_pulse(&mut self.state.channels[slot], now);
            if let Some(change) = change {
                self.push_health_alert(meta, slot as u32, change, out);
            }
        }
        self.retention_step();
        let mut budget = crate::TIMEOUTS_PER_PULSE;
        self.expire_attempts(meta, &mut budget, out);
        self.expire_refunds(meta, &mut budget, out);
        let mut budget = crate::CONTROLS_PER_PULSE;
        self.ask_due_attempts(meta, &mut budget, out);
        self.ask_due_refunds(meta, &mut budget, out);
        let new_day = self.today() > self.state.settled_through_day;
        self.settle(self.today(), meta, out);
        if new_day {
            // Once a day: ended disputes past their keep leave the table.
            self.state.disputes.evict_ended(self.state.now_ns);
        }
        // After the settlement: what parties owe for disputes, from what became available.
        self.recover_dispute_debts();
        // After the settlement and the debts: queued redemptions paid, available swept.
        self.yield_day_step();
        // After the settlement: installments' overdue late fees, once per day.
        self.installments_day_step();
        // The financial extension's day steps (docs/FINANCE.md), after the settlement.
        self.credit_day_step();
        // After the settlement: an automatic payout it opened goes out on this pulse.
        self.payouts_step(meta, out);
    }

    /// Settles every party's entries due on or before `today`, once per day, and then pays each
    /// party whose available balance grew and whose payout mode is Automatic (`auto_payout`: at
    /// most one payout per party and currency per settlement).
    pub(crate) fn settle(&mut self, today: u32, meta: &InputMeta, out: &mut Outbox) {
        if today <= self.state.settled_through_day {
            return;
        }
        for slot in 0..self.state.parties.len() {
            let currencies = self.settle_party(slot as u32, today);
            self.auto_payouts(slot as u32, currencies, meta, out);
        }
        self.state.settled_through_day = today;
    }

    /// `auto_payout` of party `slot` in each currency slot whose bit is set in `currencies`.
    pub(crate) fn auto_payouts(
        &mut self,
        slot: u32,
        currencies: u8,
        meta: &InputMeta,
        out: &mut Outbox,
    ) {
        for c in 0..crate::state::CURRENCIES_MAX as u8 {
            if currencies & (1 << c) != 0 {
                self.auto_payout(slot, c, meta, out);
            }
        }
    }

    /// Settles party `slot` for `today`; returns the currency slots (bit i for slot i) whose
    /// Available it credited.
    fn settle_party(&mut self, slot: u32, today: u32) -> u8 {
        let mut currencies = 0u8;
        while let Some(e) = self.state.parties[slot as usize].pending.front().copied() {
            if e.day > today {
                break;
            }
            self.state.parties[slot as usize].pending.pop_front();
            self.settle_entry(slot, e, e.day);
            currencies |= 1 << e.currency_slot;
        }
        currencies |= self.release_held(slot, today, PartyAccount::Frozen);
        currencies | self.release_held(slot, today, PartyAccount::Reserve)
    }

    /// Releases the deposits (`Frozen`) or reserve shares (`Reserve`) of party `slot` whose day
    /// has come to Available; returns the currency slots it credited (bit i for slot i).
    fn release_held(&mut self, slot: u32, today: u32, which: PartyAccount) -> u8 {
        let s = &mut self.state;
        let party = &mut s.parties[slot as usize];
        let queue = match which {
            PartyAccount::Frozen => &mut party.frozen,
            _ => &mut party.reserved,
        };
        let mut currencies = 0u8;
        while let Some(e) = queue.front().copied() {
            if e.day > today {
                break;
            }
            queue.pop_front();
            let c = e.currency_slot;
            let from = s.ledger.party(c, slot, which);
            let available = s.ledger.party(c, slot, PartyAccount::Available);
            s.ledger.post(from, available, e.amount_minor);
            currencies |= 1 << c;
        }
        currencies
    }

    /// Moves one entry of income, due (or released) on `day`, out of Pending: the deposit to
    /// Frozen, the reserve to Reserve (each held its days, or straight on when they are 0) and
    /// the rest to Available.
    pub(crate) fn settle_entry(&mut self, slot: u32, e: DueEntry, day: u32) {
        let s = &mut self.state;
        let party = &mut s.parties[slot as usize];
        let c = e.currency_slot;
        let [deposit, reserve, rest] =
            split_settlement(e.amount_minor, party.deposit_ppb, party.reserve_ppb);
        let pending = s.ledger.party(c, slot, PartyAccount::Pending);
        let available = s.ledger.party(c, slot, PartyAccount::Available);
        let frozen = s.ledger.party(c, slot, PartyAccount::Frozen);
        let reserve_account = s.ledger.party(c, slot, PartyAccount::Reserve);
        s.ledger.post(pending, available, rest);
        let mut credited = rest;
        if deposit > 0 && party.deposit_hold_days > 0 {
            s.ledger.post(pending, frozen, deposit);
            let release = day + u32::from(party.deposit_hold_days);
            push_due(&mut party.frozen, release, c, deposit);
        } else {
            s.ledger.post(pending, available, deposit);
            credited += deposit;
        }
        if reserve > 0 && party.reserve_days > 0 {
            s.ledger.post(pending, reserve_account, reserve);
            let release = day + u32::from(party.reserve_days);
            push_due(&mut party.reserved, release, c, reserve);
        } else {
            s.ledger.post(pending, available, reserve);
            credited += reserve;
        }
        // Merchant credit (docs/CREDIT.md, sections 2 and 5): the flow, and the loan's share.
        self.credit_on_settlement(slot, c, e.amount_minor, credited);
    }
}
