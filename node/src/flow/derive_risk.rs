//! The rows of the risk analyst's loop (issue 23; docs/STORE.md, section 6; docs/DISPUTES.md):
//! the review queue from the verdicts and the decisions, labels from what the engine accepted
//! (a RiskLabel, a ReviewDecision, a fraud chargeback), disputes from the DisputeUpdate each
//! accepted stage sends once (never for a repeated notice).

use sluice_engine::state::Order;
use sluice_protocol::{
    AckStatus, AnyMessage, ConfigAck, DisputeReason, DisputeStage, DisputeUpdate, LabelKind,
    LabelSource, Message, PaymentAck, ReviewAction, ReviewDecision, RiskAction, RiskLabel,
};

use super::derive::{Input, id, live_order, ordinal};
use super::rows::{DisputeRow, ReviewRow, RiskLabelRow, Rows};

/// The verdict's risk score as the PaymentAck reports it (0 without a model).
pub(super) fn ack_score(_ack: &PaymentAck) -> i32 {
    0
}

/// A `Queued` review row when the ack accepted a payment with the verdict `Review`.
pub(super) fn queued_review(input: &Input<'_>, ack: &PaymentAck, o: &Order, rows: &mut Rows) {
    if ack.status != AckStatus::Accepted || ack.risk_action != RiskAction::Review {
        return;
    }
    let ordinal = ordinal(&rows.reviews, |r| r.seq, input.seq);
    rows.reviews.push(ReviewRow {
        seq: input.seq,
        ordinal,
        at_ns: input.at_ns,
        day: input.day,
        order_id: id(o.id),
        merchant_id: o.merchant_id as i32,
        state: "Queued".into(),
        rule_id: ack.risk_rule_id as i32,
        risk_score: ack_score(ack),
        amount_minor: o.amount_minor,
        currency: i32::from(o.currency),
    });
}

/// Whether `ack` accepted the input, a `M`, about `object_id`.
fn accepted<M: Message>(ack: &ConfigAck, object_id: u64) -> bool {
    ack.ref_template_id == M::TEMPLATE_ID
        && ack.status == AckStatus::Accepted
        && ack.object_id == object_id
}

/// The rows of an admin's input that a ConfigAck answered: a label, or a review decision and
/// the label it gives.
pub(super) fn config_ack(input: &Input<'_>, ack: &ConfigAck, rows: &mut Rows) {
    match input.message {
        Some(AnyMessage::RiskLabel(l)) if accepted::<RiskLabel>(ack, l.order_id) => {
            push_label(input, l.order_id, l.kind, l.source, rows);
        }
        Some(AnyMessage::ReviewDecision(d)) if accepted::<ReviewDecision>(ack, d.order_id) => {
            decision(input, d, rows);
            let kind = match d.action {
                ReviewAction::Approve => LabelKind::Legitimate,
                ReviewAction::RefundAndBlock => LabelKind::Fraud,
            };
            push_label(input, d.order_id, kind, LabelSource::Review, rows);
        }
        _ => {}
    }
}

fn push_label(
    input: &Input<'_>,
    order_id: u64,
    kind: LabelKind,
    source: LabelSource,
    rows: &mut Rows,
) {
    let ordinal = ordinal(&rows.risk_labels, |r| r.seq, input.seq);
    rows.risk_labels.push(RiskLabelRow {
        seq: input.seq,
        ordinal,
        at_ns: input.at_ns,
        day: input.day,
        order_id: id(order_id),
        merchant_id: input.engine.order_merchant(order_id).unwrap_or(0) as i32,
        kind: kind.name().into(),
        source: source.name().into(),
    });
}

/// The decision's review row: what the order says of the payment (its receipt's merchant and
/// amount when it has retired; the rule and the score stay on its `Queued` row).
fn decision(input: &Input<'_>, d: &ReviewDecision, rows: &mut Rows) {
    let order = live_order(input.engine, d.order_id);
    let status = input.engine.order_status_by_id(d.order_id, 0);
    let (merchant_id, amount_minor, currency) = match (order, &status) {
        (Some(o), _) => (o.merchant_id, o.amount_minor, o.currency),
        (None, Some(s)) => (s.merchant_id, s.amount_minor, s.currency),
        (None, None) => (0, 0, 0),
    };
    let ordinal = ordinal(&rows.reviews, |r| r.seq, input.seq);
    rows.reviews.push(ReviewRow {
        seq: input.seq,
        ordinal,
        at_ns: input.at_ns,
        day: input.day,
        order_id: id(d.order_id),
        merchant_id: merchant_id as i32,
        state: d.action.name().into(),
        rule_id: order.map_or(0, |o| o.risk_rule_id as i32),
        risk_score: 0,
        amount_minor,
        currency: i32::from(currency),
    });
}

/// A dispute stage the engine accepted; an opened fraud dispute also labels the order Fraud.
pub(super) fn dispute_update(input: &Input<'_>, u: &DisputeUpdate, rows: &mut Rows) {
    let ordinal = ordinal(&rows.disputes, |r| r.seq, input.seq);
    rows.disputes.push(DisputeRow {
        seq: input.seq,
        ordinal,
        at_ns: input.at_ns,
        day: input.day,
        dispute_id: id(u.dispute_id),
        channel_id: i32::from(u.channel_id),
        order_id: id(u.order_id),
        merchant_id: u.merchant_id as i32,
        stage: u.stage.name().into(),
        reason: u.reason.name().into(),
        amount_minor: u.amount_minor,
        fee_minor: u.fee_minor,
        currency: i32::from(u.currency),
    });
    if u.stage == DisputeStage::Opened && u.reason == DisputeReason::Fraud {
        push_label(
            input,
            u.order_id,
            LabelKind::Fraud,
            LabelSource::Chargeback,
            rows,
        );
    }
}
