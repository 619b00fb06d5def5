//! Orders, split, idempotency, refunds, settlement and withdrawals, through the engine's inputs.

mod common;
use common::*;
use sluice_engine::fixture::*;
use sluice_protocol::*;

#[test]
fn golden_split_100_with_10_percent_platform_and_5_percent_promoter() {
    let mut d = world();
    // A promoter without a parent: only the level-1 commission applies.
    d.admin(&ConfigPromoter {
        promoter_id: 503,
        parent_promoter_id: 0,
        settlement_days: 1,
        status: Activity::Active,
        ..ConfigPromoter::default()
    });
    let mut req = payment(1, SHOP, 10_000);
    req.promoter_id = 503;
    let out = pay(&mut d, ACQUIRER_A, &req, ChannelOutcome::Succeeded);
    let r = result(&out).expect("result");
    assert_eq!(r.status, FinalStatus::Succeeded);
    let lines: Vec<(PartyRole, u32, i64)> = r
        .split
        .iter()
        .map(|l| (l.role, l.party_id, l.amount_minor))
        .collect();
    assert_eq!(
        lines,
        vec![
            (PartyRole::Platform, 0, 1_000),
            (PartyRole::PromoterLevel1, 503, 500),
            (PartyRole::Merchant, SHOP, 8_500)
        ]
    );
    assert!(d.engine.verify_ledger().is_ok());
}

#[test]
fn golden_split_five_cents_30_70() {
    let mut d = world();
    let mut p = profiles()[0].clone();
    p.profile_id = 9;
    p.platform_rate = rust_decimal::Decimal::new(3, 1);
    d.admin(&p);
    let mut m = merchants()[0].clone();
    m.merchant_id = 1009;
    m.split_profile_id = 9;
    d.admin(&m);
    let out = pay(
        &mut d,
        ACQUIRER_A,
        &payment(2, 1009, 5),
        ChannelOutcome::Succeeded,
    );
    let r = result(&out).expect("result");
    let amounts: Vec<i64> = r.split.iter().map(|l| l.amount_minor).collect();
    assert_eq!(
        amounts,
        vec![1, 4],
        "0.05 split 30/70: the tie goes to the larger share"
    );
}

#[test]
fn hierarchy_and_merchant_borne_fee_split_sums_exactly() {
    let mut d = world();
    let mut req = payment(3, DISTRIBUTOR, 12_345);
    req.promoter_id = PROMOTER;
    let out = d.acquirer(ACQUIRER_A, &req);
    let disp = dispatch(&out).unwrap().clone();
    let out = d.channel(
        disp.channel_id,
        &channel_result(&disp, ChannelOutcome::Succeeded),
    );
    let r = result(&out).unwrap();
    let sum: i64 = r.split.iter().map(|l| l.amount_minor).sum();
    assert_eq!(sum, 12_345);
    let roles: Vec<PartyRole> = r.split.iter().map(|l| l.role).collect();
    assert!(roles.contains(&PartyRole::MerchantGrandparent));
    assert!(roles.contains(&PartyRole::MerchantParent));
    assert!(roles.contains(&PartyRole::PromoterLevel2));
    assert!(
        roles.contains(&PartyRole::ChannelFee),
        "profile 2: the merchant bears the fee"
    );
    let fee_line = r
        .split
        .iter()
        .find(|l| l.role == PartyRole::ChannelFee)
        .unwrap();
    assert_eq!(fee_line.amount_minor, r.fee_minor);
    d.engine.verify_ledger().unwrap();
}

#[test]
fn resend_changes_nothing_and_a_different_resend_is_refused() {
    let mut d = world();
    let req = payment(7, SHOP, 1_000);
    let out = d.acquirer(ACQUIRER_A, &req);
    assert_eq!(ack(&out).status, AckStatus::Accepted);
    let order_id = ack(&out).order_id;
    let before = d.engine.content_hash();
    let out = d.acquirer(ACQUIRER_A, &req);
    let a = ack(&out);
    assert!(a.duplicate);
    assert_eq!(a.order_id, order_id);
    assert!(dispatch(&out).is_none(), "a resend dispatches nothing");
    assert_eq!(d.engine.content_hash(), before);
    let mut changed = req.clone();
    changed.amount_minor = 1_001;
    let out = d.acquirer(ACQUIRER_A, &changed);
    assert_eq!(ack(&out).reason, ReasonCode::DuplicateRequestMismatch);
    assert_eq!(d.engine.content_hash(), before);
    // The same request id from another acquirer is another payment.
    let mut other = req.clone();
    other.merchant_id = OTHER_SHOP;
    let out = d.acquirer(ACQUIRER_B, &other);
    assert_eq!(ack(&out).status, AckStatus::Accepted);
}

#[test]
fn resend_after_final_returns_the_result_too() {
    let mut d = world();
    let req = payment(8, SHOP, 1_000);
    pay(&mut d, ACQUIRER_A, &req, ChannelOutcome::Succeeded);
    let out = d.acquirer(ACQUIRER_A, &req);
    assert!(ack(&out).duplicate);
    let r = result(&out).expect("a final order's resend gets its result");
    assert!(r.duplicate);
    assert_eq!(r.status, FinalStatus::Succeeded);
}

#[test]
fn invalid_payments_are_refused_and_change_nothing() {
    let mut d = world();
    let before = d.engine.content_hash();
    let cases = [
        (
            payment(1, 4242, 100),
            ACQUIRER_A,
            ReasonCode::UnknownMerchant,
        ),
        (
            payment(1, OTHER_SHOP, 100),
            ACQUIRER_A,
            ReasonCode::MerchantNotOwned,
        ),
        (
            payment(1, SHOP, 0),
            ACQUIRER_A,
            ReasonCode::AmountNotPositive,
        ),
        (
            payment(1, SHOP, -5),
            ACQUIRER_A,
            ReasonCode::AmountNotPositive,
        ),
        (
            payment(1, SHOP, 10_000_001),
            ACQUIRER_A,
            ReasonCode::AmountAboveMaximum,
        ),
        (
            PaymentRequest {
                currency: 392,
                ..payment(1, SHOP, 100)
            },
            ACQUIRER_A,
            ReasonCode::CurrencyNotAccepted,
        ),
        (
            PaymentRequest {
                promoter_id: 9,
                ..payment(1, SHOP, 100)
            },
            ACQUIRER_A,
            ReasonCode::UnknownPromoter,
        ),
    ];
    for (req, acquirer, reason) in cases {
        let out = d.acquirer(acquirer, &req);
        let a = ack(&out);
        assert_eq!((a.status, a.reason), (AckStatus::Rejected, reason));
        assert!(dispatch(&out).is_none());
    }
    assert_eq!(d.engine.content_hash(), before);
}

#[test]
fn orders_full_is_refused() {
    let mut d = world_with(2);
    for i in 0..2 {
        assert_eq!(
            ack(&d.acquirer(ACQUIRER_A, &payment(i, SHOP, 100))).status,
            AckStatus::Accepted
        );
    }
    let out = d.acquirer(ACQUIRER_A, &payment(99, SHOP, 100));
    assert_eq!(ack(&out).reason, ReasonCode::OrdersFull);
}

#[test]
fn refunds_partial_several_and_never_more_than_captured() {
    let mut d = world();
    let mut req = payment(10, SHOP, 10_000);
    req.promoter_id = PROMOTER;
    pay(&mut d, ACQUIRER_A, &req, ChannelOutcome::Succeeded);
    let refund = |id, amount| RefundRequest {
        refund_request_id: id,
        payment_request_id: 10,
        amount_minor: amount,
    };
    let mut total = 0;
    for (id, amount) in [(1u64, 3_000i64), (2, 2_500)] {
        let out = d.acquirer(ACQUIRER_A, &refund(id, amount));
        let a = find(&out, |m| {
            if let AnyMessage::RefundAck(a) = m {
                Some(a)
            } else {
                None
            }
        });
        assert_eq!(a.status, AckStatus::Accepted, "{a:?}");
        let disp = find(&out, |m| {
            if let AnyMessage::RefundDispatch(x) = m {
                Some(x)
            } else {
                None
            }
        })
        .clone();
        let out = d.channel(
            disp.channel_id,
            &RefundChannelResult {
                refund_id: disp.refund_id,
                outcome: ChannelOutcome::Succeeded,
                channel_code: 0,
                latency_us: 10,
                channel_ref: Chars::new("rf"),
            },
        );
        let r = find(&out, |m| {
            if let AnyMessage::RefundResult(r) = m {
                Some(r)
            } else {
                None
            }
        });
        assert_eq!(r.status, FinalStatus::Succeeded);
        assert_eq!(
            r.reversal.iter().map(|l| l.amount_minor).sum::<i64>(),
            amount
        );
        assert!(
            r.reversal.iter().any(|l| l.role == PartyRole::Platform),
            "platform commission comes back"
        );
        assert!(
            r.reversal
                .iter()
                .any(|l| l.role == PartyRole::PromoterLevel1),
            "promoter commission comes back"
        );
        total += amount;
    }
    // 10000 - 5500 = 4500 left: 4501 is too much.
    let out = d.acquirer(ACQUIRER_A, &refund(3, 4_501));
    let a = find(&out, |m| {
        if let AnyMessage::RefundAck(a) = m {
            Some(a)
        } else {
            None
        }
    });
    assert_eq!(a.reason, ReasonCode::RefundExceedsCaptured);
    let status = d.engine.order_status(0, 0);
    assert_eq!(status.refunded_minor, total);
    assert_eq!(status.refunds.len(), 2);
    d.engine.verify_ledger().unwrap();
}

#[test]
fn settlement_moves_pending_to_available_and_freezes_the_deposit() {
    let mut d = world();
    pay(
        &mut d,
        ACQUIRER_A,
        &payment(20, SHOP, 10_000),
        ChannelOutcome::Succeeded,
    );
    assert_eq!(
        balance(&mut d, PartyKind::Merchant, SHOP, CNY),
        (9_000, 0, 0)
    );
    // Same day: nothing moves.
    d.advance_ns(3_600 * 1_000_000_000);
    d.pulse();
    assert_eq!(
        balance(&mut d, PartyKind::Merchant, SHOP, CNY),
        (9_000, 0, 0)
    );
    // T+1: 95% available, 5% deposit frozen for 7 days.
    d.advance_ns(sluice_engine::NS_PER_DAY);
    d.pulse();
    assert_eq!(
        balance(&mut d, PartyKind::Merchant, SHOP, CNY),
        (0, 8_550, 450)
    );
    for _ in 0..7 {
        d.advance_ns(sluice_engine::NS_PER_DAY);
        d.pulse();
    }
    assert_eq!(
        balance(&mut d, PartyKind::Merchant, SHOP, CNY),
        (0, 9_000, 0)
    );
    // Withdraw part of it.
    let out = d.acquirer(
        ACQUIRER_A,
        &WithdrawRequest {
            withdraw_request_id: 1,
            merchant_id: SHOP,
            currency: CNY,
            amount_minor: 4_000,
        },
    );
    let w = find(&out, |m| {
        if let AnyMessage::WithdrawAck(w) = m {
            Some(w)
        } else {
            None
        }
    });
    // The payout channel's fee (2 + 0.1%) comes from the balance too.
    assert_eq!(
        (w.status, w.fee_minor, w.available_after_minor),
        (AckStatus::Accepted, 6, 4_994)
    );
    let out = d.acquirer(
        ACQUIRER_A,
        &WithdrawRequest {
            withdraw_request_id: 2,
            merchant_id: SHOP,
            currency: CNY,
            amount_minor: 5_001,
        },
    );
    let w = find(&out, |m| {
        if let AnyMessage::WithdrawAck(w) = m {
            Some(w)
        } else {
            None
        }
    });
    assert_eq!(w.reason, ReasonCode::InsufficientBalance);
    d.engine.verify_ledger().unwrap();
}

#[test]
fn failover_on_retryable_error_and_no_retry_on_decline() {
    let mut d = world();
    let out = d.acquirer(ACQUIRER_A, &payment(30, SHOP, 1_000));
    let first = dispatch(&out).unwrap().clone();
    let out = d.channel(
        first.channel_id,
        &channel_result(&first, ChannelOutcome::RetryableError),
    );
    let second = dispatch(&out).expect("failover dispatch").clone();
    assert_ne!(second.channel_id, first.channel_id);
    assert_eq!(second.attempt, 2);
    let out = d.channel(
        second.channel_id,
        &channel_result(&second, ChannelOutcome::Succeeded),
    );
    let r = result(&out).unwrap();
    assert_eq!((r.status, r.attempts), (FinalStatus::Succeeded, 2));
    // A decline is final.
    let out = d.acquirer(ACQUIRER_A, &payment(31, SHOP, 1_000));
    let first = dispatch(&out).unwrap().clone();
    let out = d.channel(
        first.channel_id,
        &channel_result(&first, ChannelOutcome::Declined),
    );
    assert!(dispatch(&out).is_none());
    let r = result(&out).unwrap();
    assert_eq!(
        (r.status, r.reason, r.attempts),
        (FinalStatus::Failed, ReasonCode::ChannelDeclined, 1)
    );
    // A repeated result is stale and changes nothing (a late success is a capture to reverse:
    // tests/unknown.rs).
    let before = d.engine.content_hash();
    let out = d.channel(
        first.channel_id,
        &channel_result(&first, ChannelOutcome::Declined),
    );
    assert!(matches!(&out[0].1, AnyMessage::Reject(r) if r.reason == ReasonCode::StaleAttempt));
    assert_eq!(d.engine.content_hash(), before);
}

#[test]
fn timeout_on_pulse_fails_over_under_policy_legacy() {
    // Policy Hold asks instead (tests/unknown.rs).
    let mut d = legacy_world();
    let out = d.acquirer(ACQUIRER_A, &payment(40, SHOP, 1_000));
    let first = dispatch(&out).unwrap().clone();
    d.advance_ns(1_000_000_000);
    assert!(
        dispatch(
            &d.pulse()
                .iter()
                .filter_map(|r| decode_any_frame(r.frame).ok().map(|m| (r.dest, m)))
                .collect::<Vec<_>>()
        )
        .is_none()
    );
    d.advance_ns(1_500_000_000);
    d.pulse();
    let out = d.decoded();
    let second = dispatch(&out).expect("timed-out attempt fails over");
    assert_eq!(second.attempt, 2);
    assert_ne!(second.channel_id, first.channel_id);
    let status = d.engine.order_status(0, 0);
    assert_eq!(status.attempts[0].status, AttemptStatus::TimedOut);
}

#[test]
fn a_snapshot_of_another_state_format_is_refused_with_its_reason() {
    use sluice_engine::{ApplyError, Engine, STATE_FORMAT};
    let mut d = world();
    d.acquirer(ACQUIRER_A, &payment(50, SHOP, 1_000));
    let (hash, bytes) = d.engine.snapshot();
    let restored = Engine::from_snapshot(&bytes, hash).expect("this format restores");
    assert_eq!(restored.state_hash(), hash);
    let refusal = |payload: &[u8]| match Engine::from_snapshot(payload, hash) {
        Err(ApplyError::BadSnapshot(why)) => why,
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a snapshot of another format was accepted"),
    };
    // Another format number.
    let mut other = bytes.clone();
    other[4..8].copy_from_slice(&(STATE_FORMAT + 1).to_le_bytes());
    let why = refusal(&other);
    assert!(
        why.contains(&format!("state format {}", STATE_FORMAT + 1)),
        "{why}"
    );
    // The first format had no mark: its payload began with the state's length.
    let mut unmarked = bytes.clone();
    unmarked[0..8].copy_from_slice(&((bytes.len() - 32) as u64).to_le_bytes());
    let why = refusal(&unmarked);
    assert!(why.contains("no state format mark"), "{why}");
    // Lengths past the end are refused, not read.
    let mut long = bytes.clone();
    long[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(refusal(&long).contains("lengths exceed"));
}

#[test]
fn a_promoter_chain_that_would_loop_is_refused_and_changes_nothing() {
    // 501 was brought by 502 (the fixture); 502 re-parented under 501 would loop.
    let mut d = world();
    let before = d.engine.content_hash();
    let looping = ConfigPromoter {
        promoter_id: PROMOTER_PARENT,
        parent_promoter_id: PROMOTER,
        settlement_days: 7,
        status: Activity::Active,
        ..ConfigPromoter::default()
    };
    let out = d.admin(&looping);
    let ack = find(&out, |m| match m {
        AnyMessage::ConfigAck(a) => Some(a),
        _ => None,
    });
    assert_eq!(ack.status, AckStatus::Rejected);
    assert_eq!(ack.reason, ReasonCode::InvalidConfig);
    assert!(ack.text.as_str().contains("cycle"), "{}", ack.text);
    assert_eq!(d.engine.content_hash(), before);
    // A promoter of its own is refused the same way; an ordinary change is accepted.
    let own = ConfigPromoter {
        parent_promoter_id: PROMOTER_PARENT,
        ..looping
    };
    let ack = d.admin(&own);
    assert!(matches!(&ack[..], [(_, AnyMessage::ConfigAck(a))] if a.status == AckStatus::Rejected));
    let fine = ConfigPromoter {
        parent_promoter_id: 0,
        settlement_days: 3,
        ..looping
    };
    let ack = d.admin(&fine);
    assert!(matches!(&ack[..], [(_, AnyMessage::ConfigAck(a))] if a.status == AckStatus::Accepted));
}
