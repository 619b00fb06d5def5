//! Disputes (docs/DISPUTES.md, section 2): a chargeback reverses the split like a refund and
//! charges the merchant the fee, from available balances first and as a debt beyond them; Won
//! gives everything back; Lost makes it final; repeats change nothing; refusals change nothing;
//! the ledger balances and the dispute accounts match the table after every input.

mod common;
use common::*;
use sluice_engine::driver::Driver;
use sluice_engine::fixture::*;
use sluice_protocol::*;

const DAY_NS: u64 = 86_400 * 1_000_000_000;

fn lines(lines: &[SplitLine]) -> Vec<(PartyRole, u32, i64)> {
    lines
        .iter()
        .map(|l| (l.role, l.party_id, l.amount_minor))
        .collect()
}

/// 1.00 CNY at SHOP brought by promoter 502: split 0.10 / 0.05 / 0.85. Returns (order id,
/// channel id).
fn one_yuan(d: &mut Driver, request_id: u64) -> (u64, u16) {
    let mut req = payment(request_id, SHOP, 100);
    req.promoter_id = PROMOTER_PARENT;
    let out = pay(d, ACQUIRER_A, &req, ChannelOutcome::Succeeded);
    let r = result(&out).unwrap();
    assert_eq!(r.status, FinalStatus::Succeeded);
    (r.order_id, r.channel_id)
}

fn notice(dispute_id: u64, channel_id: u16, order_id: u64, stage: DisputeStage) -> DisputeNotice {
    DisputeNotice {
        dispute_id,
        channel_id,
        order_id,
        attempt: 1,
        stage,
        reason: DisputeReason::NotReceived,
        currency: CNY,
        amount_minor: 100,
        fee_minor: 15,
        channel_ref: Chars::new("case-1"),
    }
}

fn update(out: &Out) -> Option<&DisputeUpdate> {
    out.iter().find_map(|(_, m)| match m {
        AnyMessage::DisputeUpdate(u) => Some(u),
        _ => None,
    })
}

/// Sends `n` from its channel; asserts it was accepted; returns the outputs.
fn accepted(d: &mut Driver, n: &DisputeNotice) -> Out {
    let out = d.channel(n.channel_id, n);
    let a = config_ack(&out);
    assert_eq!(
        (a.status, a.object_id, a.ref_template_id),
        (
            AckStatus::Accepted,
            n.dispute_id,
            DisputeNotice::TEMPLATE_ID
        ),
        "{a:?}"
    );
    d.engine.verify_ledger().unwrap();
    out
}

/// Sends `n` as `sender` (a channel id, or 0 for an admin); asserts it was refused with `reason`
/// and changed nothing.
fn refused(d: &mut Driver, sender: u16, n: &DisputeNotice, reason: ReasonCode) {
    let before = d.engine.content_hash();
    let out = if sender == 0 {
        d.admin(n)
    } else {
        d.channel(sender, n)
    };
    let a = config_ack(&out);
    assert_eq!((a.status, a.reason), (AckStatus::Rejected, reason), "{a:?}");
    assert!(update(&out).is_none());
    assert_eq!(
        d.engine.content_hash(),
        before,
        "a refused notice changed nothing"
    );
}

fn owed(d: &Driver, kind: PartyKind, id: u32) -> i64 {
    let parties = &d.engine.state().parties;
    let slot = parties
        .iter()
        .position(|p| p.kind == kind && p.id == id)
        .unwrap();
    d.engine.disputes().owed(slot as u32, 0)
}

fn settle_days(d: &mut Driver, days: u64) {
    d.advance_ns(days * DAY_NS);
    d.pulse();
    d.engine.verify_ledger().unwrap();
}

#[test]
fn opened_reverses_the_split_and_owes_what_available_cannot_cover_then_won_gives_it_all_back() {
    let mut d = world();
    let (order, channel) = one_yuan(&mut d, 1);
    let before = d.engine.content_hash();
    let out = accepted(&mut d, &notice(9, channel, order, DisputeStage::Opened));
    let u = update(&out).expect("the acquirer is told");
    assert_eq!(
        lines(&u.reversal),
        [
            (PartyRole::Platform, 0, 10),
            (PartyRole::PromoterLevel1, PROMOTER_PARENT, 5),
            (PartyRole::Merchant, SHOP, 85)
        ]
    );
    // The income is still pending: everything the parties give is owed.
    assert_eq!(
        (u.available_after_minor, u.receivable_after_minor),
        (0, 100)
    );
    assert_eq!(
        (u.stage, u.request_id, u.merchant_id),
        (DisputeStage::Opened, 1, SHOP)
    );
    assert_eq!(owed(&d, PartyKind::Promoter, PROMOTER_PARENT), 5);
    // A repeat changes nothing and is accepted again.
    let h = d.engine.content_hash();
    let out = accepted(&mut d, &notice(9, channel, order, DisputeStage::Opened));
    assert!(update(&out).is_none());
    assert_eq!(d.engine.content_hash(), h);
    assert_ne!(h, before);
    // The day settles: the merchant's 0.81 becomes available (0.04 is its deposit) and pays its
    // debt.
    settle_days(&mut d, 2);
    assert_eq!(owed(&d, PartyKind::Merchant, SHOP), 19);
    assert_eq!(balance(&mut d, PartyKind::Merchant, SHOP, CNY).1, 0);
    // Won: the channel returns amount and fee; debts are cancelled first, the rest is available.
    let out = accepted(&mut d, &notice(9, channel, order, DisputeStage::Won));
    let u = update(&out).unwrap();
    assert_eq!(
        (u.stage, u.available_after_minor, u.receivable_after_minor),
        (DisputeStage::Won, 81, 0)
    );
    assert_eq!(owed(&d, PartyKind::Promoter, PROMOTER_PARENT), 0);
    assert_eq!(balance(&mut d, PartyKind::Merchant, SHOP, CNY), (0, 81, 4));
    assert_eq!(
        balance(&mut d, PartyKind::Promoter, PROMOTER_PARENT, CNY).0,
        5
    );
    let ds = d.engine.disputes();
    assert_eq!(
        (ds.open_minor[0], ds.owed_minor[0], ds.debts.len()),
        (0, 0, 0)
    );
    // The payment can be refunded whole again.
    let slot = d.engine.order_slot(ACQUIRER_A, 1).unwrap();
    assert_eq!(
        d.engine.state().orders[slot as usize].refundable_minor(),
        100
    );
    // Won again changes nothing; Lost after Won is refused.
    accepted(&mut d, &notice(9, channel, order, DisputeStage::Won));
    refused(
        &mut d,
        channel,
        &notice(9, channel, order, DisputeStage::Lost),
        ReasonCode::DisputeExists,
    );
}

#[test]
fn a_merchant_with_an_available_balance_pays_at_once_and_lost_keeps_the_money_gone() {
    let mut d = world();
    let (first, channel) = one_yuan(&mut d, 1);
    settle_days(&mut d, 2);
    let (order, _) = one_yuan(&mut d, 2);
    assert_eq!(balance(&mut d, PartyKind::Merchant, SHOP, CNY), (85, 81, 4));
    let mut n = notice(7, channel, order, DisputeStage::Opened);
    n.amount_minor = 40;
    n.fee_minor = 10;
    let out = accepted(&mut d, &n);
    let u = update(&out).unwrap();
    // 0.40 over 10/5/85 by largest remainder: 4 / 2 / 34; the merchant gives 34 + 10 from 81.
    assert_eq!(
        lines(&u.reversal),
        [
            (PartyRole::Platform, 0, 4),
            (PartyRole::PromoterLevel1, PROMOTER_PARENT, 2),
            (PartyRole::Merchant, SHOP, 34)
        ]
    );
    assert_eq!((u.available_after_minor, u.receivable_after_minor), (37, 0));
    // The disputed part counts against refunds: 0.60 is left.
    let out = d.acquirer(ACQUIRER_A, &refund(50, 2, 61));
    assert_eq!(refund_ack(&out).reason, ReasonCode::RefundExceedsCaptured);
    n.stage = DisputeStage::Lost;
    let out = accepted(&mut d, &n);
    assert_eq!(update(&out).unwrap().reversal.len(), 0);
    assert_eq!(balance(&mut d, PartyKind::Merchant, SHOP, CNY).1, 37);
    assert_eq!(d.engine.disputes().open_minor[0], 0);
    // Won after Lost is refused; the first payment's dispute is another one.
    n.stage = DisputeStage::Won;
    refused(&mut d, channel, &n, ReasonCode::DisputeExists);
    let n2 = notice(8, channel, first, DisputeStage::Opened);
    accepted(&mut d, &n2);
}

#[test]
fn a_fraud_chargeback_labels_the_order_fraud_and_an_admin_may_report_it() {
    let mut d = world();
    let (order, channel) = one_yuan(&mut d, 1);
    let mut n = notice(3, channel, order, DisputeStage::Opened);
    n.reason = DisputeReason::Fraud;
    let out = d.admin(&n);
    assert_eq!(config_ack(&out).status, AckStatus::Accepted);
    let l = d.engine.label_of(order).expect("labelled");
    assert_eq!(
        (l.kind, l.source, l.reference),
        (LabelKind::Fraud, LabelSource::Chargeback, 3)
    );
    assert_eq!((l.merchant_id, l.amount_minor), (SHOP, 100));
}

#[test]
fn refused_notices_change_nothing() {
    let mut d = world();
    let (order, channel) = one_yuan(&mut d, 1);
    let n = notice(1, channel, order, DisputeStage::Opened);
    refused(
        &mut d,
        channel,
        &DisputeNotice {
            order_id: 999_999,
            ..n
        },
        ReasonCode::UnknownOrder,
    );
    refused(
        &mut d,
        channel,
        &DisputeNotice { attempt: 2, ..n },
        ReasonCode::AttemptNotCaptured,
    );
    let other = if channel == ALIPAY { WECHAT } else { ALIPAY };
    refused(
        &mut d,
        0,
        &DisputeNotice {
            channel_id: other,
            ..n
        },
        ReasonCode::AttemptNotCaptured,
    );
    refused(&mut d, other, &n, ReasonCode::WrongChannel);
    refused(
        &mut d,
        channel,
        &DisputeNotice {
            amount_minor: 101,
            ..n
        },
        ReasonCode::DisputeExceedsCaptured,
    );
    refused(
        &mut d,
        channel,
        &DisputeNotice {
            amount_minor: 0,
            ..n
        },
        ReasonCode::InvalidField,
    );
    refused(
        &mut d,
        channel,
        &DisputeNotice { fee_minor: -1, ..n },
        ReasonCode::InvalidField,
    );
    refused(
        &mut d,
        channel,
        &DisputeNotice { currency: USD, ..n },
        ReasonCode::InvalidField,
    );
    refused(
        &mut d,
        channel,
        &DisputeNotice {
            stage: DisputeStage::Won,
            ..n
        },
        ReasonCode::UnknownDispute,
    );
    refused(
        &mut d,
        channel,
        &DisputeNotice {
            fee_minor: i64::MAX,
            ..n
        },
        ReasonCode::BalanceOverflow,
    );
    accepted(&mut d, &n);
    refused(
        &mut d,
        channel,
        &DisputeNotice {
            amount_minor: 50,
            ..n
        },
        ReasonCode::DisputeExists,
    );
    // A second dispute of the same payment: nothing is left to dispute.
    refused(
        &mut d,
        channel,
        &DisputeNotice {
            dispute_id: 2,
            amount_minor: 1,
            ..n
        },
        ReasonCode::DisputeExceedsCaptured,
    );
    // A failed payment has no capture to dispute.
    let req = payment(2, SHOP, 100);
    let out = pay(&mut d, ACQUIRER_A, &req, ChannelOutcome::Declined);
    let failed = result(&out).map(|r| r.order_id).unwrap_or(0);
    if failed != 0 {
        let f = DisputeNotice {
            dispute_id: 5,
            order_id: failed,
            ..n
        };
        refused(&mut d, channel, &f, ReasonCode::AttemptNotCaptured);
    }
}

#[test]
fn replay_of_the_journal_gives_the_same_state() {
    let mut d = world();
    let (order, channel) = one_yuan(&mut d, 1);
    accepted(&mut d, &notice(4, channel, order, DisputeStage::Opened));
    settle_days(&mut d, 2);
    accepted(&mut d, &notice(4, channel, order, DisputeStage::Lost));
    let (snap_hash, snap) = d.engine.snapshot();
    let restored = sluice_engine::Engine::from_snapshot(&snap, snap_hash).expect("restores");
    assert_eq!(restored.state_hash(), snap_hash);
    assert_eq!(restored.disputes(), d.engine.disputes());
}

#[test]
fn ended_disputes_leave_the_table_after_their_keep_and_open_ones_stay() {
    let mut d = world();
    let (lost_order, lost_channel) = one_yuan(&mut d, 1);
    let (open_order, open_channel) = one_yuan(&mut d, 2);
    accepted(
        &mut d,
        &notice(1, lost_channel, lost_order, DisputeStage::Opened),
    );
    accepted(
        &mut d,
        &notice(1, lost_channel, lost_order, DisputeStage::Lost),
    );
    accepted(
        &mut d,
        &notice(2, open_channel, open_order, DisputeStage::Opened),
    );
    let keep_days = sluice_engine::disputes::ENDED_KEEP_NS / DAY_NS;
    settle_days(&mut d, keep_days - 1);
    // Within its keep, a resend of the ended dispute is still a repeat.
    let repeat = accepted(
        &mut d,
        &notice(1, lost_channel, lost_order, DisputeStage::Lost),
    );
    assert!(
        update(&repeat).is_none(),
        "a repeat moves nothing: {repeat:?}"
    );
    assert_eq!(d.engine.disputes().entries.len(), 2);
    settle_days(&mut d, 2);
    let disputes = d.engine.disputes();
    assert!(disputes.get(lost_channel, 1).is_none(), "{disputes:?}");
    let open = disputes
        .get(open_channel, 2)
        .expect("an open dispute stays");
    assert_eq!(open.stage, DisputeStage::Opened);
    // The dispute accounts still match what is left (checked after every input in debug builds),
    // and a late resend of the forgotten dispute is refused, changing nothing.
    refused(
        &mut d,
        lost_channel,
        &notice(1, lost_channel, lost_order, DisputeStage::Lost),
        ReasonCode::UnknownDispute,
    );
    let (snap_hash, snap) = d.engine.snapshot();
    let restored = sluice_engine::Engine::from_snapshot(&snap, snap_hash).expect("restores");
    assert_eq!(restored.disputes(), d.engine.disputes());
}
