//! Retention (docs/ENGINE.md, "Retention"): what outlives an order once it leaves the order
//! table — its receipt — and the queues and free lists that retire orders, reuse their slots and
//! let receipts and refunds go when their windows pass.
//!
//! An order id names a slot for one occupancy: `generation << 32 | (slot + 1)`. A slot's
//! generation goes up each time it takes a new order, so no id is issued twice and an id of a
//! retired order never reaches the slot's new one (generation 0 gives `slot + 1`, the ids of
//! journals written before retention). Refund ids are built the same way over the refund table.

use arrayvec::ArrayVec;
use rkyv::niche::niching::Zero;
use rkyv::with::NicheInto;
use rkyv::{Archive, Deserialize, Serialize};
use sluice_protocol::{
    AttemptStatus, MAX_ATTEMPTS, MAX_SPLIT_LINES, OrderState, PaymentMethod, ReasonCode,
    RiskAction, RoutingStrategy, Scene,
};
use std::collections::VecDeque;

use super::inflight::Links;
use super::order::{Attempt, Line, Order};
use super::slot::Slot;
use super::wire::{
    AttemptStatusDef, OrderStateDef, PaymentMethodDef, ReasonCodeDef, RiskActionDef,
    RoutingStrategyDef, SceneDef,
};

/// The id of the occupancy `generation` of table slot `slot`.
#[inline]
pub fn slot_id(slot: u32, generation: u32) -> u64 {
    (u64::from(generation) << 32) | (u64::from(slot) + 1)
}

/// The slot and generation an id names (None for an id no slot can have).
#[inline]
pub fn id_slot(id: u64) -> Option<(u32, u32)> {
    let low = (id & u64::from(u32::MAX)) as u32;
    low.checked_sub(1).map(|slot| (slot, (id >> 32) as u32))
}

/// One attempt as a receipt keeps it: where it went and how it ended (8 bytes).
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReceiptAttempt {
    pub channel_id: u16,
    pub channel_slot: u16,
    pub channel_code: u16,
    #[rkyv(with = AttemptStatusDef)]
    pub status: AttemptStatus,
}

/// A retired order: what answers a resend of its request (the original ack and result), a query
/// (its final state, amounts, split and refunds), and a refund (its split lines and what refunds
/// took from each). Not kept: the routing explanation, the attempts' times, the payer's risk keys
/// but the user (refund velocity), the session.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Receipt {
    pub order_id: u64,
    pub request_id: u64,
    pub request_hash: u64,
    pub user_id: u64,
    pub amount_minor: i64,
    pub fee_minor: i64,
    pub refunded_minor: i64,
    pub created_ns: u64,
    pub updated_ns: u64,
    pub retired_ns: u64,
    pub acquirer_id: u32,
    pub merchant_slot: u32,
    pub merchant_id: u32,
    pub promoter_id: u32,
    pub risk_rule_id: u32,
    /// Goes up at each retirement into this slot: a queue entry of an earlier one is stale.
    pub generation: u32,
    pub currency: u16,
    pub goods_category: u16,
    pub currency_slot: u8,
    #[rkyv(with = PaymentMethodDef)]
    pub method: PaymentMethod,
    #[rkyv(with = SceneDef)]
    pub scene: Scene,
    #[rkyv(with = OrderStateDef)]
    pub state: OrderState,
    #[rkyv(with = ReasonCodeDef)]
    pub reason: ReasonCode,
    #[rkyv(with = RiskActionDef)]
    pub risk_action: RiskAction,
    #[rkyv(with = RoutingStrategyDef)]
    pub strategy: RoutingStrategy,
    pub refund_count: u8,
    /// The learned risk score at the decision (0 without a model).
    pub risk_score: u8,
    /// A free slot (its receipt expired).
    pub vacant: bool,
    #[rkyv(with = NicheInto<Zero>)]
    pub refund_head: Option<Slot>,
    #[rkyv(with = NicheInto<Zero>)]
    pub refund_tail: Option<Slot>,
    /// The order slot it lives in again while a refund brought it back (then the order is the
    /// truth, and this receipt is brought up to date when it retires again).
    #[rkyv(with = NicheInto<Zero>)]
    pub revived: Option<Slot>,
    pub channel_ref: [u8; 24],
    pub attempts: ArrayVec<ReceiptAttempt, MAX_ATTEMPTS>,
    pub split: ArrayVec<Line, MAX_SPLIT_LINES>,
    pub taken_minor: [i64; MAX_SPLIT_LINES],
}

// The sizes docs/ENGINE.md ("Retention") states: a receipt is about half an order (768 bytes).
const _: () = assert!(size_of::<ReceiptAttempt>() == 8);
const _: () = assert!(size_of::<Receipt>() == 392);
const _: () = assert!(size_of::<Due>() == 16);

impl Receipt {
    /// The receipt of final order `o`, retired at `now_ns` into a slot of `generation`.
    pub fn of(o: &Order, now_ns: u64, generation: u32) -> Receipt {
        assert!(
            matches!(
                o.state,
                OrderState::Succeeded | OrderState::Failed | OrderState::Rejected
            ),
            "only a final order retires ({:?})",
            o.state
        );
        assert_eq!(
            o.refund_pending_minor, 0,
            "an order retires with no refund open"
        );
        Receipt {
            order_id: o.id,
            request_id: o.request_id,
            request_hash: o.request_hash,
            user_id: o.user_id,
            amount_minor: o.amount_minor,
            fee_minor: o.fee_minor,
            refunded_minor: o.refunded_minor,
            created_ns: o.created_ns,
            updated_ns: o.updated_ns,
            retired_ns: now_ns,
            acquirer_id: o.acquirer_id,
            merchant_slot: o.merchant_slot,
            merchant_id: o.merchant_id,
            promoter_id: o.promoter_id,
            risk_rule_id: o.risk_rule_id,
            risk_score: o.risk_score,
            generation,
            currency: o.currency,
            goods_category: o.goods_category,
            currency_slot: o.currency_slot,
            method: o.method,
            scene: o.scene,
            state: o.state,
            reason: o.reason,
            risk_action: o.risk_action,
            strategy: o.strategy,
            refund_count: o.refund_count,
            vacant: false,
            refund_head: o.refund_head,
            refund_tail: o.refund_tail,
            revived: None,
            channel_ref: o.channel_ref,
            attempts: o
                .attempts
                .iter()
                .map(|a| ReceiptAttempt {
                    channel_id: a.channel_id,
                    channel_slot: a.channel_slot,
                    channel_code: a.channel_code,
                    status: a.status,
                })
                .collect(),
            split: o.split.clone(),
            taken_minor: o.taken_minor,
        }
    }

    /// The order this receipt keeps, as the order table would hold it in slot generation
    /// `generation` (its id stays its own): for a resend's answer, a query, and a refund that
    /// brings it back. Its attempts have no times, it has no routing explanation.
    pub fn to_order(&self, generation: u32) -> Order {
        Order {
            id: self.order_id,
            generation,
            vacant: false,
            request_id: self.request_id,
            request_hash: self.request_hash,
            acquirer_id: self.acquirer_id,
            merchant_slot: self.merchant_slot,
            merchant_id: self.merchant_id,
            promoter_id: self.promoter_id,
            amount_minor: self.amount_minor,
            currency: self.currency,
            currency_slot: self.currency_slot,
            method: self.method,
            scene: self.scene,
            goods_category: self.goods_category,
            user_id: self.user_id,
            device_id: 0,
            ip_key: 0,
            card_fingerprint: [0; 16],
            card_bin: 0,
            state: self.state,
            reason: self.reason,
            risk_action: self.risk_action,
            risk_rule_id: self.risk_rule_id,
            risk_score: self.risk_score,
            strategy: self.strategy,
            session_id: 0,
            created_ns: self.created_ns,
            updated_ns: self.updated_ns,
            seq: 0,
            fee_minor: self.fee_minor,
            refunded_minor: self.refunded_minor,
            refund_pending_minor: 0,
            channel_ref: self.channel_ref,
            attempts: self
                .attempts
                .iter()
                .map(|a| Attempt {
                    channel_id: a.channel_id,
                    channel_slot: a.channel_slot,
                    channel_code: a.channel_code,
                    status: a.status,
                    ..Attempt::default()
                })
                .collect(),
            candidates: ArrayVec::new(),
            split: self.split.clone(),
            refund_head: self.refund_head,
            refund_tail: self.refund_tail,
            refund_count: self.refund_count,
            taken_minor: self.taken_minor,
            in_flight: Links::default(),
        }
    }

    /// Whether a refund could still take something (succeeded, not wholly refunded).
    pub fn refundable(&self) -> bool {
        self.state == OrderState::Succeeded && self.refunded_minor < self.amount_minor
    }
}

/// A table slot to look at once `due_ns` has passed, if it still holds the same occupancy.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    pub slot: u32,
    pub generation: u32,
    pub due_ns: u64,
}

/// The retention state: free slots to reuse, and what is due to retire or expire, each queue in
/// the order its entries were pushed (their due times grow with it, but for a changed window).
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub struct Retention {
    /// Vacant order slots, the last freed first.
    pub free_orders: Vec<u32>,
    /// Live orders, each once, at the time to see whether it can retire.
    pub orders_due: VecDeque<Due>,
    pub receipts: Vec<Receipt>,
    pub free_receipts: Vec<u32>,
    /// Receipts at the end of their idempotency window.
    pub receipts_due: VecDeque<Due>,
    /// Receipts kept past it for refunds, at the end of their channel's refund window.
    pub refundable_due: VecDeque<Due>,
    /// Vacant refund slots, the last freed first.
    pub free_refunds: Vec<u32>,
    /// Refunds refused at request time (they belong to no order's list), at the end of their
    /// idempotency window.
    pub refused_refunds_due: VecDeque<Due>,
    /// Vacant withdrawal slots, the last freed first.
    pub free_withdrawals: Vec<u32>,
    /// Withdrawals at the end of their idempotency window.
    pub withdrawals_due: VecDeque<Due>,
}

impl Retention {
    /// Empty, with every table and queue preallocated to its limit (none when orders never
    /// retire).
    pub fn with_limits(l: &super::Limits) -> Retention {
        let mut r = Retention::default();
        r.reserve(l);
        r
    }

    /// Preallocates every table and queue to its limit (after a snapshot is loaded, too).
    pub fn reserve(&mut self, l: &super::Limits) {
        if l.order_retention_ns == 0 {
            return;
        }
        let orders = l.orders_max as usize;
        let receipts = l.receipts_max as usize;
        let refunds = l.refunds_max as usize;
        reserve_to(&mut self.free_orders, orders);
        reserve_deque(&mut self.orders_due, orders);
        reserve_to(&mut self.receipts, receipts);
        reserve_to(&mut self.free_receipts, receipts);
        reserve_deque(&mut self.receipts_due, receipts);
        reserve_deque(&mut self.refundable_due, receipts);
        reserve_to(&mut self.free_refunds, refunds);
        reserve_deque(&mut self.refused_refunds_due, refunds);
        let withdrawals = l.withdrawals_max as usize;
        reserve_to(&mut self.free_withdrawals, withdrawals);
        reserve_deque(&mut self.withdrawals_due, withdrawals);
    }
}

fn reserve_to<T>(v: &mut Vec<T>, max: usize) {
    v.reserve_exact(max.saturating_sub(v.len()));
}

fn reserve_deque<T>(v: &mut VecDeque<T>, max: usize) {
    v.reserve_exact(max.saturating_sub(v.len()));
}
