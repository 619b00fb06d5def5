//! Derivation of the risk analyst's rows (issue 23): the review queue from the verdicts, labels,
//! disputes and review decisions, over the engine's reference world.

use sluice_engine::fixture::{self, SHOP};
use sluice_protocol::*;

use super::derive_tests::{World, find};

/// Sends payments over `threshold` to review (rule 60).
fn review_rule(w: &mut World, threshold: i64) {
    let rule = ConfigRiskRule {
        rule_id: 60,
        name: Chars::new("review_large"),
        target: RuleTarget::Payment,
        feature: RiskFeature::SingleAmount,
        entity: RiskEntity::None,
        window: RiskWindow::None,
        comparison: Comparison::Greater,
        threshold,
        action: RiskAction::Review,
        shadow: false,
        status: Activity::Active,
        merchant_id: 0,
        goods_category: 0,
    };
    w.admin(&rule);
}

#[test]
fn a_payment_sent_to_review_is_a_queued_review_row() {
    let mut w = World::new();
    review_rule(&mut w, 5_000);
    w.pay(1, 1_500, 0).expect("paid");
    let out = w.acquirer(&fixture::payment(2, SHOP, 7_000));
    let ack = find(&out, |m| match m {
        AnyMessage::PaymentAck(a) => Some(a.clone()),
        _ => None,
    })
    .expect("an ack");
    assert_eq!(
        (ack.status, ack.risk_action, ack.risk_rule_id),
        (AckStatus::Accepted, RiskAction::Review, 60)
    );
    assert_eq!(w.rows.reviews.len(), 1, "only the reviewed payment");
    let r = &w.rows.reviews[0];
    let order = w.rows.orders.last().expect("its order row");
    assert_eq!(
        (r.order_id, r.seq, r.at_ns),
        (order.order_id, order.seq, order.at_ns)
    );
    assert_eq!(
        (
            r.state.as_str(),
            r.rule_id,
            r.amount_minor,
            r.merchant_id,
            r.ordinal
        ),
        ("Queued", 60, 7_000, SHOP as i32, 0)
    );
    assert_eq!(
        (r.currency, r.risk_score),
        (order.currency, order.risk_score)
    );
}
