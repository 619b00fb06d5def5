//! The README's main command, small: `sluice demo` runs end to end on the embedded configuration
//! and its report shows the live run, the follower, the metrics and the operator tour agreeing.

use serde_json::Value as Json;
use std::process::Command;

#[test]
fn the_demo_runs_and_everything_it_reports_agrees() {
    let dir = std::env::temp_dir().join(format!("sluice-test-demo-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args([
            "demo",
            "--payments",
            "3000",
            "--month-days",
            "2",
            "--recon-orders",
            "10000",
            "--json",
            "--data",
        ])
        .arg(&dir)
        .output()
        .expect("run sluice demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "sluice demo failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Json = serde_json::from_str(stdout.trim()).expect("one JSON report");
    assert_eq!(report["payments"], 3000, "{report}");
    assert_eq!(report["ledger_balanced"], true);
    assert_eq!(report["follower"]["matches_live"], true, "{report}");
    assert_eq!(report["metrics"]["agrees"], true, "{report}");
    let operator = &report["operator"];
    assert_eq!(
        operator["differences_from_embedded_config"], 0,
        "{operator}"
    );
    assert_eq!(operator["listed"]["merchants"], 5, "{operator}");
    // The payment through the new key was accepted and answered: paid, or declined by the
    // simulated channels (a few per cent of payments are; after failover, every attempt may be).
    let credential = &operator["credential"];
    let declined = ["ChannelDeclined", "AttemptsExhausted"];
    assert!(
        credential["payment"] == "Succeeded"
            || (credential["payment"] == "Failed"
                && declined.iter().any(|r| credential["reason"] == *r)),
        "{operator}"
    );
    assert!(report["month"].is_object(), "{report}");
    // Issue 21: a small reconciliation scenario (tests/reconcile_day.rs runs the full one).
    let recon = &report["reconciliation"];
    assert_eq!(recon["score"]["precision"], 1.0, "{recon}");
    assert_eq!(recon["score"]["recall"], 1.0, "{recon}");
    // Issue 19: notifications over HTTPS, every signature verified; a dropped acquirer resumes.
    let notifications = &report["notifications"];
    assert_eq!(notifications["bad_signatures"], 0, "{notifications}");
    assert_eq!(notifications["pending"], 0, "{notifications}");
    assert!(
        notifications["delivered"].as_u64() >= notifications["enqueued"].as_u64()
            && notifications["delivered"].as_u64() > Some(100),
        "{notifications}"
    );
    let resume = &report["resume"];
    assert_eq!(resume["missed"], resume["retransmitted"], "{resume}");
    assert_eq!(resume["gaps"], 0, "{resume}");
    assert_eq!(resume["repeats"], 0, "{resume}");
    assert_eq!(resume["passed"], true, "{resume}");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(dir.with_file_name(format!(
        "{}-month",
        dir.file_name().unwrap().to_string_lossy()
    )));
    let _ = std::fs::remove_dir_all(dir.with_file_name(format!(
        "{}-recon",
        dir.file_name().unwrap().to_string_lossy()
    )));
}

#[test]
fn the_demo_with_channel_faults_finds_every_channel_book_equal_to_the_ledger() {
    let dir = std::env::temp_dir().join(format!("sluice-test-demo-faults-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args([
            "demo",
            "--payments",
            "3000",
            "--month-days",
            "0",
            "--recon-orders",
            "0",
        ])
        .arg("--json")
        // Higher rates than the default profile, so that a small run meets every fault.
        .args(["--faults", "late=0.03,lost=0.03,duplicate=0.03", "--data"])
        .arg(&dir)
        .output()
        .expect("run sluice demo --faults");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "sluice demo --faults failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Json = serde_json::from_str(stdout.trim()).expect("one JSON report");
    let faults = &report["faults"];
    assert_eq!(faults["passed"], true, "{faults}");
    assert_eq!(faults["double_charges"], 0, "{faults}");
    assert_eq!(faults["settled"], true, "{faults}");
    assert_eq!(faults["outstanding"], 0, "{faults}");
    let channels = faults["channels"].as_array().expect("channel rows");
    assert!(channels.len() >= 4, "{faults}");
    for row in channels {
        assert_eq!(row["agrees"], true, "{row}");
        assert_eq!(row["book"]["captured"], row["ledger"]["captured"], "{row}");
        assert_eq!(row["book"]["refunded"], row["ledger"]["refunded"], "{row}");
        assert_eq!(row["book"]["reversed"], row["ledger"]["reversed"], "{row}");
    }
    // The faults happened, and the engine dealt with them: unknown attempts resolved by asking,
    // captures it did not keep (alipay abandoned after its window) reversed.
    let (drawn, engine) = (&faults["drawn"], &faults["engine"]);
    assert!(
        drawn["late"].as_u64() > Some(0) && drawn["lost"].as_u64() > Some(0),
        "{drawn}"
    );
    assert!(drawn["duplicated"].as_u64() > Some(0), "{drawn}");
    assert!(engine["unknown_resolved"].as_u64() > Some(0), "{engine}");
    assert!(engine["late_captures"].as_u64() > Some(0), "{engine}");
    assert_eq!(engine["late_captures"], engine["reversals"], "{engine}");
    assert_eq!(engine["unknown_attempts"], 0, "{engine}");
}
