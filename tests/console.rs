//! The web console end to end in a real browser (issue 20): `sluice serve` with its metrics
//! endpoint, a channel (unionpay) that fails until it is taken out of rotation and then comes
//! back through its probes, `sluice console` over the server and a flow store, and Debian's
//! chromium driven by playwright-core (tests/console/console.mjs): it logs in, sees unionpay
//! unhealthy and then recovered on the Channels page, opens one order's story with its routing
//! explanation, sees a payment that the default rule 11 (gambling_large) sent to review in the
//! review queue of /reviews, another that an admin approved among the decided ones, and the risk
//! dashboard's per-rule figures and score distribution (issue 23), the Finance page's schedule of
//! an installment plan opened by a payment (issue 24), and saves screenshots under
//! `CARGO_TARGET_TMPDIR/console-screenshots`.
//!
//! The channel's health now comes from the live server's metrics; its timeline and the order's
//! story from the flow `sluice export --once` wrote to Parquet after the recovery.

mod common;

use common::*;
use sluice_protocol::*;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SHOP: u32 = 1001;
const UNIONPAY: u16 = 3;
/// How long the browser script may take in all (it waits for the channel twice).
const BROWSER_WAIT: Duration = Duration::from_secs(300);

/// A child whose stderr (or stdout) lines are forwarded with a prefix and sent to a channel.
fn forward(child: &mut Child, prefix: &'static str) -> crossbeam::channel::Receiver<String> {
    let (tx, rx) = crossbeam::channel::unbounded();
    let out: Box<dyn std::io::Read + Send> = match (child.stdout.take(), child.stderr.take()) {
        (Some(o), _) => Box::new(o),
        (None, Some(e)) => Box::new(e),
        (None, None) => panic!("{prefix}: nothing piped"),
    };
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            eprintln!("[{prefix}] {line}");
            let _ = tx.send(line);
        }
    });
    rx
}

/// `sluice console` on an ephemeral port; returns it and its URL.
fn start_console(data: &Path, metrics_url: &str, server: std::net::SocketAddr) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["console", "--listen", "127.0.0.1:0", "--scrape-ms", "500"])
        .arg("--data")
        .arg(data)
        .args([
            "--metrics-url",
            metrics_url,
            "--server",
            &server.to_string(),
        ])
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sluice console");
    let lines = forward(&mut child, "console");
    let deadline = Instant::now() + START_WAIT;
    loop {
        let line = lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the console says where it listens");
        if let Some(url) = line.strip_prefix("console listening on ") {
            return (child, url.trim().to_string());
        }
    }
}

/// Fails unionpay's card payments until the engine takes it out of rotation; returns the first
/// failed payment's order id.
fn fail_unionpay(acq: &mut sluice_gateway::client::Client, connectors: &mut Connectors) -> u64 {
    let mut first = None;
    for request_id in 100..120 {
        acq.send(&payment(request_id, SHOP, 5_000, PaymentMethod::Card))
            .expect("send");
        let AnyMessage::PaymentAck(ack) = next(acq, "PaymentAck") else {
            panic!("expected a PaymentAck");
        };
        if ack.status == AckStatus::Rejected {
            assert_eq!(ack.reason, ReasonCode::NoChannelAvailable);
            return first.expect("a payment failed before unionpay was taken out");
        }
        first.get_or_insert(ack.order_id);
        let (_, d) = connectors.next_dispatch();
        assert_eq!(d.channel_id, UNIONPAY);
        connectors.answer(&d, ChannelOutcome::RetryableError, "");
        wait_for(acq, "PaymentResult", |m| match m {
            AnyMessage::PaymentResult(r) if r.request_id == request_id => Some(()),
            _ => None,
        });
    }
    panic!("unionpay was never taken out of rotation");
}

/// After the cooldown, answers unionpay's probes with successes until it is back.
fn recover_unionpay(acq: &mut sluice_gateway::client::Client, connectors: &mut Connectors) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut succeeded = 0;
    let mut request_id = 200;
    while succeeded < 3 {
        assert!(Instant::now() < deadline, "unionpay never probed");
        request_id += 1;
        acq.send(&payment(request_id, SHOP, 5_000, PaymentMethod::Card))
            .expect("send");
        let AnyMessage::PaymentAck(ack) = next(acq, "PaymentAck") else {
            panic!("expected a PaymentAck");
        };
        if ack.status == AckStatus::Rejected {
            std::thread::sleep(Duration::from_millis(200)); // Still cooling down.
            continue;
        }
        let (_, d) = connectors.next_dispatch();
        connectors.answer(&d, ChannelOutcome::Succeeded, &format!("UP-{request_id}"));
        wait_for(acq, "PaymentResult", |m| match m {
            AnyMessage::PaymentResult(r) if r.request_id == request_id => Some(()),
            _ => None,
        });
        succeeded += 1;
    }
}

/// The default configuration's rule 11 (gambling_large: goods category 7995 over 5,000.00)
/// sends a payment to review; it proceeds and succeeds. Returns its order id.
fn review_payment(
    acq: &mut sluice_gateway::client::Client,
    connectors: &mut Connectors,
    request_id: u64,
) -> u64 {
    let mut request = payment(request_id, SHOP, 600_000, PaymentMethod::Card);
    request.goods_category = 7995;
    acq.send(&request).expect("send");
    let AnyMessage::PaymentAck(ack) = next(acq, "PaymentAck") else {
        panic!("expected a PaymentAck");
    };
    assert_eq!(
        (ack.status, ack.risk_action, ack.risk_rule_id),
        (AckStatus::Accepted, RiskAction::Review, 11),
        "rule 11 sends it to review"
    );
    let (_, d) = connectors.next_dispatch();
    connectors.answer(
        &d,
        ChannelOutcome::Succeeded,
        &format!("REVIEWED-{request_id}"),
    );
    wait_for(acq, "PaymentResult", |m| match m {
        AnyMessage::PaymentResult(r) if r.request_id == request_id => Some(()),
        _ => None,
    });
    ack.order_id
}

/// A payment of 1,200.00 in 3 installments (the default configuration's terms): the merchant is
/// settled at once and the plan opens (docs/INSTALLMENTS.md). Returns its order id.
fn installment_payment(
    acq: &mut sluice_gateway::client::Client,
    connectors: &mut Connectors,
    request_id: u64,
) -> u64 {
    let mut request = payment(request_id, SHOP, 120_000, PaymentMethod::Card);
    request.installment_count = 3;
    acq.send(&request).expect("send");
    let AnyMessage::PaymentAck(ack) = next(acq, "PaymentAck") else {
        panic!("expected a PaymentAck");
    };
    assert_eq!(ack.status, AckStatus::Accepted, "{ack:?}");
    let (_, d) = connectors.next_dispatch();
    connectors.answer(&d, ChannelOutcome::Succeeded, &format!("PLAN-{request_id}"));
    wait_for(acq, "PaymentResult", |m| match m {
        AnyMessage::PaymentResult(r) if r.request_id == request_id => Some(()),
        _ => None,
    });
    ack.order_id
}

/// `sluice export --data DATA --once`: the journal so far, into the Parquet store.
fn export_once(data: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["export", "--once", "--data"])
        .arg(data)
        .output()
        .expect("run sluice export");
    eprintln!("[export] {}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "sluice export --once failed");
}

fn start_browser(console_url: &str, shots: &Path, markers: &Path) -> Child {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/console/console.mjs");
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "this test needs Debian's chromium: apt-get install chromium (.ci/run does)"
    );
    let modules = script.with_file_name("node_modules");
    assert!(
        modules.exists(),
        "run `npm ci` in tests/console first (.ci/run does)"
    );
    let mut child = Command::new("node")
        .arg(&script)
        .env("CONSOLE_URL", console_url)
        .env("ADMIN_KEY", "admin")
        .env("ADMIN_SECRET", credential("admin").1)
        .env("CHANNEL_NAME", "unionpay")
        .env("SCREENSHOTS", shots)
        .env("MARKERS", markers)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start node (the browser script)");
    forward(&mut child, "browser");
    child
}

fn wait_for_file(path: &Path, browser: &mut Child) {
    let deadline = Instant::now() + BROWSER_WAIT;
    while !path.exists() {
        if let Ok(Some(status)) = browser.try_wait() {
            panic!(
                "the browser script ended ({status}) before {}",
                path.display()
            );
        }
        assert!(Instant::now() < deadline, "no {}", path.display());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_console_shows_a_channel_fail_and_recover_and_an_orders_routing() {
    let settings = Settings {
        set: vec![
            ("failure_threshold", "3".into()),
            ("failure_leak_per_sec", "1".into()),
            ("cooldown_ms", "3000".into()),
        ],
        ..Settings::default()
    };
    let dir = TestDir::new("console");
    let config = write_config(&dir.path, &settings);
    let data = dir.join("data");
    let mut server = ServerProcess::start_with(&config, &data, &["--metrics", "127.0.0.1:0"], &[]);
    let line = server.wait_for_line(START_WAIT, |l| says(l, "metrics at "));
    let metrics_url = log_message(&line)
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("the metrics URL")
        .to_string();
    let (mut console, url) = start_console(&data, &metrics_url, server.addr);
    let shots: PathBuf = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).expect("screenshot directory");
    eprintln!("console screenshots: {}", shots.display());
    let mut connectors = Connectors::login_all(server.addr);
    let mut acq = login(server.addr, "acq-a");
    let mut browser = start_browser(&url, &shots, &dir.path);
    let order_id = fail_unionpay(&mut acq, &mut connectors);
    wait_for_file(&dir.join("saw-unhealthy"), &mut browser);
    recover_unionpay(&mut acq, &mut connectors);
    // Two payments go to review; an admin approves the second (`sluice admin review approve`).
    let queued = review_payment(&mut acq, &mut connectors, 300);
    let approved = review_payment(&mut acq, &mut connectors, 301);
    admin_ok(
        server.addr,
        &["review", "approve", "--order", &approved.to_string()],
    );
    let plan = installment_payment(&mut acq, &mut connectors, 302);
    export_once(&data);
    let markers = [
        ("review-order-id", queued),
        ("approved-order-id", approved),
        ("plan-order-id", plan),
    ];
    for (marker, id) in markers {
        std::fs::write(dir.join(marker), id.to_string()).expect("write a marker");
    }
    // The browser script searches this order once the export is in.
    std::fs::write(dir.join("order-id"), order_id.to_string()).expect("write the order id");
    let deadline = Instant::now() + BROWSER_WAIT;
    let status = loop {
        if let Some(s) = browser.try_wait().expect("wait for node") {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the browser script did not finish"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = console.kill();
    let _ = console.wait();
    assert!(
        status.success(),
        "the browser script failed ({status}); see [browser] lines"
    );
    for shot in [
        "channels-unhealthy.png",
        "channels-recovered.png",
        "order.png",
        "reviews.png",
        "risk.png",
        "finance.png",
    ] {
        assert!(shots.join(shot).exists(), "no screenshot {shot}");
    }
    server.terminate();
}
