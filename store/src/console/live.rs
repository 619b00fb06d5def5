//! The live view: a thread that scrapes the server's Prometheus endpoint every few seconds and
//! keeps the last readings (a bounded ring), from which the overview draws throughput and
//! latency and the channels page the health now. A scrape is a plain HTTP/1.1 GET with
//! deadlines; a failed one is kept as an error reading, so the pages say the server is not
//! answering instead of showing stale figures as current.

use super::prom::{self, Sample};
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Readings kept: 10 minutes at one every 2 s.
pub const READINGS_MAX: usize = 300;
/// The latency histogram the overview reads (the gateway's ack latency).
pub const LATENCY_FAMILY: &str = "sluice_ack_latency_seconds";
/// How the exporter's follower is named (`export-<store>`), when it reports to the server's
/// metrics (in-process).
pub const EXPORTER_FOLLOWER_PREFIX: &str = "export";
const TIMEOUT: Duration = Duration::from_secs(2);
const BODY_MAX_BYTES: u64 = 16 << 20;

/// One channel as the engine last reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelNow {
    pub channel_id: i32,
    pub name: String,
    /// `Healthy`, `Open` or `Probing`.
    pub state: String,
    pub recent_success_ratio: f64,
    pub attempts: f64,
}

/// What one scrape said.
#[derive(Debug, Clone, Default)]
pub struct Reading {
    /// Wall time of the scrape, seconds since the epoch.
    pub at_secs: f64,
    /// Why the scrape failed (the other fields are then empty).
    pub error: Option<String>,
    pub payments_requested: f64,
    pub payments_succeeded: f64,
    pub payments_failed: f64,
    pub latency_buckets: Vec<(f64, f64)>,
    pub durable_seq: f64,
    /// The in-process exporter's applied sequence and lag, when it reports to the server.
    pub exporter_applied_seq: Option<f64>,
    pub exporter_lag_inputs: Option<f64>,
    pub channels: Vec<ChannelNow>,
}

fn title_case(state: &str) -> String {
    let mut c = state.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// Reads what the console needs out of a scrape's samples.
pub fn reading(samples: &[Sample], at_secs: f64) -> Reading {
    let get = |name: &str, with: &[(&str, &str)]| prom::sum(samples, name, with).unwrap_or(0.0);
    let exporter = |name: &str| {
        let mine = samples.iter().filter(|s| s.name == name);
        mine.filter(|s| {
            s.label("follower")
                .is_some_and(|f| f.starts_with(EXPORTER_FOLLOWER_PREFIX))
        })
        .map(|s| s.value)
        .reduce(f64::max)
    };
    let mut channels: Vec<ChannelNow> = samples
        .iter()
        .filter(|s| s.name == "sluice_channel_health" && s.value >= 1.0)
        .filter_map(|s| {
            let id = s.label("channel")?;
            let with = [("channel", id)];
            Some(ChannelNow {
                channel_id: id.parse().ok()?,
                name: s.label("name").unwrap_or_default().to_string(),
                state: title_case(s.label("state")?),
                recent_success_ratio: get("sluice_channel_recent_success_ratio", &with),
                attempts: get("sluice_channel_attempts_total", &with),
            })
        })
        .collect();
    channels.sort_by_key(|c| c.channel_id);
    Reading {
        at_secs,
        error: None,
        payments_requested: get("sluice_inputs_total", &[("template", "PaymentRequest")]),
        payments_succeeded: get("sluice_payments_succeeded_total", &[]),
        payments_failed: get("sluice_payments_failed_total", &[]),
        latency_buckets: prom::buckets(samples, LATENCY_FAMILY),
        durable_seq: get("sluice_durable_seq", &[]),
        exporter_applied_seq: exporter("sluice_follower_applied_seq"),
        exporter_lag_inputs: exporter("sluice_follower_lag_inputs"),
        channels,
    }
}

/// `http://host:port/path` → (host:port, path). Only plain HTTP: the endpoint is the server's own.
pub fn split_url(url: &str) -> Result<(String, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("metrics URL {url:?} must start with http://"))?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/metrics"),
    };
    if host.is_empty() {
        return Err(format!("metrics URL {url:?} has no host"));
    }
    Ok((host.to_string(), path.to_string()))
}

/// One scrape: GET `path` from `host`, the body when the status is 200.
pub fn scrape(host: &str, path: &str) -> Result<String, String> {
    let addr = host
        .to_socket_addrs()
        .map_err(|e| format!("{host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host}: no address"))?;
    let mut stream =
        TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| format!("{host}: {e}"))?;
    let io = |e: std::io::Error| format!("{host}: {e}");
    stream.set_read_timeout(Some(TIMEOUT)).map_err(io)?;
    stream.set_write_timeout(Some(TIMEOUT)).map_err(io)?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).map_err(io)?;
    let mut raw = Vec::new();
    stream
        .take(BODY_MAX_BYTES)
        .read_to_end(&mut raw)
        .map_err(io)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("{host}: not an HTTP response"))?;
    let status = head.split_whitespace().nth(1).unwrap_or("");
    if status != "200" {
        return Err(format!("{host}{path}: HTTP status {status}"));
    }
    Ok(body.to_string())
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The readings, shared between the scraping thread and the pages.
#[derive(Default)]
pub struct Live {
    readings: Mutex<VecDeque<Reading>>,
}

impl Live {
    pub fn push(&self, r: Reading) {
        let mut q = self.readings.lock().unwrap_or_else(|p| p.into_inner());
        if q.len() >= READINGS_MAX {
            q.pop_front();
        }
        q.push_back(r);
    }

    /// A copy of the readings, oldest first.
    pub fn readings(&self) -> Vec<Reading> {
        let q = self.readings.lock().unwrap_or_else(|p| p.into_inner());
        q.iter().cloned().collect()
    }

    /// Scrapes once and keeps the reading.
    pub fn scrape_once(&self, host: &str, path: &str) {
        let at_secs = now_secs();
        let r = scrape(host, path).and_then(|text| prom::parse(&text));
        self.push(match r {
            Ok(samples) => reading(&samples, at_secs),
            Err(e) => Reading {
                at_secs,
                error: Some(e),
                ..Reading::default()
            },
        });
    }

    /// Starts the scraping thread: every `every`, for as long as the process runs.
    pub fn start(self: &Arc<Live>, url: &str, every: Duration) -> Result<(), String> {
        let (host, path) = split_url(url)?;
        let live = self.clone();
        std::thread::Builder::new()
            .name("console-scrape".into())
            .spawn(move || {
                loop {
                    live.scrape_once(&host, &path);
                    std::thread::sleep(every);
                }
            })
            .map(|_| ())
            .map_err(|e| format!("scrape thread: {e}"))
    }
}

/// Throughput and latency between two readings: (payments/s, p50, p99, p99.9 in seconds).
pub fn rates(before: &Reading, now: &Reading) -> Option<(f64, Option<[f64; 3]>)> {
    if before.error.is_some() || now.error.is_some() {
        return None;
    }
    let seconds = now.at_secs - before.at_secs;
    if seconds <= 0.0 {
        return None;
    }
    let per_sec = (now.payments_requested - before.payments_requested).max(0.0) / seconds;
    let window = prom::delta(&now.latency_buckets, &before.latency_buckets);
    let q = |p| prom::quantile(&window, p);
    let latency = match (q(0.5), q(0.99), q(0.999)) {
        (Some(a), Some(b), Some(c)) => Some([a, b, c]),
        _ => None,
    };
    Some((per_sec, latency))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reading_picks_channels_payments_and_the_exporter() {
        let text = "sluice_inputs_total{template=\"PaymentRequest\"} 10\n\
            sluice_channel_health{channel=\"2\",name=\"unionpay\",state=\"open\"} 1\n\
            sluice_channel_health{channel=\"2\",name=\"unionpay\",state=\"healthy\"} 0\n\
            sluice_channel_recent_success_ratio{channel=\"2\",name=\"unionpay\"} 0.25\n\
            sluice_follower_lag_inputs{follower=\"export-parquet\"} 7\n\
            sluice_ack_latency_seconds_bucket{le=\"0.001\"} 4\n\
            sluice_ack_latency_seconds_bucket{le=\"+Inf\"} 4\n";
        let r = reading(&prom::parse(text).expect("parses"), 100.0);
        assert_eq!(r.payments_requested, 10.0);
        assert_eq!(r.channels.len(), 1);
        assert_eq!(r.channels[0].state, "Open");
        assert_eq!(r.channels[0].recent_success_ratio, 0.25);
        assert_eq!(r.exporter_lag_inputs, Some(7.0));
        assert_eq!(r.exporter_applied_seq, None);
        let mut later = r.clone();
        later.at_secs = 102.0;
        later.payments_requested = 30.0;
        later.latency_buckets = vec![(0.001, 8.0), (f64::INFINITY, 8.0)];
        let (per_sec, latency) = rates(&r, &later).expect("two good readings");
        assert_eq!(per_sec, 10.0);
        assert!(latency.is_some());
    }

    #[test]
    fn urls_are_checked() {
        assert_eq!(
            split_url("http://127.0.0.1:9700/metrics"),
            Ok(("127.0.0.1:9700".into(), "/metrics".into()))
        );
        assert!(split_url("https://x/metrics").is_err());
        assert!(split_url("http:///metrics").is_err());
    }
}
