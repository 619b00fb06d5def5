//! Reports as charts: the report API's flow report (`crate::report::flow`, the same numbers as
//! `sluice report flow --by day,channel`) drawn as volume bars and success-rate lines per channel
//! per day, and its table.

use super::super::html::{esc, money, table};
use super::super::svg::{Series, bar_chart, line_chart};
use super::{Ctx, channel_label, store_error};
use crate::report::{Dim, FlowReport, Grouping, REPORT_TABLES, flow};
use std::collections::BTreeMap;

/// Per (day label, channel id): the measures' row index.
fn cells(report: &FlowReport) -> BTreeMap<(String, i32), usize> {
    let mut out = BTreeMap::new();
    for (i, row) in report.rows.iter().enumerate() {
        if let [day, channel] = &row.key[..] {
            out.insert((day.clone(), channel.parse().unwrap_or(0)), i);
        }
    }
    out
}

fn charts(out: &mut String, report: &FlowReport, labels: &dyn Fn(i32) -> String) {
    let cells = cells(report);
    let mut days: Vec<String> = cells.keys().map(|(d, _)| d.clone()).collect();
    days.dedup();
    let mut channels: Vec<i32> = cells.keys().map(|(_, c)| *c).collect();
    channels.sort_unstable();
    channels.dedup();
    let measure = |d: &String, c: i32| {
        cells
            .get(&(d.clone(), c))
            .map(|&i| &report.rows[i].measures)
    };
    let volume: Vec<(String, Vec<f64>)> = channels
        .iter()
        .map(|&c| {
            let v = days
                .iter()
                .map(|d| measure(d, c).map_or(0.0, |m| m.volume_minor as f64 / 100.0));
            (labels(c), v.collect())
        })
        .collect();
    out.push_str(&bar_chart(
        "chart-volume",
        "Succeeded volume per channel per day (major units)",
        &days,
        &volume,
        &|y| format!("{y:.0}"),
    ));
    let rate: Vec<Series> = channels
        .iter()
        .map(|&c| Series {
            name: labels(c),
            points: (days.iter().enumerate())
                .filter_map(|(i, d)| Some((i as f64, measure(d, c)?.success_rate? * 100.0)))
                .collect(),
        })
        .collect();
    let day_of = |x: f64| days.get(x.round() as usize).cloned().unwrap_or_default();
    out.push_str(&line_chart(
        "chart-success",
        "Success rate per channel per day, %",
        &rate,
        &day_of,
        &|y| format!("{y:.0}%"),
    ));
}

fn rate(r: Option<f64>) -> String {
    r.map_or("–".into(), |r| format!("{:.1}%", r * 100.0))
}

pub fn render(ctx: &Ctx) -> String {
    let mut out = String::new();
    let report = ctx
        .data
        .load(REPORT_TABLES)
        .and_then(|(rows, _)| flow(&rows, &Grouping::by(vec![Dim::Day, Dim::Channel])));
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            store_error(&mut out, &e);
            return out;
        }
    };
    let now = ctx.channels_now();
    let labels = |c: i32| channel_label(c, &now);
    if report.rows.is_empty() {
        out.push_str("<p class=\"note\">No payments exported yet.</p>");
        return out;
    }
    charts(&mut out, &report, &labels);
    let table_rows: Vec<Vec<String>> = report
        .rows
        .iter()
        .map(|r| {
            let m = &r.measures;
            let channel = r.key.get(1).and_then(|c| c.parse().ok()).unwrap_or(0);
            vec![
                esc(r.key.first().map_or("", String::as_str)),
                esc(&labels(channel)),
                m.count.to_string(),
                m.succeeded.to_string(),
                rate(m.success_rate),
                rate(m.success_rate_first_attempt),
                m.failovers.to_string(),
                money(m.volume_minor),
                money(m.fees_minor),
                money(m.refunds_minor),
            ]
        })
        .collect();
    let headers = [
        "Day",
        "Channel",
        "Payments",
        "Succeeded",
        "Success rate",
        "First-attempt success",
        "Failovers",
        "Volume",
        "Fees",
        "Refunded",
    ];
    table(&mut out, "report-channel-day", &headers, &table_rows);
    out.push_str("<p class=\"note\">From the report API: the same figures as <code>sluice report flow --by day,channel</code>. Amounts are minor units / 100, summed across currencies.</p>");
    out
}
