//! End-to-end tests: the real `sluice serve` binary as a child process, driven over TCP with the
//! blocking protocol client. Most tests switch the channel simulator off and log in as the channel
//! connectors themselves, so that every attempt's outcome is the test's choice.
//!
//! Run: `cargo test --test e2e`.

mod common;

use common::*;
use sluice_protocol::*;
use std::collections::HashSet;
use std::io::Write;
use std::time::{Duration, Instant};

/// A payment at merchant 1001 by card in CNY: unionpay (channel 3) is its only candidate.
const SHOP: u32 = 1001;
const UNIONPAY: u16 = 3;

/// Pays `amount` at 1001 by card and takes it to success through the unionpay connector.
/// Returns the ack, the dispatch and the result.
fn pay_to_success(
    acquirer: &mut sluice_gateway::client::Client,
    connectors: &mut Connectors,
    request_id: u64,
    amount: i64,
) -> (PaymentAck, Dispatch, PaymentResult) {
    acquirer
        .send(&payment(request_id, SHOP, amount, PaymentMethod::Card))
        .expect("send PaymentRequest");
    let ack = match next(acquirer, "PaymentAck") {
        AnyMessage::PaymentAck(a) => a,
        other => panic!("expected PaymentAck, got {other:?}"),
    };
    assert_eq!(ack.status, AckStatus::Accepted, "{ack:?}");
    let (_, dispatch) = connectors.next_dispatch();
    assert_eq!(dispatch.order_id, ack.order_id);
    connectors.answer(
        &dispatch,
        ChannelOutcome::Succeeded,
        &format!("UP-{request_id}"),
    );
    let result = match next(acquirer, "PaymentResult") {
        AnyMessage::PaymentResult(r) => r,
        other => panic!("expected PaymentResult, got {other:?}"),
    };
    assert_eq!(result.status, FinalStatus::Succeeded, "{result:?}");
    (ack, dispatch, result)
}

/// A result without the fields a resend may change: `duplicate`, and `sequence` (the server
/// reports the resend's sequence in a duplicate result, where the protocol document says the
/// sequence of the input that finished the payment), and `out_seq` (each sending has its own).
fn outcome(r: &PaymentResult) -> PaymentResult {
    PaymentResult {
        duplicate: false,
        sequence: 0,
        out_seq: 0,
        ..r.clone()
    }
}

/// An order's state without the sequence of the query that read it.
fn without_sequence(s: &OrderStatus) -> OrderStatus {
    OrderStatus {
        sequence: 0,
        ..s.clone()
    }
}

#[test]
fn login_accepts_good_credentials_and_refuses_others() {
    let (_dir, server) = start_server("login", &Settings::default());
    let addr = server.addr;

    // Good credentials: the session, the principal and the timers.
    let mut acq = login(addr, "acq-a");
    let s = acq.session.clone().expect("LoginAccepted");
    assert_ne!(s.session_id, 0);
    assert_eq!(s.principal_id, 1);
    assert_eq!(s.role, Role::Acquirer);
    assert_eq!(s.heartbeat_interval_ms, 1_000);
    assert_eq!(s.idle_timeout_ms, 120_000);
    assert_eq!(s.max_frame_bytes, 1_024);
    let b = login(addr, "acq-b");
    let sb = b.session.clone().expect("LoginAccepted");
    assert_eq!(sb.principal_id, 2);
    assert_ne!(sb.session_id, s.session_id, "session ids are unique");

    // A second Login on a session is refused; the session stays open.
    acq.send(&Login {
        role: Role::Acquirer,
        key_id: Chars::new("acq-a"),
        secret: Chars::new("sluice-demo-acquirer-a"),
        ..Default::default()
    })
    .expect("send");
    match next(&mut acq, "Reject") {
        AnyMessage::Reject(r) => {
            assert_eq!(r.reason, ReasonCode::AlreadyLoggedIn);
            assert_eq!(r.ref_template_id, Login::TEMPLATE_ID);
        }
        other => panic!("expected Reject(AlreadyLoggedIn), got {other:?}"),
    }
    let status = query_order(&mut acq, 12_345);
    assert_eq!(status.state, OrderState::NotFound);

    // A wrong secret, an unknown key and a role the key does not have: LoginRejected, then close.
    for (role, key, secret) in [
        (Role::Acquirer, "acq-a", "not-the-secret"),
        (Role::Acquirer, "nobody", "sluice-demo-acquirer-a"),
        (Role::Admin, "acq-a", "sluice-demo-acquirer-a"),
    ] {
        let mut c = sluice_gateway::client::Client::connect(addr).expect("connect");
        c.send(&Login {
            role,
            key_id: Chars::new(key),
            secret: Chars::new(secret),
            ..Default::default()
        })
        .expect("send Login");
        match next(&mut c, "LoginRejected") {
            AnyMessage::LoginRejected(r) => assert_eq!(r.reason, ReasonCode::BadCredentials),
            other => panic!("expected LoginRejected for {key}/{role:?}, got {other:?}"),
        }
        let after = expect_closed(&mut c, "after LoginRejected");
        assert!(after.is_empty(), "nothing after LoginRejected: {after:?}");
    }

    // Anything but Login before login: Reject(NotLoggedIn), then close.
    let mut c = sluice_gateway::client::Client::connect(addr).expect("connect");
    c.send(&query(1)).expect("send QueryOrder");
    match next(&mut c, "Reject") {
        AnyMessage::Reject(r) => {
            assert_eq!(r.reason, ReasonCode::NotLoggedIn);
            assert_eq!(r.ref_template_id, QueryOrder::TEMPLATE_ID);
        }
        other => panic!("expected Reject(NotLoggedIn), got {other:?}"),
    }
    expect_closed(&mut c, "after a message before login");

    // The good sessions were not disturbed.
    assert_eq!(query_order(&mut acq, 1).state, OrderState::NotFound);
}

#[test]
fn payment_succeeds_and_is_split() {
    let (_dir, server) = start_server("payment", &Settings::default());
    let mut connectors = Connectors::login_all(server.addr);
    let mut acq = login(server.addr, "acq-a");

    // 100.00 CNY at 1001, no promoter: 10% platform, the rest to the merchant; the platform bears
    // unionpay's 0.5% card fee.
    acq.send(&payment(1, SHOP, 10_000, PaymentMethod::Card))
        .expect("send");
    let ack = match next(&mut acq, "PaymentAck") {
        AnyMessage::PaymentAck(a) => a,
        other => panic!("expected PaymentAck, got {other:?}"),
    };
    assert_eq!(ack.request_id, 1);
    assert_eq!(ack.status, AckStatus::Accepted);
    assert_eq!(ack.reason, ReasonCode::None);
    assert_eq!(ack.channel_id, UNIONPAY);
    assert_ne!(ack.order_id, 0);
    assert!(!ack.duplicate);
    assert!(ack.sequence > 1);

    let (channel, d) = connectors.next_dispatch();
    assert_eq!(channel, UNIONPAY);
    assert_eq!(d.order_id, ack.order_id);
    assert_eq!(d.attempt, 1);
    assert_eq!(d.merchant_id, SHOP);
    assert_eq!(d.amount_minor, 10_000);
    assert_eq!(d.currency, 156);
    assert_eq!(d.method, PaymentMethod::Card);
    assert!(d.deadline_ns > ack.timestamp_ns, "{d:?} after {ack:?}");
    connectors.answer(&d, ChannelOutcome::Succeeded, "UP-0001");

    let r = match next(&mut acq, "PaymentResult") {
        AnyMessage::PaymentResult(r) => r,
        other => panic!("expected PaymentResult, got {other:?}"),
    };
    assert_eq!(r.request_id, 1);
    assert_eq!(r.order_id, ack.order_id);
    assert_eq!(r.status, FinalStatus::Succeeded);
    assert_eq!(r.reason, ReasonCode::None);
    assert_eq!(r.channel_id, UNIONPAY);
    assert_eq!(r.attempts, 1);
    assert_eq!(r.amount_minor, 10_000);
    assert_eq!(r.currency, 156);
    assert_eq!(r.fee_minor, 50, "unionpay card fee is 50 bps");
    assert_eq!(r.channel_ref.as_str(), "UP-0001");
    assert!(!r.duplicate);
    assert!(r.sequence > ack.sequence);
    assert_eq!(sum_lines(&r.split), r.amount_minor, "{:?}", r.split);
    assert_eq!(
        line_amount(&r.split, PartyRole::Platform, 0),
        Some(1_000),
        "{:?}",
        r.split
    );
    assert_eq!(
        line_amount(&r.split, PartyRole::Merchant, SHOP),
        Some(9_000),
        "{:?}",
        r.split
    );
}

#[test]
fn failover_to_another_channel_on_a_retryable_error() {
    let (_dir, server) = start_server("failover", &Settings::default());
    let mut connectors = Connectors::login_all(server.addr);
    let mut acq = login(server.addr, "acq-a");

    // A wallet payment in CNY: wechat (1) and alipay (2) can both take it.
    acq.send(&payment(7, SHOP, 25_000, PaymentMethod::Wallet))
        .expect("send");
    let ack = match next(&mut acq, "PaymentAck") {
        AnyMessage::PaymentAck(a) => a,
        other => panic!("expected PaymentAck, got {other:?}"),
    };
    assert_eq!(ack.status, AckStatus::Accepted);
    assert!([1, 2].contains(&ack.channel_id), "{ack:?}");

    let (first, d1) = connectors.next_dispatch();
    assert_eq!(first, ack.channel_id);
    assert_eq!(d1.attempt, 1);
    connectors.answer(&d1, ChannelOutcome::RetryableError, "");

    let (second, d2) = connectors.next_dispatch();
    assert_ne!(second, first, "the failover goes to another channel");
    assert!([1, 2].contains(&second));
    assert_eq!(d2.order_id, ack.order_id);
    assert_eq!(d2.attempt, 2);
    assert_eq!(d2.amount_minor, 25_000);
    connectors.answer(&d2, ChannelOutcome::Succeeded, "FO-2");

    let r = match next(&mut acq, "PaymentResult") {
        AnyMessage::PaymentResult(r) => r,
        other => panic!("expected PaymentResult, got {other:?}"),
    };
    assert_eq!(r.status, FinalStatus::Succeeded);
    assert_eq!(r.attempts, 2);
    assert_eq!(r.channel_id, second);
    assert_eq!(r.channel_ref.as_str(), "FO-2");
    assert_eq!(sum_lines(&r.split), 25_000);

    // A late success of the first attempt is a second capture: the payment keeps its result, the
    // capture is reversed (ChannelControl Reverse to the channel, PaymentReversal to the acquirer).
    connectors.answer(&d1, ChannelOutcome::Succeeded, "LATE");
    let reverse = match connectors.next("ChannelControl(Reverse)") {
        (c, AnyMessage::ChannelControl(x)) => {
            assert_eq!(
                (c, x.op, x.order_id, x.attempt),
                (first, ChannelOp::Reverse, d1.order_id, 1)
            );
            x
        }
        other => panic!("expected ChannelControl(Reverse), got {other:?}"),
    };
    let reversal =
        |acq: &mut sluice_gateway::client::Client, state| match next(acq, "PaymentReversal") {
            AnyMessage::PaymentReversal(x) => {
                assert_eq!(
                    (x.order_id, x.attempt, x.amount_minor, x.state),
                    (d1.order_id, 1, 25_000, state)
                );
                assert_eq!(x.reason, ReasonCode::LateCapture);
            }
            other => panic!("expected PaymentReversal, got {other:?}"),
        };
    reversal(&mut acq, ReversalState::Reversing);
    let confirmed = ChannelControlResult {
        op: ChannelOp::Reverse,
        order_id: reverse.order_id,
        attempt: reverse.attempt,
        refund_id: 0,
        status: ChannelStatus::Reversed,
        channel_code: 0,
        channel_ref: Chars::new("REV-1"),
    };
    connectors
        .get(first)
        .send(&confirmed)
        .expect("send ChannelControlResult");
    reversal(&mut acq, ReversalState::Reversed);
}

#[test]
fn failing_channel_is_taken_out_of_rotation_and_admins_are_alerted() {
    // A small failure bucket that barely leaks, so a few failures open the channel.
    let settings = Settings {
        set: vec![
            ("failure_threshold", "3".into()),
            ("failure_leak_per_sec", "1".into()),
            // Out of rotation for the rest of the test, however slow the machine.
            ("cooldown_ms", "600000".into()),
        ],
        ..Settings::default()
    };
    let (_dir, server) = start_server("health", &settings);
    let mut connectors = Connectors::login_all(server.addr);
    let mut admin = login(server.addr, "admin");
    let mut acq = login(server.addr, "acq-a");

    // Card payments in CNY have one candidate, unionpay: fail every attempt until it is taken out.
    let mut failures = 0;
    let mut refused = None;
    for request_id in 100..110 {
        acq.send(&payment(request_id, SHOP, 5_000, PaymentMethod::Card))
            .expect("send");
        let ack = match next(&mut acq, "PaymentAck") {
            AnyMessage::PaymentAck(a) => a,
            other => panic!("expected PaymentAck, got {other:?}"),
        };
        if ack.status == AckStatus::Rejected {
            refused = Some(ack);
            break;
        }
        let (_, d) = connectors.next_dispatch();
        assert_eq!(d.channel_id, UNIONPAY);
        connectors.answer(&d, ChannelOutcome::RetryableError, "");
        let r = wait_for(&mut acq, "PaymentResult", |m| match m {
            AnyMessage::PaymentResult(r) if r.request_id == request_id => Some(r.clone()),
            _ => None,
        });
        assert_eq!(r.status, FinalStatus::Failed);
        failures += 1;
    }
    assert!(failures >= 3, "opened after {failures} failures");
    let alert = wait_for(&mut admin, "HealthAlert", |m| match m {
        AnyMessage::HealthAlert(a) => Some(a.clone()),
        _ => None,
    });
    assert_eq!(alert.channel_id, UNIONPAY);
    assert_eq!(alert.from, HealthState::Healthy);
    assert_eq!(alert.to, HealthState::Open);
    assert!(alert.failure_level_milli >= 3_000, "{alert:?}");

    // Out of rotation: the next card payment finds no channel.
    let refused = refused.unwrap_or_else(|| {
        acq.send(&payment(200, SHOP, 5_000, PaymentMethod::Card))
            .expect("send");
        match next(&mut acq, "PaymentAck") {
            AnyMessage::PaymentAck(a) => a,
            other => panic!("expected PaymentAck, got {other:?}"),
        }
    });
    assert_eq!(refused.status, AckStatus::Rejected);
    assert_eq!(refused.reason, ReasonCode::NoChannelAvailable);
}

#[test]
fn refund_reverses_the_split() {
    let (_dir, server) = start_server("refund", &Settings::default());
    let mut connectors = Connectors::login_all(server.addr);
    let mut acq = login(server.addr, "acq-a");
    let (ack, dispatch, paid) = pay_to_success(&mut acq, &mut connectors, 40, 10_000);

    acq.send(&RefundRequest {
        refund_request_id: 4_001,
        payment_request_id: 40,
        amount_minor: 4_000,
    })
    .expect("send RefundRequest");
    let rack = match next(&mut acq, "RefundAck") {
        AnyMessage::RefundAck(a) => a,
        other => panic!("expected RefundAck, got {other:?}"),
    };
    assert_eq!(rack.refund_request_id, 4_001);
    assert_eq!(rack.status, AckStatus::Accepted, "{rack:?}");
    assert_eq!(rack.order_id, ack.order_id);
    assert_ne!(rack.refund_id, 0);
    assert!(!rack.duplicate);

    // The refund goes to the channel that took the payment, with its reference.
    let (channel, msg) = connectors.next("RefundDispatch");
    let AnyMessage::RefundDispatch(rd) = msg else {
        panic!("expected RefundDispatch, got {msg:?}");
    };
    assert_eq!(channel, dispatch.channel_id);
    assert_eq!(rd.refund_id, rack.refund_id);
    assert_eq!(rd.order_id, ack.order_id);
    assert_eq!(rd.amount_minor, 4_000);
    assert_eq!(rd.currency, 156);
    assert_eq!(rd.payment_channel_ref.as_str(), paid.channel_ref.as_str());
    connectors
        .get(channel)
        .send(&RefundChannelResult {
            refund_id: rd.refund_id,
            outcome: ChannelOutcome::Succeeded,
            channel_code: 0,
            latency_us: 900,
            channel_ref: Chars::new("UP-RF-1"),
        })
        .expect("send RefundChannelResult");

    let rr = match next(&mut acq, "RefundResult") {
        AnyMessage::RefundResult(r) => r,
        other => panic!("expected RefundResult, got {other:?}"),
    };
    assert_eq!(rr.refund_request_id, 4_001);
    assert_eq!(rr.refund_id, rack.refund_id);
    assert_eq!(rr.order_id, ack.order_id);
    assert_eq!(rr.status, FinalStatus::Succeeded, "{rr:?}");
    assert_eq!(rr.amount_minor, 4_000);
    assert_eq!(rr.currency, 156);
    assert_eq!(sum_lines(&rr.reversal), 4_000, "{:?}", rr.reversal);
    // In proportion to the split (1000 / 9000 of 10000).
    assert_eq!(line_amount(&rr.reversal, PartyRole::Platform, 0), Some(400));
    assert_eq!(
        line_amount(&rr.reversal, PartyRole::Merchant, SHOP),
        Some(3_600)
    );

    let status = query_order(&mut acq, 40);
    assert_eq!(status.refunded_minor, 4_000);
    assert_eq!(status.refund_pending_minor, 0);
    assert_eq!(status.refunds.len(), 1);
    assert_eq!(status.refunds[0].refund_id, rack.refund_id);
    assert_eq!(status.refunds[0].state, RefundState::Succeeded);

    // More than what is left is refused.
    acq.send(&RefundRequest {
        refund_request_id: 4_002,
        payment_request_id: 40,
        amount_minor: 6_001,
    })
    .expect("send RefundRequest");
    match next(&mut acq, "RefundAck") {
        AnyMessage::RefundAck(a) => {
            assert_eq!(a.status, AckStatus::Rejected);
            assert_eq!(a.reason, ReasonCode::RefundExceedsCaptured);
        }
        other => panic!("expected RefundAck, got {other:?}"),
    }
}

#[test]
fn resend_is_idempotent() {
    let (_dir, server) = start_server("idempotent", &Settings::default());
    let mut connectors = Connectors::login_all(server.addr);
    let mut acq = login(server.addr, "acq-a");
    let request = payment(50, SHOP, 12_345, PaymentMethod::Card);

    acq.send(&request).expect("send");
    let ack = match next(&mut acq, "PaymentAck") {
        AnyMessage::PaymentAck(a) => a,
        other => panic!("expected PaymentAck, got {other:?}"),
    };
    assert_eq!(ack.status, AckStatus::Accepted);
    let (_, d) = connectors.next_dispatch();

    // A resend while in flight: the same order, marked duplicate, and no new dispatch.
    acq.send(&request).expect("resend");
    let dup = match next(&mut acq, "duplicate PaymentAck") {
        AnyMessage::PaymentAck(a) => a,
        other => panic!("expected PaymentAck, got {other:?}"),
    };
    assert!(dup.duplicate, "{dup:?}");
    assert_eq!(dup.order_id, ack.order_id);
    assert_eq!(dup.status, AckStatus::Accepted);
    assert_eq!(dup.channel_id, ack.channel_id);

    connectors.answer(&d, ChannelOutcome::Succeeded, "UP-50");
    let r = match next(&mut acq, "PaymentResult") {
        AnyMessage::PaymentResult(r) => r,
        other => panic!("expected PaymentResult, got {other:?}"),
    };
    assert_eq!(r.status, FinalStatus::Succeeded);

    // A resend of a final payment: the original ack and result, both marked duplicate.
    acq.send(&request).expect("resend");
    let dup = match next(&mut acq, "duplicate PaymentAck") {
        AnyMessage::PaymentAck(a) => a,
        other => panic!("expected PaymentAck, got {other:?}"),
    };
    assert!(dup.duplicate);
    assert_eq!(dup.order_id, ack.order_id);
    let dup_result = match next(&mut acq, "duplicate PaymentResult") {
        AnyMessage::PaymentResult(r) => r,
        other => panic!("expected PaymentResult, got {other:?}"),
    };
    assert!(dup_result.duplicate);
    assert_eq!(
        outcome(&dup_result),
        outcome(&r),
        "the resend reports the original outcome"
    );

    // The connector saw no second dispatch: its next message answers a repeated result, which the
    // server sequenced after both resends.
    connectors.answer(&d, ChannelOutcome::Succeeded, "UP-50");
    match connectors.next("Reject(StaleAttempt)") {
        (_, AnyMessage::Reject(rej)) => assert_eq!(rej.reason, ReasonCode::StaleAttempt),
        other => panic!("expected only Reject(StaleAttempt), got {other:?}"),
    }

    // The same id with another amount is refused; the order is unchanged.
    acq.send(&PaymentRequest {
        amount_minor: 99_999,
        ..request.clone()
    })
    .expect("send");
    let mismatch = match next(&mut acq, "PaymentAck") {
        AnyMessage::PaymentAck(a) => a,
        other => panic!("expected PaymentAck, got {other:?}"),
    };
    assert_eq!(mismatch.status, AckStatus::Rejected);
    assert_eq!(mismatch.reason, ReasonCode::DuplicateRequestMismatch);
    let status = query_order(&mut acq, 50);
    assert_eq!(status.amount_minor, 12_345);
    assert_eq!(status.state, OrderState::Succeeded);

    // Request ids are per acquirer: acquirer B may use 50 for its own payment.
    let mut b = login(server.addr, "acq-b");
    b.send(&payment(50, 2001, 500, PaymentMethod::Card))
        .expect("send");
    match next(&mut b, "PaymentAck") {
        AnyMessage::PaymentAck(a) => {
            assert_eq!(a.status, AckStatus::Accepted, "{a:?}");
            assert!(!a.duplicate);
            assert_ne!(a.order_id, ack.order_id);
        }
        other => panic!("expected PaymentAck, got {other:?}"),
    }
}

#[test]
fn query_reports_attempts_routing_and_split() {
    let (_dir, server) = start_server("query", &Settings::default());
    let mut connectors = Connectors::login_all(server.addr);
    let mut acq = login(server.addr, "acq-a");

    acq.send(&payment(60, SHOP, 30_000, PaymentMethod::Wallet))
        .expect("send");
    let ack = match next(&mut acq, "PaymentAck") {
        AnyMessage::PaymentAck(a) => a,
        other => panic!("expected PaymentAck, got {other:?}"),
    };
    assert_eq!(ack.status, AckStatus::Accepted);
    let (first, d1) = connectors.next_dispatch();

    // In flight: one pending attempt.
    let status = query_order(&mut acq, 60);
    assert_eq!(status.state, OrderState::InFlight);
    assert_eq!(status.attempts.len(), 1);
    assert_eq!(status.attempts[0].status, AttemptStatus::Pending);
    // The other wallet channel waits as the failover candidate.
    let other_wallet = if first == 1 { 2 } else { 1 };
    let waiting = status
        .candidates
        .iter()
        .find(|c| c.channel_id == other_wallet)
        .unwrap_or_else(|| panic!("no candidate {other_wallet}: {:?}", status.candidates));
    assert_eq!(waiting.decision, CandidateDecision::Ranked, "{waiting:?}");

    connectors.answer(&d1, ChannelOutcome::RetryableError, "");
    let (second, d2) = connectors.next_dispatch();
    connectors.answer(&d2, ChannelOutcome::Succeeded, "Q-60");
    let r = wait_for(&mut acq, "PaymentResult", |m| match m {
        AnyMessage::PaymentResult(r) => Some(r.clone()),
        _ => None,
    });
    assert_eq!(r.status, FinalStatus::Succeeded);

    let s = query_order(&mut acq, 60);
    assert_eq!(s.order_id, ack.order_id);
    assert_eq!(s.request_id, 60);
    assert_eq!(s.acquirer_id, 1);
    assert_eq!(s.merchant_id, SHOP);
    assert_eq!(s.amount_minor, 30_000);
    assert_eq!(s.currency, 156);
    assert_eq!(s.method, PaymentMethod::Wallet);
    assert_eq!(s.state, OrderState::Succeeded);
    assert_eq!(s.reason, ReasonCode::None);
    assert_eq!(s.strategy, RoutingStrategy::WeightedScore);
    assert_eq!(s.channel_id, second);
    assert_eq!(s.fee_minor, r.fee_minor);
    // (`sequence` is not checked: the server reports the query's sequence there, the protocol
    // document says the request's.)
    assert!(s.updated_ns >= s.created_ns);
    assert_ne!(s.settle_day, 0);
    // The attempts, in order.
    assert_eq!(s.attempts.len(), 2, "{:?}", s.attempts);
    assert_eq!(s.attempts[0].attempt, 1);
    assert_eq!(s.attempts[0].channel_id, first);
    assert_eq!(s.attempts[0].status, AttemptStatus::RetryableError);
    assert_eq!(s.attempts[1].attempt, 2);
    assert_eq!(s.attempts[1].channel_id, second);
    assert_eq!(s.attempts[1].status, AttemptStatus::Succeeded);
    assert_eq!(s.attempts[1].latency_us, 1_500);
    // The routing explanation: all five channels of 1001; the two wallet channels ranked 1 and 2
    // (the first attempt's is rank 1) and chosen once each was tried; the others skipped with a
    // reason (card-only, or no CNY).
    assert_eq!(s.candidates.len(), 5, "{:?}", s.candidates);
    let rank = |channel: u16| {
        s.candidates
            .iter()
            .find(|c| c.channel_id == channel)
            .map(|c| c.rank)
    };
    assert_eq!(rank(first), Some(1), "{:?}", s.candidates);
    assert_eq!(rank(second), Some(2), "{:?}", s.candidates);
    for c in &s.candidates {
        match c.channel_id {
            1 | 2 => {
                assert_eq!(c.decision, CandidateDecision::Chosen, "{c:?}");
                assert_eq!(c.skip_reason, SkipReason::None, "{c:?}");
            }
            _ => {
                assert_eq!(c.decision, CandidateDecision::Skipped, "{c:?}");
                assert_ne!(c.skip_reason, SkipReason::None, "{c:?}");
                assert_eq!(c.rank, 0, "{c:?}");
            }
        }
    }
    // The split.
    assert_eq!(sum_lines(&s.split), 30_000);
    assert_eq!(s.split, r.split);

    // An unknown request id, and another acquirer's view of this one: not found.
    let unknown = query_order(&mut acq, 61);
    assert_eq!(unknown.state, OrderState::NotFound);
    assert_eq!(unknown.order_id, 0);
    let mut b = login(server.addr, "acq-b");
    assert_eq!(query_order(&mut b, 60).state, OrderState::NotFound);

    // An admin looks an order up by its id.
    let mut admin = login(server.addr, "admin");
    admin
        .send(&QueryOrder {
            order_id: ack.order_id,
            request_id: 0,
        })
        .expect("send");
    let by_id = wait_for(&mut admin, "OrderStatus", |m| match m {
        AnyMessage::OrderStatus(s) => Some(s.clone()),
        _ => None,
    });
    assert_eq!(by_id.request_id, 60);
    assert_eq!(by_id.state, OrderState::Succeeded);
}

#[test]
fn acquirer_cannot_pay_another_acquirers_merchant() {
    let (_dir, server) = start_server("ownership", &Settings::default());
    let mut a = login(server.addr, "acq-a");
    let mut b = login(server.addr, "acq-b");
    for (c, merchant) in [(&mut a, 2001), (&mut b, SHOP)] {
        c.send(&payment(70, merchant, 1_000, PaymentMethod::Card))
            .expect("send");
        match next(c, "PaymentAck") {
            AnyMessage::PaymentAck(ack) => {
                assert_eq!(ack.status, AckStatus::Rejected);
                assert_eq!(ack.reason, ReasonCode::MerchantNotOwned);
                assert_eq!(ack.order_id, 0);
                assert_eq!(ack.channel_id, 0);
            }
            other => panic!("expected PaymentAck, got {other:?}"),
        }
    }
    // Refused before an order existed: nothing is left behind.
    assert_eq!(query_order(&mut a, 70).state, OrderState::NotFound);
}

#[test]
fn configuration_is_for_admins_only() {
    let (_dir, server) = start_server("config", &Settings::default());
    let mut connectors = Connectors::login_all(server.addr);
    let mut merchant = sluice_engine::fixture::merchants()
        .into_iter()
        .find(|m| m.merchant_id == 2001)
        .expect("fixture merchant 2001");
    merchant.merchant_id = 2002;
    merchant.acquirer_id = 2;

    // An acquirer may not configure: Reject(RoleNotAllowed), and its session stays open.
    let mut acq = login(server.addr, "acq-b");
    acq.send(&merchant).expect("send ConfigMerchant");
    match next(&mut acq, "Reject") {
        AnyMessage::Reject(r) => {
            assert_eq!(r.reason, ReasonCode::RoleNotAllowed);
            assert_eq!(r.ref_template_id, ConfigMerchant::TEMPLATE_ID);
        }
        other => panic!("expected Reject(RoleNotAllowed), got {other:?}"),
    }
    // Nor may a channel connector.
    connectors.get(1).send(&merchant).expect("send");
    match connectors.next("Reject") {
        (1, AnyMessage::Reject(r)) => assert_eq!(r.reason, ReasonCode::RoleNotAllowed),
        other => panic!("expected Reject(RoleNotAllowed), got {other:?}"),
    }
    acq.send(&payment(80, 2002, 1_000, PaymentMethod::Card))
        .expect("send");
    match next(&mut acq, "PaymentAck") {
        AnyMessage::PaymentAck(a) => assert_eq!(a.reason, ReasonCode::UnknownMerchant),
        other => panic!("expected PaymentAck, got {other:?}"),
    }

    // The admin may.
    let mut admin = login(server.addr, "admin");
    admin.send(&merchant).expect("send ConfigMerchant");
    match next(&mut admin, "ConfigAck") {
        AnyMessage::ConfigAck(a) => {
            assert_eq!(a.status, AckStatus::Accepted, "{a:?}");
            assert_eq!(a.ref_template_id, ConfigMerchant::TEMPLATE_ID);
            assert_eq!(a.object_id, 2002);
            assert_eq!(a.reason, ReasonCode::None);
        }
        other => panic!("expected ConfigAck, got {other:?}"),
    }
    // An invalid one is refused with a reason.
    admin
        .send(&ConfigMerchant {
            split_profile_id: 99,
            ..merchant.clone()
        })
        .expect("send");
    match next(&mut admin, "ConfigAck") {
        AnyMessage::ConfigAck(a) => {
            assert_eq!(a.status, AckStatus::Rejected);
            assert_eq!(a.reason, ReasonCode::UnknownSplitProfile);
        }
        other => panic!("expected ConfigAck, got {other:?}"),
    }

    // The new merchant takes payments (the same request id: the refusal left nothing behind).
    acq.send(&payment(80, 2002, 1_000, PaymentMethod::Card))
        .expect("send");
    match next(&mut acq, "PaymentAck") {
        AnyMessage::PaymentAck(a) => {
            assert_eq!(a.status, AckStatus::Accepted, "{a:?}");
            assert_eq!(a.channel_id, UNIONPAY);
        }
        other => panic!("expected PaymentAck, got {other:?}"),
    }
}

/// Sends `bytes` on a fresh logged-in session and expects `Logout(reason)`, then the close.
fn expect_logout_on(addr: std::net::SocketAddr, bytes: &[u8], reason: ReasonCode) {
    let mut c = login(addr, "acq-a");
    c.send_raw(bytes).expect("send");
    let seen = expect_closed(&mut c, &format!("{reason:?}"));
    let logout = seen
        .iter()
        .find_map(|m| match m {
            AnyMessage::Logout(l) => Some(l.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no Logout before the close; got {seen:?}"));
    assert_eq!(logout.reason, reason);
    assert!(!logout.text.is_empty(), "the Logout says why");
}

/// Sends `bytes` on `c` and expects a Reject with `reason`; the session stays open.
fn expect_reject_on(c: &mut sluice_gateway::client::Client, bytes: &[u8], reason: ReasonCode) {
    c.send_raw(bytes).expect("send");
    match next(c, &format!("Reject({reason:?})")) {
        AnyMessage::Reject(r) => assert_eq!(r.reason, reason, "{r:?}"),
        other => panic!("expected Reject({reason:?}), got {other:?}"),
    }
    // Still open and in step.
    assert_eq!(query_order(c, 424_242).state, OrderState::NotFound);
}

#[test]
fn malformed_frames_and_garbage_never_disturb_other_clients() {
    let (_dir, server) = start_server("malformed", &Settings::default());
    let addr = server.addr;
    let mut connectors = Connectors::login_all(addr);
    let mut bystander = login(addr, "acq-a");
    let good = frame(&payment(90, SHOP, 1_000, PaymentMethod::Card));

    // Framing errors: the stream cannot be trusted, so Logout with the reason, then close.
    let mut bad_encoding = good.clone();
    bad_encoding[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
    expect_logout_on(addr, &bad_encoding, ReasonCode::BadEncodingType);
    let mut too_large = good[..14].to_vec();
    too_large[0..4].copy_from_slice(&1_025u32.to_be_bytes());
    expect_logout_on(addr, &too_large, ReasonCode::FrameTooLarge);
    let mut too_short = good[..14].to_vec();
    too_short[0..4].copy_from_slice(&13u32.to_be_bytes());
    expect_logout_on(addr, &too_short, ReasonCode::FrameTooShort);

    // Well-framed but refused messages: Reject, and the session stays open.
    let mut c = login(addr, "acq-a");
    let mut unknown_template = good.clone();
    unknown_template[8..10].copy_from_slice(&250u16.to_le_bytes());
    expect_reject_on(&mut c, &unknown_template, ReasonCode::UnknownTemplate);
    let mut wrong_schema = good.clone();
    wrong_schema[10..12].copy_from_slice(&0x1111u16.to_le_bytes());
    expect_reject_on(&mut c, &wrong_schema, ReasonCode::WrongSchema);
    // A body shorter than its root block.
    let mut short_body = good[..40].to_vec();
    short_body[0..4].copy_from_slice(&40u32.to_be_bytes());
    expect_reject_on(&mut c, &short_body, ReasonCode::MalformedMessage);
    // An undefined enum value (the payment method at root offset 26).
    let mut bad_enum = good.clone();
    bad_enum[14 + 26] = 9;
    expect_reject_on(&mut c, &bad_enum, ReasonCode::MalformedMessage);
    // A server-only message.
    expect_reject_on(
        &mut c,
        &frame(&Pulse { flags: 0 }),
        ReasonCode::RoleNotAllowed,
    );
    // None of them created an order.
    assert_eq!(query_order(&mut c, 90).state, OrderState::NotFound);

    // Random garbage, after login and before it: closed.
    let mut rng = Rng::new(0x5eed);
    let mut garbage: Vec<u8> = (0..512).map(|_| rng.next_u64() as u8).collect();
    garbage[4] = 0x00; // never a valid encoding type by chance
    let mut logged_in = login(addr, "acq-a");
    logged_in.send_raw(&garbage).expect("send");
    expect_closed(&mut logged_in, "garbage after login");
    let mut anonymous = sluice_gateway::client::Client::connect(addr).expect("connect");
    anonymous.send_raw(&garbage).expect("send");
    expect_closed(&mut anonymous, "garbage before login");

    // The server keeps serving: a payment on another connection succeeds, and the bystander's
    // session is untouched.
    let mut fresh = login(addr, "acq-a");
    let (_, _, r) = pay_to_success(&mut fresh, &mut connectors, 91, 2_000);
    assert_eq!(sum_lines(&r.split), 2_000);
    assert_eq!(query_order(&mut bystander, 91).state, OrderState::Succeeded);
}

#[test]
fn slow_consumer_is_disconnected_and_its_orders_survive() {
    let settings = Settings {
        simulator: true,
        write_buffer_bytes: 65_536,
        set: vec![("timeout_ms", "600000".into())],
        ..Settings::default()
    };
    let (_dir, server) = start_server("slow-consumer", &settings);
    let addr = server.addr;

    // The slow client: a few payments, then a flood of queries, never reading a reply.
    let mut slow = login(addr, "acq-a");
    let payments: Vec<u64> = (1_000..1_020).collect();
    let mut burst = Vec::new();
    for &id in &payments {
        burst.extend_from_slice(&frame(&payment(
            id,
            SHOP,
            1_000 + id as i64,
            PaymentMethod::Card,
        )));
    }
    slow.send_raw(&burst).expect("send payments");
    let mut queries = Vec::new();
    for i in 0..2_000u64 {
        queries.extend_from_slice(&frame(&query(1_000 + i % 20)));
    }
    let mut writer = slow.stream().try_clone().expect("clone stream");
    // Should the server stop reading without disconnecting, fail instead of hanging.
    writer
        .set_write_timeout(Some(Duration::from_secs(30)))
        .expect("write timeout");
    let flood = std::thread::spawn(move || {
        // Up to 400,000 queries (~100 MB of replies): far more than the kernel buffers and the
        // 64 KiB outbound buffer hold. The server disconnects us long before.
        for _ in 0..200 {
            if writer.write_all(&queries).is_err() {
                return true;
            }
        }
        false
    });

    // Meanwhile another client is served.
    let mut other = login(addr, "acq-b");
    let mut answered = 0;
    while !flood.is_finished() && answered < 1_000 {
        assert_eq!(query_order(&mut other, 7).state, OrderState::NotFound);
        answered += 1;
    }
    let write_failed = flood.join().expect("flood thread");

    // The slow client observes the close (after whatever the kernel still held for it).
    assert!(
        write_failed,
        "the server took 400,000 queries without disconnecting a client that never reads"
    );
    expect_closed(&mut slow, "the slow consumer's connection");
    server.wait_for_line(WAIT, |l| l.contains("disconnecting slow consumer"));

    // Its orders were processed and can be queried from a new session.
    let mut again = login(addr, "acq-a");
    for &id in &payments {
        let s = query_order(&mut again, id);
        assert_ne!(s.state, OrderState::NotFound, "payment {id}");
        assert_eq!(s.amount_minor, 1_000 + id as i64);
    }
    // And the other client still works.
    other
        .send(&payment(5, 2001, 700, PaymentMethod::Card))
        .expect("send");
    let ack = wait_for(&mut other, "PaymentAck", |m| match m {
        AnyMessage::PaymentAck(a) => Some(a.clone()),
        _ => None,
    });
    assert_eq!(ack.status, AckStatus::Accepted);
}

#[test]
fn backpressure_from_a_slow_processor_drops_nothing() {
    let settings = Settings {
        simulator: true,
        ring_size: 64,
        processor_delay_us: 200,
        // The simulated channels' answers queue behind thousands of payments: no attempt may time
        // out meanwhile (timeouts would take channels out of rotation and refuse payments).
        set: vec![("timeout_ms", "600000".into())],
        ..Settings::default()
    };
    let (_dir, mut server) = start_server("backpressure", &settings);
    let addr = server.addr;
    let mut acq = login(addr, "acq-a");

    // 3000 payments in one burst, written by a thread while this one reads the acks.
    const N: u64 = 3_000;
    let mut burst = Vec::new();
    for id in 1..=N {
        let merchant = [1001, 1002, 1003, 1004][(id % 4) as usize];
        let method = if id % 3 == 0 {
            PaymentMethod::Card
        } else {
            PaymentMethod::Wallet
        };
        burst.extend_from_slice(&frame(&payment(id, merchant, 100 + id as i64, method)));
    }
    let mut writer = acq.stream().try_clone().expect("clone stream");
    writer
        .set_write_timeout(Some(Duration::from_secs(60)))
        .expect("write timeout");
    let sender = std::thread::spawn(move || writer.write_all(&burst));

    let mut acked = HashSet::new();
    let mut probe_done = false;
    let started = Instant::now();
    while acked.len() < N as usize {
        match next_within(&mut acq, Duration::from_secs(30), "PaymentAck") {
            AnyMessage::PaymentAck(a) => {
                assert!(
                    acked.insert(a.request_id),
                    "a second ack for {}",
                    a.request_id
                );
                assert!(
                    a.status == AckStatus::Accepted,
                    "payment {} refused: {a:?}",
                    a.request_id
                );
            }
            AnyMessage::PaymentResult(_) => {}
            other => panic!("unexpected {other:?}"),
        }
        if !probe_done && acked.len() >= 200 {
            // While the ring is saturated, the gateway still logs a client in and keeps its
            // session alive (its heartbeat arrives after a second of silence).
            probe_done = true;
            let mut probe = login(addr, "acq-b");
            let hb = probe
                .recv(Duration::from_secs(10))
                .expect("probe session stays open");
            assert!(
                matches!(hb, Some(AnyMessage::Heartbeat(_))),
                "expected the server's heartbeat, got {hb:?}"
            );
            // And its query gets through the same saturated ring.
            assert_eq!(query_order(&mut probe, 1).state, OrderState::NotFound);
        }
    }
    sender
        .join()
        .expect("sender thread")
        .expect("every payment was written");
    assert!(probe_done);
    assert_eq!(acked.len(), N as usize);
    eprintln!("{N} acks in {:?}", started.elapsed());

    // The ring was full at times (the gateway stopped reading) and nothing was dropped.
    assert!(server.terminate().success());
    let stats = server.wait_for_line(WAIT, |l| says(l, "stopped"));
    let ring_full: u64 = stats
        .split("ring_full: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no ring_full in {stats:?}"));
    assert!(ring_full > 0, "the ring never filled: {stats}");
}

#[test]
fn sigterm_stops_cleanly_and_a_restart_recovers() {
    let dir = TestDir::new("restart");
    let config = write_config(&dir.path, &Settings::default());
    let data = dir.join("data");
    let mut server = ServerProcess::start(&config, &data);
    let mut connectors = Connectors::login_all(server.addr);
    let mut acq = login(server.addr, "acq-a");

    // One success, one decline and one refunded payment.
    let (ok_ack, _, ok) = pay_to_success(&mut acq, &mut connectors, 1, 10_000);
    acq.send(&payment(2, SHOP, 3_000, PaymentMethod::Card))
        .expect("send");
    let declined_ack = match next(&mut acq, "PaymentAck") {
        AnyMessage::PaymentAck(a) => a,
        other => panic!("expected PaymentAck, got {other:?}"),
    };
    let (_, d) = connectors.next_dispatch();
    connectors.answer(&d, ChannelOutcome::Declined, "");
    let declined = match next(&mut acq, "PaymentResult") {
        AnyMessage::PaymentResult(r) => r,
        other => panic!("expected PaymentResult, got {other:?}"),
    };
    assert_eq!(declined.status, FinalStatus::Failed);
    assert_eq!(declined.reason, ReasonCode::ChannelDeclined);
    let before: Vec<OrderStatus> = [1, 2].iter().map(|&id| query_order(&mut acq, id)).collect();

    // SIGTERM: exit 0, a snapshot at the last sequence, whose hash the log names.
    let status = server.terminate();
    assert!(status.success(), "clean shutdown exits 0: {status:?}");
    let stopped = server.stopped_hash();
    let snapshot = sluice_journal::snapshots_dir(&data).join(format!("{:020}.snap", stopped.seq));
    assert!(
        snapshot.is_file(),
        "no snapshot {} after shutdown",
        snapshot.display()
    );
    drop((acq, connectors));

    // Restart on the same data: the state is the one that was stopped.
    let mut server = ServerProcess::start(&config, &data);
    let recovered = server.recovered_hash();
    assert_eq!(recovered, stopped, "the restart recovers the stopped state");
    server.wait_for_line(WAIT, |l| l.contains("snapshot") && l.contains("loaded"));
    let mut connectors = Connectors::login_all(server.addr);
    let mut acq = login(server.addr, "acq-a");
    for (id, was) in [1, 2].iter().zip(&before) {
        let now = query_order(&mut acq, *id);
        assert_eq!(
            without_sequence(&now),
            without_sequence(was),
            "order {id} after the restart"
        );
    }

    // Resends get the same outcomes, and no new dispatch.
    for (id, ack, result) in [(1, &ok_ack, &ok), (2, &declined_ack, &declined)] {
        let request = payment(
            id,
            SHOP,
            if id == 1 { 10_000 } else { 3_000 },
            PaymentMethod::Card,
        );
        acq.send(&request).expect("resend");
        match next(&mut acq, "duplicate PaymentAck") {
            AnyMessage::PaymentAck(a) => {
                assert!(a.duplicate);
                assert_eq!(a.order_id, ack.order_id);
                assert_eq!(a.status, ack.status);
            }
            other => panic!("expected PaymentAck, got {other:?}"),
        }
        match next(&mut acq, "duplicate PaymentResult") {
            AnyMessage::PaymentResult(r) => {
                assert!(r.duplicate);
                assert_eq!(outcome(&r), outcome(result));
            }
            other => panic!("expected PaymentResult, got {other:?}"),
        }
    }
    // New work continues after the recovered sequence.
    let (ack3, _, _) = pay_to_success(&mut acq, &mut connectors, 3, 4_000);
    assert!(ack3.sequence > recovered.seq);
    assert!(ack3.order_id > ok_ack.order_id);

    assert!(server.terminate().success());
}
