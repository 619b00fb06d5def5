//! The review queue (docs/DISPUTES.md, section 3): a `review` verdict lets the payment proceed
//! and queues its order, with the payer's keys a decision needs later; an admin's
//! `ReviewDecision` takes it out and becomes a label. RefundAndBlock refunds what is left through
//! the ordinary refund path, in the acquirer's name (`REVIEW_REFUND_BIT | order_id`), and puts
//! the payer on the block list. `ReviewQuery` lists the queue and shows an order's standing.

use rkyv::{Archive, Deserialize, Serialize};
use sluice_protocol::{
    Chars, ConfigListEntry, Ip, LabelKind, LabelSource, ListKind, ListOp, Message, OrderState,
    ReasonCode, RefundRequest, ReviewAction, ReviewDecision, ReviewItem, ReviewQuery, RiskEntity,
    Role,
};
use std::collections::VecDeque;

use crate::config::Refusal;
use crate::core::Engine;
use crate::dispute_events::DisputeEvent;
use crate::input::InputMeta;
use crate::outbox::{Dest, Outbox};

/// The top bit of an engine-initiated refund's `refund_request_id` (the rest is the order id).
pub const REVIEW_REFUND_BIT: u64 = 1 << 63;

/// An order waiting for a decision.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReviewEntry {
    pub order_id: u64,
    /// The rule whose Review verdict queued it.
    pub rule_id: u32,
    pub queued_ns: u64,
    /// The payer's keys (the order keeps them; its receipt does not).
    pub user_id: u64,
    pub device_id: u64,
    pub card_fingerprint: [u8; 16],
}

/// The queue, oldest first.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct ReviewQueue {
    pub entries: VecDeque<ReviewEntry>,
}

impl ReviewQueue {
    /// An empty queue with room for `max` orders (queueing allocates nothing on the hot path).
    pub fn with_capacity(max: u32) -> Self {
        ReviewQueue {
            entries: VecDeque::with_capacity(max as usize),
        }
    }

    /// Restores the room for `max` orders after a snapshot load.
    pub(crate) fn reserve(&mut self, max: u32) {
        let more = (max as usize).saturating_sub(self.entries.len());
        self.entries.reserve_exact(more);
    }

    /// The position of `order_id` in the queue.
    pub fn position(&self, order_id: u64) -> Option<usize> {
        self.entries.iter().position(|e| e.order_id == order_id)
    }
}

impl Engine {
    /// Queues the order in `slot`, just accepted with a Review verdict (a full queue counts it).
    pub(crate) fn enqueue_review(&mut self, slot: u32) {
        let o = &self.state.orders[slot as usize];
        if self.state.review.entries.len() >= self.state.limits.review_queue_max as usize {
            self.counters.review_queue_overflows += 1;
            return;
        }
        let entry = ReviewEntry {
            order_id: o.id,
            rule_id: o.risk_rule_id,
            queued_ns: self.state.now_ns,
            user_id: o.user_id,
            device_id: o.device_id,
            card_fingerprint: o.card_fingerprint,
        };
        self.state.review.entries.push_back(entry);
        if self.dispute_events.is_on() {
            let (order_id, rule_id) = (entry.order_id, entry.rule_id);
            self.dispute_events
                .push(DisputeEvent::Queued { order_id, rule_id });
        }
    }

    /// The review queue (tests, tools).
    pub fn review_queue(&self) -> &ReviewQueue {
        &self.state.review
    }

    /// `ReviewDecision` (answered with ConfigAck, object_id = order_id).
    pub(crate) fn handle_review_decision(
        &mut self,
        meta: &InputMeta,
        m: &ReviewDecision,
        out: &mut Outbox,
    ) {
        let r = self.decide_review(meta, m, out);
        self.config_ack(meta, ReviewDecision::TEMPLATE_ID, m.order_id, r, out);
    }

    fn decide_review(
        &mut self,
        meta: &InputMeta,
        m: &ReviewDecision,
        out: &mut Outbox,
    ) -> Result<(), Refusal> {
        let Some(at) = self.state.review.position(m.order_id) else {
            if !self.order_issued(m.order_id) {
                return Err((ReasonCode::UnknownOrder, "order_id names no order"));
            }
            return Err((
                ReasonCode::NotInReview,
                "the order is not in the review queue",
            ));
        };
        let entry = self.state.review.entries[at];
        let (kind, refund_id) = match m.action {
            ReviewAction::Approve => (LabelKind::Legitimate, 0),
            ReviewAction::RefundAndBlock => {
                (LabelKind::Fraud, self.refund_and_block(meta, &entry, out)?)
            }
        };
        self.state.review.entries.remove(at);
        self.give_label(meta, m.order_id, kind, LabelSource::Review, 0);
        if self.dispute_events.is_on() {
            let (order_id, action) = (m.order_id, m.action);
            self.dispute_events.push(DisputeEvent::Decided {
                order_id,
                action,
                refund_id,
            });
        }
        Ok(())
    }

    /// The payer's block-list entries of a queued order (user, device, card fingerprint; keys
    /// the payment did not carry are left out).
    fn block_entries(entry: &ReviewEntry) -> Vec<ConfigListEntry> {
        let base = ConfigListEntry {
            list: ListKind::Block,
            op: ListOp::Add,
            entity: RiskEntity::User,
            id: 0,
            ip: Ip::default(),
            card_fingerprint: Chars::default(),
            card_bin: 0,
        };
        let mut entries = Vec::with_capacity(3);
        if entry.user_id != 0 {
            entries.push(ConfigListEntry {
                id: entry.user_id,
                ..base
            });
        }
        if entry.device_id != 0 {
            entries.push(ConfigListEntry {
                entity: RiskEntity::Device,
                id: entry.device_id,
                ..base
            });
        }
        if entry.card_fingerprint != [0; 16] {
            entries.push(ConfigListEntry {
                entity: RiskEntity::CardFingerprint,
                card_fingerprint: Chars(entry.card_fingerprint),
                ..base
            });
        }
        entries
    }

    /// RefundAndBlock: checks everything first (nothing changes on a refusal), then starts the
    /// refund of what is left (none for a payment that did not succeed, or is fully refunded)
    /// and blocks the payer. Returns the refund id (0 when none).
    fn refund_and_block(
        &mut self,
        meta: &InputMeta,
        entry: &ReviewEntry,
        out: &mut Outbox,
    ) -> Result<u64, Refusal> {
        let blocks = Self::block_entries(entry);
        self.state.risk.lists_have_room(&blocks)?;
        let refund = self.review_refund(entry.order_id)?;
        let mut refund_id = 0;
        if let Some((acquirer, req)) = refund {
            let mut body = [0u8; 64];
            req.write_body(&mut body);
            let block = RefundRequest::BLOCK_LENGTH;
            let on_behalf = InputMeta {
                session_id: 0,
                principal_id: acquirer,
                role: Role::Acquirer as u8,
                ..*meta
            };
            self.handle_refund(&on_behalf, &body[..req.body_len()], block, &req, out);
            refund_id = self
                .index
                .refunds
                .get(acquirer, req.refund_request_id)
                .map_or(0, |slot| self.state.refunds[slot as usize].id);
        }
        for b in &blocks {
            self.state
                .risk
                .apply_list(b)
                .expect("room for the entries was checked");
        }
        Ok(refund_id)
    }

    /// The refund RefundAndBlock starts for order `order_id`, checked as the acquirer's would
    /// be (None: nothing to refund). An order still in flight is refused: decide again once it
    /// is final.
    fn review_refund(&self, order_id: u64) -> Result<Option<(u32, RefundRequest)>, Refusal> {
        let Some((state, acquirer, request_id, left)) = self.order_refund_facts(order_id) else {
            return Ok(None);
        };
        if state == OrderState::InFlight {
            let why = "the payment is still in flight: decide once it is final";
            return Err((ReasonCode::OrderNotSucceeded, why));
        }
        if state != OrderState::Succeeded || left <= 0 {
            return Ok(None);
        }
        let req = RefundRequest {
            refund_request_id: REVIEW_REFUND_BIT | order_id,
            payment_request_id: request_id,
            amount_minor: left,
        };
        if let Err((_, reason)) = self.validate_refund(acquirer, &req) {
            return Err((reason, "the refund of what is left was refused"));
        }
        Ok(Some((acquirer, req)))
    }

    /// An order's state, acquirer, request id and refundable amount (live, revived or retired).
    fn order_refund_facts(&self, id: u64) -> Option<(OrderState, u32, u64, i64)> {
        if let Some(slot) = self.order_slot_of(id) {
            let o = &self.state.orders[slot as usize];
            return Some((o.state, o.acquirer_id, o.request_id, o.refundable_minor()));
        }
        let r = &self.state.retention.receipts[self.receipt_of(id)? as usize];
        let left = r.amount_minor - r.refunded_minor;
        Some((r.state, r.acquirer_id, r.request_id, left))
    }

    /// `ReviewQuery`: a ReviewItem, or ConfigAck(Rejected).
    pub(crate) fn handle_review_query(
        &mut self,
        meta: &InputMeta,
        q: &ReviewQuery,
        out: &mut Outbox,
    ) {
        let queue = &self.state.review.entries;
        let order_id = match q.order_id {
            0 => match queue.get(q.position as usize) {
                Some(e) => e.order_id,
                None => {
                    let r = Err((ReasonCode::NotFound, "no order at that position"));
                    return self.config_ack(meta, ReviewQuery::TEMPLATE_ID, 0, r, out);
                }
            },
            id => id,
        };
        match self.review_item(meta, order_id) {
            Some(item) if meta.session_id != 0 => {
                let dest = Dest::session(meta.session_id, meta.principal_id);
                out.push(dest, meta.seq, &item);
            }
            Some(_) => {}
            None => {
                let r = if self.order_issued(order_id) {
                    Err((ReasonCode::OrderExpired, "the order and its label are gone"))
                } else {
                    Err((ReasonCode::UnknownOrder, "order_id names no order"))
                };
                self.config_ack(meta, ReviewQuery::TEMPLATE_ID, order_id, r, out);
            }
        }
    }

    /// What a ReviewItem says of order `id`; None when the engine knows nothing of it.
    fn review_item(&self, meta: &InputMeta, id: u64) -> Option<ReviewItem> {
        let queue = &self.state.review.entries;
        let at = queue.iter().position(|e| e.order_id == id);
        let label = self.state.labels.get(id).copied();
        let mut item = ReviewItem {
            order_id: id,
            queue_len: queue.len() as u32,
            in_queue: at.is_some(),
            position: at.unwrap_or(0) as u32,
            sequence: meta.seq,
            ..Default::default()
        };
        if let Some(e) = at.map(|i| &queue[i]) {
            (item.risk_rule_id, item.queued_ns) = (e.rule_id, e.queued_ns);
        }
        if let Some(l) = label {
            (item.label, item.label_source, item.label_ns) = (l.kind, l.source, l.at_ns);
            (item.merchant_id, item.amount_minor, item.currency) =
                (l.merchant_id, l.amount_minor, l.currency);
        }
        let known = self.fill_order_facts(&mut item);
        (known || label.is_some()).then_some(item)
    }

    /// Fills an item's order fields from the order or its receipt; false when both are gone.
    fn fill_order_facts(&self, item: &mut ReviewItem) -> bool {
        let id = item.order_id;
        if let Some(slot) = self.order_slot_of(id) {
            let o = &self.state.orders[slot as usize];
            (item.request_id, item.acquirer_id, item.merchant_id) =
                (o.request_id, o.acquirer_id, o.merchant_id);
            (item.amount_minor, item.currency, item.method, item.state) =
                (o.amount_minor, o.currency, o.method, o.state);
            item.refunded_minor = o.refunded_minor;
        } else if let Some(r) = self.receipt_of(id) {
            let r = &self.state.retention.receipts[r as usize];
            (item.request_id, item.acquirer_id, item.merchant_id) =
                (r.request_id, r.acquirer_id, r.merchant_id);
            (item.amount_minor, item.currency, item.method, item.state) =
                (r.amount_minor, r.currency, r.method, r.state);
            item.refunded_minor = r.refunded_minor;
        } else {
            return false;
        }
        let disputed = self.state.disputes.disputed_of(id);
        item.disputed_minor = disputed;
        item.refunded_minor -= disputed;
        true
    }
}
