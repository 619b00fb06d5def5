//! The rows of the risk analyst's loop (issue 23; docs/STORE.md, section 6): the review queue
//! from the verdicts, labels, disputes and review decisions from the inputs the engine accepted.

use sluice_engine::state::Order;
use sluice_protocol::{AckStatus, PaymentAck, RiskAction};

use super::derive::{Input, id, ordinal};
use super::rows::{ReviewRow, Rows};

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
