//! Disputes (chargebacks; docs/DISPUTES.md, section 2): `DisputeNotice` from the channel that
//! took the payment (or an admin), idempotent on (channel, dispute id). Opened reverses the
//! split like a refund and charges the merchant the channel's dispute fee; Won gives it all back;
//! Lost makes it final. The money moves are in `dispute_money`.

use arrayvec::ArrayVec;
use rkyv::{Archive, Deserialize, Serialize};
use sluice_protocol::{
    DecodeError, DisputeNotice, DisputeReason, DisputeStage, LabelKind, LabelSource,
    MAX_SPLIT_LINES, Message, OrderState, PartyRole, ReasonCode, ReviewDecision, ReviewQuery,
    RiskLabel, Role,
};

use crate::config::Refusal;
use crate::core::Engine;
use crate::input::InputMeta;
use crate::outbox::Outbox;
use crate::state::wire::{DisputeReasonDef, DisputeStageDef, PartyRoleDef};
use crate::state::{CURRENCIES_MAX, Order};

/// Most debts looked at per pulse to recover them from available balances.
pub(crate) const RECOVER_PER_PULSE: usize = 16;

/// One line of a dispute's reversal: a split line's share, or (last) the merchant's fee.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct DisputeLine {
    /// The ledger account it was debited from (a party's available balance, platform revenue,
    /// fee expense).
    pub account: u32,
    /// The party it belongs to (None for the platform's and the channel fee's lines).
    pub party_slot: Option<u32>,
    #[rkyv(with = PartyRoleDef)]
    pub role: PartyRole,
    pub party_id: u32,
    /// Its share of the amount (or the fee).
    pub part_minor: i64,
    /// Of the share, what the party could not cover when the dispute opened (a receivable).
    pub owed_minor: i64,
    /// The fee line (not a split line).
    pub fee: bool,
}

/// One dispute.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Dispute {
    pub dispute_id: u64,
    pub channel_id: u16,
    pub channel_slot: u16,
    pub order_id: u64,
    pub attempt: u8,
    #[rkyv(with = DisputeStageDef)]
    pub stage: DisputeStage,
    #[rkyv(with = DisputeReasonDef)]
    pub reason: DisputeReason,
    pub currency: u16,
    pub currency_slot: u8,
    pub amount_minor: i64,
    pub fee_minor: i64,
    pub acquirer_id: u32,
    pub merchant_id: u32,
    pub request_id: u64,
    /// Per split line (same index as the order's split), then the fee line.
    pub lines: ArrayVec<DisputeLine, { MAX_SPLIT_LINES + 1 }>,
    pub opened_seq: u64,
    pub updated_seq: u64,
    pub updated_ns: u64,
}

impl Dispute {
    fn key(&self) -> (u16, u64) {
        (self.channel_id, self.dispute_id)
    }

    /// The split lines' shares (without the fee line).
    pub fn shares(&self) -> ArrayVec<i64, MAX_SPLIT_LINES> {
        self.lines
            .iter()
            .filter(|l| !l.fee)
            .map(|l| l.part_minor)
            .collect()
    }
}

/// What a party owes for disputes in one currency.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Debt {
    pub party_slot: u32,
    pub currency_slot: u8,
    pub owed_minor: i64,
}

/// How long an ended dispute (Won or Lost) is kept after its last change, so that a channel's
/// resend of its notices is still answered as a repeat: longer than any scheme's dispute window
/// (120 days). Then the day step lets it go (`Disputes::evict_ended`), so that the table holds
/// the open disputes and those of the last 180 days, not every dispute ever.
pub const ENDED_KEEP_NS: u64 = 180 * 86_400 * 1_000_000_000;

/// The disputes table (sorted by channel and dispute id) and the parties' debts.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct Disputes {
    pub entries: Vec<Dispute>,
    /// Debts above 0, sorted by (party slot, currency slot).
    pub debts: Vec<Debt>,
    /// Per currency slot: amount + fee of the open disputes (`disputes_pending`, `dispute_holds`).
    pub open_minor: [i64; CURRENCIES_MAX],
    /// Per currency slot: what parties owe (`dispute_receivable`).
    pub owed_minor: [i64; CURRENCIES_MAX],
    /// Where the next pulse's recovery starts in `debts`.
    pub recover_cursor: u32,
}

impl Disputes {
    fn find(&self, key: (u16, u64)) -> Result<usize, usize> {
        self.entries.binary_search_by_key(&key, Dispute::key)
    }

    /// The dispute `dispute_id` of channel `channel_id`.
    pub fn get(&self, channel_id: u16, dispute_id: u64) -> Option<&Dispute> {
        let i = self.find((channel_id, dispute_id)).ok()?;
        Some(&self.entries[i])
    }

    /// The amount of order `order_id` under dispute or lost to disputes.
    pub fn disputed_of(&self, order_id: u64) -> i64 {
        self.entries
            .iter()
            .filter(|d| d.order_id == order_id && d.stage != DisputeStage::Won)
            .map(|d| d.amount_minor)
            .sum()
    }

    /// Lets go of the disputes that ended more than `ENDED_KEEP_NS` before `now_ns` (open ones
    /// stay, whatever their age); returns how many. Their money moved when they ended: nothing
    /// else refers to them. One pass over the table, once a day.
    pub(crate) fn evict_ended(&mut self, now_ns: u64) -> usize {
        let before = self.entries.len();
        self.entries.retain(|d| {
            d.stage == DisputeStage::Opened || d.updated_ns.saturating_add(ENDED_KEEP_NS) > now_ns
        });
        before - self.entries.len()
    }

    /// What party `party_slot` owes in currency slot `c`.
    pub fn owed(&self, party_slot: u32, c: u8) -> i64 {
        self.debts
            .binary_search_by_key(&(party_slot, c), |d| (d.party_slot, d.currency_slot))
            .map_or(0, |i| self.debts[i].owed_minor)
    }

    /// Adds `delta` to what the party owes (a debt of 0 leaves the list).
    pub(crate) fn add_debt(&mut self, party_slot: u32, c: u8, delta: i64) {
        if delta == 0 {
            return;
        }
        self.owed_minor[usize::from(c)] += delta;
        let key = (party_slot, c);
        match self
            .debts
            .binary_search_by_key(&key, |d| (d.party_slot, d.currency_slot))
        {
            Ok(i) => {
                self.debts[i].owed_minor += delta;
                assert!(self.debts[i].owed_minor >= 0, "a debt below 0");
                if self.debts[i].owed_minor == 0 {
                    self.debts.remove(i);
                }
            }
            Err(i) => {
                assert!(delta > 0, "a new debt is owed");
                let debt = Debt {
                    party_slot,
                    currency_slot: c,
                    owed_minor: delta,
                };
                self.debts.insert(i, debt);
            }
        }
    }
}

impl Engine {
    /// The inputs of schema 8's labels, disputes and review queue (docs/DISPUTES.md).
    pub(crate) fn dispatch_labels(
        &mut self,
        (template, block): (u16, u16),
        meta: &InputMeta,
        body: &[u8],
        out: &mut Outbox,
    ) -> Result<(), DecodeError> {
        match template {
            DisputeNotice::TEMPLATE_ID => DisputeNotice::read_body(block, body)
                .map(|m| self.handle_dispute_notice(meta, &m, out)),
            RiskLabel::TEMPLATE_ID => {
                RiskLabel::read_body(block, body).map(|m| self.handle_risk_label(meta, &m, out))
            }
            ReviewDecision::TEMPLATE_ID => ReviewDecision::read_body(block, body)
                .map(|m| self.handle_review_decision(meta, &m, out)),
            ReviewQuery::TEMPLATE_ID => {
                ReviewQuery::read_body(block, body).map(|m| self.handle_review_query(meta, &m, out))
            }
            _ => self.dispatch_yield((template, block), meta, body, out),
        }
    }

    /// The disputes table (tests, tools).
    pub fn disputes(&self) -> &Disputes {
        &self.state.disputes
    }

    /// `DisputeNotice` (answered with ConfigAck, object_id = dispute_id).
    pub(crate) fn handle_dispute_notice(
        &mut self,
        meta: &InputMeta,
        m: &DisputeNotice,
        out: &mut Outbox,
    ) {
        let r = self.apply_dispute_notice(meta, m, out);
        self.config_ack(meta, DisputeNotice::TEMPLATE_ID, m.dispute_id, r, out);
    }

    fn apply_dispute_notice(
        &mut self,
        meta: &InputMeta,
        m: &DisputeNotice,
        out: &mut Outbox,
    ) -> Result<(), Refusal> {
        if meta.role() == Some(Role::Channel) && meta.principal_id != u32::from(m.channel_id) {
            return Err((
                ReasonCode::WrongChannel,
                "channel_id is not this session's channel",
            ));
        }
        let Ok(i) = self.state.disputes.find((m.channel_id, m.dispute_id)) else {
            if m.stage != DisputeStage::Opened {
                return Err((ReasonCode::UnknownDispute, "no such dispute was opened"));
            }
            return self.open_dispute(meta, m, out);
        };
        let d = &self.state.disputes.entries[i];
        let same = |v: i64, was: i64| v == 0 || v == was;
        let matches = m.order_id == d.order_id
            && m.attempt == d.attempt
            && same(m.amount_minor, d.amount_minor)
            && same(m.fee_minor, d.fee_minor);
        if !matches {
            return Err((
                ReasonCode::DisputeExists,
                "the dispute is known with other fields",
            ));
        }
        match (d.stage, m.stage) {
            (was, now) if was == now => Ok(()),
            (DisputeStage::Opened, DisputeStage::Won) => self.win_dispute(meta, i, out),
            (DisputeStage::Opened, DisputeStage::Lost) => {
                self.lose_dispute(meta, i, out);
                Ok(())
            }
            _ => Err((ReasonCode::DisputeExists, "the dispute has ended otherwise")),
        }
    }

    /// Checks an Opened notice against the order (live, or as its receipt keeps it). Changes
    /// nothing.
    fn check_open(&self, m: &DisputeNotice) -> Result<Order, Refusal> {
        if m.amount_minor <= 0 || m.fee_minor < 0 {
            let why = "amount_minor must be > 0 and fee_minor >= 0";
            return Err((ReasonCode::InvalidField, why));
        }
        let o = if let Some(slot) = self.order_slot_of(m.order_id) {
            self.state.orders[slot as usize].clone()
        } else if let Some(r) = self.receipt_of(m.order_id) {
            self.state.retention.receipts[r as usize].to_order(0)
        } else if self.order_issued(m.order_id) {
            return Err((ReasonCode::OrderExpired, "the order's receipt is gone"));
        } else {
            return Err((ReasonCode::UnknownOrder, "order_id names no order"));
        };
        let kept = o.attempts.last().filter(|a| {
            o.state == OrderState::Succeeded
                && usize::from(m.attempt) == o.attempts.len()
                && a.channel_id == m.channel_id
        });
        if kept.is_none() {
            let why = "the attempt is not the capture the payment kept";
            return Err((ReasonCode::AttemptNotCaptured, why));
        }
        if m.currency != o.currency {
            return Err((ReasonCode::InvalidField, "currency is not the payment's"));
        }
        if m.amount_minor > o.refundable_minor() {
            let why = "more than captured minus refunded, refunding and disputed";
            return Err((ReasonCode::DisputeExceedsCaptured, why));
        }
        if self.state.disputes.entries.len() >= self.state.limits.disputes_max as usize {
            return Err((ReasonCode::DisputesFull, "the disputes table is full"));
        }
        if !self.dispute_fits(&o, m.amount_minor, m.fee_minor) {
            return Err((
                ReasonCode::BalanceOverflow,
                "the dispute's money is past the limits",
            ));
        }
        Ok(o)
    }

    fn open_dispute(
        &mut self,
        meta: &InputMeta,
        m: &DisputeNotice,
        out: &mut Outbox,
    ) -> Result<(), Refusal> {
        self.check_open(m)?;
        let Some(slot) = self.order_slot_for_answer(m.order_id) else {
            return Err((
                ReasonCode::OrdersFull,
                "no room to bring the retired order back",
            ));
        };
        let o = &self.state.orders[slot as usize];
        let shares = o
            .refund_shares(m.amount_minor)
            .expect("a checked dispute has shares");
        let channel_slot = o.attempts.last().expect("checked").channel_slot;
        let mut d = Dispute {
            dispute_id: m.dispute_id,
            channel_id: m.channel_id,
            channel_slot,
            order_id: m.order_id,
            attempt: m.attempt,
            stage: DisputeStage::Opened,
            reason: m.reason,
            currency: o.currency,
            currency_slot: o.currency_slot,
            amount_minor: m.amount_minor,
            fee_minor: m.fee_minor,
            acquirer_id: o.acquirer_id,
            merchant_id: o.merchant_id,
            request_id: o.request_id,
            lines: ArrayVec::new(),
            opened_seq: meta.seq,
            updated_seq: meta.seq,
            updated_ns: self.state.now_ns,
        };
        self.take_dispute_money(slot, &shares, &mut d);
        let at = self
            .state
            .disputes
            .find(d.key())
            .expect_err("a new dispute");
        self.state.disputes.entries.insert(at, d);
        if m.reason == DisputeReason::Fraud {
            let source = LabelSource::Chargeback;
            self.give_label(meta, m.order_id, LabelKind::Fraud, source, m.dispute_id);
        }
        self.dispute_moved(meta, at, out);
        Ok(())
    }

    fn win_dispute(&mut self, meta: &InputMeta, i: usize, out: &mut Outbox) -> Result<(), Refusal> {
        let order_id = self.state.disputes.entries[i].order_id;
        // An order whose receipt is gone has nothing left to refund: only the money comes back.
        let gone = self.order_slot_of(order_id).is_none() && self.receipt_of(order_id).is_none();
        let slot = self.order_slot_for_answer(order_id);
        if slot.is_none() && !gone {
            let why = "no room to bring the retired order back";
            return Err((ReasonCode::OrdersFull, why));
        }
        self.return_dispute_money(slot, i);
        let d = &mut self.state.disputes.entries[i];
        d.stage = DisputeStage::Won;
        (d.updated_seq, d.updated_ns) = (meta.seq, self.state.now_ns);
        self.dispute_moved(meta, i, out);
        Ok(())
    }

    fn lose_dispute(&mut self, meta: &InputMeta, i: usize, out: &mut Outbox) {
        self.close_lost_dispute(i);
        let d = &mut self.state.disputes.entries[i];
        d.stage = DisputeStage::Lost;
        (d.updated_seq, d.updated_ns) = (meta.seq, self.state.now_ns);
        self.dispute_moved(meta, i, out);
    }
}
