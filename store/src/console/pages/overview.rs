//! Overview: throughput and latency now and over the last minutes (from the scrapes), the
//! pipeline's durable position, and how far the exported flow is behind it.

use super::super::html::{esc, time_ns};
use super::super::live::{Reading, rates};
use super::super::svg::{Series, line_chart};
use super::{Ctx, scrape_error, store_error};
use std::fmt::Write as _;

fn tile(out: &mut String, id: &str, label: &str, value: &str) {
    let _ = write!(
        out,
        "<div class=\"tile\" id=\"{id}\">{}<b>{}</b></div>",
        esc(label),
        esc(value)
    );
}

fn ms(seconds: f64) -> String {
    format!("{:.3} ms", seconds * 1e3)
}

/// The throughput and latency series over the readings, x in seconds since the epoch.
fn series(readings: &[Reading]) -> (Vec<Series>, Vec<Series>) {
    let mut rate = Series {
        name: "payments/s".into(),
        points: Vec::new(),
    };
    let names = ["p50", "p99", "p99.9"];
    let mut latency: Vec<Series> = names
        .iter()
        .map(|n| Series {
            name: (*n).into(),
            points: Vec::new(),
        })
        .collect();
    for pair in readings.windows(2) {
        if let Some((per_sec, lat)) = rates(&pair[0], &pair[1]) {
            rate.points.push((pair[1].at_secs, per_sec));
            for (s, v) in latency.iter_mut().zip(lat.unwrap_or_default()) {
                if lat.is_some() {
                    s.points.push((pair[1].at_secs, v * 1e3));
                }
            }
        }
    }
    (vec![rate], latency)
}

fn clock(secs: f64) -> String {
    let t = time_ns((secs * 1e9) as i64);
    t.get(11..19).unwrap_or(&t).to_string()
}

/// The tiles' window: the latest good reading and the oldest good one at most
/// [`WINDOW_SECS`] before it.
fn window(readings: &[Reading]) -> Option<(&Reading, &Reading)> {
    let good: Vec<&Reading> = readings.iter().filter(|r| r.error.is_none()).collect();
    let last = *good.last()?;
    let first = good
        .iter()
        .find(|r| last.at_secs - r.at_secs <= WINDOW_SECS)
        .copied()?;
    (first.at_secs < last.at_secs).then_some((first, last))
}

/// How far back the tiles' throughput and latency reach.
const WINDOW_SECS: f64 = 30.0;

fn tiles(out: &mut String, ctx: &Ctx, readings: &[Reading], good: &Option<Reading>) {
    out.push_str("<div class=\"tiles\">");
    let now = window(readings).and_then(|(a, b)| rates(a, b));
    let rate = now.map_or("–".into(), |(r, _)| format!("{r:.1}"));
    tile(out, "tile-throughput", "Payments/s (last 30 s)", &rate);
    let lat = now.and_then(|(_, l)| l);
    for (i, name) in ["p50", "p99", "p99.9"].iter().enumerate() {
        let v = lat.map_or("–".into(), |l| ms(l[i]));
        tile(
            out,
            &format!("tile-latency-{i}"),
            &format!("Ack latency {name} (30 s)"),
            &v,
        );
    }
    let durable = good.as_ref().map(|r| r.durable_seq as u64);
    tile(
        out,
        "tile-durable",
        "Durable sequence",
        &durable.map_or("–".into(), |d| d.to_string()),
    );
    match ctx.data.position() {
        Ok(position) => {
            tile(
                out,
                "tile-export-position",
                "Exported through",
                &position.to_string(),
            );
            let lag = durable.map_or("–".into(), |d| d.saturating_sub(position).to_string());
            tile(out, "tile-export-lag", "Export lag (inputs)", &lag);
        }
        Err(e) => tile(out, "tile-export-position", "Exported through", &e.0),
    }
    if let Some(lag) = good.as_ref().and_then(|r| r.exporter_lag_inputs) {
        tile(
            out,
            "tile-exporter-follower",
            "In-process exporter lag",
            &format!("{lag}"),
        );
    }
    let down = good.as_ref().map_or(0, |r| {
        r.channels.iter().filter(|c| c.state != "Healthy").count()
    });
    tile(
        out,
        "tile-unhealthy",
        "Channels out of rotation",
        &down.to_string(),
    );
    out.push_str("</div>");
}

pub fn render(ctx: &Ctx) -> String {
    let mut out = String::new();
    let readings = ctx.live.readings();
    let (good, last) = ctx.latest();
    scrape_error(&mut out, &last);
    if let Err(e) = ctx.data.position() {
        store_error(&mut out, &e);
    }
    tiles(&mut out, ctx, &readings, &good);
    let (rate, latency) = series(&readings);
    out.push_str("<h2>Throughput</h2>");
    out.push_str(&line_chart(
        "chart-throughput",
        "Payment requests per second",
        &rate,
        &clock,
        &|y| format!("{y:.0}"),
    ));
    out.push_str("<h2>Latency</h2>");
    out.push_str(&line_chart(
        "chart-latency",
        "Ack latency, ms (each scrape interval)",
        &latency,
        &clock,
        &|y| format!("{y:.2}"),
    ));
    out.push_str("<p class=\"note\">Scraped every few seconds from the server's metrics endpoint; this page reloads itself.</p>");
    out
}
