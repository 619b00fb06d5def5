//! A run's report (section 4): `discrepancies.csv`, `report.json` and `summary.txt` under
//! `DIR/<channel>/<YYYY-MM-DD>/`; the same text or JSON on stdout.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;
use sluice_bills::BillLine;
use sluice_node::flow::Day;

use super::batches::Batch;
use super::matcher::{Class, Discrepancy, Matched, Outcome, Resolved};
use super::state::{Payout, State, write_atomic};
use super::{Options, ReconError, Window};

/// `YYYY-MM-DD` of a day since 1970-01-01.
pub fn format_day(day: u32) -> String {
    crate::report::format_day(Day(i32::try_from(day).unwrap_or(i32::MAX)))
}

/// An event time as RFC 3339 UTC.
pub fn format_ns(ns: u64) -> String {
    sluice_node::time::format_ns(ns)
}

/// Count and signed amount of one class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ClassTotal {
    pub count: u64,
    pub amount_minor: i64,
}

/// A timing record carried to the next run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CarriedItem {
    pub key: String,
    pub order_id: u64,
    pub since_day: String,
    pub platform_seq: u64,
    pub platform_at_ns: u64,
    /// ISO 4217 numeric.
    pub currency: u16,
    /// What the platform booked: its effect on the receivable while it waits.
    pub net_minor: i64,
}

/// Everything a run found: `report.json` is this, serialized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub channel_id: i32,
    /// The bill day, `YYYY-MM-DD`.
    pub day: String,
    pub window_start_ns: u64,
    pub window_end_ns: u64,
    pub timing_tolerance_s: u64,
    pub timing_max_days: u32,
    pub bill_lines: u64,
    /// Σ net of the bill's rows.
    pub bill_net_minor: i64,
    pub matched: Matched,
    /// Per class (every class, zeros included), by name.
    pub classes: BTreeMap<&'static str, ClassTotal>,
    pub discrepancies_total: ClassTotal,
    pub batches: Vec<Batch>,
    pub timing_resolved: Vec<Resolved>,
    pub timing_carried: Vec<CarriedItem>,
    /// Rolling payouts still being filled after this run.
    pub payouts_open: Vec<Payout>,
    pub discrepancies: Vec<Discrepancy>,
}

impl Report {
    pub fn new(
        options: &Options,
        window: Window,
        lines: &[&BillLine],
        outcome: Outcome,
        batches: Vec<Batch>,
        next: &State,
    ) -> Report {
        let mut classes: BTreeMap<&'static str, ClassTotal> = Class::ALL
            .iter()
            .map(|c| (c.name(), ClassTotal::default()))
            .collect();
        let mut total = ClassTotal::default();
        for d in &outcome.discrepancies {
            for t in [classes.entry(d.class.name()).or_default(), &mut total] {
                t.count += 1;
                t.amount_minor += d.amount_minor;
            }
        }
        let timing_carried = outcome
            .carried
            .iter()
            .map(|c| CarriedItem {
                key: c.record.key.text(),
                order_id: c.record.order_id,
                since_day: format_day(c.since_day),
                platform_seq: c.record.seq,
                platform_at_ns: c.record.at_ns,
                currency: c.record.currency,
                net_minor: c.record.net_minor(),
            })
            .collect();
        Report {
            channel_id: options.channel_id,
            day: format_day(window.day),
            window_start_ns: window.start_ns,
            window_end_ns: window.end_ns,
            timing_tolerance_s: options.timing_tolerance_s,
            timing_max_days: options.timing_max_days,
            bill_lines: lines.len() as u64,
            bill_net_minor: lines.iter().map(|l| l.net_minor()).sum(),
            matched: outcome.matched,
            classes,
            discrepancies_total: total,
            batches,
            timing_resolved: outcome.resolved,
            timing_carried,
            payouts_open: next.payouts.clone(),
            discrepancies: outcome.discrepancies,
        }
    }

    /// The number of discrepancies of `class`.
    pub fn count(&self, class: Class) -> u64 {
        self.classes.get(class.name()).map_or(0, |t| t.count)
    }

    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report serializes (plain data)")
    }
}

/// The CSV columns of `discrepancies.csv`.
pub const CSV_COLUMNS: &str = "id,class,channel_id,order_id,attempt,refund_id,key,out_trade_no,\
channel_trade_no,line_no,platform_seq,platform_at_ns,currency,bill_amount_minor,bill_fee_minor,\
bill_status,platform_amount_minor,platform_fee_minor,platform_status,amount_minor,action";

/// `discrepancies.csv`: one row per discrepancy, amounts in minor units.
pub fn csv(report: &Report) -> String {
    let mut out = String::with_capacity(64 + report.discrepancies.len() * 160);
    out.push_str(CSV_COLUMNS);
    out.push('\n');
    let opt = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    for d in &report.discrepancies {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            d.id,
            d.class.name(),
            d.channel_id,
            d.order_id,
            d.attempt,
            d.refund_id,
            field(&d.key),
            field(&d.out_trade_no),
            field(&d.channel_trade_no),
            d.line_no,
            d.platform_seq,
            d.platform_at_ns,
            d.currency,
            opt(d.bill_amount_minor),
            opt(d.bill_fee_minor),
            d.bill_status.unwrap_or(""),
            opt(d.platform_amount_minor),
            opt(d.platform_fee_minor),
            d.platform_status.unwrap_or(""),
            d.amount_minor,
            field(d.action)
        );
    }
    out
}

/// A CSV cell: quoted when it holds a comma, a quote or a line break.
fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// `summary.txt`: per class count, amount and action; batches; carried items.
pub fn summary(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Reconciliation of channel {} for bill day {} ({} to {}, timing tolerance {} s)",
        report.channel_id,
        report.day,
        format_ns(report.window_start_ns),
        format_ns(report.window_end_ns),
        report.timing_tolerance_s
    );
    let m = &report.matched;
    let _ = writeln!(
        out,
        "Bill: {} rows, net {}; matched {} ({} exact); failed rows without a record {}; \
         matched ahead by the previous day {}\n",
        report.bill_lines,
        report.bill_net_minor,
        m.rows,
        m.exact,
        m.failed_ignored,
        m.ahead_skipped
    );
    let _ = writeln!(
        out,
        "{:<22} {:>8} {:>16}  action",
        "class", "count", "amount_minor"
    );
    for class in Class::ALL {
        let t = report
            .classes
            .get(class.name())
            .copied()
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<22} {:>8} {:>16}  {}",
            class.name(),
            t.count,
            t.amount_minor,
            if t.count > 0 { class.action() } else { "" }
        );
    }
    let t = report.discrepancies_total;
    let _ = writeln!(
        out,
        "{:<22} {:>8} {:>16}\n",
        "total", t.count, t.amount_minor
    );
    carried(report, &mut out);
    out
}

/// The summary's batches and carried items.
fn carried(report: &Report, out: &mut String) {
    let _ = writeln!(out, "Batches complete: {}", report.batches.len());
    for b in &report.batches {
        let _ = writeln!(
            out,
            "  {} currency {}: {} rows, paid {}, fee difference {}",
            b.batch_ref, b.currency, b.lines, b.paid_minor, b.fee_difference_minor
        );
    }
    for p in &report.payouts_open {
        let _ = writeln!(
            out,
            "  open payout {}: {} rows so far, net {}, paid out on {}",
            p.id,
            p.lines,
            p.net_minor,
            format_day(p.effective_day)
        );
    }
    let _ = writeln!(
        out,
        "\nTiming: {} resolved, {} carried to the next run",
        report.timing_resolved.len(),
        report.timing_carried.len()
    );
    for c in &report.timing_carried {
        let _ = writeln!(
            out,
            "  carried {} since {} (platform {}, net {})",
            c.key,
            c.since_day,
            format_ns(c.platform_at_ns),
            c.net_minor
        );
    }
}

/// Writes the three files into `day_dir` (each replaced atomically).
pub fn write(day_dir: &Path, report: &Report) -> Result<(), ReconError> {
    write_atomic(&day_dir.join("discrepancies.csv"), csv(report).as_bytes())?;
    write_atomic(&day_dir.join("report.json"), report.json().as_bytes())?;
    write_atomic(&day_dir.join("summary.txt"), summary(report).as_bytes())
}
