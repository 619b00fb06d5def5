//! The routes end to end without a browser: login (right, wrong, server down), the session
//! check in front of every page, the pages over the synthetic rows, bad requests.

use super::auth::Authority;
use super::routes::{Reply, Req};
use super::testing::sample_rows;
use super::{Console, ConsoleConfig};
use crate::memory::MemoryReader;
use std::sync::Arc;

struct Fixed;

impl Authority for Fixed {
    fn check(&self, key_id: &str, secret: &str) -> Result<Result<(), String>, String> {
        match (key_id, secret) {
            ("admin", "right") => Ok(Ok(())),
            ("down", _) => Err("127.0.0.1:1: connection refused".into()),
            _ => Ok(Err("LoginRejected: BadCredentials".into())),
        }
    }
}

fn console() -> Console {
    // Nothing listens on port 1: every scrape is an error reading, which the pages must say.
    let config = ConsoleConfig::new(
        "127.0.0.1:0".parse().expect("addr"),
        "http://127.0.0.1:1/metrics",
    );
    let reader = Box::new(MemoryReader::new(sample_rows(), 40));
    Console::start(&config, reader, Arc::new(Fixed)).expect("starts")
}

fn get(c: &Console, path: &str, cookie: Option<&str>) -> Reply {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    c.handle(Req {
        method: "GET".into(),
        path: path.into(),
        query: query.into(),
        cookie: cookie.map(str::to_string),
        body: Vec::new(),
    })
}

fn login(c: &Console, form: &str) -> Reply {
    c.handle(Req {
        method: "POST".into(),
        path: "/login".into(),
        body: form.as_bytes().to_vec(),
        ..Req::default()
    })
}

fn logged_in(c: &Console) -> String {
    let r = login(c, "key=admin&secret=right");
    assert_eq!(r.status, 303);
    assert_eq!(r.location.as_deref(), Some("/"));
    let cookie = r.set_cookie.expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    cookie.split(';').next().expect("name=value").to_string()
}

#[test]
fn every_page_needs_a_session_and_a_wrong_login_says_so() {
    let c = console();
    for path in [
        "/",
        "/channels",
        "/risk",
        "/reviews",
        "/reports",
        "/payouts",
        "/finance",
        "/order?id=1",
        "/nothing",
    ] {
        let r = get(&c, path, None);
        assert_eq!(
            (r.status, r.location.as_deref()),
            (303, Some("/login")),
            "{path}"
        );
        let r = get(&c, path, Some("sluice_console=forged"));
        assert_eq!(r.status, 303, "{path} with a forged token");
    }
    let wrong = login(&c, "key=admin&secret=wrong");
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("Wrong key or secret"), "{}", wrong.body);
    assert!(wrong.set_cookie.is_none());
    let down = login(&c, "key=down&secret=x");
    assert_eq!(down.status, 503);
    assert!(down.body.contains("could not be asked"));
    assert_eq!(login(&c, "key=admin").status, 400);
    let cookie = logged_in(&c);
    assert_eq!(get(&c, "/", Some(&cookie)).status, 200);
    let out = c.handle(Req {
        method: "POST".into(),
        path: "/logout".into(),
        cookie: Some(cookie.clone()),
        ..Req::default()
    });
    assert_eq!(out.status, 303);
    assert_eq!(
        get(&c, "/", Some(&cookie)).status,
        303,
        "the session is closed"
    );
}

#[test]
fn pages_show_the_rows_and_the_server_being_down() {
    let c = console();
    let cookie = logged_in(&c);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let overview = get(&c, "/", Some(&cookie));
    assert_eq!(overview.status, 200);
    assert!(
        overview.body.contains("Exported through"),
        "{}",
        overview.body
    );
    let channels = get(&c, "/channels", Some(&cookie)).body;
    // The server does not answer: health comes from the store, where unionpay came back.
    assert!(channels.contains("All channels healthy"), "{channels}");
    assert!(channels.contains("Healthy → Open") && channels.contains("Probing → Healthy"));
    assert!(channels.contains("id=\"chart-health\""));
    let risk = get(&c, "/risk", Some(&cookie)).body;
    let tile = |id: &str| {
        risk.split(&format!("id=\"{id}\""))
            .nth(1)
            .and_then(|t| t.split("</div>").next())
            .unwrap_or_default()
            .to_string()
    };
    // 1 of 5 orders blocked; it was labelled good; 1 of 1 labelled fraud was reviewed.
    assert!(tile("interception-rate").contains("<b>20.0%</b>"), "{risk}");
    assert!(
        tile("false-positive-rate").contains("<b>100.0%</b>"),
        "{risk}"
    );
    assert!(tile("fraud-caught").contains("<b>100.0%</b>"), "{risk}");
    let rules = risk.split("id=\"risk-rules\"").nth(1).expect("rules table");
    // Rule 9: 2 hits, both reviewed, 1 labelled fraud: precision 50%.
    assert!(
        rules.contains(
            "<td class=\"num\">9</td><td class=\"num\">2</td><td class=\"num\">0</td>\
         <td class=\"num\">2</td>"
        ),
        "{rules}"
    );
    assert!(rules.contains("50.0%"), "{rules}");
    let scores = risk
        .split("id=\"risk-scores\"")
        .nth(1)
        .expect("score table");
    // Scores 12, 97, 35, 62, 91: buckets 10–19, 30–39, 60–69 and two in 90–100.
    assert!(
        scores.contains(
            "<td class=\"num\">2026-12-01</td><td class=\"num\">0</td><td class=\"num\">1</td>\
         <td class=\"num\">0</td><td class=\"num\">1</td><td class=\"num\">0</td>\
         <td class=\"num\">0</td><td class=\"num\">1</td><td class=\"num\">0</td>\
         <td class=\"num\">0</td><td class=\"num\">2</td>"
        ),
        "{scores}"
    );
    assert!(risk.contains("id=\"chart-risk-scores\""));
    let reviews = get(&c, "/reviews", Some(&cookie)).body;
    let queue = reviews
        .split("id=\"reviews-queue\"")
        .nth(1)
        .and_then(|t| t.split("</table>").next())
        .expect("the review queue");
    assert!(
        queue.contains("<td class=\"num\">4</td>") && queue.contains("700.00"),
        "{queue}"
    );
    assert!(!queue.contains("800.00"), "order 5 was decided: {queue}");
    let decided = reviews
        .split("id=\"reviews-decided\"")
        .nth(1)
        .expect("decided");
    assert!(
        decided.contains("RefundAndBlock") && decided.contains("800.00"),
        "{decided}"
    );
    let payouts = get(&c, "/payouts", Some(&cookie)).body;
    let queue = payouts
        .split("id=\"payouts-review\"")
        .nth(1)
        .expect("the review queue")
        .split("</table>")
        .next()
        .unwrap_or_default();
    assert!(
        queue.contains("50000.00")
            && queue.contains("Merchant 1001")
            && !queue.contains("Promoter"),
        "{payouts}"
    );
    assert!(
        payouts.contains("PayoutFailed") && payouts.contains("Promoter 5"),
        "{payouts}"
    );
    let reports = get(&c, "/reports", Some(&cookie)).body;
    assert!(reports.contains("id=\"chart-volume\"") && reports.contains("2026-12-01"));
    let order = get(&c, "/order?id=1", Some(&cookie));
    assert_eq!(order.status, 200);
    for needle in [
        "CurrencyUnsupported",
        "Ranked",
        "RetryableError",
        "Refund 501",
        "clearing:0",
    ] {
        assert!(
            order.body.contains(needle),
            "{needle} missing from {}",
            order.body
        );
    }
}

#[test]
fn bad_requests_get_clear_4xx_answers() {
    let c = console();
    let cookie = logged_in(&c);
    let bad = get(&c, "/order?id=%3Cscript%3E", Some(&cookie));
    assert_eq!(bad.status, 400);
    assert!(
        bad.body.contains("&lt;script&gt; is not an order id"),
        "{}",
        bad.body
    );
    assert!(!bad.body.contains("<script>"));
    let missing = get(&c, "/order?id=999", Some(&cookie));
    assert_eq!(missing.status, 404);
    assert!(missing.body.contains("No order 999"));
    assert_eq!(get(&c, "/nothing", Some(&cookie)).status, 404);
    let post = c.handle(Req {
        method: "POST".into(),
        path: "/".into(),
        cookie: Some(cookie),
        ..Req::default()
    });
    assert_eq!(post.status, 405);
}

#[test]
fn the_overview_reads_throughput_latency_and_export_lag_from_two_scrapes() {
    use super::data::Data;
    use super::live::{ChannelNow, Live, Reading};
    use super::pages::{Ctx, channels, overview};
    let live = Live::default();
    let first = Reading {
        at_secs: 1_000.0,
        payments_requested: 100.0,
        latency_buckets: vec![(0.001, 10.0), (0.002, 10.0), (f64::INFINITY, 10.0)],
        durable_seq: 50.0,
        channels: vec![ChannelNow {
            channel_id: 3,
            name: "union<pay>".into(),
            state: "Open".into(),
            recent_success_ratio: 0.25,
            attempts: 4.0,
        }],
        ..Reading::default()
    };
    let mut second = first.clone();
    second.at_secs = 1_010.0;
    second.payments_requested = 300.0;
    second.latency_buckets = vec![(0.001, 110.0), (0.002, 210.0), (f64::INFINITY, 210.0)];
    second.durable_seq = 55.0;
    live.push(first);
    live.push(second);
    let data = Data::new(Box::new(MemoryReader::new(sample_rows(), 40)));
    let ctx = Ctx {
        data: &data,
        live: &live,
    };
    let page = overview::render(&ctx);
    assert!(page.contains("<b>20.0</b>"), "200 payments in 10 s: {page}");
    // 100 answers within 1 ms, 100 more within 2 ms: p50 is the first bucket's bound.
    assert!(page.contains("<b>1.000 ms</b>"), "p50: {page}");
    assert!(page.contains("<b>1.980 ms</b>"), "p99: {page}");
    assert!(page.contains("<b>15</b>"), "export lag 55 - 40: {page}");
    let page = channels::render(&ctx);
    assert!(
        page.contains("Unhealthy: 3 union&lt;pay&gt; is Open"),
        "{page}"
    );
    assert!(!page.contains("union<pay>"));
}

/// One raw HTTP/1.1 exchange with the console's socket; returns the response text.
fn exchange(c: &Console, request: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(c.addr()).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(request).expect("write");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn over_the_socket_pages_are_guarded_and_oversized_bodies_refused() {
    let c = console();
    let r = exchange(
        &c,
        b"GET /channels HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(r.starts_with("HTTP/1.1 303"), "{r}");
    assert!(r.to_ascii_lowercase().contains("location: /login"), "{r}");
    assert!(
        r.contains("default-src 'none'"),
        "scripts are forbidden: {r}"
    );
    assert!(
        r.to_ascii_lowercase().contains("cache-control: no-store"),
        "{r}"
    );
    let form = b"key=admin&secret=right";
    let login = format!(
        "POST /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: \
         application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        form.len()
    );
    let r = exchange(&c, &[login.as_bytes(), form].concat());
    assert!(r.starts_with("HTTP/1.1 303"), "{r}");
    assert!(r.contains("HttpOnly; SameSite=Strict"), "{r}");
    let big = vec![b'a'; 100 * 1024];
    let head = format!(
        "POST /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        big.len()
    );
    let r = exchange(&c, &[head.as_bytes(), &big].concat());
    assert!(r.starts_with("HTTP/1.1 413"), "{r}");
    let r = exchange(&c, b"NOT HTTP\r\n\r\n");
    assert!(r.is_empty() || r.starts_with("HTTP/1.1 400"), "{r}");
}

#[test]
fn the_finance_page_shows_positions_accruals_schedules_and_totals() {
    let c = console();
    let cookie = logged_in(&c);
    let page = get(&c, "/finance", Some(&cookie));
    assert_eq!(page.status, 200);
    let body = page.body;
    assert!(body.contains("href=\"/finance\""), "in the navigation");
    let section = |id: &str| {
        body.split(&format!("id=\"{id}\""))
            .nth(1)
            .and_then(|s| s.split("</table>").next())
            .unwrap_or_else(|| panic!("{id} in {body}"))
            .to_string()
    };
    let tile = body
        .split("id=\"finance-yield-156\"")
        .nth(1)
        .expect("the yield tile");
    assert!(
        tile.starts_with(">Yield (156)<b>500.15</b>1 positions, 0.15 accrued"),
        "{tile}"
    );
    let positions = section("finance-positions");
    assert!(positions.contains("<td>Promoter 3</td>"), "{positions}");
    assert!(positions.contains("1000.60") && positions.contains("500.15"));
    assert!(body.contains("id=\"chart-finance-accruals\""));
    assert!(body.contains("yield accrued (156)") && body.contains("loan interest (156)"));
    let accruals = section("finance-accruals");
    assert_eq!(
        accruals.matches("<tr>").count(),
        4,
        "header, two days, all: {accruals}"
    );
    let loans = section("finance-loans");
    assert!(
        loans.contains("<td>Open</td>") && loans.contains("1000.00"),
        "{loans}"
    );
    let totals = section("finance-totals");
    assert_eq!(
        totals.matches("<td class=\"num\">0.00</td>").count(),
        2,
        "{totals}"
    );
}
