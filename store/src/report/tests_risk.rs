//! The risk report on a scripted case whose figures are worked out by hand: eight payment
//! orders over two days, three rules (one in shadow), labels that change their mind.

use super::format::{risk_days_table, risk_rules_table, score_bucket_name};
use super::*;
use sluice_node::flow::{Day, Order, RiskHit, RiskLabelRow, Rows};

const D1: Day = Day(20_418);
const D2: Day = Day(20_419);

fn order(order_id: i64, day: Day, action: &str, rule: i32, score: i32) -> Order {
    Order {
        order_id,
        seq: order_id,
        at_ns: order_id * 1_000,
        day,
        acquirer_id: 1,
        request_id: order_id,
        merchant_id: 1001,
        parent_merchant_id: 0,
        promoter_id: 0,
        amount_minor: 10_000,
        currency: 156,
        method: "Card".into(),
        scene: "Online".into(),
        goods_category: 0,
        strategy: "CostFirst".into(),
        ack_status: if action == "Block" {
            "Rejected"
        } else {
            "Accepted"
        }
        .into(),
        reject_reason: if action == "Block" {
            "RiskRejected"
        } else {
            "None"
        }
        .into(),
        risk_action: action.into(),
        risk_rule_id: rule,
        first_channel_id: i32::from(action != "Block"),
        risk_score: score,
    }
}

fn hit(order_id: i64, rule_id: i32, shadow: bool, action: &str, subject: &str) -> RiskHit {
    RiskHit {
        seq: order_id,
        ordinal: i32::from(shadow),
        at_ns: order_id * 1_000,
        day: if order_id <= 4 { D1 } else { D2 },
        rule_id,
        shadow,
        action: action.into(),
        subject: subject.into(),
        order_id,
        merchant_id: 1001,
        amount_minor: 10_000,
        currency: 156,
    }
}

fn label(seq: i64, order_id: i64, kind: &str, source: &str) -> RiskLabelRow {
    RiskLabelRow {
        seq,
        ordinal: 0,
        at_ns: seq * 1_000,
        day: Day(20_430),
        order_id,
        merchant_id: 1001,
        kind: kind.into(),
        source: source.into(),
    }
}

/// Orders 1–4 on D1, 5–8 on D2. Rule 10 blocks, rule 11 reviews, rule 12 blocks in shadow.
fn scripted() -> Rows {
    let orders = vec![
        order(1, D1, "Allow", 0, 5),
        order(2, D1, "Block", 10, 95),
        order(3, D1, "Block", 10, 91),
        order(4, D1, "Review", 11, 70),
        order(5, D2, "Block", 10, 88),
        order(6, D2, "Allow", 0, 100),
        order(7, D2, "Review", 11, 40),
        order(8, D2, "Allow", 0, 0),
    ];
    let risk_hits = vec![
        hit(2, 10, false, "Block", "payment"),
        hit(3, 10, false, "Block", "payment"),
        hit(4, 11, false, "Review", "payment"),
        hit(5, 10, false, "Block", "payment"),
        hit(6, 12, true, "Block", "payment"),
        hit(7, 11, false, "Review", "payment"),
        hit(8, 12, true, "Block", "payment"),
        // A refund's verdict: not a payment order's, not counted.
        hit(9, 10, false, "Block", "refund"),
    ];
    let risk_labels = vec![
        label(100, 1, "Fraud", "Chargeback"),
        label(101, 2, "FalsePositive", "Customer"),
        // Approved in review, charged back later: fraud.
        label(102, 4, "Legitimate", "Review"),
        label(110, 4, "Fraud", "Chargeback"),
        label(103, 5, "Fraud", "IssuerReport"),
        // Reported, then found good by an analyst: good.
        label(104, 6, "Fraud", "Customer"),
        label(105, 6, "Legitimate", "Analyst"),
        label(106, 7, "Fraud", "Review"),
        // An order the store has no row of: no figure moves.
        label(107, 99, "Fraud", "Analyst"),
    ];
    Rows {
        orders,
        risk_hits,
        risk_labels,
        ..Rows::default()
    }
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-12)
}

#[test]
fn overall_figures_tie_out_to_the_labels() {
    let r = risk(&scripted(), DayRange::default());
    let o = &r.overall;
    assert_eq!(
        (o.requested, o.blocked, o.reviewed, o.fraud, o.good),
        (8, 3, 2, 4, 2)
    );
    assert_eq!((o.blocked_good, o.fraud_caught), (1, 3));
    assert!(close(o.interception_rate, 3.0 / 8.0), "{o:?}");
    assert!(close(o.false_positive_rate, 1.0 / 3.0), "{o:?}");
    assert!(close(o.fraud_caught_rate, 3.0 / 4.0), "{o:?}");
}

#[test]
fn per_rule_precision_false_positives_and_interception() {
    let r = risk(&scripted(), DayRange::default());
    let ids: Vec<i32> = r.rules.iter().map(|x| x.rule_id).collect();
    assert_eq!(ids, [10, 11, 12]);
    let (block, review, shadow) = (&r.rules[0], &r.rules[1], &r.rules[2]);
    assert_eq!(
        (block.hits, block.blocked, block.reviewed, block.shadow),
        (3, 3, 0, 0)
    );
    assert_eq!((block.fraud, block.good, block.blocked_good), (1, 1, 1));
    assert!(close(block.precision, 1.0 / 3.0));
    assert!(close(block.false_positive_rate, 1.0 / 3.0));
    assert!(close(block.interception_rate, 3.0 / 8.0));
    assert_eq!((review.hits, review.reviewed, review.fraud), (2, 2, 2));
    assert!(close(review.precision, 1.0));
    assert_eq!(review.false_positive_rate, None, "it blocked nothing");
    assert!(close(review.interception_rate, 0.0));
    assert_eq!((shadow.hits, shadow.shadow, shadow.blocked), (2, 2, 0));
    assert_eq!((shadow.fraud, shadow.good, shadow.blocked_good), (0, 1, 0));
    assert!(close(shadow.precision, 0.0));
    assert_eq!(shadow.false_positive_rate, None);
}

#[test]
fn per_day_figures_and_the_score_distribution() {
    let r = risk(&scripted(), DayRange::default());
    assert_eq!(r.days.len(), 2);
    let (d1, d2) = (&r.days[0], &r.days[1]);
    assert_eq!(d1.day, "2025-11-26");
    let t = &d1.totals;
    assert_eq!(
        (
            t.requested,
            t.blocked,
            t.reviewed,
            t.fraud,
            t.good,
            t.blocked_good,
            t.fraud_caught
        ),
        (4, 2, 1, 2, 1, 1, 1)
    );
    assert_eq!(d1.score_buckets, [1, 0, 0, 0, 0, 0, 0, 1, 0, 2]);
    let t = &d2.totals;
    assert_eq!(
        (
            t.requested,
            t.blocked,
            t.reviewed,
            t.fraud,
            t.good,
            t.blocked_good,
            t.fraud_caught
        ),
        (4, 1, 1, 2, 1, 0, 2)
    );
    assert!(close(t.false_positive_rate, 0.0));
    assert_eq!(d2.score_buckets, [1, 0, 0, 0, 1, 0, 0, 0, 1, 1]);
    assert_eq!(
        (score_bucket(-3), score_bucket(9), score_bucket(10)),
        (0, 0, 1)
    );
    assert_eq!(
        (score_bucket(99), score_bucket(100), score_bucket(250)),
        (9, 9, 9)
    );
}

#[test]
fn a_day_range_counts_its_orders_with_labels_from_any_day() {
    let days = DayRange {
        from: Some(D2),
        to: Some(D2),
    };
    let r = risk(&scripted(), days);
    assert_eq!((r.overall.requested, r.overall.fraud), (4, 2));
    assert_eq!(r.rules[0].hits, 1, "rule 10 hit order 5 on D2");
    assert!(close(r.rules[0].precision, 1.0));
    assert!(close(r.rules[0].interception_rate, 1.0 / 4.0));
}

#[test]
fn the_tables_print_what_the_figures_say() {
    let r = risk(&scripted(), DayRange::default());
    let text = risk_rules_table(&r).to_text();
    let line = text
        .lines()
        .find(|l| l.starts_with("10 "))
        .expect("rule 10");
    let cells: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        cells,
        [
            "10", "3", "3", "0", "0", "1", "1", "1", "33.33%", "33.33%", "37.50%"
        ]
    );
    let csv = risk_days_table(&r).to_csv();
    let mut lines = csv.lines();
    let header = lines.next().expect("header");
    assert!(header.ends_with(&score_bucket_name(9)), "{header}");
    assert_eq!(score_bucket_name(9), "score_90_100");
    assert_eq!(
        lines.last(),
        Some("all,8,3,2,4,2,1,3,0.375000,0.333333,0.750000,2,0,0,0,1,0,0,1,1,3")
    );
    let json = serde_json::to_value(&r).expect("json");
    assert_eq!(json["days"][0]["requested"], 4);
    assert_eq!(json["rules"][1]["precision"], 1.0);
}

#[test]
fn without_labels_the_rates_that_need_them_say_so() {
    let mut rows = scripted();
    rows.risk_labels.clear();
    let r = risk(&rows, DayRange::default());
    assert_eq!((r.overall.fraud, r.overall.good), (0, 0));
    assert!(close(r.overall.false_positive_rate, 0.0));
    assert_eq!(r.overall.fraud_caught_rate, None);
    assert_eq!(RiskBy::parse("day").ok(), Some(RiskBy::Day));
    let e = RiskBy::parse("merchant").unwrap_err();
    assert!(e.0.contains("--by `merchant`"), "{e}");
}
