//! Channels: an alert banner while any channel is out of rotation, each channel's health now and
//! its success rates, and the health timeline the exported `channel_health` rows tell
//! (Healthy → Open → Probing → Healthy).

use super::super::data::{channel_attempts, channel_days};
use super::super::html::{esc, percent, table, time_ns};
use super::super::live::ChannelNow;
use super::super::svg::{Band, timeline};
use super::{Ctx, channel_label, scrape_error, store_error};
use sluice_node::flow::{ChannelHealth, Row, Rows};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Each channel's state: live when the server answers, else the last change the store holds.
fn states(now: &[ChannelNow], rows: &Rows) -> BTreeMap<i32, (String, &'static str)> {
    let mut out = BTreeMap::new();
    for h in &rows.channel_health {
        out.insert(h.channel_id, (h.to_state.clone(), "store"));
    }
    for c in now {
        out.insert(c.channel_id, (c.state.clone(), "live"));
    }
    out
}

fn banner(out: &mut String, states: &BTreeMap<i32, (String, &'static str)>, now: &[ChannelNow]) {
    let down: Vec<String> = states
        .iter()
        .filter(|(_, (s, _))| s != "Healthy")
        .map(|(id, (s, _))| format!("{} is {s}", channel_label(*id, now)))
        .collect();
    if down.is_empty() {
        out.push_str("<p class=\"ok\" id=\"health-banner\">All channels healthy.</p>");
    } else {
        let _ = write!(
            out,
            "<p class=\"alert\" id=\"health-banner\">Unhealthy: {}</p>",
            esc(&down.join("; "))
        );
    }
}

fn summary(
    out: &mut String,
    states: &BTreeMap<i32, (String, &'static str)>,
    now: &[ChannelNow],
    rows: &Rows,
) {
    let attempts = channel_attempts(rows);
    let mut ended: BTreeMap<i32, (u64, u64)> = BTreeMap::new();
    for ((_, channel), d) in channel_days(rows) {
        let e = ended.entry(channel).or_default();
        e.0 += d.payments;
        e.1 += d.succeeded;
    }
    let mut ids: Vec<i32> = states.keys().copied().collect();
    ids.extend(attempts.keys().chain(ended.keys()));
    ids.sort_unstable();
    ids.dedup();
    let table_rows: Vec<Vec<String>> = ids
        .iter()
        .map(|id| {
            let (state, source) = states.get(id).cloned().unwrap_or(("Healthy".into(), "store"));
            let class = if state == "Healthy" { "good" } else { "bad" };
            let live = now.iter().find(|c| c.channel_id == *id);
            let (tried, ok) = attempts.get(id).copied().unwrap_or_default();
            let (paid, paid_ok) = ended.get(id).copied().unwrap_or_default();
            vec![
                esc(&channel_label(*id, now)),
                format!("<span class=\"{class}\" data-channel=\"{id}\">{}</span> <span class=\"note\">({source})</span>", esc(&state)),
                live.filter(|c| c.attempts > 0.0).map_or("–".into(), |c| {
                    format!("{:.1}%", c.recent_success_ratio * 100.0)
                }),
                tried.to_string(),
                percent(ok, tried),
                paid.to_string(),
                percent(paid_ok, paid),
            ]
        })
        .collect();
    let headers = [
        "Channel",
        "Health now",
        "Recent success (engine)",
        "Attempts (exported)",
        "Attempt success",
        "Payments ended here",
        "Payment success",
    ];
    table(out, "channels", &headers, &table_rows);
}

/// The timeline's bands: each channel's state between its changes, x in seconds.
fn bands(changes: &[ChannelHealth], now: &[ChannelNow]) -> Vec<Band> {
    let first = changes.iter().map(|h| h.at_ns).min().unwrap_or(0);
    let last = changes.iter().map(|h| h.at_ns).max().unwrap_or(0);
    let margin = ((last - first) / 10).max(1_000_000_000);
    let (start, end) = ((first - margin) as f64 / 1e9, (last + margin) as f64 / 1e9);
    let mut by_channel: BTreeMap<i32, Vec<&ChannelHealth>> = BTreeMap::new();
    for h in changes {
        by_channel.entry(h.channel_id).or_default().push(h);
    }
    let mut out = Vec::new();
    for (id, mut hs) in by_channel {
        hs.sort_by_key(|h| (h.seq, h.ordinal));
        let lane = channel_label(id, now);
        let mut from = start;
        for h in &hs {
            let at = h.at_ns as f64 / 1e9;
            out.push(Band {
                lane: lane.clone(),
                x0: from,
                x1: at,
                state: h.from_state.clone(),
            });
            from = at;
        }
        let state = hs.last().map(|h| h.to_state.clone()).unwrap_or_default();
        out.push(Band {
            lane,
            x0: from,
            x1: end,
            state,
        });
    }
    out
}

fn history(out: &mut String, changes: &[ChannelHealth], now: &[ChannelNow]) {
    let rows: Vec<Vec<String>> = changes
        .iter()
        .map(|h| {
            vec![
                esc(&time_ns(h.at_ns)),
                h.seq.to_string(),
                esc(&channel_label(h.channel_id, now)),
                format!("{} → {}", esc(&h.from_state), esc(&h.to_state)),
                format!("{:.1}", h.failure_level_milli as f64 / 1000.0),
                format!("{:.1}%", h.success_rate_ppm as f64 / 1e4),
            ]
        })
        .collect();
    let headers = [
        "Time (UTC)",
        "Sequence",
        "Channel",
        "Change",
        "Failure level",
        "Recent success",
    ];
    table(out, "health-history", &headers, &rows);
}

pub fn render(ctx: &Ctx) -> String {
    let mut out = String::new();
    let (_, last) = ctx.latest();
    scrape_error(&mut out, &last);
    let now = ctx.channels_now();
    let tables = [ChannelHealth::TABLE, "attempts", "payment_results"];
    let rows = match ctx.data.load(&tables) {
        Ok((rows, _)) => rows,
        Err(e) => {
            store_error(&mut out, &e);
            Default::default()
        }
    };
    let states = states(&now, &rows);
    banner(&mut out, &states, &now);
    summary(&mut out, &states, &now, &rows);
    let mut changes = rows.channel_health.clone();
    changes.sort_by_key(|h| (h.seq, h.ordinal));
    out.push_str("<h2>Health timeline</h2>");
    if changes.is_empty() {
        out.push_str("<p class=\"note\">No health changes exported yet.</p>");
    } else {
        let label = |x: f64| time_ns((x * 1e9) as i64);
        out.push_str(&timeline(
            "chart-health",
            "Health (green healthy, amber probing, red out of rotation)",
            &bands(&changes, &now),
            &label,
        ));
        history(&mut out, &changes, &now);
    }
    out
}
