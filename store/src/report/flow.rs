//! Multi-dimensional flow reports: payments, refunds and withdrawals grouped by any combination
//! of dimensions, with volume, counts, success rates, failovers, fees, refunds and risk hits per
//! rule. Results, attempts and refunds are joined to their orders by `order_id` in memory.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use sluice_node::flow::{Day, Order, Rows};

use super::calendar::{Period, PeriodKind, format_day};
use crate::{DayRange, StoreError};

/// A dimension to group by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dim {
    Channel,
    Merchant,
    ParentMerchant,
    Day,
    Week,
    Month,
    Method,
    Scene,
    Currency,
    Type,
}

impl Dim {
    pub const ALL: [Dim; 10] = [
        Dim::Channel,
        Dim::Merchant,
        Dim::ParentMerchant,
        Dim::Day,
        Dim::Week,
        Dim::Month,
        Dim::Method,
        Dim::Scene,
        Dim::Currency,
        Dim::Type,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Dim::Channel => "channel",
            Dim::Merchant => "merchant",
            Dim::ParentMerchant => "parent",
            Dim::Day => "day",
            Dim::Week => "week",
            Dim::Month => "month",
            Dim::Method => "method",
            Dim::Scene => "scene",
            Dim::Currency => "currency",
            Dim::Type => "type",
        }
    }

    /// A comma-separated list such as `channel,day`.
    pub fn parse_list(text: &str) -> Result<Vec<Dim>, StoreError> {
        text.split(',')
            .filter(|s| !s.is_empty())
            .map(|s| {
                Dim::ALL
                    .into_iter()
                    .find(|d| d.name() == s.trim())
                    .ok_or_else(|| {
                        let names: Vec<&str> = Dim::ALL.iter().map(|d| d.name()).collect();
                        StoreError::new(format!(
                            "--by `{s}`: unknown dimension (expected {})",
                            names.join(", ")
                        ))
                    })
            })
            .collect()
    }
}

/// A transaction type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TxType {
    Payment,
    Refund,
    Withdrawal,
}

impl TxType {
    pub fn name(self) -> &'static str {
        match self {
            TxType::Payment => "payment",
            TxType::Refund => "refund",
            TxType::Withdrawal => "withdrawal",
        }
    }

    pub fn parse_list(text: &str) -> Result<Vec<TxType>, StoreError> {
        text.split(',')
            .filter(|s| !s.is_empty())
            .map(|s| match s.trim() {
                "payment" => Ok(TxType::Payment),
                "refund" => Ok(TxType::Refund),
                "withdrawal" => Ok(TxType::Withdrawal),
                _ => Err(StoreError::new(format!(
                    "--types `{s}`: expected payment, refund or withdrawal"
                ))),
            })
            .collect()
    }
}

/// How to group, and which transaction types the counting measures count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grouping {
    pub dims: Vec<Dim>,
    /// Types that `count`, `succeeded`, `volume_minor`, the rates, failovers and fees count
    /// (default: payments only). Refund measures count refunds, and risk hits count every hit
    /// of a payment or refund of these types.
    pub types: Vec<TxType>,
    /// The days transactions count on (see `flow`); others are left out.
    pub days: DayRange,
}

impl Grouping {
    pub fn by(dims: Vec<Dim>) -> Grouping {
        Grouping {
            dims,
            types: vec![TxType::Payment],
            days: DayRange::default(),
        }
    }
}

/// Risk rule hits in a group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RuleHits {
    pub rule_id: i32,
    /// Deciding hits that blocked.
    pub blocked: u64,
    /// Deciding hits that flagged for review.
    pub reviewed: u64,
    /// Shadow hits (the rule counted, decided nothing).
    pub shadow: u64,
}

/// A group's measures.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Measures {
    /// Transactions: orders (payments), final refund results, withdrawal answers.
    pub count: u64,
    /// Those that succeeded.
    pub succeeded: u64,
    /// Their amount, minor units.
    pub volume_minor: i64,
    /// Payments that reached a channel and a final result (the rates' denominator; refunds and
    /// withdrawals count every final answer).
    pub finished: u64,
    /// Payments that succeeded on their first attempt.
    pub succeeded_first_attempt: u64,
    /// succeeded_first_attempt / finished (`null` when nothing finished).
    pub success_rate_first_attempt: Option<f64>,
    /// succeeded / finished.
    pub success_rate: Option<f64>,
    /// Finished payments that took more than one attempt.
    pub failovers: u64,
    /// Channel fees of succeeded payments, minor units.
    pub fees_minor: i64,
    /// Succeeded refunds (by the day of their result).
    pub refunds: u64,
    pub refunds_minor: i64,
    /// Risk hits per rule, by rule id.
    pub risk: Vec<RuleHits>,
    #[serde(skip)]
    risk_by_rule: BTreeMap<i32, RuleHits>,
}

/// One group: its key (one value per dimension, in `FlowReport::dims` order) and measures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlowRow {
    pub key: Vec<String>,
    pub measures: Measures,
}

/// A flow report: the grouping and one row per group, ordered by key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlowReport {
    pub dims: Vec<Dim>,
    pub types: Vec<TxType>,
    pub rows: Vec<FlowRow>,
}

/// A sortable key part: ids sort as numbers, names and dates as text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Part {
    Int(i64),
    Text(String),
}

/// Where a transaction falls on every dimension.
struct Coordinates<'a> {
    tx: TxType,
    channel: i32,
    merchant: i32,
    parent: i32,
    day: Day,
    method: &'a str,
    scene: &'a str,
    currency: i32,
}

impl Coordinates<'_> {
    fn part(&self, dim: Dim) -> Part {
        match dim {
            Dim::Channel => Part::Int(i64::from(self.channel)),
            Dim::Merchant => Part::Int(i64::from(self.merchant)),
            Dim::ParentMerchant => Part::Int(i64::from(self.parent)),
            Dim::Day => Part::Text(format_day(self.day)),
            Dim::Week => Part::Text(Period::of(PeriodKind::Week, self.day).label),
            Dim::Month => Part::Text(Period::of(PeriodKind::Month, self.day).label),
            Dim::Method => Part::Text(self.method.to_owned()),
            Dim::Scene => Part::Text(self.scene.to_owned()),
            Dim::Currency => Part::Int(i64::from(self.currency)),
            Dim::Type => Part::Text(self.tx.name().to_owned()),
        }
    }

    fn of_order(o: &Order, tx: TxType, channel: i32, day: Day) -> Coordinates<'_> {
        Coordinates {
            tx,
            channel,
            merchant: o.merchant_id,
            parent: o.parent_merchant_id,
            day,
            method: &o.method,
            scene: &o.scene,
            currency: o.currency,
        }
    }
}

/// The groups being summed.
struct Groups<'g> {
    grouping: &'g Grouping,
    groups: BTreeMap<Vec<Part>, Measures>,
}

impl Groups<'_> {
    /// The measures of the group `c` falls in; `None` when its day is outside the days asked.
    fn at(&mut self, c: &Coordinates) -> Option<&mut Measures> {
        if !self.grouping.days.contains(c.day) {
            return None;
        }
        let key = self.grouping.dims.iter().map(|&d| c.part(d)).collect();
        Some(self.groups.entry(key).or_default())
    }

    fn counts(&self, tx: TxType) -> bool {
        self.grouping.types.contains(&tx)
    }
}

/// The flow report of `rows` grouped by `grouping`. A payment counts on its order's day, a
/// refund on its result's day, a withdrawal and a risk hit on theirs: load rows from the first
/// day asked through the last day in the store, so that a payment's later result is there.
pub fn flow(rows: &Rows, grouping: &Grouping) -> Result<FlowReport, StoreError> {
    let orders: HashMap<i64, &Order> = rows.orders.iter().map(|o| (o.order_id, o)).collect();
    let mut groups = Groups {
        grouping,
        groups: BTreeMap::new(),
    };
    add_payments(rows, &orders, &mut groups)?;
    add_refunds(rows, &orders, &mut groups)?;
    add_withdrawals(rows, &orders, &mut groups)?;
    add_risk_hits(rows, &orders, &mut groups);
    let rows = groups
        .groups
        .into_iter()
        .map(|(key, mut m)| {
            m.risk = m.risk_by_rule.values().copied().collect();
            let rate = |n: u64| (m.finished > 0).then(|| n as f64 / m.finished as f64);
            m.success_rate = rate(m.succeeded);
            m.success_rate_first_attempt = rate(m.succeeded_first_attempt);
            let key = key
                .into_iter()
                .map(|p| match p {
                    Part::Int(v) => v.to_string(),
                    Part::Text(t) => t,
                })
                .collect();
            FlowRow { key, measures: m }
        })
        .collect();
    Ok(FlowReport {
        dims: grouping.dims.clone(),
        types: grouping.types.clone(),
        rows,
    })
}

fn add_minor(sum: &mut i64, amount: i64, what: &str) -> Result<(), StoreError> {
    *sum = sum
        .checked_add(amount)
        .ok_or_else(|| StoreError::new(format!("flow report: {what} of a group passes i64")))?;
    Ok(())
}

/// Payments: every order, on the day it was requested, at the channel of its last attempt.
fn add_payments(
    rows: &Rows,
    orders: &HashMap<i64, &Order>,
    groups: &mut Groups,
) -> Result<(), StoreError> {
    if !groups.counts(TxType::Payment) {
        return Ok(());
    }
    let results: HashMap<i64, _> = rows
        .payment_results
        .iter()
        .map(|r| (r.order_id, r))
        .collect();
    for o in orders.values() {
        let result = results.get(&o.order_id);
        let channel = result.map_or(o.first_channel_id, |r| r.channel_id);
        let c = Coordinates::of_order(o, TxType::Payment, channel, o.day);
        let Some(m) = groups.at(&c) else {
            continue;
        };
        m.count += 1;
        let Some(r) = result.filter(|r| r.attempts >= 1) else {
            continue;
        };
        m.finished += 1;
        m.failovers += u64::from(r.attempts > 1);
        if r.status == "Succeeded" {
            m.succeeded += 1;
            m.succeeded_first_attempt += u64::from(r.attempts == 1);
            add_minor(&mut m.volume_minor, r.amount_minor, "volume")?;
            add_minor(&mut m.fees_minor, r.fee_minor, "fees")?;
        }
    }
    Ok(())
}

/// Refunds: every final refund result, on its day, at its channel, with its order's merchant,
/// parent, method and scene.
fn add_refunds(
    rows: &Rows,
    orders: &HashMap<i64, &Order>,
    groups: &mut Groups,
) -> Result<(), StoreError> {
    let counted = groups.counts(TxType::Refund);
    for r in &rows.refund_results {
        // An order outside the days loaded (`--from`) leaves its method, scene and parent
        // unknown.
        let c = match orders.get(&r.order_id) {
            Some(o) => Coordinates::of_order(o, TxType::Refund, r.channel_id, r.day),
            None => Coordinates {
                tx: TxType::Refund,
                channel: r.channel_id,
                merchant: r.merchant_id,
                parent: 0,
                day: r.day,
                method: "",
                scene: "",
                currency: r.currency,
            },
        };
        let Some(m) = groups.at(&c) else {
            continue;
        };
        let succeeded = r.status == "Succeeded";
        if succeeded {
            m.refunds += 1;
            add_minor(&mut m.refunds_minor, r.amount_minor, "refunds")?;
        }
        if counted {
            m.count += 1;
            m.finished += 1;
            if succeeded {
                m.succeeded += 1;
                m.succeeded_first_attempt += 1;
                add_minor(&mut m.volume_minor, r.amount_minor, "volume")?;
            }
        }
    }
    Ok(())
}

/// Withdrawals: every final answer (a refusing WithdrawAck, a WithdrawResult), on its day; no
/// channel, method or scene. An accepting WithdrawAck is not final and a WithdrawReturned is a
/// later event of a withdrawal already counted. The parent is the one the merchant's orders name.
fn add_withdrawals(
    rows: &Rows,
    orders: &HashMap<i64, &Order>,
    groups: &mut Groups,
) -> Result<(), StoreError> {
    if !groups.counts(TxType::Withdrawal) {
        return Ok(());
    }
    let parents: HashMap<i32, i32> = orders
        .values()
        .map(|o| (o.merchant_id, o.parent_merchant_id))
        .collect();
    let final_answer = |w: &&sluice_node::flow::Withdrawal| match w.message.as_str() {
        "WithdrawAck" => w.status != "Accepted",
        "WithdrawReturned" => false,
        _ => true,
    };
    for w in rows.withdrawals.iter().filter(final_answer) {
        let c = Coordinates {
            tx: TxType::Withdrawal,
            channel: 0,
            merchant: w.merchant_id,
            parent: parents.get(&w.merchant_id).copied().unwrap_or(0),
            day: w.day,
            method: "",
            scene: "",
            currency: w.currency,
        };
        let Some(m) = groups.at(&c) else {
            continue;
        };
        m.count += 1;
        m.finished += 1;
        if w.status == "Succeeded" {
            m.succeeded += 1;
            m.succeeded_first_attempt += 1;
            add_minor(&mut m.volume_minor, w.amount_minor, "volume")?;
        }
    }
    Ok(())
}

/// Risk hits, with their order's dimensions where the request made an order.
fn add_risk_hits(rows: &Rows, orders: &HashMap<i64, &Order>, groups: &mut Groups) {
    for h in &rows.risk_hits {
        let tx = if h.subject == "refund" {
            TxType::Refund
        } else {
            TxType::Payment
        };
        if !groups.counts(tx) {
            continue;
        }
        let c = match orders.get(&h.order_id) {
            Some(o) => Coordinates::of_order(o, tx, o.first_channel_id, h.day),
            None => Coordinates {
                tx,
                channel: 0,
                merchant: h.merchant_id,
                parent: 0,
                day: h.day,
                method: "",
                scene: "",
                currency: h.currency,
            },
        };
        let Some(m) = groups.at(&c) else {
            continue;
        };
        let hits = m.risk_by_rule.entry(h.rule_id).or_insert(RuleHits {
            rule_id: h.rule_id,
            ..RuleHits::default()
        });
        match (h.shadow, h.action.as_str()) {
            (true, _) => hits.shadow += 1,
            (false, "Block") => hits.blocked += 1,
            (false, "Review") => hits.reviewed += 1,
            (false, _) => {}
        }
    }
}
