//! A payment order and what it owns: its attempts, its routing explanation, its split, and the
//! amounts of its refunds. State transitions are methods that assert what must hold before and
//! after them; the handlers decide, an order keeps itself consistent.
//!
//! An attempt's life (docs/ENGINE.md, "Uncertain outcomes"): Pending, then the channel's answer
//! (Succeeded, Declined, RetryableError), or at its deadline TimedOut (policy Legacy) or Unknown;
//! Unknown goes to Closing, and either to an answer or Closed, or to Abandoned when the channel's
//! window passes under policy FailOver. Only the last attempt can be Pending, Unknown or Closing
//! (it "may capture"), and the order neither fails over nor fails while it is. A capture the order
//! does not keep takes any other attempt to Reversing and then Reversed.

use arrayvec::ArrayVec;
use rkyv::niche::niching::Zero;
use rkyv::with::NicheInto;
use rkyv::{Archive, Deserialize, Serialize};
use sluice_protocol::{
    AttemptStatus, CandidateDecision, MAX_ATTEMPTS, MAX_REFUNDS_PER_ORDER, MAX_ROUTE_CHANNELS,
    MAX_SPLIT_LINES, OrderState, PartyRole, PaymentMethod, ReasonCode, RiskAction, RoutingStrategy,
    Scene, SkipReason,
};

use crate::split::{Shares, refund_shares};

use super::inflight::{Links, Member, Table};
use super::slot::{Slot, Slot16};
use super::wire::{
    AttemptStatusDef, CandidateDecisionDef, OrderStateDef, PartyRoleDef, PaymentMethodDef,
    ReasonCodeDef, RiskActionDef, RoutingStrategyDef, SceneDef, SkipReasonDef,
};

/// One attempt of a payment (48 bytes).
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Attempt {
    pub dispatched_ns: u64,
    pub deadline_ns: u64,
    /// When its channel is next asked about it (Unknown: Query, Closing: Close, Reversing:
    /// Reverse); 0 while it is in no control list.
    pub next_ask_ns: u64,
    pub latency_us: u32,
    pub channel_id: u16,
    pub channel_slot: u16,
    pub channel_code: u16,
    #[rkyv(with = AttemptStatusDef)]
    pub status: AttemptStatus,
    pub probe: bool,
    /// Links in its channel's control list (`Channel::attempt_controls`) while it is asked about.
    pub controls: Links,
}

impl Attempt {
    /// Whether it may still capture the payer's money: no final answer yet (Pending, Unknown,
    /// Closing). The order keeps its reservation for it and does not move on meanwhile.
    #[inline]
    pub fn may_capture(&self) -> bool {
        matches!(
            self.status,
            AttemptStatus::Pending | AttemptStatus::Unknown | AttemptStatus::Closing
        )
    }
}

/// One candidate of a routing explanation (16 bytes).
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Candidate {
    pub score: i64,
    pub channel_id: u16,
    /// None when the merchant lists a channel that is not configured.
    #[rkyv(with = NicheInto<Zero>)]
    pub channel_slot: Option<Slot16>,
    #[rkyv(with = CandidateDecisionDef)]
    pub decision: CandidateDecision,
    #[rkyv(with = SkipReasonDef)]
    pub skip_reason: SkipReason,
    pub rank: u8,
}

/// One split line, with where its money sits (16 bytes). The party's id is `parties[party_slot].id`.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Line {
    pub amount_minor: i64,
    /// The party for merchants and promoters, None for platform and fee lines.
    #[rkyv(with = NicheInto<Zero>)]
    pub party_slot: Option<Slot>,
    /// Settlement day of this line's income (parties only): days since the epoch in the
    /// configured offset (a u16 lasts until the year 2149).
    /// Or, when `held`, the day it was earned: its party's schedule was `Manual`, so it waits in
    /// the party's `held` queue for a `ReleaseSettlement` (docs/PAYOUTS.md, section 3).
    pub due_day: u16,
    #[rkyv(with = PartyRoleDef)]
    pub role: PartyRole,
    /// Held for a manual release (it fills the byte the layout pads anyway).
    pub held: bool,
}

// The compact order of docs/ENGINE.md: its per-attempt, per-candidate and per-line records. An
// attempt grew from 32 to 48 bytes with uncertain outcomes (its next question and its links in
// the control list): an attempt, not its order, is what a channel is asked about, since an order
// may have an attempt Unknown on one channel and a capture to reverse on another.
const _: () = assert!(size_of::<Attempt>() == 48);
const _: () = assert!(size_of::<Candidate>() == 16);
const _: () = assert!(size_of::<Line>() == 16);
const _: () = assert!(size_of::<Order>() == 768);

/// A payment order.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Order {
    /// The order id (`slot_id` of its slot and generation when it was created; a revived order
    /// keeps its own in another slot).
    pub id: u64,
    /// The occupancy of its slot (`slot_id`): one more than the slot's previous order's.
    pub generation: u32,
    /// A free slot: its order retired.
    pub vacant: bool,
    pub request_id: u64,
    pub request_hash: u64,
    pub acquirer_id: u32,
    pub merchant_slot: u32,
    pub merchant_id: u32,
    pub promoter_id: u32,
    pub amount_minor: i64,
    pub currency: u16,
    pub currency_slot: u8,
    #[rkyv(with = PaymentMethodDef)]
    pub method: PaymentMethod,
    #[rkyv(with = SceneDef)]
    pub scene: Scene,
    pub goods_category: u16,
    pub user_id: u64,
    pub device_id: u64,
    pub ip_key: u128,
    pub card_fingerprint: [u8; 16],
    pub card_bin: u32,
    #[rkyv(with = OrderStateDef)]
    pub state: OrderState,
    #[rkyv(with = ReasonCodeDef)]
    pub reason: ReasonCode,
    #[rkyv(with = RiskActionDef)]
    pub risk_action: RiskAction,
    pub risk_rule_id: u32,
    /// The learned risk score at the decision (docs/RISK_SCORE.md; 0 without a model).
    pub risk_score: u8,
    #[rkyv(with = RoutingStrategyDef)]
    pub strategy: RoutingStrategy,
    pub session_id: u64,
    pub created_ns: u64,
    pub updated_ns: u64,
    pub seq: u64,
    pub fee_minor: i64,
    pub refunded_minor: i64,
    pub refund_pending_minor: i64,
    pub channel_ref: [u8; 24],
    pub attempts: ArrayVec<Attempt, MAX_ATTEMPTS>,
    pub candidates: ArrayVec<Candidate, MAX_ROUTE_CHANNELS>,
    pub split: ArrayVec<Line, MAX_SPLIT_LINES>,
    /// This order's refunds, oldest first: a list linked through `Refund::next_in_order`.
    #[rkyv(with = NicheInto<Zero>)]
    pub refund_head: Option<Slot>,
    #[rkyv(with = NicheInto<Zero>)]
    pub refund_tail: Option<Slot>,
    /// Refunds reserved against the order, failed ones included (at most MAX_REFUNDS_PER_ORDER).
    pub refund_count: u8,
    /// What refunds have taken from each split line (same index as `split`), reserved or
    /// refunded: a failed refund gives its shares back. Each is within 0..=its line, and they sum
    /// to `refunded_minor + refund_pending_minor`.
    pub taken_minor: [i64; MAX_SPLIT_LINES],
    /// Links in the channel's in-flight list while an attempt is pending.
    pub in_flight: Links,
}

impl Member for Order {
    #[inline]
    fn links(&self) -> &Links {
        &self.in_flight
    }
    #[inline]
    fn links_mut(&mut self) -> &mut Links {
        &mut self.in_flight
    }
}

impl Order {
    /// The attempt awaiting its channel's answer, if any (only ever the last one).
    #[inline]
    pub fn pending_attempt(&self) -> Option<&Attempt> {
        self.attempts
            .last()
            .filter(|a| a.status == AttemptStatus::Pending)
    }

    /// The attempt that may still capture (Pending, Unknown or Closing), if any: only ever the
    /// last one.
    #[inline]
    pub fn open_attempt(&self) -> Option<&Attempt> {
        self.attempts.last().filter(|a| a.may_capture())
    }

    /// What can still be refunded: captured less refunded less being refunded.
    #[inline]
    pub fn refundable_minor(&self) -> i64 {
        self.amount_minor - self.refunded_minor - self.refund_pending_minor
    }

    /// What refunds have not taken from each split line yet (same index as `split`).
    pub fn line_remainders(&self) -> ArrayVec<i64, MAX_SPLIT_LINES> {
        self.split
            .iter()
            .zip(&self.taken_minor)
            .map(|(line, taken)| line.amount_minor - taken)
            .collect()
    }

    /// The shares of a refund of `amount_minor` per split line (`split::refund_shares` over the
    /// lines' unrefunded remainders). None unless 0 < amount <= refundable.
    pub fn refund_shares(&self, amount_minor: i64) -> Option<Shares> {
        if amount_minor <= 0 || amount_minor > self.refundable_minor() {
            return None;
        }
        refund_shares(&self.line_remainders(), amount_minor)
    }

    /// Refused before any attempt (by risk, or for want of a channel).
    #[inline]
    pub fn reject(&mut self, reason: ReasonCode) {
        assert_eq!(
            self.state,
            OrderState::InFlight,
            "only a new order is rejected"
        );
        assert!(
            self.attempts.is_empty(),
            "a dispatched order is not rejected"
        );
        assert_ne!(reason, ReasonCode::None, "a rejection has a reason");
        self.state = OrderState::Rejected;
        self.reason = reason;
    }

    /// A new attempt went out to its channel.
    #[inline]
    pub fn begin_attempt(&mut self, attempt: Attempt, now_ns: u64) {
        assert_eq!(
            self.state,
            OrderState::InFlight,
            "attempts of a final order"
        );
        assert!(
            self.open_attempt().is_none(),
            "one attempt at a time: none while the last may capture"
        );
        assert_eq!(attempt.status, AttemptStatus::Pending);
        assert!(!self.attempts.is_full(), "attempts beyond MAX_ATTEMPTS");
        self.attempts.push(attempt);
        self.updated_ns = now_ns;
    }

    /// Closes the pending attempt with `status` (its channel's answer, or a timeout); returns it.
    #[inline]
    pub fn close_attempt(
        &mut self,
        status: AttemptStatus,
        channel_code: u16,
        latency_us: u32,
        now_ns: u64,
    ) -> Attempt {
        assert_eq!(
            self.state,
            OrderState::InFlight,
            "attempts of a final order"
        );
        assert_ne!(
            status,
            AttemptStatus::Pending,
            "an attempt closes with an outcome"
        );
        let attempt = self
            .attempts
            .last_mut()
            .filter(|a| a.status == AttemptStatus::Pending)
            .expect("the attempt to close is pending (its result or timeout was checked)");
        attempt.status = status;
        attempt.channel_code = channel_code;
        attempt.latency_us = latency_us;
        let closed = *attempt;
        self.updated_ns = now_ns;
        closed
    }

    /// The pending attempt's deadline passed on a channel that asks (policy Hold or FailOver):
    /// its outcome is unknown. Returns it.
    #[inline]
    pub fn attempt_unknown(&mut self, now_ns: u64) -> Attempt {
        assert_eq!(
            self.state,
            OrderState::InFlight,
            "attempts of a final order"
        );
        let attempt = self
            .attempts
            .last_mut()
            .filter(|a| a.status == AttemptStatus::Pending)
            .expect("only a pending attempt's deadline passes");
        attempt.status = AttemptStatus::Unknown;
        let unknown = *attempt;
        self.updated_ns = now_ns;
        unknown
    }

    /// The abandoned attempt `index` (the payment failed over without the channel's word) will
    /// never capture after all: the channel closed or declined it.
    #[inline]
    pub fn abandoned_attempt_ended(
        &mut self,
        index: usize,
        status: AttemptStatus,
        channel_code: u16,
        now_ns: u64,
    ) {
        assert!(
            matches!(
                status,
                AttemptStatus::Closed | AttemptStatus::Declined | AttemptStatus::RetryableError
            ),
            "an abandoned attempt cannot end {status:?}"
        );
        let attempt = &mut self.attempts[index];
        assert_eq!(
            attempt.status,
            AttemptStatus::Abandoned,
            "only an abandoned attempt"
        );
        attempt.status = status;
        attempt.channel_code = channel_code;
        self.updated_ns = now_ns;
    }

    /// The channel said the Unknown attempt is not paid (or not found past its window): a close
    /// is asked.
    #[inline]
    pub fn attempt_closing(&mut self, now_ns: u64) {
        let attempt = self
            .attempts
            .last_mut()
            .filter(|a| a.status == AttemptStatus::Unknown)
            .expect("only an Unknown attempt is closed");
        attempt.status = AttemptStatus::Closing;
        self.updated_ns = now_ns;
    }

    /// The last attempt, Unknown or Closing, ends with `status`: the channel's answer (Succeeded,
    /// Declined, RetryableError, Closed) or Abandoned (its window passed, policy FailOver).
    #[inline]
    pub fn resolve_attempt(
        &mut self,
        status: AttemptStatus,
        channel_code: u16,
        latency_us: u32,
        now_ns: u64,
    ) -> Attempt {
        assert_eq!(
            self.state,
            OrderState::InFlight,
            "attempts of a final order"
        );
        assert!(
            matches!(
                status,
                AttemptStatus::Succeeded
                    | AttemptStatus::Declined
                    | AttemptStatus::RetryableError
                    | AttemptStatus::Closed
                    | AttemptStatus::Abandoned
            ),
            "an uncertain attempt cannot end {status:?}"
        );
        let attempt = self
            .attempts
            .last_mut()
            .filter(|a| matches!(a.status, AttemptStatus::Unknown | AttemptStatus::Closing))
            .expect("the attempt to resolve is Unknown or Closing");
        attempt.status = status;
        attempt.channel_code = channel_code;
        attempt.latency_us = latency_us;
        let resolved = *attempt;
        self.updated_ns = now_ns;
        resolved
    }

    /// Attempt `index` captured, and the order does not keep that capture: it is to be reversed.
    /// Never the capture the order was paid with, never one it may still keep.
    #[inline]
    pub fn capture_not_kept(&mut self, index: usize, now_ns: u64) {
        let last = self.attempts.len() - 1;
        let paid_by_it = self.state == OrderState::Succeeded && index == last;
        let attempt = &mut self.attempts[index];
        assert!(
            !paid_by_it
                && !matches!(
                    attempt.status,
                    AttemptStatus::Pending
                        | AttemptStatus::Unknown
                        | AttemptStatus::Closing
                        | AttemptStatus::Reversing
                        | AttemptStatus::Reversed
                ),
            "attempt {index} ({:?}) of an order {:?} is not a capture to reverse",
            attempt.status,
            self.state
        );
        assert!(
            attempt.status != AttemptStatus::Succeeded || self.state == OrderState::Failed,
            "a succeeded attempt is reversed only when its order failed (a capture that overflows)"
        );
        attempt.status = AttemptStatus::Reversing;
        self.updated_ns = now_ns;
    }

    /// The channel confirmed the reversal of attempt `index`'s capture.
    #[inline]
    pub fn capture_reversed(&mut self, index: usize, now_ns: u64) {
        let attempt = &mut self.attempts[index];
        assert_eq!(
            attempt.status,
            AttemptStatus::Reversing,
            "only a capture being reversed is reversed"
        );
        attempt.status = AttemptStatus::Reversed;
        self.updated_ns = now_ns;
    }

    /// The last attempt succeeded: the order is paid with `fee` and split into `split`.
    #[inline]
    pub fn succeed(
        &mut self,
        fee_minor: i64,
        split: ArrayVec<Line, MAX_SPLIT_LINES>,
        channel_ref: [u8; 24],
        now_ns: u64,
    ) {
        assert_eq!(
            self.state,
            OrderState::InFlight,
            "a final order succeeds again"
        );
        assert!(
            self.attempts
                .last()
                .is_some_and(|a| a.status == AttemptStatus::Succeeded),
            "an order succeeds by its last attempt"
        );
        assert!(fee_minor >= 0, "a negative fee");
        // Lines are never negative (`split::split` builds them so); they must be the whole amount.
        let total: i64 = split.iter().map(|l| l.amount_minor).sum();
        assert_eq!(total, self.amount_minor, "the split is the whole amount");
        assert!(
            self.taken_minor == [0; MAX_SPLIT_LINES] && self.refund_count == 0,
            "refunds before the payment"
        );
        self.state = OrderState::Succeeded;
        self.fee_minor = fee_minor;
        self.split = split;
        self.channel_ref = channel_ref;
        self.updated_ns = now_ns;
    }

    /// No attempt succeeded and none is left (or the channel declined for good).
    #[inline]
    pub fn fail(&mut self, reason: ReasonCode, now_ns: u64) {
        assert_eq!(
            self.state,
            OrderState::InFlight,
            "a final order fails again"
        );
        assert!(
            self.open_attempt().is_none(),
            "an order fails while an attempt may capture"
        );
        assert_ne!(reason, ReasonCode::None, "a failure has a reason");
        self.state = OrderState::Failed;
        self.reason = reason;
        self.updated_ns = now_ns;
    }

    /// A refund of `amount` (in `refund`) is reserved against the order, taking `shares` from its
    /// split lines. Returns the order's previous last refund, whose `next_in_order` the caller
    /// links to `refund`.
    #[inline]
    pub fn reserve_refund(
        &mut self,
        refund: Slot,
        amount_minor: i64,
        shares: &[i64],
        now_ns: u64,
    ) -> Option<Slot> {
        assert_eq!(
            self.state,
            OrderState::Succeeded,
            "refunds of an unpaid order"
        );
        assert!(
            amount_minor > 0 && amount_minor <= self.refundable_minor(),
            "a refund of {amount_minor} exceeds the refundable {}",
            self.refundable_minor()
        );
        assert!(
            usize::from(self.refund_count) < MAX_REFUNDS_PER_ORDER,
            "refunds beyond MAX_REFUNDS_PER_ORDER"
        );
        let remainders = self.line_remainders();
        assert_eq!(shares.len(), remainders.len(), "a share per split line");
        assert_eq!(
            shares.iter().sum::<i64>(),
            amount_minor,
            "the shares are the whole refund"
        );
        for (i, (&share, &remainder)) in shares.iter().zip(&remainders).enumerate() {
            // A share past its line's remainder would take back more than the party received.
            assert!(
                (0..=remainder).contains(&share),
                "line {i}: a share of {share} with {remainder} left to refund"
            );
            // The refund that completes the payment takes exactly what is left of every line.
            assert!(
                amount_minor < self.refundable_minor() || share == remainder,
                "line {i}: the last refund takes {share} of the {remainder} left"
            );
            self.taken_minor[i] += share;
        }
        self.refund_pending_minor += amount_minor;
        self.refund_count += 1;
        let previous = self.refund_tail.replace(refund);
        if previous.is_none() {
            self.refund_head = Some(refund);
        }
        self.updated_ns = now_ns;
        self.assert_refunds_bounded();
        previous
    }

    /// A failed refund gives back the `shares` it took from the split lines; `release_refund`
    /// follows at once.
    #[inline]
    pub fn return_refund_shares(&mut self, shares: &[i64]) {
        assert_eq!(
            self.state,
            OrderState::Succeeded,
            "refunds of an unpaid order"
        );
        assert_eq!(shares.len(), self.split.len(), "a share per split line");
        for (i, &share) in shares.iter().enumerate() {
            assert!(
                share >= 0 && share <= self.taken_minor[i],
                "line {i}: {share} given back of {} taken",
                self.taken_minor[i]
            );
            self.taken_minor[i] -= share;
        }
    }

    /// A reserved refund of `amount` ended: refunded when it `succeeded`, released otherwise (after
    /// `return_refund_shares`).
    #[inline]
    pub fn release_refund(&mut self, amount_minor: i64, succeeded: bool, now_ns: u64) {
        assert!(
            amount_minor > 0 && amount_minor <= self.refund_pending_minor,
            "a refund of {amount_minor} ends with {} being refunded",
            self.refund_pending_minor
        );
        self.refund_pending_minor -= amount_minor;
        if succeeded {
            self.refunded_minor += amount_minor;
        }
        self.updated_ns = now_ns;
        self.assert_refunds_bounded();
    }

    fn assert_refunds_bounded(&self) {
        assert!(
            self.refunded_minor >= 0
                && self.refund_pending_minor >= 0
                && self.refunded_minor <= self.amount_minor - self.refund_pending_minor,
            "refunded {} + being refunded {} exceed the amount {}",
            self.refunded_minor,
            self.refund_pending_minor,
            self.amount_minor
        );
        // Per line: each within its line, and together what is refunded or being refunded.
        let mut taken = 0i64;
        for (i, line) in self.split.iter().enumerate() {
            assert!(
                (0..=line.amount_minor).contains(&self.taken_minor[i]),
                "line {i}: refunds took {} of {}",
                self.taken_minor[i],
                line.amount_minor
            );
            taken += self.taken_minor[i];
        }
        assert!(
            self.taken_minor[self.split.len()..].iter().all(|&t| t == 0),
            "refunds took from a line the split does not have"
        );
        assert_eq!(
            taken,
            self.refunded_minor + self.refund_pending_minor,
            "the lines' refunds are the order's"
        );
    }
}

/// Every order's attempts as one table, for the channels' control lists: attempt `i` (0-based)
/// of the order in slot `s` is member `s × MAX_ATTEMPTS + i` (orders_max is at most 50 million,
/// so every member fits a slot).
pub struct AttemptTable<'a>(pub &'a mut [Order]);

impl AttemptTable<'_> {
    /// The member that stands for attempt `index` of the order in `order_slot`.
    #[inline]
    pub fn member(order_slot: u32, index: usize) -> Slot {
        assert!(index < MAX_ATTEMPTS, "attempt index beyond MAX_ATTEMPTS");
        Slot::new(order_slot * MAX_ATTEMPTS as u32 + index as u32)
    }

    /// The order slot and attempt index a member stands for.
    #[inline]
    pub fn attempt_of(member: Slot) -> (u32, usize) {
        let m = member.index();
        (m / MAX_ATTEMPTS as u32, (m % MAX_ATTEMPTS as u32) as usize)
    }
}

impl Table for AttemptTable<'_> {
    #[inline]
    fn links_of(&self, slot: Slot) -> &Links {
        let (order, index) = AttemptTable::attempt_of(slot);
        &self.0[order as usize].attempts[index].controls
    }
    #[inline]
    fn links_of_mut(&mut self, slot: Slot) -> &mut Links {
        let (order, index) = AttemptTable::attempt_of(slot);
        &mut self.0[order as usize].attempts[index].controls
    }
}
