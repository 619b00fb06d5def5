//! Retention at the engine (docs/ENGINE.md, "Retention"): ids that are never issued twice, answers
//! for retired and expired orders, the refund window, the limits, and determinism across a
//! snapshot taken while orders are retired and revived. The property test (properties.rs) covers
//! retention in random sequences; tests/retention.rs covers it over TCP.

mod common;

use common::*;
use sluice_engine::driver::Driver;
use sluice_engine::fixture::{self, ACQUIRER_A, SHOP};
use sluice_protocol::*;

const HOUR_NS: u64 = 3_600 * 1_000_000_000;
const DAY_NS: u64 = 24 * HOUR_NS;

/// The fixture world with `orders_max` order slots and `receipts_max` receipts; orders retire an
/// hour after their last change, receipts answer for a day.
fn world_retaining(orders_max: u32, receipts_max: u32) -> Driver {
    let mut g = fixture::genesis(orders_max);
    g.order_retention_ms = 3_600_000;
    g.idempotency_window_ms = 86_400_000;
    g.receipts_max = receipts_max;
    let mut d = Driver::new(&g, fixture::START_NS).unwrap();
    assert!(d.configure(&fixture::config_messages()).is_empty());
    d
}

fn paid(d: &mut Driver, request_id: u64) -> PaymentResult {
    let out = pay(
        d,
        ACQUIRER_A,
        &fixture::payment(request_id, SHOP, 10_000),
        ChannelOutcome::Succeeded,
    );
    result(&out).expect("a result").clone()
}

fn later(d: &mut Driver, ns: u64) {
    d.advance_ns(ns);
    d.pulse();
}

fn status_by_id(d: &mut Driver, order_id: u64) -> OrderStatus {
    let out = d.acquirer(
        ACQUIRER_A,
        &QueryOrder {
            order_id,
            request_id: 0,
        },
    );
    find(&out, |m| match m {
        AnyMessage::OrderStatus(s) => Some(s),
        _ => None,
    })
    .clone()
}

#[test]
fn a_reused_slot_takes_a_new_id_and_answers_for_a_retired_one_never_reach_it() {
    let mut d = world_retaining(2, 10);
    let first = paid(&mut d, 1);
    let second = paid(&mut d, 2);
    assert_eq!(
        (first.order_id, second.order_id),
        (1, 2),
        "generation 0: slot + 1"
    );
    // The table is full: nothing is due yet.
    let out = d.acquirer(ACQUIRER_A, &fixture::payment(3, SHOP, 10_000));
    assert_eq!(ack(&out).reason, ReasonCode::OrdersFull);
    later(&mut d, HOUR_NS + 1);
    let out = d.acquirer(ACQUIRER_A, &fixture::payment(3, SHOP, 10_000));
    let third = ack(&out).clone();
    assert_eq!(third.status, AckStatus::Accepted, "{third:?}");
    assert!(
        third.order_id > u64::from(u32::MAX),
        "a reused slot: {third:?}"
    );
    assert_eq!(
        third.order_id & u64::from(u32::MAX),
        2,
        "the last slot freed first"
    );
    // A late answer naming the retired order is stale; it never reaches the new one.
    let stale = Dispatch {
        order_id: second.order_id,
        attempt: 1,
        channel_id: second.channel_id,
        ..Dispatch::default()
    };
    let out = d.channel(
        second.channel_id,
        &channel_result(&stale, ChannelOutcome::Declined),
    );
    assert_eq!(
        reject(&out).map(|r| r.reason),
        Some(ReasonCode::StaleAttempt)
    );
    assert_eq!(
        status_by_id(&mut d, third.order_id).state,
        OrderState::InFlight
    );
    // The retired ones still answer, as receipts.
    let s = status_by_id(&mut d, first.order_id);
    assert!(s.retired && s.state == OrderState::Succeeded, "{s:?}");
    assert_eq!(s.amount_minor, 10_000);
}

#[test]
fn past_every_window_a_query_says_expired_and_the_request_id_is_new_again() {
    let mut d = world_retaining(4, 10);
    let out = pay(
        &mut d,
        ACQUIRER_A,
        &fixture::payment(1, SHOP, 10_000),
        ChannelOutcome::Declined,
    );
    let failed = result(&out).expect("a result").clone();
    assert_eq!(failed.status, FinalStatus::Failed);
    let refundable = paid(&mut d, 2);
    later(&mut d, HOUR_NS + 1);
    assert!(status_by_id(&mut d, failed.order_id).retired);
    // Past the idempotency window: the failed payment's receipt goes; the paid one, refundable
    // for a year, stays.
    later(&mut d, DAY_NS + 1);
    let s = status_by_id(&mut d, failed.order_id);
    assert_eq!(
        (s.state, s.reason),
        (OrderState::NotFound, ReasonCode::OrderExpired)
    );
    assert!(status_by_id(&mut d, refundable.order_id).retired);
    let never = status_by_id(&mut d, 1 << 40 | 3);
    assert_eq!(
        (never.state, never.reason),
        (OrderState::NotFound, ReasonCode::None)
    );
    // The request id is forgotten: the same request is a new payment with a new id.
    let out = d.acquirer(ACQUIRER_A, &fixture::payment(1, SHOP, 10_000));
    let again = ack(&out);
    assert!(
        !again.duplicate && again.order_id != failed.order_id,
        "{again:?}"
    );
    assert_eq!(d.engine.stats_counters(0).receipts_expired, 1);
}

#[test]
fn a_refund_past_the_channel_window_is_refused_for_live_and_retired_orders() {
    let mut d = world_retaining(4, 10);
    paid(&mut d, 1);
    later(&mut d, 366 * DAY_NS);
    let out = d.acquirer(ACQUIRER_A, &refund(1, 1, 100));
    let a = refund_ack(&out);
    assert_eq!(
        (a.status, a.reason),
        (AckStatus::Rejected, ReasonCode::RefundWindowPassed)
    );
    // The live path (no retention): the same answer.
    let mut d = world();
    paid(&mut d, 1);
    d.advance_ns(366 * DAY_NS);
    let out = d.acquirer(ACQUIRER_A, &refund(1, 1, 100));
    assert_eq!(refund_ack(&out).reason, ReasonCode::RefundWindowPassed);
}

#[test]
fn full_receipts_keep_orders_in_the_table_and_nothing_is_dropped_early() {
    let mut d = world_retaining(2, 1);
    let first = paid(&mut d, 1);
    let second = paid(&mut d, 2);
    later(&mut d, HOUR_NS + 1);
    // One receipt: the first retires, the second stays.
    let c = d.engine.stats_counters(0);
    assert_eq!((c.orders, c.receipts, c.orders_retired), (1, 1, 1));
    assert!(c.retire_blocked > 0);
    assert!(!status_by_id(&mut d, second.order_id).retired);
    assert!(status_by_id(&mut d, first.order_id).retired);
    // A resend of either gets its original answer.
    for (id, original) in [(1, &first), (2, &second)] {
        let out = d.acquirer(ACQUIRER_A, &fixture::payment(id, SHOP, 10_000));
        let r = result(&out).expect("the original result");
        assert!(r.duplicate && r.order_id == original.order_id && r.split == original.split);
    }
}

#[test]
fn a_snapshot_taken_amid_retirements_and_revivals_replays_to_the_same_state() {
    let mut d = world_retaining(8, 64);
    for id in 1..=20u64 {
        paid(&mut d, id);
        later(&mut d, 20 * 60 * 1_000_000_000);
        if id % 5 == 0 {
            // A refund of a payment retired long before brings it back.
            let out = d.acquirer(ACQUIRER_A, &refund(id, id - 4, 1_000));
            assert_eq!(refund_ack(&out).status, AckStatus::Accepted, "{out:?}");
            let rd = refund_dispatch(&out).expect("refund dispatch").clone();
            d.channel(
                rd.channel_id,
                &refund_channel_result(&rd, ChannelOutcome::Succeeded),
            );
        }
    }
    let (hash, payload) = d.engine.snapshot();
    let restored = sluice_engine::Engine::from_snapshot(&payload, hash).expect("restore");
    assert_eq!(restored.state_hash(), d.engine.state_hash());
    let c = d.engine.stats_counters(0);
    assert!(c.orders_retired >= 12 && c.orders_revived == 4, "{c:?}");
    // The restored engine answers the same: a resend of a retired payment, a query by id.
    let mut twin = d.twin(restored);
    for driver in [&mut d, &mut twin] {
        let out = driver.acquirer(ACQUIRER_A, &fixture::payment(2, SHOP, 10_000));
        assert!(result(&out).is_some_and(|r| r.duplicate));
    }
    assert_eq!(twin.engine.state_hash(), d.engine.state_hash());
}
