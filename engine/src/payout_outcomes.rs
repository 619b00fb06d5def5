//! What happens to a payout after it is accepted (docs/PAYOUTS.md, section 4): its dispatch to
//! the payout channel, the questions when its outcome is unknown, the channel's answers, the
//! review, and the money of each outcome.
//!
//! Unknown outcomes are asked, never re-sent blindly: a Sent payout is in the payout queue, looked
//! at round-robin on every pulse within `PAYOUT_STEPS_PER_PULSE`; past its deadline (and after a
//! Processing) it is asked about (PayoutQuery) at its channel's query interval until a final
//! answer. Only NotFound sends the same PayoutDispatch again. A payout is paid at most once: only
//! a Sent payout can become Paid, and every later answer changes nothing.

use sluice_protocol::{
    FinalStatus, Message, PayoutChannelResult, PayoutChannelStatus, PayoutDispatch, PayoutQuery,
    PayoutReview, PayoutState, ReasonCode, WithdrawResult, WithdrawReturned,
};

use crate::config::Refusal;
use crate::core::Engine;
use crate::input::InputMeta;
use crate::outbox::{Dest, Outbox};
use crate::state::{Due, PayoutOrigin, id_slot};

/// Most payouts one pulse looks at in the payout queue (each at most one frame: a dispatch or a
/// question). Bounds the work and output of a pulse.
pub const PAYOUT_STEPS_PER_PULSE: u32 = 64;

const NS_PER_MS: u64 = 1_000_000;

impl Engine {
    /// The slot of payout `id`, if it is in the table.
    pub(crate) fn payout_slot_of(&self, id: u64) -> Option<u32> {
        let (slot, _) = id_slot(id)?;
        let p = self.state.payouts.get(slot as usize)?;
        (p.id == id && !p.vacant).then_some(slot)
    }

    /// Puts Sent payout `slot` in the payout queue (once: when it becomes Sent).
    pub(crate) fn queue_payout(&mut self, slot: u32) {
        let p = &self.state.payouts[slot as usize];
        let due = Due {
            slot,
            generation: p.generation,
            due_ns: p.due_ns,
        };
        self.state.payout_book.queue.push_back(due);
    }

    /// Sends a Sent payout's PayoutDispatch now (an automatic one waits for the pulse).
    pub(crate) fn dispatch_if_sent(&mut self, meta: &InputMeta, slot: u32, out: &mut Outbox) {
        if self.state.payouts[slot as usize].state == PayoutState::Sent {
            self.dispatch_payout(meta, slot, out);
        }
    }

    /// Sends payout `slot` to its channel, due for a question at the channel's timeout.
    fn dispatch_payout(&mut self, meta: &InputMeta, slot: u32, out: &mut Outbox) {
        let now = self.state.now_ns;
        let p = &self.state.payouts[slot as usize];
        let ch = &self.state.payout_book.channels[p.channel_slot as usize];
        let deadline = now.saturating_add(u64::from(ch.timeout_ms) * NS_PER_MS);
        let msg = PayoutDispatch {
            payout_id: p.id,
            channel_id: ch.id,
            party_kind: p.party_kind,
            party_id: p.party_id,
            currency: p.currency,
            amount_minor: p.amount_minor,
            fee_minor: p.fee_minor,
            deadline_ns: deadline,
            at_ns: now,
        };
        let p = &mut self.state.payouts[slot as usize];
        p.dispatched = true;
        p.due_ns = deadline;
        out.push(Dest::channel(msg.channel_id), meta.seq, &msg);
    }

    /// Asks the channel about payout `slot`, and again one query interval on.
    fn ask_payout(&mut self, meta: &InputMeta, slot: u32, out: &mut Outbox) {
        let now = self.state.now_ns;
        let p = &self.state.payouts[slot as usize];
        let ch = &self.state.payout_book.channels[p.channel_slot as usize];
        let msg = PayoutQuery {
            payout_id: p.id,
            channel_id: ch.id,
            currency: p.currency,
            amount_minor: p.amount_minor,
            at_ns: now,
        };
        let next = now.saturating_add(u64::from(ch.query_interval_ms) * NS_PER_MS);
        self.state.payouts[slot as usize].due_ns = next;
        out.push(Dest::channel(msg.channel_id), meta.seq, &msg);
    }

    /// The pulse's payout step: looks at up to `PAYOUT_STEPS_PER_PULSE` queued payouts, each at
    /// most once; a Sent one whose time has come is dispatched (an automatic payout's first
    /// sending) or asked about. Ended payouts leave the queue here.
    pub(crate) fn payouts_step(&mut self, meta: &InputMeta, out: &mut Outbox) {
        let now = self.state.now_ns;
        let steps = self
            .state
            .payout_book
            .queue
            .len()
            .min(PAYOUT_STEPS_PER_PULSE as usize);
        for _ in 0..steps {
            let Some(due) = self.state.payout_book.queue.pop_front() else {
                break;
            };
            let p = &self.state.payouts[due.slot as usize];
            if p.vacant || p.generation != due.generation || p.state != PayoutState::Sent {
                continue;
            }
            if p.due_ns <= now {
                if p.dispatched {
                    self.ask_payout(meta, due.slot, out);
                } else {
                    self.dispatch_payout(meta, due.slot, out);
                }
            }
            self.state.payout_book.queue.push_back(due);
        }
    }

    /// A payout channel's answer (or an unasked return).
    pub(crate) fn handle_payout_result(
        &mut self,
        meta: &InputMeta,
        res: &PayoutChannelResult,
        out: &mut Outbox,
    ) {
        let template = PayoutChannelResult::TEMPLATE_ID;
        let Some(slot) = self.payout_slot_of(res.payout_id) else {
            let why = "no such payout";
            return self.reject(
                meta,
                template,
                res.payout_id,
                ReasonCode::UnknownPayout,
                why,
                out,
            );
        };
        let p = &self.state.payouts[slot as usize];
        let channel_id = self.state.payout_book.channels[p.channel_slot as usize].id;
        if u32::from(channel_id) != meta.principal_id {
            let why = "payout belongs to another channel";
            return self.reject(
                meta,
                template,
                res.payout_id,
                ReasonCode::WrongChannel,
                why,
                out,
            );
        }
        self.apply_payout_answer(meta, slot, res, out);
    }

    /// What a channel's answer does to payout `slot` (its channel's own).
    fn apply_payout_answer(
        &mut self,
        meta: &InputMeta,
        slot: u32,
        res: &PayoutChannelResult,
        out: &mut Outbox,
    ) {
        let template = PayoutChannelResult::TEMPLATE_ID;
        let now = self.state.now_ns;
        let p = &self.state.payouts[slot as usize];
        match (res.status, p.state) {
            (PayoutChannelStatus::Paid, PayoutState::Sent) => {
                self.payout_paid(meta, slot, res, out);
            }
            (PayoutChannelStatus::Failed, PayoutState::Sent) => {
                self.payout_failed(meta, slot, ReasonCode::PayoutFailed, out);
            }
            (PayoutChannelStatus::Processing, PayoutState::Sent) => {
                let ch = &self.state.payout_book.channels[p.channel_slot as usize];
                let next = now.saturating_add(u64::from(ch.query_interval_ms) * NS_PER_MS);
                self.state.payouts[slot as usize].due_ns = next;
            }
            // The channel never got it: the same payout again (channels pay a payout id once).
            (PayoutChannelStatus::NotFound, PayoutState::Sent) => {
                self.dispatch_payout(meta, slot, out);
            }
            // A return of a payout still in flight: it was paid, then returned.
            (PayoutChannelStatus::Returned, PayoutState::Sent) => {
                self.payout_paid(meta, slot, res, out);
                self.payout_returned(meta, slot, res, out);
            }
            (PayoutChannelStatus::Returned, PayoutState::Paid) => {
                self.payout_returned(meta, slot, res, out);
            }
            // A repeat or a late answer: a payout is paid (and ends) at most once.
            _ => {
                self.counters.stale_results += 1;
                let why = "payout has ended (or is in review): nothing changes";
                self.reject(
                    meta,
                    template,
                    res.payout_id,
                    ReasonCode::StaleAttempt,
                    why,
                    out,
                );
            }
        }
    }

    /// An admin's review of a payout waiting in Review.
    pub(crate) fn handle_payout_review(
        &mut self,
        meta: &InputMeta,
        m: &PayoutReview,
        out: &mut Outbox,
    ) -> Result<(), Refusal> {
        let slot = self
            .payout_slot_of(m.payout_id)
            .ok_or((ReasonCode::UnknownPayout, "no such payout"))?;
        if self.state.payouts[slot as usize].state != PayoutState::Review {
            return Err((ReasonCode::PayoutNotInReview, "payout is not in review"));
        }
        if m.approve {
            let p = &mut self.state.payouts[slot as usize];
            p.state = PayoutState::Sent;
            p.updated_ns = self.state.now_ns;
            self.queue_payout(slot);
            self.dispatch_payout(meta, slot, out);
        } else {
            self.payout_failed(meta, slot, ReasonCode::PayoutRejected, out);
        }
        Ok(())
    }

    /// The channel paid payout `slot`: the reservation is posted, and amount + fee leave the
    /// platform's bank (the fee through `payout_fees`).
    fn payout_paid(
        &mut self,
        meta: &InputMeta,
        slot: u32,
        res: &PayoutChannelResult,
        out: &mut Outbox,
    ) {
        let p = &self.state.payouts[slot as usize];
        // Paid at most once: only from Sent.
        assert_eq!(p.state, PayoutState::Sent, "a payout is paid once");
        let (c, amount, fee) = (p.currency_slot, p.amount_minor, p.fee_minor);
        let source = self.payout_source(c, p.party_slot);
        let l = &mut self.state.ledger;
        let (in_flight, bank, fees) =
            (l.payouts_in_flight(c), l.platform_bank(c), l.payout_fees(c));
        l.post_reserved(source, in_flight, amount + fee);
        l.post(in_flight, bank, amount);
        l.post(in_flight, fees, fee);
        l.post(fees, bank, fee);
        self.state.payout_book.bank_out_minor[usize::from(c)] += i128::from(amount + fee);
        self.counters.payouts_paid += 1;
        if p.origin == PayoutOrigin::Acquirer {
            self.counters.withdrawals += 1;
        }
        self.state.payouts[slot as usize].channel_ref = res.channel_ref.0;
        self.end_payout(meta, slot, PayoutState::Paid, ReasonCode::None, out);
    }

    /// Payout `slot` failed (the channel) or was rejected (the review): the reservation is
    /// voided, the fee included.
    fn payout_failed(&mut self, meta: &InputMeta, slot: u32, reason: ReasonCode, out: &mut Outbox) {
        let p = &self.state.payouts[slot as usize];
        assert!(p.is_open(), "only an open payout fails");
        let c = p.currency_slot;
        let source = self.payout_source(c, p.party_slot);
        let total = p.total_minor();
        let in_flight = self.state.ledger.payouts_in_flight(c);
        self.state.ledger.void_reserved(source, in_flight, total);
        self.counters.payouts_failed += 1;
        self.end_payout(meta, slot, PayoutState::Failed, reason, out);
    }

    /// Payout `slot` left Review or Sent: its money is no longer in flight; its acquirer (if
    /// any) hears the outcome.
    fn end_payout(
        &mut self,
        meta: &InputMeta,
        slot: u32,
        state: PayoutState,
        reason: ReasonCode,
        out: &mut Outbox,
    ) {
        let now = self.state.now_ns;
        let p = &self.state.payouts[slot as usize];
        let (c, total) = (usize::from(p.currency_slot), p.total_minor());
        let available = self.available_of(slot);
        let p = &mut self.state.payouts[slot as usize];
        p.state = state;
        p.reason = reason;
        p.updated_ns = now;
        p.outcome_available_minor = available;
        let (origin, acquirer) = (p.origin, p.acquirer_id);
        let book = &mut self.state.payout_book;
        book.in_flight_minor[c] -= total;
        book.open -= 1;
        if origin == PayoutOrigin::Acquirer {
            let dest = Dest::acquirer(acquirer, 0);
            let msg = self.withdraw_result(slot, false, meta.seq);
            out.push(dest, meta.seq, &msg);
        }
    }

    /// A paid payout came back: the amount returns to the bank and to the party (not the fee).
    fn payout_returned(
        &mut self,
        meta: &InputMeta,
        slot: u32,
        res: &PayoutChannelResult,
        out: &mut Outbox,
    ) {
        let p = &self.state.payouts[slot as usize];
        assert_eq!(p.state, PayoutState::Paid, "only a paid payout is returned");
        let (c, amount) = (p.currency_slot, p.amount_minor);
        let source = self.payout_source(c, p.party_slot);
        let bank = self.state.ledger.platform_bank(c);
        self.state.ledger.post(bank, source, amount);
        self.state.payout_book.bank_out_minor[usize::from(c)] -= i128::from(amount);
        self.counters.payouts_returned += 1;
        let available = self.available_of(slot);
        let p = &mut self.state.payouts[slot as usize];
        p.state = PayoutState::Returned;
        p.updated_ns = self.state.now_ns;
        p.outcome_available_minor = available;
        if p.origin == PayoutOrigin::Acquirer {
            let msg = WithdrawReturned {
                withdraw_request_id: p.request_id,
                withdrawal_id: p.id,
                merchant_id: p.party_id,
                currency: p.currency,
                amount_minor: p.amount_minor,
                channel_code: res.channel_code,
                available_after_minor: available,
                sequence: meta.seq,
                // Numbered once the input is applied (`out_seq.rs`).
                out_seq: 0,
                retransmission: false,
            };
            out.push(Dest::acquirer(p.acquirer_id, 0), meta.seq, &msg);
        }
    }

    /// The available balance of payout `slot`'s party in its currency now.
    fn available_of(&self, slot: u32) -> i64 {
        let p = &self.state.payouts[slot as usize];
        let source = self.payout_source(p.currency_slot, p.party_slot);
        let spendable = self.state.ledger.account(source).spendable();
        i64::try_from(spendable).expect("a balance within the money limits fits an i64")
    }

    /// The WithdrawResult of ended payout `slot`.
    pub(crate) fn withdraw_result(
        &self,
        slot: u32,
        duplicate: bool,
        sequence: u64,
    ) -> WithdrawResult {
        let p = &self.state.payouts[slot as usize];
        let paid = matches!(p.state, PayoutState::Paid | PayoutState::Returned);
        WithdrawResult {
            withdraw_request_id: p.request_id,
            withdrawal_id: p.id,
            merchant_id: p.party_id,
            currency: p.currency,
            amount_minor: p.amount_minor,
            status: if paid {
                FinalStatus::Succeeded
            } else {
                FinalStatus::Failed
            },
            reason: p.reason,
            available_after_minor: p.outcome_available_minor,
            duplicate,
            sequence,
            // Numbered once the input is applied (`out_seq.rs`).
            out_seq: 0,
            retransmission: false,
        }
    }

    /// After every input: `payouts_in_flight` holds reserved exactly the open payouts' money,
    /// and nothing posted stays in it or in `payout_fees` (O(currencies)).
    pub(crate) fn assert_payouts_in_flight(&self, seq: u64) {
        let l = &self.state.ledger;
        for c in 0..self.state.limits.currencies.len() {
            let in_flight = l.account(l.payouts_in_flight(c as u8));
            let fees = l.account(l.payout_fees(c as u8));
            let expected = self.state.payout_book.in_flight_minor[c];
            assert!(
                expected >= 0
                    && in_flight.credits_pending == expected as u128
                    && in_flight.debits_pending == 0
                    && in_flight.credit_balance() == 0
                    && fees.credit_balance() == 0,
                "payouts in flight broken at sequence {seq}: currency slot {c}, open payouts \
                 {expected}, account {in_flight:?}, fees {fees:?}"
            );
        }
    }

    /// Recomputes the open payouts' money from the table and checks it against the running sums
    /// and the ledger (tests; O(payouts)).
    pub fn verify_payouts(&self) -> Result<(), String> {
        let mut sums = [0i64; crate::state::CURRENCIES_MAX];
        let mut open = 0u64;
        for p in self
            .state
            .payouts
            .iter()
            .filter(|p| !p.vacant && p.is_open())
        {
            sums[usize::from(p.currency_slot)] += p.total_minor();
            open += 1;
        }
        let book = &self.state.payout_book;
        if sums != book.in_flight_minor || open != book.open {
            return Err(format!(
                "open payouts {open} summing {sums:?}, book says {} and {:?}",
                book.open, book.in_flight_minor
            ));
        }
        let l = &self.state.ledger;
        for (c, &sum) in sums
            .iter()
            .enumerate()
            .take(self.state.limits.currencies.len())
        {
            let a = l.account(l.payouts_in_flight(c as u8));
            if a.credits_pending != sum as u128 || a.credit_balance() != 0 {
                return Err(format!(
                    "payouts_in_flight of currency slot {c}: {a:?}, open {sum}"
                ));
            }
        }
        Ok(())
    }
}
