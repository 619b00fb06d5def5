//! The platform's side of a reconciliation (section 4): one channel's succeeded payments,
//! confirmed reversals and succeeded refunds whose platform time is in a window, loaded through
//! a [`FlowReader`] for the window's days only (the reader filters by the `day` partition).

use serde::{Deserialize, Serialize};
use sluice_node::flow::{Day, PaymentResult, RefundResult, Reversal, Row, Rows};

use super::NS_PER_DAY;
use crate::{DayRange, FlowReader, StoreError};

/// How a bill row finds the platform's record (section 2): a payment attempt by
/// `(order_id, attempt)` — `out_trade_no` parsed — and a refund by Sluice's refund id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Key {
    Payment { order_id: u64, attempt: u8 },
    Refund { refund_id: u64 },
}

impl Key {
    /// The key as text: `out_trade_no` for a payment, `R<refund_id>` for a refund.
    pub fn text(&self) -> String {
        match *self {
            Key::Payment { order_id, attempt } => sluice_bills::out_trade_no(order_id, attempt),
            Key::Refund { refund_id } => format!("R{refund_id}"),
        }
    }
}

/// One platform record a bill row is matched against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub key: Key,
    /// The order (a refund's payment).
    pub order_id: u64,
    /// Journal sequence of the input that made it final.
    pub seq: u64,
    /// The platform's time: event time it became final, ns.
    pub at_ns: u64,
    pub amount_minor: i64,
    /// Payments: the fee booked; refunds: the fee returned.
    pub fee_minor: i64,
    /// False where the store does not say the fee (a reversed capture): the fee is not compared
    /// then.
    pub fee_known: bool,
    pub currency: u16,
    /// A capture the channel gave back (a confirmed reversal): the bill should say Reversed.
    pub reversed: bool,
    /// The channel's reference the platform kept (empty when none).
    pub channel_ref: String,
}

impl Record {
    /// What the record adds to what the channel owes the platform, as the platform booked it:
    /// a payment's amount less its fee, a refund's fee returned less its amount, 0 for a
    /// reversed capture.
    pub fn net_minor(&self) -> i64 {
        match self.key {
            _ if self.reversed => 0,
            Key::Payment { .. } => self.amount_minor - self.fee_minor,
            Key::Refund { .. } => self.fee_minor - self.amount_minor,
        }
    }

    /// The status the platform expects on the bill.
    pub fn status(&self) -> sluice_bills::LineStatus {
        if self.reversed {
            sluice_bills::LineStatus::Reversed
        } else {
            sluice_bills::LineStatus::Succeeded
        }
    }
}

/// The platform's records of one channel in `[from_ns, to_ns)`, sorted by key.
#[derive(Debug, Clone, Default)]
pub struct Platform {
    pub records: Vec<Record>,
    /// The latest event time of any row loaded (any channel): how far the store is exported.
    pub store_time_ns: u64,
    /// The store's position (a journal sequence), for messages.
    pub position: u64,
}

/// The tables the platform side reads.
pub const TABLES: &[&str] = &[PaymentResult::TABLE, RefundResult::TABLE, Reversal::TABLE];

/// The days whose partitions can hold a row of `[from_ns, to_ns)`: the store's day is the
/// engine's settlement day (its own UTC offset, within ±1 day of UTC), so a day either side.
pub fn days_of(from_ns: u64, to_ns: u64) -> DayRange {
    let day = |ns: u64| Day(i32::try_from(ns / NS_PER_DAY).unwrap_or(i32::MAX));
    DayRange {
        from: Some(Day(day(from_ns).0.saturating_sub(1))),
        to: Some(Day(day(to_ns).0.saturating_add(1))),
    }
}

/// Loads channel `channel_id`'s records in `[from_ns, to_ns)`.
pub fn load(
    reader: &mut dyn FlowReader,
    channel_id: i32,
    from_ns: u64,
    to_ns: u64,
) -> Result<Platform, StoreError> {
    let position = reader.position()?;
    let rows = reader.load(TABLES, days_of(from_ns, to_ns))?;
    let mut platform = from_rows(&rows, channel_id, from_ns, to_ns)?;
    platform.position = position;
    Ok(platform)
}

/// The records of `rows` (already loaded) for one channel and window.
pub fn from_rows(
    rows: &Rows,
    channel_id: i32,
    from_ns: u64,
    to_ns: u64,
) -> Result<Platform, StoreError> {
    let mut records = Vec::with_capacity(rows.payment_results.len() + rows.refund_results.len());
    let mut store_time_ns = 0u64;
    let mut seen = |at_ns: i64| {
        let at_ns = u64::try_from(at_ns).unwrap_or(0);
        store_time_ns = store_time_ns.max(at_ns);
        (from_ns..to_ns).contains(&at_ns).then_some(at_ns)
    };
    for p in &rows.payment_results {
        if let Some(at_ns) = seen(p.at_ns)
            && p.channel_id == channel_id
            && p.status == "Succeeded"
        {
            records.push(payment(p, at_ns)?);
        }
    }
    for r in &rows.reversals {
        if let Some(at_ns) = seen(r.at_ns)
            && r.channel_id == channel_id
            && r.state == "Reversed"
        {
            records.push(reversal(r, at_ns)?);
        }
    }
    for r in &rows.refund_results {
        if let Some(at_ns) = seen(r.at_ns)
            && r.channel_id == channel_id
            && r.status == "Succeeded"
        {
            records.push(refund(r, at_ns)?);
        }
    }
    // A key seen twice (a reversal of an attempt the store also has as a payment's success) keeps
    // the later record: the reversal confirmed after the capture.
    records.sort_unstable_by_key(|r| (r.key, r.at_ns, r.seq));
    records.dedup_by(|later, earlier| {
        let same = later.key == earlier.key;
        if same {
            std::mem::swap(later, earlier);
        }
        same
    });
    Ok(Platform {
        records,
        store_time_ns,
        position: 0,
    })
}

fn bad(table: &str, what: String) -> StoreError {
    StoreError::new(format!("{table}: {what}"))
}

fn id(table: &str, name: &str, value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| bad(table, format!("{name} {value} is negative")))
}

fn attempt(table: &str, value: i32) -> Result<u8, StoreError> {
    u8::try_from(value).map_err(|_| bad(table, format!("attempt {value} is not 0..=255")))
}

fn currency(table: &str, value: i32) -> Result<u16, StoreError> {
    u16::try_from(value).map_err(|_| bad(table, format!("currency {value} is not ISO 4217")))
}

fn payment(p: &PaymentResult, at_ns: u64) -> Result<Record, StoreError> {
    let t = PaymentResult::TABLE;
    let order_id = id(t, "order_id", p.order_id)?;
    Ok(Record {
        key: Key::Payment {
            order_id,
            attempt: attempt(t, p.attempts)?,
        },
        order_id,
        seq: id(t, "seq", p.seq)?,
        at_ns,
        amount_minor: p.amount_minor,
        fee_minor: p.fee_minor,
        fee_known: true,
        currency: currency(t, p.currency)?,
        reversed: false,
        channel_ref: p.channel_ref.clone(),
    })
}

fn reversal(r: &Reversal, at_ns: u64) -> Result<Record, StoreError> {
    let t = Reversal::TABLE;
    let order_id = id(t, "order_id", r.order_id)?;
    Ok(Record {
        key: Key::Payment {
            order_id,
            attempt: attempt(t, r.attempt)?,
        },
        order_id,
        seq: id(t, "seq", r.seq)?,
        at_ns,
        amount_minor: r.amount_minor,
        fee_minor: 0,
        fee_known: false,
        currency: currency(t, r.currency)?,
        reversed: true,
        channel_ref: String::new(),
    })
}

fn refund(r: &RefundResult, at_ns: u64) -> Result<Record, StoreError> {
    let t = RefundResult::TABLE;
    Ok(Record {
        key: Key::Refund {
            refund_id: id(t, "refund_id", r.refund_id)?,
        },
        order_id: id(t, "order_id", r.order_id)?,
        seq: id(t, "seq", r.seq)?,
        at_ns,
        amount_minor: r.amount_minor,
        fee_minor: r.fee_returned_minor,
        fee_known: true,
        currency: currency(t, r.currency)?,
        reversed: false,
        channel_ref: String::new(),
    })
}
