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
    assert_eq!(operator["credential"]["payment"], "Succeeded", "{operator}");
    assert!(report["month"].is_object(), "{report}");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(dir.with_file_name(format!(
        "{}-month",
        dir.file_name().unwrap().to_string_lossy()
    )));
}
