//! The payouts report (`sluice report payouts`): payout state changes (`payouts` rows) grouped by
//! any of party kind, party, state, reason, channel, automatic, day, week, month and currency,
//! with their count, amount and fees. A row is a change into a state on its day: grouped by
//! `state`, the `Paid` group of a day is what was paid that day, the `Review` and `Sent` groups
//! what was asked.

use std::collections::BTreeMap;

use serde::Serialize;
use sluice_node::flow::{Payout, Rows};

use super::calendar::{Period, PeriodKind, format_day};
use crate::{DayRange, StoreError};

/// A dimension of the payouts report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PayoutDim {
    PartyKind,
    Party,
    State,
    Reason,
    Channel,
    Automatic,
    Day,
    Week,
    Month,
    Currency,
}

impl PayoutDim {
    pub const ALL: [PayoutDim; 10] = [
        PayoutDim::PartyKind,
        PayoutDim::Party,
        PayoutDim::State,
        PayoutDim::Reason,
        PayoutDim::Channel,
        PayoutDim::Automatic,
        PayoutDim::Day,
        PayoutDim::Week,
        PayoutDim::Month,
        PayoutDim::Currency,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PayoutDim::PartyKind => "party_kind",
            PayoutDim::Party => "party",
            PayoutDim::State => "state",
            PayoutDim::Reason => "reason",
            PayoutDim::Channel => "channel",
            PayoutDim::Automatic => "automatic",
            PayoutDim::Day => "day",
            PayoutDim::Week => "week",
            PayoutDim::Month => "month",
            PayoutDim::Currency => "currency",
        }
    }

    /// A comma-separated list such as `state,party_kind,day`.
    pub fn parse_list(text: &str) -> Result<Vec<PayoutDim>, StoreError> {
        text.split(',')
            .filter(|s| !s.is_empty())
            .map(|s| {
                PayoutDim::ALL
                    .into_iter()
                    .find(|d| d.name() == s.trim())
                    .ok_or_else(|| {
                        let names: Vec<&str> = PayoutDim::ALL.iter().map(|d| d.name()).collect();
                        StoreError::new(format!(
                            "--by `{s}`: unknown dimension (expected {})",
                            names.join(", ")
                        ))
                    })
            })
            .collect()
    }

    /// The key part of `p`: ids as numbers (so they sort as numbers), the rest as text.
    fn part(self, p: &Payout) -> (i64, String) {
        match self {
            PayoutDim::PartyKind => (0, p.party_kind.clone()),
            PayoutDim::Party => (
                i64::from(p.party_id),
                format!("{}:{}", p.party_kind.to_lowercase(), p.party_id),
            ),
            PayoutDim::State => (state_order(&p.state), p.state.clone()),
            PayoutDim::Reason => (0, p.reason.clone()),
            PayoutDim::Channel => (i64::from(p.channel_id), p.channel_id.to_string()),
            PayoutDim::Automatic => (i64::from(p.automatic), p.automatic.to_string()),
            PayoutDim::Day => (0, format_day(p.day)),
            PayoutDim::Week => (0, Period::of(PeriodKind::Week, p.day).label),
            PayoutDim::Month => (0, Period::of(PeriodKind::Month, p.day).label),
            PayoutDim::Currency => (i64::from(p.currency), p.currency.to_string()),
        }
    }
}

/// States in the order a payout goes through them.
fn state_order(state: &str) -> i64 {
    match state {
        "Review" => 1,
        "Sent" => 2,
        "Paid" => 3,
        "Failed" => 4,
        "Returned" => 5,
        _ => 6,
    }
}

/// A group's measures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PayoutMeasures {
    /// State changes in the group.
    pub count: u64,
    /// Their amounts, minor units.
    pub amount_minor: i64,
    /// Their payout channel fees, minor units.
    pub fees_minor: i64,
}

/// One group: its key (one value per dimension) and measures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PayoutRow {
    pub key: Vec<String>,
    pub measures: PayoutMeasures,
}

/// The payouts report: the grouping and one row per group, ordered by key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PayoutReport {
    pub dims: Vec<PayoutDim>,
    pub rows: Vec<PayoutRow>,
}

/// The payout state changes of `rows` on `days`, grouped by `dims`.
pub fn payouts(
    rows: &Rows,
    dims: &[PayoutDim],
    days: DayRange,
) -> Result<PayoutReport, StoreError> {
    let mut groups: BTreeMap<Vec<(i64, String)>, PayoutMeasures> = BTreeMap::new();
    for p in rows.payouts.iter().filter(|p| days.contains(p.day)) {
        let key = dims.iter().map(|d| d.part(p)).collect();
        let m = groups.entry(key).or_default();
        m.count += 1;
        let overflow = || StoreError::new("payouts report: a group's sum passes i64".to_owned());
        m.amount_minor = m
            .amount_minor
            .checked_add(p.amount_minor)
            .ok_or_else(overflow)?;
        m.fees_minor = m.fees_minor.checked_add(p.fee_minor).ok_or_else(overflow)?;
    }
    let rows = groups
        .into_iter()
        .map(|(key, measures)| PayoutRow {
            key: key.into_iter().map(|(_, text)| text).collect(),
            measures,
        })
        .collect();
    Ok(PayoutReport {
        dims: dims.to_vec(),
        rows,
    })
}
