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

/// Derives input `msg` as if the engine had answered it with `answers` (the engine's own
/// handling of schema 8's inputs is not in this branch yet: the answers are the ones
/// docs/DISPUTES.md specifies), at the next sequence, with the world's engine for lookups; a
/// pulse then takes that sequence in the engine, so the next input has one of its own.
fn answered(w: &mut World, msg: AnyMessage, answers: &[AnyMessage]) {
    let seq = w.d.next_seq();
    w.d.advance_ns(1_000_000_000);
    let mut outbox = sluice_engine::Outbox::with_capacity(1 << 16);
    for a in answers {
        let dest = sluice_engine::Dest::admins();
        match a {
            AnyMessage::ConfigAck(x) => outbox.push(dest, seq, x),
            AnyMessage::DisputeUpdate(x) => outbox.push(dest, seq, x),
            other => panic!("no answer {other:?} here"),
        }
    }
    super::derive::derive_of(
        seq,
        w.d.now_ns(),
        Some(&msg),
        &w.d.engine,
        &outbox,
        &mut w.state,
        &mut w.rows,
    );
    w.d.pulse();
}

fn config_ack<M: Message>(object_id: u64, status: AckStatus) -> AnyMessage {
    ConfigAck {
        ref_template_id: M::TEMPLATE_ID,
        object_id,
        status,
        reason: if status == AckStatus::Accepted {
            ReasonCode::None
        } else {
            ReasonCode::UnknownOrder
        },
        sequence: 0,
        text: Default::default(),
    }
    .into()
}

#[test]
fn accepted_labels_and_review_decisions_are_rows_and_refused_ones_are_not() {
    let mut w = World::new();
    review_rule(&mut w, 5_000);
    w.pay(1, 7_000, 0).expect("paid");
    let order_id = w.rows.reviews[0].order_id as u64;
    let label = |kind, source| -> AnyMessage {
        RiskLabel {
            order_id,
            kind,
            source,
            reference: 7,
            note: Default::default(),
        }
        .into()
    };
    let refused = config_ack::<RiskLabel>(order_id, AckStatus::Rejected);
    answered(
        &mut w,
        label(LabelKind::Fraud, LabelSource::Customer),
        &[refused],
    );
    let other = config_ack::<ReviewDecision>(order_id, AckStatus::Accepted);
    answered(
        &mut w,
        label(LabelKind::Fraud, LabelSource::Customer),
        &[other],
    );
    assert!(
        w.rows.risk_labels.is_empty(),
        "refused, or an answer to another input"
    );
    let ok = config_ack::<RiskLabel>(order_id, AckStatus::Accepted);
    answered(
        &mut w,
        label(LabelKind::FalsePositive, LabelSource::IssuerReport),
        &[ok],
    );
    let decide: AnyMessage = ReviewDecision {
        order_id,
        action: ReviewAction::RefundAndBlock,
    }
    .into();
    let ok = config_ack::<ReviewDecision>(order_id, AckStatus::Accepted);
    answered(&mut w, decide, &[ok]);
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
    let o = order_id as i64;
    let m = SHOP as i32;
    assert_eq!(
        labels,
        [
            (o, m, "FalsePositive", "IssuerReport"),
            (o, m, "Fraud", "Review")
        ]
    );
    let states: Vec<(&str, i32, i64)> = w
        .rows
        .reviews
        .iter()
        .map(|r| (r.state.as_str(), r.rule_id, r.amount_minor))
        .collect();
    assert_eq!(
        states,
        [("Queued", 60, 7_000), ("RefundAndBlock", 60, 7_000)]
    );
    let (queued, decided) = (&w.rows.reviews[0], &w.rows.reviews[1]);
    assert!(decided.seq > queued.seq && decided.merchant_id == m);
    assert_eq!(
        decided.seq, w.rows.risk_labels[1].seq,
        "one input, both rows"
    );
}

fn dispute(order_id: u64, stage: DisputeStage, reason: DisputeReason, again: bool) -> AnyMessage {
    DisputeUpdate {
        request_id: 1,
        order_id,
        dispute_id: 4_242,
        channel_id: 2,
        merchant_id: SHOP,
        stage,
        reason,
        currency: fixture::CNY,
        amount_minor: 3_000,
        fee_minor: 1_500,
        available_after_minor: 0,
        receivable_after_minor: 0,
        sequence: 0,
        timestamp_ns: 0,
        out_seq: 0,
        retransmission: again,
        reversal: Default::default(),
    }
    .into()
}

#[test]
fn each_dispute_stage_is_a_row_and_an_opened_fraud_dispute_labels_the_order() {
    let mut w = World::new();
    w.pay(1, 9_000, 0).expect("paid");
    let order_id = w.rows.orders[0].order_id as u64;
    let notice = |stage| -> AnyMessage {
        DisputeNotice {
            dispute_id: 4_242,
            channel_id: 2,
            order_id,
            attempt: 1,
            stage,
            reason: DisputeReason::Fraud,
            currency: fixture::CNY,
            amount_minor: 3_000,
            fee_minor: 1_500,
            channel_ref: Chars::new("case-1"),
        }
        .into()
    };
    use DisputeStage::{Opened, Won};
    let opened = dispute(order_id, Opened, DisputeReason::Fraud, false);
    answered(&mut w, notice(Opened), &[opened]);
    // A resume's copy is not a new stage.
    let copy = dispute(order_id, Opened, DisputeReason::Fraud, true);
    answered(&mut w, notice(Opened), &[copy]);
    let won = dispute(order_id, Won, DisputeReason::Fraud, false);
    answered(&mut w, notice(Won), &[won]);
    let not_received = dispute(order_id, Opened, DisputeReason::NotReceived, false);
    answered(&mut w, notice(Opened), &[not_received]);
    let rows: Vec<(&str, &str, i64, i64, i64, i32)> = w
        .rows
        .disputes
        .iter()
        .map(|d| {
            let (s, r) = (d.stage.as_str(), d.reason.as_str());
            (
                s,
                r,
                d.dispute_id,
                d.amount_minor,
                d.fee_minor,
                d.channel_id,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("Opened", "Fraud", 4_242, 3_000, 1_500, 2),
            ("Won", "Fraud", 4_242, 3_000, 1_500, 2),
            ("Opened", "NotReceived", 4_242, 3_000, 1_500, 2),
        ]
    );
    let labels: Vec<(&str, &str)> = w
        .rows
        .risk_labels
        .iter()
        .map(|l| (l.kind.as_str(), l.source.as_str()))
        .collect();
    assert_eq!(
        labels,
        [("Fraud", "Chargeback")],
        "only the opened fraud dispute"
    );
    assert_eq!(w.rows.risk_labels[0].seq, w.rows.disputes[0].seq);
    assert_eq!(w.rows.disputes[0].order_id, order_id as i64);
}
