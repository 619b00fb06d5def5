//! Synthetic rows for tests (the console's own and the end-to-end test's): a small day of
//! payments on channels 1 (wechat_pay) and 3 (unionpay), where unionpay fails, is taken out of
//! rotation, probed and comes back, one payment fails over, one is refunded, one is blocked by
//! risk (and later labelled a false positive); two payments go to review, one is decided
//! RefundAndBlock (labelled fraud), one waits in the queue. Written as an exporter would (sequences ascending, one story per order).

use sluice_node::flow::*;

/// 2026-12-01, days since the epoch.
pub const DAY: Day = Day(20_788);
const T0: i64 = 20_788 * 86_400 * 1_000_000_000 + 9 * 3_600 * 1_000_000_000;
const SECOND: i64 = 1_000_000_000;

fn order(order_id: i64, seq: i64, amount_minor: i64, risk_action: &str, channel: i32) -> Order {
    let blocked = risk_action == "Block";
    Order {
        order_id,
        seq,
        at_ns: T0 + seq * SECOND,
        day: DAY,
        acquirer_id: 1,
        request_id: 1000 + order_id,
        merchant_id: 1001,
        parent_merchant_id: 0,
        promoter_id: 0,
        amount_minor,
        currency: 156,
        method: "Card".into(),
        scene: "Online".into(),
        goods_category: 0,
        strategy: "Score".into(),
        ack_status: if blocked { "Rejected" } else { "Accepted" }.into(),
        reject_reason: if blocked { "RiskBlocked" } else { "None" }.into(),
        risk_action: risk_action.into(),
        risk_rule_id: if blocked { 7 } else { 0 },
        first_channel_id: if blocked { 0 } else { channel },
        risk_score: 0,
    }
}

fn candidate(
    order_id: i64,
    position: i32,
    seq: i64,
    channel_id: i32,
    decision: &str,
    skip: &str,
    rank: i32,
) -> RoutingCandidate {
    RoutingCandidate {
        order_id,
        position,
        seq,
        day: DAY,
        channel_id,
        decision: decision.into(),
        skip_reason: skip.into(),
        score: 900 - i64::from(position) * 100,
        rank,
    }
}

fn attempt(order_id: i64, n: i32, seq: i64, channel_id: i32, status: &str) -> Attempt {
    Attempt {
        order_id,
        attempt: n,
        seq,
        day: DAY,
        channel_id,
        status: status.into(),
        channel_code: if status == "Succeeded" { 0 } else { 51 },
        dispatched_ns: T0 + (seq - 1) * SECOND,
        latency_us: 1_200,
        probe: false,
    }
}

fn result(
    order_id: i64,
    seq: i64,
    channel_id: i32,
    attempts: i32,
    amount_minor: i64,
    ok: bool,
) -> PaymentResult {
    PaymentResult {
        order_id,
        seq,
        at_ns: T0 + seq * SECOND,
        day: DAY,
        merchant_id: 1001,
        status: if ok { "Succeeded" } else { "Failed" }.into(),
        reason: if ok { "None" } else { "ChannelFailed" }.into(),
        channel_id,
        attempts,
        amount_minor,
        currency: 156,
        fee_minor: if ok { amount_minor / 200 } else { 0 },
        channel_ref: if ok {
            format!("REF-{order_id}")
        } else {
            String::new()
        },
        settle_day: if ok { Day(DAY.0 + 1) } else { Day(0) },
    }
}

fn health(seq: i64, channel_id: i32, from: &str, to: &str) -> ChannelHealth {
    ChannelHealth {
        seq,
        ordinal: 0,
        at_ns: T0 + seq * SECOND,
        day: DAY,
        channel_id,
        from_state: from.into(),
        to_state: to.into(),
        failure_level_milli: if to == "Open" { 3_000 } else { 500 },
        success_rate_ppm: if to == "Open" { 250_000 } else { 900_000 },
    }
}

/// The rows (position 40).
pub fn sample_rows() -> Rows {
    let mut rows = Rows::default();
    // Order 1: unionpay fails, then the payment fails over to wechat_pay and succeeds.
    rows.orders.push(order(1, 1, 10_000, "Allow", 3));
    rows.routing_candidates.extend([
        candidate(1, 0, 1, 3, "Chosen", "None", 1),
        candidate(1, 1, 1, 1, "Ranked", "None", 2),
        candidate(1, 2, 1, 4, "Skipped", "CurrencyUnsupported", 0),
    ]);
    rows.attempts.push(attempt(1, 1, 3, 3, "RetryableError"));
    rows.attempts.push(attempt(1, 2, 3, 1, "Succeeded"));
    rows.payment_results.push(result(1, 3, 1, 2, 10_000, true));
    rows.channel_health.push(health(3, 3, "Healthy", "Open"));
    // Order 2: blocked by risk rule 7.
    rows.orders.push(order(2, 5, 990_000, "Block", 0));
    rows.risk_hits.push(RiskHit {
        seq: 5,
        ordinal: 0,
        at_ns: T0 + 5 * SECOND,
        day: DAY,
        rule_id: 7,
        shadow: false,
        action: "Block".into(),
        subject: "payment".into(),
        order_id: 2,
        merchant_id: 1001,
        amount_minor: 990_000,
        currency: 156,
    });
    // Order 3: fails on unionpay while probing; then unionpay recovers.
    rows.channel_health.push(health(10, 3, "Open", "Probing"));
    rows.orders.push(order(3, 11, 5_000, "Allow", 3));
    rows.routing_candidates
        .push(candidate(3, 0, 11, 3, "Chosen", "None", 1));
    rows.attempts.push(attempt(3, 1, 12, 3, "Succeeded"));
    rows.payment_results.push(result(3, 12, 3, 1, 5_000, true));
    rows.channel_health
        .push(health(12, 3, "Probing", "Healthy"));
    refund(&mut rows);
    split_and_ledger(&mut rows);
    payouts(&mut rows);
    reviews(&mut rows);
    finance(&mut rows);
    rows
}

/// Promoter 3 sweeps 500.00 into the fund and earns 0.07 and 0.08 on two days; merchant 1 takes
/// a loan of 1 000.00 that accrues 0.30 a day.
fn finance(rows: &mut Rows) {
    let row = |seq: i64, ordinal: i32, kind: &str, amount: i64, position: i64, accrued: i64| {
        let product = if kind.starts_with("Loan") || kind == "InterestAccrued" {
            "Loan"
        } else {
            "Yield"
        };
        FinanceEventRow {
            seq,
            ordinal,
            at_ns: seq * 1_000_000_000,
            day: Day(20_000 + (seq as i32 - 30)),
            product: product.into(),
            kind: kind.into(),
            party_kind: if product == "Yield" {
                "Promoter"
            } else {
                "Merchant"
            }
            .into(),
            party_id: if product == "Yield" { 3 } else { 1 },
            reference: if product == "Yield" { 0 } else { 5 },
            installment: 0,
            currency: 156,
            amount_minor: amount,
            position_minor: position,
            accrued_minor: accrued,
            business_day: Day(20_000 + (seq as i32 - 31)),
        }
    };
    rows.finance_events.extend([
        row(30, 0, "Swept", 50_000, 50_000, 0),
        row(30, 1, "LoanDisbursed", 100_000, 100_000, 0),
        row(31, 0, "YieldAccrued", 7, 50_007, 7),
        row(31, 1, "InterestAccrued", 30, 100_030, 30),
        row(32, 0, "YieldAccrued", 8, 50_015, 15),
        row(32, 1, "InterestAccrued", 30, 100_060, 60),
    ]);
}

/// Risk rule 9 sends orders 4 and 5 to review; 5 is refunded and blocked (a Fraud label), 4
/// waits. Blocked order 2 is reported good (FalsePositive). Scores: 12, 97, 35, 62, 91.
fn reviews(rows: &mut Rows) {
    rows.orders.push(order(4, 30, 70_000, "Review", 1));
    rows.orders.push(order(5, 31, 80_000, "Review", 1));
    for (o, score) in rows.orders.iter_mut().zip([12, 97, 35, 62, 91]) {
        o.risk_score = score;
        o.risk_rule_id = if o.risk_action == "Review" {
            9
        } else {
            o.risk_rule_id
        };
    }
    let review = |seq: i64, order_id: i64, state: &str, score: i32, amount_minor: i64| ReviewRow {
        seq,
        ordinal: 0,
        at_ns: T0 + seq * SECOND,
        day: DAY,
        order_id,
        merchant_id: 1001,
        state: state.into(),
        rule_id: 9,
        risk_score: score,
        amount_minor,
        currency: 156,
    };
    rows.reviews.extend([
        review(30, 4, "Queued", 62, 70_000),
        review(31, 5, "Queued", 91, 80_000),
        review(33, 5, "RefundAndBlock", 91, 80_000),
    ]);
    for (seq, order_id, amount_minor) in [(30, 4, 70_000), (31, 5, 80_000)] {
        rows.risk_hits.push(RiskHit {
            seq,
            ordinal: 0,
            at_ns: T0 + seq * SECOND,
            day: DAY,
            rule_id: 9,
            shadow: false,
            action: "Review".into(),
            subject: "payment".into(),
            order_id,
            merchant_id: 1001,
            amount_minor,
            currency: 156,
        });
    }
    let label = |seq: i64, order_id: i64, kind: &str, source: &str| RiskLabelRow {
        seq,
        ordinal: 0,
        at_ns: T0 + seq * SECOND,
        day: DAY,
        order_id,
        merchant_id: 1001,
        kind: kind.into(),
        source: source.into(),
    };
    rows.risk_labels.extend([
        label(33, 5, "Fraud", "Review"),
        label(34, 2, "FalsePositive", "Customer"),
    ]);
}

/// Payout 71 waits in review; promoter 5's payout 72 is sent and paid; payout 73 fails.
fn payouts(rows: &mut Rows) {
    let change = |seq: i64, id: i64, party: (&str, i32), amount: i64, state: &str| Payout {
        seq,
        ordinal: 0,
        at_ns: T0 + seq * SECOND,
        day: DAY,
        payout_id: id,
        party_kind: party.0.into(),
        party_id: party.1,
        currency: 156,
        amount_minor: amount,
        fee_minor: 200,
        state: state.into(),
        reason: if state == "Failed" {
            "PayoutFailed"
        } else {
            "None"
        }
        .into(),
        channel_id: 40,
        channel_code: 0,
        withdraw_request_id: 0,
        automatic: party.0 == "Promoter",
    };
    rows.payouts.extend([
        change(20, 71, ("Merchant", 1001), 5_000_000, "Review"),
        change(21, 72, ("Promoter", 5), 12_000, "Sent"),
        change(22, 72, ("Promoter", 5), 12_000, "Paid"),
        change(23, 73, ("Merchant", 1002), 30_000, "Sent"),
        change(24, 73, ("Merchant", 1002), 30_000, "Failed"),
    ]);
}

fn split_and_ledger(rows: &mut Rows) {
    for (seq, ordinal, refund_id, role, party_id, amount_minor) in [
        (3, 0, 0, "Merchant", 1001, 9_000),
        (3, 1, 0, "Platform", 0, 950),
        (3, 2, 0, "ChannelFee", 1, 50),
        (21, 0, 501, "Merchant", 1001, -3_600),
        (21, 1, 501, "Platform", 0, -400),
    ] {
        rows.split_lines.push(SplitLine {
            seq,
            ordinal,
            day: DAY,
            order_id: 1,
            refund_id,
            role: role.into(),
            party_id,
            amount_minor,
            currency: 156,
        });
    }
    rows.ledger_transfers.push(LedgerTransfer {
        seq: 3,
        ordinal: 0,
        at_ns: T0 + 3 * SECOND,
        day: DAY,
        phase: "reserve".into(),
        debit_kind: "clearing".into(),
        debit_owner: 0,
        debit_role: String::new(),
        credit_kind: "pending".into(),
        credit_owner: 1001,
        credit_role: "Merchant".into(),
        amount_minor: 9_000,
        currency: 156,
    });
}

/// Order 1 is refunded in part.
fn refund(rows: &mut Rows) {
    rows.refunds.push(Refund {
        seq: 20,
        ordinal: 0,
        at_ns: T0 + 20 * SECOND,
        day: DAY,
        refund_id: 501,
        refund_request_id: 9001,
        order_id: 1,
        merchant_id: 1001,
        amount_minor: 4_000,
        currency: 156,
        ack_status: "Accepted".into(),
        reject_reason: "None".into(),
        risk_action: "None".into(),
        risk_rule_id: 0,
    });
    rows.refund_results.push(RefundResult {
        refund_id: 501,
        seq: 21,
        at_ns: T0 + 21 * SECOND,
        day: DAY,
        order_id: 1,
        merchant_id: 1001,
        channel_id: 1,
        status: "Succeeded".into(),
        reason: "None".into(),
        amount_minor: 4_000,
        currency: 156,
        fee_returned_minor: 0,
    });
}
