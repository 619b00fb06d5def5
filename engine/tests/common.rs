//! Shared helpers for the engine's integration tests.
#![allow(dead_code)]

use sluice_engine::driver::Driver;
use sluice_engine::fixture;
use sluice_protocol::*;

pub fn world() -> Driver {
    world_with(10_000)
}

pub fn world_with(orders_max: u32) -> Driver {
    let mut d = Driver::new(&fixture::genesis(orders_max), fixture::START_NS).unwrap();
    let refusals = d.configure(&fixture::config_messages());
    assert!(refusals.is_empty(), "{refusals:?}");
    d
}

/// Sets every fixture channel's policy for unanswered attempts (`Legacy`: a deadline fails the
/// attempt over at once, as in schema versions 1 and 2).
pub fn set_unknown_policy(d: &mut Driver, policy: UnknownPolicy) {
    for mut c in fixture::channels() {
        c.unknown_policy = policy;
        configure_ok(d, &c);
    }
}

/// The fixture world with every channel on policy Legacy.
pub fn legacy_world() -> Driver {
    let mut d = world();
    set_unknown_policy(&mut d, UnknownPolicy::Legacy);
    d
}

pub fn find<'a, T>(
    out: &'a [(sluice_engine::Dest, AnyMessage)],
    f: impl Fn(&'a AnyMessage) -> Option<&'a T>,
) -> &'a T {
    out.iter()
        .find_map(|(_, m)| f(m))
        .expect("expected output missing")
}

pub fn ack(out: &[(sluice_engine::Dest, AnyMessage)]) -> &PaymentAck {
    find(out, |m| {
        if let AnyMessage::PaymentAck(a) = m {
            Some(a)
        } else {
            None
        }
    })
}

pub fn dispatch(out: &[(sluice_engine::Dest, AnyMessage)]) -> Option<&Dispatch> {
    out.iter().find_map(|(_, m)| {
        if let AnyMessage::Dispatch(d) = m {
            Some(d)
        } else {
            None
        }
    })
}

pub fn result(out: &[(sluice_engine::Dest, AnyMessage)]) -> Option<&PaymentResult> {
    out.iter().find_map(|(_, m)| {
        if let AnyMessage::PaymentResult(r) = m {
            Some(r)
        } else {
            None
        }
    })
}

pub fn channel_result(d: &Dispatch, outcome: ChannelOutcome) -> ChannelResult {
    ChannelResult {
        order_id: d.order_id,
        attempt: d.attempt,
        outcome,
        channel_code: 0,
        latency_us: 1_500,
        channel_ref: Chars::new("ref"),
    }
}

/// Pays and answers the first dispatch with `outcome`; returns all outputs of the channel result.
pub fn pay(
    d: &mut Driver,
    acquirer: u32,
    req: &PaymentRequest,
    outcome: ChannelOutcome,
) -> Vec<(sluice_engine::Dest, AnyMessage)> {
    let out = d.acquirer(acquirer, req);
    let a = ack(&out);
    assert_eq!(a.status, AckStatus::Accepted, "{a:?}");
    let disp = dispatch(&out).expect("dispatch").clone();
    d.channel(disp.channel_id, &channel_result(&disp, outcome))
}

pub fn balance(d: &mut Driver, kind: PartyKind, id: u32, currency: u16) -> (i64, i64, i64) {
    let r = d.engine.balance_report(kind, id, 0);
    r.balances
        .iter()
        .find(|b| b.currency == currency)
        .map(|b| (b.pending_minor, b.available_minor, b.frozen_minor))
        .unwrap_or((0, 0, 0))
}

// ---------------------------------------------------------------------------------------------
// Added for the routing, risk, property and allocation suites.
// ---------------------------------------------------------------------------------------------

pub type Out = Vec<(sluice_engine::Dest, AnyMessage)>;

/// The fixture world with a small velocity table (64 keys per entity instead of 4096). The state
/// then serializes in well under a millisecond, so property tests can hash it after every step;
/// the configuration (channels, merchants, rules, lists) is exactly `world()`'s.
pub fn small_world(orders_max: u32) -> Driver {
    let mut genesis = fixture::genesis(orders_max);
    genesis.velocity_keys_max = 64;
    let mut d = Driver::new(&genesis, fixture::START_NS).unwrap();
    let refusals = d.configure(&fixture::config_messages());
    assert!(refusals.is_empty(), "{refusals:?}");
    d
}

/// Every output of one kind, in output order.
pub fn all<'a, T>(
    out: &'a [(sluice_engine::Dest, AnyMessage)],
    f: impl Fn(&'a AnyMessage) -> Option<&'a T>,
) -> Vec<&'a T> {
    out.iter().filter_map(|(_, m)| f(m)).collect()
}

pub fn dispatches(out: &[(sluice_engine::Dest, AnyMessage)]) -> Vec<&Dispatch> {
    all(out, |m| match m {
        AnyMessage::Dispatch(x) => Some(x),
        _ => None,
    })
}

pub fn results(out: &[(sluice_engine::Dest, AnyMessage)]) -> Vec<&PaymentResult> {
    all(out, |m| match m {
        AnyMessage::PaymentResult(x) => Some(x),
        _ => None,
    })
}

pub fn health_alerts(
    out: &[(sluice_engine::Dest, AnyMessage)],
) -> Vec<(sluice_engine::Dest, HealthAlert)> {
    out.iter()
        .filter_map(|(dest, m)| match m {
            AnyMessage::HealthAlert(x) => Some((*dest, x.clone())),
            _ => None,
        })
        .collect()
}

pub fn refund_ack(out: &[(sluice_engine::Dest, AnyMessage)]) -> &RefundAck {
    find(out, |m| match m {
        AnyMessage::RefundAck(x) => Some(x),
        _ => None,
    })
}

pub fn refund_dispatch(out: &[(sluice_engine::Dest, AnyMessage)]) -> Option<&RefundDispatch> {
    out.iter().find_map(|(_, m)| match m {
        AnyMessage::RefundDispatch(x) => Some(x),
        _ => None,
    })
}

pub fn refund_result(out: &[(sluice_engine::Dest, AnyMessage)]) -> Option<&RefundResult> {
    out.iter().find_map(|(_, m)| match m {
        AnyMessage::RefundResult(x) => Some(x),
        _ => None,
    })
}

pub fn config_ack(out: &[(sluice_engine::Dest, AnyMessage)]) -> &ConfigAck {
    find(out, |m| match m {
        AnyMessage::ConfigAck(x) => Some(x),
        _ => None,
    })
}

pub fn reject(out: &[(sluice_engine::Dest, AnyMessage)]) -> Option<&Reject> {
    out.iter().find_map(|(_, m)| match m {
        AnyMessage::Reject(x) => Some(x),
        _ => None,
    })
}

/// A channel's answer to a refund dispatch.
pub fn refund_channel_result(r: &RefundDispatch, outcome: ChannelOutcome) -> RefundChannelResult {
    RefundChannelResult {
        refund_id: r.refund_id,
        outcome,
        channel_code: 0,
        latency_us: 900,
        channel_ref: Chars::new("rref"),
    }
}

/// A refund request.
pub fn refund(refund_request_id: u64, payment_request_id: u64, amount_minor: i64) -> RefundRequest {
    RefundRequest {
        refund_request_id,
        payment_request_id,
        amount_minor,
    }
}

/// The order slot of an acknowledged payment (order ids are slot + 1).
pub fn slot_of(a: &PaymentAck) -> u32 {
    assert!(a.order_id > 0, "the payment has no order: {a:?}");
    (a.order_id - 1) as u32
}

/// The routing explanation of an order: (channel, decision, skip reason, rank, score).
pub fn explanation(d: &Driver, slot: u32) -> Vec<(u16, CandidateDecision, SkipReason, u8, i64)> {
    d.engine
        .order_status(slot, 0)
        .candidates
        .iter()
        .map(|c| (c.channel_id, c.decision, c.skip_reason, c.rank, c.score))
        .collect()
}

/// A risk rule with `Greater` comparison, active, not in shadow mode, for every merchant.
pub fn risk_rule(
    rule_id: u32,
    target: RuleTarget,
    feature: RiskFeature,
    entity: RiskEntity,
    window: RiskWindow,
    threshold: i64,
    action: RiskAction,
) -> ConfigRiskRule {
    ConfigRiskRule {
        rule_id,
        name: Chars::new("test_rule"),
        target,
        feature,
        entity,
        window,
        comparison: Comparison::Greater,
        threshold,
        action,
        shadow: false,
        status: Activity::Active,
        merchant_id: 0,
        goods_category: 0,
    }
}

/// A list entry change with no key set (fill in the field its entity uses).
pub fn list_entry(list: ListKind, op: ListOp, entity: RiskEntity) -> ConfigListEntry {
    ConfigListEntry {
        list,
        op,
        entity,
        id: 0,
        ip: Ip::default(),
        card_fingerprint: Chars::default(),
        card_bin: 0,
    }
}

/// Applies a configuration message as an admin and asserts it was accepted.
pub fn configure_ok<M: Message>(d: &mut Driver, msg: &M) {
    let out = d.admin(msg);
    let a = config_ack(&out);
    assert_eq!(a.status, AckStatus::Accepted, "{a:?}");
}

// ---------------------------------------------------------------------------------------------
// Uncertain outcomes: the engine's questions to channels and their answers.
// ---------------------------------------------------------------------------------------------

/// Every ChannelControl among the outputs, in output order.
pub fn controls(out: &[(sluice_engine::Dest, AnyMessage)]) -> Vec<&ChannelControl> {
    all(out, |m| match m {
        AnyMessage::ChannelControl(x) => Some(x),
        _ => None,
    })
}

/// Every PaymentReversal among the outputs, in output order.
pub fn reversals(out: &[(sluice_engine::Dest, AnyMessage)]) -> Vec<&PaymentReversal> {
    all(out, |m| match m {
        AnyMessage::PaymentReversal(x) => Some(x),
        _ => None,
    })
}

/// A channel's answer to a ChannelControl.
pub fn control_answer(c: &ChannelControl, status: ChannelStatus) -> ChannelControlResult {
    ChannelControlResult {
        op: c.op,
        order_id: c.order_id,
        attempt: c.attempt,
        refund_id: c.refund_id,
        status,
        channel_code: 0,
        channel_ref: Chars::new("cref"),
    }
}

/// Answers a ChannelControl from its channel; returns the outputs.
pub fn answer_control(
    d: &mut Driver,
    c: &ChannelControl,
    status: ChannelStatus,
) -> Vec<(sluice_engine::Dest, AnyMessage)> {
    d.channel(c.channel_id, &control_answer(c, status))
}

/// One input as a property test logs it: event time, session, principal, role, message.
pub type Logged = (u64, u64, u32, u8, AnyMessage);

/// `d` carried on by its engine restored from a snapshot of it (the state hash must survive).
pub fn through_snapshot(d: &Driver) -> Driver {
    let (hash, bytes) = d.engine.snapshot();
    let restored = sluice_engine::Engine::from_snapshot(&bytes, hash).expect("snapshot restores");
    assert_eq!(restored.state_hash(), hash);
    d.twin(restored)
}

/// Replays `log` at its times on `fresh` and asserts it ends in `expected`'s state.
pub fn assert_replays(log: &[Logged], mut fresh: Driver, expected: &Driver) {
    for (now, session, principal, role, msg) in log {
        fresh.set_time_ns(*now);
        fresh.apply_any(*session, *principal, *role, msg);
    }
    assert_eq!(
        fresh.engine.state_hash(),
        expected.engine.state_hash(),
        "replay"
    );
}
