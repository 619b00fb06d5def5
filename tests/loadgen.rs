//! The load generator against the real server (simulator on): its JSON report, the HdrHistogram
//! file, the ack trace, busy polling and `--find-max`.
//!
//! Run: `cargo test --test loadgen`.

mod common;

use common::*;
use serde_json::Value;
use std::process::Command;

/// Runs `sluice loadgen --addr ADDR ARGS… --json` and parses its one JSON object.
fn loadgen(server: &ServerProcess, args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("loadgen")
        .arg("--addr")
        .arg(server.addr.to_string())
        .args(args)
        .arg("--json")
        .output()
        .expect("run sluice loadgen");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "loadgen failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

fn num(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("no number {key:?} in {v}"))
}

fn simulated() -> Settings {
    Settings {
        simulator: true,
        ..Settings::default()
    }
}

#[test]
fn open_loop_report_histogram_and_trace_agree() {
    let (dir, mut server) = start_server("loadgen-open", &simulated());
    let hgrm = dir.join("ack.hgrm");
    let trace = dir.join("ack.trace");
    let r = loadgen(
        &server,
        &[
            "--rate",
            "1000",
            "--duration",
            "2",
            "--warmup",
            "0.5",
            "--connections",
            "2",
            "--hgrm",
            hgrm.to_str().unwrap(),
            "--ack-trace",
            trace.to_str().unwrap(),
        ],
    );
    server.terminate();

    let sent = num(&r, "sent");
    assert_eq!(
        sent,
        num(&r, "payments_sent") + num(&r, "refunds_sent") + num(&r, "queries_sent"),
        "{r}"
    );
    // 2 s at 1000/s, scheduled by the clock: every request goes out (a few ms of slack).
    assert!((1990.0..=2001.0).contains(&sent), "{r}");
    assert!(
        num(&r, "refunds_sent") > 0.0 && num(&r, "queries_sent") > 0.0,
        "{r}"
    );
    assert_eq!(num(&r, "outstanding"), 0.0, "{r}");
    assert_eq!(r["errors"].as_array().map(Vec::len), Some(0), "{r}");
    let throughput = num(&r, "throughput_per_sec");
    assert!((900.0..=1100.0).contains(&throughput), "{r}");
    assert_eq!(num(&r, "acked"), num(&r, "payments_sent"), "{r}");
    assert!(num(&r, "succeeded") > num(&r, "failed"), "{r}");

    for key in ["ack_latency_us", "result_latency_us"] {
        let h = &r[key];
        let (p50, p99, p999, p9999, max) = (
            num(h, "p50"),
            num(h, "p99"),
            num(h, "p999"),
            num(h, "p9999"),
            num(h, "max"),
        );
        assert!(
            0.0 < p50 && p50 <= p99 && p99 <= p999 && p999 <= p9999 && p9999 <= max,
            "{key}: {h}"
        );
    }
    // The warm-up's acks are not recorded: about 1.5 s of payments (90% of the mix).
    let recorded = num(&r["ack_latency_us"], "count");
    assert!(
        recorded < num(&r, "payments_sent") && recorded > 1000.0,
        "{r}"
    );

    // The histogram file: the standard header, percentiles rising to 1, the recorded count.
    let text = std::fs::read_to_string(&hgrm).unwrap();
    assert!(
        text.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)"),
        "{text}"
    );
    let rows: Vec<Vec<f64>> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#') && !l.contains("Value"))
        .map(|l| {
            l.split_whitespace()
                .filter_map(|f| f.parse().ok())
                .collect()
        })
        .filter(|r: &Vec<f64>| r.len() >= 3)
        .collect();
    assert!(rows.len() > 10, "{text}");
    assert!(
        rows.windows(2)
            .all(|w| w[0][1] <= w[1][1] && w[0][0] <= w[1][0])
    );
    let last = rows.last().unwrap();
    assert_eq!(last[1], 1.0, "{text}");
    assert_eq!(last[2], recorded, "{text}");
    assert!(text.contains("#[Max"), "{text}");

    // The trace: one line per recorded ack, on the two connections, latencies as the histogram's.
    let trace = std::fs::read_to_string(&trace).unwrap();
    let lines: Vec<Vec<f64>> = trace
        .lines()
        .map(|l| l.split(' ').map(|f| f.parse().unwrap()).collect())
        .collect();
    assert_eq!(lines.len() as f64, recorded);
    assert!(
        lines
            .iter()
            .all(|l| l.len() == 3 && (l[2] == 0.0 || l[2] == 1.0))
    );
    assert!(
        lines.iter().all(|l| l[0] >= 500_000.0),
        "warm-up acks are not traced"
    );
    let max_us = lines.iter().map(|l| l[1]).fold(0.0, f64::max);
    let reported = num(&r["ack_latency_us"], "max");
    assert!(
        (max_us - reported).abs() <= reported * 0.01 + 0.1,
        "{max_us} vs {reported}"
    );
}

#[test]
fn busy_poll_keeps_the_schedule_and_find_max_reports_each_step() {
    let (_dir, mut server) = start_server("loadgen-busy", &simulated());
    let r = loadgen(
        &server,
        &[
            "--rate",
            "500",
            "--duration",
            "1",
            "--warmup",
            "0",
            "--connections",
            "1",
            "--busy-poll",
        ],
    );
    assert!((495.0..=501.0).contains(&num(&r, "sent")), "{r}");
    assert_eq!(num(&r, "outstanding"), 0.0, "{r}");

    // A bound no run can meet: the first step is reported, and no rate qualifies.
    let f = loadgen(
        &server,
        &[
            "--find-max",
            "--start-rate",
            "400",
            "--step",
            "2",
            "--duration",
            "1",
            "--warmup",
            "0",
            "--connections",
            "1",
            "--p99-bound-ms",
            "0.000001",
        ],
    );
    server.terminate();
    let steps = f["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 1, "{f}");
    assert_eq!(num(&steps[0], "asked"), 400.0, "{f}");
    assert!(steps[0]["kept_up"].as_bool().unwrap(), "{f}");
    assert!(f["max_rate_per_sec"].is_null(), "{f}");
}
