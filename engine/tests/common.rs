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
