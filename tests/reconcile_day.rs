//! Issue 21's scenario at full size: two scripted-clock days of 200,000 orders across the five
//! channels, each channel's bills written in its published layout with every class of
//! discrepancy injected, reconciled day by day and scored against the simulator's manifests —
//! precision and recall 100 %, every timing injection carried and resolved by the next day's run
//! — then settled on the restarted server, after which each channel's receivable equals its
//! open discrepancies plus what its schedule has not paid yet. The files are checked here too:
//! every bill parses in its layout, and the reports on disk list what the manifests injected.

use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

const CLASSES: [&str; 7] = [
    "missing_on_channel",
    "missing_on_platform",
    "amount_mismatch",
    "status_mismatch",
    "fee_mismatch",
    "duplicate",
    "timing",
];

fn json_file(path: &Path) -> Json {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Per class, the injections of every manifest (timing by the day it was carried from).
fn injected(bills: &Path) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for channel in std::fs::read_dir(bills).unwrap() {
        let channel = channel.unwrap().path();
        for file in std::fs::read_dir(&channel).unwrap() {
            let path = file.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if !name.ends_with(".expected.json") {
                continue;
            }
            let manifest = json_file(&path);
            let bill = channel.join(manifest["file"].as_str().unwrap());
            let bytes = std::fs::read(&bill).unwrap();
            let format = sluice_bills::Format::from_name(manifest["format"].as_str().unwrap());
            let parsed = sluice_bills::parse(&bill.display().to_string(), &bytes, format)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                parsed.lines.len() as u64,
                manifest["lines"].as_u64().unwrap()
            );
            for d in manifest["discrepancies"].as_array().unwrap() {
                *counts
                    .entry(d["class"].as_str().unwrap().to_string())
                    .or_default() += 1;
            }
        }
    }
    counts
}

/// Per class, what the reports on disk list (timing: carried on its day).
fn reported(reconcile: &Path) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for channel in std::fs::read_dir(reconcile).unwrap() {
        let channel = channel.unwrap().path();
        for day in std::fs::read_dir(&channel).unwrap() {
            let report = day.unwrap().path().join("report.json");
            if !report.is_file() {
                continue;
            }
            let report = json_file(&report);
            for d in report["discrepancies"].as_array().unwrap() {
                *counts
                    .entry(d["class"].as_str().unwrap().to_string())
                    .or_default() += 1;
            }
            let timing = report["timing_carried"].as_array().unwrap();
            // A carry still waiting on a later day was counted on its own day.
            let new = timing
                .iter()
                .filter(|c| c["since_day"] == report["day"])
                .count();
            *counts.entry("timing".to_string()).or_default() += new as u64;
        }
    }
    counts
}

#[test]
fn a_day_of_200000_orders_reconciles_with_every_discrepancy_found_and_nothing_else() {
    let dir = std::env::temp_dir().join(format!("sluice-test-recon-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["demo", "--recon-only", "--recon-orders", "200000", "--json"])
        .arg("--data")
        .arg(&dir)
        .output()
        .expect("run sluice demo --recon-only");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the scenario failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Json = serde_json::from_str(stdout.trim()).expect("one JSON report");
    let recon = &report["reconciliation"];
    assert!(recon["payments"].as_u64() >= Some(200_000), "{recon}");
    let score = &recon["score"];
    assert_eq!(score["precision"], 1.0, "{score}");
    assert_eq!(score["recall"], 1.0, "{score}");
    for class in CLASSES {
        let c = &score["classes"][class];
        assert!(
            c["injected"].as_u64() > Some(0),
            "{class} never injected: {score}"
        );
        assert_eq!(c["injected"], c["found"], "{class}: {score}");
    }
    assert_eq!(
        score["timing_resolved_next_day"], score["classes"]["timing"]["injected"],
        "every timing injection resolved by the next day's run: {score}"
    );
    // Every channel took payments and billed them.
    let channels = recon["channels"].as_array().unwrap();
    assert_eq!(channels.len(), 5, "{recon}");
    for c in channels {
        assert!(c["bill_lines"].as_u64() > Some(10_000), "{c}");
    }
    // After the day's settlement inputs: receivable = open discrepancies + not yet paid.
    let owed = recon["owed"].as_array().unwrap();
    assert!(owed.len() >= 5, "{recon}");
    for o in owed {
        assert_eq!(o["ties_out"], true, "{o}");
        assert!(o["paid_minor"].as_i64() > Some(0), "{o}");
    }
    // The files agree with the report: every bill parses in its layout with its rows, and the
    // reports on disk list exactly the classes the manifests injected.
    let scenario = dir.with_file_name(format!(
        "{}-recon",
        dir.file_name().unwrap().to_string_lossy()
    ));
    let injected = injected(&scenario.join("bills"));
    assert_eq!(injected, reported(&scenario.join("reconcile")));
    assert_eq!(injected.len(), CLASSES.len(), "{injected:?}");
    let _ = std::fs::remove_dir_all(&scenario);
}
