//! Uncertain outcomes (docs/ENGINE.md): every path of an attempt or refund whose channel does not
//! answer by its deadline, on the fixture world (policy Hold, query interval 200 ms, window 5 s,
//! timeout 2 s). SHOP's wallet payments in CNY go to wechat first, then alipay.

mod common;
use common::*;
use sluice_engine::driver::Driver;
use sluice_engine::fixture::*;
use sluice_engine::state::ChannelBook;
use sluice_engine::{Dest, DestKind};
use sluice_protocol::*;

const MS: u64 = 1_000_000;
const SECOND: u64 = 1_000 * MS;

/// Pays `amount` at SHOP; returns the first dispatch (to wechat).
fn pay_at_shop(d: &mut Driver, request_id: u64, amount: i64) -> Dispatch {
    let out = d.acquirer(ACQUIRER_A, &payment(request_id, SHOP, amount));
    assert_eq!(ack(&out).status, AckStatus::Accepted);
    let disp = dispatch(&out).unwrap().clone();
    assert_eq!(disp.channel_id, WECHAT);
    disp
}

/// Moves past the attempt's deadline and pulses: the attempt becomes Unknown, and the one
/// question that goes out is returned.
fn deadline_passes(d: &mut Driver, disp: &Dispatch) -> ChannelControl {
    d.set_time_ns(disp.deadline_ns);
    d.pulse();
    let out = d.decoded();
    assert!(
        dispatch(&out).is_none() && result(&out).is_none(),
        "{out:?}"
    );
    let asked: Vec<&ChannelControl> = controls(&out)
        .into_iter()
        .filter(|c| c.order_id == disp.order_id)
        .collect();
    assert_eq!(asked.len(), 1, "{out:?}");
    let q = asked[0].clone();
    assert_eq!(
        (q.op, q.order_id, q.attempt, q.channel_id, q.amount_minor),
        (
            ChannelOp::Query,
            disp.order_id,
            disp.attempt,
            disp.channel_id,
            disp.amount_minor
        )
    );
    let dest = out
        .iter()
        .find(|(_, m)| matches!(m, AnyMessage::ChannelControl(c) if *c == q))
        .unwrap()
        .0;
    assert_eq!(dest, Dest::channel(disp.channel_id));
    q
}

/// Advances one query interval and pulses; returns the questions asked.
fn next_interval(d: &mut Driver) -> Vec<ChannelControl> {
    d.advance_ns(200 * MS);
    d.pulse();
    controls(&d.decoded()).into_iter().cloned().collect()
}

fn attempt_statuses(d: &Driver, order_id: u64) -> Vec<(u16, AttemptStatus)> {
    d.engine
        .order_status((order_id - 1) as u32, 0)
        .attempts
        .iter()
        .map(|a| (a.channel_id, a.status))
        .collect()
}

fn order_state(d: &Driver, order_id: u64) -> OrderState {
    d.engine.order_status((order_id - 1) as u32, 0).state
}

fn book(d: &Driver, channel: u16) -> ChannelBook {
    d.engine.channel_book(channel, CNY).unwrap()
}

fn pending_totals(d: &Driver) -> (u128, u128) {
    let t = d.engine.state().ledger.totals();
    (t.debits_pending, t.credits_pending)
}

#[test]
fn unknown_then_paid_is_the_payment_s_capture() {
    let mut d = world();
    let disp = pay_at_shop(&mut d, 1, 10_000);
    let q = deadline_passes(&mut d, &disp);
    // The acquirer sees the payment in flight with its attempt Unknown; the money stays reserved.
    assert_eq!(order_state(&d, disp.order_id), OrderState::InFlight);
    assert_eq!(
        attempt_statuses(&d, disp.order_id),
        vec![(WECHAT, AttemptStatus::Unknown)]
    );
    assert_eq!(pending_totals(&d), (10_000, 10_000));
    let stats = d.engine.stats_report(0);
    assert_eq!(
        (stats.timeouts, stats.unknown_attempts, stats.in_flight),
        (1, 1, 1)
    );
    // Paid: exactly what a ChannelResult success does.
    let out = answer_control(&mut d, &q, ChannelStatus::Paid);
    let r = result(&out).unwrap();
    assert_eq!(
        (r.status, r.attempts, r.channel_id),
        (FinalStatus::Succeeded, 1, WECHAT)
    );
    assert_eq!(r.fee_minor, 60);
    assert_eq!(r.split.iter().map(|l| l.amount_minor).sum::<i64>(), 10_000);
    assert_eq!(
        attempt_statuses(&d, disp.order_id),
        vec![(WECHAT, AttemptStatus::Succeeded)]
    );
    let stats = d.engine.stats_report(0);
    assert_eq!((stats.unknown_attempts, stats.unknown_resolved), (0, 1));
    assert_eq!((stats.succeeded, stats.in_flight), (1, 0));
    assert_eq!(pending_totals(&d), (0, 0));
    let b = book(&d, WECHAT);
    assert_eq!(
        (b.captured_minor, b.fees_minor, b.not_kept_minor),
        (10_000, 60, 0)
    );
    d.engine.verify_ledger().unwrap();
    // Nothing more is asked.
    assert!(next_interval(&mut d).is_empty());
}

#[test]
fn a_late_channel_result_is_the_unknown_attempt_s_answer() {
    let mut d = world();
    let disp = pay_at_shop(&mut d, 1, 1_000);
    deadline_passes(&mut d, &disp);
    let out = d.channel(WECHAT, &channel_result(&disp, ChannelOutcome::Succeeded));
    assert!(reject(&out).is_none(), "{out:?}");
    assert_eq!(result(&out).unwrap().status, FinalStatus::Succeeded);
    assert!(next_interval(&mut d).is_empty());

    // A late decline ends the payment as a decline does; a late retryable error fails it over.
    let disp = pay_at_shop(&mut d, 2, 1_000);
    deadline_passes(&mut d, &disp);
    let out = d.channel(WECHAT, &channel_result(&disp, ChannelOutcome::Declined));
    let r = result(&out).unwrap();
    assert_eq!(
        (r.status, r.reason),
        (FinalStatus::Failed, ReasonCode::ChannelDeclined)
    );
    let disp = pay_at_shop(&mut d, 3, 1_000);
    deadline_passes(&mut d, &disp);
    let out = d.channel(
        WECHAT,
        &channel_result(&disp, ChannelOutcome::RetryableError),
    );
    assert_eq!(dispatch(&out).unwrap().channel_id, ALIPAY);
    assert_eq!(
        pending_totals(&d),
        (1_000, 1_000),
        "only the new attempt is reserved"
    );
    d.engine.verify_ledger().unwrap();
}

#[test]
fn unknown_then_not_paid_is_closed_and_then_fails_over() {
    let mut d = world();
    let disp = pay_at_shop(&mut d, 1, 2_500);
    let q = deadline_passes(&mut d, &disp);
    // NotPaid: the attempt could still capture, so it is closed first.
    let out = answer_control(&mut d, &q, ChannelStatus::NotPaid);
    let close = controls(&out)[0].clone();
    assert_eq!((close.op, close.attempt), (ChannelOp::Close, 1));
    assert!(dispatch(&out).is_none());
    assert_eq!(
        attempt_statuses(&d, disp.order_id),
        vec![(WECHAT, AttemptStatus::Closing)]
    );
    // No answer to the close: it is sent again at the next interval.
    let again = next_interval(&mut d);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].op, ChannelOp::Close);
    // Processing changes nothing.
    let before = d.engine.content_hash();
    let out = answer_control(&mut d, &close, ChannelStatus::Processing);
    assert!(out.is_empty());
    assert_eq!(d.engine.content_hash(), before);
    // Closed: the reservation is voided and the payment fails over.
    let out = answer_control(&mut d, &close, ChannelStatus::Closed);
    let second = dispatch(&out).unwrap().clone();
    assert_eq!((second.channel_id, second.attempt), (ALIPAY, 2));
    assert_eq!(
        attempt_statuses(&d, disp.order_id),
        vec![
            (WECHAT, AttemptStatus::Closed),
            (ALIPAY, AttemptStatus::Pending)
        ]
    );
    assert_eq!(pending_totals(&d), (2_500, 2_500));
    let out = d.channel(ALIPAY, &channel_result(&second, ChannelOutcome::Succeeded));
    assert_eq!(result(&out).unwrap().attempts, 2);
    let stats = d.engine.stats_report(0);
    assert_eq!(
        (
            stats.unknown_attempts,
            stats.unknown_resolved,
            stats.failed_over
        ),
        (0, 1, 1)
    );
    assert_eq!(book(&d, WECHAT), ChannelBook::default());
    d.engine.verify_ledger().unwrap();
}

#[test]
fn not_found_is_asked_again_then_paid() {
    let mut d = world();
    let disp = pay_at_shop(&mut d, 1, 1_000);
    let q = deadline_passes(&mut d, &disp);
    let before = d.engine.content_hash();
    assert!(answer_control(&mut d, &q, ChannelStatus::NotFound).is_empty());
    assert_eq!(
        d.engine.content_hash(),
        before,
        "NotFound within the window changes nothing"
    );
    let again = next_interval(&mut d);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].op, ChannelOp::Query);
    let out = answer_control(&mut d, &again[0], ChannelStatus::Paid);
    assert_eq!(result(&out).unwrap().status, FinalStatus::Succeeded);
}

#[test]
fn not_found_past_the_window_is_closed() {
    let mut d = world();
    let disp = pay_at_shop(&mut d, 1, 1_000);
    let q = deadline_passes(&mut d, &disp);
    d.set_time_ns(disp.deadline_ns + 5 * SECOND);
    let out = answer_control(&mut d, &q, ChannelStatus::NotFound);
    assert_eq!(controls(&out)[0].op, ChannelOp::Close);
    assert_eq!(
        attempt_statuses(&d, disp.order_id),
        vec![(WECHAT, AttemptStatus::Closing)]
    );
}

#[test]
fn hold_keeps_asking_past_the_window_and_never_fails_over() {
    let mut d = world();
    let disp = pay_at_shop(&mut d, 1, 1_000);
    deadline_passes(&mut d, &disp);
    // A minute of silence: a question at every interval, no failover, no result.
    for _ in 0..300 {
        let asked = next_interval(&mut d);
        assert_eq!(asked.len(), 1);
        assert_eq!(asked[0].op, ChannelOp::Query);
        assert!(dispatch(&d.decoded()).is_none() && result(&d.decoded()).is_none());
    }
    assert_eq!(order_state(&d, disp.order_id), OrderState::InFlight);
    assert_eq!(
        attempt_statuses(&d, disp.order_id),
        vec![(WECHAT, AttemptStatus::Unknown)]
    );
    assert_eq!(d.engine.stats_report(0).unknown_attempts, 1);
    // The channel is back and answers.
    let q = next_interval(&mut d)[0].clone();
    let out = answer_control(&mut d, &q, ChannelStatus::Paid);
    assert_eq!(result(&out).unwrap().status, FinalStatus::Succeeded);
}

/// Sets the fixture channels to policy FailOver.
fn failover_world() -> Driver {
    let mut d = world();
    set_unknown_policy(&mut d, UnknownPolicy::FailOver);
    d
}

/// FailOver: wechat stays silent for its window; the attempt is Abandoned and alipay takes the
/// payment. Returns (wechat's dispatch, alipay's dispatch).
fn abandoned_at_wechat(d: &mut Driver, request_id: u64, amount: i64) -> (Dispatch, Dispatch) {
    let disp = pay_at_shop(d, request_id, amount);
    deadline_passes(d, &disp);
    // Questions until the window (5 s from the deadline) is over.
    for _ in 0..24 {
        let asked = next_interval(d);
        assert_eq!(asked.len(), 1, "asked within the window");
    }
    d.set_time_ns(disp.deadline_ns + 5 * SECOND);
    d.pulse();
    let out = d.decoded();
    // Abandoned, and still closed: the channel is sent Close now and at every interval.
    let close = controls(&out);
    assert_eq!(close.len(), 1, "{out:?}");
    assert_eq!(
        (close[0].op, close[0].attempt, close[0].channel_id),
        (ChannelOp::Close, 1, WECHAT)
    );
    let second = dispatch(&out).expect("abandoned: fails over").clone();
    assert_eq!((second.channel_id, second.attempt), (ALIPAY, 2));
    assert_eq!(
        attempt_statuses(d, disp.order_id),
        vec![
            (WECHAT, AttemptStatus::Abandoned),
            (ALIPAY, AttemptStatus::Pending)
        ]
    );
    assert_eq!(pending_totals(d), (amount as u128, amount as u128));
    (disp, second)
}

#[test]
fn failover_abandons_after_the_window_and_reverses_a_late_capture() {
    let mut d = failover_world();
    let (first, second) = abandoned_at_wechat(&mut d, 1, 10_000);
    let out = d.channel(ALIPAY, &channel_result(&second, ChannelOutcome::Succeeded));
    let paid = result(&out).unwrap().clone();
    assert_eq!(
        (paid.status, paid.channel_id, paid.attempts),
        (FinalStatus::Succeeded, ALIPAY, 2)
    );
    // The abandoned attempt captures after all: not kept, reversed.
    let out = d.channel(WECHAT, &channel_result(&first, ChannelOutcome::Succeeded));
    assert!(
        result(&out).is_none(),
        "the acquirer's result never changes"
    );
    let rev = reversals(&out)[0].clone();
    assert_eq!(
        (
            rev.order_id,
            rev.attempt,
            rev.channel_id,
            rev.amount_minor,
            rev.state,
            rev.reason
        ),
        (
            first.order_id,
            1,
            WECHAT,
            10_000,
            ReversalState::Reversing,
            ReasonCode::LateCapture
        )
    );
    let dest = out
        .iter()
        .find(|(_, m)| matches!(m, AnyMessage::PaymentReversal(_)))
        .unwrap()
        .0;
    assert_eq!(
        (dest.kind, dest.principal_id, dest.session_id),
        (DestKind::Acquirer, ACQUIRER_A, 1_000)
    );
    let reverse = controls(&out)[0].clone();
    assert_eq!(
        (reverse.op, reverse.attempt, reverse.channel_id),
        (ChannelOp::Reverse, 1, WECHAT)
    );
    assert_eq!(
        attempt_statuses(&d, first.order_id),
        vec![
            (WECHAT, AttemptStatus::Reversing),
            (ALIPAY, AttemptStatus::Succeeded)
        ]
    );
    // Booked: wechat holds the payer's money, owed back; no fee on it.
    let b = book(&d, WECHAT);
    assert_eq!(
        (b.captured_minor, b.not_kept_minor, b.fees_minor),
        (10_000, 10_000, 0)
    );
    let ledger = &d.engine.state().ledger;
    assert_eq!(
        ledger.account(ledger.reversals_payable(0)).credit_balance(),
        10_000
    );
    d.engine.verify_ledger().unwrap();
    // Reverse again at every interval until the channel confirms.
    let again = next_interval(&mut d);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].op, ChannelOp::Reverse);
    let out = answer_control(&mut d, &reverse, ChannelStatus::Reversed);
    let rev = reversals(&out)[0];
    assert_eq!(
        (rev.state, rev.reason),
        (ReversalState::Reversed, ReasonCode::LateCapture)
    );
    assert_eq!(
        attempt_statuses(&d, first.order_id),
        vec![
            (WECHAT, AttemptStatus::Reversed),
            (ALIPAY, AttemptStatus::Succeeded)
        ]
    );
    let ledger = &d.engine.state().ledger;
    assert_eq!(
        ledger.account(ledger.reversals_payable(0)).credit_balance(),
        0
    );
    assert_eq!(
        ledger
            .account(ledger.channel_receivable(0, 0))
            .debit_balance(),
        0
    );
    assert_eq!(book(&d, WECHAT).reversed_minor, 10_000);
    let stats = d.engine.stats_report(0);
    assert_eq!(
        (stats.late_captures, stats.reversals, stats.succeeded),
        (1, 1, 1)
    );
    d.engine.verify_ledger().unwrap();
    assert!(next_interval(&mut d).is_empty());
    // A resend of the payment still gets the same result.
    let out = d.acquirer(ACQUIRER_A, &payment(1, SHOP, 10_000));
    let again = result(&out).unwrap();
    assert!(again.duplicate);
    assert_eq!(
        (again.status, again.channel_id, again.fee_minor),
        (paid.status, paid.channel_id, paid.fee_minor)
    );
}

#[test]
fn a_capture_after_the_payment_failed_is_reversed() {
    let mut d = world();
    let disp = pay_at_shop(&mut d, 1, 3_000);
    let out = d.channel(WECHAT, &channel_result(&disp, ChannelOutcome::Declined));
    assert_eq!(result(&out).unwrap().status, FinalStatus::Failed);
    let out = d.channel(WECHAT, &channel_result(&disp, ChannelOutcome::Succeeded));
    assert!(result(&out).is_none());
    let rev = reversals(&out)[0];
    assert_eq!(
        (rev.state, rev.reason, rev.amount_minor),
        (ReversalState::Reversing, ReasonCode::LateCapture, 3_000)
    );
    assert_eq!(order_state(&d, disp.order_id), OrderState::Failed);
    d.engine.verify_ledger().unwrap();
    // Paid to a query, for an attempt that closed: the same (a channel contradicting itself).
    let disp = pay_at_shop(&mut d, 2, 4_000);
    let q = deadline_passes(&mut d, &disp);
    answer_control(&mut d, &q, ChannelStatus::Closed);
    let out = answer_control(&mut d, &q, ChannelStatus::Paid);
    assert_eq!(reversals(&out)[0].reason, ReasonCode::LateCapture);
    assert_eq!(d.engine.stats_report(0).late_captures, 2);
    d.engine.verify_ledger().unwrap();
}

#[test]
fn repeated_answers_change_nothing() {
    let mut d = failover_world();
    let (first, second) = abandoned_at_wechat(&mut d, 1, 1_000);
    d.channel(ALIPAY, &channel_result(&second, ChannelOutcome::Succeeded));
    let out = d.channel(WECHAT, &channel_result(&first, ChannelOutcome::Succeeded));
    let reverse = controls(&out)[0].clone();
    // The capture again, by result or by query: already being reversed.
    let before = d.engine.content_hash();
    let out = d.channel(WECHAT, &channel_result(&first, ChannelOutcome::Succeeded));
    assert_eq!(reject(&out).unwrap().reason, ReasonCode::StaleAttempt);
    let out = answer_control(&mut d, &reverse, ChannelStatus::Paid);
    assert!(
        out.is_empty(),
        "Paid to a Reverse: asked again, nothing else"
    );
    assert_eq!(d.engine.content_hash(), before);
    answer_control(&mut d, &reverse, ChannelStatus::Reversed);
    let before = d.engine.content_hash();
    let out = answer_control(&mut d, &reverse, ChannelStatus::Reversed);
    assert_eq!(reject(&out).unwrap().reason, ReasonCode::StaleAttempt);
    let out = d.channel(ALIPAY, &channel_result(&second, ChannelOutcome::Succeeded));
    assert_eq!(reject(&out).unwrap().reason, ReasonCode::StaleAttempt);
    assert_eq!(d.engine.content_hash(), before);
    assert_eq!(d.engine.stats_report(0).reversals, 1);

    // Paid twice, Closed twice.
    let disp = pay_at_shop(&mut d, 2, 1_000);
    let q = deadline_passes(&mut d, &disp);
    answer_control(&mut d, &q, ChannelStatus::Paid);
    let before = d.engine.content_hash();
    let out = answer_control(&mut d, &q, ChannelStatus::Paid);
    assert_eq!(reject(&out).unwrap().reason, ReasonCode::StaleAttempt);
    assert_eq!(d.engine.content_hash(), before);
    let disp = pay_at_shop(&mut d, 3, 1_000);
    let q = deadline_passes(&mut d, &disp);
    answer_control(&mut d, &q, ChannelStatus::Closed);
    let before = d.engine.content_hash();
    let out = answer_control(&mut d, &q, ChannelStatus::Closed);
    assert_eq!(reject(&out).unwrap().reason, ReasonCode::StaleAttempt);
    assert_eq!(d.engine.content_hash(), before);
    assert_eq!(d.engine.stats_report(0).succeeded, 2);
    d.engine.verify_ledger().unwrap();
}

#[test]
fn answers_that_name_nothing_of_the_channel_s_are_refused() {
    let mut d = world();
    let disp = pay_at_shop(&mut d, 1, 1_000);
    // A pending attempt is not being asked about.
    let q = ChannelControl {
        op: ChannelOp::Query,
        order_id: disp.order_id,
        attempt: 1,
        refund_id: 0,
        channel_id: WECHAT,
        amount_minor: 1_000,
        currency: CNY,
        channel_ref: Chars::default(),
        at_ns: 0,
    };
    let before = d.engine.content_hash();
    let out = answer_control(&mut d, &q, ChannelStatus::Paid);
    assert_eq!(reject(&out).unwrap().reason, ReasonCode::StaleAttempt);
    let q = deadline_passes(&mut d, &disp);
    let before_unknown = d.engine.content_hash();
    let out = d.channel(ALIPAY, &control_answer(&q, ChannelStatus::Paid));
    assert_eq!(reject(&out).unwrap().reason, ReasonCode::WrongChannel);
    let out = d.channel(ALIPAY, &channel_result(&disp, ChannelOutcome::Succeeded));
    assert_eq!(reject(&out).unwrap().reason, ReasonCode::WrongChannel);
    let mut other = control_answer(&q, ChannelStatus::Paid);
    other.order_id = 99;
    assert_eq!(
        reject(&d.channel(WECHAT, &other)).unwrap().reason,
        ReasonCode::UnknownOrder
    );
    other.order_id = q.order_id;
    other.attempt = 2;
    assert_eq!(
        reject(&d.channel(WECHAT, &other)).unwrap().reason,
        ReasonCode::UnknownOrder
    );
    assert_eq!(d.engine.content_hash(), before_unknown);
    assert_ne!(before, before_unknown);
}

/// A refund of 4,000 of a 10,000 payment at SHOP, dispatched to wechat.
fn refund_at_wechat(d: &mut Driver) -> RefundDispatch {
    let out = pay(
        d,
        ACQUIRER_A,
        &payment(1, SHOP, 10_000),
        ChannelOutcome::Succeeded,
    );
    assert_eq!(result(&out).unwrap().status, FinalStatus::Succeeded);
    let out = d.acquirer(ACQUIRER_A, &refund(1, 1, 4_000));
    assert_eq!(refund_ack(&out).status, AckStatus::Accepted);
    refund_dispatch(&out).unwrap().clone()
}

/// The refund's deadline passes: it becomes Unknown and a RefundQuery goes out.
fn refund_deadline_passes(d: &mut Driver, x: &RefundDispatch) -> ChannelControl {
    d.set_time_ns(x.deadline_ns);
    d.pulse();
    let out = d.decoded();
    assert!(
        refund_result(&out).is_none(),
        "no result without the channel's word"
    );
    let q = controls(&out)[0].clone();
    assert_eq!(
        (q.op, q.refund_id, q.order_id, q.attempt, q.amount_minor),
        (ChannelOp::RefundQuery, x.refund_id, x.order_id, 0, 4_000)
    );
    let status = d.engine.order_status((x.order_id - 1) as u32, 0);
    assert_eq!(status.refunds[0].state, RefundState::Unknown);
    assert_eq!(
        (status.refunded_minor, status.refund_pending_minor),
        (0, 4_000)
    );
    assert_eq!(d.engine.stats_report(0).unknown_refunds, 1);
    q
}

#[test]
fn a_refund_without_an_answer_is_asked_about_until_refunded() {
    let mut d = world();
    let x = refund_at_wechat(&mut d);
    let q = refund_deadline_passes(&mut d, &x);
    // Money stays reserved; no window: asked for as long as it takes.
    for _ in 0..100 {
        let asked = next_interval(&mut d);
        assert_eq!(asked.len(), 1);
        assert_eq!(asked[0].op, ChannelOp::RefundQuery);
    }
    // NotFound: the channel never got it, so it is sent again (the same refund id).
    let out = answer_control(&mut d, &q, ChannelStatus::NotFound);
    let again = refund_dispatch(&out).unwrap();
    assert_eq!(
        (again.refund_id, again.amount_minor),
        (x.refund_id, x.amount_minor)
    );
    assert_eq!(
        d.engine.order_status((x.order_id - 1) as u32, 0).refunds[0].state,
        RefundState::Unknown
    );
    let out = answer_control(&mut d, &q, ChannelStatus::Refunded);
    let r = refund_result(&out).unwrap();
    assert_eq!((r.status, r.amount_minor), (FinalStatus::Succeeded, 4_000));
    let status = d.engine.order_status((x.order_id - 1) as u32, 0);
    assert_eq!(status.refunds[0].state, RefundState::Succeeded);
    assert_eq!(status.refunded_minor, 4_000);
    assert_eq!(d.engine.stats_report(0).unknown_refunds, 0);
    assert_eq!(book(&d, WECHAT).refunded_minor, 4_000);
    assert!(next_interval(&mut d).is_empty());
    let out = answer_control(&mut d, &q, ChannelStatus::Refunded);
    assert_eq!(reject(&out).unwrap().reason, ReasonCode::StaleAttempt);
    d.engine.verify_ledger().unwrap();
}

#[test]
fn a_refund_without_an_answer_fails_only_by_the_channel_s_word() {
    let mut d = world();
    let x = refund_at_wechat(&mut d);
    let q = refund_deadline_passes(&mut d, &x);
    let out = answer_control(&mut d, &q, ChannelStatus::RefundFailed);
    let r = refund_result(&out).unwrap();
    assert_eq!(
        (r.status, r.reason),
        (FinalStatus::Failed, ReasonCode::ChannelDeclined)
    );
    let status = d.engine.order_status((x.order_id - 1) as u32, 0);
    assert_eq!((status.refunded_minor, status.refund_pending_minor), (0, 0));
    assert_eq!(pending_totals(&d), (0, 0));
    assert_eq!(book(&d, WECHAT).refunded_minor, 0);
    d.engine.verify_ledger().unwrap();

    // A late RefundChannelResult is the Unknown refund's answer too.
    let out = d.acquirer(ACQUIRER_A, &refund(2, 1, 1_000));
    let x = refund_dispatch(&out).unwrap().clone();
    d.set_time_ns(x.deadline_ns);
    d.pulse();
    let out = d.channel(
        WECHAT,
        &refund_channel_result(&x, ChannelOutcome::Succeeded),
    );
    assert_eq!(refund_result(&out).unwrap().status, FinalStatus::Succeeded);
    assert_eq!(d.engine.stats_report(0).unknown_refunds, 0);
    assert!(next_interval(&mut d).is_empty());
    d.engine.verify_ledger().unwrap();
}

#[test]
fn a_refund_times_out_as_failed_under_legacy() {
    let mut d = legacy_world();
    let x = refund_at_wechat(&mut d);
    d.set_time_ns(x.deadline_ns);
    d.pulse();
    let out = d.decoded();
    let r = refund_result(&out).unwrap();
    assert_eq!(
        (r.status, r.reason),
        (FinalStatus::Failed, ReasonCode::ChannelTimeout)
    );
    assert!(controls(&out).is_empty());
}

#[test]
fn a_channel_switched_to_legacy_fails_its_silent_attempts_over_after_the_window() {
    let mut d = world();
    let disp = pay_at_shop(&mut d, 1, 1_000);
    deadline_passes(&mut d, &disp);
    set_unknown_policy(&mut d, UnknownPolicy::Legacy);
    d.set_time_ns(disp.deadline_ns + 5 * SECOND);
    d.pulse();
    assert_eq!(dispatch(&d.decoded()).unwrap().channel_id, ALIPAY);
    assert_eq!(
        attempt_statuses(&d, disp.order_id)[0],
        (WECHAT, AttemptStatus::Abandoned)
    );
}

#[test]
fn the_same_records_replay_to_the_same_state() {
    // Drive a run through the paths above, recording every input; apply the records to two new
    // engines: both reach the live engine's state hash, with the same output bytes.
    let mut live = Recorder::new(failover_world());
    let disp = live.pay(1, 10_000);
    live.time(disp.deadline_ns);
    let q = live.pulse_controls()[0].clone();
    live.answer(&q, ChannelStatus::NotFound);
    live.time(disp.deadline_ns + 5 * SECOND);
    let out = live.pulse();
    let second = dispatch(&out).unwrap().clone();
    live.result(&second, ChannelOutcome::Succeeded);
    let out = live.result(&disp, ChannelOutcome::Succeeded);
    let reverse = controls(&out)[0].clone();
    live.time(disp.deadline_ns + 6 * SECOND);
    live.pulse();
    live.answer(&reverse, ChannelStatus::Reversed);
    let out = live.send_acquirer(&refund(1, 1, 4_000));
    let x = refund_dispatch(&out).unwrap().clone();
    live.time(x.deadline_ns);
    let rq = live.pulse_controls()[0].clone();
    live.time(x.deadline_ns + SECOND);
    live.pulse();
    live.answer(&rq, ChannelStatus::Refunded);
    let hash = live.d.engine.state_hash();
    for _ in 0..2 {
        let (replayed, outputs) = live.replay(failover_world());
        assert_eq!(replayed.engine.state_hash(), hash);
        assert!(outputs == live.outputs, "output bytes differ on replay");
    }
    assert_eq!(live.d.engine.stats_report(0).reversals, 1);
}

/// A driver that records every input it applies after its configuration.
struct Recorder {
    d: Driver,
    inputs: Vec<(u64, u64, u32, u8, Vec<u8>)>,
    outputs: Vec<Vec<u8>>,
}

impl Recorder {
    fn new(d: Driver) -> Recorder {
        Recorder {
            d,
            inputs: Vec::new(),
            outputs: Vec::new(),
        }
    }

    fn apply<M: Message>(&mut self, session: u64, principal: u32, role: u8, msg: &M) -> Out {
        let mut sbe = vec![0u8; MAX_FRAME_BYTES];
        let n = encode_sbe(msg, &mut sbe).unwrap();
        sbe.truncate(n);
        self.d.apply_raw(session, principal, role, &sbe);
        self.inputs
            .push((self.d.now_ns(), session, principal, role, sbe));
        self.outputs.push(self.d.outbox().bytes().to_vec());
        self.d.decoded()
    }

    fn time(&mut self, ns: u64) {
        self.d.set_time_ns(ns);
    }

    fn send_acquirer<M: Message>(&mut self, msg: &M) -> Out {
        self.apply(1_000, ACQUIRER_A, Role::Acquirer as u8, msg)
    }

    fn pay(&mut self, request_id: u64, amount: i64) -> Dispatch {
        let out = self.send_acquirer(&payment(request_id, SHOP, amount));
        dispatch(&out).unwrap().clone()
    }

    fn pulse(&mut self) -> Out {
        self.apply(0, 0, sluice_engine::ROLE_SEQUENCER, &Pulse { flags: 0 })
    }

    fn pulse_controls(&mut self) -> Vec<ChannelControl> {
        controls(&self.pulse()).into_iter().cloned().collect()
    }

    fn answer(&mut self, c: &ChannelControl, status: ChannelStatus) -> Out {
        let msg = control_answer(c, status);
        self.apply(
            900_000 + u64::from(c.channel_id),
            u32::from(c.channel_id),
            Role::Channel as u8,
            &msg,
        )
    }

    fn result(&mut self, disp: &Dispatch, outcome: ChannelOutcome) -> Out {
        let msg = channel_result(disp, outcome);
        self.apply(
            900_000 + u64::from(disp.channel_id),
            u32::from(disp.channel_id),
            Role::Channel as u8,
            &msg,
        )
    }

    /// Applies the recorded inputs to `fresh` (configured like the live driver was).
    fn replay(&self, mut fresh: Driver) -> (Driver, Vec<Vec<u8>>) {
        let mut outputs = Vec::new();
        for (now, session, principal, role, sbe) in &self.inputs {
            fresh.set_time_ns(*now);
            fresh.apply_raw(*session, *principal, *role, sbe);
            outputs.push(fresh.outbox().bytes().to_vec());
        }
        (fresh, outputs)
    }
}

/// An abandoned attempt is closed until the channel answers: Closed ends it (no more questions,
/// the payment untouched); Paid to the Close is a capture the payment does not keep, reversed.
#[test]
fn an_abandoned_attempt_is_closed_until_the_channel_answers() {
    let mut d = failover_world();
    let (first, second) = abandoned_at_wechat(&mut d, 1, 10_000);
    // Not yet: asked again at the next interval.
    let asked = next_interval(&mut d);
    let close = asked
        .iter()
        .find(|c| c.order_id == first.order_id && c.attempt == 1)
        .expect("the abandoned attempt is asked again")
        .clone();
    assert_eq!(close.op, ChannelOp::Close);
    let out = answer_control(&mut d, &close, ChannelStatus::NotFound);
    assert!(out.is_empty(), "{out:?}");
    let out = answer_control(&mut d, &close, ChannelStatus::Closed);
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(
        attempt_statuses(&d, first.order_id),
        vec![
            (WECHAT, AttemptStatus::Closed),
            (ALIPAY, AttemptStatus::Pending)
        ]
    );
    let out = d.channel(ALIPAY, &channel_result(&second, ChannelOutcome::Succeeded));
    assert_eq!(result(&out).unwrap().status, FinalStatus::Succeeded);
    assert!(
        next_interval(&mut d)
            .iter()
            .all(|c| c.order_id != first.order_id),
        "a closed attempt is not asked again"
    );

    // The late payer: the capture took effect after the window and its answer was lost; the
    // Close is answered Paid.
    let (first, second) = abandoned_at_wechat(&mut d, 2, 10_000);
    d.channel(ALIPAY, &channel_result(&second, ChannelOutcome::Declined));
    let close = next_interval(&mut d)
        .into_iter()
        .find(|c| c.order_id == first.order_id)
        .expect("still closed after the payment failed");
    let out = answer_control(&mut d, &close, ChannelStatus::Paid);
    assert!(result(&out).is_none(), "the failed result stands");
    assert_eq!(
        (reversals(&out)[0].state, reversals(&out)[0].reason),
        (ReversalState::Reversing, ReasonCode::LateCapture)
    );
    assert_eq!(controls(&out)[0].op, ChannelOp::Reverse);
    d.engine.verify_ledger().unwrap();
}
