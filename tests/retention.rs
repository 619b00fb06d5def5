//! Retention over TCP (docs/ENGINE.md, "Retention"): a server with a small order table takes many
//! times its size in payments with no `OrdersFull`, and an order retired long before still answers
//! a query, a resend (the original answer, or `DuplicateRequestMismatch`) and a refund that
//! reverses its split; `sluice replay check` then passes on the journal that crossed every
//! retirement. The simulator answers the channels.
//!
//! Run: `cargo test --test retention` (CI: 4,000 orders, 10 times over); the long version,
//! `cargo test --release --test retention -- --ignored` (100,000 orders, 1,000,000 payments),
//! prints the server's RSS.

mod common;

use common::*;
use sluice_gateway::client::Client;
use sluice_protocol::*;
use std::time::{Duration, Instant};

/// The retail shop; CNY by wallet goes to WeChat Pay or Alipay (simulated).
const SHOP: u32 = 1001;

fn settings(orders_max: u32) -> Settings {
    Settings {
        simulator: true,
        orders_max,
        set: vec![
            // A final order retires 300 ms after its last change (the default is a day).
            ("order_retention_ms", "300".into()),
            ("receipts_max", (orders_max * 12).to_string()),
            ("prefault_memory", "false".into()),
        ],
        ..Settings::default()
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Sends payments `first..first + n` in windows of `window`, at most one window per `pace`,
/// waiting for every final result; returns (OrdersFull refusals, the first payment's result if it
/// was among them).
fn pay_many(
    acq: &mut Client,
    (first, n): (u64, u64),
    window: u64,
    pace: Duration,
) -> (u64, Vec<PaymentResult>) {
    let (mut orders_full, mut results) = (0, Vec::new());
    let mut next_id = first;
    while next_id < first + n {
        let window_started = Instant::now();
        let batch = window.min(first + n - next_id);
        for id in next_id..next_id + batch {
            let p = payment(id, SHOP, 1_000 + (id % 5_000) as i64, PaymentMethod::Wallet);
            acq.send(&p).expect("send PaymentRequest");
        }
        let mut open = batch;
        while open > 0 {
            match next_within(acq, Duration::from_secs(30), "ack or result") {
                AnyMessage::PaymentAck(a) if a.status == AckStatus::Rejected => {
                    orders_full += u64::from(a.reason == ReasonCode::OrdersFull);
                    open -= 1;
                }
                AnyMessage::PaymentResult(r) => {
                    if r.request_id == first {
                        results.push(r);
                    }
                    open -= 1;
                }
                _ => {}
            }
        }
        next_id += batch;
        std::thread::sleep(pace.saturating_sub(window_started.elapsed()));
    }
    (orders_full, results)
}

fn next_ack(acq: &mut Client) -> PaymentAck {
    wait_for(acq, "PaymentAck", |m| match m {
        AnyMessage::PaymentAck(a) => Some(a.clone()),
        _ => None,
    })
}

fn refund(acq: &mut Client, refund_request_id: u64, payment: u64, amount: i64) -> RefundResult {
    let req = RefundRequest {
        refund_request_id,
        payment_request_id: payment,
        amount_minor: amount,
    };
    acq.send(&req).expect("send RefundRequest");
    let ack = wait_for(acq, "RefundAck", |m| match m {
        AnyMessage::RefundAck(a) => Some(a.clone()),
        _ => None,
    });
    assert_eq!(ack.status, AckStatus::Accepted, "{ack:?}");
    wait_for(acq, "RefundResult", |m| match m {
        AnyMessage::RefundResult(r) => Some(r.clone()),
        _ => None,
    })
}

/// The scenario at `orders_max`, with `rounds` times as many payments; returns the RSS (KiB) at
/// start and at the end.
fn run_forever(name: &str, orders_max: u32, rounds: u64) -> (u64, u64) {
    let (dir, mut server) = start_server(name, &settings(orders_max));
    let rss_start = rss_kib(server.pid());
    let mut acq = login(server.addr, "acq-a");
    // The first payment, kept to the end: it retires long before the others stop.
    let (full, firsts) = pay_many(&mut acq, (1, 1), 1, Duration::ZERO);
    assert_eq!(full, 0);
    let first = firsts
        .into_iter()
        .next()
        .expect("the first payment's result");
    assert_eq!(first.status, FinalStatus::Succeeded, "{first:?}");
    let started = Instant::now();
    let total = u64::from(orders_max) * rounds;
    // At most half the table per retention period (300 ms): a steady rate the table sustains.
    let window = u64::from(orders_max / 4).clamp(1, 2_000);
    let pace = Duration::from_millis(150) * window as u32 / (orders_max / 4);
    let (orders_full, _) = pay_many(&mut acq, (2, total), window, pace);
    let took = started.elapsed();
    eprintln!(
        "{total} payments through {orders_max} order slots in {:.1} s, {orders_full} OrdersFull, \
         RSS {} -> {} KiB",
        took.as_secs_f64(),
        rss_start,
        rss_kib(server.pid())
    );
    assert_eq!(
        orders_full, 0,
        "a server that retires orders never fills up"
    );

    // The first order retired long ago: a query finds it retired, final, with its amounts.
    let status = query_order(&mut acq, 1);
    assert!(status.retired, "{status:?}");
    assert_eq!(
        (
            status.order_id,
            status.state,
            status.amount_minor,
            status.fee_minor
        ),
        (
            first.order_id,
            OrderState::Succeeded,
            first.amount_minor,
            first.fee_minor
        )
    );
    // A resend of it gets the original answer; a changed one is refused.
    let original = payment(1, SHOP, 1_001, PaymentMethod::Wallet);
    acq.send(&original).expect("resend");
    let ack = next_ack(&mut acq);
    assert!(ack.duplicate && ack.order_id == first.order_id, "{ack:?}");
    let again = wait_for(&mut acq, "PaymentResult", |m| match m {
        AnyMessage::PaymentResult(r) => Some(r.clone()),
        _ => None,
    });
    let comparable = |r: &PaymentResult| PaymentResult {
        duplicate: false,
        sequence: 0,
        out_seq: 0,
        ..r.clone()
    };
    assert_eq!(comparable(&again), comparable(&first));
    acq.send(&PaymentRequest {
        amount_minor: 1_002,
        ..original
    })
    .expect("changed resend");
    let ack = next_ack(&mut acq);
    assert_eq!(ack.reason, ReasonCode::DuplicateRequestMismatch, "{ack:?}");

    // Two refunds of it: the second takes exactly what is left of every split line.
    let part = refund(&mut acq, 1, 1, 400);
    let rest = refund(&mut acq, 2, 1, first.amount_minor - 400);
    for r in [&part, &rest] {
        assert_eq!(r.status, FinalStatus::Succeeded, "{r:?}");
        assert_eq!(r.order_id, first.order_id);
        assert_eq!(sum_lines(&r.reversal), r.amount_minor);
    }
    for line in &first.split {
        let back: i64 = [&part, &rest]
            .iter()
            .flat_map(|r| r.reversal.iter())
            .filter(|l| l.role == line.role && l.party_id == line.party_id)
            .map(|l| l.amount_minor)
            .sum();
        assert_eq!(back, line.amount_minor, "{line:?}");
    }
    let status = query_order(&mut acq, 1);
    assert_eq!(status.refunded_minor, first.amount_minor, "{status:?}");
    assert_eq!(status.refunds.len(), 2);
    let rss_end = rss_kib(server.pid());
    drop(acq);
    server.terminate();
    assert_replay_check(&server.data);
    drop(dir);
    (rss_start, rss_end)
}

#[test]
fn a_small_order_table_takes_ten_times_its_size_and_keeps_answering_for_retired_orders() {
    run_forever("retention", 4_000, 10);
}

/// The figure: 100,000 order slots, 1,000,000 payments over TCP.
#[test]
#[ignore = "long: about a minute in release; run with --release -- --ignored"]
fn a_hundred_thousand_slots_take_a_million_payments() {
    let (start, end) = run_forever("retention-long", 100_000, 10);
    eprintln!("RSS at start {start} KiB, after 1,000,000 payments {end} KiB");
}
