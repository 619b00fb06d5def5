//! The review queue and labels (docs/DISPUTES.md, sections 1 and 3): a Review verdict lets the
//! payment proceed and queues it; Approve labels it Legitimate; RefundAndBlock refunds what is
//! left in the acquirer's name, blocks the payer and labels it Fraud; ReviewQuery lists the
//! queue; RiskLabel labels any issued order; refusals change nothing.

mod common;
use common::*;
use sluice_engine::driver::Driver;
use sluice_engine::fixture::{self, *};
use sluice_engine::review::REVIEW_REFUND_BIT;
use sluice_protocol::*;

/// 25,000.00 CNY at SHOP: above rule 5's daily amount per user (20,000.00), a Review verdict.
fn reviewed(d: &mut Driver, request_id: u64) -> (u64, PaymentRequest) {
    let mut req = payment(request_id, SHOP, 2_500_000);
    req.card_fingerprint = Chars::new("fpReviewedCard01");
    let out = pay(d, ACQUIRER_A, &req, ChannelOutcome::Succeeded);
    let r = result(&out).unwrap();
    assert_eq!(r.status, FinalStatus::Succeeded);
    (r.order_id, req)
}

fn item(out: &Out) -> Option<&ReviewItem> {
    out.iter().find_map(|(_, m)| match m {
        AnyMessage::ReviewItem(i) => Some(i),
        _ => None,
    })
}

fn decide(d: &mut Driver, order_id: u64, action: ReviewAction) -> Out {
    d.admin(&ReviewDecision { order_id, action })
}

fn refused<M: Message>(d: &mut Driver, msg: &M, reason: ReasonCode) {
    let before = d.engine.content_hash();
    let out = d.admin(msg);
    let a = config_ack(&out);
    assert_eq!((a.status, a.reason), (AckStatus::Rejected, reason), "{a:?}");
    assert_eq!(d.engine.content_hash(), before, "a refusal changed nothing");
}

#[test]
fn a_review_verdict_proceeds_and_queues_and_approve_labels_it_legitimate() {
    let mut d = world();
    let (order, _) = reviewed(&mut d, 1);
    let out = pay(
        &mut d,
        ACQUIRER_A,
        &payment(2, SHOP, 100),
        ChannelOutcome::Succeeded,
    );
    let plain = result(&out).unwrap().order_id;
    assert_eq!(d.engine.review_queue().entries.len(), 1);
    let out = d.admin(&ReviewQuery {
        order_id: 0,
        position: 0,
    });
    let i = item(&out).expect("the queue's first");
    assert_eq!(
        (i.order_id, i.in_queue, i.queue_len, i.risk_rule_id),
        (order, true, 1, 5)
    );
    assert_eq!(
        (i.merchant_id, i.amount_minor, i.state),
        (SHOP, 2_500_000, OrderState::Succeeded)
    );
    refused(
        &mut d,
        &ReviewQuery {
            order_id: 0,
            position: 1,
        },
        ReasonCode::NotFound,
    );
    refused(
        &mut d,
        &ReviewDecision {
            order_id: plain,
            action: ReviewAction::Approve,
        },
        ReasonCode::NotInReview,
    );
    refused(
        &mut d,
        &ReviewDecision {
            order_id: 77_777,
            action: ReviewAction::Approve,
        },
        ReasonCode::UnknownOrder,
    );
    let out = decide(&mut d, order, ReviewAction::Approve);
    assert_eq!(config_ack(&out).status, AckStatus::Accepted);
    assert!(d.engine.review_queue().entries.is_empty());
    let l = d.engine.label_of(order).unwrap();
    assert_eq!(
        (l.kind, l.source),
        (LabelKind::Legitimate, LabelSource::Review)
    );
    // Decided: out of the queue, a second decision is refused.
    refused(
        &mut d,
        &ReviewDecision {
            order_id: order,
            action: ReviewAction::Approve,
        },
        ReasonCode::NotInReview,
    );
    let out = d.admin(&ReviewQuery {
        order_id: order,
        position: 0,
    });
    let i = item(&out).unwrap();
    assert_eq!(
        (i.in_queue, i.label, i.label_source),
        (false, LabelKind::Legitimate, LabelSource::Review)
    );
}

#[test]
fn refund_and_block_refunds_what_is_left_blocks_the_payer_and_labels_it_fraud() {
    let mut d = world();
    let (order, req) = reviewed(&mut d, 1);
    // Part of it was refunded already: the decision refunds the rest.
    let out = d.acquirer(ACQUIRER_A, &refund(40, 1, 500_000));
    let x = refund_dispatch(&out).unwrap().clone();
    d.channel(
        x.channel_id,
        &refund_channel_result(&x, ChannelOutcome::Succeeded),
    );
    let out = decide(&mut d, order, ReviewAction::RefundAndBlock);
    assert_eq!(config_ack(&out).status, AckStatus::Accepted, "{out:?}");
    let a = refund_ack(&out);
    assert_eq!(
        (a.status, a.refund_request_id),
        (AckStatus::Accepted, REVIEW_REFUND_BIT | order)
    );
    let x = refund_dispatch(&out).unwrap().clone();
    assert_eq!(x.amount_minor, 2_000_000);
    let out = d.channel(
        x.channel_id,
        &refund_channel_result(&x, ChannelOutcome::Succeeded),
    );
    assert_eq!(refund_result(&out).unwrap().status, FinalStatus::Succeeded);
    d.engine.verify_ledger().unwrap();
    let l = d.engine.label_of(order).unwrap();
    assert_eq!((l.kind, l.source), (LabelKind::Fraud, LabelSource::Review));
    // The payer's user, device and card are blocked: its next payment (another user, same card)
    // is refused.
    let mut next = payment(3, SHOP, 100);
    next.card_fingerprint = req.card_fingerprint;
    let out = d.acquirer(ACQUIRER_A, &next);
    assert_eq!(ack(&out).reason, ReasonCode::RiskBlocked);
    let mut same_device = payment(4, SHOP, 100);
    same_device.device_id = req.device_id;
    let out = d.acquirer(ACQUIRER_A, &same_device);
    assert_eq!(ack(&out).reason, ReasonCode::RiskBlocked);
}

#[test]
fn refund_and_block_that_cannot_refund_changes_nothing_and_keeps_it_queued() {
    let mut d = world();
    let (order, _) = reviewed(&mut d, 1);
    // An order still in flight cannot be refunded yet: decide once it is final.
    let mut req = payment(2, SHOP, 2_500_000);
    req.user_id = 10_001;
    let out = d.acquirer(ACQUIRER_A, &req);
    assert_eq!(ack(&out).status, AckStatus::Accepted);
    let in_flight = ack(&out).order_id;
    assert_eq!(d.engine.review_queue().entries.len(), 2);
    refused(
        &mut d,
        &ReviewDecision {
            order_id: in_flight,
            action: ReviewAction::RefundAndBlock,
        },
        ReasonCode::OrderNotSucceeded,
    );
    assert_eq!(d.engine.review_queue().position(in_flight), Some(1));
    assert_eq!(d.engine.review_queue().position(order), Some(0));
}

#[test]
fn risk_labels_attach_to_issued_orders_only_and_the_latest_wins() {
    let mut d = world();
    let out = pay(
        &mut d,
        ACQUIRER_A,
        &payment(1, SHOP, 100),
        ChannelOutcome::Succeeded,
    );
    let order = result(&out).unwrap().order_id;
    let label = |kind, source| RiskLabel {
        order_id: order,
        kind,
        source,
        reference: 42,
        note: codec::text("tc40"),
    };
    configure_ok(&mut d, &label(LabelKind::Fraud, LabelSource::IssuerReport));
    assert_eq!(d.engine.label_of(order).unwrap().kind, LabelKind::Fraud);
    configure_ok(
        &mut d,
        &label(LabelKind::FalsePositive, LabelSource::Analyst),
    );
    let l = d.engine.label_of(order).unwrap();
    assert_eq!(
        (l.kind, l.source, l.reference),
        (LabelKind::FalsePositive, LabelSource::Analyst, 42)
    );
    assert_eq!(d.engine.state().labels.entries.len(), 1);
    refused(
        &mut d,
        &label(LabelKind::None, LabelSource::Analyst),
        ReasonCode::InvalidField,
    );
    refused(
        &mut d,
        &label(LabelKind::Fraud, LabelSource::Review),
        ReasonCode::InvalidField,
    );
    refused(
        &mut d,
        &RiskLabel {
            order_id: 999_999,
            ..label(LabelKind::Fraud, LabelSource::Analyst)
        },
        ReasonCode::UnknownOrder,
    );
}

#[test]
fn a_full_labels_table_lets_the_first_labelled_order_go() {
    let mut g = fixture::genesis(1_000);
    g.labels_max = 2;
    let mut d = Driver::new(&g, fixture::START_NS).unwrap();
    assert!(d.configure(&fixture::config_messages()).is_empty());
    let mut orders = vec![];
    for i in 1..=3 {
        let out = pay(
            &mut d,
            ACQUIRER_A,
            &payment(i, SHOP, 100),
            ChannelOutcome::Succeeded,
        );
        orders.push(result(&out).unwrap().order_id);
    }
    for &o in &orders {
        let l = RiskLabel {
            order_id: o,
            kind: LabelKind::Legitimate,
            source: LabelSource::Customer,
            reference: 0,
            note: codec::text(""),
        };
        configure_ok(&mut d, &l);
    }
    assert!(d.engine.label_of(orders[0]).is_none());
    assert!(d.engine.label_of(orders[1]).is_some() && d.engine.label_of(orders[2]).is_some());
}
