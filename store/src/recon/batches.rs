//! Settlement batches (section 5): what the channel pays, per batch, as its bill rows say.
//!
//! - `Daily`: each bill day is one batch per currency, complete with its bill: paid = Σ net of
//!   the day's rows (`BillLine::net_minor`), id = the day (ChannelSettlement `batch_id` = the
//!   day number, `batch_ref` = `YYYY-MM-DD`; the engine keeps batches per channel and currency).
//! - `Rolling` (Stripe): a batch per payout (`BillLine::batch`, the `automatic_payout_id`),
//!   filled across bill days in the carried state; its effective day is a row's bill day plus
//!   the availability delay (refunds: none), and it is complete once that day ≤ the bill day.
//!   A row without a payout id is paid as the day's batch, as under Daily.
//!
//! Either way `fee_difference_minor` = Σ (platform net − bill net) over the batch's fee_mismatch
//! rows: for a payment, the bill's fee less the platform's.

use rustc_hash::FxHashMap;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sluice_bills::{BillLine, LineKind};

use super::matcher::{Class, Discrepancy};
use super::state::{Payout, State};
use super::{Options, Window, report};

/// How a channel pays (ConfigChannel `settlement`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Settlement {
    Daily,
    Rolling,
}

/// A complete batch: one ChannelSettlement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Batch {
    /// ChannelSettlement `batch_id`: the bill day for a day's batch; for a payout, the first 8
    /// bytes of SHA-256 of its id, big-endian ([`payout_batch_id`]).
    pub batch_id: u64,
    /// ChannelSettlement `batch_ref`: the day (`YYYY-MM-DD`) or the payout id.
    pub batch_ref: String,
    pub channel_id: i32,
    pub currency: u16,
    /// Bill rows in it.
    pub lines: u64,
    /// What the channel pays, net of its fees.
    pub paid_minor: i64,
    /// Σ (platform net − bill net) of its fee_mismatch rows.
    pub fee_difference_minor: i64,
    /// The first bill day with one of its rows.
    pub first_day: u32,
    /// The last bill day it covers (the day of the run that completed it).
    pub last_day: u32,
}

/// A Rolling batch's `batch_id`: the first 8 bytes of SHA-256 of the payout id, big-endian.
pub fn payout_batch_id(payout_id: &str) -> u64 {
    let digest = Sha256::digest(payout_id.as_bytes());
    u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// The batches complete after this run, and the state with the payouts still being filled.
pub fn complete(
    lines: &[&BillLine],
    discrepancies: &[Discrepancy],
    window: Window,
    options: &Options,
    mut next: State,
) -> (Vec<Batch>, State) {
    let fee_difference: FxHashMap<u32, i64> = discrepancies
        .iter()
        .filter(|d| d.class == Class::FeeMismatch)
        .filter_map(|d| Some((d.line_index?, d.amount_minor)))
        .collect();
    let mut open: FxHashMap<String, usize> = next
        .payouts
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id.clone(), i))
        .collect();
    let mut daily: Vec<Payout> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let rolling = options.settlement == Settlement::Rolling && !line.batch.is_empty();
        let payout = if rolling {
            let at = match open.get(line.batch.as_str()) {
                Some(&at) => at,
                None => {
                    next.payouts
                        .push(empty(line.batch.clone(), line.currency, window.day));
                    open.insert(line.batch.clone(), next.payouts.len() - 1);
                    next.payouts.len() - 1
                }
            };
            let delay = match line.kind {
                LineKind::Payment => options.settlement_delay_days,
                LineKind::Refund => 0,
            };
            let payout = &mut next.payouts[at];
            payout.effective_day = payout.effective_day.max(window.day + delay);
            payout
        } else {
            day_batch(&mut daily, line.currency, window.day)
        };
        payout.lines += 1;
        payout.net_minor += line.net_minor();
        payout.fee_difference_minor += fee_difference.get(&(i as u32)).copied().unwrap_or(0);
    }
    let (done, filling): (Vec<Payout>, Vec<Payout>) = std::mem::take(&mut next.payouts)
        .into_iter()
        .partition(|p| p.effective_day <= window.day);
    next.payouts = filling;
    let channel_id = options.channel_id;
    let batches = daily
        .into_iter()
        .map(|p| batch(p, u64::from(window.day), channel_id, window.day))
        .chain(done.into_iter().map(|p| {
            let batch_id = payout_batch_id(&p.id);
            batch(p, batch_id, channel_id, window.day)
        }))
        .collect();
    (batches, next)
}

/// The day's batch of `currency` (created on first use).
fn day_batch(daily: &mut Vec<Payout>, currency: u16, day: u32) -> &mut Payout {
    let at = match daily.iter().position(|p| p.currency == currency) {
        Some(at) => at,
        None => {
            daily.push(empty(report::format_day(day), currency, day));
            daily.len() - 1
        }
    };
    &mut daily[at]
}

fn empty(id: String, currency: u16, day: u32) -> Payout {
    Payout {
        id,
        currency,
        lines: 0,
        net_minor: 0,
        fee_difference_minor: 0,
        effective_day: day,
        first_day: day,
    }
}

fn batch(p: Payout, batch_id: u64, channel_id: i32, last_day: u32) -> Batch {
    Batch {
        batch_id,
        batch_ref: p.id,
        channel_id,
        currency: p.currency,
        lines: p.lines,
        paid_minor: p.net_minor,
        fee_difference_minor: p.fee_difference_minor,
        first_day: p.first_day,
        last_day,
    }
}
