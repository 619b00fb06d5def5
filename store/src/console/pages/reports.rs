//! Reports as charts: volume, success rate and fees per channel per day.

use super::super::data::{ChannelDay, channel_days};
use super::super::html::{date, esc, money, percent, table};
use super::super::svg::{Series, bar_chart, line_chart};
use super::{Ctx, channel_label, store_error};
use sluice_node::flow::Day;
use std::collections::BTreeMap;

fn charts(
    out: &mut String,
    days: &BTreeMap<(Day, i32), ChannelDay>,
    labels: &dyn Fn(i32) -> String,
) {
    let mut all_days: Vec<Day> = days.keys().map(|(d, _)| *d).collect();
    all_days.dedup();
    let mut channels: Vec<i32> = days.keys().map(|(_, c)| *c).collect();
    channels.sort_unstable();
    channels.dedup();
    let categories: Vec<String> = all_days.iter().map(|d| date(d.0)).collect();
    let volume: Vec<(String, Vec<f64>)> = channels
        .iter()
        .map(|c| {
            let v = all_days
                .iter()
                .map(|d| {
                    days.get(&(*d, *c))
                        .map_or(0.0, |x| x.volume_minor as f64 / 100.0)
                })
                .collect();
            (labels(*c), v)
        })
        .collect();
    out.push_str(&bar_chart(
        "chart-volume",
        "Succeeded volume per channel per day (major units)",
        &categories,
        &volume,
        &|y| format!("{y:.0}"),
    ));
    let rate: Vec<Series> = channels
        .iter()
        .map(|c| Series {
            name: labels(*c),
            points: all_days
                .iter()
                .filter_map(|d| {
                    let x = days.get(&(*d, *c)).filter(|x| x.payments > 0)?;
                    Some((
                        f64::from(d.0),
                        x.succeeded as f64 * 100.0 / x.payments as f64,
                    ))
                })
                .collect(),
        })
        .collect();
    out.push_str(&line_chart(
        "chart-success",
        "Success rate per channel per day, %",
        &rate,
        &|x| date(x as i32),
        &|y| format!("{y:.0}%"),
    ));
}

pub fn render(ctx: &Ctx) -> String {
    let mut out = String::new();
    let rows = match ctx.data.load(&["payment_results"]) {
        Ok((rows, _)) => rows,
        Err(e) => {
            store_error(&mut out, &e);
            return out;
        }
    };
    let now = ctx.channels_now();
    let labels = |c: i32| channel_label(c, &now);
    let days = channel_days(&rows);
    if days.is_empty() {
        out.push_str("<p class=\"note\">No payments exported yet.</p>");
        return out;
    }
    charts(&mut out, &days, &labels);
    let table_rows: Vec<Vec<String>> = days
        .iter()
        .map(|((day, c), d)| {
            vec![
                date(day.0),
                esc(&labels(*c)),
                d.payments.to_string(),
                d.succeeded.to_string(),
                percent(d.succeeded, d.payments),
                percent(d.first_attempt_succeeded, d.payments),
                d.failovers.to_string(),
                money(d.volume_minor),
                money(d.fees_minor),
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
    ];
    table(&mut out, "report-channel-day", &headers, &table_rows);
    out.push_str("<p class=\"note\">The channel is where each payment ended (its last attempt). Amounts are summed across currencies in minor units / 100.</p>");
    out
}
