//! The rows one applied journal record causes (docs/STORE.md, section 1): a pure function of the
//! input, the outputs it produced and the engine right after it, like the notifications'
//! derivation (`crate::notifications`). The exporter's engine records its ledger transfers
//! (`Engine::record_transfers`), payout state changes (`Engine::record_payouts`), labels,
//! disputes and review changes (`Engine::record_dispute_events`) and the financial extension's
//! movements (`Engine::record_finance_events`); a small [`DeriveState`] remembers the risk
//! rules' shadow-hit counters between inputs, so that the shadow rules an input matched can be
//! told.
//!
//! Answers to resends (`duplicate`) and retransmissions are not rows: they changed nothing.

use sluice_engine::state::{Order, id_slot};
use sluice_engine::{Engine, Outbox, day_of};
use sluice_protocol::{
    AckStatus, AnyMessage, FinalStatus, HealthAlert, PaymentAck, PaymentResult, PaymentReversal,
    RefundAck, RefundResult, decode_any_frame, decode_any_sbe,
};

use super::derive_payouts;
use super::derive_risk;
use super::ledger::{ledger_rows, shadow_hits};
use super::rows::*;
use crate::Applied;

/// What derivation remembers between inputs: each risk rule's shadow hits so far.
#[derive(Debug, Clone, Default)]
pub struct DeriveState {
    /// (rule id, shadow hits), in the engine's rule order.
    pub(super) shadow: Vec<(u32, u64)>,
}

impl DeriveState {
    /// The state for an engine at some sequence (where derivation starts).
    pub fn new(engine: &Engine) -> DeriveState {
        let mut s = DeriveState::default();
        s.refresh(engine);
        s
    }

    pub(super) fn refresh(&mut self, engine: &Engine) {
        self.shadow.clear();
        let rules = &engine.state().risk.rules.rules;
        let hits = &engine.counters().rule_hits;
        self.shadow
            .extend(rules.iter().zip(hits).map(|(r, h)| (r.id, h.1)));
    }
}

/// The facts every row of one input shares.
pub(super) struct Input<'a> {
    pub seq: i64,
    pub at_ns: i64,
    pub day: Day,
    pub engine: &'a Engine,
    pub message: Option<&'a AnyMessage>,
}

/// Who a risk verdict was about (the request and its acknowledgement).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Subject {
    pub kind: &'static str,
    pub order_id: i64,
    pub merchant_id: i32,
    pub amount_minor: i64,
    pub currency: i32,
}

/// An identifier stored as `i64`: engine ids are below 2^63; an acquirer's ids keep their bit
/// pattern (docs in `rows.rs`).
pub(super) fn id(v: u64) -> i64 {
    v as i64
}

/// Appends to `rows` every row the applied record causes.
pub fn derive(applied: &Applied<'_>, state: &mut DeriveState, rows: &mut Rows) {
    let message = decode_any_sbe(applied.envelope().sbe).ok();
    derive_of(
        applied.record.seq,
        applied.record.timestamp_ns,
        message.as_ref(),
        applied.engine,
        applied.outputs,
        state,
        rows,
    );
}

/// `derive` for input `seq` at `at_ns` (its decoded message, `None` when it did not decode),
/// given the engine right after it and its outputs.
pub fn derive_of(
    seq: u64,
    at_ns: u64,
    message: Option<&AnyMessage>,
    engine: &Engine,
    outputs: &Outbox,
    state: &mut DeriveState,
    rows: &mut Rows,
) {
    let input = Input {
        seq: id(seq),
        at_ns: id(at_ns),
        day: Day(day_of(at_ns, engine.state().limits.utc_offset_secs) as i32),
        engine,
        message,
    };
    let mut decided: Option<(Subject, u32, &'static str)> = None;
    let health_from = rows.channel_health.len();
    for out in outputs.iter() {
        let Ok(msg) = decode_any_frame(out.frame) else {
            continue;
        };
        match msg {
            AnyMessage::PaymentAck(a) if fresh(a.duplicate, a.retransmission) => {
                decided = Some(payment_ack(&input, &a, rows));
            }
            AnyMessage::PaymentResult(r) if fresh(r.duplicate, r.retransmission) => {
                payment_result(&input, &r, rows);
            }
            AnyMessage::RefundAck(a) if fresh(a.duplicate, a.retransmission) => {
                decided = Some(refund_ack(&input, &a, rows));
            }
            AnyMessage::RefundResult(r) if fresh(r.duplicate, r.retransmission) => {
                refund_result(&input, &r, rows);
            }
            AnyMessage::PaymentReversal(r) if !r.retransmission => reversal(&input, &r, rows),
            AnyMessage::WithdrawAck(a) if fresh(a.duplicate, a.retransmission) => {
                derive_payouts::withdraw_ack(&input, &a, rows);
            }
            AnyMessage::WithdrawResult(w) if fresh(w.duplicate, w.retransmission) => {
                derive_payouts::withdraw_result(&input, &w, rows);
            }
            AnyMessage::WithdrawReturned(w) if !w.retransmission => {
                derive_payouts::withdraw_returned(&input, &w, rows);
            }
            AnyMessage::HealthAlert(h) => health(&input, &h, health_from, rows),
            _ => {}
        }
    }
    if let Some((subject, rule_id, action)) = decided {
        risk_hits(&input, subject, rule_id, action, state, rows);
    } else if matches!(
        message,
        Some(AnyMessage::ConfigRiskRule(_) | AnyMessage::ConfigRiskRuleText(_))
    ) {
        state.refresh(engine);
    }
    ledger_rows(&input, rows);
    super::derive_recon::recon_rows(&input, rows);
    derive_payouts::payout_rows(&input, rows);
    derive_risk::risk_rows(&input, rows);
    super::derive_finance::finance_rows(&input, rows);
}

fn fresh(duplicate: bool, retransmission: bool) -> bool {
    !duplicate && !retransmission
}

/// The live order `order_id` names, if it is in the table.
pub(super) fn live_order(engine: &Engine, order_id: u64) -> Option<&Order> {
    let (slot, _) = id_slot(order_id)?;
    engine
        .state()
        .orders
        .get(slot as usize)
        .filter(|o| o.id == order_id && !o.vacant)
}

/// The order row and its routing candidates when the ack created an order; the risk subject.
fn payment_ack(
    input: &Input<'_>,
    ack: &PaymentAck,
    rows: &mut Rows,
) -> (Subject, u32, &'static str) {
    let request = match input.message {
        Some(AnyMessage::PaymentRequest(r)) => Some(r),
        _ => None,
    };
    let mut subject = Subject {
        kind: "payment",
        order_id: id(ack.order_id),
        ..Subject::default()
    };
    if let Some(r) = request {
        subject.merchant_id = r.merchant_id as i32;
        subject.amount_minor = r.amount_minor;
        subject.currency = i32::from(r.currency);
    }
    if let Some(order) = live_order(input.engine, ack.order_id) {
        let goods_category = request.map_or(0, |r| i32::from(r.goods_category));
        rows.orders
            .push(order_row(input, ack, order, goods_category));
        candidates(input, order, rows);
    }
    (subject, ack.risk_rule_id, ack.risk_action.name())
}

fn order_row(input: &Input<'_>, ack: &PaymentAck, o: &Order, goods_category: i32) -> Order_ {
    let merchants = &input.engine.state().merchants;
    let parent = merchants
        .get(o.merchant_slot as usize)
        .and_then(|m| m.parent_slot)
        .and_then(|p| merchants.get(p.index() as usize))
        .map_or(0, |p| p.id);
    Order_ {
        order_id: id(o.id),
        seq: input.seq,
        at_ns: input.at_ns,
        day: input.day,
        acquirer_id: o.acquirer_id as i32,
        request_id: id(o.request_id),
        merchant_id: o.merchant_id as i32,
        parent_merchant_id: parent as i32,
        promoter_id: o.promoter_id as i32,
        amount_minor: o.amount_minor,
        currency: i32::from(o.currency),
        method: o.method.name().into(),
        scene: o.scene.name().into(),
        goods_category,
        strategy: o.strategy.name().into(),
        ack_status: ack.status.name().into(),
        reject_reason: ack.reason.name().into(),
        risk_action: ack.risk_action.name().into(),
        risk_rule_id: ack.risk_rule_id as i32,
        first_channel_id: if ack.status == AckStatus::Accepted {
            i32::from(ack.channel_id)
        } else {
            0
        },
        // 0 without a model (docs/RISK_SCORE.md; docs/STORE.md section 6).
        risk_score: i32::from(ack.risk_score),
    }
}

fn candidates(input: &Input<'_>, o: &Order, rows: &mut Rows) {
    for (position, c) in o.candidates.iter().enumerate() {
        rows.routing_candidates.push(RoutingCandidate {
            order_id: id(o.id),
            position: position as i32,
            seq: input.seq,
            day: input.day,
            channel_id: i32::from(c.channel_id),
            decision: c.decision.name().into(),
            skip_reason: c.skip_reason.name().into(),
            score: c.score,
            rank: i32::from(c.rank),
        });
    }
}

/// The payment's result, its attempts and (when it succeeded) its split lines.
fn payment_result(input: &Input<'_>, r: &PaymentResult, rows: &mut Rows) {
    let order = live_order(input.engine, r.order_id);
    let succeeded = r.status == FinalStatus::Succeeded;
    let settle_day = order
        .filter(|_| succeeded)
        .and_then(|o| {
            o.split
                .iter()
                .find(|l| l.role == sluice_protocol::PartyRole::Merchant)
        })
        .map_or(0, |l| i32::from(l.due_day));
    let merchant_id = order.map_or_else(
        || input.engine.order_merchant(r.order_id).unwrap_or(0),
        |o| o.merchant_id,
    );
    rows.payment_results.push(PaymentResult_ {
        order_id: id(r.order_id),
        seq: input.seq,
        at_ns: input.at_ns,
        day: input.day,
        merchant_id: merchant_id as i32,
        status: r.status.name().into(),
        reason: r.reason.name().into(),
        channel_id: i32::from(r.channel_id),
        attempts: i32::from(r.attempts),
        amount_minor: r.amount_minor,
        currency: i32::from(r.currency),
        fee_minor: r.fee_minor,
        channel_ref: r.channel_ref.as_str().into_owned(),
        settle_day: Day(settle_day),
    });
    if let Some(o) = order {
        attempts(input, o, rows);
    }
    if succeeded {
        let lines = r.split.iter().map(|l| (l.role, l.party_id, l.amount_minor));
        split_lines(input, r.order_id, 0, r.currency, 1, lines, rows);
    }
}

fn attempts(input: &Input<'_>, o: &Order, rows: &mut Rows) {
    for (i, a) in o.attempts.iter().enumerate() {
        rows.attempts.push(Attempt {
            order_id: id(o.id),
            attempt: i as i32 + 1,
            seq: input.seq,
            day: input.day,
            channel_id: i32::from(a.channel_id),
            status: a.status.name().into(),
            channel_code: i32::from(a.channel_code),
            dispatched_ns: id(a.dispatched_ns),
            latency_us: i64::from(a.latency_us),
            probe: a.probe,
        });
    }
}

/// Split lines (`sign` 1 for a payment, -1 for a refund's reversal).
fn split_lines(
    input: &Input<'_>,
    order_id: u64,
    refund_id: u64,
    currency: u16,
    sign: i64,
    lines: impl Iterator<Item = (sluice_protocol::PartyRole, u32, i64)>,
    rows: &mut Rows,
) {
    for (role, party_id, amount_minor) in lines {
        let ordinal = ordinal(&rows.split_lines, |l| l.seq, input.seq);
        rows.split_lines.push(SplitLine {
            seq: input.seq,
            ordinal,
            day: input.day,
            order_id: id(order_id),
            refund_id: id(refund_id),
            role: role.name().into(),
            party_id: party_id as i32,
            amount_minor: sign * amount_minor,
            currency: i32::from(currency),
        });
    }
}

/// The ordinal of the next row of this input in a table: how many of its rows the table already
/// ends with (rows arrive in sequence order).
pub(super) fn ordinal<R>(rows: &[R], seq_of: impl Fn(&R) -> i64, seq: i64) -> i32 {
    rows.iter().rev().take_while(|r| seq_of(r) == seq).count() as i32
}

fn refund_ack(input: &Input<'_>, a: &RefundAck, rows: &mut Rows) -> (Subject, u32, &'static str) {
    let status = input.engine.order_status_by_id(a.order_id, 0);
    let (merchant_id, currency) = status
        .as_ref()
        .map_or((0, 0), |s| (s.merchant_id, s.currency));
    // A ReviewDecision's RefundAndBlock starts the refund itself: its record has the amount.
    let amount_minor = match input.message {
        Some(AnyMessage::RefundRequest(r)) => r.amount_minor,
        _ => refund_record(input.engine, a.refund_id).map_or(0, |r| r.amount_minor),
    };
    let subject = Subject {
        kind: "refund",
        order_id: id(a.order_id),
        merchant_id: merchant_id as i32,
        amount_minor,
        currency: i32::from(currency),
    };
    if a.order_id != 0 {
        let ordinal = ordinal(&rows.refunds, |r| r.seq, input.seq);
        rows.refunds.push(Refund {
            seq: input.seq,
            ordinal,
            at_ns: input.at_ns,
            day: input.day,
            refund_id: id(a.refund_id),
            refund_request_id: id(a.refund_request_id),
            order_id: id(a.order_id),
            merchant_id: subject.merchant_id,
            amount_minor,
            currency: subject.currency,
            ack_status: a.status.name().into(),
            reject_reason: a.reason.name().into(),
            risk_action: a.risk_action.name().into(),
            risk_rule_id: a.risk_rule_id as i32,
        });
    }
    (subject, a.risk_rule_id, a.risk_action.name())
}

/// The channel that refunds: the refund's own, else the order's last attempt's.
fn refund_channel(engine: &Engine, refund_id: u64, order_id: u64) -> u16 {
    let state = engine.state();
    let own = id_slot(refund_id)
        .and_then(|(slot, _)| state.refunds.get(slot as usize))
        .filter(|r| r.id == refund_id && !r.vacant)
        .and_then(|r| state.channels.get(r.channel_slot as usize))
        .map(|c| c.id);
    own.unwrap_or_else(|| {
        engine
            .order_status_by_id(order_id, 0)
            .map_or(0, |s| s.channel_id)
    })
}

/// Refund `refund_id`'s record, kept while its order's receipt is.
fn refund_record(engine: &Engine, refund_id: u64) -> Option<&sluice_engine::state::Refund> {
    id_slot(refund_id)
        .and_then(|(slot, _)| engine.state().refunds.get(slot as usize))
        .filter(|r| r.id == refund_id && !r.vacant)
}

/// The channel fee refund `refund_id` returned.
fn fee_returned(engine: &Engine, refund_id: u64) -> i64 {
    refund_record(engine, refund_id).map_or(0, |r| r.fee_returned_minor)
}

fn refund_result(input: &Input<'_>, r: &RefundResult, rows: &mut Rows) {
    let merchant_id = input.engine.order_merchant(r.order_id).unwrap_or(0);
    rows.refund_results.push(RefundResult_ {
        refund_id: id(r.refund_id),
        seq: input.seq,
        at_ns: input.at_ns,
        day: input.day,
        order_id: id(r.order_id),
        merchant_id: merchant_id as i32,
        channel_id: i32::from(refund_channel(input.engine, r.refund_id, r.order_id)),
        status: r.status.name().into(),
        reason: r.reason.name().into(),
        amount_minor: r.amount_minor,
        currency: i32::from(r.currency),
        fee_returned_minor: fee_returned(input.engine, r.refund_id),
    });
    if r.status == FinalStatus::Succeeded {
        let lines = r
            .reversal
            .iter()
            .map(|l| (l.role, l.party_id, l.amount_minor));
        split_lines(input, r.order_id, r.refund_id, r.currency, -1, lines, rows);
    }
}

fn reversal(input: &Input<'_>, r: &PaymentReversal, rows: &mut Rows) {
    let ordinal = ordinal(&rows.reversals, |x| x.seq, input.seq);
    rows.reversals.push(Reversal {
        seq: input.seq,
        ordinal,
        at_ns: input.at_ns,
        day: input.day,
        order_id: id(r.order_id),
        attempt: i32::from(r.attempt),
        channel_id: i32::from(r.channel_id),
        amount_minor: r.amount_minor,
        currency: i32::from(r.currency),
        state: r.state.name().into(),
        reason: r.reason.name().into(),
    });
}

/// A health change; the engine sends one alert to every admin session, so an input's copies of
/// the same change are one row.
fn health(input: &Input<'_>, h: &HealthAlert, from: usize, rows: &mut Rows) {
    let (from_state, to_state) = (h.from.name(), h.to.name());
    let channel_id = i32::from(h.channel_id);
    let seen = rows.channel_health[from..].iter().any(|x| {
        x.channel_id == channel_id && x.from_state == from_state && x.to_state == to_state
    });
    if seen {
        return;
    }
    rows.channel_health.push(ChannelHealth {
        seq: input.seq,
        ordinal: (rows.channel_health.len() - from) as i32,
        at_ns: input.at_ns,
        day: input.day,
        channel_id,
        from_state: from_state.into(),
        to_state: to_state.into(),
        failure_level_milli: i64::from(h.failure_level_milli),
        success_rate_ppm: i64::from(h.recent_success_rate_ppm),
    });
}

/// The deciding rule (when one decided) and every shadow rule the request matched.
fn risk_hits(
    input: &Input<'_>,
    subject: Subject,
    rule_id: u32,
    action: &'static str,
    state: &mut DeriveState,
    rows: &mut Rows,
) {
    if rule_id != 0 {
        push_hit(input, subject, rule_id, false, action, rows);
    }
    for (rule, rule_action) in shadow_hits(input.engine, state) {
        push_hit(input, subject, rule, true, rule_action, rows);
    }
}

pub(super) fn push_hit(
    input: &Input<'_>,
    s: Subject,
    rule_id: u32,
    shadow: bool,
    action: &'static str,
    rows: &mut Rows,
) {
    let ordinal = ordinal(&rows.risk_hits, |x| x.seq, input.seq);
    rows.risk_hits.push(RiskHit {
        seq: input.seq,
        ordinal,
        at_ns: input.at_ns,
        day: input.day,
        rule_id: rule_id as i32,
        shadow,
        action: action.into(),
        subject: s.kind.into(),
        order_id: s.order_id,
        merchant_id: s.merchant_id,
        amount_minor: s.amount_minor,
        currency: s.currency,
    });
}

/// Row types whose names the protocol's messages share.
type Order_ = super::rows::Order;
type PaymentResult_ = super::rows::PaymentResult;
type RefundResult_ = super::rows::RefundResult;
