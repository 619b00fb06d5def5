//! `sluice replay backtest` (docs/BACKTEST.md) on simulated days with injected fraud and their
//! journaled labels (`sluice risk simulate`, docs/RISK_SCORE.md):
//! - the live rules themselves, as a candidate, reproduce every live verdict (nothing only live,
//!   nothing only candidate) — the candidate is evaluated on the very state the live rules saw;
//! - a card-testing rule catches labelled fraud at a precision far above the base rate, and its
//!   figures are consistent with the population's;
//! - a bad rules file is refused with its file, line and column, and nothing is replayed.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

fn sluice(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .output()
        .expect("run sluice")
}

/// One simulated data directory shared by the tests (written once).
fn data() -> &'static Path {
    static DATA: OnceLock<PathBuf> = OnceLock::new();
    DATA.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("sluice-backtest-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let out = sluice(&[
            "risk",
            "simulate",
            "--out",
            dir.to_str().unwrap(),
            "--days",
            "4",
            "--payments-per-day",
            "4000",
            "--seed",
            "11",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
}

fn backtest(rules: &str) -> Value {
    let file = data().with_extension(format!("{:x}.rules", fxhash(rules)));
    std::fs::write(&file, rules).unwrap();
    let out = sluice(&[
        "replay",
        "backtest",
        "--rules",
        file.to_str().unwrap(),
        "--data",
        data().to_str().unwrap(),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    })
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

#[test]
fn the_live_rules_as_a_candidate_reproduce_every_live_verdict() {
    let live = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/rules/default.rules"))
        .unwrap();
    let r = backtest(&live);
    assert!(u(&r["payments"]) > 10_000, "{r}");
    let set = &r["set"];
    assert_eq!(u(&set["only_candidate"]), 0, "{set}");
    assert_eq!(u(&set["only_live"]), 0, "{set}");
    assert!(
        u(&set["both_intercept"]) > 0,
        "the default rules intercept something: {set}"
    );
    assert_eq!(
        set["candidate"], set["live"],
        "same interceptions, same labels"
    );
    // Every rule's matches are at least the payments it decided.
    for rule in r["rules"].as_array().unwrap() {
        assert!(
            u(&rule["labels"]["matched"]) >= u(&rule["decided"]),
            "{rule}"
        );
    }
}

#[test]
fn a_card_testing_rule_catches_labelled_fraud_far_above_the_base_rate() {
    let r = backtest(
        "rule 900 \"card_testing\" priority 1\n  block if :declines_per_card_hourly: >= 3\n\
         rule 901 \"tiny_amounts\" priority 2 shadow\n  review if :amount: < 300\n",
    );
    let (payments, fraud) = (u(&r["payments"]), u(&r["fraud"]));
    assert!(fraud > 0 && fraud < payments / 10, "{r}");
    let base_rate = fraud as f64 / payments as f64;
    let rule = &r["rules"][0];
    let labels = &rule["labels"];
    assert!(u(&labels["fraud_caught"]) > 0, "{rule}");
    let precision = labels["precision"].as_f64().unwrap();
    assert!(
        precision > 10.0 * base_rate,
        "precision {precision} vs base rate {base_rate}"
    );
    let recall = labels["recall"].as_f64().unwrap();
    assert_eq!(recall, u(&labels["fraud_caught"]) as f64 / fraud as f64);
    let matched = u(&labels["matched"]);
    let by_live = u(&rule["live_blocked"]) + u(&rule["live_reviewed"]) + u(&rule["live_allowed"]);
    assert_eq!(
        matched, by_live,
        "every match is one of the live verdicts: {rule}"
    );
    // The shadow rule never decides.
    assert_eq!(u(&r["rules"][1]["decided"]), 0);
    assert!(r["events_per_sec"].as_f64().unwrap() > 0.0);
}

#[test]
fn a_bad_rules_file_is_refused_with_its_line_and_column() {
    let file = data().with_extension("bad.rules");
    std::fs::write(
        &file,
        "rule 900 \"ok\" priority 1\n  block if :amount: > 100\nrule 901 \"bad\" priority 2\n  block if :amount: > 'CNY'\n",
    )
    .unwrap();
    let out = sluice(&[
        "replay",
        "backtest",
        "--rules",
        file.to_str().unwrap(),
        "--data",
        data().to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let at = format!("{}:4:", file.display());
    assert!(err.contains(&at), "{err}");
    assert!(
        out.stdout.is_empty(),
        "nothing replayed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}
