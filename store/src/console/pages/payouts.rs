//! Payouts (docs/PAYOUTS.md, section 4): the review queue (payouts waiting for an admin's
//! PayoutReview, oldest first), payouts at a payout channel, and the recent payouts with the
//! state each is in now, from the `payouts` rows (a row per state change).

use super::super::html::{esc, money, table, time_ns};
use super::{Ctx, store_error};
use sluice_node::flow::Payout;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Most recent payouts listed.
const RECENT_MAX: usize = 50;

/// Each payout's latest change and when it was asked (its first change), by payout id.
pub fn latest(rows: &[Payout]) -> Vec<(&Payout, i64)> {
    let mut by_id: BTreeMap<i64, (&Payout, i64)> = BTreeMap::new();
    for p in rows {
        by_id
            .entry(p.payout_id)
            .and_modify(|(last, _)| {
                if (p.seq, p.ordinal) > (last.seq, last.ordinal) {
                    *last = p;
                }
            })
            .or_insert((p, p.at_ns));
    }
    by_id.into_values().collect()
}

fn row(p: &Payout, asked_ns: i64) -> Vec<String> {
    vec![
        p.payout_id.to_string(),
        format!("{} {}", esc(&p.party_kind), p.party_id),
        p.currency.to_string(),
        money(p.amount_minor),
        money(p.fee_minor),
        esc(&p.state),
        if p.reason == "None" {
            String::new()
        } else {
            esc(&p.reason)
        },
        p.channel_id.to_string(),
        if p.automatic { "automatic" } else { "asked" }.into(),
        time_ns(asked_ns),
        time_ns(p.at_ns),
    ]
}

const HEADERS: [&str; 11] = [
    "Payout",
    "Party",
    "Currency",
    "Amount",
    "Fee",
    "State",
    "Reason",
    "Channel",
    "How",
    "Asked",
    "Last change",
];

pub fn render(ctx: &Ctx) -> String {
    let mut out = String::new();
    let rows = match ctx.data.load(&["payouts"]) {
        Ok((rows, _)) => rows,
        Err(e) => {
            store_error(&mut out, &e);
            return out;
        }
    };
    let mut all = latest(&rows.payouts);
    let in_state = |state: &str| -> Vec<Vec<String>> {
        let mut found: Vec<&(&Payout, i64)> =
            all.iter().filter(|(p, _)| p.state == state).collect();
        found.sort_by_key(|(_, asked)| *asked);
        found.into_iter().map(|(p, asked)| row(p, *asked)).collect()
    };
    let (review, sent) = (in_state("Review"), in_state("Sent"));
    let count = |state: &str| all.iter().filter(|(p, _)| p.state == state).count();
    let _ = write!(
        out,
        "<div class=\"tiles\"><div class=\"tile\" id=\"review-queue\">In review<b>{}</b>waiting \
         for PayoutReview</div><div class=\"tile\">At a payout channel<b>{}</b>sent, not yet \
         answered</div><div class=\"tile\">Paid<b>{}</b>returned since: {}</div>\
         <div class=\"tile\">Failed<b>{}</b>failed or rejected</div></div>",
        review.len(),
        sent.len(),
        count("Paid"),
        count("Returned"),
        count("Failed"),
    );
    out.push_str("<h2>Review queue</h2>");
    if review.is_empty() {
        out.push_str("<p class=\"note\">No payout waits for review.</p>");
    } else {
        table(&mut out, "payouts-review", &HEADERS, &review);
    }
    out.push_str("<h2>At a payout channel</h2>");
    table(&mut out, "payouts-sent", &HEADERS, &sent);
    all.sort_by_key(|(p, _)| std::cmp::Reverse((p.seq, p.ordinal)));
    let recent: Vec<Vec<String>> = all
        .iter()
        .take(RECENT_MAX)
        .map(|(p, asked)| row(p, *asked))
        .collect();
    let _ = write!(out, "<h2>Recent payouts (latest {RECENT_MAX})</h2>");
    table(&mut out, "payouts-recent", &HEADERS, &recent);
    out
}
