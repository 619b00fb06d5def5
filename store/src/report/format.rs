//! Output: an aligned text table people read (amounts in major units), CSV (minor units) and
//! JSON (the report structs as serde writes them).

use serde::Serialize;

use super::channel::ChannelStatement;
use super::flow::FlowReport;
use super::payouts::PayoutReport;
use super::risk::{RiskReport, RiskTotals, SCORE_BUCKETS};
use super::statement::Statement;
use crate::StoreError;

#[path = "format_finance.rs"]
mod finance;
pub use finance::{
    finance_days_table, finance_loans_table, finance_plans_table, finance_positions_table,
    finance_totals_table,
};

/// How to print a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Csv,
    Json,
}

impl Format {
    pub fn parse(text: &str) -> Result<Format, StoreError> {
        match text {
            "text" => Ok(Format::Text),
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            _ => Err(StoreError::new(format!(
                "--format `{text}`: expected text, csv or json"
            ))),
        }
    }
}

/// A cell: text, a count, or an amount in a currency's minor units.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Count(u64),
    Minor { amount: i64, currency: i32 },
    Rate(Option<f64>),
}

/// Rows under headers, before formatting.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

/// Decimal places of an ISO 4217 numeric currency (2 unless known otherwise).
pub fn exponent(currency: i32) -> u32 {
    match currency {
        // BIF, CLP, DJF, GNF, ISK, JPY, KMF, KRW, PYG, RWF, UGX, VND, VUV, XAF, XOF, XPF.
        108 | 152 | 262 | 324 | 352 | 392 | 174 | 410 | 600 | 646 | 800 | 704 | 548 | 950 | 952
        | 953 => 0,
        // BHD, IQD, JOD, KWD, LYD, OMR, TND.
        48 | 368 | 400 | 414 | 434 | 512 | 788 => 3,
        _ => 2,
    }
}

/// `amount` minor units as a decimal in major units: `-1234` in a 2-decimal currency is
/// `-12.34`.
pub fn major(amount: i64, currency: i32) -> String {
    let places = exponent(currency);
    if places == 0 {
        return amount.to_string();
    }
    let scale = 10u64.pow(places);
    let sign = if amount < 0 { "-" } else { "" };
    let abs = amount.unsigned_abs();
    format!(
        "{sign}{}.{:0width$}",
        abs / scale,
        abs % scale,
        width = places as usize
    )
}

impl Cell {
    pub(crate) fn text(&self) -> String {
        match self {
            Cell::Text(t) => t.clone(),
            Cell::Count(n) => n.to_string(),
            Cell::Minor { amount, currency } => major(*amount, *currency),
            Cell::Rate(Some(r)) => format!("{:.2}%", r * 100.0),
            Cell::Rate(None) => "-".to_owned(),
        }
    }

    fn csv(&self) -> String {
        match self {
            Cell::Text(t) => csv_field(t),
            Cell::Count(n) => n.to_string(),
            Cell::Minor { amount, .. } => amount.to_string(),
            Cell::Rate(Some(r)) => format!("{r:.6}"),
            Cell::Rate(None) => String::new(),
        }
    }
}

fn csv_field(t: &str) -> String {
    if t.contains([',', '"', '\n']) {
        format!("\"{}\"", t.replace('"', "\"\""))
    } else {
        t.to_owned()
    }
}

impl Table {
    /// Columns padded to their widest cell; text left, numbers right.
    pub fn to_text(&self) -> String {
        let cells: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| r.iter().map(Cell::text).collect())
            .collect();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &cells {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let mut out = String::new();
        let line = |texts: Vec<(String, bool)>| {
            let parts: Vec<String> = texts
                .iter()
                .zip(&widths)
                .map(|((t, left), &w)| {
                    if *left {
                        format!("{t:<w$}")
                    } else {
                        format!("{t:>w$}")
                    }
                })
                .collect();
            parts.join("  ").trim_end().to_owned() + "\n"
        };
        out += &line(self.headers.iter().map(|h| (h.clone(), true)).collect());
        for (row, texts) in self.rows.iter().zip(cells) {
            let left = row.iter().map(|c| matches!(c, Cell::Text(_)));
            out += &line(texts.into_iter().zip(left).collect());
        }
        out
    }

    /// A header line and one line per row; amounts in minor units.
    pub fn to_csv(&self) -> String {
        let mut out: String = self
            .headers
            .iter()
            .map(|h| csv_field(h))
            .collect::<Vec<_>>()
            .join(",");
        out.push('\n');
        for row in &self.rows {
            out += &row.iter().map(Cell::csv).collect::<Vec<_>>().join(",");
            out.push('\n');
        }
        out
    }
}

/// Prints `value` as `format`: text and CSV through `table`, JSON through serde.
pub fn render<T: Serialize + ?Sized>(
    value: &T,
    table: &Table,
    format: Format,
) -> Result<String, StoreError> {
    match format {
        Format::Text => Ok(table.to_text()),
        Format::Csv => Ok(table.to_csv()),
        Format::Json => serde_json::to_string_pretty(value)
            .map(|s| s + "\n")
            .map_err(|e| StoreError::new(format!("report: JSON: {e}"))),
    }
}

fn minor(amount: i64, currency: i32) -> Cell {
    Cell::Minor { amount, currency }
}

/// One line per statement: the columns before issue 22's first, in their order; then the
/// reserve and payout movements and balances. `opening` and `closing` are the party's whole
/// balance, refunds and payouts in flight included (`Balances::total_minor`).
pub fn statements_table(statements: &[Statement]) -> Table {
    Table {
        headers: STATEMENT_HEADERS.iter().map(|h| h.to_string()).collect(),
        rows: statements.iter().map(statement_cells).collect(),
    }
}

const STATEMENT_HEADERS: [&str; 30] = [
    "party",
    "currency",
    "period",
    "from",
    "to",
    "opening",
    "gross",
    "sales",
    "commission",
    "fees",
    "splits",
    "refunds",
    "settled",
    "frozen_in",
    "released",
    "withdrawn",
    "pending",
    "available",
    "frozen",
    "refunds_held",
    "closing",
    "reserve_held",
    "reserve_released",
    "payouts_requested",
    "payouts_paid",
    "payout_fees",
    "payouts_failed",
    "payouts_returned",
    "reserve",
    "payouts_held",
];

/// One statement's cells, in `STATEMENT_HEADERS` order.
fn statement_cells(s: &Statement) -> Vec<Cell> {
    let (m, c, cur) = (&s.movements, &s.closing, s.currency);
    let party = format!("{}:{}", s.party.role.name().to_lowercase(), s.party.id);
    let mut cells = vec![
        Cell::Text(party),
        Cell::Count(cur as u64),
        Cell::Text(s.period.label.clone()),
        Cell::Text(s.period.start.clone()),
        Cell::Text(s.period.end.clone()),
    ];
    let amounts = [
        s.opening.total_minor(),
        m.gross_minor,
        m.sales_minor,
        m.commission_minor,
        m.fees_minor,
        m.splits_minor,
        m.refunds_minor,
        m.settled_minor,
        m.frozen_minor,
        m.released_minor,
        m.withdrawn_minor,
        c.pending_minor,
        c.available_minor,
        c.frozen_minor,
        c.refunds_held_minor,
        c.total_minor(),
        m.reserve_held_minor,
        m.reserve_released_minor,
        m.payouts_requested_minor,
        m.payouts_paid_minor,
        m.payout_fees_minor,
        m.payouts_failed_minor,
        m.payouts_returned_minor,
        c.reserve_minor,
        c.payouts_held_minor,
    ];
    cells.extend(amounts.map(|a| minor(a, cur)));
    cells
}

/// One line per channel statement.
pub fn channel_statements_table(statements: &[ChannelStatement]) -> Table {
    let headers = [
        "channel",
        "currency",
        "period",
        "from",
        "to",
        "outstanding_opening",
        "captured",
        "refunded",
        "fees",
        "reversals",
        "reversed",
        "settled",
        "outstanding",
    ];
    let rows = statements
        .iter()
        .map(|s| {
            let (m, cur) = (&s.movements, s.currency);
            vec![
                Cell::Count(s.channel_id as u64),
                Cell::Count(cur as u64),
                Cell::Text(s.period.label.clone()),
                Cell::Text(s.period.start.clone()),
                Cell::Text(s.period.end.clone()),
                minor(s.outstanding_opening_minor, cur),
                minor(m.captured_minor, cur),
                minor(m.refunded_minor, cur),
                minor(m.fees_minor, cur),
                minor(m.reversals_minor, cur),
                minor(m.reversed_minor, cur),
                minor(m.settled_minor, cur),
                minor(s.outstanding_closing_minor, cur),
            ]
        })
        .collect();
    Table {
        headers: headers.iter().map(|h| h.to_string()).collect(),
        rows,
    }
}

/// Every flow measure's column name, in printing order.
pub const FLOW_MEASURES: &[&str] = &[
    "count",
    "succeeded",
    "volume",
    "success_rate_first_attempt",
    "success_rate",
    "failovers",
    "fees",
    "refunds",
    "refunds_amount",
    "risk",
];

/// One line per group; `measures` picks and orders the columns (empty = all). Amounts are
/// formatted in the group's currency when `currency` is a dimension, else with 2 decimals.
pub fn flow_table(report: &FlowReport, measures: &[String]) -> Result<Table, StoreError> {
    let chosen: Vec<&str> = if measures.is_empty() {
        FLOW_MEASURES.to_vec()
    } else {
        measures.iter().map(String::as_str).collect()
    };
    if let Some(bad) = chosen.iter().find(|m| !FLOW_MEASURES.contains(m)) {
        return Err(StoreError::new(format!(
            "--measures `{bad}`: unknown measure (expected {})",
            FLOW_MEASURES.join(", ")
        )));
    }
    let currency_at = report.dims.iter().position(|d| *d == super::Dim::Currency);
    let mut headers: Vec<String> = report.dims.iter().map(|d| d.name().to_owned()).collect();
    headers.extend(chosen.iter().map(|m| m.to_string()));
    let rows = report
        .rows
        .iter()
        .map(|row| {
            let cur = currency_at
                .and_then(|i| row.key[i].parse().ok())
                .unwrap_or(0);
            let mut cells: Vec<Cell> = row.key.iter().map(|k| Cell::Text(k.clone())).collect();
            cells.extend(chosen.iter().map(|m| flow_cell(&row.measures, m, cur)));
            cells
        })
        .collect();
    Ok(Table { headers, rows })
}

fn flow_cell(m: &super::Measures, name: &str, currency: i32) -> Cell {
    match name {
        "count" => Cell::Count(m.count),
        "succeeded" => Cell::Count(m.succeeded),
        "volume" => minor(m.volume_minor, currency),
        "success_rate_first_attempt" => Cell::Rate(m.success_rate_first_attempt),
        "success_rate" => Cell::Rate(m.success_rate),
        "failovers" => Cell::Count(m.failovers),
        "fees" => minor(m.fees_minor, currency),
        "refunds" => Cell::Count(m.refunds),
        "refunds_amount" => minor(m.refunds_minor, currency),
        _ => Cell::Text(
            m.risk
                .iter()
                .map(|h| {
                    format!(
                        "r{}:{}b/{}r/{}s",
                        h.rule_id, h.blocked, h.reviewed, h.shadow
                    )
                })
                .collect::<Vec<_>>()
                .join(" "),
        ),
    }
}

/// One line per payouts group; amounts in the group's currency when `currency` is a dimension,
/// else with 2 decimals.
pub fn payouts_table(report: &PayoutReport) -> Table {
    let currency_at = report
        .dims
        .iter()
        .position(|d| *d == super::PayoutDim::Currency);
    let mut headers: Vec<String> = report.dims.iter().map(|d| d.name().to_owned()).collect();
    headers.extend(["count", "amount", "fees"].map(String::from));
    let rows = report
        .rows
        .iter()
        .map(|row| {
            let cur = currency_at
                .and_then(|i| row.key[i].parse().ok())
                .unwrap_or(0);
            let mut cells: Vec<Cell> = row.key.iter().map(|k| Cell::Text(k.clone())).collect();
            cells.push(Cell::Count(row.measures.count));
            cells.push(minor(row.measures.amount_minor, cur));
            cells.push(minor(row.measures.fees_minor, cur));
            cells
        })
        .collect();
    Table { headers, rows }
}

/// The risk report a line per rule: hits, what they decided, labels, and the rates.
pub fn risk_rules_table(report: &RiskReport) -> Table {
    let headers = [
        "rule",
        "hits",
        "blocked",
        "reviewed",
        "shadow",
        "fraud",
        "good",
        "blocked_good",
        "precision",
        "false_positive_rate",
        "interception_rate",
    ];
    let rows = report
        .rules
        .iter()
        .map(|r| {
            vec![
                Cell::Text(r.rule_id.to_string()),
                Cell::Count(r.hits),
                Cell::Count(r.blocked),
                Cell::Count(r.reviewed),
                Cell::Count(r.shadow),
                Cell::Count(r.fraud),
                Cell::Count(r.good),
                Cell::Count(r.blocked_good),
                Cell::Rate(r.precision),
                Cell::Rate(r.false_positive_rate),
                Cell::Rate(r.interception_rate),
            ]
        })
        .collect();
    Table {
        headers: headers.map(String::from).to_vec(),
        rows,
    }
}

/// The name of score bucket `i`: `score_0_9`, …, `score_90_100`.
pub fn score_bucket_name(i: usize) -> String {
    let low = i * 10;
    let high = if i + 1 == SCORE_BUCKETS { 100 } else { low + 9 };
    format!("score_{low}_{high}")
}

fn totals_cells(t: &RiskTotals) -> Vec<Cell> {
    vec![
        Cell::Count(t.requested),
        Cell::Count(t.blocked),
        Cell::Count(t.reviewed),
        Cell::Count(t.fraud),
        Cell::Count(t.good),
        Cell::Count(t.blocked_good),
        Cell::Count(t.fraud_caught),
        Cell::Rate(t.interception_rate),
        Cell::Rate(t.false_positive_rate),
        Cell::Rate(t.fraud_caught_rate),
    ]
}

/// The risk report a line per day, with the score's distribution, and a last line `all`.
pub fn risk_days_table(report: &RiskReport) -> Table {
    let mut headers: Vec<String> = [
        "day",
        "requested",
        "blocked",
        "reviewed",
        "fraud",
        "good",
        "blocked_good",
        "fraud_caught",
        "interception_rate",
        "false_positive_rate",
        "fraud_caught_rate",
    ]
    .map(String::from)
    .to_vec();
    headers.extend((0..SCORE_BUCKETS).map(score_bucket_name));
    let mut rows: Vec<Vec<Cell>> = report
        .days
        .iter()
        .map(|d| {
            let mut cells = vec![Cell::Text(d.day.clone())];
            cells.extend(totals_cells(&d.totals));
            cells.extend(d.score_buckets.iter().map(|n| Cell::Count(*n)));
            cells
        })
        .collect();
    let mut all = vec![Cell::Text("all".into())];
    all.extend(totals_cells(&report.overall));
    for i in 0..SCORE_BUCKETS {
        all.push(Cell::Count(
            report.days.iter().map(|d| d.score_buckets[i]).sum(),
        ));
    }
    rows.push(all);
    Table { headers, rows }
}

/// One line of the overall figures, under the text table per rule.
pub fn risk_overall_line(t: &RiskTotals) -> String {
    let pct = |r: Option<f64>| Cell::Rate(r).text();
    format!(
        "overall: {} payment orders, {} blocked (interception {}), {} reviewed; labels: {} fraud, \
         {} good; false-positive rate {} ({} blocked orders labelled good); fraud caught {}\n",
        t.requested,
        t.blocked,
        pct(t.interception_rate),
        t.reviewed,
        t.fraud,
        t.good,
        pct(t.false_positive_rate),
        t.blocked_good,
        pct(t.fraud_caught_rate),
    )
}
