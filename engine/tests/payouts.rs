//! Payouts (docs/PAYOUTS.md, section 4) through the engine's inputs: every outcome of a payout
//! channel, the questions, the review, the refusals, promoters', the platform's and automatic
//! payouts, with the ledger checked after each.

mod common;
use common::*;
use sluice_engine::driver::Driver;
use sluice_engine::fixture::*;
use sluice_engine::{Dest, DestKind, NS_PER_DAY};
use sluice_protocol::*;

/// The fixture world with SHOP's 10,000 CNY payment settled: its available balance.
fn funded() -> (Driver, i64) {
    let mut d = world();
    let out = pay(
        &mut d,
        ACQUIRER_A,
        &payment(1, SHOP, 10_000),
        ChannelOutcome::Succeeded,
    );
    assert!(result(&out).is_some());
    for _ in 0..8 {
        d.advance_ns(NS_PER_DAY);
        d.pulse();
    }
    let available = balance(&mut d, PartyKind::Merchant, SHOP, CNY).1;
    assert!(available > 5_000, "{available}");
    (d, available)
}

fn withdraw(id: u64, amount_minor: i64) -> WithdrawRequest {
    WithdrawRequest {
        withdraw_request_id: id,
        merchant_id: SHOP,
        currency: CNY,
        amount_minor,
    }
}

fn withdraw_ack(out: &Out) -> &WithdrawAck {
    find(out, |m| match m {
        AnyMessage::WithdrawAck(a) => Some(a),
        _ => None,
    })
}

fn withdraw_result(out: &Out) -> Option<&WithdrawResult> {
    out.iter().find_map(|(_, m)| match m {
        AnyMessage::WithdrawResult(r) => Some(r),
        _ => None,
    })
}

fn payout_dispatch(out: &Out) -> Option<&PayoutDispatch> {
    out.iter().find_map(|(_, m)| match m {
        AnyMessage::PayoutDispatch(p) => Some(p),
        _ => None,
    })
}

fn payout_query(out: &Out) -> Option<&PayoutQuery> {
    out.iter().find_map(|(_, m)| match m {
        AnyMessage::PayoutQuery(p) => Some(p),
        _ => None,
    })
}

fn answer(payout_id: u64, status: PayoutChannelStatus) -> PayoutChannelResult {
    PayoutChannelResult {
        payout_id,
        status,
        channel_code: 0,
        channel_ref: Chars::new("bank-ref"),
    }
}

fn pulse(d: &mut Driver) -> Out {
    d.pulse();
    d.decoded()
}

/// Everything that must hold after every input.
fn check(d: &Driver) {
    d.engine.verify_ledger().unwrap();
    d.engine.verify_payouts().unwrap();
}

fn bank(d: &Driver) -> i128 {
    let l = &d.engine.state().ledger;
    l.account(l.platform_bank(0)).debit_balance()
}

/// Withdraws `amount` from a funded SHOP: the ack and the dispatch.
fn sent(d: &mut Driver, id: u64, amount: i64) -> (WithdrawAck, PayoutDispatch) {
    let out = d.acquirer(ACQUIRER_A, &withdraw(id, amount));
    let ack = withdraw_ack(&out).clone();
    assert_eq!(ack.status, AckStatus::Accepted, "{ack:?}");
    assert_eq!(ack.state, PayoutState::Sent);
    let dispatch = payout_dispatch(&out)
        .expect("a Sent payout is dispatched")
        .clone();
    let dest = out
        .iter()
        .find(|(_, m)| matches!(m, AnyMessage::PayoutDispatch(_)))
        .unwrap()
        .0;
    assert_eq!(dest, Dest::channel(BANK_TRANSFER));
    assert!(withdraw_result(&out).is_none(), "the outcome comes later");
    check(d);
    (ack, dispatch)
}

#[test]
fn a_paid_withdrawal_leaves_the_bank_with_its_fee_and_ends_succeeded() {
    let (mut d, available) = funded();
    let bank_before = bank(&d);
    let (ack, dispatch) = sent(&mut d, 1, 4_000);
    // Fee: 2 + 0.1% of 4,000.
    assert_eq!(ack.fee_minor, 6);
    assert_eq!(ack.available_after_minor, available - 4_006);
    assert_eq!(
        (
            dispatch.payout_id,
            dispatch.amount_minor,
            dispatch.fee_minor
        ),
        (ack.withdrawal_id, 4_000, 6)
    );
    assert_eq!(dispatch.party_kind, PartyKind::Merchant);
    assert_eq!(
        balance(&mut d, PartyKind::Merchant, SHOP, CNY).1,
        available - 4_006
    );
    let out = d.channel(
        BANK_TRANSFER,
        &answer(ack.withdrawal_id, PayoutChannelStatus::Paid),
    );
    let r = withdraw_result(&out).expect("the outcome");
    assert_eq!(
        (r.status, r.reason),
        (FinalStatus::Succeeded, ReasonCode::None)
    );
    assert_eq!(r.available_after_minor, available - 4_006);
    assert_eq!(bank(&d), bank_before - 4_006);
    let l = &d.engine.state().ledger;
    assert_eq!(l.account(l.payout_fees(0)).credits_posted, 6);
    check(&d);
    // A duplicate Paid changes nothing: paid at most once.
    let before = d.engine.content_hash();
    let out = d.channel(
        BANK_TRANSFER,
        &answer(ack.withdrawal_id, PayoutChannelStatus::Paid),
    );
    assert_eq!(
        reject(&out).map(|r| r.reason),
        Some(ReasonCode::StaleAttempt)
    );
    assert_eq!(d.engine.content_hash(), before);
    assert_eq!(d.engine.counters().payouts_paid, 1);
    // A resend gets the ack and the result again.
    let out = d.acquirer(ACQUIRER_A, &withdraw(1, 4_000));
    assert!(withdraw_ack(&out).duplicate);
    assert_eq!(withdraw_ack(&out).state, PayoutState::Paid);
    assert!(withdraw_result(&out).unwrap().duplicate);
    let out = d.acquirer(ACQUIRER_A, &withdraw(1, 4_001));
    assert_eq!(
        withdraw_ack(&out).reason,
        ReasonCode::DuplicateRequestMismatch
    );
    check(&d);
}

#[test]
fn a_failed_payout_gives_the_money_back_fee_included() {
    let (mut d, available) = funded();
    let bank_before = bank(&d);
    let (ack, _) = sent(&mut d, 1, 4_000);
    let out = d.channel(
        BANK_TRANSFER,
        &answer(ack.withdrawal_id, PayoutChannelStatus::Failed),
    );
    let r = withdraw_result(&out).expect("the outcome");
    assert_eq!(
        (r.status, r.reason),
        (FinalStatus::Failed, ReasonCode::PayoutFailed)
    );
    assert_eq!(r.available_after_minor, available);
    assert_eq!(balance(&mut d, PartyKind::Merchant, SHOP, CNY).1, available);
    assert_eq!(bank(&d), bank_before);
    check(&d);
    // A late Paid after the failure is refused: nothing changes.
    let out = d.channel(
        BANK_TRANSFER,
        &answer(ack.withdrawal_id, PayoutChannelStatus::Paid),
    );
    assert_eq!(
        reject(&out).map(|r| r.reason),
        Some(ReasonCode::StaleAttempt)
    );
    assert_eq!(balance(&mut d, PartyKind::Merchant, SHOP, CNY).1, available);
}

#[test]
fn processing_is_asked_again_at_the_interval_then_paid() {
    let (mut d, _) = funded();
    let (ack, _) = sent(&mut d, 1, 1_000);
    let out = d.channel(
        BANK_TRANSFER,
        &answer(ack.withdrawal_id, PayoutChannelStatus::Processing),
    );
    assert!(withdraw_result(&out).is_none());
    d.advance_ns(1_000_000_000);
    assert!(
        payout_query(&pulse(&mut d)).is_none(),
        "not before the interval"
    );
    d.advance_ns(5_000_000_000);
    let q = payout_query(&pulse(&mut d))
        .expect("asked at the interval")
        .clone();
    assert_eq!((q.payout_id, q.amount_minor), (ack.withdrawal_id, 1_000));
    let out = d.channel(
        BANK_TRANSFER,
        &answer(ack.withdrawal_id, PayoutChannelStatus::Paid),
    );
    assert_eq!(
        withdraw_result(&out).unwrap().status,
        FinalStatus::Succeeded
    );
    check(&d);
}

#[test]
fn a_lost_payout_is_asked_about_after_its_deadline_never_sent_blindly() {
    let (mut d, _) = funded();
    let (ack, _) = sent(&mut d, 1, 1_000);
    d.advance_ns(29_000_000_000);
    assert!(pulse(&mut d).iter().all(|(_, m)| !matches!(
        m,
        AnyMessage::PayoutQuery(_) | AnyMessage::PayoutDispatch(_)
    )));
    d.advance_ns(2_000_000_000);
    let out = pulse(&mut d);
    assert!(payout_query(&out).is_some(), "asked past the deadline");
    assert!(
        payout_dispatch(&out).is_none(),
        "never re-sent without NotFound"
    );
    // Asked again at every interval until a final answer.
    d.advance_ns(5_000_000_000);
    assert!(payout_query(&pulse(&mut d)).is_some());
    let out = d.channel(
        BANK_TRANSFER,
        &answer(ack.withdrawal_id, PayoutChannelStatus::Paid),
    );
    assert_eq!(
        withdraw_result(&out).unwrap().status,
        FinalStatus::Succeeded
    );
    d.advance_ns(60_000_000_000);
    assert!(
        payout_query(&pulse(&mut d)).is_none(),
        "a paid payout is not asked about"
    );
    check(&d);
}

#[test]
fn not_found_sends_the_same_payout_again() {
    let (mut d, _) = funded();
    let (ack, first) = sent(&mut d, 1, 1_000);
    d.advance_ns(31_000_000_000);
    assert!(payout_query(&pulse(&mut d)).is_some());
    let out = d.channel(
        BANK_TRANSFER,
        &answer(ack.withdrawal_id, PayoutChannelStatus::NotFound),
    );
    let again = payout_dispatch(&out).expect("sent again");
    assert_eq!(
        (
            again.payout_id,
            again.amount_minor,
            again.fee_minor,
            again.party_id
        ),
        (
            first.payout_id,
            first.amount_minor,
            first.fee_minor,
            first.party_id
        )
    );
    assert!(again.deadline_ns > first.deadline_ns);
    let out = d.channel(
        BANK_TRANSFER,
        &answer(ack.withdrawal_id, PayoutChannelStatus::Paid),
    );
    assert_eq!(
        withdraw_result(&out).unwrap().status,
        FinalStatus::Succeeded
    );
    assert_eq!(d.engine.counters().payouts_paid, 1);
    check(&d);
}

#[test]
fn a_returned_payout_gives_back_the_amount_not_the_fee() {
    let (mut d, available) = funded();
    let bank_before = bank(&d);
    let (ack, _) = sent(&mut d, 1, 4_000);
    d.channel(
        BANK_TRANSFER,
        &answer(ack.withdrawal_id, PayoutChannelStatus::Paid),
    );
    let out = d.channel(
        BANK_TRANSFER,
        &answer(ack.withdrawal_id, PayoutChannelStatus::Returned),
    );
    let back = find(&out, |m| match m {
        AnyMessage::WithdrawReturned(r) => Some(r),
        _ => None,
    });
    assert_eq!(back.amount_minor, 4_000);
    assert_eq!(back.available_after_minor, available - 6);
    assert_eq!(
        balance(&mut d, PartyKind::Merchant, SHOP, CNY).1,
        available - 6
    );
    assert_eq!(bank(&d), bank_before - 6);
    assert_eq!(d.engine.counters().payouts_returned, 1);
    check(&d);
    // A second return changes nothing.
    let out = d.channel(
        BANK_TRANSFER,
        &answer(ack.withdrawal_id, PayoutChannelStatus::Returned),
    );
    assert_eq!(
        reject(&out).map(|r| r.reason),
        Some(ReasonCode::StaleAttempt)
    );
    assert_eq!(
        balance(&mut d, PartyKind::Merchant, SHOP, CNY).1,
        available - 6
    );
}

/// Returns come days or weeks after the payment (ACH's unauthorized returns up to 60 days): a
/// paid payout outlives the idempotency window (7 days in the fixture) so that a late return
/// still gives the party its money back.
#[test]
fn a_return_weeks_after_the_payment_still_gives_the_money_back() {
    let (mut d, available) = funded();
    let (ack, _) = sent(&mut d, 1, 4_000);
    d.channel(
        BANK_TRANSFER,
        &answer(ack.withdrawal_id, PayoutChannelStatus::Paid),
    );
    for _ in 0..30 {
        d.advance_ns(NS_PER_DAY);
        d.pulse();
    }
    let out = d.channel(
        BANK_TRANSFER,
        &answer(ack.withdrawal_id, PayoutChannelStatus::Returned),
    );
    let back = find(&out, |m| match m {
        AnyMessage::WithdrawReturned(r) => Some(r),
        _ => None,
    });
    assert_eq!(back.amount_minor, 4_000);
    assert_eq!(
        balance(&mut d, PartyKind::Merchant, SHOP, CNY).1,
        available - 6
    );
    check(&d);
    // Past the return window the slot is retired; a return then is refused and changes nothing.
    for _ in 0..61 {
        d.advance_ns(NS_PER_DAY);
        d.pulse();
    }
    let out = d.channel(
        BANK_TRANSFER,
        &answer(ack.withdrawal_id, PayoutChannelStatus::Returned),
    );
    assert!(reject(&out).is_some(), "{out:?}");
    check(&d);
}

#[test]
fn a_return_of_a_payout_in_flight_is_paid_then_returned() {
    let (mut d, available) = funded();
    let (ack, _) = sent(&mut d, 1, 4_000);
    let out = d.channel(
        BANK_TRANSFER,
        &answer(ack.withdrawal_id, PayoutChannelStatus::Returned),
    );
    assert_eq!(
        withdraw_result(&out).unwrap().status,
        FinalStatus::Succeeded
    );
    assert!(
        out.iter()
            .any(|(_, m)| matches!(m, AnyMessage::WithdrawReturned(_)))
    );
    assert_eq!(
        balance(&mut d, PartyKind::Merchant, SHOP, CNY).1,
        available - 6
    );
    check(&d);
}

fn review_above(d: &mut Driver, amount: i64) {
    configure_ok(
        d,
        &ConfigPayoutPolicy {
            currency: CNY,
            review_above_minor: amount,
            platform_payout_channel_id: BANK_TRANSFER,
        },
    );
}

#[test]
fn a_payout_over_the_threshold_waits_for_review_then_goes_or_is_rejected() {
    let (mut d, available) = funded();
    review_above(&mut d, 1_000);
    let out = d.acquirer(ACQUIRER_A, &withdraw(1, 2_000));
    let first = withdraw_ack(&out).clone();
    assert_eq!(first.state, PayoutState::Review);
    assert!(payout_dispatch(&out).is_none());
    assert_eq!(
        balance(&mut d, PartyKind::Merchant, SHOP, CNY).1,
        available - 2_004
    );
    check(&d);
    // Approved: sent.
    let review = PayoutReview {
        payout_id: first.withdrawal_id,
        approve: true,
    };
    let out = d.admin(&review);
    assert_eq!(config_ack(&out).status, AckStatus::Accepted);
    assert!(payout_dispatch(&out).is_some());
    // Not in review any more.
    assert_eq!(
        config_ack(&d.admin(&review)).reason,
        ReasonCode::PayoutNotInReview
    );
    d.channel(
        BANK_TRANSFER,
        &answer(first.withdrawal_id, PayoutChannelStatus::Paid),
    );
    // Rejected: the money is back.
    let out = d.acquirer(ACQUIRER_A, &withdraw(2, 1_500));
    let second = withdraw_ack(&out).clone();
    assert_eq!(second.state, PayoutState::Review);
    let out = d.admin(&PayoutReview {
        payout_id: second.withdrawal_id,
        approve: false,
    });
    let r = withdraw_result(&out).expect("the outcome");
    assert_eq!(
        (r.status, r.reason),
        (FinalStatus::Failed, ReasonCode::PayoutRejected)
    );
    assert_eq!(
        balance(&mut d, PartyKind::Merchant, SHOP, CNY).1,
        available - 2_004
    );
    let unknown = PayoutReview {
        payout_id: 77,
        approve: true,
    };
    assert_eq!(
        config_ack(&d.admin(&unknown)).reason,
        ReasonCode::UnknownPayout
    );
    check(&d);
}

#[test]
fn refusals_change_nothing() {
    let (mut d, available) = funded();
    let before = d.engine.content_hash();
    let refused = |d: &mut Driver, req: &WithdrawRequest| {
        let out = d.acquirer(ACQUIRER_A, req);
        let a = withdraw_ack(&out).clone();
        assert_eq!((a.status, a.withdrawal_id), (AckStatus::Rejected, 0));
        a.reason
    };
    // Amount + fee one unit over the balance.
    let fee = 2 + (available + 500) / 1_000;
    let over = withdraw(1, available - fee + 1);
    assert_eq!(refused(&mut d, &over), ReasonCode::InsufficientBalance);
    assert_eq!(
        refused(&mut d, &withdraw(2, 0)),
        ReasonCode::AmountNotPositive
    );
    let mut other = withdraw(3, 10);
    other.merchant_id = OTHER_SHOP;
    assert_eq!(refused(&mut d, &other), ReasonCode::MerchantNotOwned);
    let mut gbp = withdraw(4, 10);
    gbp.currency = 826;
    assert_eq!(refused(&mut d, &gbp), ReasonCode::CurrencyNotAccepted);
    assert_eq!(d.engine.content_hash(), before);
    // Below the merchant's minimum.
    let mut m = merchants()[0].clone();
    m.min_payout_minor = 5_000;
    configure_ok(&mut d, &m);
    assert_eq!(
        refused(&mut d, &withdraw(5, 4_999)),
        ReasonCode::BelowMinimumPayout
    );
    // No payout channel.
    m.payout_channel_id = 0;
    configure_ok(&mut d, &m);
    assert_eq!(
        refused(&mut d, &withdraw(6, 5_000)),
        ReasonCode::NoPayoutChannel
    );
    check(&d);
}

#[test]
fn a_payout_channel_id_is_never_a_payment_channels() {
    let mut d = world();
    let mut ch = channels()[0].clone();
    ch.channel_id = BANK_TRANSFER;
    assert_eq!(config_ack(&d.admin(&ch)).reason, ReasonCode::InvalidConfig);
    let out = d.admin(&ConfigPayoutChannel {
        channel_id: WECHAT,
        name: Chars::new("x"),
        status: Activity::Active,
        timeout_ms: 1_000,
        query_interval_ms: 1_000,
        fee_fixed_minor: 0,
        fee_rate: Default::default(),
    });
    assert_eq!(config_ack(&out).reason, ReasonCode::InvalidConfig);
}

/// A promoter's commission settles after 7 days; an admin pays it out.
#[test]
fn an_admin_pays_a_promoter_and_the_platform() {
    let mut d = world();
    let mut req = payment(1, SHOP, 100_000);
    req.promoter_id = PROMOTER;
    pay(&mut d, ACQUIRER_A, &req, ChannelOutcome::Succeeded);
    for _ in 0..9 {
        d.advance_ns(NS_PER_DAY);
        d.pulse();
    }
    let earned = balance(&mut d, PartyKind::Promoter, PROMOTER, CNY).1;
    assert!(earned > 100, "{earned}");
    let ask = PayoutRequest {
        payout_request_id: 1,
        party_kind: PartyKind::Promoter,
        party_id: PROMOTER,
        currency: CNY,
        amount_minor: 50,
    };
    let out = d.admin(&ask);
    let a = find(&out, |m| match m {
        AnyMessage::PayoutAck(a) => Some(a),
        _ => None,
    })
    .clone();
    assert_eq!(
        (a.status, a.state, a.fee_minor),
        (AckStatus::Accepted, PayoutState::Sent, 2)
    );
    let dispatch = payout_dispatch(&out).unwrap();
    assert_eq!(
        (dispatch.party_kind, dispatch.party_id),
        (PartyKind::Promoter, PROMOTER)
    );
    let out = d.channel(
        BANK_TRANSFER,
        &answer(a.payout_id, PayoutChannelStatus::Paid),
    );
    assert!(withdraw_result(&out).is_none(), "no acquirer to tell");
    assert_eq!(
        balance(&mut d, PartyKind::Promoter, PROMOTER, CNY).1,
        earned - 52
    );
    // A resend gets the state now.
    let out = d.admin(&ask);
    assert!(
        out.iter()
            .any(|(_, m)| matches!(m, AnyMessage::PayoutAck(a) if a.state == PayoutState::Paid))
    );
    // The platform sweeps part of its revenue.
    let l = &d.engine.state().ledger;
    let revenue = l.account(l.platform_revenue(0)).spendable();
    let out = d.admin(&PayoutRequest {
        payout_request_id: 2,
        party_kind: PartyKind::Platform,
        party_id: 0,
        currency: CNY,
        amount_minor: 100,
    });
    let a = find(&out, |m| match m {
        AnyMessage::PayoutAck(a) => Some(a),
        _ => None,
    })
    .clone();
    assert_eq!(a.status, AckStatus::Accepted, "{a:?}");
    d.channel(
        BANK_TRANSFER,
        &answer(a.payout_id, PayoutChannelStatus::Paid),
    );
    let l = &d.engine.state().ledger;
    assert_eq!(l.account(l.platform_revenue(0)).spendable(), revenue - 102);
    // Unknown promoter.
    let out = d.admin(&PayoutRequest {
        payout_request_id: 3,
        party_id: 9_999,
        ..ask
    });
    assert!(out.iter().any(
        |(_, m)| matches!(m, AnyMessage::PayoutAck(a) if a.reason == ReasonCode::UnknownPromoter)
    ));
    check(&d);
}

#[test]
fn an_automatic_payout_pays_the_whole_balance_less_the_fee_on_the_next_pulse() {
    let (mut d, available) = funded();
    // Manual: nothing.
    assert_eq!(
        d.engine
            .auto_payout_for_tests(PartyKind::Merchant, SHOP, CNY),
        None
    );
    let mut m = merchants()[0].clone();
    m.payout_mode = PayoutMode::Automatic;
    m.min_payout_minor = available + 1;
    configure_ok(&mut d, &m);
    assert_eq!(
        d.engine
            .auto_payout_for_tests(PartyKind::Merchant, SHOP, CNY),
        None,
        "below the minimum"
    );
    m.min_payout_minor = 100;
    configure_ok(&mut d, &m);
    let id = d
        .engine
        .auto_payout_for_tests(PartyKind::Merchant, SHOP, CNY)
        .expect("paid out");
    // The whole balance, less the fee: nothing left.
    assert_eq!(balance(&mut d, PartyKind::Merchant, SHOP, CNY).1, 0);
    check(&d);
    let out = pulse(&mut d);
    let dispatch = payout_dispatch(&out).expect("dispatched on the pulse");
    assert_eq!(dispatch.payout_id, id);
    assert_eq!(dispatch.amount_minor + dispatch.fee_minor, available);
    assert_eq!(
        dispatch.fee_minor,
        2 + (dispatch.amount_minor + 500) / 1_000
    );
    // Nothing left to pay: no second payout.
    assert_eq!(
        d.engine
            .auto_payout_for_tests(PartyKind::Merchant, SHOP, CNY),
        None
    );
    let out = d.channel(BANK_TRANSFER, &answer(id, PayoutChannelStatus::Paid));
    assert!(withdraw_result(&out).is_none());
    check(&d);
    assert!(out.iter().all(|(dest, _)| dest.kind != DestKind::Acquirer));
}

#[test]
fn the_payouts_survive_a_snapshot() {
    let (mut d, _) = funded();
    let (ack, _) = sent(&mut d, 1, 1_000);
    let (hash, bytes) = d.engine.snapshot();
    let engine = sluice_engine::Engine::from_snapshot(&bytes, hash).expect("loads");
    let mut twin = d.twin(engine);
    let out = twin.channel(
        BANK_TRANSFER,
        &answer(ack.withdrawal_id, PayoutChannelStatus::Paid),
    );
    assert_eq!(
        withdraw_result(&out).unwrap().status,
        FinalStatus::Succeeded
    );
    // A resend still finds it after the load (the index is rebuilt).
    let out = twin.acquirer(ACQUIRER_A, &withdraw(1, 1_000));
    assert!(withdraw_ack(&out).duplicate);
    check(&twin);
}
