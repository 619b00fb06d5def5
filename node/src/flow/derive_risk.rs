//! The rows of the risk analyst's loop (issue 23; docs/STORE.md, section 6; docs/DISPUTES.md),
//! from the engine's labels-and-disputes recorder (`Engine::record_dispute_events`): every label
//! the engine accepted or gave itself (a RiskLabel, a review decision, a fraud chargeback), every
//! dispute stage it applied with its money, every order it queued for review and every decision.
//! The recorder, not the outputs: a label given by a decision or a chargeback, and whether a
//! Review verdict was queued (a full queue counts it and queues nothing), are in no output.

use sluice_engine::dispute_events::{DisputeEvent, DisputeMoved};
use sluice_engine::labels::Label;

use super::derive::{Input, id, live_order, ordinal};
use super::rows::{DisputeRow, ReviewRow, RiskLabelRow, Rows};

/// Appends a row per label, dispute stage and review change the input made.
pub(super) fn risk_rows(input: &Input<'_>, rows: &mut Rows) {
    for event in input.engine.dispute_events() {
        match event {
            DisputeEvent::Label(l) => label(input, l, rows),
            DisputeEvent::Dispute(d) => dispute(input, d, rows),
            DisputeEvent::Queued { order_id, rule_id } => {
                review(input, *order_id, "Queued", *rule_id, rows);
            }
            DisputeEvent::Decided {
                order_id, action, ..
            } => {
                let rule_id = live_order(input.engine, *order_id).map_or(0, |o| o.risk_rule_id);
                review(input, *order_id, action.name(), rule_id, rows);
            }
            DisputeEvent::Recovered { .. } => {}
        }
    }
}

fn label(input: &Input<'_>, l: &Label, rows: &mut Rows) {
    let ordinal = ordinal(&rows.risk_labels, |r| r.seq, input.seq);
    rows.risk_labels.push(RiskLabelRow {
        seq: input.seq,
        ordinal,
        at_ns: input.at_ns,
        day: input.day,
        order_id: id(l.order_id),
        merchant_id: l.merchant_id as i32,
        kind: l.kind.name().into(),
        source: l.source.name().into(),
    });
}

fn dispute(input: &Input<'_>, d: &DisputeMoved, rows: &mut Rows) {
    let ordinal = ordinal(&rows.disputes, |r| r.seq, input.seq);
    rows.disputes.push(DisputeRow {
        seq: input.seq,
        ordinal,
        at_ns: input.at_ns,
        day: input.day,
        dispute_id: id(d.dispute_id),
        channel_id: i32::from(d.channel_id),
        order_id: id(d.order_id),
        merchant_id: d.merchant_id as i32,
        stage: d.stage.name().into(),
        reason: d.reason.name().into(),
        amount_minor: d.amount_minor,
        fee_minor: d.fee_minor,
        currency: i32::from(d.currency),
    });
}

/// A review row: the payment's merchant, amount and score from its order row when this input
/// made it (a queued payment), else from the order or its receipt in the engine.
fn review(input: &Input<'_>, order_id: u64, state: &str, rule_id: u32, rows: &mut Rows) {
    let made = rows
        .orders
        .iter()
        .rev()
        .find(|o| o.order_id == id(order_id));
    let (merchant_id, amount_minor, currency, risk_score) = match made {
        Some(o) => (o.merchant_id, o.amount_minor, o.currency, o.risk_score),
        None => input
            .engine
            .order_status_by_id(order_id, 0)
            .map_or((0, 0, 0, 0), |s| {
                (
                    s.merchant_id as i32,
                    s.amount_minor,
                    i32::from(s.currency),
                    0,
                )
            }),
    };
    let ordinal = ordinal(&rows.reviews, |r| r.seq, input.seq);
    rows.reviews.push(ReviewRow {
        seq: input.seq,
        ordinal,
        at_ns: input.at_ns,
        day: input.day,
        order_id: id(order_id),
        merchant_id,
        state: state.into(),
        rule_id: rule_id as i32,
        risk_score,
        amount_minor,
        currency,
    });
}
