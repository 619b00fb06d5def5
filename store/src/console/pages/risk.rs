//! Risk: the interception rate (blocked / requested), hits per rule per day (enforced and
//! shadow), and the false-positive rate, which needs labels (issue 23) that do not exist yet.

use super::super::data::risk_figures;
use super::super::html::{date, percent, table};
use super::super::svg::{Series, line_chart};
use super::{Ctx, store_error};
use std::collections::BTreeMap;
use std::fmt::Write as _;

pub fn render(ctx: &Ctx) -> String {
    let mut out = String::new();
    let rows = match ctx.data.load(&["orders", "risk_hits"]) {
        Ok((rows, _)) => rows,
        Err(e) => {
            store_error(&mut out, &e);
            return out;
        }
    };
    let f = risk_figures(&rows);
    let _ = write!(
        out,
        "<div class=\"tiles\"><div class=\"tile\" id=\"interception-rate\">Interception rate \
         (blocked / requested)<b>{}</b>{} of {}</div><div class=\"tile\">Reviewed<b>{}</b>{} of {}</div>\
         <div class=\"tile\" id=\"false-positive-rate\">False-positive rate<b>no labels yet</b>\
         labels arrive with issue 23</div></div>",
        percent(f.blocked, f.requested),
        f.blocked,
        f.requested,
        percent(f.reviewed, f.requested),
        f.reviewed,
        f.requested
    );
    let mut per_rule: BTreeMap<(i32, bool), Vec<(f64, f64)>> = BTreeMap::new();
    for (&(day, rule, shadow), &n) in &f.hits {
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
    let table_rows: Vec<Vec<String>> = f
        .hits
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
        &mut out,
        "risk-hits",
        &["Day", "Rule", "Mode", "Hits"],
        &table_rows,
    );
    out
}
