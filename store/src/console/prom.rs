//! The Prometheus text format (0.0.4), read back: the samples of a scrape of the server's
//! `/metrics`, and percentiles from a histogram's cumulative buckets. Only what the console
//! needs: `# HELP`/`# TYPE` lines and timestamps are skipped, label values are unescaped.

/// One sample: `name{labels} value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Every sample of a scrape; a line that does not parse is an error naming it.
pub fn parse(text: &str) -> Result<Vec<Sample>, String> {
    let mut out = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let sample = parse_line(line)
            .ok_or_else(|| format!("metrics line {}: cannot read {line:?}", number + 1))?;
        out.push(sample);
    }
    Ok(out)
}

fn parse_line(line: &str) -> Option<Sample> {
    let name_end = line.find(['{', ' '])?;
    let name = line[..name_end].to_string();
    let (labels, rest) = if line[name_end..].starts_with('{') {
        parse_labels(&line[name_end + 1..])?
    } else {
        (Vec::new(), &line[name_end..])
    };
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Sample {
        name,
        labels,
        value,
    })
}

/// Labels up to the closing brace; returns them and the text after the brace.
fn parse_labels(mut text: &str) -> Option<(Vec<(String, String)>, &str)> {
    let mut labels = Vec::new();
    loop {
        text = text.trim_start_matches([',', ' ']);
        if let Some(rest) = text.strip_prefix('}') {
            return Some((labels, rest));
        }
        let eq = text.find('=')?;
        let key = text[..eq].trim().to_string();
        text = text[eq + 1..].strip_prefix('"')?;
        let mut value = String::new();
        let mut chars = text.char_indices();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                (_, c) => value.push(c),
            }
        };
        labels.push((key, value));
        text = &text[end + 1..];
    }
}

/// The sum of every sample named `name` whose labels include `with` (all of them).
pub fn sum(samples: &[Sample], name: &str, with: &[(&str, &str)]) -> Option<f64> {
    let mut found = None;
    for s in samples.iter().filter(|s| s.name == name) {
        if with.iter().all(|(k, v)| s.label(k) == Some(*v)) {
            *found.get_or_insert(0.0) += s.value;
        }
    }
    found
}

/// A histogram's cumulative buckets: (upper bound, count), sorted by bound, `+Inf` last.
pub fn buckets(samples: &[Sample], family: &str) -> Vec<(f64, f64)> {
    let name = format!("{family}_bucket");
    let mut out: Vec<(f64, f64)> = samples
        .iter()
        .filter(|s| s.name == name)
        .filter_map(|s| {
            let le = match s.label("le")? {
                "+Inf" => f64::INFINITY,
                v => v.parse().ok()?,
            };
            Some((le, s.value))
        })
        .collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

/// The `q` quantile (0..=1) of cumulative buckets, interpolated linearly inside its bucket (as
/// Prometheus' `histogram_quantile` does); `None` without observations. A quantile in the `+Inf`
/// bucket is reported as the largest finite bound.
pub fn quantile(buckets: &[(f64, f64)], q: f64) -> Option<f64> {
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q.clamp(0.0, 1.0) * total;
    let mut below = (0.0, 0.0);
    for &(le, count) in buckets {
        if count >= rank {
            if le.is_infinite() {
                return Some(below.0);
            }
            let inside = count - below.1;
            let share = if inside > 0.0 {
                (rank - below.1) / inside
            } else {
                1.0
            };
            return Some(below.0 + (le - below.0) * share);
        }
        below = (le, count);
    }
    Some(below.0)
}

/// The difference of two readings of the same cumulative buckets (what was observed between
/// them); empty when the bounds differ (the server restarted with other bounds).
pub fn delta(now: &[(f64, f64)], before: &[(f64, f64)]) -> Vec<(f64, f64)> {
    if now.len() != before.len() || now.iter().zip(before).any(|(a, b)| a.0 != b.0) {
        return Vec::new();
    }
    now.iter()
        .zip(before)
        .map(|(a, b)| (a.0, (a.1 - b.1).max(0.0)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP sluice_inputs Inputs.\n# TYPE sluice_inputs counter\n\
        sluice_inputs_total{template=\"PaymentRequest\"} 40\n\
        sluice_inputs_total{template=\"Pulse\"} 2\n\
        sluice_channel_health{channel=\"7\",name=\"odd \\\"n\\\\\",state=\"open\"} 1\n\
        sluice_lat_bucket{le=\"0.001\"} 50\nsluice_lat_bucket{le=\"0.002\"} 90\n\
        sluice_lat_bucket{le=\"+Inf\"} 100\nsluice_durable_seq 123\n";

    #[test]
    fn a_scrape_reads_back_with_labels_unescaped() {
        let s = parse(TEXT).expect("parses");
        assert_eq!(s.len(), 7);
        assert_eq!(
            sum(&s, "sluice_inputs_total", &[("template", "PaymentRequest")]),
            Some(40.0)
        );
        assert_eq!(sum(&s, "sluice_inputs_total", &[]), Some(42.0));
        assert_eq!(s[2].label("name"), Some("odd \"n\\"));
        assert_eq!(sum(&s, "sluice_durable_seq", &[]), Some(123.0));
        assert_eq!(sum(&s, "nothing", &[]), None);
        assert!(parse("broken{x=\"1 2\n").is_err());
    }

    #[test]
    fn quantiles_interpolate_inside_their_bucket() {
        let s = parse(TEXT).expect("parses");
        let b = buckets(&s, "sluice_lat");
        assert_eq!(b.len(), 3);
        assert_eq!(quantile(&b, 0.5), Some(0.001));
        let p70 = quantile(&b, 0.7).expect("p70");
        assert!((p70 - 0.0015).abs() < 1e-9, "{p70}");
        assert_eq!(quantile(&b, 0.99), Some(0.002));
        assert_eq!(quantile(&[], 0.5), None);
        let d = delta(&b, &[(0.001, 10.0), (0.002, 10.0), (f64::INFINITY, 10.0)]);
        assert_eq!(d, vec![(0.001, 40.0), (0.002, 80.0), (f64::INFINITY, 90.0)]);
    }
}
