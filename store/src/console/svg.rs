//! Server-side SVG charts: a line chart (time series), a grouped bar chart, a stacked bar chart
//! (a distribution per day) and a state timeline.
//! Chosen over a vendored JavaScript library because the pages are server-rendered anyway: the
//! charts need no script, no asset route and no third-party license, render in any browser
//! (and in a screenshot) at once, and are tested here like any other function. Every label goes
//! through `esc`.

use super::html::esc;
use std::fmt::Write as _;

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 150.0;
const TOP: f64 = 24.0;
const BOTTOM: f64 = 28.0;
/// Series colors, in order (a colour-blind-safe palette).
const COLORS: &[&str] = &[
    "#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000", "#f0e442",
];

/// One named series of (x, y) points, x ascending.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

fn color(i: usize) -> &'static str {
    COLORS[i % COLORS.len()]
}

/// The frame: an `<svg>` with a title, y grid lines labelled by `y_label`, and the legend.
fn frame(out: &mut String, id: &str, title: &str, y_max: f64, y_label: &dyn Fn(f64) -> String) {
    let _ = write!(
        out,
        "<svg class=\"chart\" id=\"{}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" width=\"{WIDTH}\" \
         height=\"{HEIGHT}\" role=\"img\" font-family=\"sans-serif\" font-size=\"11\">\
         <title>{t}</title><text x=\"{LEFT}\" y=\"15\" font-weight=\"bold\">{t}</text>",
        esc(id),
        t = esc(title)
    );
    // Five divisions: a 1, 2 or 5 × 10^n bound divides into round steps.
    for i in 0..=5 {
        let v = y_max * f64::from(i) / 5.0;
        let y = TOP + (HEIGHT - TOP - BOTTOM) * (1.0 - f64::from(i) / 5.0);
        let _ = write!(
            out,
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#e3e6ea\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            WIDTH - RIGHT,
            LEFT - 4.0,
            y + 4.0,
            esc(&y_label(v))
        );
    }
}

fn legend(out: &mut String, names: &[&str]) {
    legend_in(out, names, &color);
}

/// The legend, series `i` drawn in `fill(i)`.
fn legend_in(out: &mut String, names: &[&str], fill: &dyn Fn(usize) -> &'static str) {
    for (i, name) in names.iter().enumerate() {
        let y = TOP + 14.0 * i as f64;
        let _ = write!(
            out,
            "<rect x=\"{}\" y=\"{:.1}\" width=\"10\" height=\"10\" fill=\"{}\"/>\
             <text x=\"{}\" y=\"{:.1}\">{}</text>",
            WIDTH - RIGHT + 10.0,
            y,
            fill(i),
            WIDTH - RIGHT + 24.0,
            y + 9.0,
            esc(name)
        );
    }
}

/// A nice upper bound for an axis: 1, 2 or 5 times a power of ten, at least `max`.
pub fn nice_max(max: f64) -> f64 {
    if max.is_nan() || max <= 0.0 || max.is_infinite() {
        return 1.0;
    }
    let power = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|v| *v >= max)
        .unwrap_or(10.0 * power)
}

/// A line chart. `x_label` writes an x value (a time, a day) under the first and last point.
pub fn line_chart(
    id: &str,
    title: &str,
    series: &[Series],
    x_label: &dyn Fn(f64) -> String,
    y_label: &dyn Fn(f64) -> String,
) -> String {
    let mut out = String::with_capacity(4096);
    let points = series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y1) = (f64::MAX, f64::MIN, 0.0f64);
    for &(x, y) in points {
        (x0, x1, y1) = (x0.min(x), x1.max(x), y1.max(y));
    }
    let y_max = nice_max(y1);
    frame(&mut out, id, title, y_max, y_label);
    if x0 > x1 {
        let _ = write!(out, "<text x=\"{LEFT}\" y=\"110\">no data yet</text></svg>");
        return out;
    }
    let span = (x1 - x0).max(1e-9);
    let (w, h) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
    let px = |x: f64| LEFT + (x - x0) / span * w;
    let py = |y: f64| TOP + h * (1.0 - y / y_max);
    for (i, s) in series.iter().enumerate() {
        let path: Vec<String> = s
            .points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
            .collect();
        let _ = write!(
            out,
            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"/>",
            color(i),
            path.join(" ")
        );
        if let [(x, y)] = s.points[..] {
            let _ = write!(
                out,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{}\"/>",
                px(x),
                py(y),
                color(i)
            );
        }
    }
    let bottom = HEIGHT - 8.0;
    let _ = write!(
        out,
        "<text x=\"{LEFT}\" y=\"{bottom}\">{}</text><text x=\"{}\" y=\"{bottom}\" \
         text-anchor=\"end\">{}</text>",
        esc(&x_label(x0)),
        WIDTH - RIGHT,
        esc(&x_label(x1))
    );
    legend(
        &mut out,
        &series.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
    );
    out.push_str("</svg>");
    out
}

/// A grouped bar chart: one group per category, one bar per series in each.
pub fn bar_chart(
    id: &str,
    title: &str,
    categories: &[String],
    series: &[(String, Vec<f64>)],
    y_label: &dyn Fn(f64) -> String,
) -> String {
    let mut out = String::with_capacity(4096);
    let y1 = series
        .iter()
        .flat_map(|s| s.1.iter())
        .fold(0.0f64, |m, v| m.max(*v));
    let y_max = nice_max(y1);
    frame(&mut out, id, title, y_max, y_label);
    let (w, h) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
    let group = w / categories.len().max(1) as f64;
    let bar = (group * 0.8 / series.len().max(1) as f64).max(1.0);
    for (c, category) in categories.iter().enumerate() {
        let gx = LEFT + group * c as f64 + group * 0.1;
        for (i, (_, values)) in series.iter().enumerate() {
            let v = values.get(c).copied().unwrap_or(0.0);
            let bh = h * v / y_max;
            let _ = write!(
                out,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\">\
                 <title>{}: {}</title></rect>",
                gx + bar * i as f64,
                TOP + h - bh,
                bar,
                bh,
                color(i),
                esc(category),
                esc(&y_label(v))
            );
        }
        if categories.len() <= 16 || c % (categories.len() / 8).max(1) == 0 {
            let _ = write!(
                out,
                "<text x=\"{:.1}\" y=\"{}\">{}</text>",
                gx,
                HEIGHT - 8.0,
                esc(category)
            );
        }
    }
    legend(
        &mut out,
        &series.iter().map(|s| s.0.as_str()).collect::<Vec<_>>(),
    );
    out.push_str("</svg>");
    out
}

/// Ten steps from green (low) to red (high): the buckets of a 0–100 score.
pub const SCORE_COLORS: [&str; 10] = [
    "#1a9850", "#66bd63", "#a6d96a", "#d9ef8b", "#ffffbf", "#fee08b", "#fdae61", "#f46d43",
    "#d73027", "#a50026",
];

/// A stacked bar chart: one bar per category, series `i` stacked from the bottom in
/// `palette[i]` (a distribution per day: each bar's height is the category's total).
pub fn stacked_bar_chart(
    id: &str,
    title: &str,
    categories: &[String],
    series: &[(String, Vec<f64>)],
    palette: &[&'static str],
    y_label: &dyn Fn(f64) -> String,
) -> String {
    let mut out = String::with_capacity(4096);
    let total = |c: usize| -> f64 { series.iter().filter_map(|s| s.1.get(c)).sum() };
    let y1 = (0..categories.len()).map(total).fold(0.0f64, f64::max);
    let y_max = nice_max(y1);
    frame(&mut out, id, title, y_max, y_label);
    if categories.is_empty() {
        let _ = write!(out, "<text x=\"{LEFT}\" y=\"110\">no data yet</text></svg>");
        return out;
    }
    let fill = |i: usize| {
        palette
            .get(i % palette.len().max(1))
            .copied()
            .unwrap_or("#888")
    };
    let (w, h) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
    let group = w / categories.len() as f64;
    for (c, category) in categories.iter().enumerate() {
        let x = LEFT + group * c as f64 + group * 0.1;
        let mut base = 0.0;
        for (i, (name, values)) in series.iter().enumerate() {
            let v = values.get(c).copied().unwrap_or(0.0);
            if v <= 0.0 {
                continue;
            }
            let (y0, y1) = (
                TOP + h * (1.0 - base / y_max),
                TOP + h * (1.0 - (base + v) / y_max),
            );
            base += v;
            let _ = write!(
                out,
                "<rect x=\"{x:.1}\" y=\"{y1:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\">\
                 <title>{} {}: {}</title></rect>",
                (group * 0.8).max(1.0),
                y0 - y1,
                fill(i),
                esc(category),
                esc(name),
                esc(&y_label(v))
            );
        }
        if categories.len() <= 16 || c % (categories.len() / 8).max(1) == 0 {
            let _ = write!(
                out,
                "<text x=\"{x:.1}\" y=\"{}\">{}</text>",
                HEIGHT - 8.0,
                esc(category)
            );
        }
    }
    let names: Vec<&str> = series.iter().map(|s| s.0.as_str()).collect();
    legend_in(&mut out, &names, &fill);
    out.push_str("</svg>");
    out
}

/// One band of a state timeline: a lane (a channel), from x0 to x1, in a state.
pub struct Band {
    pub lane: String,
    pub x0: f64,
    pub x1: f64,
    pub state: String,
}

/// The colour of a health state.
fn state_color(state: &str) -> &'static str {
    match state {
        "Healthy" => "#1f7a3a",
        "Probing" => "#e69f00",
        _ => "#b3261e",
    }
}

/// A state timeline: one lane per distinct `lane`, bands coloured by state.
pub fn timeline(id: &str, title: &str, bands: &[Band], x_label: &dyn Fn(f64) -> String) -> String {
    let mut lanes: Vec<&str> = bands.iter().map(|b| b.lane.as_str()).collect();
    lanes.dedup();
    lanes.sort_unstable();
    lanes.dedup();
    let height = TOP + BOTTOM + 22.0 * lanes.len().max(1) as f64;
    let mut out = String::with_capacity(4096);
    let _ = write!(
        out,
        "<svg class=\"chart\" id=\"{}\" viewBox=\"0 0 {WIDTH} {height}\" width=\"{WIDTH}\" \
         height=\"{height}\" role=\"img\" font-family=\"sans-serif\" font-size=\"11\">\
         <title>{t}</title><text x=\"{LEFT}\" y=\"15\" font-weight=\"bold\">{t}</text>",
        esc(id),
        t = esc(title)
    );
    let x0 = bands.iter().map(|b| b.x0).fold(f64::MAX, f64::min);
    let x1 = bands.iter().map(|b| b.x1).fold(f64::MIN, f64::max);
    let span = (x1 - x0).max(1e-9);
    let w = WIDTH - LEFT - RIGHT;
    for b in bands {
        let lane = lanes.iter().position(|l| *l == b.lane).unwrap_or(0);
        let y = TOP + 22.0 * lane as f64;
        let (bx0, bx1) = (LEFT + (b.x0 - x0) / span * w, LEFT + (b.x1 - x0) / span * w);
        let _ = write!(
            out,
            "<rect x=\"{bx0:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"18\" fill=\"{}\">\
             <title>{}: {}</title></rect>",
            (bx1 - bx0).max(2.0),
            state_color(&b.state),
            esc(&b.lane),
            esc(&b.state)
        );
    }
    for (i, lane) in lanes.iter().enumerate() {
        let y = TOP + 22.0 * i as f64 + 13.0;
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{y:.1}\" text-anchor=\"end\">{}</text>",
            LEFT - 4.0,
            esc(lane)
        );
    }
    if !bands.is_empty() {
        let bottom = height - 8.0;
        let _ = write!(
            out,
            "<text x=\"{LEFT}\" y=\"{bottom}\">{}</text><text x=\"{}\" y=\"{bottom}\" \
             text-anchor=\"end\">{}</text>",
            esc(&x_label(x0)),
            WIDTH - RIGHT,
            esc(&x_label(x1))
        );
    }
    legend(&mut out, &[]);
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_escape_their_labels_and_draw_every_series() {
        let s = [
            Series {
                name: "<a>".into(),
                points: vec![(0.0, 1.0), (1.0, 3.0)],
            },
            Series {
                name: "b".into(),
                points: vec![(0.5, 2.0)],
            },
        ];
        let svg = line_chart("x", "T&", &s, &|x| format!("{x}"), &|y| format!("{y}"));
        assert!(svg.contains("&lt;a&gt;") && svg.contains("T&amp;"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(!svg.contains("<a>"));
        let empty = line_chart("e", "E", &[], &|x| format!("{x}"), &|y| format!("{y}"));
        assert!(empty.contains("no data yet"));
        let bars = bar_chart(
            "b",
            "B",
            &["d1".into(), "d2".into()],
            &[("v".into(), vec![1.0, 2.0])],
            &|y| format!("{y}"),
        );
        assert_eq!(bars.matches("<rect").count(), 2 + 1);
        let stacked = stacked_bar_chart(
            "s",
            "S",
            &["d1".into(), "d2".into()],
            &[
                ("0-9".into(), vec![1.0, 0.0]),
                ("<9>".into(), vec![3.0, 2.0]),
            ],
            &SCORE_COLORS,
            &|y| format!("{y}"),
        );
        // Three non-empty segments and two legend squares; the total sets the axis (4 → 5).
        assert_eq!(stacked.matches("<rect").count(), 3 + 2);
        assert!(stacked.contains("&lt;9&gt;") && stacked.contains(">5<"));
        assert!(stacked.contains(SCORE_COLORS[1]));
        let none = stacked_bar_chart("n", "N", &[], &[], &SCORE_COLORS, &|y| format!("{y}"));
        assert!(none.contains("no data yet"));
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(37.0), 50.0);
        assert_eq!(nice_max(100.0), 100.0);
    }
}
