//! Derivation of the risk analyst's rows (issue 23) from the engine's labels-and-disputes
//! recorder, over the engine's reference world: the review queue and its decisions, labels
//! (an analyst's, a decision's, a fraud chargeback's), dispute stages with their money.

use sluice_engine::fixture::{self, SHOP};
use sluice_protocol::*;

use super::derive_tests::{World, find, sums_from_ledger, sums_from_rows};

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

fn accepted(out: &super::derive_tests::Out) -> ConfigAck {
    find(out, |m| match m {
        AnyMessage::ConfigAck(a) => Some(a.clone()),
        _ => None,
    })
    .expect("a ConfigAck")
}

#[test]
fn labels_and_review_decisions_are_rows_and_refused_ones_are_not() {
    let mut w = World::new();
    review_rule(&mut w, 5_000);
    w.pay(1, 7_000, 0).expect("paid");
    let order_id = w.rows.reviews[0].order_id as u64;
    let label = |kind, source| RiskLabel {
        order_id,
        kind,
        source,
        reference: 7,
        note: Default::default(),
    };
    // Engine-only sources are refused: no row.
    let out = w.admin(&label(LabelKind::Fraud, LabelSource::Review));
    assert_eq!(accepted(&out).status, AckStatus::Rejected);
    assert!(w.rows.risk_labels.is_empty());
    let out = w.admin(&label(LabelKind::FalsePositive, LabelSource::IssuerReport));
    assert_eq!(accepted(&out).status, AckStatus::Accepted);
    let out = w.admin(&ReviewDecision {
        order_id,
        action: ReviewAction::RefundAndBlock,
    });
    assert_eq!(accepted(&out).status, AckStatus::Accepted);
    // Decided: a second decision is refused NotInReview and makes no row.
    let out = w.admin(&ReviewDecision {
        order_id,
        action: ReviewAction::Approve,
    });
    assert_eq!(accepted(&out).reason, ReasonCode::NotInReview);
    let labels: Vec<(i64, i32, &str, &str)> = w
        .rows
        .risk_labels
        .iter()
        .map(|l| {
            (
                l.order_id,
                l.merchant_id,
                l.kind.as_str(),
                l.source.as_str(),
            )
        })
        .collect();
    let (o, m) = (order_id as i64, SHOP as i32);
    assert_eq!(
        labels,
        [
            (o, m, "FalsePositive", "IssuerReport"),
            (o, m, "Fraud", "Review")
        ]
    );
    let states: Vec<(&str, i32, i64, i32)> = w
        .rows
        .reviews
        .iter()
        .map(|r| (r.state.as_str(), r.rule_id, r.amount_minor, r.merchant_id))
        .collect();
    assert_eq!(
        states,
        [("Queued", 60, 7_000, m), ("RefundAndBlock", 60, 7_000, m)]
    );
    assert_eq!(
        w.rows.reviews[1].seq, w.rows.risk_labels[1].seq,
        "one input, both rows"
    );
    // The refund the decision started is a refund row with its amount.
    let refund = w.rows.refunds.last().expect("the decision's refund");
    assert_eq!(
        (refund.order_id, refund.amount_minor, refund.seq),
        (o, 7_000, w.rows.reviews[1].seq)
    );
}

fn notice(
    order: &PaymentResult,
    dispute_id: u64,
    stage: DisputeStage,
    reason: DisputeReason,
) -> DisputeNotice {
    DisputeNotice {
        dispute_id,
        channel_id: order.channel_id,
        order_id: order.order_id,
        attempt: order.attempts,
        stage,
        reason,
        currency: fixture::CNY,
        amount_minor: 3_000,
        fee_minor: 1_500,
        channel_ref: Chars::new("case-1"),
    }
}

#[test]
fn each_dispute_stage_is_a_row_an_opened_fraud_dispute_labels_the_order_and_money_ties_out() {
    let mut w = World::new();
    let paid = w.pay(1, 9_000, 0).expect("paid");
    let other = w.pay(2, 9_000, 0).expect("paid");
    use DisputeReason::{Fraud, NotReceived};
    use DisputeStage::{Opened, Won};
    let channel = paid.channel_id;
    for n in [
        notice(&paid, 41, Opened, Fraud),
        // A repeat of a stage it is at is accepted and changes nothing: no row.
        notice(&paid, 41, Opened, Fraud),
        notice(&paid, 41, Won, Fraud),
        notice(&other, 42, Opened, NotReceived),
    ] {
        let out = w.channel(channel, &n);
        assert_eq!(accepted(&out).status, AckStatus::Accepted, "{n:?}");
    }
    let rows: Vec<(&str, &str, i64, i64, i64, i64)> = w
        .rows
        .disputes
        .iter()
        .map(|d| {
            let (s, r) = (d.stage.as_str(), d.reason.as_str());
            (s, r, d.dispute_id, d.order_id, d.amount_minor, d.fee_minor)
        })
        .collect();
    let (a, b) = (paid.order_id as i64, other.order_id as i64);
    assert_eq!(
        rows,
        [
            ("Opened", "Fraud", 41, a, 3_000, 1_500),
            ("Won", "Fraud", 41, a, 3_000, 1_500),
            ("Opened", "NotReceived", 42, b, 3_000, 1_500),
        ]
    );
    assert!(
        w.rows
            .disputes
            .iter()
            .all(|d| d.channel_id == i32::from(channel))
    );
    let labels: Vec<(i64, &str, &str)> = w
        .rows
        .risk_labels
        .iter()
        .map(|l| (l.order_id, l.kind.as_str(), l.source.as_str()))
        .collect();
    assert_eq!(
        labels,
        [(a, "Fraud", "Chargeback")],
        "only the opened fraud dispute"
    );
    assert_eq!(w.rows.risk_labels[0].seq, w.rows.disputes[0].seq);
    // The disputes' money is in the ledger rows, and they still sum to the ledger.
    w.d.engine.verify_ledger().unwrap();
    assert_eq!(sums_from_rows(&w.rows), sums_from_ledger(&w.d));
}
