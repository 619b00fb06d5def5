//! Refunds, with the transitions that keep them consistent.

use arrayvec::ArrayVec;
use rkyv::niche::niching::Zero;
use rkyv::with::NicheInto;
use rkyv::{Archive, Deserialize, Serialize};
use sluice_protocol::{MAX_SPLIT_LINES, ReasonCode, RefundState, RiskAction};

use super::inflight::{Links, Member};
use super::slot::Slot;
use super::wire::{ReasonCodeDef, RiskActionDef};

/// Where a refund stands. `RefundState` on the wire, plus the state of a refund refused when it
/// was requested (by risk), which the wire never reports as a refund state.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum RefundStatus {
    /// Refused at request time; nothing was reserved.
    Rejected = 0,
    Pending = RefundState::Pending as u8,
    Succeeded = RefundState::Succeeded as u8,
    Failed = RefundState::Failed as u8,
    /// No answer by the deadline (a channel that asks): its money stays reserved, the channel is
    /// asked (RefundQuery) until it says.
    Unknown = RefundState::Unknown as u8,
}

impl RefundStatus {
    /// The state as `RefundState` reports it (none for a refund refused at request time).
    pub fn to_wire(self) -> Option<RefundState> {
        match self {
            RefundStatus::Rejected => None,
            RefundStatus::Pending => Some(RefundState::Pending),
            RefundStatus::Succeeded => Some(RefundState::Succeeded),
            RefundStatus::Failed => Some(RefundState::Failed),
            RefundStatus::Unknown => Some(RefundState::Unknown),
        }
    }

    /// Whether the refund is at its channel, its outcome not known yet (Pending or Unknown).
    pub fn is_open(self) -> bool {
        matches!(self, RefundStatus::Pending | RefundStatus::Unknown)
    }

    /// Whether the channel has answered (or the refund timed out).
    pub fn is_final(self) -> bool {
        matches!(self, RefundStatus::Succeeded | RefundStatus::Failed)
    }
}

/// A refund.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Refund {
    /// The refund id (`slot_id` of its slot and generation).
    pub id: u64,
    /// The refunded order's id and currency (what answers a resend after the order retired).
    pub order_id: u64,
    pub currency: u16,
    /// The occupancy of its slot: one more than the slot's previous refund's.
    pub generation: u32,
    /// A free slot: its order's receipt expired (or, refused at request time, its window passed).
    pub vacant: bool,
    pub refund_request_id: u64,
    pub request_hash: u64,
    pub acquirer_id: u32,
    pub order_slot: u32,
    pub amount_minor: i64,
    pub state: RefundStatus,
    #[rkyv(with = ReasonCodeDef)]
    pub reason: ReasonCode,
    #[rkyv(with = RiskActionDef)]
    pub risk_action: RiskAction,
    pub risk_rule_id: u32,
    pub session_id: u64,
    /// The channel that took the payment, which returns the money.
    pub channel_slot: u32,
    pub created_ns: u64,
    pub updated_ns: u64,
    /// When the engine next acts on the refund: while Pending, the deadline of the channel's
    /// answer; once Unknown, the time of the next RefundQuery (a refund has no query window, so
    /// its deadline serves nothing else once passed).
    pub deadline_ns: u64,
    pub channel_ref: [u8; 24],
    /// The reversal per split line (same order as the order's lines), and whether each line is
    /// taken from the party's pending (true) or available (false) account.
    pub reversal: ArrayVec<(i64, bool), MAX_SPLIT_LINES>,
    /// The channel fee reserved to come back with the refund (its channel's policy ProRata when
    /// it was reserved; `money::fee_returned_bound`), ChannelReceivable ← FeeExpense, until the
    /// channel answers; 0 under Keep.
    pub fee_return_reserved_minor: i64,
    /// The channel fee the refund returned (`money::fee_returned`), booked when it succeeded.
    pub fee_returned_minor: i64,
    /// `money::fee_returned`'s `refunded_before`: what the payment's earlier refunds, succeeded
    /// or still pending, covered when this one was accepted (so both sides count in request
    /// order, whatever order the answers come in).
    pub fee_before_minor: i64,
    /// The next refund of the same order (None at the end).
    #[rkyv(with = NicheInto<Zero>)]
    pub next_in_order: Option<Slot>,
    /// Links in the channel's in-flight list while Pending, in its query list while Unknown.
    pub in_flight: Links,
}

impl Member for Refund {
    #[inline]
    fn links(&self) -> &Links {
        &self.in_flight
    }
    #[inline]
    fn links_mut(&mut self) -> &mut Links {
        &mut self.in_flight
    }
}

impl Refund {
    /// A refund just requested: not yet reserved (`Rejected` until `accept`), its reversal
    /// computed over the order's split lines.
    pub fn requested(&self) -> bool {
        self.state == RefundStatus::Rejected && self.reason == ReasonCode::None
    }

    /// Refused at request time (by risk): stays `Rejected`, with `reason`.
    pub fn refuse(&mut self, reason: ReasonCode) {
        assert!(self.requested(), "only a new refund is refused");
        assert_ne!(reason, ReasonCode::None, "a refusal has a reason");
        self.reason = reason;
    }

    /// Its money is reserved: the refund is on its way to the channel.
    pub fn accept(&mut self) {
        assert!(self.requested(), "only a new refund is accepted");
        let reversed: i64 = self.reversal.iter().map(|&(part, _)| part).sum();
        assert_eq!(
            reversed, self.amount_minor,
            "the reversal is the whole refund"
        );
        assert!(
            self.reversal.iter().all(|&(part, _)| part >= 0),
            "a negative reversal"
        );
        self.state = RefundStatus::Pending;
    }

    /// Sent to its channel, to be answered by `deadline_ns`.
    pub fn dispatch(&mut self, deadline_ns: u64) {
        assert_eq!(
            self.state,
            RefundStatus::Pending,
            "only a reserved refund is sent"
        );
        assert_eq!(self.deadline_ns, 0, "a refund is sent once");
        self.deadline_ns = deadline_ns;
    }

    /// The deadline passed on a channel that asks: the outcome is unknown, and the next
    /// RefundQuery goes out at `next_ask_ns`.
    pub fn become_unknown(&mut self, next_ask_ns: u64, now_ns: u64) {
        assert_eq!(
            self.state,
            RefundStatus::Pending,
            "only a pending refund's deadline passes"
        );
        self.state = RefundStatus::Unknown;
        self.deadline_ns = next_ask_ns;
        self.updated_ns = now_ns;
    }

    /// The channel answered (or, policy Legacy, the deadline passed): succeeded, or failed for
    /// `reason`.
    pub fn finish(&mut self, succeeded: bool, reason: ReasonCode, now_ns: u64) {
        assert!(self.state.is_open(), "a refund ends once");
        self.updated_ns = now_ns;
        if succeeded {
            self.state = RefundStatus::Succeeded;
        } else {
            assert_ne!(reason, ReasonCode::None, "a failure has a reason");
            self.state = RefundStatus::Failed;
            self.reason = reason;
        }
    }
}
