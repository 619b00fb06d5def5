//! # Reconciliation (`sluice reconcile`, docs/RECONCILIATION.md sections 2–4)
//!
//! A channel's bill for one bill day against the flow store: the platform's records of the
//! channel in the day's window (plus the timing tolerance) are matched to the bill's rows by key,
//! every difference is classified, timing differences are carried to the next run, and the
//! settlement batches the bill completes are summed.
//!
//! - [`platform`]: the platform's side, loaded through any [`FlowReader`] for the window's days.
//! - [`matcher`]: the pure core — bill rows, platform records and the carried state in; the
//!   discrepancies, resolved timing and the next state out. No I/O, no clock.
//! - [`batches`]: settlement batches (Daily: one per bill day; Rolling: Stripe payouts).
//! - [`state`]: `DIR/<channel>/state.json`, replaced atomically, and the state before each day
//!   (so a `--rerun` is exact).
//! - [`report`]: `discrepancies.csv`, `report.json`, `summary.txt`.
//!
//! [`reconcile_day`] runs all of it for one channel and one bill day; [`reconcile`] is the same
//! without files (the state passed in, the next state returned).

pub mod batches;
pub mod coverage;
pub mod matcher;
pub mod platform;
pub mod report;
pub mod state;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};

use sluice_bills::{Bill, Format};

use crate::{FlowReader, StoreError};

pub use batches::{Batch, Settlement};
pub use matcher::{Class, Discrepancy, Matched, Outcome, Resolved};
pub use platform::{Key, Platform, Record};
pub use report::Report;
pub use state::State;

pub(crate) const NS_PER_MIN: u64 = 60 * 1_000_000_000;
pub(crate) const NS_PER_DAY: u64 = 1_440 * NS_PER_MIN;

/// What a run needs besides the bills and the store: the channel's settings and the run's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub channel_id: i32,
    /// The bill day, days since 1970-01-01 in the bill's time zone (None: the bills' own day).
    pub day: Option<u32>,
    /// The bill's time zone, minutes east of UTC (`bill_utc_offset_min`; +480 by default).
    pub bill_utc_offset_min: i32,
    /// Minutes after local midnight where the bill day ends (`bill_cutoff_min`; 0 by default).
    pub bill_cutoff_min: u32,
    /// `--timing-tolerance-s` (600 by default).
    pub timing_tolerance_s: u64,
    /// Bill days a timing carry may stay absent before it is missing on the channel (2).
    pub timing_max_days: u32,
    pub settlement: Settlement,
    /// Rolling: days after a payment is created that it becomes available (refunds at once).
    pub settlement_delay_days: u32,
    /// Reconcile a day already reconciled again, from the state as it was before that day.
    pub rerun: bool,
    /// The layout this channel's bills have (None: any): a bill of another layout is another
    /// channel's, and is refused.
    pub expected_format: Option<Format>,
    /// How far in event time the store is exported (`coverage::exported_through_ns`); None:
    /// judged from the latest row loaded, which a quiet store may not have.
    pub exported_through_ns: Option<u64>,
}

impl Options {
    /// The defaults of docs/RECONCILIATION.md for `channel_id`: +480, cutoff 0, 600 s, 2 days,
    /// Daily settlement.
    pub fn new(channel_id: i32) -> Options {
        Options {
            channel_id,
            day: None,
            bill_utc_offset_min: 480,
            bill_cutoff_min: 0,
            timing_tolerance_s: 600,
            timing_max_days: 2,
            settlement: Settlement::Daily,
            settlement_delay_days: 0,
            rerun: false,
            expected_format: None,
            exported_through_ns: None,
        }
    }

    pub fn tolerance_ns(&self) -> u64 {
        self.timing_tolerance_s.saturating_mul(1_000_000_000)
    }
}

/// Bill day `day` of a channel: `[start_ns, end_ns)` UTC (section 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub day: u32,
    pub start_ns: u64,
    pub end_ns: u64,
}

impl Window {
    /// Bill day D ends at `cutoff` minutes after local midnight starting D — or at the next
    /// midnight when the cutoff is 0 — and lasts a day: UnionPay's day D (cutoff 1380) is
    /// `[D−1 23:00, D 23:00)`, WeChat's (cutoff 0) `[D 00:00, D+1 00:00)`, local time; local =
    /// UTC + offset.
    pub fn of(day: u32, utc_offset_min: i32, cutoff_min: u32) -> Window {
        let cutoff = u16::try_from(cutoff_min.min(1_440)).expect("at most 1440");
        let (start_ns, end_ns) = sluice_bills::day_window(day, utc_offset_min, cutoff);
        Window {
            day,
            start_ns,
            end_ns,
        }
    }
}

/// Why a run failed; nothing was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconError(pub String);

impl fmt::Display for ReconError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ReconError {}

impl From<StoreError> for ReconError {
    fn from(e: StoreError) -> ReconError {
        ReconError(format!("flow store: {e}"))
    }
}

fn fail<T>(message: String) -> Result<T, ReconError> {
    Err(ReconError(message))
}

/// The bill day of `bills` (all the same), or `options.day`; every bill must be that day's and
/// not empty of sense (known currency is the parser's business).
pub fn bill_day(bills: &[Bill], options: &Options) -> Result<u32, ReconError> {
    let Some(first) = bills.first() else {
        return fail("no bill given".into());
    };
    if let Some(expected) = options.expected_format
        && let Some(other) = bills.iter().find(|b| b.format != expected)
    {
        return fail(format!(
            "a {} bill (account {}) given for channel {}, whose bills are {}: another channel's \
             bill?",
            other.format.name(),
            other.account,
            options.channel_id,
            expected.name()
        ));
    }
    let day = options.day.unwrap_or(first.day);
    if let Some(other) = bills.iter().find(|b| b.day != day) {
        return fail(format!(
            "a bill of {} given for the bill day {} (all bills of one run are one day's)",
            report::format_day(other.day),
            report::format_day(day)
        ));
    }
    Ok(day)
}

/// The settlement kind a format's channel uses unless configured: Stripe pays rolling payouts.
pub fn default_settlement(format: Format) -> (Settlement, u32) {
    match format {
        Format::Stripe => (Settlement::Rolling, 2),
        _ => (Settlement::Daily, 1),
    }
}

/// Reconciles one bill day without touching files: the bills against the platform records,
/// given the state carried from the previous run. Refuses a store that has not reached the
/// window's end plus the tolerance.
pub fn reconcile(
    reader: &mut dyn FlowReader,
    bills: &[Bill],
    options: &Options,
    carried: &State,
) -> Result<(Report, State), ReconError> {
    let day = bill_day(bills, options)?;
    let window = Window::of(day, options.bill_utc_offset_min, options.bill_cutoff_min);
    let tolerance_ns = options.tolerance_ns();
    let from_ns = window.start_ns.saturating_sub(tolerance_ns);
    let to_ns = window.end_ns.saturating_add(tolerance_ns);
    let platform = platform::load(reader, options.channel_id, from_ns, to_ns)?;
    let exported_ns = options
        .exported_through_ns
        .unwrap_or(platform.store_time_ns);
    if exported_ns < to_ns {
        return fail(format!(
            "the flow store is not exported far enough: its rows reach {} (position {}), the \
             window of {} needs rows up to {} (the day's end plus the {} s timing tolerance); \
             run `sluice export` first",
            report::format_ns(exported_ns),
            platform.position,
            report::format_day(day),
            report::format_ns(to_ns),
            options.timing_tolerance_s
        ));
    }
    let lines: Vec<&sluice_bills::BillLine> = bills.iter().flat_map(|b| &b.lines).collect();
    let mut outcome = matcher::classify(&lines, &platform.records, carried, window, options);
    let next = std::mem::take(&mut outcome.next);
    let (batches, next) = batches::complete(&lines, &outcome.discrepancies, window, options, next);
    let report = Report::new(options, window, &lines, outcome, batches, &next);
    Ok((report, next))
}

/// What [`reconcile_day`] wrote.
#[derive(Debug)]
pub struct Written {
    pub report: Report,
    /// `DIR/<channel>/<YYYY-MM-DD>/`.
    pub day_dir: PathBuf,
}

/// Reconciles one bill day with its files under `dir` (`DATA/reconcile` by default):
/// reads `dir/<channel>/state.json`, refuses a day already reconciled unless `options.rerun`,
/// writes the reports and the state before this day under `dir/<channel>/<day>/`, then replaces
/// the state. On any error nothing is written.
pub fn reconcile_day(
    reader: &mut dyn FlowReader,
    bills: &[Bill],
    options: &Options,
    dir: &Path,
) -> Result<Written, ReconError> {
    let day = bill_day(bills, options)?;
    let files = state::Files::new(dir, options.channel_id);
    let carried = files.state_before(day, options.rerun)?;
    let (report, next) = reconcile(reader, bills, options, &carried)?;
    let day_dir = files.day_dir(day);
    report::write(&day_dir, &report)?;
    files.save(day, &carried, &next)?;
    Ok(Written { report, day_dir })
}
