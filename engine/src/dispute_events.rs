//! The labels-and-disputes recorder (docs/DISPUTES.md), on the pattern of `payout_events`: an
//! engine that exports the flow (the exporter's follower) asks the engine to record every label
//! it gives, every dispute stage it applies (with what each party gave or got back) and every
//! review-queue change, since several of them come from inputs whose outputs do not say it all
//! (a label given by a review decision or a fraud chargeback, a receivable recovered on a pulse).
//! Off on the live engine (one predictable branch per change); cleared at the start of each
//! applied input. Not state: snapshots, `STATE_FORMAT` and the state hash do not see it.

use arrayvec::ArrayVec;
use sluice_protocol::{DisputeReason, DisputeStage, MAX_SPLIT_LINES, ReviewAction, SplitLine};

use crate::labels::Label;

/// One dispute stage the engine applied.
#[derive(Debug, Clone, PartialEq)]
pub struct DisputeMoved {
    pub dispute_id: u64,
    pub channel_id: u16,
    pub order_id: u64,
    pub merchant_id: u32,
    pub stage: DisputeStage,
    pub reason: DisputeReason,
    /// ISO 4217 numeric.
    pub currency: u16,
    pub amount_minor: i64,
    pub fee_minor: i64,
    /// Per split line, what it gave back (Opened) or got back (Won); empty for Lost.
    pub reversal: ArrayVec<SplitLine, MAX_SPLIT_LINES>,
    /// Of the amount and the fee, what the parties could not cover and now owe (Opened), or what
    /// a Won cancelled of what they owed.
    pub receivable_minor: i64,
}

/// One change the recorder saw.
#[derive(Debug, Clone, PartialEq)]
pub enum DisputeEvent {
    /// An order's label was set (by `RiskLabel`, a review decision or a fraud chargeback).
    Label(Label),
    /// A dispute stage moved money.
    Dispute(DisputeMoved),
    /// A party's dispute debt was recovered from its available balance (on a pulse).
    Recovered {
        /// The merchant or promoter id.
        party_id: u32,
        /// Whether the party is a promoter (else a merchant).
        promoter: bool,
        currency: u16,
        amount_minor: i64,
    },
    /// An order entered the review queue.
    Queued { order_id: u64, rule_id: u32 },
    /// An admin decided an order of the queue.
    Decided {
        order_id: u64,
        action: ReviewAction,
        /// The refund RefundAndBlock started (0 when none: nothing was left to refund).
        refund_id: u64,
    },
}

/// The recorder the engine carries beside its state.
#[derive(Debug, Clone, Default)]
pub struct DisputeRecorder {
    on: bool,
    events: Vec<DisputeEvent>,
}

impl DisputeRecorder {
    /// Whether recording.
    #[inline(always)]
    pub(crate) fn is_on(&self) -> bool {
        self.on
    }

    /// Out of line: the live engine never gets here.
    #[cold]
    #[inline(never)]
    pub(crate) fn push(&mut self, event: DisputeEvent) {
        debug_assert!(self.on, "recorded only when on");
        self.events.push(event);
    }

    pub(crate) fn clear(&mut self) {
        self.events.clear();
    }
}

impl crate::Engine {
    /// Starts (or stops) recording labels, disputes and review changes (`dispute_events`).
    pub fn record_dispute_events(&mut self, on: bool) {
        self.dispute_events.on = on;
        self.dispute_events.events.clear();
    }

    /// What the last applied input changed, in order.
    pub fn dispute_events(&self) -> &[DisputeEvent] {
        &self.dispute_events.events
    }
}
