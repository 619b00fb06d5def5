//! Risk: the interception rate (blocked / requested), the false-positive rate and fraud caught
//! (from labels, issue 23), each rule's precision, false-positive and interception rates, hits
//! per rule per day (enforced and shadow), and the risk score's distribution per day. The
//! figures are the report API's (`report::risk`): `sluice report risk` prints the same.

use super::super::data::risk_figures;
use super::super::html::{date, esc, percent, table};
use super::super::svg::{SCORE_COLORS, Series, line_chart, stacked_bar_chart};
use super::{Ctx, store_error};
use crate::DayRange;
use crate::report::format::score_bucket_name;
use crate::report::{self, RiskReport, SCORE_BUCKETS};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A rate as a percentage with one decimal, or `–` without a denominator.
fn pct(rate: Option<f64>) -> String {
    rate.map_or_else(|| "–".to_string(), |r| format!("{:.1}%", r * 100.0))
}

pub fn render(ctx: &Ctx) -> String {
    let mut out = String::new();
    let rows = match ctx.data.load(&["orders", "risk_hits", "risk_labels"]) {
        Ok((rows, _)) => rows,
        Err(e) => {
            store_error(&mut out, &e);
            return out;
        }
    };
    let r = report::risk(&rows, DayRange::default());
    tiles(&mut out, &r);
    rules(&mut out, &r);
    hits_per_day(&mut out, &risk_figures(&rows).hits);
    score_distribution(&mut out, &r);
    out
}

fn tiles(out: &mut String, r: &RiskReport) {
    let o = &r.overall;
    let labels = if o.fraud + o.good == 0 {
        "no labels yet".to_string()
    } else {
        format!("{} blocked labelled good", o.blocked_good)
    };
    let _ = write!(
        out,
        "<div class=\"tiles\"><div class=\"tile\" id=\"interception-rate\">Interception rate \
         (blocked / requested)<b>{}</b>{} of {}</div><div class=\"tile\">Reviewed<b>{}</b>{} of {}</div>\
         <div class=\"tile\" id=\"false-positive-rate\">False-positive rate (labelled good / blocked)\
         <b>{}</b>{}</div><div class=\"tile\" id=\"fraud-caught\">Fraud caught (blocked or reviewed)\
         <b>{}</b>{} of {} labelled fraud</div></div>",
        pct(o.interception_rate),
        o.blocked,
        o.requested,
        percent(o.reviewed, o.requested),
        o.reviewed,
        o.requested,
        pct(o.false_positive_rate),
        esc(&labels),
        pct(o.fraud_caught_rate),
        o.fraud_caught,
        o.fraud,
    );
}

fn rules(out: &mut String, r: &RiskReport) {
    out.push_str("<h2>Rules</h2>");
    let rows: Vec<Vec<String>> = r
        .rules
        .iter()
        .map(|x| {
            vec![
                x.rule_id.to_string(),
                x.hits.to_string(),
                x.blocked.to_string(),
                x.reviewed.to_string(),
                x.shadow.to_string(),
                x.fraud.to_string(),
                x.good.to_string(),
                pct(x.precision),
                pct(x.false_positive_rate),
                pct(x.interception_rate),
            ]
        })
        .collect();
    table(
        out,
        "risk-rules",
        &[
            "Rule",
            "Hits",
            "Blocked",
            "Reviewed",
            "Shadow",
            "Labelled fraud",
            "Labelled good",
            "Precision",
            "False-positive rate",
            "Interception rate",
        ],
        &rows,
    );
}

fn hits_per_day(out: &mut String, hits: &BTreeMap<(sluice_node::flow::Day, i32, bool), u64>) {
    let mut per_rule: BTreeMap<(i32, bool), Vec<(f64, f64)>> = BTreeMap::new();
    for (&(day, rule, shadow), &n) in hits {
        per_rule
            .entry((rule, shadow))
            .or_default()
            .push((f64::from(day.0), n as f64));
    }
    let series: Vec<Series> = per_rule
        .iter()
        .map(|(&(rule, shadow), points)| Series {
            name: format!("rule {rule}{}", if shadow { " (shadow)" } else { "" }),
            points: points.clone(),
        })
        .collect();
    out.push_str("<h2>Hits per rule per day</h2>");
    out.push_str(&line_chart(
        "chart-risk-hits",
        "Risk rule hits per day",
        &series,
        &|x| date(x as i32),
        &|y| format!("{y:.0}"),
    ));
    let table_rows: Vec<Vec<String>> = hits
        .iter()
        .map(|(&(day, rule, shadow), n)| {
            vec![
                date(day.0),
                rule.to_string(),
                if shadow { "shadow" } else { "enforced" }.into(),
                n.to_string(),
            ]
        })
        .collect();
    table(
        out,
        "risk-hits",
        &["Day", "Rule", "Mode", "Hits"],
        &table_rows,
    );
}

fn score_distribution(out: &mut String, r: &RiskReport) {
    out.push_str("<h2>Risk score distribution per day</h2>");
    let days: Vec<String> = r.days.iter().map(|d| d.day.clone()).collect();
    let series: Vec<(String, Vec<f64>)> = (0..SCORE_BUCKETS)
        .map(|i| {
            let low = i * 10;
            let name = if i + 1 == SCORE_BUCKETS {
                format!("{low}–100")
            } else {
                format!("{low}–{}", low + 9)
            };
            (
                name,
                r.days.iter().map(|d| d.score_buckets[i] as f64).collect(),
            )
        })
        .collect();
    out.push_str(&stacked_bar_chart(
        "chart-risk-scores",
        "Payment orders per risk score bucket per day",
        &days,
        &series,
        &SCORE_COLORS,
        &|y| format!("{y:.0}"),
    ));
    let mut headers = vec!["Day".to_string()];
    headers.extend((0..SCORE_BUCKETS).map(score_bucket_name));
    let rows: Vec<Vec<String>> = r
        .days
        .iter()
        .map(|d| {
            let mut row = vec![esc(&d.day)];
            row.extend(d.score_buckets.iter().map(u64::to_string));
            row
        })
        .collect();
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    table(out, "risk-scores", &headers, &rows);
}
