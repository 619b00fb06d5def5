//! Settlement in event time: income waits in each party's Pending account until its due day, then
//! moves to Available on the first pulse of that day, less the deposit share, which waits in Frozen
//! until its release day. Per-party queues are in day order and aggregated per (day, currency).

use crate::core::Engine;
use crate::input::InputMeta;
use crate::ledger::PartyAccount;
use crate::money::apply_rate_floor;
use crate::outbox::Outbox;
use crate::state::{DueEntry, Party};

/// Adds `amount` to the entry for (day, currency) at the back of `queue`, or appends one, and returns
/// the day used. Days are
/// kept in order: an entry never goes before the last one (a shorter settlement delay configured
/// later settles new income no earlier than income already waiting).
fn push_due(
    queue: &mut std::collections::VecDeque<DueEntry>,
    day: u32,
    currency_slot: u8,
    amount: i64,
) -> u32 {
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

impl Party {
    fn find_due(&self, day: u32, currency_slot: u8) -> Option<usize> {
        self.pending
            .iter()
            .position(|e| e.day == day && e.currency_slot == currency_slot)
    }

    /// Income due on `day` (or later, see `push_due`); returns the day it is due.
    pub(crate) fn add_due(&mut self, day: u32, currency_slot: u8, amount: i64) -> u32 {
        if amount <= 0 {
            return day;
        }
        push_due(&mut self.pending, day, currency_slot, amount)
    }

    /// What is still waiting for (day, currency).
    pub(crate) fn due_amount(&self, day: u32, currency_slot: u8) -> i64 {
        self.find_due(day, currency_slot)
            .map_or(0, |i| self.pending[i].amount_minor)
    }

    /// Takes a refund's part out of the waiting income (validation checked it is there).
    pub(crate) fn take_due(&mut self, day: u32, currency_slot: u8, amount: i64) {
        if amount == 0 {
            return;
        }
        let i = self.find_due(day, currency_slot);
        let e = &mut self.pending[i.expect("a refund's pending part is waiting in its queue")];
        assert!(e.amount_minor >= amount, "refund takes more than is due");
        e.amount_minor -= amount;
    }
}

impl Engine {
    /// Gives a failed refund's part back: to the queue if its day is still ahead, else straight to
    /// Available (its day was settled while the refund was at the channel).
    pub(crate) fn restore_due(
        &mut self,
        party_slot: u32,
        day: u32,
        currency_slot: u8,
        amount: i64,
    ) {
        if day > self.state.settled_through_day {
            let party = &mut self.state.parties[party_slot as usize];
            match party.find_due(day, currency_slot) {
                Some(i) => {
                    let e = &mut party.pending[i];
                    e.amount_minor = add_due_minor(e.amount_minor, amount);
                }
                None => {
                    push_due(&mut party.pending, day, currency_slot, amount);
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
        self.settle(self.today());
        // After the settlement: an automatic payout it opened goes out on this pulse.
        self.payouts_step(meta, out);
    }

    /// Settles every party's entries due on or before `today`, once per day.
    pub(crate) fn settle(&mut self, today: u32) {
        if today <= self.state.settled_through_day {
            return;
        }
        for slot in 0..self.state.parties.len() {
            self.settle_party(slot as u32, today);
        }
        self.state.settled_through_day = today;
    }

    fn settle_party(&mut self, slot: u32, today: u32) {
        let s = &mut self.state;
        let party = &mut s.parties[slot as usize];
        while let Some(e) = party.pending.front().copied() {
            if e.day > today {
                break;
            }
            party.pending.pop_front();
            let c = e.currency_slot;
            // Deposit rates are configured within 0..=1: the deposit is within 0..=the amount.
            let deposit = apply_rate_floor(e.amount_minor, party.deposit_ppb)
                .filter(|d| (0..=e.amount_minor).contains(d))
                .expect("a deposit rate of 0..=1 takes 0..=the amount");
            let pending = s.ledger.party(c, slot, PartyAccount::Pending);
            let available = s.ledger.party(c, slot, PartyAccount::Available);
            let frozen = s.ledger.party(c, slot, PartyAccount::Frozen);
            s.ledger.post(pending, available, e.amount_minor - deposit);
            if deposit > 0 && party.deposit_hold_days > 0 {
                s.ledger.post(pending, frozen, deposit);
                let release = e.day + u32::from(party.deposit_hold_days);
                push_due(&mut party.frozen, release, c, deposit);
            } else {
                s.ledger.post(pending, available, deposit);
            }
        }
        while let Some(e) = party.frozen.front().copied() {
            if e.day > today {
                break;
            }
            party.frozen.pop_front();
            let c = e.currency_slot;
            let frozen = s.ledger.party(c, slot, PartyAccount::Frozen);
            let available = s.ledger.party(c, slot, PartyAccount::Available);
            s.ledger.post(frozen, available, e.amount_minor);
        }
    }
}
