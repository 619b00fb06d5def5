//! Captures a payment does not keep (docs/ENGINE.md, "Uncertain outcomes"): a capture by an
//! Abandoned or Closed attempt, any capture once the payment has its outcome or by an attempt the
//! payment moved on from, a capture that would overflow a balance. Each is booked ChannelReceivable
//! → ReversalsPayable (the channel holds the payer's money, owed back), the attempt goes Reversing,
//! the acquirer gets `PaymentReversal` (Reversing), and the channel is asked to reverse it
//! (`ChannelControl` Reverse) at once and at every query interval until it confirms; then the
//! booking is undone, ReversalsPayable → ChannelReceivable, the attempt is Reversed and the
//! acquirer gets `PaymentReversal` (Reversed). A reversed capture bears no fee, and the payment's
//! split, balances and `PaymentResult` are never touched.

use sluice_protocol::{
    AttemptStatus, ChannelOp, Chars, OrderState, PaymentReversal, ReasonCode, ReversalState,
    UnknownPolicy,
};

use crate::core::Engine;
use crate::input::InputMeta;
use crate::outbox::{Dest, Outbox};

impl Engine {
    /// Whether a capture reported now for attempt `index` of order `slot` is one the payment does
    /// not keep and the engine reverses. Not for an attempt that may still capture (its capture
    /// is the payment's), nor for one that captured already (a repeated answer). Under policy
    /// Legacy an attempt that timed out, declined or failed stays as it was (a late success is
    /// refused StaleAttempt, as in schema versions 1 and 2).
    pub(crate) fn reverses_late_capture(&self, slot: u32, index: usize) -> bool {
        let a = &self.state.orders[slot as usize].attempts[index];
        self.late_capture_reversed(a.status, a.channel_slot)
    }

    /// Whether a capture by an attempt that ended `status` on channel `channel_slot` is reversed
    /// (`reverses_late_capture`; also asked of a retired order's attempt, before it is brought
    /// back for it).
    pub(crate) fn late_capture_reversed(&self, status: AttemptStatus, channel_slot: u16) -> bool {
        let ch = &self.state.channels[usize::from(channel_slot)];
        let settled = match status {
            AttemptStatus::Abandoned | AttemptStatus::Closed => true,
            AttemptStatus::TimedOut | AttemptStatus::Declined | AttemptStatus::RetryableError => {
                ch.unknown_policy != UnknownPolicy::Legacy
            }
            _ => false,
        };
        settled && self.reversals_enabled()
    }

    /// TEST ONLY (`test-support`): whether captures not kept are reversed (always, unless a test
    /// switched it off to show that a double charge is then found).
    fn reversals_enabled(&self) -> bool {
        #[cfg(feature = "test-support")]
        if self.reversals_disabled {
            return false;
        }
        true
    }

    /// TEST ONLY: leaves captures the payment does not keep unbooked and unreversed (refused
    /// StaleAttempt, as policy Legacy does), so that a test can show its double-charge check
    /// fails without reversals. Not kept across a snapshot.
    #[cfg(feature = "test-support")]
    pub fn disable_reversals_for_tests(&mut self) {
        self.reversals_disabled = true;
    }

    /// The last attempt of order `slot` captured (a ChannelResult success, or Paid to a query or
    /// close): the payment's capture, cleared and split, unless it would overflow a balance; then
    /// the payment fails BalanceOverflow and the capture is reversed.
    pub(crate) fn keep_capture(
        &mut self,
        meta: &InputMeta,
        slot: u32,
        channel_ref: &Chars<24>,
        out: &mut Outbox,
    ) {
        let o = &self.state.orders[slot as usize];
        let attempt = o.attempts.last().expect("a capture is an attempt's");
        let channel_slot = u32::from(attempt.channel_slot);
        // The attempt's amount is still reserved: its reservation is posted or voided below.
        if let Some(fee) = self.capture_fee(slot, channel_slot, true) {
            return self.complete_success(meta, slot, fee, channel_ref, out);
        }
        let index = self.state.orders[slot as usize].attempts.len() - 1;
        self.void_attempt_reservation(slot, index);
        self.finish_failed(meta, slot, ReasonCode::BalanceOverflow, out);
        let reason = ReasonCode::BalanceOverflow;
        self.capture_not_kept(meta, slot, index, reason, channel_ref, out);
    }

    /// Attempt `index` of order `slot` captured and the payment does not keep it: booked, to be
    /// reversed, the acquirer told and the channel asked.
    pub(crate) fn capture_not_kept(
        &mut self,
        meta: &InputMeta,
        slot: u32,
        index: usize,
        reason: ReasonCode,
        channel_ref: &Chars<24>,
        out: &mut Outbox,
    ) {
        let now = self.state.now_ns;
        let o = &mut self.state.orders[slot as usize];
        o.capture_not_kept(index, now);
        let (c, amount) = (o.currency_slot, o.amount_minor);
        let channel_slot = u32::from(o.attempts[index].channel_slot);
        let ledger = &mut self.state.ledger;
        let rx = ledger.channel_receivable(c, channel_slot);
        ledger.post(rx, ledger.reversals_payable(c), amount);
        let book = &mut self.state.channels[channel_slot as usize].books[usize::from(c)];
        book.captured_minor += amount as u128;
        book.not_kept_minor += amount as u128;
        self.counters.late_captures += 1;
        let state = ReversalState::Reversing;
        self.push_reversal(meta, slot, index, state, reason, channel_ref, out);
        self.ask(meta, slot, index, ChannelOp::Reverse, out);
        self.join_controls(slot, index);
    }

    /// The channel confirmed the reversal of attempt `index`'s capture: the payer has the money.
    pub(crate) fn capture_reversal_confirmed(
        &mut self,
        meta: &InputMeta,
        slot: u32,
        index: usize,
        channel_ref: &Chars<24>,
        out: &mut Outbox,
    ) {
        self.leave_controls(slot, index);
        let now = self.state.now_ns;
        let o = &mut self.state.orders[slot as usize];
        o.capture_reversed(index, now);
        let (c, amount) = (o.currency_slot, o.amount_minor);
        // The overflowing capture is the failed payment's last attempt; any other is late.
        let reason = if o.state == OrderState::Failed
            && o.reason == ReasonCode::BalanceOverflow
            && index + 1 == o.attempts.len()
        {
            ReasonCode::BalanceOverflow
        } else {
            ReasonCode::LateCapture
        };
        let channel_slot = u32::from(o.attempts[index].channel_slot);
        let ledger = &mut self.state.ledger;
        let rx = ledger.channel_receivable(c, channel_slot);
        ledger.post(ledger.reversals_payable(c), rx, amount);
        let book = &mut self.state.channels[channel_slot as usize].books[usize::from(c)];
        book.reversed_minor += amount as u128;
        assert!(
            book.reversed_minor <= book.not_kept_minor,
            "a channel reversed more than the captures not kept"
        );
        self.counters.reversals += 1;
        let state = ReversalState::Reversed;
        self.push_reversal(meta, slot, index, state, reason, channel_ref, out);
    }

    /// Tells the acquirer about a capture its payment did not keep, on the payment's session.
    #[allow(clippy::too_many_arguments)]
    fn push_reversal(
        &mut self,
        meta: &InputMeta,
        slot: u32,
        index: usize,
        state: ReversalState,
        reason: ReasonCode,
        channel_ref: &Chars<24>,
        out: &mut Outbox,
    ) {
        let o = &self.state.orders[slot as usize];
        let reversal = PaymentReversal {
            // Numbered once the input is applied (`out_seq.rs`).
            out_seq: 0,
            retransmission: false,
            request_id: o.request_id,
            order_id: o.id,
            attempt: index as u8 + 1,
            channel_id: o.attempts[index].channel_id,
            amount_minor: o.amount_minor,
            currency: o.currency,
            state,
            reason,
            channel_ref: *channel_ref,
            sequence: meta.seq,
            timestamp_ns: self.state.now_ns,
        };
        let dest = Dest::acquirer(o.acquirer_id, o.session_id);
        out.push(dest, meta.seq, &reversal);
    }
}
