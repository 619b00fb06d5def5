//! Refunds whose outcome is unknown (docs/ENGINE.md, "Uncertain outcomes"). A refund whose
//! deadline passes on a channel that asks (policy Hold or FailOver) becomes Unknown: its money
//! stays reserved, and the channel is asked (`ChannelControl` RefundQuery) at once and at every
//! query interval until it answers Refunded or RefundFailed (or sends a late
//! `RefundChannelResult`). There is no window: only the channel's word ends a refund. A channel
//! that answers NotFound never got the refund: it is sent again, the same refund id, which a
//! channel refunds at most once (as WeChat Pay and Alipay do per out_refund_no). Each channel
//! keeps its Unknown refunds in a query list, soonest question first, walked on every pulse within
//! `CONTROLS_PER_PULSE` (shared with the attempts' questions).

use sluice_protocol::{
    ChannelControl, ChannelControlResult, ChannelOp, ChannelStatus, Chars, Message, ReasonCode,
};

use crate::controls::interval_ns;
use crate::core::Engine;
use crate::input::InputMeta;
use crate::outbox::{Dest, Outbox};
use crate::state::{RefundStatus, Slot};

impl Engine {
    /// The deadline of refund `slot` passed on a channel that asks: the refund becomes Unknown
    /// and the channel is asked about it now and at every interval.
    pub(crate) fn refund_deadline_passed(&mut self, meta: &InputMeta, slot: u32, out: &mut Outbox) {
        let channel_slot = self.state.refunds[slot as usize].channel_slot as usize;
        self.state.channels[channel_slot]
            .refunds_in_flight
            .remove(&mut self.state.refunds, Slot::new(slot));
        self.join_refund_queries(slot);
        self.counters.unknown_refunds += 1;
        self.ask_refund(meta, slot, out);
    }

    /// Asks the channels about the Unknown refunds whose question is due, at most `budget`.
    pub(crate) fn ask_due_refunds(&mut self, meta: &InputMeta, budget: &mut u32, out: &mut Outbox) {
        let now = self.state.now_ns;
        for channel_slot in 0..self.state.channels.len() {
            while *budget > 0 {
                let Some(head) = self.state.channels[channel_slot].refund_queries.front() else {
                    break;
                };
                let slot = head.index();
                if self.state.refunds[slot as usize].deadline_ns > now {
                    break;
                }
                *budget -= 1;
                self.state.channels[channel_slot]
                    .refund_queries
                    .remove(&mut self.state.refunds, head);
                self.join_refund_queries(slot);
                self.ask_refund(meta, slot, out);
            }
        }
    }

    /// Puts refund `slot` at the end of its channel's query list, asked next one interval from
    /// now (or with the last member, if later). A Pending refund becomes Unknown here.
    fn join_refund_queries(&mut self, slot: u32) {
        let now = self.state.now_ns;
        let channel_slot = self.state.refunds[slot as usize].channel_slot as usize;
        let ch = &self.state.channels[channel_slot];
        let mut next = now.saturating_add(interval_ns(ch));
        if let Some(tail) = ch.refund_queries.back() {
            next = next.max(self.state.refunds[tail.index() as usize].deadline_ns);
        }
        let r = &mut self.state.refunds[slot as usize];
        if r.state == RefundStatus::Pending {
            r.become_unknown(next, now);
        } else {
            assert_eq!(
                r.state,
                RefundStatus::Unknown,
                "only an open refund is asked about"
            );
            r.deadline_ns = next;
        }
        self.state.channels[channel_slot]
            .refund_queries
            .push_back(&mut self.state.refunds, Slot::new(slot));
    }

    fn ask_refund(&mut self, meta: &InputMeta, slot: u32, out: &mut Outbox) {
        let r = &self.state.refunds[slot as usize];
        let o = &self.state.orders[r.order_slot as usize];
        let channel_id = self.state.channels[r.channel_slot as usize].id;
        let control = ChannelControl {
            op: ChannelOp::RefundQuery,
            order_id: r.order_id,
            attempt: 0,
            refund_id: r.id,
            channel_id,
            amount_minor: r.amount_minor,
            currency: o.currency,
            channel_ref: Chars::default(),
            at_ns: self.state.now_ns,
        };
        out.push(Dest::channel(channel_id), meta.seq, &control);
    }

    /// A channel's answer to a RefundQuery: Refunded and RefundFailed end the refund; any other
    /// answer leaves it to be asked again.
    pub(crate) fn handle_refund_query_result(
        &mut self,
        meta: &InputMeta,
        res: &ChannelControlResult,
        out: &mut Outbox,
    ) {
        let template = ChannelControlResult::TEMPLATE_ID;
        let slot = match self.unknown_refund_of(meta, res.refund_id) {
            Ok(slot) => slot,
            Err((reason, why)) => {
                self.counters.stale_results += u64::from(reason == ReasonCode::StaleAttempt);
                return self.reject(meta, template, res.refund_id, reason, why, out);
            }
        };
        match res.status {
            ChannelStatus::Refunded => {
                self.state.refunds[slot as usize].channel_ref = res.channel_ref.0;
                self.finish_refund(meta, slot, true, ReasonCode::ChannelDeclined, out);
            }
            ChannelStatus::RefundFailed => {
                self.finish_refund(meta, slot, false, ReasonCode::ChannelDeclined, out);
            }
            // The channel never got the refund (or not yet): it is sent again, the same refund
            // (a channel refunds a refund id at most once), and asked about at the next interval.
            ChannelStatus::NotFound => {
                let r = &self.state.refunds[slot as usize];
                let ch = &self.state.channels[r.channel_slot as usize];
                let timeout_ns = u64::from(ch.timeout_ms) * 1_000_000;
                let deadline = self.state.now_ns.saturating_add(timeout_ns);
                let dispatch = self.refund_dispatch(slot, deadline);
                out.push(Dest::channel(dispatch.channel_id), meta.seq, &dispatch);
            }
            _ => {}
        }
    }

    /// The slot of the Unknown refund `refund_id` of the answering channel, or why it is none.
    fn unknown_refund_of(
        &self,
        meta: &InputMeta,
        refund_id: u64,
    ) -> Result<u32, (ReasonCode, &'static str)> {
        let Some(slot) = self.refund_slot_of(refund_id) else {
            return Err(self.missing_refund(refund_id));
        };
        let r = &self.state.refunds[slot as usize];
        if r.state != RefundStatus::Unknown {
            return Err((ReasonCode::StaleAttempt, "refund is not being asked about"));
        }
        let channel_id = self.state.channels[r.channel_slot as usize].id;
        if u32::from(channel_id) != meta.principal_id {
            return Err((
                ReasonCode::WrongChannel,
                "refund belongs to another channel",
            ));
        }
        Ok(slot)
    }

    /// Refund `slot` ends (the channel's answer, or a Legacy timeout): it leaves its channel's
    /// in-flight or query list, and a paid refund enters the channel's book.
    pub(crate) fn refund_leaves_channel(&mut self, slot: u32, succeeded: bool) {
        let r = &self.state.refunds[slot as usize];
        let (channel_slot, state, amount) = (r.channel_slot as usize, r.state, r.amount_minor);
        let currency_slot = usize::from(self.state.orders[r.order_slot as usize].currency_slot);
        let ch = &mut self.state.channels[channel_slot];
        if state == RefundStatus::Unknown {
            ch.refund_queries
                .remove(&mut self.state.refunds, Slot::new(slot));
            self.counters.unknown_refunds = self.counters.unknown_refunds.saturating_sub(1);
        } else {
            ch.refunds_in_flight
                .remove(&mut self.state.refunds, Slot::new(slot));
        }
        if succeeded {
            ch.books[currency_slot].refunded_minor += amount as u128;
        }
    }
}
