//! `sluice bench plot`: percentile curves of one or more runs as an SVG, written by hand.
//!
//! Reads HdrHistogram percentile-distribution text files (`sluice loadgen --hgrm`: value in ms,
//! percentile, total count, 1/(1-percentile)) and draws latency against percentile on the usual
//! logarithmic "1/(1-q)" axis, so the tail gets as much room as the median: ticks at 0%, 90%, 99%,
//! 99.9%, 99.99%, 99.999% (and further when the data goes further). The 100% point (the maximum)
//! sits on the right edge. One coloured line per file, with a legend of file names.

use clap::Args;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct PlotArgs {
    /// Percentile-distribution files (.hgrm), one curve each.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The SVG to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Title of the chart.
    #[arg(long, default_value = "Latency by percentile")]
    pub title: String,
}

pub fn run(args: PlotArgs) -> Result<(), String> {
    let mut curves = Vec::with_capacity(args.files.len());
    for path in &args.files {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let points = parse_hgrm(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        curves.push(Curve {
            name: curve_name(path, &args.files),
            points,
        });
    }
    let svg = render_svg(&args.title, &curves);
    std::fs::write(&args.out, svg).map_err(|e| format!("{}: {e}", args.out.display()))?;
    eprintln!(
        "sluice: wrote {} ({} curves)",
        args.out.display(),
        curves.len()
    );
    Ok(())
}

/// One run: (percentile as a fraction in [0, 1], latency in ms), in file order.
pub struct Curve {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// The file name, or the whole path when two files share a name.
fn curve_name(path: &Path, all: &[PathBuf]) -> String {
    let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    let own = name(path).unwrap_or_else(|| path.display().to_string());
    let shared = all
        .iter()
        .filter(|p| name(p).as_deref() == Some(&own))
        .count()
        > 1;
    if shared {
        path.display().to_string()
    } else {
        own
    }
}

/// Parses a percentile-distribution text: lines of `value percentile total_count [1/(1-q)]`;
/// the header, blank lines and `#[...]` summary lines are skipped.
pub fn parse_hgrm(text: &str) -> Result<Vec<(f64, f64)>, String> {
    let mut points = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let (Some(value), Some(q)) = (fields.next(), fields.next()) else {
            continue;
        };
        let (Ok(value_ms), Ok(q)) = (value.parse::<f64>(), q.parse::<f64>()) else {
            // The column header ("Value Percentile ...").
            continue;
        };
        if !(0.0..=1.0).contains(&q) || !value_ms.is_finite() || value_ms < 0.0 {
            return Err(format!(
                "line {}: percentile {q} or value {value_ms} out of range",
                i + 1
            ));
        }
        points.push((q, value_ms));
    }
    if points.is_empty() {
        return Err("no percentile lines (is it an .hgrm percentile distribution?)".into());
    }
    Ok(points)
}

// ------------------------------------------------------------------------------------------------
// Drawing
// ------------------------------------------------------------------------------------------------

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 600.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 40.0;
const TOP: f64 = 70.0;
const BOTTOM: f64 = 80.0;
/// Colour-blind-friendly palette (Okabe–Ito), cycled.
const COLOURS: [&str; 8] = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442",
];

/// The x position of percentile q on the axis: log10(1/(1-q)), with q = 1 at the right edge.
fn x_of(q: f64, decades: u32) -> f64 {
    if q >= 1.0 {
        return f64::from(decades);
    }
    (1.0 / (1.0 - q)).log10().min(f64::from(decades))
}

/// Decades on the x axis: at least 5 (99.999%), more if a curve's finite points go further.
fn decades(curves: &[Curve]) -> u32 {
    let furthest = curves
        .iter()
        .flat_map(|c| c.points.iter())
        .filter(|(q, _)| *q < 1.0)
        .map(|&(q, _)| (1.0 / (1.0 - q)).log10())
        .fold(0.0f64, f64::max);
    (furthest.ceil() as u32).clamp(5, 9)
}

/// A round upper bound and step for the y axis (1, 2, 5 × 10^k), 4 to 8 steps.
fn y_scale(max_ms: f64) -> (f64, f64) {
    let max_ms = if max_ms > 0.0 { max_ms } else { 1.0 };
    let raw = max_ms / 8.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    ((max_ms / step).ceil() * step, step)
}

fn percentile_label(decade: u32) -> String {
    match decade {
        0 => "0%".into(),
        d => {
            let nines = 100.0 - 100.0 / 10f64.powi(d as i32);
            format!("{nines:.*}%", (d as usize).saturating_sub(2))
        }
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn trim_number(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Renders the chart. Only the curves are `<path>` elements (one per curve).
pub fn render_svg(title: &str, curves: &[Curve]) -> String {
    let decades = decades(curves);
    let max_ms = curves
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.1))
        .fold(0.0f64, f64::max);
    let (y_max, y_step) = y_scale(max_ms * 1.05);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let px = |x: f64| LEFT + x / f64::from(decades) * plot_w;
    let py = |ms: f64| TOP + plot_h - ms / y_max * plot_h;

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="Helvetica, Arial, sans-serif" font-size="13">"#
    );
    let _ = writeln!(
        s,
        r##"<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>"##
    );
    let _ = writeln!(
        s,
        r##"<text x="{}" y="34" text-anchor="middle" font-size="20" font-weight="bold" fill="#222">{}</text>"##,
        WIDTH / 2.0,
        escape(title)
    );
    draw_grid(&mut s, decades, y_max, y_step, &px, &py);
    for (i, c) in curves.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let mut d = String::new();
        for (j, &(q, ms)) in c.points.iter().enumerate() {
            let cmd = if j == 0 { 'M' } else { 'L' };
            let _ = write!(d, "{cmd}{:.1},{:.1} ", px(x_of(q, decades)), py(ms));
        }
        let _ = writeln!(
            s,
            r#"<path d="{}" fill="none" stroke="{colour}" stroke-width="2" stroke-linejoin="round"/>"#,
            d.trim_end()
        );
    }
    draw_legend(&mut s, curves);
    s.push_str("</svg>\n");
    s
}

fn draw_grid(
    s: &mut String,
    decades: u32,
    y_max: f64,
    y_step: f64,
    px: &dyn Fn(f64) -> f64,
    py: &dyn Fn(f64) -> f64,
) {
    let (x0, x1, y0, y1) = (px(0.0), px(f64::from(decades)), py(0.0), py(y_max));
    for d in 0..=decades {
        let x = px(f64::from(d));
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{y1:.1}" x2="{x:.1}" y2="{y0:.1}" stroke="#e3e3e3"/>"##
        );
        let _ = writeln!(
            s,
            r##"<text x="{x:.1}" y="{:.1}" text-anchor="middle" fill="#333">{}</text>"##,
            y0 + 20.0,
            percentile_label(d)
        );
    }
    let steps = (y_max / y_step).round() as u32;
    for k in 0..=steps {
        let ms = f64::from(k) * y_step;
        let y = py(ms);
        let _ = writeln!(
            s,
            r##"<line x1="{x0:.1}" y1="{y:.1}" x2="{x1:.1}" y2="{y:.1}" stroke="#e3e3e3"/>"##
        );
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#333">{}</text>"##,
            x0 - 8.0,
            y + 4.0,
            trim_number(ms)
        );
    }
    let _ = writeln!(
        s,
        r##"<rect x="{x0:.1}" y="{y1:.1}" width="{:.1}" height="{:.1}" fill="none" stroke="#666"/>"##,
        x1 - x0,
        y0 - y1
    );
    let _ = writeln!(
        s,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#222">percentile (log scale of 1/(1-q); the right edge is the maximum)</text>"##,
        (x0 + x1) / 2.0,
        HEIGHT - 28.0
    );
    let _ = writeln!(
        s,
        r##"<text x="24" y="{:.1}" text-anchor="middle" fill="#222" transform="rotate(-90 24 {:.1})">latency (ms)</text>"##,
        (y0 + y1) / 2.0,
        (y0 + y1) / 2.0
    );
}

/// The legend, top left inside the plot (where percentile curves, which rise to the right, are low).
fn draw_legend(s: &mut String, curves: &[Curve]) {
    let longest = curves
        .iter()
        .map(|c| c.name.chars().count())
        .max()
        .unwrap_or(0);
    let (x, y) = (LEFT + 16.0, TOP + 14.0);
    let w = 48.0 + longest as f64 * 7.4;
    let h = 10.0 + curves.len() as f64 * 20.0;
    let _ = writeln!(
        s,
        r##"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="#ffffff" fill-opacity="0.9" stroke="#bbb"/>"##
    );
    for (i, c) in curves.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let row = y + 18.0 + i as f64 * 20.0;
        let _ = writeln!(
            s,
            r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{colour}" stroke-width="3"/>"#,
            x + 10.0,
            row - 4.0,
            x + 34.0,
            row - 4.0
        );
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{row:.1}" fill="#222">{}</text>"##,
            x + 42.0,
            escape(&c.name)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The head and tail of a file as `sluice loadgen --hgrm` writes it.
    const SAMPLE: &str = "       Value     Percentile TotalCount 1/(1-Percentile)

       0.061 0.000000000000          1           1.00
       0.089 0.100000000000       1502           1.11
       0.112 0.500000000000       7508           2.00
       0.201 0.900000000000      13505          10.00
       0.350 0.990000000000      14855         100.00
       0.912 0.999000000000      14990        1000.00
       1.204 0.999900000000      14999       10000.00
       1.310 1.000000000000      15000
#[Mean    =        0.131, StdDeviation   =        0.071]
#[Max     =        1.310, Total count    =        15000]
#[Buckets =           22, SubBuckets     =         2048]
";

    #[test]
    fn parses_the_loadgen_format() {
        let points = parse_hgrm(SAMPLE).unwrap();
        assert_eq!(points.len(), 8);
        assert_eq!(points[0], (0.0, 0.061));
        assert_eq!(points[2], (0.5, 0.112));
        assert_eq!(points[7], (1.0, 1.31));
        assert!(parse_hgrm("#[Mean = 1]\n").is_err());
        assert!(parse_hgrm("1.0 1.5 3\n").is_err());
    }

    #[test]
    fn one_path_per_file_with_a_legend() {
        let a = parse_hgrm(SAMPLE).unwrap();
        let b: Vec<(f64, f64)> = a.iter().map(|&(q, v)| (q, v * 2.0)).collect();
        let curves = vec![
            Curve {
                name: "a.hgrm".into(),
                points: a,
            },
            Curve {
                name: "b<&>.hgrm".into(),
                points: b,
            },
        ];
        let svg = render_svg("Test", &curves);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<path").count(), 2);
        assert!(svg.contains(">a.hgrm</text>"));
        assert!(svg.contains(">b&lt;&amp;&gt;.hgrm</text>"));
        for label in ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"] {
            assert!(svg.contains(&format!(">{label}</text>")), "{label}");
        }
        // Every coordinate is finite and inside the canvas.
        for d in svg.split("d=\"").skip(1) {
            let d = d.split('"').next().unwrap();
            for pair in d.split(' ') {
                let (x, y) = pair.trim_start_matches(['M', 'L']).split_once(',').unwrap();
                let (x, y): (f64, f64) = (x.parse().unwrap(), y.parse().unwrap());
                assert!((0.0..=WIDTH).contains(&x) && (0.0..=HEIGHT).contains(&y));
            }
        }
    }

    #[test]
    fn axis_helpers() {
        assert_eq!(percentile_label(0), "0%");
        assert_eq!(percentile_label(1), "90%");
        assert_eq!(percentile_label(3), "99.9%");
        assert_eq!(percentile_label(5), "99.999%");
        let (top, step) = y_scale(1.31);
        assert!(
            (top - 1.4).abs() < 1e-9 && (step - 0.2).abs() < 1e-9,
            "{top} {step}"
        );
        assert_eq!(x_of(1.0, 5), 5.0);
        assert!((x_of(0.99, 5) - 2.0).abs() < 1e-9);
    }
}
