//! The demo's look at its own metrics endpoint: one scrape at the end of the live run, over
//! plain HTTP, checked against what the load driver saw and what the engine answered an admin.

use sluice_protocol::StatsReport;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::load::LoadReport;

/// What the scrape showed.
pub struct Scraped {
    pub addr: SocketAddr,
    pub samples: usize,
    pub families: usize,
    /// The figures that differ from the report or the StatsReport (empty: they agree).
    pub disagreements: Vec<String>,
    /// The processor's longest time on one input (its longest pause), ms.
    pub processor_longest_input_ms: f64,
    /// The snapshot follower's lag behind the durable cursor, inputs (when it reports one).
    pub snapshot_follower_lag_inputs: Option<f64>,
}

/// `GET /metrics` once; the body.
pub fn scrape(addr: SocketAddr) -> Result<String, String> {
    let io = |e: std::io::Error| format!("metrics at {addr}: {e}");
    let mut stream = TcpStream::connect(addr).map_err(io)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(io)?;
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: sluice\r\n\r\n")
        .map_err(io)?;
    let mut response = String::new();
    stream.read_to_string(&mut response).map_err(io)?;
    match response.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.1 200 ") => Ok(body.to_string()),
        _ => Err(format!(
            "metrics at {addr}: {}",
            response.lines().next().unwrap_or("no answer")
        )),
    }
}

/// The value of a sample without labels, e.g. `sluice_payments_accepted_total`.
pub fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// Scrapes until the engine statistics are as of the admin's StatsReport (they are published
/// every 250 ms at most), then compares the payment counters.
pub fn check(
    addr: SocketAddr,
    stats: &StatsReport,
    report: &LoadReport,
) -> Result<Scraped, String> {
    let deadline = Instant::now() + Duration::from_secs(3);
    let text = loop {
        let text = scrape(addr)?;
        let as_of = sample(&text, "sluice_engine_stats_seq").unwrap_or(0.0);
        if as_of >= stats.sequence as f64 || Instant::now() >= deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let figures = [
        ("accepted", stats.accepted, report.accepted),
        ("succeeded", stats.succeeded, report.succeeded),
        ("failed", stats.failed, report.failed),
    ];
    let mut disagreements = Vec::new();
    for (what, engine, client) in figures {
        let served = sample(&text, &format!("sluice_payments_{what}_total"));
        if served != Some(engine as f64) || engine != client {
            disagreements.push(format!(
                "{what}: metrics {served:?}, StatsReport {engine}, report {client}"
            ));
        }
    }
    let snapshots_lag = "sluice_follower_lag_inputs{follower=\"snapshots\"}";
    Ok(Scraped {
        processor_longest_input_ms: sample(&text, "sluice_processor_longest_input_seconds")
            .unwrap_or(0.0)
            * 1e3,
        snapshot_follower_lag_inputs: sample(&text, snapshots_lag),
        addr,
        samples: text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .count(),
        families: text.lines().filter(|l| l.starts_with("# TYPE ")).count(),
        disagreements,
    })
}

impl Scraped {
    pub fn agrees(&self) -> bool {
        self.disagreements.is_empty()
    }

    pub fn line(&self) -> String {
        let verdict = if self.agrees() {
            "accepted, succeeded and failed agree with the report and the engine's StatsReport"
                .to_string()
        } else {
            format!("DISAGREE: {}", self.disagreements.join("; "))
        };
        let lag = self
            .snapshot_follower_lag_inputs
            .map_or(String::new(), |l| {
                format!(", snapshot follower {l:.0} inputs behind")
            });
        format!(
            "metrics    http://{}/metrics: {} samples in {} families; {verdict}; processor's \
             longest input {:.2} ms{lag}",
            self.addr, self.samples, self.families, self.processor_longest_input_ms
        )
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "samples": self.samples,
            "families": self.families,
            "agrees": self.agrees(),
            "disagreements": self.disagreements,
            "processor_longest_input_ms": self.processor_longest_input_ms,
            "snapshot_follower_lag_inputs": self.snapshot_follower_lag_inputs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_without_labels_is_found_by_its_exact_name() {
        let text = "# TYPE a_total counter\na_total 3\na_total_x 9\nb{x=\"1\"} 2\nc 1.5\n";
        assert_eq!(sample(text, "a_total"), Some(3.0));
        assert_eq!(sample(text, "c"), Some(1.5));
        assert_eq!(sample(text, "b"), None);
        assert_eq!(sample(text, "a"), None);
    }
}
