//! Issue 22's scripted-clock month: `sluice demo --payouts-only` runs settlements on every
//! schedule kind across a holiday week and two make-up working days, and payouts through the
//! simulated bank-transfer channel with every outcome; the scenario checks itself (settlement
//! days against its own calendar model, outcomes, the channel's book against the engine) and
//! this test asserts what it reports.

use serde_json::Value as Json;
use std::process::Command;

#[test]
fn a_month_of_schedules_and_payouts_meets_every_outcome_and_ties_out() {
    let dir = std::env::temp_dir().join(format!("sluice-test-payouts-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["demo", "--payouts-only", "--json", "--data"])
        .arg(&dir)
        .output()
        .expect("run sluice demo --payouts-only");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let _ = std::fs::remove_dir_all(dir.with_file_name(format!(
        "{}-payouts",
        dir.file_name().unwrap().to_string_lossy()
    )));
    let report: Json = match serde_json::from_str(stdout.trim()) {
        Ok(r) => r,
        Err(_) => panic!(
            "sluice demo --payouts-only printed no report: {}\n{stdout}",
            String::from_utf8_lossy(&out.stderr)
        ),
    };
    let p = &report["payouts"];
    assert_eq!(p["checks_failed"], Json::Array(vec![]), "{p}");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(p["passed"], true);
    assert_eq!(p["engine"]["ledger_balanced"], true, "{p}");
    assert_eq!(p["engine"]["payouts_in_flight"], 0, "{p}");
    // Every path at the channel at least once.
    for path in ["paid", "failed", "processing", "lost", "unseen", "returned"] {
        assert!(p["paths"][path].as_u64() >= Some(1), "{path}: {p}");
    }
    // Settlements on every schedule kind, some rolled over the holiday week or a weekend.
    let settlements = p["settlements"].as_array().expect("settlements");
    for schedule in [
        "CalendarDays",
        "BusinessDays",
        "Weekly",
        "Monthly",
        "Manual",
    ] {
        assert!(
            settlements.iter().any(|s| s["schedule"] == schedule),
            "{schedule}: {p}"
        );
    }
    assert!(settlements.iter().any(|s| s["rolled"] == true), "{p}");
    // November has 30 days: the monthly schedule on the 31st settles on the 30th.
    assert!(
        settlements
            .iter()
            .any(|s| s["schedule"] == "Monthly" && s["day"] == "2026-11-30 Mon"),
        "{p}"
    );
    let payouts = p["payouts"].as_array().expect("payouts");
    assert!(payouts.iter().any(|x| x["what"] == "automatic"), "{p}");
    assert!(payouts.iter().any(|x| x["what"] == "platform sweep"), "{p}");
    assert!(
        payouts.iter().any(|x| x["what"] == "promoter payout"),
        "{p}"
    );
    assert!(payouts.iter().any(|x| x["review"] == true), "{p}");
    assert_eq!(
        p["rejected_in_review"].as_array().map(Vec::len),
        Some(1),
        "{p}"
    );
}
