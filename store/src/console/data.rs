//! The store side of the console: rows loaded through a [`FlowReader`], kept while the store's
//! position does not move, and the small aggregations the pages draw.
//!
//! The reports page draws the report API's flow report (`crate::report::flow`); what is here
//! are the channels page's own small sums (payments ended per channel, attempts) and the risk
//! dashboard's interception rate.

use crate::{DayRange, FlowReader, StoreError};
use sluice_node::flow::{Day, Rows};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The last rows loaded: the tables asked, the position they are as of, the rows.
type Cached = (Vec<&'static str>, u64, Arc<Rows>);

/// The reader and the last rows it gave.
pub struct Data {
    reader: Mutex<Box<dyn FlowReader + Send>>,
    cache: Mutex<Option<Cached>>,
}

impl Data {
    pub fn new(reader: Box<dyn FlowReader + Send>) -> Data {
        Data {
            reader: Mutex::new(reader),
            cache: Mutex::new(None),
        }
    }

    /// The store's position now.
    pub fn position(&self) -> Result<u64, StoreError> {
        self.reader
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .position()
    }

    /// Every row of `tables` (all days), and the position they are as of. Loaded again only
    /// when the position moved or other tables are asked.
    pub fn load(&self, tables: &[&'static str]) -> Result<(Arc<Rows>, u64), StoreError> {
        let mut reader = self.reader.lock().unwrap_or_else(|p| p.into_inner());
        let position = reader.position()?;
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((cached, at, rows)) = cache.as_ref()
            && *at == position
            && tables.iter().all(|t| cached.contains(t))
        {
            return Ok((rows.clone(), position));
        }
        let rows = Arc::new(reader.load(tables, DayRange::default())?);
        *cache = Some((tables.to_vec(), position, rows.clone()));
        Ok((rows, position))
    }
}

/// One channel on one day, from the payments' final results.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelDay {
    pub payments: u64,
    pub succeeded: u64,
    /// Succeeded at the first attempt.
    pub first_attempt_succeeded: u64,
    pub failovers: u64,
    pub volume_minor: i64,
    pub fees_minor: i64,
}

/// Per (day, channel): payments that ended there, successes, volume and fees. The channel is
/// the last attempt's (where the payment ended).
pub fn channel_days(rows: &Rows) -> BTreeMap<(Day, i32), ChannelDay> {
    let mut out: BTreeMap<(Day, i32), ChannelDay> = BTreeMap::new();
    for r in &rows.payment_results {
        let d = out.entry((r.day, r.channel_id)).or_default();
        d.payments += 1;
        d.failovers += u64::from(r.attempts > 1);
        if r.status == "Succeeded" {
            d.succeeded += 1;
            d.first_attempt_succeeded += u64::from(r.attempts == 1);
            d.volume_minor += r.amount_minor;
            d.fees_minor += r.fee_minor;
        }
    }
    out
}

/// Per channel: attempts and how many succeeded (probes included).
pub fn channel_attempts(rows: &Rows) -> BTreeMap<i32, (u64, u64)> {
    let mut out: BTreeMap<i32, (u64, u64)> = BTreeMap::new();
    for a in &rows.attempts {
        let e = out.entry(a.channel_id).or_default();
        e.0 += 1;
        e.1 += u64::from(a.status == "Succeeded");
    }
    out
}

/// The risk dashboard's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RiskFigures {
    /// Payment requests that made an order.
    pub requested: u64,
    /// Of them, blocked by a risk verdict.
    pub blocked: u64,
    pub reviewed: u64,
    /// Hits per (day, rule id, shadow).
    pub hits: BTreeMap<(Day, i32, bool), u64>,
}

pub fn risk_figures(rows: &Rows) -> RiskFigures {
    let mut f = RiskFigures::default();
    for o in &rows.orders {
        f.requested += 1;
        f.blocked += u64::from(o.risk_action == "Block");
        f.reviewed += u64::from(o.risk_action == "Review");
    }
    for h in &rows.risk_hits {
        *f.hits.entry((h.day, h.rule_id, h.shadow)).or_default() += 1;
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::testing::sample_rows;
    use crate::memory::MemoryReader;

    #[test]
    fn aggregates_count_what_the_rows_say() {
        let rows = sample_rows();
        let days = channel_days(&rows);
        let total: u64 = days.values().map(|d| d.payments).sum();
        assert_eq!(total, rows.payment_results.len() as u64);
        let ok: u64 = days.values().map(|d| d.succeeded).sum();
        let expected = rows
            .payment_results
            .iter()
            .filter(|r| r.status == "Succeeded")
            .count() as u64;
        assert_eq!(ok, expected);
        let risk = risk_figures(&rows);
        assert_eq!(risk.requested, rows.orders.len() as u64);
        assert_eq!(risk.blocked, 1);
    }

    #[test]
    fn rows_are_loaded_again_only_when_the_position_moves() {
        let data = Data::new(Box::new(MemoryReader::new(sample_rows(), 40)));
        let (a, p) = data.load(&["orders"]).expect("loads");
        let (b, _) = data.load(&["orders"]).expect("loads");
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(p, 40);
        let (c, _) = data.load(&["orders", "attempts"]).expect("loads");
        assert!(!Arc::ptr_eq(&a, &c));
        assert!(a.attempts.is_empty() && !c.attempts.is_empty());
    }
}
