//! Reviews (issue 23): the review queue — payments accepted with the verdict Review that no
//! admin decided yet, oldest first, with their amount, deciding rule, score and age — and the
//! latest decided reviews with the decision, from the `reviews` rows (a row per change; an
//! order's latest row is where it stands). Read-only: decisions are `sluice admin review …`.

use super::super::html::{esc, money, table, time_ns};
use super::{Ctx, store_error};
use sluice_node::flow::ReviewRow;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Most recent decisions listed.
const DECIDED_MAX: usize = 50;

/// One order's review: when and why it was queued, and its decision if one came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Review<'a> {
    pub queued: &'a ReviewRow,
    pub decision: Option<&'a ReviewRow>,
}

/// Each order's review, by order id. A decision without its `Queued` row (a store that starts
/// after it was queued) stands for both.
pub fn reviews(rows: &[ReviewRow]) -> Vec<Review<'_>> {
    let mut by_order: BTreeMap<i64, Review<'_>> = BTreeMap::new();
    for r in rows {
        let queued = r.state == "Queued";
        let e = by_order.entry(r.order_id).or_insert(Review {
            queued: r,
            decision: None,
        });
        if queued {
            e.queued = r;
        } else if e
            .decision
            .is_none_or(|d| (r.seq, r.ordinal) > (d.seq, d.ordinal))
        {
            e.decision = Some(r);
        }
    }
    by_order.into_values().collect()
}

/// A duration in ns as people read an age: `45s`, `12m`, `3h 05m`, `2d 04h`.
pub fn age(ns: i64) -> String {
    let s = ns.max(0) / 1_000_000_000;
    match s {
        0..60 => format!("{s}s"),
        60..3_600 => format!("{}m", s / 60),
        3_600..86_400 => format!("{}h {:02}m", s / 3_600, s / 60 % 60),
        _ => format!("{}d {:02}h", s / 86_400, s / 3_600 % 24),
    }
}

fn cells(q: &ReviewRow) -> Vec<String> {
    vec![
        q.order_id.to_string(),
        q.merchant_id.to_string(),
        q.currency.to_string(),
        money(q.amount_minor),
        q.rule_id.to_string(),
        q.risk_score.to_string(),
    ]
}

pub fn render(ctx: &Ctx) -> String {
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    render_at(ctx, now_ns)
}

/// The page as of `now_ns` (the ages are measured to it).
pub fn render_at(ctx: &Ctx, now_ns: i64) -> String {
    let mut out = String::new();
    let rows = match ctx.data.load(&["reviews"]) {
        Ok((rows, _)) => rows,
        Err(e) => {
            store_error(&mut out, &e);
            return out;
        }
    };
    let all = reviews(&rows.reviews);
    let mut open: Vec<&Review> = all.iter().filter(|r| r.decision.is_none()).collect();
    open.sort_by_key(|r| (r.queued.at_ns, r.queued.order_id));
    let mut decided: Vec<(&Review, &ReviewRow)> =
        all.iter().filter_map(|r| Some((r, r.decision?))).collect();
    decided.sort_by_key(|(_, d)| std::cmp::Reverse((d.seq, d.ordinal)));
    let count = |state: &str| decided.iter().filter(|(_, d)| d.state == state).count();
    let _ = write!(
        out,
        "<div class=\"tiles\"><div class=\"tile\" id=\"reviews-open\">In the queue<b>{}</b>waiting \
         for a decision</div><div class=\"tile\">Approved<b>{}</b>labelled legitimate</div>\
         <div class=\"tile\">Refunded and blocked<b>{}</b>labelled fraud</div></div>",
        open.len(),
        count("Approve"),
        count("RefundAndBlock"),
    );
    out.push_str("<h2>Review queue (oldest first)</h2>");
    let open_rows: Vec<Vec<String>> = open
        .iter()
        .map(|r| {
            let mut row = cells(r.queued);
            row.push(time_ns(r.queued.at_ns));
            row.push(age(now_ns - r.queued.at_ns));
            row
        })
        .collect();
    if open_rows.is_empty() {
        out.push_str("<p class=\"note\">No payment waits for review.</p>");
    }
    let mut headers = vec!["Order", "Merchant", "Currency", "Amount", "Rule", "Score"];
    headers.extend(["Queued", "Age"]);
    table(&mut out, "reviews-queue", &headers, &open_rows);
    let _ = write!(out, "<h2>Decided (latest {DECIDED_MAX})</h2>");
    let decided_rows: Vec<Vec<String>> = decided
        .iter()
        .take(DECIDED_MAX)
        .map(|(r, d)| {
            let mut row = cells(r.queued);
            row.push(esc(&d.state));
            row.push(time_ns(r.queued.at_ns));
            row.push(time_ns(d.at_ns));
            row
        })
        .collect();
    headers.truncate(6);
    headers.extend(["Decision", "Queued", "Decided"]);
    table(&mut out, "reviews-decided", &headers, &decided_rows);
    out
}
