//! Statements of a payment channel per period and currency: what it captured, refunded and
//! charged, the reversals of captures the payments did not keep, and what it owes (its
//! `channel_receivable` balance), what it returned of its fees on refunds, and what it paid
//! (channel settlement batches, fee differences and write-offs: docs/RECONCILIATION.md).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use sluice_node::flow::{Day, Rows};

use super::accounts::Replay;
use super::calendar::{Period, PeriodKind};
use super::{DayRange, minor_i64};
use crate::StoreError;

/// The note every channel statement carries.
pub const SETTLED_NOTE: &str =
    "settled: ChannelSettlement batches applied (docs/RECONCILIATION.md)";

/// What moved at a channel during a period, minor units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ChannelMovements {
    /// Succeeded payments whose last attempt was at the channel (`payment_results`).
    pub captured_minor: i64,
    /// Succeeded refunds at the channel (`refund_results`).
    pub refunded_minor: i64,
    /// The channel's fees on those payments (`payment_results.fee_minor`).
    pub fees_minor: i64,
    /// Captures the payments did not keep, found (`reversals`, state `Reversing`).
    pub reversals_minor: i64,
    /// Those reversals the channel confirmed (`reversals`, state `Reversed`).
    pub reversed_minor: i64,
    /// Money the channel paid out to Sluice (`channel_settlements.paid_minor`).
    pub settled_minor: i64,
    /// Fees the channel returned on refunds (`refund_results.fee_returned_minor`).
    pub fees_returned_minor: i64,
    /// Fees it charged beyond what Sluice booked, booked with its batches
    /// (`channel_settlements.fee_difference_minor`).
    pub fee_differences_minor: i64,
    /// Discrepancies written off when resolved (`discrepancies.write_off_minor`).
    pub written_off_minor: i64,
}

/// One channel's statement for one period in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelStatement {
    pub channel_id: i32,
    /// ISO 4217 numeric.
    pub currency: i32,
    pub period: Period,
    /// What the channel owes at the period's start: its receivable's posted debit balance.
    pub outstanding_opening_minor: i64,
    pub movements: ChannelMovements,
    /// What it owes at the period's end. It moves by captured − fees − refunded + fees returned
    /// + reversals − reversed − settled − fee differences − written off.
    pub outstanding_closing_minor: i64,
    pub note: &'static str,
}

type DayMoves = BTreeMap<(i32, Day), [i64; 9]>;

/// Statements of channel `channel_id` for every period of `kind` overlapping `days`, by
/// currency then period. Errors when the channel has no rows.
pub fn channel_statements(
    rows: &Rows,
    channel_id: i32,
    kind: PeriodKind,
    days: DayRange,
) -> Result<Vec<ChannelStatement>, StoreError> {
    let moves = channel_moves(rows, channel_id)?;
    let receivable = |t: &&sluice_node::flow::LedgerTransfer| {
        (t.debit_kind == "channel_receivable" && t.debit_owner == channel_id)
            || (t.credit_kind == "channel_receivable" && t.credit_owner == channel_id)
    };
    let mut currencies: BTreeSet<i32> = moves.keys().map(|&(c, _)| c).collect();
    currencies.extend(
        rows.ledger_transfers
            .iter()
            .filter(receivable)
            .map(|t| t.currency),
    );
    let first = moves.keys().map(|k| k.1).min();
    let last = rows
        .ledger_transfers
        .iter()
        .map(|t| t.day)
        .chain(moves.keys().map(|k| k.1))
        .max();
    let (Some(first), Some(last)) = (first, last) else {
        return Err(StoreError::new(format!(
            "channel {channel_id}: no payment results, refund results or reversals in the store"
        )));
    };
    let periods = super::periods(kind, days, first, last)?;
    let mut out = Vec::new();
    for &currency in &currencies {
        let transfers = rows.ledger_transfers.iter().filter(receivable);
        let replay = Replay::new(transfers.filter(|t| t.currency == currency));
        out.extend(currency_statements(
            channel_id, currency, &periods, &moves, replay,
        )?);
    }
    Ok(out)
}

/// One currency's statements of a channel: `replay` holds its receivable's transfers.
fn currency_statements(
    channel_id: i32,
    currency: i32,
    periods: &[Period],
    moves: &DayMoves,
    mut replay: Replay,
) -> Result<Vec<ChannelStatement>, StoreError> {
    let outstanding = |r: &Replay| {
        let sums = r
            .accounts
            .get("channel_receivable", channel_id, "", currency);
        minor_i64(sums.debit_balance())
    };
    replay.through(Day(periods[0].start_day.0 - 1))?;
    let mut opening = outstanding(&replay)?;
    let mut out = Vec::new();
    for period in periods {
        replay.through(period.end_day)?;
        let closing = outstanding(&replay)?;
        let mut s = [0i128; 9];
        for m in moves.range((currency, period.start_day)..=(currency, period.end_day)) {
            s.iter_mut()
                .zip(m.1)
                .for_each(|(s, m)| *s += i128::from(*m));
        }
        out.push(ChannelStatement {
            channel_id,
            currency,
            period: period.clone(),
            outstanding_opening_minor: opening,
            movements: ChannelMovements {
                captured_minor: minor_i64(s[0])?,
                refunded_minor: minor_i64(s[1])?,
                fees_minor: minor_i64(s[2])?,
                reversals_minor: minor_i64(s[3])?,
                reversed_minor: minor_i64(s[4])?,
                settled_minor: minor_i64(s[5])?,
                fees_returned_minor: minor_i64(s[6])?,
                fee_differences_minor: minor_i64(s[7])?,
                written_off_minor: minor_i64(s[8])?,
            },
            outstanding_closing_minor: closing,
            note: SETTLED_NOTE,
        });
        opening = closing;
    }
    Ok(out)
}

/// The channel's movements per (currency, day).
fn channel_moves(rows: &Rows, channel_id: i32) -> Result<DayMoves, StoreError> {
    let mut moves = DayMoves::new();
    let mut add = |currency: i32, day: Day, which: usize, amount: i64| -> Result<(), StoreError> {
        let cell = &mut moves.entry((currency, day)).or_default()[which];
        *cell = cell.checked_add(amount).ok_or_else(|| {
            StoreError::new(format!("channel {channel_id}: a day's sum passes i64"))
        })?;
        Ok(())
    };
    for r in &rows.payment_results {
        if r.channel_id == channel_id && r.status == "Succeeded" {
            add(r.currency, r.day, 0, r.amount_minor)?;
            add(r.currency, r.day, 2, r.fee_minor)?;
        }
    }
    for r in &rows.refund_results {
        if r.channel_id == channel_id && r.status == "Succeeded" {
            add(r.currency, r.day, 1, r.amount_minor)?;
            add(r.currency, r.day, 6, r.fee_returned_minor)?;
        }
    }
    for r in rows
        .channel_settlements
        .iter()
        .filter(|r| r.channel_id == channel_id)
    {
        add(r.currency, r.day, 5, r.paid_minor)?;
        add(r.currency, r.day, 7, r.fee_difference_minor)?;
    }
    for r in rows
        .discrepancies
        .iter()
        .filter(|r| r.channel_id == channel_id)
    {
        add(r.currency, r.day, 8, r.write_off_minor)?;
    }
    for r in &rows.reversals {
        if r.channel_id == channel_id {
            let which = if r.state == "Reversed" { 4 } else { 3 };
            add(r.currency, r.day, which, r.amount_minor)?;
        }
    }
    Ok(moves)
}
