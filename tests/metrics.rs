//! The metrics endpoint of the real server in-process, scraped over plain HTTP while and after a
//! few hundred payments, and read with a Prometheus text-format parser of its own
//! (`prometheus-parse`, not the encoder the server uses):
//! - every scrape parses; every family has its HELP and TYPE; a histogram's `+Inf` bucket is its
//!   count and its buckets never decrease; counters never go back from one scrape to the next;
//! - at the end the counters agree with what the client saw (acks = accepted + rejected,
//!   results = succeeded + failed, inputs and acks by template, one reject by the gateway, ack
//!   latencies at least one per ack) and with the engine's own StatsReport (an admin StatsQuery);
//! - a registered follower's lag, snapshots' durations and the pipeline's positions are there.

mod common;
use prometheus_parse::{Sample, Scrape, Value};
use sluice_gateway::client::Client;
use sluice_gateway::config::{Config, MetricsConfig};
use sluice_gateway::server::{ServeOptions, Server};
use sluice_node::Follower;
use sluice_protocol::*;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);
const PAYMENTS: u64 = 400;
const WINDOW: u64 = 50;

fn config(dir: &Path) -> Config {
    let mut config = common::in_process_config(dir, 10_000);
    config.pipeline.snapshot_every_inputs = 300;
    config.metrics = MetricsConfig {
        enabled: true,
        listen: "127.0.0.1:0".parse().expect("addr"),
    };
    config
}

/// A payment; some are refused: every 20th by the block list (user 666), every 25th by
/// validation (a currency the merchant does not take).
fn payment(request_id: u64) -> PaymentRequest {
    let blocked = request_id.is_multiple_of(20);
    let invalid = request_id.is_multiple_of(25);
    PaymentRequest {
        request_id,
        merchant_id: if invalid { 1002 } else { 1001 },
        amount_minor: 1_000 + (request_id % 977) as i64,
        currency: if invalid { 978 } else { 156 },
        method: PaymentMethod::Wallet,
        user_id: if blocked { 666 } else { 10_000 + request_id },
        country: Chars::new("CN"),
        ..PaymentRequest::default()
    }
}

/// What the client saw.
#[derive(Default, Debug)]
struct Seen {
    accepted: u64,
    rejected: u64,
    succeeded: u64,
    failed: u64,
    gateway_rejects: u64,
}

impl Seen {
    fn take(&mut self, m: &AnyMessage) {
        match m {
            AnyMessage::PaymentAck(a) if a.status == AckStatus::Accepted => self.accepted += 1,
            AnyMessage::PaymentAck(_) => self.rejected += 1,
            AnyMessage::PaymentResult(r) if r.status == FinalStatus::Succeeded => {
                self.succeeded += 1
            }
            AnyMessage::PaymentResult(_) => self.failed += 1,
            AnyMessage::Reject(_) => self.gateway_rejects += 1,
            _ => {}
        }
    }

    fn acks(&self) -> u64 {
        self.accepted + self.rejected
    }
}

/// Sends the payments in windows, waits for each window's acks, then for every result; and one
/// message the gateway refuses itself (an acquirer may not ask for statistics).
fn drive(addr: SocketAddr) -> Seen {
    let mut client =
        Client::login(addr, Role::Acquirer, "acq-a", "sluice-demo-acquirer-a").expect("login");
    let mut seen = Seen::default();
    client.send(&StatsQuery { flags: 0 }).expect("send");
    let mut next = 1;
    while next <= PAYMENTS {
        let end = (next + WINDOW).min(PAYMENTS + 1);
        for id in next..end {
            client.send(&payment(id)).expect("send");
        }
        while seen.acks() < end - 1 {
            let m = client.recv(WAIT).expect("recv").expect("an answer in time");
            seen.take(&m);
        }
        next = end;
    }
    let deadline = Instant::now() + WAIT;
    while seen.succeeded + seen.failed < seen.accepted || seen.gateway_rejects == 0 {
        assert!(Instant::now() < deadline, "results missing: {seen:?}");
        if let Some(m) = client.recv(Duration::from_millis(200)).expect("recv") {
            seen.take(&m);
        }
    }
    seen
}

/// `GET path` over a plain TcpStream: the response head and body.
fn get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).expect("connect to the metrics endpoint");
    s.set_read_timeout(Some(WAIT)).expect("timeout");
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n");
    s.write_all(request.as_bytes()).expect("send request");
    let mut response = String::new();
    s.read_to_string(&mut response).expect("read response");
    let (head, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    (head.to_string(), body.to_string())
}

/// A parsed scrape, with lookups by name and labels.
struct Metrics(Scrape);

impl Metrics {
    fn scrape(addr: SocketAddr) -> Metrics {
        let (head, body) = get(addr, "/metrics");
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(
            head.contains("Content-Type: text/plain; version=0.0.4"),
            "{head}"
        );
        well_formed(&body);
        let lines = body.lines().map(|l| Ok(l.to_string()));
        let metrics = Metrics(Scrape::parse(lines).expect("the text parses"));
        metrics.histograms_are_consistent();
        metrics
    }

    fn samples<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
        self.0.samples.iter().filter(move |s| s.metric == name)
    }

    /// The value of the sample `name` whose labels include `labels` (0 when there is none).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let sample = self
            .samples(name)
            .find(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)));
        match sample.map(|s| &s.value) {
            Some(Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v)) => *v,
            Some(other) => panic!("{name} is not a number: {other:?}"),
            None => 0.0,
        }
    }

    /// The sum of every sample of `name`.
    fn total(&self, name: &str) -> f64 {
        self.samples(name)
            .map(|s| match s.value {
                Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
                _ => panic!("{name} is not a number"),
            })
            .sum()
    }

    /// Every counter sample, by name and labels (to compare scrapes).
    fn counters(&self) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        for s in &self.0.samples {
            if let Value::Counter(v) = s.value {
                let mut labels: Vec<String> =
                    s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                labels.sort();
                out.insert(format!("{}{{{}}}", s.metric, labels.join(",")), v);
            }
        }
        out
    }

    fn histograms_are_consistent(&self) {
        for s in &self.0.samples {
            let Value::Histogram(buckets) = &s.value else {
                continue;
            };
            assert!(buckets.windows(2).all(|w| w[0].count <= w[1].count));
            let inf = buckets.iter().find(|b| b.less_than == f64::INFINITY);
            let count = self.value(&format!("{}_count", s.metric), &[]);
            assert_eq!(inf.map(|b| b.count), Some(count), "{}", s.metric);
        }
    }

    fn ack_latency_count(&self) -> f64 {
        self.value("sluice_ack_latency_seconds_count", &[])
    }
}

/// Checks the text line by line (the parser skips what it does not understand): every family
/// has HELP then TYPE, named `sluice_*`; every sample line belongs to the family just typed.
fn well_formed(text: &str) {
    let mut family = String::new();
    let mut helped = String::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            helped = rest.split(' ').next().expect("a name").to_string();
            assert!(helped.starts_with("sluice_"), "{line}");
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("a name and a type");
            assert_eq!(name, helped, "TYPE after its HELP");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            assert!(kind != "counter" || name.ends_with("_total"), "{line}");
            family = name.to_string();
        } else {
            let name = line.split(['{', ' ']).next().expect("a sample name");
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .filter(|base| *base == family);
            assert!(name == family || base.is_some(), "{line} outside {family}");
            let value = line.rsplit(' ').next().expect("a value");
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }
}

/// Scrapes until `ready` says the published figures caught up (they are published every 50 or
/// 250 ms), or the deadline passes.
fn scrape_until(addr: SocketAddr, ready: impl Fn(&Metrics) -> bool) -> Metrics {
    let deadline = Instant::now() + WAIT;
    loop {
        let m = Metrics::scrape(addr);
        if ready(&m) || Instant::now() >= deadline {
            return m;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn admin_stats(addr: SocketAddr) -> StatsReport {
    let mut admin = Client::login(addr, Role::Admin, "admin", "sluice-demo-admin").expect("login");
    admin.send(&StatsQuery { flags: 0 }).expect("send");
    admin
        .recv_until(WAIT, |m| match m {
            AnyMessage::StatsReport(s) => Some(s.clone()),
            _ => None,
        })
        .expect("a StatsReport")
}

/// Scrapes every 10 ms until `stop`: each scrape is checked, and no counter goes back.
fn scrape_during(addr: SocketAddr, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let mut last = BTreeMap::new();
        let mut scrapes = 0;
        while !stop.load(Ordering::Acquire) {
            let now = Metrics::scrape(addr).counters();
            for (name, before) in &last {
                let after = now.get(name).copied().unwrap_or(0.0);
                assert!(after >= *before, "{name} went back: {before} -> {after}");
            }
            last = now;
            scrapes += 1;
            std::thread::sleep(Duration::from_millis(10));
        }
        scrapes
    })
}

fn follow(dir: &Path, server: &Server, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    let mut follower = Follower::open(dir, "metrics", server.durable_cursor()).expect("follower");
    server.register_follower("metrics", follower.progress());
    std::thread::spawn(move || {
        follower
            .run(&stop, Duration::from_millis(100), |_| Ok(()))
            .expect("follower runs");
    })
}

#[test]
fn the_metrics_agree_with_what_the_client_saw_and_with_the_engine() {
    let test_dir = common::TestDir::new("metrics-agree");
    let dir = test_dir.path.clone();
    let server = Server::start(config(&dir), ServeOptions::default()).expect("server starts");
    let (addr, stop) = (server.local_addr, server.stop.clone());
    let metrics_addr = server.metrics_addr.expect("metrics enabled");
    let done = Arc::new(AtomicBool::new(false));
    let follower = follow(&dir, &server, done.clone());
    let running = std::thread::spawn(move || server.run());
    let scraper = scrape_during(metrics_addr, done.clone());
    let seen = drive(addr);
    let stats = admin_stats(addr);
    done.store(true, Ordering::Release);
    assert!(
        scraper.join().expect("scraper") >= 1,
        "scraped during the load"
    );
    follower.join().expect("follower");

    let (head, _) = get(metrics_addr, "/nowhere");
    assert!(head.starts_with("HTTP/1.1 404 "), "{head}");
    let m = scrape_until(metrics_addr, |m| {
        m.value("sluice_engine_stats_seq", &[]) >= stats.sequence as f64
            && m.ack_latency_count() >= seen.acks() as f64
            && m.value("sluice_outputs_sent_total", &[("template", "PaymentAck")])
                >= seen.acks() as f64
            && m.value("sluice_snapshot_write_seconds_count", &[]) >= 1.0
    });
    eprintln!("client saw {seen:?}; engine {stats:?}");
    check_payments(&m, &seen, &stats);
    check_gateway(&m, &seen);
    check_pipeline(&m, &stats);

    stop.store(true, Ordering::Release);
    let report = running.join().expect("server thread");
    assert!(report.error.is_none(), "{:?}", report.error);
}

fn check_payments(m: &Metrics, seen: &Seen, stats: &StatsReport) {
    let n = |v: u64| v as f64;
    assert_eq!(seen.acks(), PAYMENTS);
    let accepted = m.value("sluice_payments_accepted_total", &[]);
    let rejected = m.total("sluice_payments_rejected_total");
    assert_eq!(
        accepted + rejected,
        n(seen.acks()),
        "acked = accepted + rejected"
    );
    assert_eq!(accepted, n(seen.accepted));
    assert_eq!(
        m.value("sluice_payments_succeeded_total", &[]),
        n(seen.succeeded)
    );
    assert_eq!(m.value("sluice_payments_failed_total", &[]), n(seen.failed));
    // The engine's own answer, as of the same sequence.
    // Pulses may follow the StatsQuery; no payment moves after it.
    assert!(m.value("sluice_engine_stats_seq", &[]) >= n(stats.sequence));
    let risk = m.value("sluice_payments_rejected_total", &[("cause", "risk")]);
    let validation = m.value("sluice_payments_rejected_total", &[("cause", "validation")]);
    assert_eq!(
        (validation, risk),
        (n(stats.rejected_invalid), n(stats.rejected_risk))
    );
    let invalid = (1..=PAYMENTS).filter(|id| id.is_multiple_of(25)).count() as u64;
    let blocked = (1..=PAYMENTS).filter(|id| id.is_multiple_of(20)).count() as u64;
    let both = (1..=PAYMENTS).filter(|id| id.is_multiple_of(100)).count() as u64;
    assert_eq!(
        (validation, risk),
        (n(invalid), n(blocked - both)),
        "as the payments were made"
    );
    for (name, v) in [
        ("sluice_payments_accepted_total", stats.accepted),
        ("sluice_payments_succeeded_total", stats.succeeded),
        ("sluice_payments_failed_total", stats.failed),
        ("sluice_payments_failed_over_total", stats.failed_over),
        ("sluice_payments_reviewed_total", stats.reviews),
        ("sluice_attempt_timeouts_total", stats.timeouts),
        ("sluice_unknown_attempts", stats.unknown_attempts),
        (
            "sluice_unknown_attempts_resolved_total",
            stats.unknown_resolved,
        ),
        ("sluice_late_captures_total", stats.late_captures),
        ("sluice_reversals_total", stats.reversals),
        ("sluice_unknown_refunds", stats.unknown_refunds),
        ("sluice_orders", stats.orders),
    ] {
        assert_eq!(m.value(name, &[]), n(v), "{name}");
    }
    let attempts: u64 = stats.channels.iter().map(|c| c.attempts).sum();
    assert_eq!(m.total("sluice_channel_attempts_total"), n(attempts));
    assert!(attempts >= seen.accepted);
    let hits: u64 = stats
        .rules
        .iter()
        .map(|r| r.enforced_hits + r.shadow_hits)
        .sum();
    assert_eq!(m.total("sluice_risk_rule_hits_total"), n(hits));
    assert_eq!(m.value("sluice_ledger_balanced", &[]), 1.0);
    let healthy = m.value(
        "sluice_channel_health",
        &[("name", "alipay"), ("state", "healthy")],
    );
    assert_eq!(healthy, 1.0);
}

fn check_gateway(m: &Metrics, seen: &Seen) {
    let n = |v: u64| v as f64;
    let payments = m.value("sluice_inputs_total", &[("template", "PaymentRequest")]);
    assert!(
        payments >= n(PAYMENTS),
        "inputs by template >= what was sent"
    );
    assert!(m.value("sluice_inputs_total", &[("template", "StatsQuery")]) >= 1.0);
    assert!(m.value("sluice_inputs_total", &[("template", "ChannelResult")]) >= n(seen.accepted));
    let acks = m.value("sluice_outputs_sent_total", &[("template", "PaymentAck")]);
    assert_eq!(acks, n(seen.acks()));
    let results = m.value(
        "sluice_outputs_sent_total",
        &[("template", "PaymentResult")],
    );
    assert_eq!(results, n(seen.succeeded + seen.failed));
    assert!(
        m.ack_latency_count() >= n(seen.acks()),
        "a latency per answered input"
    );
    assert!(m.value("sluice_ack_latency_seconds_sum", &[]) > 0.0);
    assert_eq!(m.value("sluice_ack_latency_unmatched_total", &[]), 0.0);
    assert_eq!(
        m.total("sluice_gateway_rejects_total"),
        n(seen.gateway_rejects)
    );
    assert_eq!(seen.gateway_rejects, 1);
    assert!(
        m.value("sluice_logins_total", &[]) >= 2.0,
        "the acquirer and the admin"
    );
    assert_eq!(m.value("sluice_login_failures_total", &[]), 0.0);
    let accepted = m.value("sluice_connections_accepted_total", &[]);
    assert!(accepted >= 2.0 && m.value("sluice_connections_open", &[]) <= accepted);
    assert_eq!(m.value("sluice_slow_consumers_total", &[]), 0.0);
    assert!(m.value("sluice_simulator_replies_total", &[]) >= n(seen.accepted));
}

fn check_pipeline(m: &Metrics, stats: &StatsReport) {
    let sequenced = m.value("sluice_sequenced_seq", &[]);
    let applied = m.value("sluice_applied_seq", &[]);
    let durable = m.value("sluice_durable_seq", &[]);
    assert!(applied >= stats.sequence as f64 && durable >= stats.sequence as f64);
    assert!(sequenced >= applied && sequenced >= durable);
    let occupancy = m.value("sluice_ring_occupancy_inputs", &[]);
    assert_eq!(occupancy, sequenced - applied);
    let lag = m.value("sluice_journal_durable_lag_inputs", &[]);
    assert_eq!(lag, sequenced - durable);
    let follower = [("follower", "metrics")];
    assert!(m.value("sluice_follower_applied_seq", &follower) > 1.0);
    // The test's follower and the server's snapshot and outputs followers.
    assert_eq!(m.samples("sluice_follower_lag_inputs").count(), 3);
    let snapshots = [("follower", "snapshots")];
    assert!(m.value("sluice_follower_applied_seq", &snapshots) > 1.0);
    let outputs = [("follower", "outputs")];
    assert!(m.value("sluice_follower_applied_seq", &outputs) > 1.0);
    assert_eq!(m.value("sluice_resumes_started_total", &[]), 0.0);
    // The processor's longest pause: some time on some input applied.
    assert!(m.value("sluice_processor_longest_input_seconds", &[]) > 0.0);
    let longest_seq = m.value("sluice_processor_longest_input_seq", &[]);
    assert!(longest_seq >= 1.0 && longest_seq <= applied);
    assert!(m.value("sluice_snapshot_serialize_seconds_count", &[]) >= 1.0);
    assert!(m.value("sluice_snapshot_write_seconds_count", &[]) >= 1.0);
    assert!(m.value("sluice_snapshot_bytes", &[]) > 0.0);
}
