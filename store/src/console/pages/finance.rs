//! Finance (issue 24; docs/STORE.md section 7): the financial extension's positions now (yield
//! holdings, installment plans, merchant loans), the accruals per business day (a chart and a
//! table), the installment schedules and loans, and the totals per product that add up. The
//! figures and the tables are the report API's (`report::finance` and its `format` tables):
//! `sluice report finance` prints the same.

use super::super::html::{esc, table};
use super::super::svg::{Series, line_chart};
use super::{Ctx, store_error};
use crate::DayRange;
use crate::report::format::{
    self, Table, finance_days_table, finance_loans_table, finance_plans_table,
    finance_positions_table, finance_totals_table,
};
use crate::report::{self, FinanceReport, parse_day};
use std::collections::BTreeMap;
use std::fmt::Write as _;

pub fn render(ctx: &Ctx) -> String {
    let mut out = String::new();
    let rows = match ctx.data.load(&["finance_events"]) {
        Ok((rows, _)) => rows,
        Err(e) => {
            store_error(&mut out, &e);
            return out;
        }
    };
    let r = report::finance(&rows, DayRange::default());
    tiles(&mut out, &r);
    out.push_str("<h2>Positions now</h2>");
    report_table(&mut out, "finance-positions", &finance_positions_table(&r));
    out.push_str("<h2>Accruals per business day</h2>");
    out.push_str(&accruals_chart(&r));
    report_table(&mut out, "finance-accruals", &finance_days_table(&r));
    out.push_str("<h2>Installment schedules</h2>");
    report_table(&mut out, "finance-installments", &finance_plans_table(&r));
    out.push_str("<h2>Merchant loans</h2>");
    report_table(&mut out, "finance-loans", &finance_loans_table(&r));
    out.push_str("<h2>Totals per product</h2>");
    report_table(&mut out, "finance-totals", &finance_totals_table(&r));
    out
}

/// A tile per product and currency: its positions' sum and accrued.
fn tiles(out: &mut String, r: &FinanceReport) {
    let as_of = r.as_of.as_deref().unwrap_or("no finance rows yet");
    let _ = write!(
        out,
        "<p class=\"note\">As of {}.</p><div class=\"tiles\">",
        esc(as_of)
    );
    for t in &r.totals {
        let _ = write!(
            out,
            "<div class=\"tile\" id=\"finance-{}-{}\">{} ({})<b>{}</b>{} positions, {} accrued</div>",
            esc(&t.product.to_lowercase()),
            t.currency,
            esc(&t.product),
            t.currency,
            format::major(t.position_minor, t.currency),
            t.positions,
            format::major(t.accrued_minor, t.currency),
        );
    }
    out.push_str("</div>");
}

/// A report table as the console draws tables: `first_day` is headed `First day`.
fn report_table(out: &mut String, id: &str, t: &Table) {
    let headers: Vec<String> = t
        .headers
        .iter()
        .map(|h| {
            let spaced = h.replace('_', " ");
            let mut c = spaced.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    let rows: Vec<Vec<String>> = t
        .rows
        .iter()
        .map(|r| r.iter().map(|c| esc(&c.text())).collect())
        .collect();
    table(out, id, &headers, &rows);
}

/// A line per accrual and currency over the business days, in major units.
fn accruals_chart(r: &FinanceReport) -> String {
    let mut lines: BTreeMap<(&str, i32), Vec<(f64, f64)>> = BTreeMap::new();
    for d in &r.accruals {
        let Ok(day) = parse_day(&d.day, "day") else {
            continue;
        };
        let a = &d.accruals;
        let scale = 10f64.powi(format::exponent(d.currency) as i32);
        for (name, minor) in [
            ("yield accrued", a.yield_accrued_minor),
            ("installment interest", a.installment_interest_minor),
            ("installment fees", a.installment_fees_minor),
            ("loan interest", a.loan_interest_minor),
        ] {
            if minor != 0 {
                let points = lines.entry((name, d.currency)).or_default();
                points.push((f64::from(day.0), minor as f64 / scale));
            }
        }
    }
    let series: Vec<Series> = lines
        .into_iter()
        .map(|((name, currency), points)| Series {
            name: format!("{name} ({currency})"),
            points,
        })
        .collect();
    line_chart(
        "chart-finance-accruals",
        "Accrued per business day (major units)",
        &series,
        &|x| super::super::html::date(x as i32),
        &|y| format!("{y:.2}"),
    )
}
