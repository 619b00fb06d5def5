//! Routing: every strategy's choice and explanation, failover on retryable errors and timeouts, and
//! channel health (leaky failure bucket, success-rate floor, cooldown, probing, recovery).

mod common;
use common::*;
use sluice_engine::driver::Driver;
use sluice_engine::fixture::*;
use sluice_engine::{Dest, DestKind};
use sluice_protocol::*;

use CandidateDecision::{Chosen, Ranked, Skipped};

const SECOND_NS: u64 = 1_000_000_000;

/// A wallet channel for CNY like WeChat Pay's, under another id.
fn wallet_channel(id: u16) -> ConfigChannel {
    let mut c = channels()[0].clone();
    c.channel_id = id;
    c.name = Chars::new(&format!("wallet_{id}"));
    c
}

/// A merchant of acquirer A on profile 1 with `strategy` over `route` (weights 1).
fn merchant_with(id: u32, strategy: RoutingStrategy, route: &[u16]) -> ConfigMerchant {
    let mut m = merchants()[0].clone();
    m.merchant_id = id;
    m.strategy = strategy;
    m.channels = route
        .iter()
        .map(|&channel_id| RouteEntry {
            channel_id,
            weight: 1,
        })
        .collect();
    m
}

fn card(mut req: PaymentRequest, currency: u16) -> PaymentRequest {
    req.method = PaymentMethod::Card;
    req.currency = currency;
    req
}

/// Pays and returns (ack, first dispatch).
fn submit(d: &mut Driver, acquirer: u32, req: &PaymentRequest) -> (PaymentAck, Dispatch) {
    let out = d.acquirer(acquirer, req);
    let a = ack(&out).clone();
    assert_eq!(a.status, AckStatus::Accepted, "{a:?}");
    let disp = dispatch(&out)
        .expect("an accepted payment is dispatched")
        .clone();
    assert_eq!((disp.order_id, disp.attempt), (a.order_id, 1));
    assert_eq!(
        disp.channel_id, a.channel_id,
        "the ack names the first channel"
    );
    (a, disp)
}

fn answer(d: &mut Driver, disp: &Dispatch, outcome: ChannelOutcome) -> Out {
    d.channel(disp.channel_id, &channel_result(disp, outcome))
}

fn answer_slow(d: &mut Driver, disp: &Dispatch, outcome: ChannelOutcome, latency_us: u32) -> Out {
    let mut r = channel_result(disp, outcome);
    r.latency_us = latency_us;
    d.channel(disp.channel_id, &r)
}

fn health_of(d: &Driver, channel_id: u16) -> HealthState {
    d.engine
        .stats_report(0)
        .channels
        .iter()
        .find(|c| c.channel_id == channel_id)
        .map(|c| c.health)
        .expect("channel in the statistics")
}

fn alerts(out: &Out) -> Vec<(u16, HealthState, HealthState)> {
    health_alerts(out)
        .into_iter()
        .map(|(dest, a)| {
            assert_eq!(dest, Dest::admins(), "health alerts go to every admin");
            assert_eq!(dest.kind, DestKind::Admins);
            (a.channel_id, a.from, a.to)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

#[test]
fn priority_takes_the_first_channel_that_can_and_explains_every_candidate() {
    let mut d = world();
    let (a, disp) = submit(&mut d, ACQUIRER_A, &payment(1, SHOP, 1_000));
    assert_eq!(disp.channel_id, WECHAT);
    let status = d.engine.order_status(slot_of(&a), 0);
    assert_eq!(status.strategy, RoutingStrategy::Priority);
    // SHOP lists unionpay, wechat, alipay, stripe, paypal: score = 100 - list position.
    assert_eq!(
        explanation(&d, slot_of(&a)),
        vec![
            (WECHAT, Chosen, SkipReason::None, 1, 99),
            (ALIPAY, Ranked, SkipReason::None, 2, 98),
            (UNIONPAY, Skipped, SkipReason::MethodUnsupported, 0, 0),
            (STRIPE, Skipped, SkipReason::MethodUnsupported, 0, 0),
            (PAYPAL, Skipped, SkipReason::CurrencyUnsupported, 0, 0),
        ]
    );
    // A card payment in CNY: only unionpay takes cards in CNY.
    let (a, disp) = submit(&mut d, ACQUIRER_A, &card(payment(2, SHOP, 1_000), CNY));
    assert_eq!(disp.channel_id, UNIONPAY);
    assert_eq!(
        explanation(&d, slot_of(&a)),
        vec![
            (UNIONPAY, Chosen, SkipReason::None, 1, 100),
            (WECHAT, Skipped, SkipReason::MethodUnsupported, 0, 0),
            (ALIPAY, Skipped, SkipReason::MethodUnsupported, 0, 0),
            (STRIPE, Skipped, SkipReason::CurrencyUnsupported, 0, 0),
            (PAYPAL, Skipped, SkipReason::CurrencyUnsupported, 0, 0),
        ]
    );
}

#[test]
fn skip_reasons_amount_disabled_unknown_and_no_channel_at_all() {
    let mut d = world();
    // WeChat takes at most 500, Alipay is disabled, and the merchant also lists channel 77.
    let mut wechat = channels()[0].clone();
    wechat.max_amount_minor = 500;
    configure_ok(&mut d, &wechat);
    let mut alipay = channels()[1].clone();
    alipay.status = Activity::Disabled;
    configure_ok(&mut d, &alipay);
    configure_ok(&mut d, &wallet_channel(6));
    configure_ok(
        &mut d,
        &merchant_with(1010, RoutingStrategy::Priority, &[77, WECHAT, ALIPAY, 6]),
    );
    let (a, disp) = submit(&mut d, ACQUIRER_A, &payment(1, 1010, 1_000));
    assert_eq!(disp.channel_id, 6);
    assert_eq!(
        explanation(&d, slot_of(&a)),
        vec![
            (6, Chosen, SkipReason::None, 1, 97),
            (77, Skipped, SkipReason::UnknownChannel, 0, 0),
            (WECHAT, Skipped, SkipReason::AmountOutOfRange, 0, 0),
            (ALIPAY, Skipped, SkipReason::Disabled, 0, 0),
        ]
    );
    // Within WeChat's range it is the first eligible one again.
    let (_, disp) = submit(&mut d, ACQUIRER_A, &payment(2, 1010, 500));
    assert_eq!(disp.channel_id, WECHAT);
    // Nothing can take a USD wallet payment: rejected with the explanation kept.
    let mut usd = payment(3, 1010, 1_000);
    usd.currency = USD;
    let out = d.acquirer(ACQUIRER_A, &usd);
    let a = ack(&out);
    assert_eq!(
        (a.status, a.reason),
        (AckStatus::Rejected, ReasonCode::NoChannelAvailable)
    );
    assert!(dispatch(&out).is_none());
    let status = d.engine.order_status(slot_of(a), 0);
    assert_eq!(status.state, OrderState::Rejected);
    assert!(status.candidates.iter().all(|c| c.decision == Skipped));
    assert_eq!(status.candidates.len(), 4);
    assert_eq!(
        status.candidates[3].skip_reason,
        SkipReason::CurrencyUnsupported,
        "channel 6 takes CNY and HKD only"
    );
    d.engine.verify_ledger().unwrap();
}

#[test]
fn weighted_split_is_deterministic_and_roughly_proportional_to_the_weights() {
    // BRANCH splits 50 / 30 / 20 / 10 / 10 over wechat, alipay, unionpay, stripe, paypal; only
    // wechat and alipay take CNY wallet payments, so the volume goes 50 : 30 between them.
    let orders = 2_000u64;
    let mut picks = Vec::new();
    let mut d = world();
    for id in 1..=orders {
        let (a, disp) = submit(&mut d, ACQUIRER_A, &payment(id, BRANCH, 1_000));
        let explained = explanation(&d, slot_of(&a));
        assert_eq!(
            explained[0].0, disp.channel_id,
            "the pick is explained first"
        );
        assert_eq!(explained[0].1, Chosen);
        let (first, second) = (explained[0], explained[1]);
        assert_eq!(
            second.1, Ranked,
            "the other one stays as a failover candidate"
        );
        assert_eq!(
            [first.0, second.0].iter().filter(|&&c| c == WECHAT).count(),
            1
        );
        // Scores are the weights.
        for c in &explained[..2] {
            assert_eq!(c.4, if c.0 == WECHAT { 50 } else { 30 });
        }
        assert!(
            explained[2..]
                .iter()
                .all(|c| c.1 == Skipped && c.2 != SkipReason::None)
        );
        picks.push(disp.channel_id);
    }
    let wechat = picks.iter().filter(|&&c| c == WECHAT).count() as f64 / orders as f64;
    assert!(
        (0.575..=0.675).contains(&wechat),
        "wechat got {wechat:.3} of the volume, expected about 0.625"
    );
    assert!(picks.iter().all(|&c| c == WECHAT || c == ALIPAY));
    // The pick depends on the order id only: a fresh engine picks the same channels.
    let mut again = world();
    for (i, &expected) in picks.iter().enumerate().take(200) {
        let (_, disp) = submit(
            &mut again,
            ACQUIRER_A,
            &payment(i as u64 + 1, BRANCH, 1_000),
        );
        assert_eq!(disp.channel_id, expected, "order {}", i + 1);
    }
}

#[test]
fn weighted_split_skips_a_zero_weight_channel() {
    let mut d = world();
    let mut m = merchants()[2].clone(); // BRANCH
    m.channels = [(WECHAT, 0), (ALIPAY, 1)]
        .iter()
        .map(|&(channel_id, weight)| RouteEntry { channel_id, weight })
        .collect();
    configure_ok(&mut d, &m);
    for id in 1..=50 {
        let (a, disp) = submit(&mut d, ACQUIRER_A, &payment(id, BRANCH, 1_000));
        assert_eq!(disp.channel_id, ALIPAY);
        assert_eq!(
            explanation(&d, slot_of(&a)),
            vec![
                (ALIPAY, Chosen, SkipReason::None, 1, 1),
                (WECHAT, Skipped, SkipReason::ZeroWeight, 0, 0),
            ]
        );
    }
}

#[test]
fn cheapest_picks_the_lowest_fee_for_the_amount_and_method() {
    let mut d = world();
    // OTHER_SHOP (acquirer B) routes by cost. Card in USD: stripe 2.9% + 30, paypal 3.49% + 49.
    let (a, disp) = submit(
        &mut d,
        ACQUIRER_B,
        &card(payment(1, OTHER_SHOP, 10_000), USD),
    );
    assert_eq!(disp.channel_id, STRIPE);
    assert_eq!(
        explanation(&d, slot_of(&a)),
        vec![
            (STRIPE, Chosen, SkipReason::None, 1, -320),
            (PAYPAL, Ranked, SkipReason::None, 2, -398),
            (UNIONPAY, Skipped, SkipReason::CurrencyUnsupported, 0, 0),
            (WECHAT, Skipped, SkipReason::MethodUnsupported, 0, 0),
            (ALIPAY, Skipped, SkipReason::MethodUnsupported, 0, 0),
        ]
    );
    // Wallet in CNY: alipay 0.55% beats wechat 0.60%.
    let (a, disp) = submit(&mut d, ACQUIRER_B, &payment(2, OTHER_SHOP, 10_000));
    assert_eq!(disp.channel_id, ALIPAY);
    assert_eq!(
        explanation(&d, slot_of(&a))[..2],
        [
            (ALIPAY, Chosen, SkipReason::None, 1, -55),
            (WECHAT, Ranked, SkipReason::None, 2, -60),
        ]
    );
    // With a fixed fee on alipay the answer depends on the amount.
    let mut alipay = channels()[1].clone();
    alipay.methods[0].fee_fixed_minor = 20;
    configure_ok(&mut d, &alipay);
    let (a, disp) = submit(&mut d, ACQUIRER_B, &payment(3, OTHER_SHOP, 10_000));
    assert_eq!(disp.channel_id, WECHAT, "60 < 55 + 20");
    assert_eq!(
        explanation(&d, slot_of(&a))[..2],
        [
            (WECHAT, Chosen, SkipReason::None, 1, -60),
            (ALIPAY, Ranked, SkipReason::None, 2, -75),
        ]
    );
    let (a, disp) = submit(&mut d, ACQUIRER_B, &payment(4, OTHER_SHOP, 1_000_000));
    assert_eq!(disp.channel_id, ALIPAY, "5500 + 20 < 6000");
    assert_eq!(
        explanation(&d, slot_of(&a))[..2],
        [
            (ALIPAY, Chosen, SkipReason::None, 1, -5_520),
            (WECHAT, Ranked, SkipReason::None, 2, -6_000),
        ]
    );
}

#[test]
fn highest_success_rate_prefers_the_channel_with_better_recent_results() {
    let mut d = world();
    // No history: both at the smoothed 1/2, the tie keeps list order (wechat before alipay).
    let (a, disp) = submit(&mut d, ACQUIRER_A, &payment(1, HQ, 1_000));
    assert_eq!(disp.channel_id, WECHAT);
    assert_eq!(
        explanation(&d, slot_of(&a))[..2],
        [
            (WECHAT, Chosen, SkipReason::None, 1, 500_000),
            (ALIPAY, Ranked, SkipReason::None, 2, 500_000),
        ]
    );
    answer(&mut d, &disp, ChannelOutcome::Declined);
    // Two more declines at wechat (through SHOP, which routes by priority to wechat).
    for id in 2..=3 {
        let (_, disp) = submit(&mut d, ACQUIRER_A, &payment(id, SHOP, 1_000));
        assert_eq!(disp.channel_id, WECHAT);
        answer(&mut d, &disp, ChannelOutcome::Declined);
    }
    // wechat: 0 of 3 -> (0+1)/(3+2) = 200000 ppm; alipay untouched at 500000.
    let (a, disp) = submit(&mut d, ACQUIRER_A, &payment(4, HQ, 1_000));
    assert_eq!(disp.channel_id, ALIPAY);
    assert_eq!(
        explanation(&d, slot_of(&a))[..2],
        [
            (ALIPAY, Chosen, SkipReason::None, 1, 500_000),
            (WECHAT, Ranked, SkipReason::None, 2, 200_000),
        ]
    );
    // Alipay declines too: 1/3, then 1/4 still beat wechat; at 1/5 they tie and list order wins.
    answer(&mut d, &disp, ChannelOutcome::Declined);
    let (_, disp) = submit(&mut d, ACQUIRER_A, &payment(5, HQ, 1_000));
    assert_eq!(disp.channel_id, ALIPAY);
    answer(&mut d, &disp, ChannelOutcome::Declined);
    let (_, disp) = submit(&mut d, ACQUIRER_A, &payment(6, HQ, 1_000));
    assert_eq!(disp.channel_id, ALIPAY);
    answer(&mut d, &disp, ChannelOutcome::Declined);
    let (a, disp) = submit(&mut d, ACQUIRER_A, &payment(7, HQ, 1_000));
    assert_eq!(disp.channel_id, WECHAT);
    assert_eq!(
        explanation(&d, slot_of(&a))[..2],
        [
            (WECHAT, Chosen, SkipReason::None, 1, 200_000),
            (ALIPAY, Ranked, SkipReason::None, 2, 200_000),
        ]
    );
    // A success at wechat puts it ahead: 2/6.
    answer(&mut d, &disp, ChannelOutcome::Succeeded);
    let (a, _) = submit(&mut d, ACQUIRER_A, &payment(8, HQ, 1_000));
    assert_eq!(
        explanation(&d, slot_of(&a))[0],
        (WECHAT, Chosen, SkipReason::None, 1, 333_333)
    );
}

#[test]
fn success_rate_counts_only_the_recent_blocks_of_attempts() {
    // Four completed blocks of 32 attempts and the current one count; older blocks roll off.
    let mut d = world();
    let mut id = 0;
    let mut attempt = |d: &mut Driver, outcome| {
        id += 1;
        let (_, disp) = submit(d, ACQUIRER_A, &payment(id, SHOP, 1_000));
        assert_eq!(disp.channel_id, WECHAT);
        answer(d, &disp, outcome);
    };
    for _ in 0..3 {
        attempt(&mut d, ChannelOutcome::Declined);
    }
    for _ in 3..128 {
        attempt(&mut d, ChannelOutcome::Succeeded);
    }
    let wechat_score = |d: &mut Driver, id: u64| {
        let (a, _) = submit(d, ACQUIRER_A, &payment(id, HQ, 1_000));
        let e = explanation(d, slot_of(&a));
        e.iter().find(|c| c.0 == WECHAT).unwrap().4
    };
    // 128 attempts, 125 successes: (125+1) * 10^6 / 130.
    assert_eq!(wechat_score(&mut d, 10_001), 126 * 1_000_000 / 130);
    for _ in 128..160 {
        attempt(&mut d, ChannelOutcome::Succeeded);
    }
    // The block with the three declines rolled off: 128 of 128.
    assert_eq!(wechat_score(&mut d, 10_002), 129 * 1_000_000 / 130);
}

#[test]
fn weighted_score_combines_success_rate_cost_and_latency() {
    // DISTRIBUTOR: weights success 1, cost 2, latency 0.1 (per microsecond of average latency).
    let mut d = world();
    let (a, disp) = submit(&mut d, ACQUIRER_A, &payment(1, DISTRIBUTOR, 10_000));
    // sr 500000 for both; cost 6000 ppm (wechat) and 5500 ppm (alipay); no latency yet.
    assert_eq!(disp.channel_id, ALIPAY);
    assert_eq!(
        explanation(&d, slot_of(&a))[..2],
        [
            (ALIPAY, Chosen, SkipReason::None, 1, 500_000 - 2 * 5_500),
            (WECHAT, Ranked, SkipReason::None, 2, 500_000 - 2 * 6_000),
        ]
    );
    // Alipay succeeds but takes 2 s: sr 2/3, latency 2_000_000 us costs 200000.
    answer_slow(&mut d, &disp, ChannelOutcome::Succeeded, 2_000_000);
    let (a, disp) = submit(&mut d, ACQUIRER_A, &payment(2, DISTRIBUTOR, 10_000));
    assert_eq!(disp.channel_id, WECHAT);
    assert_eq!(
        explanation(&d, slot_of(&a))[..2],
        [
            (WECHAT, Chosen, SkipReason::None, 1, 488_000),
            (
                ALIPAY,
                Ranked,
                SkipReason::None,
                2,
                666_666 - 11_000 - 200_000
            ),
        ]
    );
    // Wechat is fast: its success lifts it further ahead.
    answer_slow(&mut d, &disp, ChannelOutcome::Succeeded, 1_000);
    let (a, _) = submit(&mut d, ACQUIRER_A, &payment(3, DISTRIBUTOR, 10_000));
    assert_eq!(
        explanation(&d, slot_of(&a))[0],
        (WECHAT, Chosen, SkipReason::None, 1, 666_666 - 12_000 - 100)
    );
}

#[test]
fn expected_value_weighs_the_success_rate_by_the_net_amount() {
    let mut d = world();
    configure_ok(
        &mut d,
        &merchant_with(1010, RoutingStrategy::ExpectedValue, &[WECHAT, ALIPAY]),
    );
    let (a, disp) = submit(&mut d, ACQUIRER_A, &payment(1, 1010, 10_000));
    // Same smoothed rate: the lower fee wins (10000 - 55 > 10000 - 60).
    assert_eq!(disp.channel_id, ALIPAY);
    assert_eq!(
        explanation(&d, slot_of(&a)),
        vec![
            (ALIPAY, Chosen, SkipReason::None, 1, 500_000 * 9_945),
            (WECHAT, Ranked, SkipReason::None, 2, 500_000 * 9_940),
        ]
    );
    assert_eq!(
        d.engine.order_status(slot_of(&a), 0).strategy,
        RoutingStrategy::ExpectedValue
    );
    // One decline at alipay: 1/3 of the net is worth less than 1/2 of wechat's.
    answer(&mut d, &disp, ChannelOutcome::Declined);
    let (a, disp) = submit(&mut d, ACQUIRER_A, &payment(2, 1010, 10_000));
    assert_eq!(disp.channel_id, WECHAT);
    assert_eq!(
        explanation(&d, slot_of(&a)),
        vec![
            (WECHAT, Chosen, SkipReason::None, 1, 500_000 * 9_940),
            (ALIPAY, Ranked, SkipReason::None, 2, 333_333 * 9_945),
        ]
    );
    let stats = d.engine.stats_report(0);
    let ev = stats
        .strategies
        .iter()
        .find(|s| s.strategy == RoutingStrategy::ExpectedValue)
        .unwrap();
    assert_eq!((ev.decisions, ev.failovers), (2, 0));
}

// ---------------------------------------------------------------------------------------------
// Failover
// ---------------------------------------------------------------------------------------------

/// Merchant 1011 routes by priority over four CNY wallet channels.
fn four_channel_world() -> Driver {
    let mut d = world();
    configure_ok(&mut d, &wallet_channel(6));
    configure_ok(&mut d, &wallet_channel(7));
    configure_ok(
        &mut d,
        &merchant_with(1011, RoutingStrategy::Priority, &[WECHAT, ALIPAY, 6, 7]),
    );
    d
}

#[test]
fn retryable_errors_and_timeouts_fail_over_up_to_attempts_max() {
    let mut d = four_channel_world();
    let (a, first) = submit(&mut d, ACQUIRER_A, &payment(1, 1011, 1_000));
    let slot = slot_of(&a);
    assert_eq!(first.channel_id, WECHAT);
    // Retryable error: the next candidate gets attempt 2.
    let out = answer(&mut d, &first, ChannelOutcome::RetryableError);
    assert!(results(&out).is_empty());
    let second = dispatches(&out);
    assert_eq!(second.len(), 1);
    let second = second[0].clone();
    assert_eq!(
        (second.order_id, second.attempt, second.channel_id),
        (a.order_id, 2, ALIPAY)
    );
    let e = explanation(&d, slot);
    assert_eq!(
        e[1],
        (ALIPAY, Chosen, SkipReason::None, 2, 99),
        "failover marks the pick"
    );
    // Alipay does not answer: its deadline (2 s) is checked on a pulse. The outcome is unknown:
    // alipay is asked, and says the attempt is closed, so the payment fails over.
    d.advance_ns(1_999_000_000);
    let out = d.pulse().len();
    assert_eq!(out, 0, "not yet expired");
    d.advance_ns(1_000_000);
    d.pulse();
    let out = d.decoded();
    assert!(
        dispatch(&out).is_none(),
        "no failover while the outcome is unknown"
    );
    let query = controls(&out)[0].clone();
    assert_eq!(
        (query.op, query.attempt, query.channel_id),
        (ChannelOp::Query, 2, ALIPAY)
    );
    let out = answer_control(&mut d, &query, ChannelStatus::Closed);
    let third = dispatch(&out).expect("a closed attempt fails over").clone();
    assert_eq!((third.attempt, third.channel_id), (3, 6));
    // The third attempt fails too: attempts_max (3) is reached, channel 7 is never tried.
    let out = answer(&mut d, &third, ChannelOutcome::RetryableError);
    assert!(dispatch(&out).is_none());
    let r = result(&out).expect("final result");
    assert_eq!(
        (r.status, r.reason, r.attempts, r.channel_id),
        (FinalStatus::Failed, ReasonCode::AttemptsExhausted, 3, 6)
    );
    assert!(r.split.is_empty() && r.fee_minor == 0);
    let status = d.engine.order_status(slot, 0);
    let attempts: Vec<(u16, AttemptStatus)> = status
        .attempts
        .iter()
        .map(|x| (x.channel_id, x.status))
        .collect();
    assert_eq!(
        attempts,
        vec![
            (WECHAT, AttemptStatus::RetryableError),
            (ALIPAY, AttemptStatus::Closed),
            (6, AttemptStatus::RetryableError),
        ]
    );
    // Every reservation was voided: nothing is pending in the ledger.
    let totals = *d.engine.state().ledger.totals();
    assert_eq!((totals.debits_pending, totals.debits_posted), (0, 0));
    d.engine.verify_ledger().unwrap();
    let stats = d.engine.stats_report(0);
    assert_eq!((stats.failed, stats.timeouts, stats.in_flight), (1, 1, 0));
    let priority = stats
        .strategies
        .iter()
        .find(|s| s.strategy == RoutingStrategy::Priority)
        .unwrap();
    assert_eq!((priority.decisions, priority.failovers), (1, 2));
}

#[test]
fn a_payment_that_succeeds_after_failover_counts_once() {
    let mut d = four_channel_world();
    let (_, first) = submit(&mut d, ACQUIRER_A, &payment(1, 1011, 1_000));
    let out = answer(&mut d, &first, ChannelOutcome::RetryableError);
    let second = dispatch(&out).unwrap().clone();
    let out = answer(&mut d, &second, ChannelOutcome::Succeeded);
    let r = result(&out).unwrap();
    assert_eq!(
        (r.status, r.attempts, r.channel_id),
        (FinalStatus::Succeeded, 2, ALIPAY)
    );
    // Alipay's 0.55% fee, not wechat's.
    assert_eq!(r.fee_minor, 6);
    // The first attempt's late success is a second capture: not kept but reversed, and the
    // payment's result stands.
    let out = answer(&mut d, &first, ChannelOutcome::Succeeded);
    assert!(results(&out).is_empty(), "a result is never sent again");
    assert_eq!(reversals(&out)[0].state, ReversalState::Reversing);
    assert_eq!(controls(&out)[0].op, ChannelOp::Reverse);
    let stats = d.engine.stats_report(0);
    assert_eq!((stats.succeeded, stats.failed_over), (1, 1));
    assert_eq!((stats.late_captures, stats.reversals), (1, 0));
    d.engine.verify_ledger().unwrap();
}

#[test]
fn failover_ends_when_no_candidate_is_left() {
    let mut d = world();
    // SHOP has two channels for CNY wallet payments.
    let (_, first) = submit(&mut d, ACQUIRER_A, &payment(1, SHOP, 1_000));
    let out = answer(&mut d, &first, ChannelOutcome::RetryableError);
    let second = dispatch(&out).unwrap().clone();
    assert_eq!(second.channel_id, ALIPAY);
    let out = answer(&mut d, &second, ChannelOutcome::RetryableError);
    assert!(dispatch(&out).is_none());
    let r = result(&out).unwrap();
    assert_eq!(
        (r.status, r.reason, r.attempts),
        (FinalStatus::Failed, ReasonCode::AttemptsExhausted, 2)
    );
}

#[test]
fn a_decline_is_final_and_never_retried() {
    let mut d = four_channel_world();
    let (a, first) = submit(&mut d, ACQUIRER_A, &payment(1, 1011, 1_000));
    let out = answer(&mut d, &first, ChannelOutcome::Declined);
    assert!(dispatch(&out).is_none(), "a decline is not retried");
    let r = result(&out).unwrap();
    assert_eq!(
        (r.status, r.reason, r.attempts),
        (FinalStatus::Failed, ReasonCode::ChannelDeclined, 1)
    );
    // Nothing expires later either.
    d.advance_ns(10 * SECOND_NS);
    assert!(d.pulse().is_empty());
    assert_eq!(
        d.engine.order_status(slot_of(&a), 0).state,
        OrderState::Failed
    );
}

#[test]
fn a_deadline_is_enforced_on_pulses_and_a_late_answer_after_it_is_stale_under_legacy() {
    // Under policy Hold the late answer is the unknown attempt's answer (tests/unknown.rs).
    let mut d = legacy_world();
    let (_, first) = submit(&mut d, ACQUIRER_A, &payment(1, SHOP, 1_000));
    // Past the deadline but before any pulse, the answer still counts (the sequencer's pulse
    // decides timeouts, so the outcome does not depend on when a pulse happens to come).
    d.advance_ns(3 * SECOND_NS);
    let out = answer(&mut d, &first, ChannelOutcome::Succeeded);
    assert_eq!(result(&out).unwrap().status, FinalStatus::Succeeded);
    // Another payment times out on a pulse; its late answer is then stale.
    let (_, first) = submit(&mut d, ACQUIRER_A, &payment(2, SHOP, 1_000));
    d.advance_ns(3 * SECOND_NS);
    d.pulse();
    let out = d.decoded();
    let second = dispatch(&out).expect("failover").clone();
    let before = d.engine.content_hash();
    let out = answer(&mut d, &first, ChannelOutcome::Succeeded);
    assert_eq!(reject(&out).unwrap().reason, ReasonCode::StaleAttempt);
    assert_eq!(d.engine.content_hash(), before);
    // An answer from the wrong channel is refused too.
    let out = d.channel(WECHAT, &channel_result(&second, ChannelOutcome::Succeeded));
    assert_eq!(reject(&out).unwrap().reason, ReasonCode::WrongChannel);
    assert_eq!(d.engine.content_hash(), before);
    let out = answer(&mut d, &second, ChannelOutcome::Succeeded);
    assert_eq!(result(&out).unwrap().attempts, 2);
}

// ---------------------------------------------------------------------------------------------
// Health
// ---------------------------------------------------------------------------------------------

/// Sends SHOP payments until `n` have failed at wechat with retryable errors (each failing over to
/// alipay, which succeeds). Returns the outputs of each wechat failure.
fn fail_at_wechat(d: &mut Driver, first_id: u64, n: u64, gap_ns: u64) -> Vec<Out> {
    let mut outs = Vec::new();
    for id in first_id..first_id + n {
        let (_, disp) = submit(d, ACQUIRER_A, &payment(id, SHOP, 1_000));
        assert_eq!(disp.channel_id, WECHAT, "payment {id}");
        let out = answer(d, &disp, ChannelOutcome::RetryableError);
        let next = dispatch(&out).expect("failover to alipay").clone();
        assert_eq!(next.channel_id, ALIPAY);
        let done = answer(d, &next, ChannelOutcome::Succeeded);
        assert_eq!(result(&done).unwrap().status, FinalStatus::Succeeded);
        outs.push(out);
        d.advance_ns(gap_ns);
    }
    outs
}

#[test]
fn a_failing_channel_is_taken_out_within_its_threshold_and_no_payment_is_lost() {
    let mut d = world();
    // Threshold 5: four quick failures keep wechat in rotation ...
    let outs = fail_at_wechat(&mut d, 1, 4, 0);
    assert!(outs.iter().all(|o| alerts(o).is_empty()));
    assert_eq!(health_of(&d, WECHAT), HealthState::Healthy);
    // ... the fifth opens it, with an alert to the admins.
    let out = &fail_at_wechat(&mut d, 5, 1, 0)[0];
    assert_eq!(
        alerts(out),
        vec![(WECHAT, HealthState::Healthy, HealthState::Open)]
    );
    let alert = &health_alerts(out)[0].1;
    assert_eq!(alert.failure_level_milli, 5_000);
    assert_eq!(health_of(&d, WECHAT), HealthState::Open);
    // New payments go to alipay, and the explanation says why wechat was skipped.
    let mut accepted = Vec::new();
    for id in 100..110 {
        let (a, disp) = submit(&mut d, ACQUIRER_A, &payment(id, SHOP, 1_000));
        assert_eq!(disp.channel_id, ALIPAY);
        assert!(explanation(&d, slot_of(&a)).contains(&(
            WECHAT,
            Skipped,
            SkipReason::Unhealthy,
            0,
            0
        )));
        accepted.push(disp);
    }
    // Every accepted payment ends with exactly one result.
    for disp in &accepted {
        let out = answer(&mut d, disp, ChannelOutcome::Succeeded);
        assert_eq!(results(&out).len(), 1);
    }
    let stats = d.engine.stats_report(0);
    assert_eq!(stats.accepted, 15);
    assert_eq!(stats.succeeded, 15);
    assert_eq!(stats.in_flight, 0);
    d.engine.verify_ledger().unwrap();
}

#[test]
fn the_failure_bucket_leaks_between_spaced_failures() {
    let mut d = world();
    // One failure every 1.5 s leaks faster (1 per second) than it fills: never opened.
    let outs = fail_at_wechat(&mut d, 1, 12, 1_500_000_000);
    assert!(outs.iter().all(|o| alerts(o).is_empty()));
    assert_eq!(health_of(&d, WECHAT), HealthState::Healthy);
    // One failure every 0.5 s fills it: the level after the k-th is 1 + (k - 1) / 2 failures,
    // which reaches the threshold of 5 at the ninth.
    for k in 1..=9u64 {
        let (_, disp) = submit(&mut d, ACQUIRER_A, &payment(100 + k, SHOP, 1_000));
        assert_eq!(disp.channel_id, WECHAT, "failure {k}");
        let out = answer(&mut d, &disp, ChannelOutcome::RetryableError);
        let expected = if k == 9 {
            vec![(WECHAT, HealthState::Healthy, HealthState::Open)]
        } else {
            vec![]
        };
        assert_eq!(alerts(&out), expected, "failure {k}");
        d.advance_ns(500_000_000);
    }
    assert_eq!(health_of(&d, WECHAT), HealthState::Open);
}

/// A world where wechat was just opened by five quick failures.
fn opened_world() -> Driver {
    let mut d = world();
    fail_at_wechat(&mut d, 1, 5, 0);
    assert_eq!(health_of(&d, WECHAT), HealthState::Open);
    d
}

#[test]
fn after_the_cooldown_a_channel_probes_and_comes_back_after_enough_successes() {
    let mut d = opened_world();
    // Cooldown 5 s: a pulse before its end changes nothing.
    d.advance_ns(4_999_000_000);
    d.pulse();
    assert!(alerts(&d.decoded()).is_empty());
    assert_eq!(health_of(&d, WECHAT), HealthState::Open);
    d.advance_ns(1_000_000);
    d.pulse();
    assert_eq!(
        alerts(&d.decoded()),
        vec![(WECHAT, HealthState::Open, HealthState::Probing)]
    );
    // Probe slots: 2. Two payments probe wechat, the third goes to alipay.
    let (_, p1) = submit(&mut d, ACQUIRER_A, &payment(101, SHOP, 1_000));
    let (_, p2) = submit(&mut d, ACQUIRER_A, &payment(102, SHOP, 1_000));
    assert_eq!((p1.channel_id, p2.channel_id), (WECHAT, WECHAT));
    let (a3, p3) = submit(&mut d, ACQUIRER_A, &payment(103, SHOP, 1_000));
    assert_eq!(p3.channel_id, ALIPAY);
    assert!(explanation(&d, slot_of(&a3)).contains(&(
        WECHAT,
        Skipped,
        SkipReason::ProbeBusy,
        0,
        0
    )));
    // Two probe successes of the three needed: still probing.
    for p in [&p1, &p2] {
        let out = answer(&mut d, p, ChannelOutcome::Succeeded);
        assert!(alerts(&out).is_empty());
        assert_eq!(result(&out).unwrap().status, FinalStatus::Succeeded);
    }
    assert_eq!(health_of(&d, WECHAT), HealthState::Probing);
    // The third success brings it back.
    let (_, p4) = submit(&mut d, ACQUIRER_A, &payment(104, SHOP, 1_000));
    assert_eq!(p4.channel_id, WECHAT);
    let out = answer(&mut d, &p4, ChannelOutcome::Succeeded);
    assert_eq!(
        alerts(&out),
        vec![(WECHAT, HealthState::Probing, HealthState::Healthy)]
    );
    assert_eq!(health_of(&d, WECHAT), HealthState::Healthy);
    // Back in rotation with no probe limit.
    for id in 105..110 {
        let (_, p) = submit(&mut d, ACQUIRER_A, &payment(id, SHOP, 1_000));
        assert_eq!(p.channel_id, WECHAT);
    }
    answer(&mut d, &p3, ChannelOutcome::Succeeded);
    let stats = d.engine.stats_report(0);
    let wechat = stats
        .channels
        .iter()
        .find(|c| c.channel_id == WECHAT)
        .unwrap();
    assert_eq!(wechat.health_changes, 3);
}

#[test]
fn a_probe_failure_reopens_the_channel_and_the_payment_fails_over() {
    let mut d = opened_world();
    d.advance_ns(5 * SECOND_NS);
    d.pulse();
    assert_eq!(health_of(&d, WECHAT), HealthState::Probing);
    let (_, probe) = submit(&mut d, ACQUIRER_A, &payment(101, SHOP, 1_000));
    assert_eq!(probe.channel_id, WECHAT);
    let out = answer(&mut d, &probe, ChannelOutcome::RetryableError);
    assert_eq!(
        alerts(&out),
        vec![(WECHAT, HealthState::Probing, HealthState::Open)]
    );
    let next = dispatch(&out)
        .expect("the probe's payment fails over")
        .clone();
    assert_eq!(next.channel_id, ALIPAY);
    assert_eq!(
        result(&answer(&mut d, &next, ChannelOutcome::Succeeded))
            .unwrap()
            .status,
        FinalStatus::Succeeded
    );
    // A new cooldown starts from the reopening.
    d.advance_ns(4 * SECOND_NS);
    d.pulse();
    assert_eq!(health_of(&d, WECHAT), HealthState::Open);
    d.advance_ns(SECOND_NS);
    d.pulse();
    assert_eq!(health_of(&d, WECHAT), HealthState::Probing);
    // A probe that times out reopens it too; its payment fails over once wechat says the
    // attempt is closed.
    let (_, probe) = submit(&mut d, ACQUIRER_A, &payment(102, SHOP, 1_000));
    assert_eq!(probe.channel_id, WECHAT);
    d.advance_ns(2 * SECOND_NS);
    d.pulse();
    let out = d.decoded();
    assert_eq!(
        alerts(&out),
        vec![(WECHAT, HealthState::Probing, HealthState::Open)]
    );
    let query = controls(&out)[0].clone();
    let out = answer_control(&mut d, &query, ChannelStatus::Closed);
    assert_eq!(dispatch(&out).unwrap().channel_id, ALIPAY);
}

#[test]
fn a_decline_while_probing_neither_reopens_nor_counts_as_a_probe_success() {
    let mut d = opened_world();
    d.advance_ns(5 * SECOND_NS);
    d.pulse();
    let (_, probe) = submit(&mut d, ACQUIRER_A, &payment(101, SHOP, 1_000));
    let out = answer(&mut d, &probe, ChannelOutcome::Declined);
    assert!(alerts(&out).is_empty());
    assert_eq!(health_of(&d, WECHAT), HealthState::Probing);
    // Three successes are still needed.
    for id in 102..104 {
        let (_, p) = submit(&mut d, ACQUIRER_A, &payment(id, SHOP, 1_000));
        assert_eq!(p.channel_id, WECHAT);
        assert!(alerts(&answer(&mut d, &p, ChannelOutcome::Succeeded)).is_empty());
    }
    let (_, p) = submit(&mut d, ACQUIRER_A, &payment(104, SHOP, 1_000));
    assert_eq!(
        alerts(&answer(&mut d, &p, ChannelOutcome::Succeeded)),
        vec![(WECHAT, HealthState::Probing, HealthState::Healthy)]
    );
}

#[test]
fn attempts_from_before_the_cooldown_do_not_decide_the_probing() {
    // Two payments are at wechat when it opens; the pulse that ends the cooldown also expires
    // them. They were not probes: their timeouts must not reopen the channel.
    let mut d = world();
    let (_, stuck1) = submit(&mut d, ACQUIRER_A, &payment(1, SHOP, 1_000));
    let (_, stuck2) = submit(&mut d, ACQUIRER_A, &payment(2, SHOP, 1_000));
    assert_eq!((stuck1.channel_id, stuck2.channel_id), (WECHAT, WECHAT));
    fail_at_wechat(&mut d, 10, 5, 0);
    assert_eq!(health_of(&d, WECHAT), HealthState::Open);
    d.advance_ns(10 * SECOND_NS);
    d.pulse();
    let out = d.decoded();
    // Both stuck payments' outcomes are unknown: wechat is asked about them.
    let queries: Vec<ChannelControl> = controls(&out).into_iter().cloned().collect();
    assert_eq!(queries.len(), 2);
    assert!(dispatches(&out).is_empty());
    assert_eq!(
        alerts(&out),
        vec![(WECHAT, HealthState::Open, HealthState::Probing)]
    );
    assert_eq!(health_of(&d, WECHAT), HealthState::Probing);
    // Closed: both fail over to alipay, and the answers do not decide the probing either.
    for q in &queries {
        let out = answer_control(&mut d, q, ChannelStatus::Closed);
        let moved = dispatch(&out).unwrap();
        assert_eq!((moved.channel_id, moved.attempt), (ALIPAY, 2));
        assert!(alerts(&out).is_empty());
    }
    assert_eq!(health_of(&d, WECHAT), HealthState::Probing);
    // And it really probes.
    let (_, probe) = submit(&mut d, ACQUIRER_A, &payment(100, SHOP, 1_000));
    assert_eq!(probe.channel_id, WECHAT);
}

#[test]
fn the_success_rate_floor_takes_a_channel_out() {
    // Channel 6: floor 50% over at least 10 recent attempts; a bucket too deep to trip.
    let mut d = world();
    let mut ch = wallet_channel(6);
    ch.failure_threshold = 1_000;
    ch.min_success_rate = rust_decimal::Decimal::new(5, 1);
    ch.min_attempts_for_rate = 10;
    configure_ok(&mut d, &ch);
    configure_ok(
        &mut d,
        &merchant_with(1012, RoutingStrategy::Priority, &[6, ALIPAY]),
    );
    let mut id = 0;
    let mut attempt_at_6 = |d: &mut Driver, outcome| {
        id += 1;
        let (_, disp) = submit(d, ACQUIRER_A, &payment(id, 1012, 1_000));
        assert_eq!(disp.channel_id, 6);
        answer(d, &disp, outcome)
    };
    // 5 successes, 3 declines, then failures: the floor is checked on failures, once 10 attempts
    // are in.
    for _ in 0..5 {
        attempt_at_6(&mut d, ChannelOutcome::Succeeded);
    }
    for _ in 0..3 {
        attempt_at_6(&mut d, ChannelOutcome::Declined);
    }
    // 9 attempts, 5 successes: too few attempts for the floor.
    assert!(alerts(&attempt_at_6(&mut d, ChannelOutcome::RetryableError)).is_empty());
    // 10 attempts, 5 successes: exactly at the floor, not under it.
    assert!(alerts(&attempt_at_6(&mut d, ChannelOutcome::RetryableError)).is_empty());
    assert_eq!(health_of(&d, 6), HealthState::Healthy);
    // 11 attempts, 5 successes: under 50%.
    let out = attempt_at_6(&mut d, ChannelOutcome::RetryableError);
    assert_eq!(
        alerts(&out),
        vec![(6, HealthState::Healthy, HealthState::Open)]
    );
    let alert = &health_alerts(&out)[0].1;
    assert_eq!(alert.recent_success_rate_ppm, 5 * 1_000_000 / 11);
    assert!(
        alert.failure_level_milli < 1_000_000,
        "the bucket did not trip"
    );
}

#[test]
fn a_pulse_expires_at_most_its_budget_and_the_next_pulse_the_rest_under_legacy() {
    let mut d = legacy_world();
    let total = sluice_engine::TIMEOUTS_PER_PULSE as u64 + 44;
    for id in 1..=total {
        let (_, disp) = submit(&mut d, ACQUIRER_A, &payment(id, SHOP, 1_000));
        assert_eq!(disp.channel_id, WECHAT);
    }
    d.advance_ns(3 * SECOND_NS);
    d.pulse();
    assert!(d.outbox().len_bytes() <= sluice_engine::MAX_OUTPUT_BYTES_PER_INPUT);
    let out = d.decoded();
    let moved = dispatches(&out);
    assert_eq!(moved.len(), sluice_engine::TIMEOUTS_PER_PULSE as usize);
    assert!(
        moved
            .iter()
            .all(|x| x.channel_id == ALIPAY && x.attempt == 2)
    );
    assert_eq!(
        alerts(&out),
        vec![(WECHAT, HealthState::Healthy, HealthState::Open)],
        "the timeouts open wechat once"
    );
    // The rest on the next pulse (alipay's new attempts are not due yet).
    d.pulse();
    let out = d.decoded();
    assert_eq!(dispatches(&out).len(), 44);
    d.pulse();
    assert!(d.decoded().is_empty());
    let stats = d.engine.stats_report(0);
    assert_eq!((stats.timeouts, stats.in_flight), (total, total));
}

#[test]
fn a_pulse_asks_at_most_its_budgets_and_the_next_pulses_the_rest() {
    // Policy Hold: each deadline makes a question instead of a failover, within the timeouts'
    // budget; questions asked again are within the controls' budget.
    let mut d = world();
    let total = sluice_engine::TIMEOUTS_PER_PULSE as u64 + 44;
    for id in 1..=total {
        let (_, disp) = submit(&mut d, ACQUIRER_A, &payment(id, SHOP, 1_000));
        assert_eq!(disp.channel_id, WECHAT);
    }
    d.advance_ns(3 * SECOND_NS);
    d.pulse();
    assert!(d.outbox().len_bytes() <= sluice_engine::MAX_OUTPUT_BYTES_PER_INPUT);
    let out = d.decoded();
    assert!(dispatches(&out).is_empty());
    let asked = controls(&out);
    assert_eq!(asked.len(), sluice_engine::TIMEOUTS_PER_PULSE as usize);
    assert!(
        asked
            .iter()
            .all(|c| c.op == ChannelOp::Query && c.channel_id == WECHAT)
    );
    assert_eq!(
        alerts(&out),
        vec![(WECHAT, HealthState::Healthy, HealthState::Open)],
        "the timeouts open wechat once"
    );
    d.pulse();
    assert_eq!(controls(&d.decoded()).len(), 44);
    d.pulse();
    assert!(
        d.decoded().is_empty(),
        "nothing is due again within the query interval"
    );
    // One interval later every one of them is due again: the controls' budget, then the rest.
    d.advance_ns(SECOND_NS / 5);
    d.pulse();
    assert!(d.outbox().len_bytes() <= sluice_engine::MAX_OUTPUT_BYTES_PER_INPUT);
    assert_eq!(
        controls(&d.decoded()).len(),
        sluice_engine::CONTROLS_PER_PULSE as usize
    );
    d.pulse();
    assert_eq!(
        controls(&d.decoded()).len(),
        total as usize - sluice_engine::CONTROLS_PER_PULSE as usize
    );
    let stats = d.engine.stats_report(0);
    assert_eq!((stats.timeouts, stats.in_flight), (total, total));
    assert_eq!(stats.unknown_attempts, total);
}
