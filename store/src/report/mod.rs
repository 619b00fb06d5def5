//! # Statements and reports (`sluice report`)
//!
//! One home for every figure `sluice report` and the console show, computed in Rust over
//! [`Rows`] that a [`FlowReader`] loaded (PostgreSQL or Parquet: docs/STORE.md, section 4). The
//! definitions — what each figure means and which rows it comes from — are in docs/STORE.md,
//! "Reports".
//!
//! ## The API the console calls (stable: plain data with serde `Serialize`)
//!
//! - [`statements`]`(&rows, Party { role, id }, PeriodKind, DayRange) -> Vec<Statement>`: a
//!   merchant's, a promoter's or the platform's statements per period and currency — opening and
//!   closing [`Balances`] (replayed from `ledger_transfers`, equal to the ledger's) and the
//!   [`Movements`] between.
//! - [`channel_statements`]`(&rows, channel_id, PeriodKind, DayRange) -> Vec<ChannelStatement>`.
//! - [`flow`]`(&rows, &Grouping { dims, types, days }) -> FlowReport`: groups by any [`Dim`]s,
//!   with [`Measures`]; `days` picks the days transactions count on.
//! - [`payouts`]`(&rows, &[PayoutDim], DayRange) -> PayoutReport`: payout state changes grouped
//!   by party kind, party, state, reason, channel, day, week, month or currency.
//! - [`risk`]`(&rows, DayRange) -> RiskReport`: what labels make possible — per rule hits,
//!   blocked, reviewed, precision, false-positive and interception rates; the overall rates; per
//!   day the same and the risk score's distribution (issue 23).
//! - [`finance`]`(&rows, DayRange) -> FinanceReport`: the financial extension's positions now,
//!   accruals per business day, installment and loan schedules, and totals per product that add
//!   up (issue 24).
//! - [`parties`]`(&rows)`, [`channels`]`(&rows)`: who has a statement.
//! - [`load`]`(reader, DayRange)`: the rows every report needs, through any [`FlowReader`].
//! - [`format`]: text tables, CSV and JSON of each.
//!
//! Amounts are `i64` minor units of the row's `currency` (ISO 4217 numeric); periods are days of
//! the settlement calendar, ISO weeks (Monday to Sunday) and calendar months.

mod accounts;
pub mod calendar;
mod channel;
pub mod finance;
mod flow;
pub mod format;
mod payouts;
mod risk;
mod statement;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_finance;
#[cfg(test)]
mod tests_payouts;
#[cfg(test)]
mod tests_risk;

pub use calendar::{Period, PeriodKind, format_day, parse_day};
pub use channel::{ChannelMovements, ChannelStatement, SETTLED_NOTE, channel_statements};
pub use finance::{FinanceBy, FinanceReport, finance};
pub use flow::{Dim, FlowReport, FlowRow, Grouping, Measures, RuleHits, TxType, flow};
pub use payouts::{PayoutDim, PayoutMeasures, PayoutReport, PayoutRow, payouts};
pub use risk::{
    DayFigures, RiskBy, RiskReport, RiskTotals, RuleFigures, SCORE_BUCKETS, Truth, risk,
    score_bucket, truths,
};
pub use statement::{Balances, Movements, Party, Role, Statement, statements};

use sluice_node::flow::{ChannelSettlementRow, DiscrepancyRow};
use sluice_node::flow::{
    Day, LedgerTransfer, Order, PaymentResult, Payout, RefundResult, Reversal, RiskHit,
    RiskLabelRow, Row, Rows, SplitLine, Withdrawal,
};

use crate::{DayRange, FlowReader, StoreError};

/// The tables the reports read.
pub const REPORT_TABLES: &[&str] = &[
    Order::TABLE,
    PaymentResult::TABLE,
    SplitLine::TABLE,
    RefundResult::TABLE,
    Reversal::TABLE,
    Withdrawal::TABLE,
    LedgerTransfer::TABLE,
    RiskHit::TABLE,
    ChannelSettlementRow::TABLE,
    DiscrepancyRow::TABLE,
    Payout::TABLE,
    RiskLabelRow::TABLE,
];

/// Loads what the reports need. Balances are cumulative, so statements need every day up to
/// the last one shown: pass `DayRange { from: None, to }` for them. An empty store is an error
/// that says so.
pub fn load(reader: &mut dyn FlowReader, days: DayRange) -> Result<Rows, StoreError> {
    let rows = reader.load(REPORT_TABLES, days)?;
    if rows.is_empty() {
        let position = reader.position()?;
        return Err(StoreError::new(format!(
            "the store holds no rows in the days asked (its position: journal sequence {position}); \
             run `sluice export` first"
        )));
    }
    Ok(rows)
}

/// Every party with a split line or a ledger account in `rows`: merchants, promoters and the
/// platform, in that order and by id.
pub fn parties(rows: &Rows) -> Vec<Party> {
    let ledger = |name: &str| match name {
        "Merchant" => Some(Role::Merchant),
        "Promoter" => Some(Role::Promoter),
        "Platform" => Some(Role::Platform),
        _ => None,
    };
    let lines = rows
        .split_lines
        .iter()
        .filter_map(|l| Some((Role::of_line(&l.role)?, l.party_id)));
    let debits = rows
        .ledger_transfers
        .iter()
        .filter_map(|t| Some((ledger(&t.debit_role)?, t.debit_owner)));
    let credits = rows
        .ledger_transfers
        .iter()
        .filter_map(|t| Some((ledger(&t.credit_role)?, t.credit_owner)));
    let found: std::collections::BTreeSet<Party> = lines
        .chain(debits)
        .chain(credits)
        .map(|(role, id)| Party { role, id })
        .collect();
    found.into_iter().collect()
}

/// Every channel with a payment result, refund result or reversal in `rows`, by id.
pub fn channels(rows: &Rows) -> Vec<i32> {
    let found: std::collections::BTreeSet<i32> = rows
        .payment_results
        .iter()
        .map(|r| r.channel_id)
        .chain(rows.refund_results.iter().map(|r| r.channel_id))
        .chain(rows.reversals.iter().map(|r| r.channel_id))
        .filter(|&c| c != 0)
        .collect();
    found.into_iter().collect()
}

/// The periods of `kind` covering `days`, an open end being `first` or `last`.
fn periods(
    kind: PeriodKind,
    days: DayRange,
    first: Day,
    last: Day,
) -> Result<Vec<Period>, StoreError> {
    let (from, to) = (days.from.unwrap_or(first), days.to.unwrap_or(last));
    if from > to {
        return Err(StoreError::new(format!(
            "--from {} is after --to {}",
            format_day(from),
            format_day(to)
        )));
    }
    Ok(Period::covering(kind, from, to))
}

/// A sum as an `i64` (every balance is within the ledger's money limits).
fn minor_i64(sum: i128) -> Result<i64, StoreError> {
    i64::try_from(sum).map_err(|_| StoreError::new(format!("a balance of {sum} passes i64")))
}

/// Rows in memory as a [`FlowReader`] (tests, the console's tests): one home, `crate::memory`.
pub use crate::memory::MemoryReader;
