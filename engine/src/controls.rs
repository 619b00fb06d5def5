//! Uncertain outcomes of payment attempts (docs/ENGINE.md, "Uncertain outcomes"). An attempt whose
//! deadline passes on a channel that asks (policy Hold or FailOver) becomes Unknown, keeps its
//! reservation, and the channel is asked about it (`ChannelControl` Query) at once and then at
//! every query interval; its answers (`ChannelControlResult`, or a late `ChannelResult`) resolve
//! it, close it, or leave it to be asked again; past the channel's window, FailOver abandons it.
//! Each channel keeps the attempts it is asked about in a control list, soonest question first,
//! walked on every pulse within `CONTROLS_PER_PULSE`. Captures the payment does not keep are in
//! reversals.rs, refunds whose outcome is unknown in refund_queries.rs.

use sluice_protocol::{
    AttemptStatus, ChannelControl, ChannelControlResult, ChannelOp, ChannelOutcome, ChannelResult,
    ChannelStatus, Chars, Message, ReasonCode, UnknownPolicy,
};

use crate::core::Engine;
use crate::input::InputMeta;
use crate::outbox::{Dest, Outbox};
use crate::routing::{self, AttemptOutcome};
use crate::state::{Attempt, AttemptTable, Channel, Slot};

/// What a channel's answer does to an attempt that is no longer pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settle {
    /// The uncertain attempt captured: the payment's capture (or, if it cannot be kept, reversed).
    Captured,
    /// The uncertain attempt will never capture: it ends with this status.
    Ended(AttemptStatus),
    /// The channel said the Unknown attempt is not paid (or not found past the window): close it.
    Close,
    /// The channel confirmed the reversal of a capture.
    Reversed,
    /// An Abandoned attempt (the payment failed over without the channel's word) that the
    /// channel now says will never capture: it leaves the control list with this status.
    AbandonedEnded(AttemptStatus),
    /// TEST ONLY (reversals switched off): an abandoned attempt that captured is left alone, as
    /// Legacy leaves a late capture.
    StopAsking,
    /// A capture the payment does not keep.
    LateCapture,
    /// Not final: the channel is asked again at the next interval.
    AskAgain,
}

/// The time between two questions about one attempt or refund, ns (at least 1 ms, so that a
/// question asked on a pulse is never due again on the same pulse).
pub(crate) fn interval_ns(ch: &Channel) -> u64 {
    u64::from(ch.query_interval_ms.max(1)) * 1_000_000
}

impl Engine {
    /// The deadline of order `slot`'s pending attempt passed on a channel that asks: the attempt
    /// becomes Unknown (its reservation stays), counts as a timeout for the channel's health, and
    /// the channel is asked about it now and at every interval.
    pub(crate) fn attempt_deadline_passed(
        &mut self,
        meta: &InputMeta,
        slot: u32,
        out: &mut Outbox,
    ) {
        let now = self.state.now_ns;
        let o = &mut self.state.orders[slot as usize];
        let attempt = o.attempt_unknown(now);
        let (method, index) = (o.method, o.attempts.len() - 1);
        let channel_slot = u32::from(attempt.channel_slot);
        self.state.channels[channel_slot as usize]
            .attempts_in_flight
            .remove(&mut self.state.orders, Slot::new(slot));
        // Counted once in the channel's statistics: its answer, when it comes, is not counted again.
        let ch = &mut self.state.channels[channel_slot as usize];
        let timed_out = AttemptOutcome::TimedOut;
        let change = routing::record_attempt(ch, method, timed_out, None, attempt.probe, now);
        if let Some(change) = change {
            self.push_health_alert(meta, channel_slot, change, out);
        }
        self.counters.unknown_attempts += 1;
        self.ask(meta, slot, index, ChannelOp::Query, out);
        self.join_controls(slot, index);
    }

    /// Asks the channels about the attempts whose question is due, at most `budget` of them:
    /// Query (Unknown), Close (Closing), Reverse (Reversing); past its window an Unknown or Closing
    /// attempt of a channel that does not hold is abandoned instead.
    pub(crate) fn ask_due_attempts(
        &mut self,
        meta: &InputMeta,
        budget: &mut u32,
        out: &mut Outbox,
    ) {
        let now = self.state.now_ns;
        for channel_slot in 0..self.state.channels.len() {
            while *budget > 0 {
                let Some(head) = self.state.channels[channel_slot].attempt_controls.front() else {
                    break;
                };
                let (slot, index) = AttemptTable::attempt_of(head);
                if self.state.orders[slot as usize].attempts[index].next_ask_ns > now {
                    break;
                }
                *budget -= 1;
                self.ask_again(meta, slot, index, out);
            }
        }
    }

    fn ask_again(&mut self, meta: &InputMeta, slot: u32, index: usize, out: &mut Outbox) {
        let a = self.state.orders[slot as usize].attempts[index];
        let op = match a.status {
            AttemptStatus::Unknown => ChannelOp::Query,
            AttemptStatus::Closing => ChannelOp::Close,
            AttemptStatus::Reversing => ChannelOp::Reverse,
            // Failed over without the channel's word: closed until the channel answers.
            AttemptStatus::Abandoned => ChannelOp::Close,
            other => panic!("attempt {index} of order slot {slot} is asked about while {other:?}"),
        };
        let ch = &self.state.channels[usize::from(a.channel_slot)];
        // Legacy here means the channel was switched to it while the attempt was uncertain: it
        // gets what Legacy always did with silence, failover.
        if matches!(a.status, AttemptStatus::Unknown | AttemptStatus::Closing)
            && self.window_over(&a)
            && ch.unknown_policy != UnknownPolicy::Hold
        {
            return self.abandon(meta, slot, out);
        }
        self.leave_controls(slot, index);
        self.ask(meta, slot, index, op, out);
        self.join_controls(slot, index);
    }

    /// Whether the channel's query window, counted from the attempt's deadline, is over.
    fn window_over(&self, a: &Attempt) -> bool {
        let ch = &self.state.channels[usize::from(a.channel_slot)];
        let window_ns = u64::from(ch.query_window_ms) * 1_000_000;
        self.state.now_ns >= a.deadline_ns.saturating_add(window_ns)
    }

    /// FailOver: the channel stayed silent for its whole window. The attempt is Abandoned, its
    /// reservation voided, and the payment fails over. The channel is still asked to close the
    /// abandoned attempt, now and at every interval, until it answers Closed (or declines it) or
    /// Paid (a capture the payment does not keep, reversed): a capture whose own answer is lost is
    /// found that way too.
    fn abandon(&mut self, meta: &InputMeta, slot: u32, out: &mut Outbox) {
        let o = &self.state.orders[slot as usize];
        let index = o.attempts.len() - 1;
        let a = o.attempts[index];
        self.leave_controls(slot, index);
        let now = self.state.now_ns;
        let o = &mut self.state.orders[slot as usize];
        o.resolve_attempt(AttemptStatus::Abandoned, a.channel_code, a.latency_us, now);
        self.void_attempt_reservation(slot, index);
        self.counters.unknown_attempts = self.counters.unknown_attempts.saturating_sub(1);
        self.ask(meta, slot, index, ChannelOp::Close, out);
        self.join_controls(slot, index);
        self.failover(meta, slot, out);
    }

    /// A channel's answer to a ChannelControl (template 35).
    pub(crate) fn handle_control_result(
        &mut self,
        meta: &InputMeta,
        res: &ChannelControlResult,
        out: &mut Outbox,
    ) {
        if res.op == ChannelOp::RefundQuery {
            return self.handle_refund_query_result(meta, res, out);
        }
        let template = ChannelControlResult::TEMPLATE_ID;
        let (slot, index) = match self.attempt_named(res.order_id, res.attempt) {
            Ok(v) => v,
            Err((reason, why)) => {
                return self.reject(meta, template, res.order_id, reason, why, out);
            }
        };
        let a = self.state.orders[slot as usize].attempts[index];
        let Some(settle) = self.settle_by_status(slot, index, res.status) else {
            self.counters.stale_results += 1;
            let why = "attempt is not being asked about";
            let stale = ReasonCode::StaleAttempt;
            return self.reject(meta, template, res.order_id, stale, why, out);
        };
        if u32::from(a.channel_id) != meta.principal_id {
            let why = "attempt belongs to another channel";
            let wrong = ReasonCode::WrongChannel;
            return self.reject(meta, template, res.order_id, wrong, why, out);
        }
        let answer = (res.channel_code, a.latency_us, &res.channel_ref);
        self.apply_answer(meta, slot, index, settle, answer, out);
    }

    /// A channel's result for an attempt that is no longer pending: the answer to an uncertain
    /// attempt, or a capture the payment does not keep. Refused (the caller rejects) when it is
    /// neither: a stale result, `why` says so.
    pub(crate) fn settled_attempt_result(
        &mut self,
        meta: &InputMeta,
        res: &ChannelResult,
        why: &'static str,
        out: &mut Outbox,
    ) -> Result<(), (ReasonCode, &'static str)> {
        let stale = (ReasonCode::StaleAttempt, why);
        if res.outcome == ChannelOutcome::Succeeded && self.retired_capture_reversed(meta, res) {
            // A capture of a retired order: back into the table, to be reversed below.
            self.order_slot_for_answer(res.order_id);
        }
        let (slot, index) = self
            .attempt_named(res.order_id, res.attempt)
            .map_err(|_| stale)?;
        let a = self.state.orders[slot as usize].attempts[index];
        let uncertain = matches!(a.status, AttemptStatus::Unknown | AttemptStatus::Closing);
        let abandoned = a.status == AttemptStatus::Abandoned && a.next_ask_ns != 0;
        let settle = match res.outcome {
            ChannelOutcome::Declined if abandoned => {
                Settle::AbandonedEnded(AttemptStatus::Declined)
            }
            ChannelOutcome::RetryableError if abandoned => {
                Settle::AbandonedEnded(AttemptStatus::RetryableError)
            }
            ChannelOutcome::Succeeded if uncertain => Settle::Captured,
            ChannelOutcome::Declined if uncertain => Settle::Ended(AttemptStatus::Declined),
            ChannelOutcome::RetryableError if uncertain => {
                Settle::Ended(AttemptStatus::RetryableError)
            }
            ChannelOutcome::Succeeded if self.reverses_late_capture(slot, index) => {
                Settle::LateCapture
            }
            _ => return Err(stale),
        };
        if u32::from(a.channel_id) != meta.principal_id {
            return Err((
                ReasonCode::WrongChannel,
                "attempt belongs to another channel",
            ));
        }
        let answer = (res.channel_code, res.latency_us, &res.channel_ref);
        self.apply_answer(meta, slot, index, settle, answer, out);
        Ok(())
    }

    /// Whether `res` is a capture by an attempt of a retired order that is to be reversed (from
    /// its channel, of an attempt that ended without keeping it).
    fn retired_capture_reversed(&self, meta: &InputMeta, res: &ChannelResult) -> bool {
        let Some(r) = self.receipt_of(res.order_id) else {
            return false;
        };
        let receipt = &self.state.retention.receipts[r as usize];
        let index = usize::from(res.attempt).wrapping_sub(1);
        receipt.revived.is_none()
            && receipt.attempts.get(index).is_some_and(|a| {
                u32::from(a.channel_id) == meta.principal_id
                    && self.late_capture_reversed(a.status, a.channel_slot)
            })
    }

    /// The order slot and attempt index that an answer names, if both exist.
    fn attempt_named(
        &self,
        order_id: u64,
        attempt: u8,
    ) -> Result<(u32, usize), (ReasonCode, &'static str)> {
        let Some(slot) = self.order_slot_of(order_id) else {
            return Err(self.missing_order(order_id));
        };
        let o = &self.state.orders[slot as usize];
        let index = usize::from(attempt).wrapping_sub(1);
        if index >= o.attempts.len() {
            return Err((ReasonCode::UnknownOrder, "no such attempt"));
        }
        Ok((slot, index))
    }

    /// What a ChannelControlResult status does to attempt `index` of order `slot`, or None when
    /// the attempt is not asked about and the answer is no capture to reverse (a stale answer).
    fn settle_by_status(&self, slot: u32, index: usize, status: ChannelStatus) -> Option<Settle> {
        use AttemptStatus as A;
        use ChannelStatus as C;
        let a = &self.state.orders[slot as usize].attempts[index];
        Some(match (a.status, status) {
            (A::Unknown | A::Closing, C::Paid) => Settle::Captured,
            (A::Unknown | A::Closing, C::Closed) => Settle::Ended(A::Closed),
            (A::Unknown, C::NotPaid) => Settle::Close,
            (A::Unknown, C::NotFound) if self.window_over(a) => Settle::Close,
            (A::Reversing, C::Reversed) => Settle::Reversed,
            // An abandoned attempt still being closed (`next_ask_ns` set while it is listed).
            (A::Abandoned, C::Closed) if a.next_ask_ns != 0 => Settle::AbandonedEnded(A::Closed),
            (A::Abandoned, C::Paid) if a.next_ask_ns != 0 => {
                if self.reverses_late_capture(slot, index) {
                    Settle::LateCapture
                } else {
                    Settle::StopAsking
                }
            }
            (A::Abandoned, _) if a.next_ask_ns != 0 => Settle::AskAgain,
            // NotFound, Processing, Error, or an answer that does not fit the question.
            (A::Unknown | A::Closing | A::Reversing, _) => Settle::AskAgain,
            (_, C::Paid) if self.reverses_late_capture(slot, index) => Settle::LateCapture,
            _ => return None,
        })
    }

    /// Applies what an answer (channel code, latency, reference) settles.
    fn apply_answer(
        &mut self,
        meta: &InputMeta,
        slot: u32,
        index: usize,
        settle: Settle,
        (code, latency_us, channel_ref): (u16, u32, &Chars<24>),
        out: &mut Outbox,
    ) {
        match settle {
            Settle::Captured => {
                self.resolve_uncertain(slot, AttemptStatus::Succeeded, code, latency_us);
                self.keep_capture(meta, slot, channel_ref, out);
            }
            Settle::Ended(status) => {
                self.resolve_uncertain(slot, status, code, latency_us);
                self.void_attempt_reservation(slot, index);
                if status == AttemptStatus::Declined {
                    let ctx = self.order_risk_context(&self.state.orders[slot as usize]);
                    self.state.risk.record_decline(&ctx, self.state.now_ns);
                    self.finish_failed(meta, slot, ReasonCode::ChannelDeclined, out);
                } else {
                    self.failover(meta, slot, out);
                }
            }
            Settle::Close => {
                self.leave_controls(slot, index);
                let now = self.state.now_ns;
                self.state.orders[slot as usize].attempt_closing(now);
                self.ask(meta, slot, index, ChannelOp::Close, out);
                self.join_controls(slot, index);
            }
            Settle::Reversed => {
                self.capture_reversal_confirmed(meta, slot, index, channel_ref, out)
            }
            Settle::AbandonedEnded(status) => {
                self.leave_controls(slot, index);
                let now = self.state.now_ns;
                let o = &mut self.state.orders[slot as usize];
                o.abandoned_attempt_ended(index, status, code, now);
            }
            Settle::StopAsking => self.leave_controls(slot, index),
            Settle::LateCapture => {
                if self.state.orders[slot as usize].attempts[index].next_ask_ns != 0 {
                    // An abandoned attempt still being closed: it captured after all.
                    self.leave_controls(slot, index);
                }
                let reason = ReasonCode::LateCapture;
                self.capture_not_kept(meta, slot, index, reason, channel_ref, out);
            }
            Settle::AskAgain => {}
        }
    }

    /// The channel answered for the uncertain last attempt of order `slot`: it leaves the
    /// control list and ends with `status`.
    fn resolve_uncertain(&mut self, slot: u32, status: AttemptStatus, code: u16, latency_us: u32) {
        let index = self.state.orders[slot as usize].attempts.len() - 1;
        self.leave_controls(slot, index);
        let now = self.state.now_ns;
        let o = &mut self.state.orders[slot as usize];
        o.resolve_attempt(status, code, latency_us, now);
        self.counters.unknown_attempts = self.counters.unknown_attempts.saturating_sub(1);
        self.counters.unknown_resolved += 1;
    }

    /// Voids the reservation (ChannelReceivable → Clearing) of attempt `index`, which will never
    /// capture.
    pub(crate) fn void_attempt_reservation(&mut self, slot: u32, index: usize) {
        let o = &self.state.orders[slot as usize];
        let channel_slot = u32::from(o.attempts[index].channel_slot);
        let (c, amount) = (o.currency_slot, o.amount_minor);
        let ledger = &mut self.state.ledger;
        let rx = ledger.channel_receivable(c, channel_slot);
        ledger.void_reserved(rx, ledger.clearing(c), amount);
    }

    /// Sends the channel `op` about attempt `index` of order `slot`.
    pub(crate) fn ask(
        &mut self,
        meta: &InputMeta,
        slot: u32,
        index: usize,
        op: ChannelOp,
        out: &mut Outbox,
    ) {
        let o = &self.state.orders[slot as usize];
        let a = &o.attempts[index];
        let control = ChannelControl {
            op,
            order_id: o.id,
            attempt: index as u8 + 1,
            refund_id: 0,
            channel_id: a.channel_id,
            amount_minor: o.amount_minor,
            currency: o.currency,
            channel_ref: Chars::default(),
            at_ns: self.state.now_ns,
        };
        out.push(Dest::channel(a.channel_id), meta.seq, &control);
    }

    /// Puts attempt `index` of order `slot` at the end of its channel's control list, asked
    /// next one interval from now (or with the last member, if that is later: the list stays in
    /// the order of its questions after a change of interval).
    pub(crate) fn join_controls(&mut self, slot: u32, index: usize) {
        let channel_slot =
            usize::from(self.state.orders[slot as usize].attempts[index].channel_slot);
        let ch = &self.state.channels[channel_slot];
        let mut next = self.state.now_ns.saturating_add(interval_ns(ch));
        if let Some(tail) = ch.attempt_controls.back() {
            let (o, i) = AttemptTable::attempt_of(tail);
            next = next.max(self.state.orders[o as usize].attempts[i].next_ask_ns);
        }
        self.state.orders[slot as usize].attempts[index].next_ask_ns = next;
        self.state.channels[channel_slot]
            .attempt_controls
            .push_back(
                &mut AttemptTable(&mut self.state.orders),
                AttemptTable::member(slot, index),
            );
    }

    /// Takes attempt `index` of order `slot` out of its channel's control list.
    pub(crate) fn leave_controls(&mut self, slot: u32, index: usize) {
        let channel_slot =
            usize::from(self.state.orders[slot as usize].attempts[index].channel_slot);
        self.state.channels[channel_slot].attempt_controls.remove(
            &mut AttemptTable(&mut self.state.orders),
            AttemptTable::member(slot, index),
        );
        self.state.orders[slot as usize].attempts[index].next_ask_ns = 0;
    }
}
