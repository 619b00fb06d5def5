//! `sluice admin yield|installment|credit` against the real server binary (docs/FINANCE.md): each
//! product's configuration and requests are journaled and acknowledged, the positions read back
//! through the queries, bad values refused with their reason and changing nothing, and the journal
//! replays to the same state (`sluice replay check`).

mod common;
use common::*;
use serde_json::Value as Json;

/// A command line's words.
fn args(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// The one record a query printed.
fn record(lines: &[Json]) -> &Json {
    assert_eq!(lines.len(), 1, "{lines:?}");
    &lines[0]
}

/// `admin` that must be refused with `reason`, its text containing `why`.
fn refused(addr: std::net::SocketAddr, args: &[&str], reason: &str, why: &str) {
    let (ok, lines) = admin(addr, args);
    assert!(!ok, "{args:?} succeeded: {lines:?}");
    let line = record(&lines);
    assert_eq!(line["status"], "refused", "{args:?}: {line}");
    assert_eq!(line["reason"], reason, "{args:?}: {line}");
    let text = line["text"].as_str().unwrap_or_default();
    assert!(text.contains(why), "{args:?}: {line}");
}

#[test]
fn finance_products_are_configured_and_queried_with_sluice_admin() {
    let (dir, mut server) = start_server("admin-finance", &Settings::default());
    let addr = server.addr;

    // Credit: no policy yet, then one; with no settled flow the limit is 0 and a loan is refused.
    let policy = args("credit policy --currency 156 --cap-minor 5000000 --daily-rate-e6 500");
    admin_ok(addr, &policy);
    let limit = admin_ok(addr, &["credit", "limit", "--merchant", "1001"]);
    let limit = record(&limit);
    assert_eq!(
        (limit["merchant_id"].as_u64(), limit["currency"].as_u64()),
        (Some(1001), Some(156))
    );
    assert_eq!(limit["limit_minor"].as_i64(), Some(0), "{limit}");
    assert_eq!(limit["loan_id"].as_u64(), Some(0), "{limit}");
    let borrow = args("credit borrow --merchant 1001 --loan-id 1 --amount 1000 --term-days 30");
    refused(addr, &borrow, "CreditLimitExceeded", "");
    // A policy in a currency the ledger does not keep changes nothing.
    let bad = args("credit policy --currency 999 --cap-minor 5000000");
    let (ok, lines) = admin(addr, &bad);
    assert!(!ok && record(&lines)["status"] == "refused", "{lines:?}");
    let again = admin_ok(addr, &["credit", "limit", "--merchant", "1001"]);
    assert_eq!(record(&again)["currency"].as_u64(), Some(156), "{again:?}");

    // Installments: terms set, bad terms refused with the engine's reason; no plan to show.
    let terms = args("installment terms --merchant 1001 --fee-bps 150 300 600");
    admin_ok(addr, &terms);
    let bad_terms = args("installment terms --merchant 1001 --rate-bps 0 0 10001");
    refused(addr, &bad_terms, "InvalidConfig", "10000 bps");
    let unknown = args("installment terms --merchant 4242 --fee-bps 1 2 3");
    refused(addr, &unknown, "UnknownMerchant", "4242");
    let (ok, lines) = admin(addr, &["installment", "show", "--order", "42"]);
    assert!(!ok, "{lines:?}");

    // Yield: the merchant opts in; its position reads back; a published yield for a future day
    // is refused.
    let opt_in = args(
        "yield opt-in --party merchant --id 1001 --currency 156 --keep-minimum 10000 --instant-limit 500000",
    );
    admin_ok(addr, &opt_in);
    let show = args("yield show --party merchant --id 1001 --currency 156");
    let position = admin_ok(addr, &show);
    let position = record(&position);
    assert_eq!(position["opted_in"], true, "{position}");
    assert_eq!(
        position["keep_minimum_minor"].as_i64(),
        Some(10_000),
        "{position}"
    );
    assert_eq!(
        position["instant_limit_minor"].as_i64(),
        Some(500_000),
        "{position}"
    );
    assert_eq!(position["principal_minor"].as_i64(), Some(0), "{position}");
    let future = args("yield publish --currency 156 --day 2999-01-01 --per-10k 0.6543");
    let (ok, lines) = admin(addr, &future);
    assert!(!ok && record(&lines)["status"] == "refused", "{lines:?}");

    // Everything above was journaled; the journal replays to the same state.
    assert!(server.terminate().success(), "the server stops cleanly");
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["replay", "check", "--data"])
        .arg(dir.join("data"))
        .output()
        .expect("run sluice replay check");
    assert!(
        check.status.success(),
        "replay check: {}",
        String::from_utf8_lossy(&check.stderr)
    );
}
