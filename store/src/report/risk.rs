//! The risk figures that labels make possible (issue 23; docs/STORE.md section 6), in one place
//! for `sluice report risk` and the console's risk dashboard: per rule — hits, blocked,
//! reviewed, shadow hits, precision, false-positive rate, interception rate — the overall
//! interception and false-positive rates, and per day the same overall figures with the risk
//! score's distribution in 10-point buckets.
//!
//! An order's **truth** is its latest label (by `seq`, `ordinal`): `Fraud`, or good
//! (`FalsePositive`, `Legitimate`). The figures are over payment orders (`orders` rows, on the
//! order's day); refund verdicts carry no labels. Labels may come any day after their order:
//! load every label, and orders from the first day wanted.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use sluice_node::flow::{Day, Order, RiskHit, RiskLabelRow, Rows};

use super::calendar::format_day;
use crate::{DayRange, StoreError};

/// Buckets of the score's distribution: 0–9, 10–19, …, 80–89, 90–100.
pub const SCORE_BUCKETS: usize = 10;

/// How the risk report is laid out: a line per rule, or per day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskBy {
    Rule,
    Day,
}

impl RiskBy {
    pub fn parse(text: &str) -> Result<RiskBy, StoreError> {
        match text {
            "rule" => Ok(RiskBy::Rule),
            "day" => Ok(RiskBy::Day),
            _ => Err(StoreError::new(format!(
                "--by `{text}`: expected rule or day"
            ))),
        }
    }
}

/// What an order turned out to be, by its latest label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truth {
    Fraud,
    Good,
}

impl Truth {
    /// The truth a label kind says (`None` for a kind that says neither).
    pub fn of_kind(kind: &str) -> Option<Truth> {
        match kind {
            "Fraud" => Some(Truth::Fraud),
            "FalsePositive" | "Legitimate" => Some(Truth::Good),
            _ => None,
        }
    }
}

/// Each labelled order's truth: its latest label that says one.
pub fn truths(labels: &[RiskLabelRow]) -> HashMap<i64, Truth> {
    let mut latest: HashMap<i64, ((i64, i32), Truth)> = HashMap::new();
    for l in labels {
        let Some(truth) = Truth::of_kind(&l.kind) else {
            continue;
        };
        let at = (l.seq, l.ordinal);
        let e = latest.entry(l.order_id).or_insert((at, truth));
        if at >= e.0 {
            *e = (at, truth);
        }
    }
    latest.into_iter().map(|(id, (_, t))| (id, t)).collect()
}

/// `part / whole`, `None` without a denominator.
fn rate(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Figures over a set of payment orders (all of them, or one day's).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RiskTotals {
    /// Payment orders requested (made an order).
    pub requested: u64,
    /// Of them, blocked by a risk verdict.
    pub blocked: u64,
    /// Sent to review by a risk verdict.
    pub reviewed: u64,
    /// Orders labelled fraud.
    pub fraud: u64,
    /// Orders labelled good (FalsePositive or Legitimate).
    pub good: u64,
    /// Blocked orders labelled good.
    pub blocked_good: u64,
    /// Orders labelled fraud that were blocked or reviewed.
    pub fraud_caught: u64,
    /// blocked / requested.
    pub interception_rate: Option<f64>,
    /// blocked_good / blocked.
    pub false_positive_rate: Option<f64>,
    /// fraud_caught / fraud.
    pub fraud_caught_rate: Option<f64>,
}

impl RiskTotals {
    fn add(&mut self, o: &Order, truth: Option<Truth>) {
        let blocked = o.risk_action == "Block";
        let reviewed = o.risk_action == "Review";
        self.requested += 1;
        self.blocked += u64::from(blocked);
        self.reviewed += u64::from(reviewed);
        self.fraud += u64::from(truth == Some(Truth::Fraud));
        self.good += u64::from(truth == Some(Truth::Good));
        self.blocked_good += u64::from(blocked && truth == Some(Truth::Good));
        self.fraud_caught += u64::from((blocked || reviewed) && truth == Some(Truth::Fraud));
    }

    fn finish(&mut self) {
        self.interception_rate = rate(self.blocked, self.requested);
        self.false_positive_rate = rate(self.blocked_good, self.blocked);
        self.fraud_caught_rate = rate(self.fraud_caught, self.fraud);
    }
}

/// One rule's figures over the payment orders it matched.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RuleFigures {
    /// The rule (lists report 1 allow, 2 block).
    pub rule_id: i32,
    /// Orders it matched, deciding or in shadow.
    pub hits: u64,
    /// Orders it blocked (its deciding hits with the action Block).
    pub blocked: u64,
    /// Orders it sent to review.
    pub reviewed: u64,
    /// Orders it matched in shadow (deciding nothing).
    pub shadow: u64,
    /// Hit orders labelled fraud.
    pub fraud: u64,
    /// Hit orders labelled good.
    pub good: u64,
    /// Orders it blocked that were labelled good.
    pub blocked_good: u64,
    /// fraud / hits: labelled fraud among its hits (an unlabelled hit counts as not fraud).
    pub precision: Option<f64>,
    /// blocked_good / blocked.
    pub false_positive_rate: Option<f64>,
    /// blocked / payment orders requested.
    pub interception_rate: Option<f64>,
}

impl RuleFigures {
    fn add(&mut self, h: &RiskHit, truth: Option<Truth>) {
        let blocked = !h.shadow && h.action == "Block";
        self.hits += 1;
        self.blocked += u64::from(blocked);
        self.reviewed += u64::from(!h.shadow && h.action == "Review");
        self.shadow += u64::from(h.shadow);
        self.fraud += u64::from(truth == Some(Truth::Fraud));
        self.good += u64::from(truth == Some(Truth::Good));
        self.blocked_good += u64::from(blocked && truth == Some(Truth::Good));
    }

    fn finish(&mut self, requested: u64) {
        self.precision = rate(self.fraud, self.hits);
        self.false_positive_rate = rate(self.blocked_good, self.blocked);
        self.interception_rate = rate(self.blocked, requested);
    }
}

/// One day's figures (orders of that day) and the score's distribution.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DayFigures {
    /// The day, YYYY-MM-DD.
    pub day: String,
    #[serde(flatten)]
    pub totals: RiskTotals,
    /// Orders per score bucket: `[0]` 0–9, …, `[9]` 90–100.
    pub score_buckets: [u64; SCORE_BUCKETS],
}

/// The risk report: the overall figures, per rule and per day.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RiskReport {
    pub overall: RiskTotals,
    /// By rule id.
    pub rules: Vec<RuleFigures>,
    /// By day.
    pub days: Vec<DayFigures>,
}

/// The score's bucket: 0–9 → 0, …, 90–100 → 9 (a score past 100 counts as 100).
pub fn score_bucket(score: i32) -> usize {
    (score.clamp(0, 100) as usize / 10).min(SCORE_BUCKETS - 1)
}

/// The risk figures of the payment orders of `rows` whose day is in `days`, with every label
/// and risk hit of those orders (whatever their day).
pub fn risk(rows: &Rows, days: DayRange) -> RiskReport {
    let truth = truths(&rows.risk_labels);
    let orders: HashMap<i64, &Order> = rows
        .orders
        .iter()
        .filter(|o| days.contains(o.day))
        .map(|o| (o.order_id, o))
        .collect();
    let mut overall = RiskTotals::default();
    let mut by_day: BTreeMap<Day, DayFigures> = BTreeMap::new();
    for o in rows.orders.iter().filter(|o| days.contains(o.day)) {
        let t = truth.get(&o.order_id).copied();
        overall.add(o, t);
        let d = by_day.entry(o.day).or_default();
        d.totals.add(o, t);
        d.score_buckets[score_bucket(o.risk_score)] += 1;
    }
    let mut rules: BTreeMap<i32, RuleFigures> = BTreeMap::new();
    let payment_hits = rows
        .risk_hits
        .iter()
        .filter(|h| h.subject == "payment" && orders.contains_key(&h.order_id));
    for h in payment_hits {
        let r = rules.entry(h.rule_id).or_insert_with(|| RuleFigures {
            rule_id: h.rule_id,
            ..RuleFigures::default()
        });
        r.add(h, truth.get(&h.order_id).copied());
    }
    overall.finish();
    let rules = rules
        .into_values()
        .map(|mut r| {
            r.finish(overall.requested);
            r
        })
        .collect();
    let days = by_day
        .into_iter()
        .map(|(day, mut d)| {
            d.day = format_day(day);
            d.totals.finish();
            d
        })
        .collect();
    RiskReport {
        overall,
        rules,
        days,
    }
}
