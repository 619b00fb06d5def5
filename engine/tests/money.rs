//! Money through the engine (docs/ENGINE.md, "Refunds in pieces" and "Money limits"): refunds in
//! pieces reverse every split line exactly; refunds per payment are bounded by the channel; no
//! balance passes i64::MAX, and an input that could take one past it is refused BalanceOverflow
//! with nothing changed.

mod common;
use common::*;
use sluice_engine::driver::Driver;
use sluice_engine::fixture::*;
use sluice_protocol::*;

/// The allow-listed payer: risk rules (such as the single-amount cap) do not apply to it.
const WHALE: u64 = 777;

fn lines(lines: &[SplitLine]) -> Vec<(PartyRole, u32, i64)> {
    lines
        .iter()
        .map(|l| (l.role, l.party_id, l.amount_minor))
        .collect()
}

/// Asks for a refund and answers it with `outcome`; returns the result.
fn refunded(d: &mut Driver, id: u64, payment_id: u64, amount: i64, ok: bool) -> RefundResult {
    let out = d.acquirer(ACQUIRER_A, &refund(id, payment_id, amount));
    assert_eq!(refund_ack(&out).status, AckStatus::Accepted, "{out:?}");
    let x = refund_dispatch(&out).unwrap().clone();
    let outcome = if ok {
        ChannelOutcome::Succeeded
    } else {
        ChannelOutcome::Declined
    };
    let out = d.channel(x.channel_id, &refund_channel_result(&x, outcome));
    refund_result(&out).unwrap().clone()
}

/// A refund refused at its ack, with nothing changed.
fn refused_refund(d: &mut Driver, id: u64, payment_id: u64, amount: i64) -> ReasonCode {
    let before = d.engine.content_hash();
    let out = d.acquirer(ACQUIRER_A, &refund(id, payment_id, amount));
    let a = refund_ack(&out);
    assert_eq!(a.status, AckStatus::Rejected, "{a:?}");
    assert!(refund_dispatch(&out).is_none());
    assert_eq!(
        d.engine.content_hash(),
        before,
        "a refused refund changed nothing"
    );
    a.reason
}

/// The fixture world without its rule on refunds per user and day (5), for many refunds.
fn world_for_refunds() -> Driver {
    let mut d = world();
    for mut rule in rules()
        .into_iter()
        .filter(|r| r.target == RuleTarget::Refund)
    {
        rule.status = Activity::Disabled;
        configure_ok(&mut d, &rule);
    }
    d
}

/// 1.00 CNY at SHOP (profile 1: 10 % platform) brought by promoter 502, who has no promoter
/// above it: split 0.10 / 0.05 / 0.85.
fn one_yuan_with_a_promoter(d: &mut Driver, request_id: u64) {
    let mut req = payment(request_id, SHOP, 100);
    req.promoter_id = PROMOTER_PARENT;
    let out = pay(d, ACQUIRER_A, &req, ChannelOutcome::Succeeded);
    let r = result(&out).unwrap();
    assert_eq!(
        lines(&r.split),
        [
            (PartyRole::Platform, 0, 10),
            (PartyRole::PromoterLevel1, PROMOTER_PARENT, 5),
            (PartyRole::Merchant, SHOP, 85)
        ]
    );
}

#[test]
fn one_yuan_split_10_5_85_refunded_33_33_34_reverses_exactly_10_5_85() {
    let mut d = world();
    one_yuan_with_a_promoter(&mut d, 1);
    let expected = [
        [3, 2, 28], // 0.33 over 10/5/85: 3.3 / 1.65 / 28.05, the unit left to the promoter
        [3, 2, 28], // 0.33 over 7/3/57: 3.45 / 1.48 / 28.07
        [4, 1, 29], // 0.34: all that is left of every line
    ];
    for (i, (amount, shares)) in [33, 33, 34].into_iter().zip(expected).enumerate() {
        if i == 2 {
            // The promoter has nothing but the 0.01 left of this payment, and the last refund
            // takes exactly that (allocated over the original lines it would take 0.02).
            assert_eq!(
                balance(&mut d, PartyKind::Promoter, PROMOTER_PARENT, CNY).0,
                1
            );
        }
        let r = refunded(&mut d, 10 + i as u64, 1, amount, true);
        assert_eq!(r.status, FinalStatus::Succeeded, "{r:?}");
        assert_eq!(
            lines(&r.reversal),
            [
                (PartyRole::Platform, 0, shares[0]),
                (PartyRole::PromoterLevel1, PROMOTER_PARENT, shares[1]),
                (PartyRole::Merchant, SHOP, shares[2])
            ]
        );
    }
    let slot = d.engine.order_slot(ACQUIRER_A, 1).unwrap();
    let o = &d.engine.state().orders[slot as usize];
    assert_eq!(
        (o.refunded_minor, &o.taken_minor[..3]),
        (100, &[10, 5, 85][..])
    );
    assert_eq!(
        balance(&mut d, PartyKind::Promoter, PROMOTER_PARENT, CNY),
        (0, 0, 0)
    );
    assert_eq!(balance(&mut d, PartyKind::Merchant, SHOP, CNY), (0, 0, 0));
    d.engine.verify_ledger().unwrap();
}

#[test]
fn one_yuan_split_3_5_92_refunded_49_then_1_reverses_no_negative_share() {
    let mut d = world();
    let mut profile = profiles()[0].clone();
    profile.profile_id = 3;
    profile.platform_rate = rust_decimal::Decimal::new(3, 2);
    profile.promoter_level1_rate = rust_decimal::Decimal::new(5, 2);
    let mut shop = merchants()[0].clone();
    shop.split_profile_id = 3;
    configure_ok(&mut d, &profile);
    configure_ok(&mut d, &shop);
    let mut req = payment(1, SHOP, 100);
    req.promoter_id = PROMOTER_PARENT;
    let out = pay(&mut d, ACQUIRER_A, &req, ChannelOutcome::Succeeded);
    let split: Vec<i64> = result(&out)
        .unwrap()
        .split
        .iter()
        .map(|l| l.amount_minor)
        .collect();
    assert_eq!(split, [3, 5, 92]);
    let first = refunded(&mut d, 10, 1, 49, true);
    let shares: Vec<i64> = first.reversal.iter().map(|l| l.amount_minor).collect();
    assert_eq!(shares, [2, 2, 45]);
    let second = refunded(&mut d, 11, 1, 1, true);
    // Lines of 0 are left out: the merchant alone gives back the 0.01.
    assert_eq!(lines(&second.reversal), [(PartyRole::Merchant, SHOP, 1)]);
    d.engine.verify_ledger().unwrap();
}

#[test]
fn a_failed_refund_gives_its_shares_back() {
    let mut d = world();
    one_yuan_with_a_promoter(&mut d, 1);
    let failed = refunded(&mut d, 10, 1, 33, false);
    assert_eq!(failed.status, FinalStatus::Failed);
    let slot = d.engine.order_slot(ACQUIRER_A, 1).unwrap() as usize;
    assert_eq!(
        d.engine.state().orders[slot].taken_minor,
        [0; MAX_SPLIT_LINES]
    );
    // The same refund again takes the same shares, and the rest still comes back exactly.
    let again = refunded(&mut d, 11, 1, 33, true);
    let shares: Vec<i64> = again.reversal.iter().map(|l| l.amount_minor).collect();
    assert_eq!(shares, [3, 2, 28]);
    let rest = refunded(&mut d, 12, 1, 67, true);
    let shares: Vec<i64> = rest.reversal.iter().map(|l| l.amount_minor).collect();
    assert_eq!(shares, [7, 3, 57]);
    d.engine.verify_ledger().unwrap();
}

#[test]
fn refunds_per_payment_are_bounded_by_the_channel_failed_ones_included() {
    let mut d = world();
    let mut wechat = channels()[0].clone();
    wechat.refunds_max = 2;
    configure_ok(&mut d, &wechat);
    one_yuan_with_a_promoter(&mut d, 1);
    assert_eq!(
        refunded(&mut d, 10, 1, 10, false).status,
        FinalStatus::Failed
    );
    assert_eq!(
        refunded(&mut d, 11, 1, 10, true).status,
        FinalStatus::Succeeded
    );
    assert_eq!(
        refused_refund(&mut d, 12, 1, 10),
        ReasonCode::TooManyRefunds
    );
    // Raising the channel's bound lets the payment take more.
    wechat.refunds_max = 3;
    configure_ok(&mut d, &wechat);
    assert_eq!(
        refunded(&mut d, 13, 1, 90, true).status,
        FinalStatus::Succeeded
    );
    assert_eq!(
        refused_refund(&mut d, 14, 1, 1),
        ReasonCode::RefundExceedsCaptured
    );
}

#[test]
fn a_legacy_channel_refuses_the_17th_refund_refunds_full_as_versions_1_and_2_did() {
    let mut wechat = channels()[0].clone();
    // What a version 1 or 2 ConfigChannel reads as.
    wechat.unknown_policy = UnknownPolicy::Legacy;
    wechat.query_interval_ms = 0;
    wechat.query_window_ms = 0;
    wechat.refunds_max = 16;
    let mut d = world_for_refunds();
    configure_ok(&mut d, &wechat);
    one_yuan_with_a_promoter(&mut d, 1);
    for i in 0..16 {
        assert_eq!(
            refunded(&mut d, 10 + i, 1, 1, true).status,
            FinalStatus::Succeeded
        );
    }
    assert_eq!(refused_refund(&mut d, 30, 1, 1), ReasonCode::RefundsFull);
}

#[test]
fn fifty_refunds_of_one_payment_all_show_in_its_order_status() {
    let mut d = world_for_refunds();
    one_yuan_with_a_promoter(&mut d, 1);
    for i in 0..MAX_REFUNDS_PER_ORDER as u64 {
        let ok = i % 7 != 3;
        refunded(&mut d, 10 + i, 1, 1, ok);
    }
    assert_eq!(refused_refund(&mut d, 99, 1, 1), ReasonCode::TooManyRefunds);
    let slot = d.engine.order_slot(ACQUIRER_A, 1).unwrap();
    let status = d.engine.order_status(slot, 0);
    assert_eq!(status.refunds.len(), MAX_REFUNDS_PER_ORDER);
    assert_eq!(status.refunds[3].state, RefundState::Failed);
    // It encodes (the largest OrderStatus) and decodes back.
    let mut frame = vec![0u8; MAX_FRAME_BYTES];
    let n = encode_sbe(&status, &mut frame).unwrap();
    assert!(n <= 14 + <OrderStatus as Message>::MAX_BODY_LEN);
}

// ---------------------------------------------------------------------------------------------
// Money limits
// ---------------------------------------------------------------------------------------------

/// The world with SHOP taking any amount through WECHAT alone and OTHER_SHOP through ALIPAY
/// alone, both channels taking any amount for no fee.
fn whale_world() -> Driver {
    let mut d = world();
    for (channel, merchant) in [(0usize, 0usize), (1, 4)] {
        let mut ch = channels()[channel].clone();
        ch.max_amount_minor = i64::MAX;
        for m in ch.methods.iter_mut() {
            (m.fee_bps, m.fee_fixed_minor) = (0, 0);
        }
        configure_ok(&mut d, &ch);
        let mut m = merchants()[merchant].clone();
        m.max_amount_minor = i64::MAX;
        m.channels.retain(|r| r.channel_id == ch.channel_id);
        configure_ok(&mut d, &m);
    }
    d
}

fn whale_payment(request_id: u64, merchant_id: u32, amount_minor: i64) -> PaymentRequest {
    PaymentRequest {
        user_id: WHALE,
        ..payment(request_id, merchant_id, amount_minor)
    }
}

/// A payment refused BalanceOverflow at its ack, with no order and nothing changed.
fn refused_payment(d: &mut Driver, acquirer: u32, req: &PaymentRequest) {
    let before = d.engine.content_hash();
    let out = d.acquirer(acquirer, req);
    let a = ack(&out);
    assert_eq!(
        (a.status, a.reason, a.order_id),
        (AckStatus::Rejected, ReasonCode::BalanceOverflow, 0),
        "{out:?}"
    );
    assert_eq!(out.len(), 1, "nothing but the refusal: {out:?}");
    assert_eq!(d.engine.content_hash(), before);
    d.engine.verify_ledger().unwrap();
}

#[test]
fn a_second_payment_of_i64_max_to_one_merchant_is_refused_balance_overflow() {
    let mut d = whale_world();
    let out = pay(
        &mut d,
        ACQUIRER_A,
        &whale_payment(1, SHOP, i64::MAX),
        ChannelOutcome::Succeeded,
    );
    let r = result(&out).unwrap();
    assert_eq!(r.status, FinalStatus::Succeeded, "{r:?}");
    let platform = i64::MAX / 10 + 1; // 922337203685477580.7 rounds up (the larger remainder)
    assert_eq!(
        lines(&r.split),
        [
            (PartyRole::Platform, 0, platform),
            (PartyRole::Merchant, SHOP, i64::MAX - platform)
        ]
    );
    d.engine.verify_ledger().unwrap();
    assert_eq!(
        balance(&mut d, PartyKind::Merchant, SHOP, CNY),
        (i64::MAX - platform, 0, 0)
    );
    // Once more: the merchant, the platform and the channel's receivable would pass i64::MAX.
    refused_payment(&mut d, ACQUIRER_A, &whale_payment(2, SHOP, i64::MAX));
    // Even one minor unit is refused: the channel's receivable already holds i64::MAX.
    refused_payment(&mut d, ACQUIRER_A, &whale_payment(3, SHOP, 1));
    // A refund makes room again.
    let r = refunded(&mut d, 10, 1, i64::MAX / 2, true);
    assert_eq!(r.status, FinalStatus::Succeeded);
    let out = pay(
        &mut d,
        ACQUIRER_A,
        &whale_payment(4, SHOP, i64::MAX / 2),
        ChannelOutcome::Succeeded,
    );
    assert_eq!(result(&out).unwrap().status, FinalStatus::Succeeded);
    d.engine.verify_ledger().unwrap();
}

#[test]
fn payments_in_flight_together_count_against_the_limit() {
    let mut d = whale_world();
    let out = d.acquirer(ACQUIRER_A, &whale_payment(1, SHOP, i64::MAX - 5));
    assert_eq!(ack(&out).status, AckStatus::Accepted);
    let first = dispatch(&out).unwrap().clone();
    // The reservation of the first already holds clearing and the receivable near the limit.
    refused_payment(&mut d, ACQUIRER_A, &whale_payment(2, SHOP, 6));
    // In another currency there is room.
    let out = d.acquirer(
        ACQUIRER_A,
        &PaymentRequest {
            currency: HKD,
            ..whale_payment(3, SHOP, 6)
        },
    );
    assert_eq!(ack(&out).status, AckStatus::Accepted, "{out:?}");
    // 5 more fit in CNY.
    let out = d.acquirer(ACQUIRER_A, &whale_payment(4, SHOP, 5));
    assert_eq!(ack(&out).status, AckStatus::Accepted, "{out:?}");
    let out = d.channel(
        first.channel_id,
        &channel_result(&first, ChannelOutcome::Declined),
    );
    assert_eq!(result(&out).unwrap().status, FinalStatus::Failed);
    // The failed payment's reservation is voided: room again.
    let out = d.acquirer(ACQUIRER_A, &whale_payment(5, SHOP, i64::MAX - 5));
    assert_eq!(ack(&out).status, AckStatus::Accepted, "{out:?}");
    d.engine.verify_ledger().unwrap();
}

#[test]
fn a_fee_past_i64_refuses_the_payment_and_a_fee_configured_since_reverses_the_capture() {
    let mut d = whale_world();
    let mut wechat = channels()[0].clone();
    wechat.max_amount_minor = i64::MAX;
    // 100 % of the amount plus i64::MAX: past i64 for any amount.
    wechat.methods[0].fee_bps = 10_000;
    wechat.methods[0].fee_fixed_minor = i64::MAX;
    configure_ok(&mut d, &wechat);
    refused_payment(&mut d, ACQUIRER_A, &whale_payment(1, SHOP, 1));
    // A fee that fits i64 but not the platform's fee expense with a second one.
    wechat.methods[0].fee_bps = 0;
    wechat.methods[0].fee_fixed_minor = i64::MAX / 2 + 1;
    configure_ok(&mut d, &wechat);
    let out = pay(
        &mut d,
        ACQUIRER_A,
        &whale_payment(2, SHOP, 100),
        ChannelOutcome::Succeeded,
    );
    assert_eq!(result(&out).unwrap().fee_minor, i64::MAX / 2 + 1);
    refused_payment(&mut d, ACQUIRER_A, &whale_payment(3, SHOP, 100));
    // Back to no fee: a payment goes out; the fee is raised before it is captured.
    wechat.methods[0].fee_fixed_minor = 0;
    configure_ok(&mut d, &wechat);
    let out = d.acquirer(ACQUIRER_A, &whale_payment(4, SHOP, 100));
    assert_eq!(ack(&out).status, AckStatus::Accepted, "{out:?}");
    let x = dispatch(&out).unwrap().clone();
    wechat.methods[0].fee_fixed_minor = i64::MAX / 2 + 1;
    configure_ok(&mut d, &wechat);
    let before = d.engine.state().ledger.totals().debits_posted;
    let out = d.channel(x.channel_id, &channel_result(&x, ChannelOutcome::Succeeded));
    let r = result(&out).unwrap();
    assert_eq!(
        (r.status, r.reason, r.fee_minor),
        (FinalStatus::Failed, ReasonCode::BalanceOverflow, 0)
    );
    // The capture is not kept: the reservation voided, the capture booked as owed back to the
    // payer (ChannelReceivable -> ReversalsPayable, the amount alone: no fee), the acquirer told,
    // the channel asked to reverse it.
    let totals = *d.engine.state().ledger.totals();
    assert_eq!(
        (totals.debits_posted, totals.debits_pending),
        (before + 100, 0)
    );
    let told = reversals(&out);
    assert_eq!(told.len(), 1, "{out:?}");
    assert_eq!(
        (told[0].state, told[0].reason, told[0].amount_minor),
        (ReversalState::Reversing, ReasonCode::BalanceOverflow, 100)
    );
    let asked = controls(&out);
    assert_eq!(asked.len(), 1, "{out:?}");
    assert_eq!(asked[0].op, ChannelOp::Reverse);
    d.engine.verify_ledger().unwrap();
    let asked = asked[0].clone();
    let out = answer_control(&mut d, &asked, ChannelStatus::Reversed);
    assert_eq!(reversals(&out)[0].state, ReversalState::Reversed);
    assert_eq!(d.engine.counters().reversals, 1);
    d.engine.verify_ledger().unwrap();
}

#[test]
fn a_refund_that_would_take_fee_expense_and_the_receivable_past_i64_max_is_refused() {
    // HQ (profile 2: the merchant bears the fee) takes any amount, through WECHAT alone.
    let mut d = whale_world();
    let mut hq = merchants()[1].clone();
    hq.max_amount_minor = i64::MAX;
    hq.channels.retain(|r| r.channel_id == WECHAT);
    configure_ok(&mut d, &hq);
    let mut wechat = channels()[0].clone();
    wechat.max_amount_minor = i64::MAX;
    let set_fee = |d: &mut Driver, wechat: &mut ConfigChannel, fee: i64| {
        wechat.methods[0] = MethodFee {
            method: PaymentMethod::Wallet,
            fee_bps: 0,
            fee_fixed_minor: fee,
        };
        configure_ok(d, &*wechat);
    };
    // A fee as large as the amount: it covers the whole merchant part, so fee expense holds only
    // the platform's share of it, p.
    let amount = i64::MAX / 2;
    set_fee(&mut d, &mut wechat, amount);
    let out = pay(
        &mut d,
        ACQUIRER_A,
        &whale_payment(1, HQ, amount),
        ChannelOutcome::Succeeded,
    );
    let r = result(&out).unwrap().clone();
    let p = r.split[0].amount_minor;
    assert_eq!(
        lines(&r.split),
        [
            (PartyRole::Platform, 0, p),
            (PartyRole::ChannelFee, 0, amount - p),
            (PartyRole::Merchant, HQ, 0)
        ]
    );
    // A second fee fills fee expense to i64::MAX less its own 0.99 cover.
    set_fee(&mut d, &mut wechat, i64::MAX - p);
    let out = pay(
        &mut d,
        ACQUIRER_A,
        &whale_payment(2, HQ, 100),
        ChannelOutcome::Succeeded,
    );
    assert_eq!(result(&out).unwrap().status, FinalStatus::Succeeded);
    // Refunding the first payment gives its fee cover back to fee expense, and credits the
    // channel's receivable (which the two fees lean to the credit side): both past i64::MAX.
    assert_eq!(
        refused_refund(&mut d, 10, 1, amount),
        ReasonCode::BalanceOverflow
    );
    // The second payment's refund fits.
    assert_eq!(
        refunded(&mut d, 11, 2, 100, true).status,
        FinalStatus::Succeeded
    );
    d.engine.verify_ledger().unwrap();
}

#[test]
fn a_withdrawal_that_would_take_payouts_past_i64_max_is_refused() {
    let mut d = whale_world();
    let amount = i64::MAX / 10 * 6;
    for (request_id, acquirer, merchant) in [(1, ACQUIRER_A, SHOP), (2, ACQUIRER_B, OTHER_SHOP)] {
        let out = pay(
            &mut d,
            acquirer,
            &whale_payment(request_id, merchant, amount),
            ChannelOutcome::Succeeded,
        );
        assert_eq!(result(&out).unwrap().status, FinalStatus::Succeeded);
    }
    d.advance_ns(sluice_engine::NS_PER_DAY);
    d.pulse();
    let withdraw = |d: &mut Driver, id: u64, acquirer: u32, merchant_id: u32| {
        let available = balance(d, PartyKind::Merchant, merchant_id, CNY).1;
        let req = WithdrawRequest {
            withdraw_request_id: id,
            merchant_id,
            currency: CNY,
            // Room for the payout channel's fee (0.1% and 2).
            amount_minor: available / 1_000 * 998,
        };
        let before = d.engine.content_hash();
        let out = d.acquirer(acquirer, &req);
        let w = find(&out, |m| match m {
            AnyMessage::WithdrawAck(w) => Some(w),
            _ => None,
        })
        .clone();
        if w.status == AckStatus::Rejected {
            assert_eq!(d.engine.content_hash(), before);
        }
        (w.status, w.reason)
    };
    assert_eq!(
        withdraw(&mut d, 1, ACQUIRER_A, SHOP),
        (AckStatus::Accepted, ReasonCode::None)
    );
    // The payout in flight holds about 0.51 of i64::MAX: another 0.51 does not fit.
    assert_eq!(
        withdraw(&mut d, 2, ACQUIRER_B, OTHER_SHOP),
        (AckStatus::Rejected, ReasonCode::BalanceOverflow)
    );
    d.engine.verify_ledger().unwrap();
}
